"""The inventory (台账) of platforms, and which of them are dormant (僵尸号).

One row per platform: kind, tier, units, first responsible person, administrators, the
date its filing was approved (art. 6), its last publication, its status. A platform
with no publication in ``QIANFA_DORMANT_DAYS`` (none at all counts from its
registration) is dormant, which feeds art. 4's exit mechanism (问题平台退出机制): the
propaganda department decides whether to suspend or close it.

The last publication is the newest of what reconciliation saw online (which includes
posts made in the back office) and what Qianfa published itself, both read from indexes
(``keys.online_newest``, ``keys.drafts_published_at``), so the inventory and the dashboard
cost what the number of platforms costs, not the number of posts.
"""

import csv
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import redis

from app.core import keys
from app.core.audit import spreadsheet_safe
from app.core.store import now
from app.core.validate import CHINA_TIME
from app.drafts import listing
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
    return rows_of(r, platforms.all_platforms(r), dormant_days, moment)


def row(r: redis.Redis, platform: platforms.Platform, days: int, moment=None) -> Row:
    """One platform's line of the inventory."""
    return rows_of(r, [platform], days, moment)[0]


def rows_of(
    r: redis.Redis, shown: list[platforms.Platform], days: int, moment: datetime | None = None
) -> list[Row]:
    """These platforms' lines, read in a few round trips however many platforms and
    publications there are."""
    moment = moment or now()
    ids = [p.id for p in shown]
    last, forms = last_publications(r, ids), filings.of_platforms(r, ids)
    unit_names = {u.id: u.name for u in units.many(r, _unit_ids(shown)).values()}
    named = people.many(r, {pid for p in shown for pid in (p.responsible, *p.admins)})
    person = {pid: f"{who.name}({pid})" for pid, who in named.items()}
    return [
        _row(p, last[p.id], filed_on(forms[p.id]), unit_names, person, days, moment) for p in shown
    ]


def _unit_ids(shown: list[platforms.Platform]) -> set[str]:
    return {uid for p in shown for uid in (p.unit, p.supervising_unit)}


def _row(platform, last, filed, unit_names: dict, person: dict, days: int, moment) -> Row:
    dormant = is_dormant(platform, last, days, moment)
    fields = {
        "id": platform.id,
        "name": platform.name,
        "kind": platforms.KINDS.get(platform.kind, platform.kind),
        "tier": platforms.TIERS.get(platform.tier, str(platform.tier)),
        "unit": unit_names.get(platform.unit, platform.unit),
        "supervising_unit": unit_names.get(platform.supervising_unit, platform.supervising_unit),
        "responsible": person.get(platform.responsible, platform.responsible),
        "admins": "、".join(person.get(a, a) for a in sorted(platform.admins)),
        "filed_on": filed,
        "last_published": f"{last.astimezone(CHINA_TIME):%Y-%m-%d}" if last else "",
        "status": platforms.STATUSES.get(platform.status, platform.status),
        "dormant": "是" if dormant else "",
    }
    return Row(platform, fields, last, dormant)


def dormant(
    r: redis.Redis, shown: list[platforms.Platform], days: int, moment: datetime | None = None
) -> list[platforms.Platform]:
    """The dormant ones among these platforms (the dashboard's count), in one round trip."""
    moment = moment or now()
    last = last_publications(r, [p.id for p in shown])
    return [p for p in shown if is_dormant(p, last[p.id], days, moment)]


def is_dormant(platform: platforms.Platform, last: datetime | None, days: int, moment) -> bool:
    """Running, and nothing published in ``days`` (counted from registration if never)."""
    if platform.status != platforms.ACTIVE:
        return False
    since = last or datetime.fromisoformat(platform.created_at)
    return moment - since > timedelta(days=days)


def last_publications(r: redis.Redis, platform_ids: list[str]) -> dict[str, datetime | None]:
    """Each platform's last publication: the newer of the newest article reconciliation saw
    online and the newest draft Qianfa published, both read from indexes."""
    if not platform_ids:
        return {}
    online = r.zmscore(keys.online_newest(), platform_ids)
    ours = listing.last_published(r, platform_ids)
    return {
        pid: max((datetime.fromtimestamp(t, UTC) for t in (seen, at) if t), default=None)
        for pid, seen, at in zip(platform_ids, online, ours, strict=True)
    }


def filed_on(forms: list[filings.Filing]) -> str:
    """The date the newest approved filing form was signed off (art. 6)."""
    for filing in forms:
        if filing.status == filings.COMPLETE and filing.steps:
            return filing.steps[-1].get("signed_on", "")
    return ""


def write_csv(found: list[Row], out) -> int:
    """The inventory as CSV with Chinese headings; cells typed by people cannot run as
    formulas in a spreadsheet."""
    writer = csv.writer(out)
    writer.writerow([heading for _, heading in COLUMNS])
    for row in found:
        writer.writerow([spreadsheet_safe(row.fields[name]) for name, _ in COLUMNS])
    return len(found)
