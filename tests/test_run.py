"""`make run`'s process: embedded Redis, web and worker together; data survives a restart."""

import json
import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from sandbox.demo import DEMO_ACCOUNT
from tests.conftest import free_port, wait_until

pytestmark = pytest.mark.slow


def local_env(instance, port, sandbox_port):
    env = {k: v for k, v in os.environ.items() if not k.startswith("QIANFA_")}
    env.update(
        {
            "QIANFA_INSTANCE_DIR": str(instance),
            "QIANFA_PORT": str(port),
            "QIANFA_SANDBOX_PORT": str(sandbox_port),
        }
    )
    return env


def health(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            return response.status, json.load(response)
    except (urllib.error.URLError, ConnectionError):
        return None, None


def sandbox_accounts(base):
    try:
        with urllib.request.urlopen(f"{base}/sandbox/api/accounts", timeout=2) as response:
            return json.load(response)
    except (urllib.error.URLError, ConnectionError):
        return None


def send_as_demo_staff(base, content):
    """Act as the sandbox's demo staff member: the callback goes to Qianfa's /wechat/demo."""
    from sandbox.demo import DEMO_ACCOUNT, DEMO_USERS

    url = (
        f"{base}/sandbox/api/accounts/{DEMO_ACCOUNT['appid']}"
        f"/users/{DEMO_USERS[0]['openid']}/messages"
    )
    body = json.dumps({"type": "text", "content": content}).encode()
    request = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=15) as response:
        return json.load(response)


def start(env):
    return subprocess.Popen(
        [sys.executable, "-m", "app", "run"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def stop(proc):
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=30)
    return proc.returncode, out


def qianfa(env, *args):
    return subprocess.run(
        [sys.executable, "-m", "app", *args], env=env, capture_output=True, text=True, timeout=60
    )


def healthy_with_worker(port):
    status, body = health(port)
    return status == 200 and body["workers_alive"] >= 1 and body["redis"]["ok"]


def test_run_starts_everything_on_embedded_redis_and_keeps_data(tmp_path):
    """Without QIANFA_REDIS_URL, `qianfa run` serves with a worker, and data survives restarts."""
    port, sandbox_port = free_port(), free_port()
    env = local_env(tmp_path / "instance", port, sandbox_port)
    proc = start(env)
    try:
        wait_until(lambda: healthy_with_worker(port), timeout=60, message="/healthz with a worker")
        body = health(port)[1]
        assert body["redis"]["where"].startswith("unix://")
        sandbox = f"http://127.0.0.1:{sandbox_port}"
        assert body["wechat_api_base"] == sandbox
        accounts = wait_until(lambda: sandbox_accounts(sandbox), message="the sandbox demo account")
        assert accounts[0]["server_url"] == f"http://127.0.0.1:{port}/wechat/demo"
        created = qianfa(env, "unit", "create", "计算机学院", "--kind", "secondary_college")
        assert created.returncode == 0, created.stderr
        delivery = send_as_demo_staff(sandbox, "绑定 ABCD-EFGH")
        assert delivery["outcome"] in ("acked", "replied"), delivery
    finally:
        code, output = stop(proc)
    assert code == 0, output
    assert "curl -X POST" in output and "沙箱微信已启动" in output
    assert "演示平台 demo" in output and "的身份发送:绑定 " in output
    # Logs keep a query's parameter names, never their values (app.core.accesslog).
    assert DEMO_ACCOUNT["secret"] not in output
    assert not re.search(r"secret=(?!\*\*\*)", output), "a secret in a logged query"
    assert "Traceback" not in output
    assert health(port) == (None, None)
    assert (tmp_path / "instance" / "qianfa.rdb").exists()

    proc = start(env)
    try:
        wait_until(lambda: healthy_with_worker(port), timeout=60, message="/healthz after restart")
        listed = qianfa(env, "unit", "list")
        assert "计算机学院" in listed.stdout, listed.stderr
    finally:
        code, output = stop(proc)
    assert code == 0, output
