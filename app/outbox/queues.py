"""The RQ queues, named by concern; jobs are to be enqueued from this module only.

A worker drains them in the order of ``QUEUES``, so that order is the priority: alerts
first, then publishing, then notifications. Jobs are named by their path in
``workers.jobs`` (a string, so this module imports no job code) and take plain ids.
"""

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

import redis
from rq import Queue, Retry
from rq.exceptions import DuplicateJobError

from app.core.backoff import retry_intervals
from app.core.settings import Settings

ALERTS = "alerts"
PUBLISHING = "publishing"
NOTIFICATIONS = "notifications"
# Text in pictures: OCR takes seconds and a loaded engine, so its own worker reads
# it (``qianfa worker pictures``); the other workers leave it alone.
PICTURES = "pictures"
QUEUES = (ALERTS, PUBLISHING, NOTIFICATIONS, PICTURES)
DEFAULT_QUEUES = (ALERTS, PUBLISHING, NOTIFICATIONS)
# How a worker runs its jobs (``qianfa worker --mode``; ``workers.worker``), the default first.
WORKER_MODES = ("supervised", "fork", "simple")
# A run's outcome lives in Redis (app.publishing.record); RQ keeps little of its own.
RESULT_TTL = 3600
FAILURE_TTL = 7 * 86400

JOB_MODULE = "workers.jobs"
JOB_TIMEOUT = 120
RETRIES = 5
UNSAFE_IN_JOB_ID = re.compile(r"[^A-Za-z0-9_-]")


def queue(r: redis.Redis, name: str) -> Queue:
    return Queue(name, connection=r)


def job_id(name: str, *parts: str) -> str:
    """A deterministic job id: the same event routed twice names the same job."""
    return UNSAFE_IN_JOB_ID.sub("_", "-".join((name, *parts)))


def enqueue(
    r: redis.Redis,
    queue_name: str,
    name: str,
    *args: str,
    pipeline: redis.client.Pipeline | None = None,
    delay: float = 0,
    tag: str = "",
):
    """Queue ``workers.jobs.<name>(*args)`` with its timeout and retries, in ``pipeline`` if
    given (the caller executes it, so the job lands together with the caller's writes)."""
    options = {
        "job_id": job_id(name, *args, *((tag,) if tag else ())),
        "retry": Retry(max=RETRIES, interval=retry_intervals(RETRIES)),
        "failure_ttl": 30 * 86400,
    }
    target = queue(r, queue_name)
    func = f"{JOB_MODULE}.{name}"
    if delay > 0:
        when = timedelta(seconds=delay)
        return target.enqueue_in(when, func, *args, job_timeout=JOB_TIMEOUT, **options)
    return target.enqueue_call(func, args=args, timeout=JOB_TIMEOUT, pipeline=pipeline, **options)


def enqueue_online_pictures(
    r: redis.Redis, platform_id: str, article_id: str, found: list, where: dict
) -> None:
    """Queue the reading of a published post's pictures (``workers.jobs.read_online_pictures``);
    its id names the post and its pictures, so a post seen again queues no second reading."""
    digest = hashlib.sha256(json.dumps(found).encode()).hexdigest()[:16]
    queue(r, PICTURES).enqueue_call(
        f"{JOB_MODULE}.read_online_pictures",
        args=(platform_id, article_id, found),
        kwargs=where,
        timeout=JOB_TIMEOUT,
        job_id=job_id("read_online_pictures", platform_id, article_id, digest),
        retry=Retry(max=RETRIES, interval=retry_intervals(RETRIES)),
        failure_ttl=FAILURE_TTL,
    )


@dataclass(frozen=True)
class Periodic:
    """A job the dispatcher enqueues once per ``interval`` seconds (across all dispatchers)."""

    name: str
    queue: str
    interval: object  # seconds, or a function of the settings giving them

    def seconds(self, settings: Settings) -> int:
        return int(self.interval(settings) if callable(self.interval) else self.interval)


PERIODIC = (
    Periodic("scan_reviews", NOTIFICATIONS, lambda settings: settings.review_scan_interval),
    Periodic("trim_audit", NOTIFICATIONS, 86400),
    Periodic("anchor_audit", NOTIFICATIONS, lambda settings: settings.audit_anchor_interval),
    Periodic("sweep_publications", PUBLISHING, 60),
    Periodic("sweep_approvals", PUBLISHING, 300),
    Periodic("reconcile_platforms", ALERTS, lambda settings: settings.reconcile_interval),
    Periodic("remind_manual", NOTIFICATIONS, 300),
    Periodic("poll_feeds", PUBLISHING, lambda settings: settings.feed_poll_interval),
    Periodic(
        "escalate_alerts", NOTIFICATIONS, lambda settings: min(settings.alert_escalate_after, 300)
    ),
    Periodic("send_daily_report", NOTIFICATIONS, 60),
)


def depths(r: redis.Redis) -> dict[str, dict[str, int]]:
    """Waiting, running, scheduled and failed jobs per queue, for /healthz."""
    result = {}
    for name in QUEUES:
        q = queue(r, name)
        result[name] = {
            "queued": q.count,
            "started": q.started_job_registry.count,
            "scheduled": q.scheduled_job_registry.count,
            "failed": q.failed_job_registry.count,
        }
    return result


def publish_job_id(draft_id: str, version: int, run: int) -> str:
    """Deterministic: a repeated enqueue of the same run is refused, not run twice."""
    return f"publish-{draft_id}-v{version}-{run}"


def enqueue_publish(
    r: redis.Redis,
    draft_id: str,
    version: int,
    run: int,
    *,
    at: datetime | None = None,
    timeout: int = 600,
) -> str:
    """Queue run number ``run`` of a publication, now or at ``at``; returns the job id.

    RQ's own retry is not used: the job decides when to come back from the error WeChat
    gave, and schedules its next run itself (``app.publishing.schedule``).
    """
    job_id = publish_job_id(draft_id, version, run)
    options = {
        "job_id": job_id,
        "job_timeout": timeout,
        "result_ttl": RESULT_TTL,
        "failure_ttl": FAILURE_TTL,
        "description": f"publish {draft_id} v{version} run {run}",
        "unique": True,
    }
    q = queue(r, PUBLISHING)
    try:
        if at is None:
            q.enqueue("workers.jobs.publish_draft", draft_id, version, run=run, **options)
        else:
            q.enqueue_at(at, "workers.jobs.publish_draft", draft_id, version, run=run, **options)
    except DuplicateJobError:
        pass  # this run is already queued: nothing to add
    return job_id
