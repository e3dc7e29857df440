"""Reviews that wait too long: one reminder to the missing reviewers after
``QIANFA_REVIEW_REMIND_AFTER``, one ``overdue_review`` alert to the propaganda department
after ``QIANFA_REVIEW_ESCALATE_AFTER``; both per version, counted from when it began to wait.
A re-filing form open longer than ``QIANFA_REFILING_REMIND_AFTER`` raises one alert too.
"""

import logging
from collections.abc import Callable
from datetime import datetime

import redis

from app.core.errors import WeChatRetryable
from app.core.masterkey import Keyring
from app.core.settings import Settings
from app.core.store import now
from app.drafts import lifecycle
from app.notify import draft_notices, escalation
from app.registry import filings, platforms

log = logging.getLogger(__name__)
SCAN_LIMIT = 10_000


def scan(r: redis.Redis, api_for: Callable, keyring: Keyring, settings: Settings) -> dict:
    """Remind and escalate what is due; a passing WeChat error waits for the next scan."""
    counts = {"waiting": 0, "reminded": 0, "escalated": 0}
    for draft in lifecycle.list_drafts(r, status=lifecycle.IN_REVIEW, limit=SCAN_LIMIT):
        counts["waiting"] += 1
        waited = (now() - draft_notices.waiting_since(r, draft)).total_seconds()
        if waited >= settings.review_remind_after:
            try:
                outcomes = draft_notices.tell_reviewers(
                    r, api_for, keyring, settings, draft.id, purpose=draft_notices.REMINDER
                )
            except WeChatRetryable as error:
                log.warning("reminder for %s waits for the next scan: %s", draft.id, error)
            else:
                counts["reminded"] += sum(1 for o in outcomes.values() if o == "sent")
        if waited >= settings.review_escalate_after:
            counts["escalated"] += escalation.overdue(r, draft, waited / 3600)
    counts["refilings"] = remind_refilings(r, settings.refiling_remind_after)
    return counts


def remind_refilings(r: redis.Redis, after: int) -> int:
    """One alert per re-filing form left open longer than ``after`` seconds."""
    raised = 0
    for platform in platforms.all_platforms(r):
        for filing in filings.of_platform(r, platform.id):
            if filing.status != filings.OPEN or filing.kind != "refiling":
                continue
            waited = (now() - datetime.fromisoformat(filing.opened_at)).total_seconds()
            if waited >= after:
                raised += escalation.refiling_overdue(r, filing, waited / 86400)
    return raised
