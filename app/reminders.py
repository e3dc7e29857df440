"""Reviews that wait too long: one reminder to the missing reviewers after
``QIANFA_REVIEW_REMIND_AFTER``, one ``overdue_review`` alert to the propaganda department
after ``QIANFA_REVIEW_ESCALATE_AFTER``; both per version, counted from when it began to wait.
"""

import logging
from collections.abc import Callable

import redis

from app import drafts, escalation, notifications
from app.errors import WeChatRetryable
from app.masterkey import Keyring
from app.settings import Settings
from app.store import now

log = logging.getLogger(__name__)
SCAN_LIMIT = 10_000


def scan(r: redis.Redis, api_for: Callable, keyring: Keyring, settings: Settings) -> dict:
    """Remind and escalate what is due; a passing WeChat error waits for the next scan."""
    counts = {"waiting": 0, "reminded": 0, "escalated": 0}
    for draft in drafts.list_drafts(r, status=drafts.IN_REVIEW, limit=SCAN_LIMIT):
        counts["waiting"] += 1
        waited = (now() - notifications.waiting_since(r, draft)).total_seconds()
        if waited >= settings.review_remind_after:
            try:
                outcomes = notifications.tell_reviewers(
                    r, api_for, keyring, settings, draft.id, purpose=notifications.REMINDER
                )
            except WeChatRetryable as error:
                log.warning("reminder for %s waits for the next scan: %s", draft.id, error)
            else:
                counts["reminded"] += sum(1 for o in outcomes.values() if o == "sent")
        if waited >= settings.review_escalate_after:
            counts["escalated"] += escalation.overdue(r, draft, waited / 3600)
    return counts
