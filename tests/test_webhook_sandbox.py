"""The callback endpoint end to end: the sandbox WeChat sends real callbacks to Qianfa served
in a thread; followers' messages are forwarded to a downstream server of the account's own."""

import io
import threading

import pytest
from flask import Flask, request
from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.replies import TextReply
from wechatpy.utils import check_signature

from app.cli.base import cli
from app.core import alerts, keys
from app.core.audit import Actor
from app.core.masterkey import load_keyring
from app.monitoring import replies
from app.webhook import config as webhook_config
from tests.conftest import wait_until
from tests.sandbox_helpers import (
    SAMPLE_AES_KEY,
    SAMPLE_APPID,
    SAMPLE_SECRET,
    SandboxClient,
    register_sample_account,
    running_sandbox,
)
from tests.webhook_helpers import (
    FOLLOWER,
    OPERATOR,
    ORIGINAL_ID,
    PLATFORM,
    STAFF,
    Chat,
    app_with,
    serve,
    set_mode,
    settings_with,
)

DOWNSTREAM_TOKEN = "downstream42"
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


def run(settings, chat, **sandbox_config):
    """Qianfa in a thread and a sandbox whose sample account calls it back."""
    qianfa = serve(app_with(settings, chat))
    url = qianfa.__enter__()
    sandbox = running_sandbox(**sandbox_config)
    base, control, world = sandbox.__enter__()
    register_sample_account(control, server_url=f"{url}/wechat/{PLATFORM}", original_id=ORIGINAL_ID)
    control.add_user(SAMPLE_APPID, openid=STAFF, nickname="王老师", role="staff")
    control.add_user(SAMPLE_APPID, openid=FOLLOWER, nickname="李同学")
    return qianfa, sandbox, base, control


@pytest.fixture
def wechat(staff, settings, chat):
    qianfa, sandbox, base, control = run(settings, chat)
    yield control
    sandbox.__exit__(None, None, None)
    qianfa.__exit__(None, None, None)


def last_line(control, openid) -> dict:
    return control.user(SAMPLE_APPID, openid)["chat"][-1]


def test_server_check_passes(wechat):
    """WeChat's console check (GET with echostr) succeeds against /wechat/<platform>."""
    assert wechat.verify_server(SAMPLE_APPID) == {"ok": True, "problem": ""}


@pytest.mark.parametrize("mode", ["plaintext", "compatible", "safe"])
def test_staff_message_is_answered_in_every_mode(wechat, staff, r, mode):
    """A bound administrator's message reaches the chat commands; the reply shows on the phone."""
    wechat.change_account(SAMPLE_APPID, encrypt_mode=mode)
    set_mode(r, mode)
    delivery = wechat.send(SAMPLE_APPID, STAFF, type="text", content="帮助")
    assert delivery["outcome"] == "replied", delivery["problem"]
    assert last_line(wechat, STAFF)["content"] == f"收到{staff['admin']}:帮助"


def test_follower_gets_the_default_reply(wechat, r, settings, staff):
    """A follower who is not staff gets the platform's default reply once the first
    responsible person approved it, nothing else."""
    assert wechat.send(SAMPLE_APPID, FOLLOWER, type="text", content="你好")["outcome"] == "acked"
    keyring = load_keyring(settings)
    webhook_config.configure(r, keyring, OPERATOR, PLATFORM, default_reply="感谢关注计算机学院")
    assert wechat.send(SAMPLE_APPID, FOLLOWER, type="text", content="在吗")["outcome"] == "acked"
    responsible = Actor(via="chat", person=staff["responsible"])
    replies.approve(r, responsible, PLATFORM, replies.pending(r, PLATFORM).digest)
    assert wechat.send(SAMPLE_APPID, FOLLOWER, type="text", content="你好")["outcome"] == "replied"
    assert last_line(wechat, FOLLOWER)["content"] == "感谢关注计算机学院"


class SlowChat(Chat):
    """Answers only once WeChat has sent the message a second time."""

    def __init__(self, r):
        super().__init__()
        self.r = r

    def __call__(self, r, keyring, platform, message):
        self.calls.append(message)
        wait_until(lambda: len(self.r.keys(f"qianfa:webhook:{PLATFORM}:nonce:*")) >= 2)
        return "稍等后的回复"


def test_retry_during_a_slow_answer_gets_that_answer(staff, r, settings):
    """WeChat gives up on a slow first attempt; its retry waits for that attempt's reply."""
    chat = SlowChat(r)
    qianfa, sandbox, base, control = run(settings, chat, callback_timeout=1.0)
    try:
        delivery = control.send(SAMPLE_APPID, STAFF, type="text", content="帮助")
        assert delivery["outcome"] == "replied"
        assert [a["status"] for a in delivery["attempts"]] == [None, 200]
        assert last_line(control, STAFF)["content"] == "稍等后的回复"
        assert len(chat.calls) == 1
    finally:
        sandbox.__exit__(None, None, None)
        qianfa.__exit__(None, None, None)


def test_publishjobfinish_from_a_real_publish_is_recorded(wechat, r):
    """Publishing in the sandbox ends in a PUBLISHJOBFINISH that Qianfa records for the workers."""
    state = wechat.state()
    base = wechat.base_url
    assert state["accounts"]
    client = SandboxClient(base, SAMPLE_APPID, SAMPLE_SECRET)
    thumb = client.material.add("image", ("cover.png", io.BytesIO(PNG)))["media_id"]
    article = {"title": "招生简章", "content": "<p>招生</p>", "thumb_media_id": thumb}
    media_id = client.post("draft/add", data={"articles": [article]})["media_id"]
    publish_id = client.post("freepublish/submit", data={"media_id": media_id})["publish_id"]
    wechat.flush_jobs()
    entries = wait_until(lambda: r.xrange(keys.publish_events()), message="the publish event")
    fields = {k.decode(): v.decode() for k, v in entries[0][1].items()}
    assert (fields["publish_id"], fields["publish_status"]) == (str(publish_id), "0")
    assert fields["article_id"] and "mp.weixin.qq.com" in fields["article_urls"]


# --- forwarding to the account's earlier server ------------------------------------------


class Downstream:
    """The auto-reply service the account used before Qianfa, with its own Token."""

    def __init__(self):
        self.crypto = WeChatCrypto(DOWNSTREAM_TOKEN, SAMPLE_AES_KEY, SAMPLE_APPID)
        self.received = []
        self.hang = False
        self.release = threading.Event()
        self.app = Flask("downstream")
        self.app.add_url_rule("/wx", "wx", self.handle, methods=["POST"])

    def handle(self):
        args = request.args
        check_signature(DOWNSTREAM_TOKEN, args["signature"], args["timestamp"], args["nonce"])
        xml = request.get_data()
        if args.get("encrypt_type") == "aes":
            xml = self.crypto.decrypt_message(
                xml, args["msg_signature"], args["timestamp"], args["nonce"]
            )
        message = parse_message(xml)
        self.received.append(message)
        if self.hang:
            self.release.wait(10)
        reply = TextReply(content=f"原服务号回复:{message.content}", message=message).render()
        if args.get("encrypt_type") == "aes":
            reply = self.crypto.encrypt_message(reply, args["nonce"])
        return reply


@pytest.fixture
def downstream():
    service = Downstream()
    with serve(service.app) as url:
        yield service, f"{url}/wx"
    service.release.set()


@pytest.mark.parametrize("mode", ["plaintext", "safe"])
def test_follower_message_is_forwarded_and_the_reply_passed_back(
    wechat, downstream, r, settings, mode
):
    """A follower's message goes to the old server re-signed with its Token; its reply returns."""
    service, url = downstream
    keyring = load_keyring(settings)
    webhook_config.configure(
        r, keyring, OPERATOR, PLATFORM, forward=url, forward_token=DOWNSTREAM_TOKEN
    )
    wechat.change_account(SAMPLE_APPID, encrypt_mode=mode)
    set_mode(r, mode)
    delivery = wechat.send(SAMPLE_APPID, FOLLOWER, type="text", content="课表")
    assert delivery["outcome"] == "replied", delivery["problem"]
    assert last_line(wechat, FOLLOWER)["content"] == "原服务号回复:课表"
    assert [m.content for m in service.received] == ["课表"]


@pytest.mark.parametrize("mode", ["plaintext", "safe"])
def test_a_blocked_reply_from_the_forward_server_becomes_success_and_an_alert(
    wechat, downstream, r, settings, mode
):
    """Art. 10 holds for what Qianfa passes back too: the old server answering a follower with
    prohibited words (here it echoes them) is screened; the follower gets nothing."""
    service, url = downstream
    keyring = load_keyring(settings)
    webhook_config.configure(
        r, keyring, OPERATOR, PLATFORM, forward=url, forward_token=DOWNSTREAM_TOKEN
    )
    wechat.change_account(SAMPLE_APPID, encrypt_mode=mode)
    set_mode(r, mode)
    delivery = wechat.send(SAMPLE_APPID, FOLLOWER, type="text", content="提供代写论文服务")
    assert delivery["outcome"] == "acked", delivery
    assert [m.content for m in service.received] == ["提供代写论文服务"]
    assert all(
        "代写论文" not in line.get("content", "")
        for line in wechat.user(SAMPLE_APPID, FOLLOWER)["chat"]
        if line["direction"] == "received"
    )
    [alert] = [a for a in alerts.recent(r) if a.kind == "follower_reply_blocked"]
    assert alert.platform == PLATFORM and "代写论文" in alert.message
    assert wechat.send(SAMPLE_APPID, FOLLOWER, type="text", content="课表")["outcome"] == "replied"


def test_slow_downstream_falls_back_to_success(staff, downstream, r):
    """A downstream that does not answer within the timeout gets the follower "success"."""
    service, url = downstream
    service.hang = True
    tuned = settings_with(webhook_forward_timeout=0.2)
    keyring = load_keyring(tuned)
    webhook_config.configure(
        r, keyring, OPERATOR, PLATFORM, forward=url, forward_token=DOWNSTREAM_TOKEN
    )
    qianfa, sandbox, base, control = run(tuned, Chat())
    try:
        delivery = control.send(SAMPLE_APPID, FOLLOWER, type="text", content="课表")
        assert delivery["outcome"] == "acked" and len(delivery["attempts"]) == 1
        assert len(service.received) == 1
    finally:
        service.release.set()
        sandbox.__exit__(None, None, None)
        qianfa.__exit__(None, None, None)


def test_forward_url_must_be_http(r, settings, staff):
    """Only http(s) URLs are accepted as downstream; the refusal changes nothing."""
    from app.core.errors import InvalidInput

    keyring = load_keyring(settings)
    for bad in ("file:///etc/passwd", "gopher://x/", "ftp://h/", "http://"):
        with pytest.raises(InvalidInput):
            webhook_config.configure(r, keyring, OPERATOR, PLATFORM, forward=bad)
    assert webhook_config.get(r, PLATFORM).forward_url == ""


def test_cli_sets_and_shows_webhook_settings(r, staff):
    """`qianfa webhook set/show` stores the settings, the token from stdin, and audits each."""
    from click.testing import CliRunner

    from app.core import audit

    runner = CliRunner()
    result = runner.invoke(
        cli,
        [
            "webhook",
            "set",
            PLATFORM,
            "--default-reply",
            "您好",
            "--forward-url",
            "https://old.example/wx",
        ]
        + ["--forward-token-stdin"],
        input=f"{DOWNSTREAM_TOKEN}\n",
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    shown = runner.invoke(cli, ["webhook", "show", PLATFORM], catch_exceptions=False).output
    assert "待审核的默认回复" in shown and "您好" in shown  # waits for the responsible person
    assert "https://old.example/wx" in shown and "已设置" in shown
    assert DOWNSTREAM_TOKEN not in shown
    actions = [rec["action"] for rec in audit.records(r, platform=PLATFORM)]
    assert "webhook.configure" in actions and "credentials.set" in actions
    bad = runner.invoke(cli, ["webhook", "set", PLATFORM, "--forward-url", "file:///x"])
    assert bad.exit_code != 0
