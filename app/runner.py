"""``qianfa run``: every process of a local Qianfa, started together and stopped together.

Without ``QIANFA_REDIS_URL`` this process starts the embedded Redis and hands its socket
to the children, so the web process and the worker share it; when the children are gone
it shuts Redis down, which saves the data under the instance directory. Without
``QIANFA_WECHAT_API_BASE`` (no real account configured) it also starts the sandbox
WeChat server with its demo account and points Qianfa at it.
"""

import os
import signal
import subprocess
import sys
import time

from app.redis import embedded_url
from app.settings import Settings

PROCESSES = {
    "web": ["serve"],
    "worker": ["worker"],
    "dispatcher": ["dispatcher"],
}
STOP_GRACE = 10
RESEND_AFTER = 3


def run_all(settings: Settings, echo=print) -> int:
    stopping = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.append(True))
    env, processes = dict(os.environ), dict(PROCESSES)
    if not settings.redis_url:
        env["QIANFA_REDIS_URL"] = embedded_url(settings.instance_dir)
        echo(f"内置 Redis 已启动,数据目录 {settings.instance_dir}")
    if not settings.wechat_configured:
        processes = {"sandbox": sandbox_command(settings), **processes}
        env["QIANFA_WECHAT_API_BASE"] = f"http://127.0.0.1:{settings.sandbox_port}"
    children: dict[str, subprocess.Popen] = {}
    try:
        for name, args in processes.items():
            children[name] = _spawn(args, env)
        echo(f"Qianfa 已启动:http://{settings.host}:{settings.port}/healthz  (Ctrl-C 停止)")
        exited = _wait_for_first_exit(children, stopping)
    finally:
        _stop(children)
    if exited:
        echo(f"进程 {exited} 意外退出,已停止全部进程")
        return 1
    echo("Qianfa 已停止")
    return 0


def sandbox_command(settings: Settings) -> list[str]:
    webhook = f"http://{settings.host}:{settings.port}/wechat/demo"
    port = str(settings.sandbox_port)
    return ["sandbox", "--demo", "--port", port, "--server-url", webhook]


def _spawn(args: list[str], env: dict) -> subprocess.Popen:
    # A session of its own: Ctrl-C reaches only this supervisor, which stops the children in order.
    return subprocess.Popen([sys.executable, "-m", "app", *args], env=env, start_new_session=True)


def _wait_for_first_exit(children: dict[str, subprocess.Popen], stopping: list) -> str:
    while not stopping:
        for name, proc in children.items():
            if proc.poll() is not None:
                return name
        time.sleep(0.2)
    return ""


def _stop(children: dict[str, subprocess.Popen]) -> None:
    """SIGTERM, once more after a moment, then SIGKILL after the grace period."""
    _signal_running(children, signal.SIGTERM)
    # An RQ worker can swallow a SIGTERM that lands while it logs its start-up maintenance.
    if not _wait_all(children, RESEND_AFTER):
        _signal_running(children, signal.SIGTERM)
    if not _wait_all(children, STOP_GRACE):
        _signal_running(children, signal.SIGKILL)
        _wait_all(children, STOP_GRACE)


def _signal_running(children: dict[str, subprocess.Popen], signum: int) -> None:
    for proc in children.values():
        if proc.poll() is None:
            proc.send_signal(signum)


def _wait_all(children: dict[str, subprocess.Popen], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    for proc in children.values():
        try:
            proc.wait(timeout=max(0.01, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            return False
    return True
