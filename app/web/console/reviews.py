"""The review queue and the review page: the draft as it will look, its changes, its sign-offs."""

from flask import redirect, render_template, request, url_for

from app import screening
from app.channels import console_accounts
from app.core.errors import Conflict, InvalidInput, NotFound, QianfaError
from app.drafts import diffs, lifecycle, listing, release, review
from app.publishing import channels, manual, schedule
from app.registry import access, people, platforms
from app.web import authorhtml, redis_client
from app.web.console import bp
from app.web.console.auth import actor, me

PAGE = 50  # newest first; the list is read from the status indexes
HIGHLIGHTED = {lifecycle.TEXT: "text", lifecycle.IMAGE: "caption", lifecycle.ARTICLE: "title"}


@bp.get("/drafts")
def draft_list():
    r = redis_client()
    status = request.args.get("status") or lifecycle.IN_REVIEW
    visible = {p.id: p for p in console_accounts.visible_platforms(r, me().person)}
    scope = None if console_accounts.sees_all(r, me().person) else list(visible)
    found = lifecycle.list_across(r, scope, status, PAGE)
    if scope is not None and status == lifecycle.IN_REVIEW:
        # Art. 14: a unit's contribution to a tier-1 platform waits for its responsible person.
        waiting = review.waiting_for(r, me().person, scope, PAGE)
        found += [d for d in waiting if d.platform not in visible]
        found = sorted(found, key=listing.score, reverse=True)[:PAGE]
    mine = review.signable(r, me().person, found)
    shown = [
        (draft, visible.get(draft.platform) or platforms.get(r, draft.platform), draft.id in mine)
        for draft in found
    ]
    return render_template(
        "console/drafts.html", rows=shown, statuses=lifecycle.STATUSES, status=status
    )


def _previous(r, draft: lifecycle.Draft, shown: lifecycle.Version) -> lifecycle.Version | None:
    if shown.number <= 1:
        return None
    try:
        return lifecycle.version(r, draft.id, shown.number - 1)
    except NotFound:
        return None


def _review_context(r, did: str) -> dict:
    draft = lifecycle.get(r, did)
    platform = console_accounts.draft_platform_for(r, me().person, draft)
    shown = lifecycle.version(r, draft.id)
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
        "status": lifecycle.STATUSES[draft.status],
        "kind": lifecycle.KINDS[draft.kind],
        "may_sign": review.can_sign(r, me().person, platform, draft),
        "tier": platforms.TIERS[platform.tier],
        "retrying": _retrying(r, draft),
        "may_report": _may_report(r, draft, platform),
        "check": manual.current_check(r, draft.id),
        "may_release": draft.status == lifecycle.BLOCKED
        and access.has_role(r, me().person, access.PROPAGANDA),
        "may_schedule": draft.author == me().person and draft.status in lifecycle.OPEN,
    }


def _may_report(r, draft: lifecycle.Draft, platform) -> bool:
    """An approved draft of a platform published by hand, for those who report its page."""
    if draft.status != lifecycle.APPROVED or channels.for_kind(platform.kind).automatic:
        return False
    return manual.may_report(r, actor(), platform)


def _retrying(r, draft: lifecycle.Draft):
    """The publication of an approved draft that failed a step and waits to retry."""
    if draft.status not in (lifecycle.APPROVED, lifecycle.PUBLISHING):
        return None
    pub = schedule.publication_of(r, draft.id)
    return pub if pub is not None and pub.attempts and not pub.finished else None


def _names(r, draft: lifecycle.Draft, current: review.ReviewState) -> dict[str, str]:
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
        draft = lifecycle.get(r, did)
        console_accounts.draft_platform_for(r, me().person, draft)
        seen, rejecting = (
            request.form.get("seen_hash", ""),
            request.form.get("decision") == "reject",
        )
        try:
            if rejecting:
                review.reject(r, actor(), draft.id, seen, request.form.get("reason"))
            else:
                review.approve(r, actor(), draft.id, seen, request.form.get("comment", ""))
        except InvalidInput as error:
            errors = {"reason" if rejecting else "comment": error.message}
        else:
            return redirect(url_for("console.review_page", did=draft.id, note="reviewed"))
    context = _review_context(r, did)
    return render_template("console/review.html", errors=errors, **context), (
        400 if errors else 200
    )


@bp.post("/drafts/<did>/published")
def report_published(did: str):
    """Report the page a draft was published on by hand; a job checks it (``manual``)."""
    r = redis_client()
    draft = lifecycle.get(r, did)
    console_accounts.draft_platform_for(r, me().person, draft)
    try:
        manual.accept(r, actor(), draft.id, request.form.get("url"))
    except QianfaError as error:
        context = _review_context(r, did)
        errors = {"url": error.message}
        page = render_template("console/review.html", errors=errors, **context)
        return page, error.status
    return redirect(url_for("console.review_page", did=draft.id, note="reported"))


@bp.post("/drafts/<did>/release")
def release_draft(did: str):
    """Release a blocked draft into review (放行); the second button also whitelists."""
    r = redis_client()
    draft = lifecycle.get(r, did)
    console_accounts.draft_platform_for(r, me().person, draft)
    whitelist = request.form.get("whitelist") == "1"
    try:
        release.release(r, actor(), draft.id, request.form.get("reason"), whitelist=whitelist)
    except (InvalidInput, Conflict) as error:
        context = _review_context(r, draft.id)
        errors = {"release": error.message}
        return render_template("console/review.html", errors=errors, **context), error.status
    return redirect(url_for("console.review_page", did=draft.id, note="released"))


@bp.get("/drafts/<did>/versions/<int:number>/body")
def draft_body(did: str, number: int):
    """The article's body for the review page's sandboxed frame (``app.web.headers``)."""
    r = redis_client()
    draft = lifecycle.get(r, did)
    console_accounts.draft_platform_for(r, me().person, draft)
    return authorhtml.frame(lifecycle.version(r, draft.id, number).content.get("content_html", ""))


@bp.post("/drafts/<did>/schedule")
def schedule_draft(did: str):
    """The author sets or clears the publish time; sign-offs stay, the content is unchanged."""
    r = redis_client()
    draft = lifecycle.get(r, did)
    console_accounts.draft_platform_for(r, me().person, draft)
    when = None if request.form.get("action") == "unschedule" else request.form.get("at", "")
    try:
        lifecycle.reschedule(r, actor(), draft.id, when)
    except QianfaError as error:
        context = _review_context(r, draft.id)
        page = render_template("console/review.html", errors={"schedule": error.message}, **context)
        return page, error.status
    return redirect(url_for("console.review_page", did=draft.id, note="scheduled"))
