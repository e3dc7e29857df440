"""The worker entry point: by default (``--mode supervised``) the jobs run one after another
in one child started again when it dies; ``--mode fork`` forks a child per job;
``--mode simple`` runs jobs in-process."""

import os
import signal
import subprocess
import sys

from click.testing import CliRunner
from rq import Queue, get_current_job
from rq.job import Job

from app.cli import cli
from app.core.settings import get_settings
from workers.worker import run_worker


def queued(r, function: str = "os.getpid") -> Job:
    """A job on the notifications queue; ``os.getpid`` returns the process that ran it."""
    return Queue("notifications", connection=r).enqueue(function)


def die_by_sigkill() -> None:
    """A job that kills the process running it, as a segfault or the OOM killer would."""
    job = get_current_job()
    job.meta["pid"] = os.getpid()
    job.save_meta()
    os.kill(os.getpid(), signal.SIGKILL)


def test_default_worker_runs_jobs_one_after_another_in_one_child(r):
    """No fork per job (what makes the forking worker slow), yet not in the worker itself."""
    first, second = queued(r), queued(r)
    run_worker(get_settings(), ("notifications",), burst=True, with_scheduler=False)
    pids = {job.return_value() for job in (first, second)}
    assert len(pids) == 1 and os.getpid() not in pids


def test_supervised_worker_starts_another_child_when_a_job_kills_its_own(r):
    """A job that kills its process takes only the child: the supervising worker starts
    another, which runs the next job, and the worker itself carries on (exits 0 in burst)."""
    dying, after = queued(r, "tests.test_worker.die_by_sigkill"), queued(r)
    args = [sys.executable, "-m", "app", "worker", "--burst", "--without-scheduler"]
    worker = subprocess.run([*args, "notifications"], timeout=60, capture_output=True)
    assert worker.returncode == 0, worker.stderr.decode()[-2000:]
    dying.refresh()
    assert after.get_status(refresh=True) == "finished"
    assert after.return_value() not in (None, dying.meta["pid"])


def test_forking_worker_runs_each_job_in_a_forked_child(r):
    first, second = queued(r), queued(r)
    run_worker(get_settings(), ("notifications",), burst=True, with_scheduler=False, mode="fork")
    pids = [job.return_value() for job in (first, second)]
    assert len(set(pids)) == 2 and os.getpid() not in pids


def test_simple_worker_runs_jobs_in_its_own_process(r):
    job = queued(r)
    run_worker(get_settings(), ("notifications",), burst=True, with_scheduler=False, mode="simple")
    job.refresh()
    assert job.get_status() == "finished"
    assert job.return_value() == os.getpid()


def test_worker_command_takes_a_mode(r):
    job = queued(r)
    args = ["worker", "--mode", "simple", "--burst", "--without-scheduler", "notifications"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    job.refresh()
    assert job.return_value() == os.getpid()


def test_worker_command_refuses_an_unknown_mode(r):
    result = CliRunner().invoke(cli, ["worker", "--mode", "threads", "--burst", "notifications"])
    assert result.exit_code == 2
    assert "--mode 的值无效:'threads'" in result.output


def refuse() -> None:
    raise ValueError("a job that fails")


def test_the_default_worker_counts_each_jobs_outcome(r):
    """``qianfa_jobs_total`` by final status, counted in the supervised child and kept after
    it ends (the status is the one the child set, not read back from Redis)."""
    from prometheus_client import CollectorRegistry, multiprocess

    queued(r), queued(r, "tests.test_worker.refuse")
    args = [sys.executable, "-m", "app", "worker", "--burst", "--without-scheduler"]
    worker = subprocess.run([*args, "notifications"], timeout=60, capture_output=True)
    assert worker.returncode == 0, worker.stderr.decode()[-2000:]

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, str(get_settings().instance_dir / "metrics"))
    counted = {
        (sample.labels["function"], sample.labels["status"]): sample.value
        for family in registry.collect()
        for sample in family.samples
        if sample.name == "qianfa_jobs_total"
    }
    assert counted == {("getpid", "finished"): 1, ("refuse", "failed"): 1}
