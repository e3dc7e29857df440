"""RQ job functions. Each takes ids or plain values and re-reads state from Redis.

A job's signature is a wire format: jobs queued before a deploy run after it, so
parameters are only ever added at the end, as keywords with defaults. Every job may run
more than once (an event routed again, an RQ retry): each one is idempotent, through the
claims of ``app.notify`` and ``app.escalation``.
"""

import functools
import logging

from app import alerts, audit, escalation, jobs, notifications, reminders
from app.masterkey import load_keyring
from app.redis import get_redis
from app.settings import get_settings
from app.wechat import WeChatAPI

log = logging.getLogger(__name__)


def _context():
    settings = get_settings()
    r = get_redis(settings)
    api_for = functools.cache(lambda platform_id: WeChatAPI.for_platform(r, platform_id, settings))
    return settings, r, api_for


def _record(r, event_id: str) -> dict | None:
    record = audit.entry(r, event_id)
    if record is None:
        log.warning("audit record %s is gone (trimmed); nothing to do", event_id)
    return record


def notify_reviewers(event_id: str) -> dict:
    """A draft entered review (or a new version did): ask its missing reviewers."""
    settings, r, api_for = _context()
    record = _record(r, event_id)
    if record is None:
        return {}
    notifications.start_clock(r, record["draft"], record["version_hash"], record["at"])
    keyring = load_keyring(settings)
    return notifications.tell_reviewers(r, api_for, keyring, settings, record["draft"])


def notify_author(event_id: str) -> str:
    """Tell the author of approval, rejection, publication or failure."""
    _, r, api_for = _context()
    record = _record(r, event_id)
    return notifications.tell_author(r, api_for, record) if record else ""


def raise_alert(event_id: str, kind: str) -> bool:
    """Queue the alert an audit record calls for (sensitive draft, suspended platform)."""
    _, r, _ = _context()
    record = _record(r, event_id)
    return escalation.raise_for_event(r, record, kind) if record else False


def deliver_alert(alert_id: str) -> dict:
    """Deliver one queued alert to the propaganda department, folding repeats."""
    settings, r, api_for = _context()
    alert = alerts.get(r, alert_id)
    if alert is None:
        return {}
    window = settings.alert_fold_window
    if escalation.fold(r, alert, window):
        return {"folded": True}
    if window > 0:
        jobs.enqueue(r, jobs.ALERTS, "flush_alert_fold", alert.id, delay=window)
    return escalation.deliver(r, api_for, alert)


def flush_alert_fold(alert_id: str) -> dict:
    """At the end of a fold window: one message for the identical alerts that followed."""
    _, r, api_for = _context()
    alert = alerts.get(r, alert_id)
    count = escalation.take_fold_count(r, alert_id)
    if alert is None or not count:
        return {}
    return escalation.deliver(r, api_for, alert, count=count)


def scan_reviews() -> dict:
    """Periodic: remind and escalate reviews that wait too long."""
    settings, r, api_for = _context()
    return reminders.scan(r, api_for, load_keyring(settings), settings)


def trim_audit() -> int:
    """Apply the configured audit retention; with none configured, keep everything."""
    settings = get_settings()
    actor = audit.Actor.system("worker")
    return audit.trim(get_redis(settings), actor, settings.audit_retention_days)
