"""Callbacks to the account's server: signing, the three modes, replies, retries, failures."""

import pytest
from wechatpy.replies import TextReply

from tests.sandbox_helpers import (
    SAMPLE_APPID,
    register_sample_account,
    running_sandbox,
)


@pytest.fixture
def sandbox(receiver):
    with running_sandbox() as (url, control, world):
        register_sample_account(control, server_url=receiver.url)
        user = control.add_user(SAMPLE_APPID, nickname="张老师", role="staff")
        yield control, user["openid"]


def chat(control, openid) -> list[dict]:
    return control.user(SAMPLE_APPID, openid)["chat"]


@pytest.mark.parametrize("mode", ["plaintext", "compatible", "safe"])
def test_user_message_reaches_server_and_reply_reaches_chat(sandbox, receiver, mode):
    """In each mode wechatpy checks and decrypts the message, and the reply shows in the chat."""
    control, openid = sandbox
    control.change_account(SAMPLE_APPID, encrypt_mode=mode)
    delivery = control.send(SAMPLE_APPID, openid, type="text", content="D42 通过")
    assert delivery["outcome"] == "replied"
    entry = receiver.received[-1]
    message = entry["message"]
    assert (message.type, message.content, message.source) == ("text", "D42 通过", openid)
    assert entry["headers"]["Content-Type"] == "text/xml"
    assert entry["params"]["openid"] == openid
    assert ("encrypt_type" in entry["params"]) == (mode != "plaintext")
    assert (b"<Content>" in entry["body"]) == (mode != "safe")
    assert chat(control, openid)[-1]["content"] == "收到:D42 通过"


def test_link_image_and_events_arrive_as_wechatpy_types(sandbox, receiver):
    """Links, images, subscribe and menu clicks parse into wechatpy's message and event types."""
    control, openid = sandbox
    control.send(SAMPLE_APPID, openid, type="link", title="通知", url="https://example.edu/n")
    control.send(SAMPLE_APPID, openid, type="image")
    control.send(SAMPLE_APPID, openid, type="event", event="subscribe")
    control.send(SAMPLE_APPID, openid, type="event", event="CLICK", event_key="MY_DRAFTS")
    kinds = [(m.type, getattr(m, "event", None)) for m in receiver.messages()]
    assert kinds == [("link", None), ("image", None), ("event", "subscribe"), ("event", "click")]
    assert receiver.messages()[-1].key == "MY_DRAFTS"
    ids = [m.id for m in receiver.messages()[:2]]
    assert ids[0] != ids[1]


def test_no_answer_in_time_is_retried_with_the_same_message(sandbox, receiver):
    """Two attempts that get no answer in time are followed by a third with the same MsgId."""
    control, openid = sandbox
    control.configure(callback_timeout=0.3)
    receiver.hold = 2
    delivery = control.send(SAMPLE_APPID, openid, type="text", content="在吗")
    receiver.release.set()
    assert delivery["outcome"] == "replied"
    assert [a["status"] for a in delivery["attempts"]] == [None, None, 200]
    control.wait_until(lambda: len(receiver.received) == 3, what="three deliveries")
    assert len({entry["message"].id for entry in receiver.received}) == 1
    assert len({entry["params"]["nonce"] for entry in receiver.received}) == 3


def test_server_never_answering_shows_the_unavailable_notice(sandbox, receiver):
    """After three failed attempts the user sees WeChat's "暂时无法提供服务" notice."""
    control, openid = sandbox
    control.configure(callback_timeout=0.2)
    receiver.hold = 3
    delivery = control.send(SAMPLE_APPID, openid, type="text", content="在吗")
    receiver.release.set()
    assert delivery["outcome"] == "failed" and len(delivery["attempts"]) == 3
    assert chat(control, openid)[-1]["content"] == "该公众号暂时无法提供服务,请稍后再试"


def test_plaintext_reply_in_safe_mode_is_invalid(sandbox, receiver):
    """In safe mode an unencrypted reply is refused like WeChat refuses it."""
    control, openid = sandbox
    receiver.encrypt_replies = False
    delivery = control.send(SAMPLE_APPID, openid, type="text", content="你好")
    assert delivery["outcome"] == "failed"
    assert "必须加密" in delivery["problem"]


def test_reply_to_the_wrong_user_is_invalid(sandbox, receiver):
    """A reply whose ToUserName is not the sender is not shown to anyone."""
    control, openid = sandbox
    receiver.respond = lambda message, params: TextReply(
        content="错的人", source=message.target, target="o" + "x" * 27
    ).render()
    delivery = control.send(SAMPLE_APPID, openid, type="text", content="你好")
    assert delivery["outcome"] == "failed"


def test_success_is_an_acknowledgement(sandbox, receiver):
    """Answering "success" acknowledges the message: nothing is shown and nothing retried."""
    control, openid = sandbox
    receiver.respond = lambda message, params: "success"
    delivery = control.send(SAMPLE_APPID, openid, type="text", content="你好")
    assert delivery["outcome"] == "acked" and len(delivery["attempts"]) == 1
    assert [line["direction"] for line in chat(control, openid)] == ["sent"]


def test_account_without_server_records_the_message(sandbox):
    """With no server URL configured, the message is kept in the chat and nothing is sent."""
    control, openid = sandbox
    control.change_account(SAMPLE_APPID, server_url="")
    assert control.send(SAMPLE_APPID, openid, type="text", content="有人吗")["outcome"] == (
        "no_server"
    )
    assert chat(control, openid)[-1]["Content"] == "有人吗"
