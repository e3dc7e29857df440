"""What the console's dashboard counts, for one person, over the platforms they may see."""

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import redis

from app.channels import console_accounts
from app.core import alertstate, keys
from app.core.store import now
from app.drafts import lifecycle, review
from app.monitoring import inventory


@dataclass
class Overview:
    waiting: list[lifecycle.Draft] = field(default_factory=list)
    overdue: list[lifecycle.Draft] = field(default_factory=list)
    alerts: list[alertstate.Case] = field(default_factory=list)
    failed: list[lifecycle.Draft] = field(default_factory=list)
    by_tier: Counter = field(default_factory=Counter)
    by_status: Counter = field(default_factory=Counter)
    dormant: list[inventory.Row] = field(default_factory=list)


def waiting_since(r: redis.Redis, draft: lifecycle.Draft) -> datetime:
    """When the current version began to wait, from the reminders' clock (read only)."""
    content_hash, since = r.hmget(keys.review_clock(draft.id), "hash", "since")
    if content_hash == draft.content_hash.encode() and since:
        return datetime.fromisoformat(since.decode())
    return datetime.fromisoformat(draft.updated_at)


def overview(
    r: redis.Redis, person_id: str, escalate_after: int, dormant_days: int = 90
) -> Overview:
    seen = console_accounts.visible_platforms(r, person_id)
    result = Overview()
    late = now() - timedelta(seconds=escalate_after)
    for platform in seen:
        result.by_tier[platform.tier] += 1
        result.by_status[platform.status] += 1
        for draft in lifecycle.list_drafts(r, platform=platform.id, status=lifecycle.IN_REVIEW):
            if review.can_sign(r, person_id, platform, draft):
                result.waiting.append(draft)
            if waiting_since(r, draft) < late:
                result.overdue.append(draft)
        result.failed += lifecycle.list_drafts(r, platform=platform.id, status=lifecycle.FAILED)
        row = inventory.row(r, platform, dormant_days)
        if row.dormant:
            result.dormant.append(row)
    result.alerts = open_alerts(r, {p.id for p in seen}, console_accounts.sees_all(r, person_id))
    return result


def open_alerts(r: redis.Redis, platform_ids: set[str], everything: bool) -> list[alertstate.Case]:
    """Alerts not yet resolved on these platforms (all of them for the propaganda department),
    however old: an alert counts until someone handled it."""
    return [
        case for case in alertstate.open_cases(r) if everything or case.platform in platform_ids
    ]
