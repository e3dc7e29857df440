"""The sandbox page in a real headless Chromium: pictures a simulated user sends, and
chats that open at the newest message (issue 13, items 2 and 7)."""

import pytest
import requests

from sandbox import create_app, demo
from sandbox.client import SandboxControl
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


def test_the_back_office_forms_publish_mass_send_edit_and_delete(sandbox, webhook, page):
    """The page plays an administrator at mp.weixin.qq.com (issue 15): what its forms do is
    what ``freepublish/batchget`` and the mass-send record then show."""
    control = SandboxControl(sandbox)
    page.goto(f"{sandbox}/accounts/{APPID}")
    form = page.locator("form.backoffice")
    form.locator("input[name=title]").fill("后台直接发表")
    form.locator("textarea[name=content]").fill("<p>未经签发的正文</p>")
    form.locator("button[value=publish]").click()
    [article] = control.account(APPID)["articles"]
    assert article["news_item"][0]["title"] == "后台直接发表"
    assert "后台直接发表" in page.locator("#articles + table").inner_text()

    row = page.locator("#articles + table tr", has_text="后台直接发表")
    row.locator("input[name=content]").fill("<p>改过的正文</p>")
    row.locator("button[value=edit]").click()
    [edited] = control.account(APPID)["articles"]
    assert edited["news_item"][0]["content"] == "<p>改过的正文</p>"
    assert edited["update_time"] > article["update_time"]

    page.locator("#articles + table tr", has_text="后台直接发表").locator(
        "button[value=delete]"
    ).click()
    assert control.account(APPID)["articles"][0]["news_item"][0]["is_deleted"] is True

    form = page.locator("form.backoffice")
    form.locator("textarea[name=content]").fill("后台群发的通知")
    form.locator("button[value=mass]").click()
    [sent] = control.account(APPID)["mass_sends"]
    assert sent["msgtype"] == "text" and sent["content"] == "后台群发的通知"
    shot(page, "sandbox-backoffice")

    form = page.locator("form.backoffice")
    form.locator("button[value=publish]").click()  # no title, no body: refused, nothing added
    assert "必须是非空字符串" in page.content()
    assert len(control.account(APPID)["articles"]) == 1
