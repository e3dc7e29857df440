"""RQ job functions. Each takes ids or plain values and re-reads state from Redis.

A job's signature is a wire format: jobs queued before a deploy run after it, so
parameters are only ever added at the end, as keywords with defaults. Every job may run
more than once (an event routed again, an RQ retry): each one is idempotent, through the
claims of ``app.notify.deliver`` and ``app.notify.escalation``.
"""

import functools
import json
import logging
import time

from app.core import alerts, anchors, audit, entries, keys
from app.core.masterkey import load_keyring
from app.core.redis import get_redis
from app.core.settings import get_settings
from app.drafts import picture_text, standing
from app.monitoring import daily, feeds, online, recipients, reconcile, replies, takedown
from app.notify import draft_notices, escalation, manual_notices, reminders
from app.outbox import queues
from app.publishing import manual, schedule
from app.screening import pictures
from app.wechat.client import WeChatAPI

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
    """A draft entered review (or a new version did): ask its missing reviewers, or alert
    the propaganda department when only its author could sign off (in this job rather than
    one of its own: a job less per draft)."""
    settings, r, api_for = _context()
    record = _record(r, event_id)
    if record is None:
        return {}
    escalation.raise_for_event(r, record, escalation.UNSIGNABLE)
    keyring = load_keyring(settings)
    return draft_notices.tell_reviewers(r, api_for, keyring, settings, record["draft"])


def notify_author(event_id: str) -> str:
    """Tell the author of approval, rejection, publication or failure."""
    _, r, api_for = _context()
    record = _record(r, event_id)
    return draft_notices.tell_author(r, api_for, record) if record else ""


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
        queues.enqueue(r, queues.ALERTS, "flush_alert_fold", alert.id, delay=window)
    outcomes = escalation.deliver(r, api_for, alert)
    return {**outcomes, **recipients.tell_supervisors(r, api_for, alert)}


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


def anchor_audit() -> int:
    """Periodic: verify the audit chain since the newest anchor, then anchor its head.

    A chain that fails raises (the job fails, logged) after alerting the propaganda
    department, and no anchor vouches for it.
    """
    settings = get_settings()
    r = get_redis(settings)
    try:
        made = anchors.anchor(r, settings.audit_anchor_file)
    except anchors.ChainBroken as exc:
        alerts.queue(r, "audit_broken", f"审计记录校验失败,未写入新锚点:{exc.message}")
        raise
    return made.seq if made else 0


def publish_draft(draft_id: str, version: int, run: int = 0) -> str:
    """Advance the publication of one draft version as far as it goes now (app.publishing.schedule).

    ``run`` numbers the runs of one publication; a run superseded by a later one exits.
    """
    settings = get_settings()
    return schedule.run(get_redis(settings), draft_id, version, settings=settings, number=run)


def sweep_publications() -> list[str]:
    """Re-queue publications whose job was lost; meant to run every minute or so."""
    settings = get_settings()
    return schedule.sweep(get_redis(settings), settings=settings)


def sweep_approvals() -> list[str]:
    """Periodic: send approved drafts whose approval lapsed (too old, a signer's role gone)
    back to review (art. 14); the audit records tell their authors and reviewers."""
    settings = get_settings()
    return standing.sweep(get_redis(settings), settings.approval_ttl)


def schedule_publication(event_id: str) -> None:
    """A record left a draft approved: hand it to publishing (idempotent there)."""
    settings, r, _ = _context()
    record = _record(r, event_id)
    if record is not None:
        schedule.schedule(r, record["draft"], settings=settings)


def publish_finished(event_id: str) -> bool:
    """Settle the publication a PUBLISHJOBFINISH callback (recorded by the webhook) names."""
    settings, r, _ = _context()
    found = r.xrange(keys.publish_events(), event_id, event_id)
    if not found:
        log.warning("publish event %s is gone; nothing to do", event_id)
        return False
    event = entries.text(keys.publish_events(), event_id, found[0][1])
    if event is None:
        return False
    if event.get("event") == "mass":
        return _mass_finished(r, event_id, event)
    try:
        urls = json.loads(event["article_urls"] or "[]")
        article_url = str(urls[0]) if urls else ""
        status = int(event["publish_status"] or -1)
        fail_idx = tuple(json.loads(event["fail_idx"] or "[]"))
        publish_id, article_id = event["publish_id"], event["article_id"]
    except (KeyError, LookupError, TypeError, ValueError):
        entries.skipped(keys.publish_events(), event_id, entries.MALFORMED)
        return False
    ours = schedule.on_publish_finished(
        r,
        publish_id,
        status,
        article_id=article_id,
        article_url=article_url,
        fail_idx=fail_idx,
        settings=settings,
    )
    if not ours and event.get("platform"):
        # Not Qianfa's publish_id: someone published in the back office. Look now.
        queues.enqueue(r, queues.ALERTS, "reconcile_platform", event["platform"], tag=event_id)
    return ours


MASS_SETTLE_DELAY = 60


def _mass_finished(r, event_id: str, event: dict) -> bool:
    """A MASSSENDJOBFINISH: Qianfa's own, or a back-office mass send (alert, and look now)."""
    try:
        age = time.time() - int(event.get("received_at") or 0)
        urls = [str(url) for url in json.loads(event.get("article_urls") or "[]")]
        platform, msg_id = event["platform"], event["msg_id"]
    except (KeyError, TypeError, ValueError):
        entries.skipped(keys.publish_events(), event_id, entries.MALFORMED)
        return False
    verdict = reconcile.mass_sent(r, platform, msg_id, urls, age)
    if verdict == "settling":  # our send may not have recorded its msg_id yet: ask again
        queues.enqueue(
            r,
            queues.PUBLISHING,
            "publish_finished",
            event_id,
            delay=MASS_SETTLE_DELAY,
            tag=str(int(age)),
        )
    elif verdict in ("unreviewed", "seen"):
        queues.enqueue(r, queues.ALERTS, "reconcile_platform", platform, tag=event_id)
    return verdict == "ours"


def reconcile_platforms() -> list[dict]:
    """Periodic: compare what is online on every platform with what was approved."""
    _, r, api_for = _context()
    return [vars(done) for done in reconcile.reconcile_all(r, api_for)]


def reconcile_platform(platform_id: str) -> dict:
    """At once, for one platform (a PUBLISHJOBFINISH or MASSSENDJOBFINISH not Qianfa's)."""
    _, r, api_for = _context()
    return vars(reconcile.reconcile(r, api_for(platform_id), platform_id, force=True))


def remind_manual() -> dict:
    """Periodic: remind administrators of drafts approved but not reported as published by hand."""
    settings, r, api_for = _context()
    return manual_notices.remind(r, api_for, settings)


def check_report(event_id: str) -> str:
    """A page published by hand was reported: fetch and compare it, tell the reporter."""
    settings, r, api_for = _context()
    record = _record(r, event_id)
    check = manual.verify(r, record, settings) if record else None
    if check is None:
        return ""  # a later report of the same draft replaced this one
    manual_notices.tell_checked(r, api_for, check)
    return check.state


def poll_feeds() -> dict:
    """Periodic: read the feeds of platforms without a publishing API (app.monitoring.feeds)."""
    settings = get_settings()
    return feeds.poll_due(get_redis(settings), settings=settings)


def take_down(event_id: str) -> str:
    """Carry out a take-down the propaganda department asked for (freepublish/delete)."""
    _, r, api_for = _context()
    record = _record(r, event_id)
    return takedown.perform(r, api_for, record) if record else ""


def escalate_alerts() -> dict:
    """Periodic: alerts open longer than QIANFA_ALERT_ESCALATE_AFTER go to the leading group."""
    settings, r, api_for = _context()
    return recipients.escalate(r, api_for, settings.alert_escalate_after)


def send_daily_report() -> dict:
    """Periodic: from QIANFA_DAILY_REPORT_AT on, the day's report to the propaganda department."""
    settings, r, api_for = _context()
    return daily.send(r, api_for, settings)


def notify_reply_reviewer(event_id: str) -> str:
    """A default reply for followers was proposed: ask the first responsible person."""
    _, r, api_for = _context()
    record = _record(r, event_id)
    return replies.tell_reviewer(r, api_for, record) if record else ""


def read_pictures(event_id: str) -> str:
    """A version entered review: read the text in its pictures and screen it (art. 10)."""
    settings, r, _ = _context()
    record = _record(r, event_id)
    if record is None:
        return ""
    found = picture_text.check(r, record["draft"], record["version_hash"], settings)
    return found.verdict if found else ""


def notify_pictures_checked(event_id: str) -> dict:
    """A version's picture checks finished: tell the reviewers who were told they were running."""
    _, r, api_for = _context()
    record = _record(r, event_id)
    if record is None:
        return {}
    return draft_notices.tell_pictures_checked(r, api_for, record["draft"], record["version_hash"])


def read_online_pictures(
    platform_id: str,
    article_id: str,
    found: list,
    draft: str = "",
    version: int = 0,
    title: str = "",
    url: str = "",
) -> str:
    """Read the text in a published post's pictures and screen it (monitoring.online_pictures)."""
    settings = get_settings()
    where = {"draft": draft, "version": version, "title": title, "url": url}
    r = get_redis(settings)
    readings = [picture_text.read_one(r, pictures.Picture(f, u), settings) for f, u in found]
    texts, _ = pictures.fields(readings)
    return online.check_pictures(r, platform_id, article_id, texts, **where)
