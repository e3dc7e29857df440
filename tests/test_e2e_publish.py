"""The whole way, on one sandbox WeChat: an administrator submits in chat, the responsible
person is notified and approves in chat, and only then does Qianfa publish, exactly once,
and tell the author. The dispatcher and a worker run in this process (``Office``)."""

import pytest

from app.core import audit
from app.core.masterkey import load_keyring
from app.drafts import lifecycle
from app.registry import credentials
from app.web import create_app
from tests.conftest import wait_until
from tests.factories import OPERATOR
from tests.notify_helpers import office
from tests.publishing_helpers import image_server
from tests.sandbox_helpers import running_sandbox
from tests.webhook_helpers import ORIGINAL_ID, serve
from tests.wechat_helpers import APPID


@pytest.fixture
def wired(r, monkeypatch):
    """The sandbox account calls Qianfa's webhook; Qianfa calls the sandbox's API."""
    with running_sandbox() as (url, control, _):
        o = office(r, control, monkeypatch, url)
        keyring = load_keyring(o.settings)
        credentials.set_secret(r, keyring, OPERATOR, o.w.platform, "token", "e2etoken")
        aes = "E2eEncodingAesKey0123456789abcdefghijklmnop"[:43]
        credentials.set_secret(r, keyring, OPERATOR, o.w.platform, "encoding_aes_key", aes)
        with serve(create_app(o.settings)) as qianfa:
            control.change_account(
                APPID,
                token="e2etoken",
                encoding_aes_key=aes,
                encrypt_mode="safe",
                original_id=ORIGINAL_ID,
                server_url=f"{qianfa}/wechat/{o.w.platform}",
            )
            yield o


def say(o, person: str, words: str) -> str:
    delivery = o.control.send(APPID, o.openids[person], type="text", content=words)
    assert delivery["outcome"] == "replied", delivery
    return o.control.user(APPID, o.openids[person])["chat"][-1]["content"]


def mass_sends(o) -> list:
    return o.control.account(APPID)["mass_sends"]


def test_nothing_goes_out_before_approval_and_it_goes_out_once_after(wired):
    o = wired
    o.bind(o.w.admin, "王老师")
    o.bind(o.w.responsible, "李书记")
    assert "已提交稿件 D1" in say(o, o.w.admin, "投稿 计算机学院举办程序设计竞赛")
    say(o, o.w.responsible, "在吗")  # the responsible person's window is open
    o.settle()

    [asked] = [m for m in o.received(o.w.responsible) if "D1" in m.get("content", "")]
    assert "同意 D1" in asked["content"]
    assert mass_sends(o) == [] and lifecycle.get(o.r, "D1").status == lifecycle.IN_REVIEW

    assert "审核已全部通过" in say(o, o.w.responsible, "同意 D1")
    o.settle()
    o.settle()

    assert len(mass_sends(o)) == 1
    assert lifecycle.get(o.r, "D1").status == lifecycle.PUBLISHED
    told = [m["content"] for m in o.received(o.w.admin) if "D1" in m.get("content", "")]
    assert any("发布" in line for line in told), told


def test_article_composed_in_chat_goes_out_by_draft_and_freepublish(wired):
    """Cover uploaded, draft added, submitted; PUBLISHJOBFINISH comes back through the webhook."""
    o = wired
    o.bind(o.w.admin, "王老师")
    o.bind(o.w.responsible, "李书记")
    with image_server() as images:
        say(o, o.w.admin, "投稿")
        say(o, o.w.admin, "校运动会今天开幕,欢迎大家观赛。")
        o.control.send(APPID, o.openids[o.w.admin], type="image", pic_url=images.url("/cover.png"))
        say(o, o.w.admin, "标题 校运动会开幕")
        assert "已提交稿件 D1" in say(o, o.w.admin, "提交")
        o.settle()
        assert o.control.account(APPID)["articles"] == []

        assert "审核已全部通过" in say(o, o.w.responsible, "同意 D1")
        wait_until(lambda: _published(o), timeout=20, message="the article to be published")

    [article] = o.control.account(APPID)["articles"]
    [item] = article["news_item"]
    assert item["title"] == "校运动会开幕" and "欢迎大家观赛" in item["content"]
    [published] = [r for r in audit.records(o.r, draft="D1") if r["action"] == "draft.publish"]
    assert item["url"] in published["detail"]
    told = [m["content"] for m in o.received(o.w.admin) if "D1" in m.get("content", "")]
    assert any("已发布" in line for line in told), told


def _published(o) -> bool:
    o.settle()
    o.control.wait_idle()
    return lifecycle.get(o.r, "D1").status == lifecycle.PUBLISHED
