"""The audit trail: filtered, with the chain's verification, exported as JSON Lines or CSV.

Each view verifies only the records since the last verified checkpoint (``anchors.
verify_recent``), so a long trail does not make the page slow; the full walk is
``qianfa audit verify``.
"""

import io
from datetime import timedelta

from flask import Response, render_template, request

from app.channels import console_accounts
from app.core import anchors, audit, validate
from app.core.errors import Forbidden, QianfaError
from app.web import redis_client, settings
from app.web.console import bp
from app.web.console.auth import actor, me

SHOWN = 200
FORMATS = {
    "jsonl": ("application/x-ndjson", audit.write_jsonl),
    "csv": ("text/csv", audit.write_csv),
}
FILTERS = ("platform", "person", "draft", "action", "since", "until")


def _filters(r) -> tuple[dict, dict]:
    """The query's filters, checked; who does not see every platform names one of theirs."""
    raw = {name: request.args.get(name, "").strip()[:64] for name in FILTERS}
    errors, chosen = {}, {k: v for k, v in raw.items() if v and k not in ("since", "until")}
    for name in ("since", "until"):
        try:
            moment = validate.moment(raw[name], "时间") if raw[name] else None
        except QianfaError as error:
            errors[name] = error.message
            continue
        if moment is not None and name == "until" and len(raw[name]) == 10:
            moment += timedelta(days=1)
        chosen[name] = moment
    if not console_accounts.sees_all(r, me().person):
        if not raw["platform"]:
            raise Forbidden("请选择你负责的平台查看审计记录", code="other_platform")
        chosen["platform"] = console_accounts.platform_for(r, me().person, raw["platform"]).id
    return chosen, errors


@bp.get("/audit")
def audit_page():
    r = redis_client()
    chosen, errors = _filters(r)
    rows = [] if errors else list(audit.records(r, **chosen))
    return render_template(
        "console/audit.html",
        rows=list(reversed(rows))[:SHOWN],
        total=len(rows),
        verification=anchors.verify_recent(r, settings().audit_anchor_file),
        args=request.args,
        errors=errors,
        query=request.query_string.decode(),
    ), (400 if errors else 200)


@bp.get("/audit/export.<fmt>")
def audit_export(fmt: str):
    r = redis_client()
    if fmt not in FORMATS:
        raise Forbidden("不支持的导出格式", code="format")
    chosen, errors = _filters(r)
    if errors:
        return render_template("console/error.html", message="筛选条件有误"), 400
    out = io.StringIO()
    count = FORMATS[fmt][1](audit.records(r, **chosen), out)
    shown = {k: str(v) for k, v in chosen.items() if v}
    audit.record(r, actor(), "audit.export", detail={"format": fmt, "rows": count, **shown})
    response = Response(out.getvalue(), mimetype=FORMATS[fmt][0])
    response.headers["Content-Disposition"] = f"attachment; filename=qianfa-audit.{fmt}"
    return response
