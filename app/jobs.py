"""The RQ queues, named by concern; jobs are to be enqueued from this module only.

A worker drains them in the order of ``QUEUES``, so that order is the priority: alerts
first, then publishing, then notifications.
"""

from datetime import datetime

import redis
from rq import Queue
from rq.exceptions import DuplicateJobError

ALERTS = "alerts"
PUBLISHING = "publishing"
NOTIFICATIONS = "notifications"
QUEUES = (ALERTS, PUBLISHING, NOTIFICATIONS)
# A run's outcome lives in Redis (app.publication); RQ keeps little of its own.
RESULT_TTL = 3600
FAILURE_TTL = 7 * 86400


def queue(r: redis.Redis, name: str) -> Queue:
    return Queue(name, connection=r)


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
    gave, and schedules its next run itself (``app.publishing``).
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


def enqueue_sweep(r: redis.Redis) -> str:
    """Queue one pass of the publication sweeper (``workers.jobs.sweep_publications``)."""
    job = queue(r, PUBLISHING).enqueue(
        "workers.jobs.sweep_publications", job_timeout=120, result_ttl=RESULT_TTL
    )
    return job.id
