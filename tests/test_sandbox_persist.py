"""A restarted sandbox continues where it stopped: its world is kept under the instance
folder, and its MsgIds never repeat, so Qianfa's duplicate cache never mistakes a new
message for an old one (issue 13, item 1)."""

import json
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from sandbox import demo, persist
from sandbox.client import SandboxControl
from sandbox.state import World
from tests.conftest import wait_until
from tests.sandbox_helpers import Receiver

ROOT = Path(__file__).resolve().parent.parent
STAFF = demo.DEMO_USERS[0]["openid"]
APPID = demo.DEMO_ACCOUNT["appid"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class SandboxProcess:
    """``python -m sandbox --demo --state FILE`` as ``make run`` starts it."""

    def __init__(self, state: Path, server_url: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        args = ["--demo", "--port", str(self.port), "--state", str(state)]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sandbox", *args, "--server-url", server_url],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.control = SandboxControl(self.url)
        wait_until(self._up, timeout=20, message="the sandbox to listen")

    def _up(self) -> bool:
        try:
            return requests.get(f"{self.url}/sandbox/api/state", timeout=1).ok
        except requests.ConnectionError:
            return False

    def stop(self) -> None:
        """SIGTERM, as ``qianfa run`` stops its children: the last changes are written."""
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=20)


@pytest.fixture
def webhook():
    settings = demo.DEMO_ACCOUNT
    with Receiver(settings["token"], settings["encoding_aes_key"], APPID) as receiver:
        yield receiver


def chat_of(control: SandboxControl) -> list[dict]:
    return control.user(APPID, STAFF)["chat"]


def test_a_restarted_sandbox_keeps_its_chats_and_never_repeats_a_msgid(tmp_path, webhook):
    state = tmp_path / "instance" / "sandbox-state.json"
    first = SandboxProcess(state, webhook.url)
    try:
        for text in ("你好", "状态 D1"):
            first.control.send(APPID, STAFF, type="text", content=text)
        wait_until(lambda: len(webhook.messages()) == 2, message="two messages delivered")
    finally:
        first.stop()
    before = [int(message.id) for message in webhook.messages()]
    second = SandboxProcess(state, webhook.url)
    try:
        kept = json.dumps(chat_of(second.control), ensure_ascii=False)
        assert "你好" in kept and "收到:状态 D1" in kept
        second.control.send(APPID, STAFF, type="text", content="状态 D4")
        wait_until(lambda: len(webhook.messages()) == 3, message="the third message delivered")
    finally:
        second.stop()
    after = int(webhook.messages()[-1].id)
    assert after > max(before) and 2**32 < after < 2**63
    assert webhook.messages()[-1].content == "状态 D4"


def test_everything_an_account_made_survives_a_restore(tmp_path):
    world = World()
    demo.install(world)
    account = world.account(APPID)
    account.users[STAFF].note(world.now(), "sent", "message", type="text", content="你好")
    account.articles["a1"] = {"article_id": "a1", "title": "运动会"}
    account.mass_sends["1000000001"] = {"msg_id": 1000000001, "status": "SEND_SUCCESS"}
    account.materials["m1"] = {"media_id": "m1", "type": "image"}
    world.next_id("mass")
    path = tmp_path / "state.json"
    persist.write(world, path)
    again = World()
    assert persist.load(again, path)
    with world.lock, again.lock:
        kept, restored = persist.snapshot(world), persist.snapshot(again)
    assert restored["accounts"] == kept["accounts"]
    assert again.next_id("mass") == world.next_id("mass")
    assert demo.install(again)["appid"] == APPID  # the kept account is used as it is


def test_an_unreadable_state_file_is_set_aside_and_the_sandbox_starts_empty(tmp_path):
    path = tmp_path / "state.json"
    path.write_text(json.dumps({"format": 99}))
    world = World()
    assert not persist.load(world, path)
    assert world.accounts == {} and path.with_suffix(".unreadable").exists()
