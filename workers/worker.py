"""The worker entry point: an RQ worker on Qianfa's queues, in priority order."""

import contextlib
import gc
import logging
import os
import signal
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
RESTART_PAUSE = 1.0
BEAT_EVERY = 1.0  # seconds between two of RQ's own heartbeats (``Instrumented.heartbeat``)
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

    # Whether the job's final status must be read back from Redis (set in another process).
    status_elsewhere = False
    _beat_at = 0.0

    def heartbeat(self, timeout=None, pipeline=None):
        """RQ's heartbeat (three commands) in one round trip, and at most once a second.

        RQ beats three times per job outside a pipeline (after the job, before and after
        dequeueing), nine round trips that cost a fast job more than its own work; the
        worker's key lives ``worker_ttl`` + 60 seconds (minutes), so a beat less than a second
        after the last adds nothing. Beats in RQ's pipelines or with their own timeout pass.
        """
        if pipeline is not None or timeout is not None:
            return super().heartbeat(timeout, pipeline)
        if time.monotonic() - self._beat_at < BEAT_EVERY:
            return None
        with self.connection.pipeline(transaction=False) as batch:
            super().heartbeat(pipeline=batch)
            batch.execute()
        self._beat_at = time.monotonic()
        return None

    def count(self, job, queue) -> None:
        function = job.func_name.rsplit(".", 1)[-1]
        with contextlib.suppress(redis.RedisError):
            found = job.get_status(refresh=self.status_elsewhere)
            status = getattr(found, "value", found) or "gone"
            metrics.count("qianfa_jobs_total", queue=queue.name, function=function, status=status)


class ForkingWorker(Instrumented, Worker):
    """RQ's ``Worker``: each job in a forked child, whose counts are folded in after it."""

    status_elsewhere = True

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
    mode="supervised",
    again=True,
) -> bool:
    """Work the given queues (default: all but pictures, alerts first) until stopped or idle.

    ``supervised`` (the default, ``supervise``) runs the jobs one after another in a child
    process that a supervising parent starts again whenever it dies: a fork per worker,
    not per job, about four times the throughput of ``fork`` (``bench/pipeline.py``),
    with the same recovery from a job that kills its process. ``fork`` is RQ's
    ``Worker``: a forked child per job, which the worker kills when the job overruns its
    timeout by a minute. ``simple`` runs jobs in this process (``SimpleWorker``), with
    nothing to restart it.

    RQ's work loop gives up on some Redis errors (a timeout, an error during its
    maintenance); outside burst mode a worker that stopped without being asked to waits
    for Redis and starts again, so a Redis restart never leaves the queues unworked.
    ``again=False`` (a supervised child) returns instead: its parent starts a fresh child,
    since RQ leaves threads, signal handlers and a scheduler behind in a worker's process.
    """
    unknown = set(queues) - set(jobs.QUEUES)
    if unknown:
        raise InvalidInput(f"未知队列:{', '.join(sorted(unknown))};可用:{', '.join(jobs.QUEUES)}")
    if mode not in jobs.WORKER_MODES:
        raise InvalidInput(f"未知的运行方式:{mode};可用:{', '.join(jobs.WORKER_MODES)}")
    if mode == "supervised":
        return supervise(settings, queues, burst=burst, with_scheduler=with_scheduler)
    r = get_redis(settings)
    while True:
        worker_class = InProcessWorker if mode == "simple" else ForkingWorker
        worker = worker_class(list(queues or jobs.DEFAULT_QUEUES), connection=r)
        try:
            worked = worker.work(
                burst=burst, with_scheduler=with_scheduler, logging_level=settings.log_level
            )
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            log.warning("worker lost Redis: %s", exc)
            worked = False
        if burst or not again or worker._shutdown_requested_date is not None:  # SIGTERM/INT
            return worked
        log.warning("worker %s stopped without being asked; starting again", worker.name)
        wait_for_redis(r)


def supervise(settings: Settings, queues: tuple[str, ...], *, burst, with_scheduler) -> bool:
    """Run an in-process worker in a child and start another whenever it dies.

    A job that kills its process (SIGKILL, a segfault, the OOM killer) takes only the
    child; RQ fails or retries that job once its timeout has passed, and the sweeper
    resumes a publication, as after a forked work-horse's death. SIGTERM is passed on, so
    the child finishes the job in hand; Ctrl-C reaches the child from the terminal.
    RQ's ``WorkerPool`` does this too, but with its own connection and logging, the
    scheduler always on and no respawn in burst mode.
    """
    stopping: list[int] = []
    child = 0

    def stop(signum, _frame):
        stopping.append(signum)
        if not child:
            raise SystemExit(0)  # between children: nothing to finish
        if signum == signal.SIGTERM:
            _pass_on(child, signum)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    gc.freeze()  # what is loaded lives as long as the children: no collection walks it
    try:
        while True:
            child = _start_child(settings, queues, burst, with_scheduler, previous)
            if signal.SIGTERM in stopping:  # arrived while forking
                _pass_on(child, signal.SIGTERM)
            _, status = os.waitpid(child, 0)
            metrics.fold(child)
            child, code = 0, os.waitstatus_to_exitcode(status)
            if stopping or (burst and code == 0):
                return code == 0
            log.warning("worker child ended (exit code %d); starting another", code)
            time.sleep(RESTART_PAUSE)  # a child that dies at start must not spin the CPU
            wait_for_redis(get_redis(settings))
    except SystemExit:
        return False
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _pass_on(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def _start_child(settings, queues, burst, with_scheduler, handlers) -> int:
    """Fork the child that works; it takes back the signal handlers RQ expects to replace."""
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
        run_worker(
            settings, queues, burst=burst, with_scheduler=with_scheduler, mode="simple", again=False
        )
        code = 0
    except Exception:
        log.exception("worker child failed")
    finally:
        os._exit(code)  # never back into the parent's loop or click command


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
