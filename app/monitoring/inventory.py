"""The inventory (台账) of platforms, and which of them are dormant (僵尸号).

One row per platform: kind, tier, units, first responsible person, administrators, the
date its filing was approved (art. 6), its last publication, its status. A platform
with no publication in ``QIANFA_DORMANT_DAYS`` (none at all counts from its
registration) is dormant, which feeds art. 4's exit mechanism (问题平台退出机制): the
propaganda department decides whether to suspend or close it.

The last publication is the newest of what reconciliation saw online (which includes
posts made in the back office) and what Qianfa published itself.
"""

import csv
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import redis

from app.core import keys
from app.core.audit import spreadsheet_safe
from app.core.errors import NotFound
from app.core.store import decode, now
from app.core.validate import CHINA_TIME
from app.drafts import lifecycle
from app.registry import filings, people, platforms, units

# (field, column heading): the CSV's columns and the console table's, in order.
COLUMNS = (
    ("id", "平台标识"),
    ("name", "平台名称"),
    ("kind", "类型"),
    ("tier", "级别"),
    ("unit", "主办单位"),
    ("supervising_unit", "主管单位"),
    ("responsible", "第一责任人"),
    ("admins", "管理员"),
    ("filed_on", "备案日期"),
    ("last_published", "最近发布"),
    ("status", "状态"),
    ("dormant", "僵尸号"),
)


@dataclass(frozen=True)
class Row:
    platform: platforms.Platform
    fields: dict[str, str]
    last_published: datetime | None
    dormant: bool


def rows(r: redis.Redis, dormant_days: int, moment: datetime | None = None) -> list[Row]:
    """Every platform registered, in the order of its id."""
    moment = moment or now()
    return [_row(r, p, dormant_days, moment) for p in platforms.all_platforms(r)]


def row(r: redis.Redis, platform: platforms.Platform, days: int, moment=None) -> Row:
    """One platform's line of the inventory."""
    return _row(r, platform, days, moment or now())


def _row(r: redis.Redis, platform: platforms.Platform, days: int, moment: datetime) -> Row:
    last = last_publication(r, platform.id)
    dormant = is_dormant(platform, last, days, moment)
    fields = {
        "id": platform.id,
        "name": platform.name,
        "kind": platforms.KINDS.get(platform.kind, platform.kind),
        "tier": platforms.TIERS.get(platform.tier, str(platform.tier)),
        "unit": _unit(r, platform.unit),
        "supervising_unit": _unit(r, platform.supervising_unit),
        "responsible": _person(r, platform.responsible),
        "admins": "、".join(_person(r, a) for a in sorted(platform.admins)),
        "filed_on": filed_on(r, platform.id),
        "last_published": f"{last.astimezone(CHINA_TIME):%Y-%m-%d}" if last else "",
        "status": platforms.STATUSES.get(platform.status, platform.status),
        "dormant": "是" if dormant else "",
    }
    return Row(platform, fields, last, dormant)


def is_dormant(platform: platforms.Platform, last: datetime | None, days: int, moment) -> bool:
    """Running, and nothing published in ``days`` (counted from registration if never)."""
    if platform.status != platforms.ACTIVE:
        return False
    since = last or datetime.fromisoformat(platform.created_at)
    return moment - since > timedelta(days=days)


def last_publication(r: redis.Redis, platform_id: str) -> datetime | None:
    seen = [
        json.loads(raw).get("update_time") or 0
        for raw in decode(r.hgetall(keys.online_articles(platform_id))).values()
    ]
    online = datetime.fromtimestamp(max(seen), UTC) if any(seen) else None
    ours = lifecycle.list_drafts(r, platform=platform_id, status=lifecycle.PUBLISHED)
    published = max((datetime.fromisoformat(d.updated_at) for d in ours), default=None)
    return max((t for t in (online, published) if t), default=None)


def filed_on(r: redis.Redis, platform_id: str) -> str:
    """The date the newest approved filing form was signed off (art. 6)."""
    for filing in filings.of_platform(r, platform_id):
        if filing.status == filings.COMPLETE and filing.steps:
            return filing.steps[-1].get("signed_on", "")
    return ""


def _unit(r: redis.Redis, unit_id: str) -> str:
    try:
        return units.get(r, unit_id).name
    except NotFound:
        return unit_id


def _person(r: redis.Redis, person_id: str) -> str:
    try:
        return f"{people.get(r, person_id).name}({person_id})"
    except NotFound:
        return person_id


def write_csv(found: list[Row], out) -> int:
    """The inventory as CSV with Chinese headings; cells typed by people cannot run as
    formulas in a spreadsheet."""
    writer = csv.writer(out)
    writer.writerow([heading for _, heading in COLUMNS])
    for row in found:
        writer.writerow([spreadsheet_safe(row.fields[name]) for name, _ in COLUMNS])
    return len(found)
