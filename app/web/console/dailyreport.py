"""The daily report's page (日报): what the propaganda department gets each morning, for
any day, over the platforms the person may see (``app.monitoring.daily``)."""

from datetime import date, timedelta

from flask import render_template, request

from app.channels import console_accounts
from app.core.alerts import KINDS
from app.monitoring import daily
from app.web import redis_client, settings
from app.web.console import bp
from app.web.console.auth import me


def _day() -> tuple[date, str]:
    """The day asked for (``?day=YYYY-MM-DD``), yesterday by default; a bad one says so."""
    yesterday = daily.yesterday()
    raw = request.args.get("day", "")
    if not raw:
        return yesterday, ""
    try:
        return date.fromisoformat(raw), ""
    except ValueError:
        return yesterday, f"日期应为 YYYY-MM-DD,收到 {raw[:20]!r},已显示昨天"


@bp.get("/daily")
def daily_page():
    r = redis_client()
    person = me().person
    only = None
    if not console_accounts.sees_all(r, person):
        only = {p.id for p in console_accounts.visible_platforms(r, person)}
    day, problem = _day()
    report = daily.build(r, settings(), day, only)
    return render_template(
        "console/daily.html",
        report=report,
        kinds=KINDS,
        problem=problem,
        at=settings().daily_report_at,
        previous=day - timedelta(days=1),
        following=day + timedelta(days=1),
    ), (400 if problem else 200)
