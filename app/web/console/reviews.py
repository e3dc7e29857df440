"""The review queue and the review page: the draft as it will look, its changes, its sign-offs."""

from flask import redirect, render_template, request, url_for

from app import console, dashboard, diffs, drafts, people, platforms, review, screening
from app.errors import InvalidInput, NotFound, QianfaError
from app.web import authorhtml, redis_client
from app.web.console import bp
from app.web.console.auth import actor, me

HIGHLIGHTED = {drafts.TEXT: "text", drafts.IMAGE: "caption", drafts.ARTICLE: "title"}


@bp.get("/drafts")
def draft_list():
    r = redis_client()
    status = request.args.get("status") or drafts.IN_REVIEW
    shown = []
    for platform in console.visible_platforms(r, me().person):
        for draft in drafts.list_drafts(r, platform=platform.id, status=status):
            shown.append((draft, platform, dashboard.can_sign(r, me().person, platform, draft)))
    return render_template(
        "console/drafts.html", rows=shown, statuses=drafts.STATUSES, status=status
    )


def _previous(r, draft: drafts.Draft, shown: drafts.Version) -> drafts.Version | None:
    if shown.number <= 1:
        return None
    try:
        return drafts.version(r, draft.id, shown.number - 1)
    except NotFound:
        return None


def _review_context(r, did: str) -> dict:
    draft = drafts.get(r, did)
    platform = console.platform_for(r, me().person, draft.platform)
    shown = drafts.version(r, draft.id)
    found = screening.result_for(r, draft.id, shown.number)
    field = HIGHLIGHTED[shown.kind]
    previous = _previous(r, draft, shown)
    current = review.state(r, draft.id)
    return {
        "draft": draft,
        "version": shown,
        "platform": platform,
        "found": found,
        "pieces": screening.runs(shown.content.get(field, ""), found.hits if found else (), field),
        "previous": previous,
        "diff": diffs.inline(diffs.text_of(previous), diffs.text_of(shown)) if previous else [],
        "state": current,
        "names": _names(r, draft, current),
        "signoffs": review.SIGNOFFS,
        "status": drafts.STATUSES[draft.status],
        "kind": drafts.KINDS[draft.kind],
        "may_sign": dashboard.can_sign(r, me().person, platform, draft),
        "tier": platforms.TIERS[platform.tier],
    }


def _names(r, draft: drafts.Draft, current: review.ReviewState) -> dict[str, str]:
    wanted = {draft.author, *(given["person"] for given in current.given.values())}
    names = {}
    for pid in wanted:
        try:
            names[pid] = people.get(r, pid).name
        except QianfaError:
            names[pid] = pid
    return names


@bp.route("/drafts/<did>", methods=["GET", "POST"])
def review_page(did: str):
    """Approve or reject the version this page showed; the domain applies the chat's rules."""
    r = redis_client()
    errors = {}
    if request.method == "POST":
        draft = drafts.get(r, did)
        console.platform_for(r, me().person, draft.platform)
        seen = request.form.get("seen_hash", "")
        try:
            if request.form.get("decision") == "reject":
                review.reject(r, actor(), draft.id, seen, request.form.get("reason"))
            else:
                review.approve(r, actor(), draft.id, seen)
        except InvalidInput as error:
            errors = {"reason": error.message}
        else:
            return redirect(url_for("console.review_page", did=draft.id, note="reviewed"))
    context = _review_context(r, did)
    return render_template("console/review.html", errors=errors, **context), (
        400 if errors else 200
    )


@bp.get("/drafts/<did>/versions/<int:number>/body")
def draft_body(did: str, number: int):
    """The article's body for the review page's sandboxed frame (``app.web.headers``)."""
    r = redis_client()
    draft = drafts.get(r, did)
    console.platform_for(r, me().person, draft.platform)
    return authorhtml.frame(drafts.version(r, draft.id, number).content.get("content_html", ""))
