"""Benchmark of the WeChat callback endpoint (``make bench``; not part of CI).

It starts a redis-server and two web servers with the settings of ``qianfa serve``
(waitress, ``app.cli.processes.web_server``) on free loopback ports: Qianfa's app, and a
bare Flask app whose one view answers "success". It registers
an active platform with sealed credentials and one bound staff member, then drives each
server with keep-alive HTTP connections (``http.client``, one per thread, spread over a
few processes), each request a fresh callback as the sandbox WeChat signs and encrypts
it (new MsgId, timestamp and nonce), built before the clock starts (enough for one and a
half times the rate the warm-up round measured; more are built on the fly should they run
out), since WeChat's own machines bear that cost, not the server's. It prints requests
per second and p50/p99 latency per scenario, and the ratio to the bare endpoint measured
in the same run.

Each scenario runs BENCH_ROUNDS times, interleaved with the others so that a noisy
neighbour hurts all alike, and the round with the median rate is shown. Options come from
the environment: BENCH_SECONDS (5), BENCH_ROUNDS (3), BENCH_CONNECTIONS (32),
BENCH_WORKERS (web processes, QIANFA_WEB_WORKERS, default nproc), BENCH_THREADS (threads in
each, QIANFA_WEB_THREADS, default 4).
"""

import http.client
import itertools
import multiprocessing
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchkit import free_port, machine, redis_binary, register_platform, wait_for_port  # noqa: E402

SECONDS = float(os.environ.get("BENCH_SECONDS", "5"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "32"))
WORKERS = int(os.environ.get("BENCH_WORKERS", str(os.cpu_count() or 2)))
THREADS = int(os.environ.get("BENCH_THREADS", "4"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
LOADERS = max(1, min(4, os.cpu_count() or 2))

PLATFORM = "bench"
APPID = "wx0123456789abcdef"
TOKEN = "benchtoken"
AES_KEY = "BenchmarkEncodingAesKey0123456789abcdefghij"
ORIGINAL_ID = "gh_0123456789ab"
STAFF = "oBenchStaff0000000000000001"
FOLLOWER = "oBenchFollower00000000000001"

SCENARIOS = [
    ("bare Flask, answers success", "bare", "safe", STAFF, "帮助"),
    ("plaintext, unbound follower", "qianfa", "plaintext", FOLLOWER, "你好"),
    ("plaintext, bound staff (help)", "qianfa", "plaintext", STAFF, "帮助"),
    ("safe mode, unbound follower", "qianfa", "safe", FOLLOWER, "你好"),
    ("safe mode, bound staff (help)", "qianfa", "safe", STAFF, "帮助"),
]
TARGET_RATIO, TARGET_P99_MS = 0.40, 50.0


def bare_app():
    """The baseline: Flask with one view that answers "success", nothing else."""
    from flask import Flask

    app = Flask("bare")

    @app.post("/wechat/<platform_id>")
    def receive(platform_id):
        return "success"

    return app


def start_redis(workdir: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    args = [redis_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    args += ["--appendonly", "no", "--dir", str(workdir)]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL)
    wait_for_port(port)
    return proc, f"redis://127.0.0.1:{port}/0"


# The bare app on the web server ``qianfa serve`` builds, with the same settings.
SERVE_BARE = (
    "from app.cli.processes import run_web; from app.core.settings import get_settings; "
    "from webhook import bare_app; run_web(get_settings(), bare_app)"
)


def start_server(bare: bool, env: dict) -> tuple[subprocess.Popen, int]:
    """``qianfa serve`` for Qianfa; the same server around the bare app."""
    port = free_port()
    command = ["-c", SERVE_BARE] if bare else ["-m", "app", "serve"]
    env = {**env, "QIANFA_PORT": str(port), "PYTHONPATH": f"{ROOT}:{ROOT}/bench"}
    proc = subprocess.Popen(
        [sys.executable, *command],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for_port(port)
    return proc, port


def register(redis_url: str, settings) -> None:
    """One active platform with sealed credentials and one bound administrator."""
    import redis

    from app.core import keys

    r = redis.Redis.from_url(redis_url)
    admin, _ = register_platform(
        r, settings, PLATFORM, APPID, token=TOKEN, encoding_aes_key=AES_KEY
    )
    r.set(keys.binding(PLATFORM, STAFF), admin)
    r.close()


def set_mode(redis_url: str, mode: str) -> None:
    """Callbacks in another mode than the platform's are refused: match the scenario's."""
    import redis

    from app.core import keys

    r = redis.Redis.from_url(redis_url)
    r.hset(keys.webhook_config(PLATFORM), "mode", mode)
    r.close()


def requests_for(mode: str, sender: str, content: str):
    """Yield (path, body) for fresh callbacks, signed and encrypted as WeChat does."""
    from sandbox.callbacks import Target, build_request

    target = Target(APPID, ORIGINAL_ID, TOKEN, AES_KEY, "", mode)
    base = (os.getpid() << 24) + secrets.randbelow(1 << 20)
    for number in itertools.count():
        now = int(time.time())
        fields = {
            "ToUserName": ORIGINAL_ID,
            "FromUserName": sender,
            "CreateTime": now,
            "MsgType": "text",
            "Content": content,
            "MsgId": base + number,
        }
        nonce = str(secrets.randbelow(9 * 10**9) + 10**9)
        params, body = build_request(target, fields, str(now), nonce)
        yield f"/wechat/{PLATFORM}?{urlencode(params)}", body.encode()


def load_thread(port, scenario, prebuilt, deadline, results):
    """Send the prebuilt callbacks (then fresh ones, should they run out) until ``deadline``."""
    _, _, mode, sender, content = scenario
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    latencies, errors = [], 0
    headers = {"Content-Type": "text/xml"}
    for path, body in itertools.chain(prebuilt, requests_for(mode, sender, content)):
        if time.monotonic() >= deadline:
            break
        started = time.perf_counter()
        try:
            conn.request("POST", path, body, headers)
            response = conn.getresponse()
            response.read()
            ok = response.status == 200
        except (OSError, http.client.HTTPException):
            ok = False
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        latencies.append(time.perf_counter() - started)
        errors += not ok
    conn.close()
    results.append((latencies, errors))


def load_process(port, scenario, threads, each, ready, seconds, queue):
    """Build ``each`` callbacks per connection before the clock starts: WeChat signs and
    encrypts them on its own machines, so their cost is no part of what is measured, and
    load threads busy encrypting would hold the GIL while their neighbours' answers wait."""
    import threading

    _, _, mode, sender, content = scenario
    prebuilt = [
        list(itertools.islice(requests_for(mode, sender, content), each)) for _ in range(threads)
    ]
    ready.wait()
    deadline = time.monotonic() + seconds
    results: list = []
    workers = [
        threading.Thread(target=load_thread, args=(port, scenario, mine, deadline, results))
        for mine in prebuilt
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    queue.put(results)


def measure(port: int, scenario, seconds: float, expected_rps: float = 0.0) -> dict:
    """Drive one server with CONNECTIONS keep-alive connections for ``seconds``; each
    connection's callbacks are built beforehand, enough for ``expected_rps`` and a half."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    per = [CONNECTIONS // LOADERS + (i < CONNECTIONS % LOADERS) for i in range(LOADERS)]
    each = int(expected_rps * 1.5 * seconds / CONNECTIONS) + 1
    ready = ctx.Barrier(len([n for n in per if n]))
    procs = [
        ctx.Process(target=load_process, args=(port, scenario, n, each, ready, seconds, queue))
        for n in per
        if n
    ]
    for proc in procs:
        proc.start()
    gathered = [queue.get() for _ in procs]
    for proc in procs:
        proc.join()
    latencies = sorted(x for batch in gathered for lat, _ in batch for x in lat)
    errors = sum(err for batch in gathered for _, err in batch)
    count = len(latencies)
    return {
        "rps": count / seconds,
        "p50": latencies[count // 2] * 1000 if count else 0.0,
        "p99": latencies[min(count - 1, int(count * 0.99))] * 1000 if count else 0.0,
        "errors": errors,
        "count": count,
    }


def median(measured: list[dict]) -> dict:
    return sorted(measured, key=lambda m: m["rps"])[len(measured) // 2]


def main() -> int:
    from app.core.settings import load_settings

    workdir = Path(tempfile.mkdtemp(prefix="qianfa-bench-"))
    redis_proc, redis_url = start_redis(workdir)
    env = {k: v for k, v in os.environ.items() if not k.startswith("QIANFA_")}
    env.update(QIANFA_REDIS_URL=redis_url, QIANFA_INSTANCE_DIR=str(workdir / "instance"))
    env.update(QIANFA_LOG_LEVEL="WARNING", QIANFA_WEB_THREADS=str(THREADS))
    env.update(QIANFA_WEB_WORKERS=str(WORKERS))
    servers = []
    try:
        register(redis_url, load_settings(env))
        servers.append(start_server(False, env))
        servers.append(start_server(True, env))
        ports = {"qianfa": servers[0][1], "bare": servers[1][1]}
        print(f"machine: {machine()}")
        print(
            f"waitress (qianfa serve): {WORKERS} processes x {THREADS} threads, keep-alive; "
            f"{CONNECTIONS} connections from {LOADERS} load processes; "
            f"median of {ROUNDS} rounds of {SECONDS:g} s"
        )
        expected = {}
        for scenario in SCENARIOS:  # warm up (imports, reveals, pools) and size the loads
            set_mode(redis_url, scenario[2])
            expected[scenario[0]] = measure(ports[scenario[1]], scenario, 1.0)["rps"]
        rounds = {name: [] for name, *_ in SCENARIOS}
        for _ in range(ROUNDS):
            for scenario in SCENARIOS:
                set_mode(redis_url, scenario[2])
                port, rate = ports[scenario[1]], expected[scenario[0]]
                rounds[scenario[0]].append(measure(port, scenario, SECONDS, rate))
        rows = [(name, median(found)) for name, found in rounds.items()]
        return report(rows)
    finally:
        for proc, _ in servers:
            proc.terminate()
            proc.wait(timeout=10)
        redis_proc.terminate()
        redis_proc.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


def report(rows) -> int:
    """One row per scenario; the target is the safe-mode bound sender's (the last row)."""
    bare = rows[0][1]["rps"] or 1.0
    head = f"{'scenario':<32}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'vs bare':>9}{'errors':>8}"
    print(f"{head}  {'target':<24}met")
    for number, (name, m) in enumerate(rows):
        ratio = m["rps"] / bare
        target, met = "", ""
        if number == len(rows) - 1:
            target = f">= {TARGET_RATIO:.0%}, p99 < {TARGET_P99_MS:g} ms"
            met = "met" if ratio >= TARGET_RATIO and m["p99"] < TARGET_P99_MS else "NOT met"
        line = f"{name:<32}{m['rps']:>9.0f}{m['p50']:>9.1f}{m['p99']:>9.1f}"
        print(f"{line}{ratio:>8.0%}{m['errors']:>9}  {target:<24}{met}".rstrip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
