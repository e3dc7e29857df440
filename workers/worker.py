"""The worker entry point: an RQ worker on Qianfa's queues, in priority order."""

import logging
import time

import redis
from rq import Worker

from app import jobs
from app.errors import InvalidInput
from app.redis import get_redis
from app.settings import Settings

log = logging.getLogger(__name__)
REDIS_WAIT_CAP = 10.0


def run_worker(
    settings: Settings, queues: tuple[str, ...] = (), *, burst=False, with_scheduler=True
) -> bool:
    """Work the given queues (default: all, alerts first) until stopped or, in burst mode, idle.

    RQ's work loop gives up on some Redis errors (a timeout, an error during its
    maintenance); outside burst mode a worker that stopped without being asked to waits
    for Redis and starts again, so a Redis restart never leaves the queues unworked.
    """
    unknown = set(queues) - set(jobs.QUEUES)
    if unknown:
        raise InvalidInput(f"未知队列:{', '.join(sorted(unknown))};可用:{', '.join(jobs.QUEUES)}")
    r = get_redis(settings)
    while True:
        worker = Worker(list(queues or jobs.QUEUES), connection=r)
        try:
            worked = worker.work(
                burst=burst, with_scheduler=with_scheduler, logging_level=settings.log_level
            )
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            log.warning("worker lost Redis: %s", exc)
            worked = False
        if burst or worker._shutdown_requested_date is not None:  # SIGTERM or SIGINT
            return worked
        log.warning("worker %s stopped without being asked; starting again", worker.name)
        wait_for_redis(r)


def wait_for_redis(r: redis.Redis) -> None:
    """Block until Redis answers PING, backing off up to ``REDIS_WAIT_CAP`` seconds."""
    pause = 0.2
    while True:
        try:
            r.ping()
            return
        except (redis.ConnectionError, redis.TimeoutError):
            time.sleep(pause)
            pause = min(pause * 2, REDIS_WAIT_CAP)
