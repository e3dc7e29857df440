"""The inventory (台账) page and its CSV export, over the platforms a person may see."""

import io

from flask import Response, render_template, request

from app.channels import console_accounts
from app.core import audit
from app.monitoring import inventory
from app.web import redis_client, settings
from app.web.console import bp
from app.web.console.auth import actor, me


def _rows() -> list[inventory.Row]:
    r = redis_client()
    seen = console_accounts.visible_platforms(r, me().person)
    found = inventory.rows_of(r, seen, settings().dormant_days)
    return [row for row in found if row.dormant] if request.args.get("dormant") else found


@bp.get("/inventory")
def inventory_page():
    return render_template(
        "console/inventory.html",
        rows=_rows(),
        columns=inventory.COLUMNS,
        days=settings().dormant_days,
        dormant_only=bool(request.args.get("dormant")),
    )


@bp.get("/inventory.csv")
def inventory_export():
    out = io.StringIO()
    count = inventory.write_csv(_rows(), out)
    audit.record(redis_client(), actor(), "inventory.export", detail={"rows": count})
    response = Response("\ufeff" + out.getvalue(), mimetype="text/csv")
    response.headers["Content-Disposition"] = "attachment; filename=qianfa-inventory.csv"
    return response
