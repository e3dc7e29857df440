"""The alert desk: every alert with its state, open ones first, filtered by kind, platform
and state; the propaganda department and the leading group acknowledge, resolve with a
handling note, reopen, and take down the article an alert names (art. 15). Anyone signed
in may report a problem (举报) from the same page; it becomes an alert."""

from flask import redirect, render_template, request, url_for

from app.channels import console_accounts
from app.core import alertstate
from app.core.alerts import KINDS
from app.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from app.monitoring import handling, reports, takedown
from app.web import redis_client
from app.web.console import bp
from app.web.console.auth import actor, me

MOVES = {
    "acknowledge": lambda r, number, note: handling.acknowledge(r, actor(), number),
    "resolve": lambda r, number, note: handling.resolve(r, actor(), number, note),
    "reopen": lambda r, number, note: handling.reopen(r, actor(), number, note),
    "takedown": lambda r, number, note: takedown.request(r, actor(), number, note),
}
SHOWN = 200


def listed(r, person: str, kind: str, platform: str, state: str) -> list[alertstate.Case]:
    """The cases this person may see, open ones first (oldest first), then the rest."""
    seen = {p.id for p in console_accounts.visible_platforms(r, person)}
    everything = console_accounts.sees_all(r, person)
    opened = alertstate.open_cases(r, SHOWN)
    numbers = {case.number for case in opened}
    rest = [case for case in alertstate.all_cases(r, SHOWN) if case.number not in numbers]
    return [
        case
        for case in opened + rest
        if (everything or case.platform in seen)
        and (not kind or case.kind == kind)
        and (not platform or case.platform == platform)
        and (not state or case.state == state)
    ]


def _page(errors: dict[str, str] | None = None, status: int = 200):
    r = redis_client()
    person = me().person
    chosen = {name: request.args.get(name, "") for name in ("kind", "platform", "state")}
    return render_template(
        "console/alerts.html",
        cases=listed(r, person, **chosen),
        chosen=chosen,
        kinds=KINDS,
        states=alertstate.STATES,
        platforms=console_accounts.visible_platforms(r, person),
        may_handle=handling.may_handle(r, person),
        errors=errors or {},
        form=request.form,
    ), status


@bp.get("/alerts")
def alert_list():
    return _page()


@bp.post("/alerts/<number>")
def alert_move(number: str):
    """One move on one case; a refused move is shown beside the case and changes nothing."""
    move = MOVES.get(request.form.get("action", ""))
    if move is None:
        return _page({number: "请选择操作"}, 400)
    try:
        move(redis_client(), number, request.form.get("note", ""))
    except (InvalidInput, Conflict, NotFound) as error:
        return _page({number: error.message}, error.status)
    code = "takedown" if request.form["action"] == "takedown" else "alert"
    return redirect(url_for("console.alert_list", note=code, **request.args))


@bp.post("/reports")
def report_problem():
    """举报: a refused report (empty, too many, a platform one may not name) changes nothing."""
    r = redis_client()
    raw = request.form.get("platform", "")
    try:
        pid = console_accounts.platform_for(r, me().person, raw).id if raw else ""
        done = reports.report(r, actor(), pid, request.form.get("text", ""))
    except (InvalidInput, Forbidden, NotFound) as error:
        return _page({"report": error.message}, error.status)
    return redirect(url_for("console.alert_list", note="report", reported=done.number))
