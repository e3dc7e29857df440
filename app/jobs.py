"""The RQ queues, named by concern; jobs are to be enqueued from this module only.

A worker drains them in the order of ``QUEUES``, so that order is the priority: alerts
first, then publishing, then notifications.
"""

import redis
from rq import Queue

ALERTS = "alerts"
PUBLISHING = "publishing"
NOTIFICATIONS = "notifications"
QUEUES = (ALERTS, PUBLISHING, NOTIFICATIONS)


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
