"""The worker entry point: the forking worker by default, ``--simple`` runs jobs in-process."""

import os

from click.testing import CliRunner
from rq import Queue
from rq.job import Job

from app.cli import cli
from app.core.settings import get_settings
from workers.worker import run_worker


def queued_getpid(r) -> Job:
    """A job whose result is the id of the process that ran it."""
    return Queue("notifications", connection=r).enqueue("os.getpid")


def test_default_worker_runs_each_job_in_a_forked_child(r):
    job = queued_getpid(r)
    run_worker(get_settings(), ("notifications",), burst=True, with_scheduler=False)
    job.refresh()
    assert job.get_status() == "finished"
    assert job.return_value() != os.getpid()


def test_simple_worker_runs_jobs_in_its_own_process(r):
    job = queued_getpid(r)
    run_worker(get_settings(), ("notifications",), burst=True, with_scheduler=False, simple=True)
    job.refresh()
    assert job.get_status() == "finished"
    assert job.return_value() == os.getpid()


def test_worker_command_takes_simple(r):
    job = queued_getpid(r)
    args = ["worker", "--simple", "--burst", "--without-scheduler", "notifications"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    job.refresh()
    assert job.return_value() == os.getpid()
