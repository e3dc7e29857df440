"""A real redis-server with AOF, killed (SIGKILL) and restarted in the middle of traffic:
every acknowledged draft, approval, audit record and queued job survives, and the worker,
the web and the domain code reconnect by themselves."""

import os
import subprocess
import sys
import threading
from dataclasses import dataclass, field

import pytest
import redis
from rq.job import Job, JobStatus

from app.core import audit
from app.core.errors import QianfaError
from app.core.redis import get_redis
from app.core.settings import load_settings
from app.drafts import lifecycle, review
from app.outbox import queues as jobs
from app.web import create_app
from tests.conftest import free_port, redis_server_binary, wait_until
from tests.factories import actor, text_draft, world

pytestmark = pytest.mark.slow


class RedisServer:
    """One redis-server of the test's own, with AOF, restartable on the same port and data."""

    def __init__(self, workdir, fsync: str):
        self.port, self.workdir, self.fsync = free_port(), workdir, fsync
        self.proc = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        args = [redis_server_binary(), "--port", str(self.port), "--bind", "127.0.0.1"]
        args += ["--dir", str(self.workdir), "--save", "", "--appendonly", "yes"]
        args += ["--appendfsync", self.fsync]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL)
        probe = redis.Redis.from_url(self.url)

        def answers():
            try:
                return probe.ping()
            except redis.RedisError:  # refused, or LOADING while the AOF replays
                return False

        wait_until(answers, message="redis-server to answer PING")
        probe.close()

    def kill(self) -> None:
        self.proc.kill()  # SIGKILL: no shutdown, no final save
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


@dataclass
class Traffic:
    """What the domain acknowledged (returned without error) while Redis came and went."""

    created: list[str] = field(default_factory=list)
    submitted: list[str] = field(default_factory=list)
    approved: list[str] = field(default_factory=list)
    jobs: list[str] = field(default_factory=list)
    errors: int = 0

    def attempt(self, into: list, call, *args) -> None:
        try:
            into.append(call(*args))
        except (redis.RedisError, QianfaError):
            self.errors += 1  # not acknowledged: it may or may not have happened


def run_traffic(r, w, traffic: Traffic, stop: threading.Event) -> None:
    number = 0
    while not stop.is_set():
        number += 1
        before = len(traffic.created)
        traffic.attempt(traffic.created, _create, r, w, number)
        if len(traffic.created) == before:
            continue
        did = traffic.created[-1]
        traffic.attempt(traffic.submitted, _submit, r, w, did)
        traffic.attempt(traffic.approved, _approve, r, w, did)
        traffic.attempt(traffic.jobs, _enqueue, r, did)


def _create(r, w, number: int) -> str:
    return text_draft(r, w, text=f"通知第 {number} 号").id


def _submit(r, w, did: str) -> str:
    return lifecycle.submit(r, actor(w.admin), did).id


def _enqueue(r, did: str) -> str:
    return jobs.enqueue(r, jobs.NOTIFICATIONS, "trim_audit", tag=did).id


def _approve(r, w, did: str) -> str:
    draft = lifecycle.get(r, did)
    review.approve(r, actor(w.responsible), did, draft.content_hash)
    return did


@pytest.mark.parametrize("fsync", ["always", "everysec"])
def test_acknowledged_writes_survive_a_redis_kill_and_everything_reconnects(tmp_path, fsync):
    server = RedisServer(tmp_path, fsync)
    server.start()
    # No WeChat here: approved drafts go on to publishing, which fails at once on a closed port.
    closed = f"http://127.0.0.1:{free_port()}"
    env = {**os.environ, "QIANFA_REDIS_URL": server.url, "QIANFA_WECHAT_API_BASE": closed}
    settings = load_settings(env)
    r = get_redis(settings)  # the production client, with its retry policy
    web = create_app(settings).test_client()
    worker = subprocess.Popen([sys.executable, "-m", "app", "worker"], env=env)
    dispatcher = subprocess.Popen([sys.executable, "-m", "app", "dispatcher"], env=env)
    traffic, stop = Traffic(), threading.Event()
    thread = threading.Thread(target=run_traffic, args=(r, world(r), traffic, stop))
    try:
        wait_until(lambda: web.get("/healthz").get_json()["status"] == "ok", timeout=20)
        thread.start()
        wait_until(lambda: len(traffic.approved) >= 10, timeout=30, message="traffic")

        server.kill()
        server.start()
        after_restart = len(traffic.approved)
        wait_until(lambda: len(traffic.approved) >= after_restart + 10, timeout=30)
        stop.set()
        thread.join(timeout=30)
        assert web.get("/healthz").status_code == 200
        check_survivors(r, traffic)
        wait_until(lambda: all_finished(r, traffic.jobs), timeout=60, message="every job run")
        # Every submit was routed by the dispatcher and its job run by the worker: the
        # reviewer, bound nowhere, is recorded unreachable for each draft.
        wait_until(lambda: set(traffic.submitted) <= told(r), timeout=60, message="notices")
        assert worker.poll() is None and dispatcher.poll() is None  # both carried on
    finally:
        stop.set()
        for proc in (worker, dispatcher):
            proc.terminate()
            proc.wait(timeout=20)
        server.stop()


# An approved draft is handed to publishing at once, so it may have moved on.
AFTER_APPROVAL = (lifecycle.PUBLISHING, lifecycle.PUBLISHED, lifecycle.FAILED)


def told(r) -> set[str]:
    return {rec["draft"] for rec in audit.records(r, action="notify.unreachable")}


def check_survivors(r, traffic: Traffic) -> None:
    assert traffic.approved and traffic.jobs
    for did in traffic.created:
        lifecycle.get(r, did)  # NotFound would fail the test
    reviewed_or_later = (lifecycle.IN_REVIEW, lifecycle.APPROVED, *AFTER_APPROVAL)
    for did in traffic.submitted:
        assert lifecycle.get(r, did).status in reviewed_or_later
    for did in traffic.approved:
        state = review.state(r, did)
        assert state.draft.status in (lifecycle.APPROVED, *AFTER_APPROVAL) and state.complete
    assert audit.verify(r).ok
    submits = {rec["draft"] for rec in audit.records(r, action="draft.submit")}
    approvals = {rec["draft"] for rec in audit.records(r, action="draft.approve")}
    assert set(traffic.submitted) <= submits
    assert set(traffic.approved) <= approvals
    for job_id in traffic.jobs:
        Job.fetch(job_id, connection=r)  # NoSuchJobError would fail the test


def all_finished(r, job_ids: list[str]) -> bool:
    return all(
        Job.fetch(job_id, connection=r).get_status() == JobStatus.FINISHED for job_id in job_ids
    )
