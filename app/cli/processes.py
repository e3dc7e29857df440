"""Commands that start Qianfa's processes: ``serve``, ``worker`` and ``run`` (all of them)."""

import contextlib
import gc
import logging
import os
import signal
import socket
import sys

import click
import waitress

from app.cli.balance import Balance
from app.cli.base import CliError
from app.core import logs, metrics
from app.core.accesslog import AccessLog
from app.core.settings import Settings, get_settings
from app.drafts import uploads
from app.outbox.queues import WORKER_MODES
from app.web import api, create_app

# Connections one web process keeps open at once (each costs a file descriptor, not a
# thread); poll(), unlike select(), has no limit of 1024 descriptors.
CONNECTION_LIMIT = 1000
# A connection that sends nothing for this long is closed, mid-request or idle.
CHANNEL_TIMEOUT = 30
MAX_HEADER_BYTES = 64 * 1024
# Waitress warns "Task queue depth is N" for every request that waits for a thread.
QUEUE_WARNING_EVERY = 60

log = logging.getLogger(__name__)


def start(settings: Settings, process: str) -> None:
    """What every process Qianfa starts does first: JSON logs, and where its metrics go."""
    logs.configure(settings.log_level, process)
    metrics.use_directory(settings.instance_dir / "metrics")


def web_server(settings: Settings, app=None, sockets=None):
    """Waitress serving ``app`` (default ``create_app()`` behind the redacting access log).

    Waitress reads each request, headers and body, on its asynchronous channel layer and
    hands it to a thread only when it is complete, so a slow client (slowloris: headers a
    byte at a time, or a body that never ends) costs a socket and a buffer, never one of
    the ``QIANFA_WEB_THREADS`` threads that answer the webhook, API, console and
    ``/healthz``. Gunicorn's sync and gthread workers parse in the thread that serves, so
    two slow clients took all of them; gevent would need monkey-patching of the whole
    process. The largest body the app accepts (an image upload, or a callback up to
    ``QIANFA_WEBHOOK_MAX_BODY``) bounds what waitress buffers; the app's own, smaller
    limits still apply per endpoint. ``sockets``: already listening, as ``serve`` shares.
    """
    max_body = max(settings.webhook_max_body, uploads.MAX_BYTES + api.MULTIPART_OVERHEAD)
    where = {"sockets": sockets} if sockets else {"host": settings.host, "port": settings.port}
    server = waitress.create_server(
        app or logs.RequestId(AccessLog(create_app(settings))),
        **where,
        threads=settings.web_threads,
        connection_limit=CONNECTION_LIMIT,
        channel_timeout=CHANNEL_TIMEOUT,
        cleanup_interval=min(10, CHANNEL_TIMEOUT),
        asyncore_use_poll=True,
        max_request_header_size=MAX_HEADER_BYTES,
        max_request_body_size=max_body,
        ident="qianfa",
        # Nothing trusts them for an address; /healthz reads them to tell a proxied caller.
        clear_untrusted_proxy_headers=False,
    )
    queue = server.task_dispatcher
    queue.queue_logger = logs.Throttled(queue.queue_logger, QUEUE_WARNING_EVERY)
    return server


def _exit_on_sigterm() -> None:
    """Waitress stops (closing its sockets, letting running requests finish) on SystemExit."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))


def listen(settings: Settings) -> socket.socket:
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    try:
        return socket.create_server((settings.host, settings.port), family=family, backlog=1024)
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise CliError(f"无法监听 {settings.host}:{settings.port}:{reason}") from exc


def fork_server(
    settings: Settings, sock: socket.socket, make_app=None, balance: Balance | None = None, index=0
) -> int:
    """A child process serving on the shared socket: one GIL per process, so all CPUs work."""
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            server = web_server(settings, make_app() if make_app else None, sockets=[sock])
            if balance:
                balance.watch(server, index)
            # The app, its modules and tables live as long as the process: a full collection
            # walking them (about 35 ms) stalled every request in flight, the webhook's p99.
            gc.freeze()
            server.run()
        except (SystemExit, KeyboardInterrupt):
            pass  # stopped while starting
        except Exception:
            log.exception("web process failed")
            code = 1
        finally:
            os._exit(code)  # never back into the parent's click command
    return pid


def supervise(children: list[int]) -> bool:
    """Wait until stopped (True) or until a child exits on its own (False); stop them all."""
    stopped = False
    try:
        os.wait()
    except (SystemExit, KeyboardInterrupt):
        stopped = True
    finally:
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        for pid in children:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
    return stopped


def run_web(settings: Settings, make_app=None) -> None:
    """``QIANFA_WEB_WORKERS`` waitress processes on one listening socket, stopped together."""
    _exit_on_sigterm()
    sock = listen(settings)
    balance = Balance(settings.web_workers)
    children = [
        fork_server(settings, sock, make_app, balance, index)
        for index in range(settings.web_workers)
    ]
    log.info("web listening on http://%s:%s", settings.host, settings.port)
    if not supervise(children):
        raise CliError("Web 子进程意外退出,已停止全部 Web 子进程")


@click.command("serve")
def serve():
    """启动 Web 进程(waitress)。"""
    settings = get_settings()
    start(settings, "web")
    run_web(settings)


@click.command("worker")
@click.argument("queues", nargs=-1)
@click.option("--burst", is_flag=True, help="队列为空时退出。")
@click.option("--with-scheduler/--without-scheduler", default=True, help="同时运行 RQ 调度器。")
@click.option(
    "--mode",
    type=click.Choice(WORKER_MODES),
    default=WORKER_MODES[0],
    show_default=True,
    help="supervised:一个子进程依次执行任务,退出时由父进程重新启动;"
    "fork:每个任务 fork 一个子进程(RQ 的 Worker);simple:在本进程内执行,无人重启。",
)
def worker(queues, burst, with_scheduler, mode):
    """启动 RQ 工作进程(默认队列:alerts publishing notifications)。"""
    from workers.worker import run_worker

    settings = get_settings()
    start(settings, "worker")
    run_worker(settings, tuple(queues), burst=burst, with_scheduler=with_scheduler, mode=mode)


@click.command("dispatcher")
def dispatcher():
    """启动分发进程:把审计记录和告警转为工作队列中的任务,并按时排入定期任务。"""
    from app.core.redis import get_redis
    from app.outbox import dispatch

    settings = get_settings()
    start(settings, "dispatcher")
    dispatch.run(get_redis(settings), settings)


@click.command("run")
def run():
    """启动全部进程(Web、工作、分发;未设置 QIANFA_REDIS_URL 时含内置 Redis),Ctrl-C 全部停止。"""
    from app.cli.runner import run_all

    settings = get_settings()
    start(settings, "run")
    code = run_all(settings, echo=click.echo)
    if code:
        raise CliError("有进程异常退出")
    sys.exit(0)


def register(cli: click.Group) -> None:
    for command in (serve, worker, dispatcher, run):
        cli.add_command(command)
