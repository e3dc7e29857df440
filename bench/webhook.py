"""Benchmark of the WeChat callback endpoint (``make bench``; not part of CI).

It starts a redis-server and two web servers with the settings of ``qianfa serve``
(waitress, ``app.cli.processes.web_server``) on free loopback ports: Qianfa's app, and a
bare Flask app whose one view answers "success". It registers
an active platform with sealed credentials and one bound staff member, then drives each
server with keep-alive HTTP connections (plain sockets, one event loop in each of a few
load processes: ``Connection``), each request a fresh callback as the sandbox WeChat
signs and encrypts it (new MsgId, timestamp and nonce), built before the clock starts
(enough for one and a half times the rate the warm-up round measured; more are built on
the fly should they run out), since WeChat's own machines bear that cost, not the
server's. It prints requests per second and p50/p99 latency per scenario, and the ratio
to the bare endpoint measured in the same run.

Each scenario runs BENCH_ROUNDS times, interleaved with the others so that a noisy
neighbour hurts all alike, and the round with the median rate is shown. Options come from
the environment: BENCH_SECONDS (5), BENCH_ROUNDS (3), BENCH_CONNECTIONS (32),
BENCH_WORKERS (web processes, QIANFA_WEB_WORKERS, default nproc), BENCH_THREADS (threads in
each, QIANFA_WEB_THREADS, default 4).
"""

import itertools
import multiprocessing
import os
import secrets
import selectors
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

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


def wire(path: str, body: bytes) -> bytes:
    """The whole HTTP/1.1 request, as bytes to send on a keep-alive connection."""
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/xml\r\n"
    return f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body


def fresh(mode: str, sender: str, content: str):
    return (wire(path, body) for path, body in requests_for(mode, sender, content))


class Connection:
    """One keep-alive connection of a load process: sends whole requests, reads whole answers.

    ``http.client`` parses each answer's headers with the ``email`` package, and a thread
    per connection adds GIL hand-offs: about 350 µs of CPU a request in all, more than the
    bare server spends, taken from the two CPUs the servers under test run on (WeChat's
    machines bear their own). This reads the status line and Content-Length (waitress
    sends it with every answer here) and nothing else, in one loop per process.
    """

    def __init__(self, port: int, requests):
        self.port, self.requests = port, requests
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer, self.started = b"", 0.0

    def send(self) -> None:
        self.buffer, self.started = b"", time.perf_counter()
        self.sock.sendall(next(self.requests))

    def answered(self) -> int | None:
        """Read what has arrived; the answer's status once all of it is here, else None."""
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed by the server")
        self.buffer += chunk
        head, found, rest = self.buffer.partition(b"\r\n\r\n")
        if not found:
            return None
        lines = head.split(b"\r\n")
        length = next(
            int(line.split(b":", 1)[1])
            for line in lines[1:]
            if line[:15].lower() == b"content-length:"
        )
        return int(lines[0].split(b" ", 2)[1]) if len(rest) >= length else None

    def close(self) -> None:
        self.sock.close()


def drive(port, scenario, prebuilt, deadline) -> tuple[list[float], int]:
    """Keep every connection busy until ``deadline``: the next request as soon as an answer
    is complete (the prebuilt callbacks, then fresh ones should they run out)."""
    _, _, mode, sender, content = scenario
    conns = [
        Connection(port, itertools.chain(mine, fresh(mode, sender, content))) for mine in prebuilt
    ]
    latencies, errors = [], 0
    with selectors.DefaultSelector() as ready:
        for conn in conns:
            ready.register(conn.sock, selectors.EVENT_READ, conn)
            conn.send()
        while conns and time.monotonic() < deadline:
            for key, _ in ready.select(timeout=1.0):
                conn = key.data
                try:
                    status = conn.answered()
                except (OSError, ValueError, StopIteration):
                    status = 0
                if status is None:
                    continue
                latencies.append(time.perf_counter() - conn.started)
                errors += status != 200
                if status == 0:  # refused or cut: start again on a new connection
                    ready.unregister(conn.sock)
                    conn.close()
                    conns.remove(conn)
                    conn = Connection(port, conn.requests)
                    conns.append(conn)
                    ready.register(conn.sock, selectors.EVENT_READ, conn)
                if time.monotonic() < deadline:
                    conn.send()
    for conn in conns:
        conn.close()
    return latencies, errors


def load_process(port, scenario, connections, each, ready, seconds, queue):
    """Build ``each`` callbacks per connection before the clock starts: WeChat signs and
    encrypts them on its own machines, so their cost is no part of what is measured."""
    _, _, mode, sender, content = scenario
    prebuilt = [
        list(itertools.islice(fresh(mode, sender, content), each)) for _ in range(connections)
    ]
    ready.wait()
    queue.put([drive(port, scenario, prebuilt, time.monotonic() + seconds)])


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

    workdir = Path(tempfile.mkdtemp(prefix="qianfa-bench-"))
    redis_proc, redis_url = start_redis(workdir)
    env = {k: v for k, v in os.environ.items() if not k.startswith("QIANFA_")}
    env.update(QIANFA_REDIS_URL=redis_url, QIANFA_INSTANCE_DIR=str(workdir / "instance"))
    env.update(QIANFA_LOG_LEVEL="WARNING", QIANFA_WEB_THREADS=str(THREADS))
    env.update(QIANFA_WEB_WORKERS=str(WORKERS))
    servers = []
    try:
        register(redis_url, adopt(env))
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
