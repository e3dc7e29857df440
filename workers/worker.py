"""The worker entry point: an RQ worker on Qianfa's queues, in priority order."""

import contextlib
import logging
import time

import redis
from rq import SimpleWorker, Worker

from app.core import logs, metrics
from app.core.errors import InvalidInput
from app.core.redis import get_redis
from app.core.settings import Settings
from app.outbox import queues as jobs

log = logging.getLogger(__name__)
REDIS_WAIT_CAP = 10.0
# What a job's first argument names, for its log lines (the rest say it in their records).
FIRST_ARGUMENT = {"publish_draft": "draft", "reconcile_platform": "platform"}


class Instrumented:
    """A worker whose job lines carry the job's id, queue and draft or platform, and that
    counts each job's final status (in this process, which outlives the forked child)."""

    def execute_job(self, job, queue):
        """Run the job (its forked child inherits the log context), then count its status."""
        function = job.func_name.rsplit(".", 1)[-1]
        named = FIRST_ARGUMENT.get(function)
        subject = {named: job.args[0]} if named and job.args else {}
        with logs.context(job_id=job.id, queue=queue.name, **subject):
            try:
                super().execute_job(job, queue)
            finally:
                self.count(job, queue)

    def count(self, job, queue) -> None:
        function = job.func_name.rsplit(".", 1)[-1]
        with contextlib.suppress(redis.RedisError):
            found = job.get_status(refresh=True)
            status = getattr(found, "value", found) or "gone"
            metrics.count("qianfa_jobs_total", queue=queue.name, function=function, status=status)


class ForkingWorker(Instrumented, Worker):
    """RQ's ``Worker``: each job in a forked child, whose counts are folded in after it."""

    def fork_work_horse(self, job, queue):
        super().fork_work_horse(job, queue)
        self._child = self._horse_pid

    def count(self, job, queue) -> None:
        child, self._child = getattr(self, "_child", 0), 0
        if child:
            metrics.fold(child)
        super().count(job, queue)


class InProcessWorker(Instrumented, SimpleWorker):
    """RQ's ``SimpleWorker``: each job in this process."""


def run_worker(
    settings: Settings,
    queues: tuple[str, ...] = (),
    *,
    burst=False,
    with_scheduler=True,
    simple=False,
) -> bool:
    """Work the given queues (default: all but pictures, alerts first) until stopped or idle.

    By default each job runs in a forked child (RQ's ``Worker``), which the worker kills
    when the job overruns its timeout by a minute, so no job can wedge or poison the
    worker. ``simple`` runs jobs in the worker process itself (``SimpleWorker``): no fork
    per job, and connections stay open between jobs, about three times the throughput
    (``bench/pipeline.py``); a timeout is then only the exception SIGALRM raises inside
    the job, and a job that crashes the process takes the worker with it.

    RQ's work loop gives up on some Redis errors (a timeout, an error during its
    maintenance); outside burst mode a worker that stopped without being asked to waits
    for Redis and starts again, so a Redis restart never leaves the queues unworked.
    """
    unknown = set(queues) - set(jobs.QUEUES)
    if unknown:
        raise InvalidInput(f"未知队列:{', '.join(sorted(unknown))};可用:{', '.join(jobs.QUEUES)}")
    r = get_redis(settings)
    while True:
        worker_class = InProcessWorker if simple else ForkingWorker
        worker = worker_class(list(queues or jobs.DEFAULT_QUEUES), connection=r)
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
