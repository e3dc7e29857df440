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
import urllib.error
import urllib.request
from pathlib import Path

import redis

from app.core.errors import QianfaError
from app.core.redis import connect, embedded_url, uses_embedded
from app.core.settings import Settings

PROCESSES = {
    "web": ["serve"],
    "worker": ["worker"],
    "dispatcher": ["dispatcher"],
    "pictures": ["worker", "--mode", "simple", "pictures"],
}
# The sandbox is not part of Qianfa's package: it runs from the source tree beside ``app/``.
SOURCE_TREE = Path(__file__).resolve().parents[2]
STOP_GRACE = 10
RESEND_AFTER = 3


def run_all(settings: Settings, echo=print) -> int:
    stopping = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.append(True))
    env, processes = dict(os.environ), dict(PROCESSES)
    if uses_embedded(settings):
        env["QIANFA_REDIS_URL"] = embedded_url(settings.instance_dir)
        echo(f"内置 Redis 已启动,数据目录 {settings.instance_dir}")
    demo = []
    if not settings.wechat_configured:
        processes = {"sandbox": sandbox_command(settings), **processes}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SOURCE_TREE), env.get("PYTHONPATH")]))
        env["QIANFA_WECHAT_API_BASE"] = f"http://127.0.0.1:{settings.sandbox_port}"
        env["QIANFA_FETCH_ALLOW"] = sandbox_allowed(env, settings)
        demo = demo_lines(settings)
    children: dict[str, subprocess.Popen] = {}
    try:
        for name, args in processes.items():
            children[name] = _spawn(args, env)
        echo(f"Qianfa 已启动:http://{settings.host}:{settings.port}/healthz  (Ctrl-C 停止)")
        for line in console_lines(settings, env.get("QIANFA_REDIS_URL")):
            echo(line)
        for line in demo:
            echo(line)
        if demo:
            # Last, once the sandbox and the web answer, so nothing prints after them.
            _wait_listening(settings, children)
            for line in demo_next_steps(settings, demo):
                echo(line)
        exited = _wait_for_first_exit(children, stopping)
    finally:
        _stop(children)
    if exited:
        echo(f"进程 {exited} 意外退出,已停止全部进程")
        return 1
    echo("Qianfa 已停止")
    return 0


def demo_lines(settings: Settings) -> list[str]:
    """Register the demo platform (idempotently) and say how to bind and chat."""
    from app.cli import demo
    from app.core.masterkey import load_keyring

    page = f"http://127.0.0.1:{settings.sandbox_port}/"
    # A client of its own, closed after: an embedded Redis with a client still connected
    # at exit is not shut down, and then does not save its data.
    client = connect(settings)
    try:
        lines = demo.ensure(client, load_keyring(settings), settings.bind_code_ttl)
        lines += demo.ensure_website(client, settings.sandbox_port)
    except QianfaError as exc:
        return [f"未能准备演示平台:{exc.message}"]
    finally:
        client.close()
    sandbox = page.rstrip("/")
    return [
        *lines,
        f"沙箱页面 {page} 上可以看到每个用户的聊天,并以他们的身份发消息",
        demo.curl_hint(sandbox),
    ]


def demo_next_steps(settings: Settings, demo_output: list[str]) -> list[str]:
    from app.cli import demo

    page = f"http://127.0.0.1:{settings.sandbox_port}/"
    console = f"http://{settings.host}:{settings.port}/console/"
    unbound = any("绑定 " in line for line in demo_output)
    return demo.next_steps(page, console, unbound)


READY_WAIT = 30.0


def _wait_listening(settings: Settings, children: dict) -> None:
    """Wait (briefly) until the sandbox page and /healthz answer, or a child exited."""
    urls = [
        f"http://127.0.0.1:{settings.sandbox_port}/sandbox/api/state",
        f"http://{settings.host}:{settings.port}/healthz",
    ]
    deadline = time.monotonic() + READY_WAIT
    for url in urls:
        while time.monotonic() < deadline and all(c.poll() is None for c in children.values()):
            if _answers(url):
                break
            time.sleep(0.2)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


def console_lines(settings: Settings, url: str | None) -> list[str]:
    """Create the first console account on the very first start and print its password once."""
    from app.channels import console_accounts

    address = f"http://{settings.host}:{settings.port}/console/"
    client = redis.Redis.from_url(url) if url else connect(settings)
    try:
        first = console_accounts.ensure_first_account(client)
    except QianfaError as exc:
        return [f"未能创建控制台账号:{exc.message}"]
    finally:
        client.close()
    if first is None:
        return [f"控制台:{address}"]
    person, password = first
    return [
        f"控制台:{address}",
        f"首个宣传部账号 {person}({console_accounts.FIRST_ACCOUNT_NAME})的一次性密码:{password}",
        "此密码只显示这一次,首次登录后须修改。",
    ]


def sandbox_allowed(env: dict, settings: Settings) -> str:
    """The fetch allow-list plus exactly the sandbox's port on loopback, nothing more."""
    given = env.get("QIANFA_FETCH_ALLOW", "").strip().strip(",")
    sandbox = f"127.0.0.1:{settings.sandbox_port}"
    return f"{given},{sandbox}" if given else sandbox


def sandbox_command(settings: Settings) -> list[str]:
    webhook = f"http://{settings.host}:{settings.port}/wechat/demo"
    port = str(settings.sandbox_port)
    state = str(settings.instance_dir / "sandbox-state.json")
    args = ["-m", "sandbox", "--demo", "--brief", "--port", port, "--server-url", webhook]
    return [*args, "--state", state]


def _spawn(args: list[str], env: dict) -> subprocess.Popen:
    # A session of its own: Ctrl-C reaches only this supervisor, which stops the children in order.
    command = args if args[0] == "-m" else ["-m", "app", *args]
    return subprocess.Popen([sys.executable, *command], env=env, start_new_session=True)


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
