"""The control API, the inspection pages and ``python -m sandbox``."""

import os
import signal
import subprocess
import sys

import pytest
import requests

from sandbox.client import ControlError, SandboxControl
from sandbox.demo import DEMO_ACCOUNT, DEMO_USERS
from tests.conftest import free_port
from tests.sandbox_helpers import (
    SAMPLE_AES_KEY,
    SAMPLE_APPID,
    SAMPLE_TOKEN,
    Receiver,
    register_sample_account,
    running_sandbox,
)


@pytest.fixture
def sandbox():
    with running_sandbox() as (url, control, world):
        register_sample_account(control, server_url="")
        yield url, control


def test_control_api_refuses_bad_requests(sandbox):
    """Unknown accounts and users, duplicate AppIDs, bad settings: a Chinese error, no change."""
    _, control = sandbox
    with pytest.raises(ControlError, match="没有账号"):
        control.account("wxmissing")
    with pytest.raises(ControlError, match="已存在"):
        register_sample_account(control)
    with pytest.raises(ControlError, match="encrypt_mode"):
        control.change_account(SAMPLE_APPID, encrypt_mode="rot13")
    with pytest.raises(ControlError, match="EncodingAESKey"):
        control.add_account(appid="wx2", secret="s", encrypt_mode="safe")
    with pytest.raises(ControlError, match="未知配置项"):
        control.configure(warp_speed=9)
    for setting in ({"callback_timeout": 0}, {"publish_delay": -1}, {"callback_attempts": 0}):
        with pytest.raises(ControlError, match="不能小于"):
            control.configure(**setting)
    with pytest.raises(ControlError, match="没有用户"):
        control.send(SAMPLE_APPID, "o" + "0" * 27, type="text", content="hi")
    assert control.account(SAMPLE_APPID)["encrypt_mode"] == "safe"


def test_reset_forgets_everything(sandbox):
    """reset drops accounts and rules so a test can start from a known seed."""
    _, control = sandbox
    control.add_fault(action={"errcode": -1})
    control.reset(seed=7)
    assert control.state()["accounts"] == [] and control.faults() == {"seed": 7, "rules": []}


def test_server_url_verification():
    """The console-style check GETs the server URL with a signature and expects echostr back."""
    with Receiver(SAMPLE_TOKEN, SAMPLE_AES_KEY, SAMPLE_APPID) as receiver:
        with running_sandbox() as (url, control, world):
            register_sample_account(control, server_url=receiver.url)
            assert control.verify_server(SAMPLE_APPID) == {"ok": True, "problem": ""}
            control.change_account(SAMPLE_APPID, server_url=f"http://127.0.0.1:{free_port()}/x")
            assert control.verify_server(SAMPLE_APPID)["ok"] is False


def test_pages_show_chats_and_send_as_a_user(sandbox):
    """The account page shows each user's chat; its form sends a message as that user."""
    url, control = sandbox
    openid = control.add_user(SAMPLE_APPID, nickname="张老师", role="staff")["openid"]
    control.send(SAMPLE_APPID, openid, type="text", content="D42 通过")
    page = requests.get(f"{url}/accounts/{SAMPLE_APPID}", timeout=10)
    assert page.status_code == 200 and "张老师" in page.text and "D42 通过" in page.text
    form = requests.post(
        f"{url}/accounts/{SAMPLE_APPID}/users/{openid}/send",
        data={"content": "D43 退回"},
        timeout=10,
    )
    assert form.status_code == 200 and "D43 退回" in form.text
    assert SAMPLE_APPID in requests.get(f"{url}/", timeout=10).text
    assert requests.get(f"{url}/accounts/wxmissing", timeout=10).status_code == 404


@pytest.mark.slow
def test_qianfa_sandbox_demo_command():
    """`python -m sandbox --demo` serves the demo account and prints how to message as a user."""
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "sandbox", "--demo", "--port", str(port)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    control = SandboxControl(f"http://127.0.0.1:{port}")
    try:

        def demo_account():
            try:
                return control.account(DEMO_ACCOUNT["appid"])
            except requests.ConnectionError:
                return None

        account = control.wait_until(demo_account, timeout=30, what="the demo account")
        assert {user["openid"] for user in account["users"]} == {u["openid"] for u in DEMO_USERS}
        assert account["server_url"] == "http://127.0.0.1:8000/wechat/demo"
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    assert "curl -X POST" in output and "张老师" in output and "已停止" in output
    assert process.returncode == 0
