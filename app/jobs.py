"""The RQ queues, named by concern; jobs are to be enqueued from this module only.

A worker drains them in the order of ``QUEUES``, so that order is the priority: alerts
first, then publishing, then notifications. Jobs are named by their path in
``workers.jobs`` (a string, so this module imports no job code) and take plain ids.
"""

import re
from dataclasses import dataclass
from datetime import timedelta

import redis
from rq import Queue, Retry

from app.settings import Settings
from app.wechat_errors import retry_intervals

ALERTS = "alerts"
PUBLISHING = "publishing"
NOTIFICATIONS = "notifications"
QUEUES = (ALERTS, PUBLISHING, NOTIFICATIONS)

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
