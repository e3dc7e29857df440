"""The sandbox page in a real headless Chromium: pictures a simulated user sends, and
chats that open at the newest message (issue 13, items 2 and 7)."""

import pytest
import requests

from sandbox import create_app, demo
from sandbox.config import SandboxConfig
from sandbox.server import serve_in_thread
from tests.conftest import wait_until
from tests.console_helpers import shot
from tests.images import png
from tests.sandbox_helpers import FAST, Receiver

pytestmark = pytest.mark.browser

APPID = demo.DEMO_ACCOUNT["appid"]
STAFF = demo.DEMO_USERS[0]["openid"]


@pytest.fixture
def webhook():
    settings = demo.DEMO_ACCOUNT
    with Receiver(settings["token"], settings["encoding_aes_key"], APPID) as receiver:
        yield receiver


@pytest.fixture
def sandbox(webhook):
    app = create_app(SandboxConfig(**FAST))
    demo.install(app.extensions["sandbox"], webhook.url)
    with serve_in_thread(app) as url:
        yield url


def card(tab, openid: str):
    return tab.locator(f"[id='{openid}']")


def test_a_user_sends_a_sample_picture_served_from_loopback(sandbox, webhook, page):
    page.goto(f"{sandbox}/accounts/{APPID}")
    staff = card(page, STAFF)
    staff.locator("select[name=sample]").select_option("sample-2.png")
    staff.locator("button").click()
    [message] = wait_until(lambda: webhook.messages(), message="the picture delivered")
    assert message.type == "image"
    assert message.image == f"{sandbox}/pictures/sample-2.png"
    fetched = requests.get(message.image, timeout=10)
    assert fetched.headers["Content-Type"] == "image/png" and fetched.content[:4] == b"\x89PNG"
    page.wait_for_selector(f"[id='{STAFF}'] .bubble:has-text('[图片]')")
    shot(page, "sandbox-picture")


def test_a_user_uploads_a_picture_of_their_own(sandbox, webhook, page, tmp_path):
    picture = tmp_path / "合影.png"
    picture.write_bytes(png(64))
    page.goto(f"{sandbox}/accounts/{APPID}")
    staff = card(page, STAFF)
    staff.locator("input[type=file]").set_input_files(str(picture))
    staff.locator("button").click()
    [message] = wait_until(lambda: webhook.messages(), message="the upload delivered")
    assert requests.get(message.image, timeout=10).content == picture.read_bytes()


def test_a_file_that_is_not_a_picture_is_refused_and_nothing_sent(sandbox, webhook, page, tmp_path):
    fake = tmp_path / "note.png"
    fake.write_bytes(b"not a picture")
    page.goto(f"{sandbox}/accounts/{APPID}")
    staff = card(page, STAFF)
    staff.locator("input[type=file]").set_input_files(str(fake))
    staff.locator("button").click()
    assert "只能发送" in page.content()
    assert webhook.messages() == []


def test_each_chat_opens_at_its_newest_message(sandbox, webhook, page):
    for number in range(30):
        requests.post(
            f"{sandbox}/sandbox/api/accounts/{APPID}/users/{STAFF}/messages",
            json={"type": "text", "content": f"第 {number} 条"},
            timeout=10,
        ).raise_for_status()
    page.goto(f"{sandbox}/accounts/{APPID}")
    chat = card(page, STAFF).locator(".chat")
    assert chat.evaluate("c => c.scrollHeight > c.clientHeight")
    assert chat.evaluate("c => c.scrollTop + c.clientHeight >= c.scrollHeight - 2")
