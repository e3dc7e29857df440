"""Dashboard, the platform registry, platform status and filing forms; a WeChat platform's
default reply (proposed by the propaganda department, reviewed by its first responsible
person, as in the CLI and chat)."""

from flask import redirect, render_template, request, url_for

from app.channels import console_accounts
from app.channels import dashboard as overview
from app.core import validate
from app.core.errors import Conflict, InvalidInput, NotFound, QianfaError
from app.core.masterkey import load_keyring
from app.drafts import suspension
from app.monitoring import feeds, replies
from app.registry import access, filings, owners, people, platforms, sites, units
from app.web import redis_client, settings
from app.web.console import bp
from app.web.console.auth import actor, me
from app.web.console.forms import collect, field_of
from app.webhook import config as webhook_config
from app.webhook import modes


@bp.get("/")
def dashboard_page():
    return redirect(url_for("console.dashboard"))


@bp.get("/dashboard")
def dashboard():
    r = redis_client()
    found = overview.overview(
        r, me().person, settings().review_escalate_after, settings().dormant_days
    )
    return render_template(
        "console/dashboard.html",
        o=found,
        tiers=platforms.TIERS,
        statuses=platforms.STATUSES,
    )


@bp.get("/platforms")
def platform_list():
    r = redis_client()
    shown = console_accounts.visible_platforms(r, me().person)
    tier, status = request.args.get("tier", ""), request.args.get("status", "")
    shown = [p for p in shown if (not tier or str(p.tier) == tier)]
    shown = [p for p in shown if (not status or p.status == status)]
    unit = people.get(r, me().person).unit
    supervised = {p.id for p in shown if console_accounts.supervises(unit, p)}
    if request.args.get("supervised"):
        shown = [p for p in shown if p.id in supervised]
    return render_template(
        "console/platforms.html",
        platforms=shown,
        supervised=supervised,
        tiers=platforms.TIERS,
        statuses=platforms.STATUSES,
        kinds=platforms.KINDS,
        may_file=console_accounts.sees_all(r, me().person),
    )


@bp.get("/platforms/<pid>")
def platform_detail(pid: str):
    return _render_platform(pid, {})


def _render_platform(pid: str, errors: dict):
    r = redis_client()
    platform = console_accounts.platform_for(r, me().person, pid)
    allowed = platforms.STATUS_TRANSITIONS[platform.status]
    is_propaganda = access.has_role(r, me().person, access.PROPAGANDA)
    return render_template(
        "console/platform.html",
        p=platform,
        unit=units.get(r, platform.unit),
        supervising=units.get(r, platform.supervising_unit),
        responsible=people.get(r, platform.responsible),
        admins=[people.get(r, a) for a in sorted(platform.admins)],
        forms=filings.of_platform(r, platform.id),
        pending=filings.pending_owners(r, platform.id),
        moves=[s for s in (platforms.SUSPENDED, platforms.CLOSED) if s in allowed],
        may_resume=platform.status == platforms.SUSPENDED,
        statuses=platforms.STATUSES,
        tiers=platforms.TIERS,
        kinds=platforms.KINDS,
        filing_statuses=filings.STATUSES,
        is_propaganda=is_propaganda,
        errors=errors,
        chosen=request.form.get("status", ""),
        everyone=people.all_people(r) if is_propaganda else [],
        message_mode=modes.MODES.get(webhook_config.mode_of(r, platform.id), ""),
        site=sites.get(r, platform.id) if platform.kind != "wechat" else None,
        feed_kinds=sites.FEED_KINDS,
        feed_failing=feeds.failing_state(r, platform.id, settings()),
        reply=_reply_panel(r, platform) if platform.kind == "wechat" else None,
    )


@bp.post("/platforms/<pid>/status")
def platform_status(pid: str):
    """Suspend, close or resume a platform with a reason (art. 17); publishing checks it."""
    r = redis_client()
    platform = console_accounts.platform_for(r, me().person, pid)
    new_status = request.form.get("status", "")
    if new_status not in platforms.STATUSES:
        return _render_platform(pid, {"status": "请选择操作"}), 400
    try:
        suspension.change_status(r, actor(), platform.id, new_status, request.form.get("reason"))
    except InvalidInput as error:
        return _render_platform(pid, {"reason": error.message}), 400
    except QianfaError as error:
        return _render_platform(pid, {"status": error.message}), error.status
    return redirect(url_for("console.platform_detail", pid=platform.id, note="status"))


def _person(raw: str) -> str:
    return people.get(redis_client(), raw).id


def _unit(raw: str) -> str:
    return units.get(redis_client(), raw).id


FILING_CHECKS = {
    "id": platforms.platform_id,
    "name": lambda v: validate.text(v, "平台名称", max_len=64),
    "kind": lambda v: validate.choice(v, platforms.KINDS, "平台类型"),
    "tier": platforms.parse_tier,
    "unit": _unit,
    "supervising_unit": _unit,
    "responsible": _person,
    "admin": _person,
    "appid": lambda v: validate.optional_pattern(v, platforms.APPID, "AppID"),
    "account": lambda v: validate.text(v, "微信/微博号", max_len=64, required=False),
    "other_media": lambda v: validate.text(v, "其他媒体名称", max_len=64, required=False),
    "purpose": lambda v: validate.text(v, "用途及发布范围", max_len=2000, multiline=True),
}


@bp.route("/filings/new", methods=["GET", "POST"])
def filing_new():
    """Register a platform and open its filing form in one go (art. 6)."""
    r = redis_client()
    access.authorize(r, actor(), (access.PROPAGANDA,), "登记平台")
    errors = {}
    if request.method == "POST":
        values, errors = collect(FILING_CHECKS)
        if not errors:
            try:
                filing = _register(r, values)
            except QianfaError as error:
                errors = field_of(error)
            else:
                return redirect(url_for("console.filing_page", fid=filing.id))
    return render_template(
        "console/filing_new.html",
        errors=errors,
        form=request.form,
        unit_options=[(u.id, u.name) for u in units.all_units(r)],
        person_options=[(p.id, f"{p.name}({p.id}){p.title}") for p in people.all_people(r)],
        kinds=platforms.KINDS,
        tiers=platforms.TIERS,
    ), (400 if errors else 200)


def _register(r, values: dict) -> filings.Filing:
    if values["responsible"] == values["admin"]:
        raise InvalidInput("第一责任人不能同时担任本平台管理员", field="admin")
    platforms.create(
        r,
        actor(),
        values["id"],
        name=values["name"],
        kind=values["kind"],
        tier=values["tier"],
        unit=values["unit"],
        supervising_unit=values["supervising_unit"],
        responsible=values["responsible"],
        admins=[values["admin"]],
        appid=values["appid"],
        account=values["account"],
        purpose=values["purpose"],
    )
    return filings.open_form(r, actor(), values["id"], other_media=values["other_media"])


@bp.post("/platforms/<pid>/filings")
def filing_open(pid: str):
    """Open a new form for a platform: a re-filing after its owners changed (art. 6)."""
    r = redis_client()
    platform = console_accounts.platform_for(r, me().person, pid)
    filing = filings.open_form(
        r, actor(), platform.id, other_media=request.form.get("other_media", "")
    )
    return redirect(url_for("console.filing_page", fid=filing.id))


@bp.route("/filings/<fid>", methods=["GET", "POST"])
def filing_page(fid: str):
    """The form as printed, with its chain; the next opinion is recorded here."""
    r = redis_client()
    filing = filings.get(r, fid)
    console_accounts.platform_for(r, me().person, filing.platform)
    errors = {}
    if request.method == "POST":
        try:
            filing = filings.sign_step(
                r, actor(), filing.id, request.form.get("step", ""), request.form
            )
        except QianfaError as error:
            errors = field_of(error)
        else:
            return redirect(url_for("console.filing_page", fid=filing.id, note="signed"))
    return render_template(
        "console/filing.html",
        f=filing,
        steps=filings.STEPS,
        decisions=filings.DECISIONS,
        statuses=filings.STATUSES,
        kinds=filings.KINDS,
        errors=errors,
        form=request.form,
        is_propaganda=access.has_role(r, me().person, access.PROPAGANDA),
    ), (400 if errors else 200)


@bp.post("/filings/<fid>/confirm-office")
def filing_confirm_office(fid: str):
    """The propaganda department confirms the form's office warning (art. 12-13)."""
    r = redis_client()
    filing = filings.get(r, fid)
    console_accounts.platform_for(r, me().person, filing.platform)
    filings.confirm_office(r, actor(), filing.id, request.form.get("note", ""))
    return redirect(url_for("console.filing_page", fid=filing.id, note="confirmed"))


OWNER_CHANGES = {
    "responsible": owners.set_responsible,
    "add_admin": owners.add_admin,
    "remove_admin": owners.remove_admin,
}


@bp.post("/platforms/<pid>/owners")
def platform_owners(pid: str):
    """Change the responsible person or an administrator; on a running platform the change
    waits on the re-filing form (art. 6), shown next."""
    r = redis_client()
    platform = console_accounts.platform_for(r, me().person, pid)
    change = OWNER_CHANGES.get(request.form.get("change", ""))
    if change is None:
        return _render_platform(pid, {"owners": "请选择变更内容"}), 400
    try:
        changed = change(
            r, actor(), platform.id, request.form.get("person", ""), request.form.get("reason")
        )
    except QianfaError as error:
        return _render_platform(pid, {"owners": error.message}), error.status
    if changed.filing:
        return redirect(url_for("console.filing_page", fid=changed.filing.id))
    return redirect(url_for("console.platform_detail", pid=platform.id, note="owners"))


def _reply_panel(r, platform: platforms.Platform) -> dict:
    """The default reply in use, a proposal waiting (with who proposed it) and whether this
    person may review it: the platform's first responsible person, unless they proposed it."""
    proposal = replies.pending(r, platform.id)
    by = ""
    if proposal:
        try:
            by = f"{people.get(r, proposal.by).name}({proposal.by})"
        except QianfaError:  # an operator at the server's shell, not a person
            by = f"命令行操作员 {proposal.by}"
    person = me().person
    return {
        "current": webhook_config.get(r, platform.id).default_reply,
        "proposal": proposal,
        "by": by,
        "may_review": bool(proposal)
        and proposal.by != person
        and access.has_role(r, person, access.RESPONSIBLE, platform.id),
    }


REPLY_REVIEWS = {
    "approve": lambda r, pid, form: replies.approve(r, actor(), pid, form.get("digest", "")),
    "reject": lambda r, pid, form: replies.reject(r, actor(), pid, form.get("reason", "")),
}


@bp.post("/platforms/<pid>/reply/review")
def reply_review(pid: str):
    """Approve or reject the proposed default reply the page showed; the domain decides who
    may (a forged post by anyone else is refused with 403 and changes nothing)."""
    r = redis_client()
    platform = console_accounts.platform_for(r, me().person, pid)
    review = REPLY_REVIEWS.get(request.form.get("action", ""))
    if review is None:
        return _render_platform(pid, {"reply": "请选择同意或驳回"}), 400
    try:
        review(r, platform.id, request.form)
    except (InvalidInput, Conflict, NotFound) as error:
        return _render_platform(pid, {"reply": error.message}), error.status
    return redirect(url_for("console.platform_detail", pid=platform.id, note="reply_reviewed"))


@bp.post("/platforms/<pid>/reply")
def reply_propose(pid: str):
    """Propose a new default reply, as ``qianfa webhook set --default-reply`` does."""
    r = redis_client()
    platform = console_accounts.platform_for(r, me().person, pid)
    text = request.form.get("text", "")
    try:
        if not text.strip():
            raise InvalidInput("请填写新的默认回复(清除默认回复请在命令行设置)")
        keyring = load_keyring(settings())
        webhook_config.configure(r, keyring, actor(), platform.id, default_reply=text)
    except (InvalidInput, Conflict, NotFound) as error:
        return _render_platform(pid, {"propose": error.message}), error.status
    return redirect(url_for("console.platform_detail", pid=platform.id, note="reply_proposed"))
