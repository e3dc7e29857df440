"""CPU per WeChat callback in process: Qianfa's WSGI app against a bare Flask app.

``bench/webhook.py`` measures through waitress, where the load processes, Redis and the
server share the CPUs; this measures only the app's own work. It starts a redis-server,
registers the platform and bound staff member of ``bench/webhook.py``, builds the app as
``qianfa serve`` does (JSON logs, multiprocess metrics, ``RequestId(AccessLog(create_app()))``)
and calls it with waitress's environ and ``start_response`` for N fresh safe-mode
callbacks (``帮助`` from the bound staff member), signed and encrypted beforehand, then the
bare Flask app of ``bench/webhook.py`` for as many. It prints CPU µs per call
(``time.process_time``) for each, ``BENCH_ROUNDS`` rounds alternating. ``--profile``
runs cProfile (wall time, so Redis round trips show as waits) over Qianfa's calls
instead and prints the top costs.

Options from the environment: BENCH_CALLS (2000), BENCH_ROUNDS (3), QIANFA_LOG_LEVEL
(WARNING, as ``bench/webhook.py``).
"""

import cProfile
import io
import os
import pstats
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchkit import adopt  # noqa: E402
from webhook import STAFF, bare_app, register, requests_for, set_mode, start_redis  # noqa: E402

CALLS = int(os.environ.get("BENCH_CALLS", "2000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
LEVEL = os.environ.get("QIANFA_LOG_LEVEL", "WARNING")


def environ_for(path: str, body: bytes) -> dict:
    """What waitress hands the app for ``POST path`` (``waitress.task.get_environment``)."""
    target, _, query = path.partition("?")
    return {
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_HOST": "127.0.0.1",
        "REMOTE_PORT": "50000",
        "REQUEST_METHOD": "POST",
        "SERVER_PORT": "8000",
        "SERVER_NAME": "localhost",
        "SERVER_SOFTWARE": "qianfa",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "SCRIPT_NAME": "",
        "PATH_INFO": target,
        "REQUEST_URI": path,
        "QUERY_STRING": query,
        "wsgi.url_scheme": "http",
        "wsgi.version": (1, 0),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "wsgi.input": io.BytesIO(body),
        "wsgi.input_terminated": True,
        "CONTENT_TYPE": "text/xml",
        "CONTENT_LENGTH": str(len(body)),
        "HTTP_HOST": "localhost:8000",
        "HTTP_CONNECTION": "keep-alive",
    }


def callbacks(count: int) -> list[dict]:
    made = requests_for("safe", STAFF, "帮助")
    return [environ_for(*next(made)) for _ in range(count)]


def drive(app, environs: list[dict]) -> float:
    """CPU seconds for calling ``app`` on each environ as waitress does (body read, closed)."""
    statuses = []

    def start_response(status, headers, exc_info=None):
        statuses.append(status)

    started = time.process_time()
    for environ in environs:
        result = app(environ, start_response)
        try:
            b"".join(result)
        finally:
            if hasattr(result, "close"):
                result.close()
    spent = time.process_time() - started
    wrong = [s for s in statuses if not s.startswith("200")]
    if wrong:
        raise RuntimeError(f"{len(wrong)} callbacks not answered 200: {wrong[0]}")
    return spent


def qianfa_app(settings):
    """The app ``qianfa serve`` runs, in a process set up as ``qianfa serve`` sets it up."""
    from app.cli.processes import start
    from app.core import logs
    from app.core.accesslog import AccessLog
    from app.web import create_app

    start(settings, "web")
    return logs.RequestId(AccessLog(create_app(settings)))


def main() -> int:

    workdir = Path(tempfile.mkdtemp(prefix="qianfa-bench-cpu-"))
    redis_proc, redis_url = start_redis(workdir)
    env = {k: v for k, v in os.environ.items() if not k.startswith("QIANFA_")}
    env.update(QIANFA_REDIS_URL=redis_url, QIANFA_INSTANCE_DIR=str(workdir / "instance"))
    env.update(QIANFA_LOG_LEVEL=LEVEL)
    try:
        settings = adopt(env)
        register(redis_url, settings)
        set_mode(redis_url, "safe")
        apps = {"qianfa": qianfa_app(settings), "bare": bare_app()}
        for app in apps.values():
            drive(app, callbacks(50))  # warm up: imports, the reveal, pools
        if "--profile" in sys.argv:
            return profile(apps["qianfa"], callbacks(CALLS))
        print(f"{CALLS} safe-mode callbacks from the bound staff member, log level {LEVEL}")
        for number in range(ROUNDS):
            spent = {name: drive(app, callbacks(CALLS)) for name, app in apps.items()}
            line = "  ".join(f"{name} {s / CALLS * 1e6:7.0f} µs" for name, s in spent.items())
            print(f"round {number + 1}: CPU per call  {line}")
        return 0
    finally:
        redis_proc.terminate()
        redis_proc.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


def profile(app, environs: list[dict]) -> int:
    profiler = cProfile.Profile()
    profiler.enable()
    drive(app, environs)
    profiler.disable()
    stats = pstats.Stats(profiler).strip_dirs()
    stats.sort_stats("tottime").print_stats(30)
    stats.sort_stats("cumulative").print_stats(45)
    return 0


if __name__ == "__main__":
    sys.exit(main())
