"""What the console's dashboard counts, for one person, over the platforms they may see."""

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import redis

from app.channels import console_accounts
from app.core import alerts as alert_stream
from app.core import keys
from app.core.store import now
from app.drafts import lifecycle, review
from app.registry import filings

ALERT_DAYS = 7


@dataclass
class Overview:
    waiting: list[lifecycle.Draft] = field(default_factory=list)
    overdue: list[lifecycle.Draft] = field(default_factory=list)
    alerts: list[alert_stream.Alert] = field(default_factory=list)
    failed: list[lifecycle.Draft] = field(default_factory=list)
    by_tier: Counter = field(default_factory=Counter)
    by_status: Counter = field(default_factory=Counter)
    refilings: list[filings.Filing] = field(default_factory=list)


def waiting_since(r: redis.Redis, draft: lifecycle.Draft) -> datetime:
    """When the current version began to wait, from the reminders' clock (read only)."""
    content_hash, since = r.hmget(keys.review_clock(draft.id), "hash", "since")
    if content_hash == draft.content_hash.encode() and since:
        return datetime.fromisoformat(since.decode())
    return datetime.fromisoformat(draft.updated_at)


def overview(r: redis.Redis, person_id: str, escalate_after: int) -> Overview:
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
        result.refilings += open_refilings(r, platform.id)
    result.alerts = open_alerts(r, {p.id for p in seen}, console_accounts.sees_all(r, person_id))
    return result


def open_refilings(r: redis.Redis, platform_id: str) -> list[filings.Filing]:
    """Open re-filing forms: a change of owners waits on each (art. 6 asks for it 及时)."""
    return [
        f
        for f in filings.of_platform(r, platform_id)
        if f.status == filings.OPEN and f.kind == "refiling"
    ]


def open_alerts(
    r: redis.Redis, platform_ids: set[str], everything: bool
) -> list[alert_stream.Alert]:
    """Alerts of the last week on these platforms (all of them for the propaganda department)."""
    since = (now() - timedelta(days=ALERT_DAYS)).isoformat(timespec="seconds")
    return [
        alert
        for alert in alert_stream.recent(r)
        if alert.at >= since and (everything or alert.platform in platform_ids)
    ]
