"""What the console's dashboard counts, for one person, over the platforms they may see."""

from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta

import redis

from app.channels import console_accounts
from app.core import alertstate
from app.core.store import now
from app.drafts import lifecycle, review
from app.monitoring import inventory
from app.registry import filings, platforms

PAGE = 50


@dataclass
class Overview:
    waiting: list[lifecycle.Draft] = field(default_factory=list)
    overdue: list[lifecycle.Draft] = field(default_factory=list)
    alerts: list[alertstate.Case] = field(default_factory=list)
    failed: list[lifecycle.Draft] = field(default_factory=list)
    by_tier: Counter = field(default_factory=Counter)
    by_status: Counter = field(default_factory=Counter)
    page: int = PAGE  # each list shows at most this many ("50+")
    refilings: list[filings.Filing] = field(default_factory=list)
    dormant: list[platforms.Platform] = field(default_factory=list)


def overview(
    r: redis.Redis, person_id: str, escalate_after: int, dormant_days: int = 90
) -> Overview:
    """The dashboard's lists, a page each, read from indexes (``listing``, ``inventory``):
    a few round trips for all the platforms shown, none per draft or publication."""
    seen = console_accounts.visible_platforms(r, person_id)
    everything = console_accounts.sees_all(r, person_id)
    scope = None if everything else [p.id for p in seen]
    result = Overview()
    for platform in seen:
        result.by_tier[platform.tier] += 1
        result.by_status[platform.status] += 1
    result.refilings = open_refilings(r, [p.id for p in seen])
    result.dormant = inventory.dormant(r, seen, dormant_days)
    result.waiting = review.waiting_for(r, person_id, scope, PAGE)
    result.overdue = review.overdue(r, scope, now() - timedelta(seconds=escalate_after), PAGE)
    result.failed = lifecycle.list_across(r, scope, lifecycle.FAILED, PAGE)
    result.alerts = open_alerts(r, {p.id for p in seen}, everything)
    return result


def open_refilings(r: redis.Redis, platform_ids: list[str]) -> list[filings.Filing]:
    """Open re-filing forms: a change of owners waits on each (art. 6 asks for it 及时)."""
    return [
        f
        for forms in filings.of_platforms(r, platform_ids).values()
        for f in forms
        if f.status == filings.OPEN and f.kind == "refiling"
    ]


def open_alerts(r: redis.Redis, platform_ids: set[str], everything: bool) -> list[alertstate.Case]:
    """Alerts not yet resolved on these platforms (all of them for the propaganda department),
    however old: an alert counts until someone handled it."""
    return [
        case for case in alertstate.open_cases(r) if everything or case.platform in platform_ids
    ]
