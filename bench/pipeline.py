"""Benchmark of the review-to-publish pipeline (``make bench``; not part of CI).

It starts, each on a free loopback port or in its own process group, a redis-server, the
sandbox WeChat server (``python -m sandbox``, its job delays set to 0), the dispatcher
(``python -m app dispatcher``) and 1, then 2, workers exactly as the Procfile starts them
(``python -m app worker --with-scheduler alerts publishing notifications``: one supervised
child runs the jobs), then the same with ``--mode fork`` (a forked child per job), with the
environment pointing at this Redis and at the sandbox. It registers an active platform
with the sandbox account's AppID and sealed AppSecret, an administrator and a responsible
person (nobody is bound in WeChat, so the notification jobs run but end as
``notify.unreachable`` without a WeChat call).

For each worker count and worker class (``default``, the Procfile's command, and ``fork``)
it measures, in the same run:

- **burst**: BENCH_DRAFTS text drafts driven from this process through ``drafts.create``,
  ``drafts.submit`` and ``review.approve`` (what chat and the API do) as fast as it can.
  Each draft costs five jobs: ``notify_reviewers``, ``notify_author`` (approved),
  ``schedule_publication``, ``publish_draft`` (the mass send) and ``notify_author``
  (published). *published/min* is the count over the time from the first create to the
  last draft seen ``published``; since the publishing queue goes before the notifications
  queue, notifications are still waiting then, so *all done/min* counts until the
  dispatcher has routed everything and every queue is empty: the rate that can be kept
  up. Latency is from the moment ``review.approve`` returned here to the moment the
  sandbox received that draft's ``message/mass/sendall`` (its ``received_at``; same
  machine, same clock). Under a burst this latency is mostly waiting in the queue.
- **paced**: BENCH_PACED_DRAFTS more, approved at BENCH_PACE (0.5) times the burst's
  rate, for the latency of the pipeline when it keeps up.
- **no-op**: as many no-op RQ jobs (``time.monotonic``) as the burst ran, through the
  same worker processes: the ceiling RQ itself sets, for the ratio.

Options: BENCH_DRAFTS (300), BENCH_PACED_DRAFTS (100), BENCH_PACE (0.5),
BENCH_WORKER_COUNTS ("1,2"), BENCH_WORKER_CLASSES ("default,fork"; "simple" too).
Every process started is stopped (its whole process group) on exit, Ctrl-C or failure.
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchkit import (  # noqa: E402
    adopt,
    free_port,
    machine,
    redis_binary,
    register_platform,
    wait_for_port,
)

DRAFTS = int(os.environ.get("BENCH_DRAFTS", "300"))
PACED_DRAFTS = int(os.environ.get("BENCH_PACED_DRAFTS", "100"))
PACE = float(os.environ.get("BENCH_PACE", "0.5"))
WORKER_COUNTS = [int(n) for n in os.environ.get("BENCH_WORKER_COUNTS", "1,2").split(",")]
WORKER_CLASSES = os.environ.get("BENCH_WORKER_CLASSES", "default,fork").split(",")
TARGET_PER_MINUTE = 1000
TARGET_WORKERS = 2

PLATFORM = "bench"
APPID = "wx0123456789abcdef"
SECRET = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
QUEUES = ("alerts", "publishing", "notifications")
NOOP = "time.monotonic"  # a function every worker has imported already
FAST_SANDBOX = {"publish_delay": 0.0, "mass_delay": 0.0, "template_delay": 0.0}
# WeChat allows 100 mass sends a day (45009 after, which pauses the platform's publishing).
QUOTAS = {"message/mass/sendall": 1_000_000}


class Processes:
    """Every process the bench starts, each in its own process group, stopped on exit."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.running: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, args: list[str], env: dict | None = None) -> subprocess.Popen:
        log = open(self.workdir / f"{name}.log", "ab")  # noqa: SIM115 - the child keeps it
        proc = subprocess.Popen(
            args, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        self.running.append((name, proc))
        return proc

    def stop(self, proc: subprocess.Popen, timeout: float = 10.0) -> None:
        """SIGTERM to the process's group (an RQ worker's forked child too), then SIGKILL."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(timeout=timeout)
                break
            except subprocess.TimeoutExpired:
                continue
        self.running = [(n, p) for n, p in self.running if p is not proc]

    def stop_all(self) -> None:
        for _, proc in reversed(list(self.running)):
            self.stop(proc)

    def check(self) -> None:
        for name, proc in self.running:
            if proc.poll() is not None:
                tail = (self.workdir / f"{name}.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{name} exited with {proc.returncode}:\n{tail}")


def start_redis(procs: Processes) -> str:
    port = free_port()
    args = [redis_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    args += ["--appendonly", "no", "--dir", str(procs.workdir)]
    procs.start("redis", args)
    wait_for_port(port)
    return f"redis://127.0.0.1:{port}/0"


def start_sandbox(procs: Processes, env: dict):
    from sandbox.client import SandboxControl

    port = free_port()
    procs.start("sandbox", [sys.executable, "-m", "sandbox", "--port", str(port)], env)
    wait_for_port(port)
    url = f"http://127.0.0.1:{port}"
    control = SandboxControl(url)
    control.configure(**FAST_SANDBOX)
    control.add_account(appid=APPID, secret=SECRET, kind="service", quotas=QUOTAS)
    return url, control


@dataclass
class Office:
    platform: str
    admin: str
    responsible: str


def register(r, settings) -> Office:
    """One active platform on the sandbox account, its AppSecret sealed, and its people."""
    admin, responsible = register_platform(r, settings, PLATFORM, APPID, app_secret=SECRET)
    return Office(PLATFORM, admin, responsible)


def chat_actor(person_id: str):
    from app.core import audit

    return audit.Actor(via="chat", person=person_id, openid=f"openid-{person_id}")


def drive(r, office: Office, count: int, tag: str, per_second: float = 0.0) -> dict[str, float]:
    """Create, submit and approve ``count`` text drafts; {draft id: when approve returned}.

    With ``per_second`` the approvals are spaced evenly at that rate; otherwise at once.
    """
    from app.drafts import lifecycle, review

    admin, responsible = chat_actor(office.admin), chat_actor(office.responsible)
    approved: dict[str, float] = {}
    started = time.time()
    for number in range(count):
        if per_second:
            time.sleep(max(0.0, started + number / per_second - time.time()))
        text = f"计算机学院举办第{number + 1}届程序设计竞赛({tag})"
        draft = lifecycle.create(r, admin, office.platform, "text", {"text": text})
        draft = lifecycle.submit(r, admin, draft.id)
        review.approve(r, responsible, draft.id, draft.content_hash)
        approved[draft.id] = time.time()
    return approved


def wait_published(r, draft_ids, timeout: float, procs: Processes) -> float:
    """Poll the drafts' status until all are published; when the last one was seen so."""
    from app.core import keys
    from app.drafts import lifecycle
    from app.wechat import quota

    waiting = list(draft_ids)
    deadline = time.monotonic() + timeout
    while waiting:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{len(waiting)} drafts not published within {timeout:.0f} s")
        procs.check()
        if quota.is_paused(r, PLATFORM):
            raise RuntimeError("the sandbox answered 45009: publishing is paused")
        with r.pipeline(transaction=False) as pipe:
            for did in waiting:
                pipe.hget(keys.draft(did), "status")
            statuses = [(s or b"").decode() for s in pipe.execute()]
        stuck = [(d, s) for d, s in zip(waiting, statuses, strict=True) if s == lifecycle.FAILED]
        if stuck:
            raise RuntimeError(f"drafts failed to publish: {stuck[:5]}")
        waiting = [d for d, s in zip(waiting, statuses, strict=True) if s != lifecycle.PUBLISHED]
        if waiting:
            time.sleep(0.02)
    return time.time()


def send_times(control) -> dict[str, float]:
    """When the sandbox received each draft's mass send, by draft id (from the clientmsgid
    ``qianfa-<draft>-v<version>-<hash>``)."""
    found = {}
    for send in control.account(APPID)["mass_sends"]:
        draft_id = send["clientmsgid"].split("-")[1]
        found.setdefault(draft_id, send["received_at"])
    return found


def percentiles(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    if not ordered:
        return 0.0, 0.0
    return ordered[len(ordered) // 2], ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def wait_drained(r, timeout: float, procs: Processes) -> float:
    """Wait until the dispatcher has routed every record and no job waits or runs."""
    from app.core import keys
    from app.outbox import dispatch

    deadline = time.monotonic() + timeout
    while not drained(r, keys.audit_stream(), dispatch.GROUP):
        if time.monotonic() > deadline:
            raise RuntimeError(f"jobs still queued after {timeout:.0f} s")
        procs.check()
        time.sleep(0.02)
    return time.time()


def drained(r, stream: str, group: str) -> bool:
    with r.pipeline(transaction=False) as pipe:
        for name in QUEUES:
            pipe.llen(f"rq:queue:{name}")
            pipe.zcard(f"rq:wip:{name}")
        pipe.xinfo_groups(stream)
        *counts, groups = pipe.execute()
    ours = [g for g in groups if g["name"].decode() == group]
    return not any(counts) and bool(ours) and not ours[0]["pending"] and not ours[0]["lag"]


def finished_jobs(r) -> int:
    """Jobs finished so far on every queue (RQ keeps them for their result TTL)."""
    return sum(r.zcard(f"rq:finished:{name}") for name in QUEUES)


def failed_jobs(r) -> set[str]:
    """The ids of the jobs in RQ's failed registries."""
    return {i.decode() for name in QUEUES for i in r.zrange(f"rq:failed:{name}", 0, -1)}


def describe_failed(r, job_ids: set[str]) -> list[str]:
    """Each failed job's function and the last line of its error, for the report."""
    from rq.job import Job

    described = []
    for job in Job.fetch_many(sorted(job_ids), connection=r):
        if job is not None:
            error = (job.exc_info or "").strip().splitlines() or ["?"]
            described.append(f"{job.id} ({job.func_name}): {error[-1][:200]}")
    return described


def run_noops(r, count: int, timeout: float, procs: Processes) -> float:
    """Queue ``count`` no-op jobs at once; seconds until the workers finished them all."""
    from rq import Queue

    queue = Queue("notifications", connection=r)
    before = finished_jobs(r)
    started = time.time()
    for first in range(0, count, 500):
        batch = [Queue.prepare_data(NOOP) for _ in range(min(500, count - first))]
        queue.enqueue_many(batch)
    deadline = time.monotonic() + timeout
    while finished_jobs(r) - before < count:
        if time.monotonic() > deadline:
            raise RuntimeError("no-op jobs not finished in time")
        procs.check()
        time.sleep(0.01)
    return time.time() - started


@dataclass
class Result:
    workers: int
    kind: str
    per_minute: float = 0.0
    per_minute_all: float = 0.0
    jobs: int = 0
    jobs_per_second: float = 0.0
    noop_per_second: float = 0.0
    burst: tuple[float, float] = (0.0, 0.0)
    paced: tuple[float, float] = (0.0, 0.0)
    paced_rate: float = 0.0
    failed: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def start_workers(procs: Processes, r, env: dict, count: int, kind: str) -> list:
    from rq import Worker

    args = [sys.executable, "-m", "app", "worker", "--with-scheduler", *QUEUES]
    if kind != "default":
        args += ["--mode", kind]
    started = [procs.start(f"worker-{kind}-{i}", args, env) for i in range(count)]
    deadline = time.monotonic() + 30
    while Worker.count(connection=r) < count:
        if time.monotonic() > deadline:
            raise RuntimeError("workers did not register")
        procs.check()
        time.sleep(0.05)
    return started


def measure(procs, r, control, office, env, count: int, kind: str) -> Result:
    result = Result(count, kind)
    workers = start_workers(procs, r, env, count, kind)
    try:
        timeout = max(120.0, DRAFTS * 0.5)
        # Warm up: the first token fetch, imports, connections.
        wait_published(r, drive(r, office, 3, f"warm-{kind}-{count}"), timeout, procs)
        wait_drained(r, timeout, procs)
        jobs_before, failed_before = finished_jobs(r), failed_jobs(r)
        started = time.time()
        approved = drive(r, office, DRAFTS, f"burst-{kind}-{count}")
        ended = wait_published(r, approved, timeout, procs)
        drained_at = wait_drained(r, timeout, procs)  # the notifications come last
        result.jobs = finished_jobs(r) - jobs_before
        result.per_minute = DRAFTS / (ended - started) * 60
        result.per_minute_all = DRAFTS / (drained_at - started) * 60
        result.jobs_per_second = result.jobs / (drained_at - started)
        result.burst = latencies(control, approved)
        result.paced_rate = result.per_minute * PACE
        paced = drive(r, office, PACED_DRAFTS, f"paced-{kind}-{count}", result.paced_rate / 60)
        wait_published(r, paced, timeout, procs)
        result.paced = latencies(control, paced)
        wait_drained(r, timeout, procs)
        result.noop_per_second = result.jobs / run_noops(r, result.jobs, timeout, procs)
        result.failed = describe_failed(r, failed_jobs(r) - failed_before)
    finally:
        for proc in workers:
            procs.stop(proc)
    return result


def latencies(control, approved: dict[str, float]) -> tuple[float, float]:
    sent = send_times(control)
    missing = [d for d in approved if d not in sent]
    if missing:
        raise RuntimeError(f"no mass send recorded for {missing[:5]}")
    return percentiles([(sent[d] - at) * 1000 for d, at in approved.items()])


def environment(redis_url: str, workdir: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QIANFA_")}
    env.update(QIANFA_REDIS_URL=redis_url, QIANFA_INSTANCE_DIR=str(workdir / "instance"))
    env.update(QIANFA_LOG_LEVEL="WARNING")
    return env


def main() -> int:
    import redis

    # Ctrl-C (even when started in the background) and SIGTERM run the cleanup below.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    workdir = Path(tempfile.mkdtemp(prefix="qianfa-bench-pipeline-"))
    procs = Processes(workdir)
    try:
        env = environment(start_redis(procs), workdir)
        url, control = start_sandbox(procs, env)
        env["QIANFA_WECHAT_API_BASE"] = url
        settings = adopt(env)
        r = redis.Redis.from_url(env["QIANFA_REDIS_URL"])
        office = register(r, settings)
        procs.start("dispatcher", [sys.executable, "-m", "app", "dispatcher"], env)
        wait_for_group(r, procs)
        print(f"machine: {machine()}")
        print(
            f"pipeline: {DRAFTS} text drafts per burst (create, submit, approve from one "
            f"process), then {PACED_DRAFTS} paced at {PACE:g}x the burst rate; "
            "1 dispatcher, sandbox WeChat with no delays"
        )
        results = [
            measure(procs, r, control, office, env, count, kind)
            for kind in WORKER_CLASSES
            for count in WORKER_COUNTS
        ]
        code = report(results)
        return code or (0 if chain_holds(r) else 1)
    finally:
        procs.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)


def chain_holds(r) -> bool:
    """Whether the audit records of the run, written by this process and the workers, hold
    as one chain: else the workers' ``anchor_audit`` fails, every 5 minutes."""
    from app.core import audit

    result = audit.verify(r)
    if not result.ok:
        print(f"audit chain broken at {result.bad_entry} ({result.checked} held): {result.problem}")
    return result.ok


def wait_for_group(r, procs: Processes) -> None:
    """The dispatcher's consumer group starts at the end of the stream: wait for it."""
    import redis

    from app.core import keys
    from app.outbox import dispatch

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        procs.check()
        try:
            groups = r.xinfo_groups(keys.audit_stream())
        except redis.ResponseError:
            groups = []
        if any(g["name"].decode() == dispatch.GROUP for g in groups):
            return
        time.sleep(0.05)
    raise RuntimeError("the dispatcher did not create its consumer group")


def report(results: list[Result]) -> int:
    """One row per run; the target (all done, every notification sent) is for 2 workers as
    the Procfile starts them."""
    head = f"{'workers':<8}{'class':<8}{'published/min':>14}{'all done/min':>13}{'target':>8}"
    head += f"{'met':>8}{'jobs':>6}{'jobs/s':>8}{'no-op/s':>9}{'vs no-op':>9}"
    print(head + f"{'burst p50/p99 ms':>18}{'paced p50/p99 ms':>27}")
    for m in results:
        ratio = m.jobs_per_second / m.noop_per_second if m.noop_per_second else 0.0
        burst = f"{m.burst[0]:.0f} / {m.burst[1]:.0f}"
        paced = f"{m.paced[0]:.0f} / {m.paced[1]:.0f} @{m.paced_rate:.0f}/min"
        targeted = m.workers == TARGET_WORKERS and m.kind == "default"
        target = f">= {TARGET_PER_MINUTE}" if targeted else ""
        met = ("met" if m.per_minute_all >= TARGET_PER_MINUTE else "NOT met") if targeted else ""
        print(
            f"{m.workers:<8}{m.kind:<8}{m.per_minute:>14.0f}{m.per_minute_all:>13.0f}"
            f"{target:>8}{met:>8}{m.jobs:>6}{m.jobs_per_second:>8.1f}{m.noop_per_second:>9.1f}"
            f"{ratio:>9.0%}{burst:>18}{paced:>27}"
        )
        if m.failed:
            print(f"  ({len(m.failed)} jobs failed during this run)")
            for line in m.failed:
                print(f"    {line}")
    if results:
        print(f"jobs per draft: {results[0].jobs / DRAFTS:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
