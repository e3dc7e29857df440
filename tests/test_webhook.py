"""The callback endpoint through Flask's test client: modes, retries, replays, hostile bodies."""

import base64
import json
import os
import threading

import pytest
import redis

from app.core import alerts, audit, keys
from app.core.audit import Actor
from app.core.errors import ConfigError
from app.core.masterkey import load_keyring
from app.core.settings import load_settings
from app.drafts import suspension
from app.monitoring import replies
from app.webhook import Gateway, Limits, refusals
from app.webhook import config as webhook_config
from sandbox.crypto import sign
from tests.conftest import free_port, wait_until
from tests.sandbox_helpers import SAMPLE_TOKEN
from tests.webhook_helpers import (
    OPERATOR,
    ORIGINAL_ID,
    PLATFORM,
    STAFF,
    Chat,
    active_platform,
    app_with,
    fresh,
    post,
    post_raw,
    render,
    reply_of,
    set_mode,
    settings_with,
    signed,
    text,
    without_security,
)


@pytest.fixture
def client(settings, staff, chat):
    return app_with(settings, chat).test_client()


def refused_records(r, code=None):
    found = list(audit.records(r, action="webhook.refused"))
    return [rec for rec in found if code is None or json.loads(rec["detail"])["code"] == code]


# --- verification and the three modes ------------------------------------------------


def test_get_verification_echoes_echostr(client):
    """A GET signed with the platform's Token gets its echostr back verbatim."""
    ts, nonce = fresh()
    params = {"signature": sign(SAMPLE_TOKEN, ts, nonce), "timestamp": ts, "nonce": nonce}
    response = client.get(f"/wechat/{PLATFORM}", query_string={**params, "echostr": "4375120948"})
    assert (response.status_code, response.text) == (200, "4375120948")
    params["signature"] = sign("wrongtoken", ts, nonce)
    assert client.get(f"/wechat/{PLATFORM}", query_string=params).status_code == 403


@pytest.mark.parametrize("mode", ["plaintext", "compatible", "safe"])
def test_each_mode_is_answered_in_its_own_mode(client, chat, staff, r, mode):
    """A bound sender's text gets the chat's reply, encrypted exactly when it came encrypted."""
    set_mode(r, mode)
    response = post(client, text("帮助", sender=STAFF), mode)
    assert response.status_code == 200
    assert (b"<Encrypt>" in response.data) == (mode != "plaintext")
    reply = reply_of(response, mode, STAFF)
    assert reply["Content"] == f"收到{staff['admin']}:帮助"
    assert reply["FromUserName"] == ORIGINAL_ID
    assert chat.calls[0].person == staff["admin"] and chat.calls[0].openid == STAFF


def test_follower_gets_success_or_the_default_reply(client, chat, r, staff):
    """An unbound follower gets "success"; with a default reply set and approved by the first
    responsible person, that text (not for events)."""
    assert post(client, text("在吗")).text == "success"
    assert chat.calls[0].person == ""
    webhook_config.configure(
        r, load_keyring(load_settings()), OPERATOR, PLATFORM, default_reply="您好"
    )
    assert post(client, text("在吗")).text == "success"  # not before review
    proposal = replies.pending(r, PLATFORM)
    replies.approve(r, Actor(via="chat", person=staff["responsible"]), PLATFORM, proposal.digest)
    assert reply_of(post(client, text("在吗")))["Content"] == "您好"
    event = {**text(), "MsgType": "event", "Event": "subscribe"}
    del event["Content"], event["MsgId"]
    assert post(client, event).text == "success"


# --- retries and replays ---------------------------------------------------------------


def test_wechat_retry_is_handled_once_with_the_same_reply(client, chat):
    """Three deliveries of one MsgId (fresh nonce each) reach the chat once, same reply each."""
    message = text("帮助", sender=STAFF)
    replies = [reply_of(post(client, message), "safe", STAFF)["Content"] for _ in range(3)]
    assert len(chat.calls) == 1
    assert len(set(replies)) == 1


def test_event_retry_is_deduplicated_by_sender_and_time(client, chat):
    """Events have no MsgId: FromUserName + CreateTime identify a retry."""
    event = {**text(), "MsgType": "event", "Event": "CLICK", "EventKey": "MY_DRAFTS"}
    del event["Content"], event["MsgId"]
    post(client, event)
    post(client, event)
    assert len(chat.calls) == 1 and chat.calls[0].event == "click"


def test_replayed_nonce_is_refused_and_writes_nothing(client, r, chat):
    """The same timestamp and nonce twice: the second is a replay, refused with 409."""
    set_mode(r, "plaintext")
    params, body = signed(text(), "plaintext")
    assert post_raw(client, params, body.encode()).status_code == 200
    before = without_security(r)
    forged_body = render(text("伪造的内容"))
    assert post_raw(client, params, forged_body.encode()).status_code == 409
    assert without_security(r) == before
    assert len(chat.calls) == 1
    assert refused_records(r, "replayed_nonce")


def publish_event(publish_id=2247503051, status=0) -> dict:
    info = {"publish_id": publish_id, "publish_status": status}
    if status == 0:
        info["article_id"] = "b5O2OUs25HBxRceL7hfReg-U9QGeq9zQjiDvyWP4Hq4"
        info["article_detail"] = {"count": 1, "item": [{"idx": 1, "article_url": "https://a/1"}]}
    else:
        info["fail_idx"] = [1, 2]
    fields = {**text(sender="mphelper"), "MsgType": "event", "Event": "PUBLISHJOBFINISH"}
    del fields["Content"], fields["MsgId"]
    return {**fields, "PublishEventInfo": info}


def test_publishjobfinish_is_recorded_once(client, chat, r):
    """PUBLISHJOBFINISH is recorded for the workers once per publish_id, never sent to the chat."""
    event = publish_event()
    for _ in range(3):
        assert post(client, event).text == "success"
    post(client, publish_event(2247503052, status=3))
    stream = r.xrange(keys.publish_events())
    entries = [{k.decode(): v.decode() for k, v in fields.items()} for _, fields in stream]
    assert [(e["publish_id"], e["publish_status"]) for e in entries] == [
        ("2247503051", "0"),
        ("2247503052", "3"),
    ]
    assert entries[0]["platform"] == PLATFORM
    assert json.loads(entries[0]["article_urls"]) == ["https://a/1"]
    assert json.loads(entries[1]["fail_idx"]) == ["1", "2"]
    assert chat.calls == []


# --- refusals --------------------------------------------------------------------------


def test_inactive_platform_is_refused_and_audited(r, settings, chat):
    """A suspended platform gets no service: 403, an audit record, and nothing else written."""
    active_platform(r, settings, status="suspended")
    client = app_with(settings, chat).test_client()
    before = without_security(r)
    response = post(client, text())
    assert response.status_code == 403
    assert without_security(r) == before
    assert refused_records(r, "inactive")
    assert chat.calls == []


def test_platform_suspended_while_cached_is_refused(client, r, chat):
    """A process that served a platform refuses it as soon as it is suspended."""
    assert post(client, text()).status_code == 200

    suspension.change_status(r, OPERATOR, PLATFORM, "suspended", "停用测试")
    assert post(client, text()).status_code == 403
    assert len(chat.calls) == 1


def test_unknown_platform_is_404_in_one_bucket(client, r):
    """Callbacks for platforms that do not exist are counted in one bucket, creating no keys."""
    assert post(client, text(), pid="no-such").status_code == 404
    assert post(client, text(), pid="x").status_code == 404
    assert refusals.counts(r, refusals.UNKNOWN) == {"unknown_platform": 2}
    assert not r.keys("qianfa:webhook:no-such*")


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">]>
<xml><ToUserName>gh_0123456789ab</ToUserName><FromUserName>oFollower0000000000000000001</FromUserName>
<CreateTime>1</CreateTime><MsgType>text</MsgType><Content>&lol2;</Content><MsgId>1</MsgId></xml>"""
EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<xml><ToUserName>gh_0123456789ab</ToUserName><FromUserName>oFollower0000000000000000001</FromUserName>
<CreateTime>1</CreateTime><MsgType>text</MsgType><Content>&xxe;</Content><MsgId>1</MsgId></xml>"""


def plain_params():
    ts, nonce = fresh()
    return {"signature": sign(SAMPLE_TOKEN, ts, nonce), "timestamp": ts, "nonce": nonce}


def encrypted_params(encrypt: str):
    params = plain_params()
    params.update(
        encrypt_type="aes",
        msg_signature=sign(SAMPLE_TOKEN, params["timestamp"], params["nonce"], encrypt),
    )
    return params


def truncated_block():
    params, body = signed(text(), "safe")
    encrypt = body.split("<Encrypt><![CDATA[")[1].split("]]>")[0]
    cut = base64.b64encode(base64.b64decode(encrypt)[:-5]).decode()
    envelope = render({"ToUserName": ORIGINAL_ID, "Encrypt": cut})
    return encrypted_params(cut), envelope.encode()


def wrong_appid():
    params, body = signed(text(), "safe", appid="wx0000000000000000")
    return params, body.encode()


def forged_signature():
    params, body = signed(text(), "safe", token="forgedtoken")
    return params, body.encode()


def stale_timestamp():
    params, body = signed(text(), "plaintext", timestamp="1000000000")
    return params, body.encode()


HOSTILE = {
    "billion laughs": (lambda: (plain_params(), BILLION_LAUGHS.encode()), 400, "bad_xml"),
    "external entity": (lambda: (plain_params(), EXTERNAL_ENTITY.encode()), 400, "bad_xml"),
    "10 MB body": (
        lambda: (plain_params(), b"<xml>" + b"A" * 10_000_000 + b"</xml>"),
        413,
        "too_large",
    ),
    "truncated AES block": (truncated_block, 400, "undecryptable"),
    "malformed XML": (lambda: (plain_params(), b"<xml><ToUserName>gh_1</To"), 400, "bad_xml"),
    "not XML at all": (lambda: (plain_params(), "\u0000\xff".encode("latin-1")), 400, "bad_xml"),
    "wrong AppID": (wrong_appid, 403, "wrong_appid"),
    "no query at all": (lambda: ({}, signed(text(), "safe")[1].encode()), 403, "bad_signature"),
    "Encrypt missing": (lambda: (encrypted_params(""), b"<xml/>"), 400, "undecryptable"),
    "forged signature": (forged_signature, 403, "bad_signature"),
    "stale timestamp": (stale_timestamp, 403, "stale_timestamp"),
    "unknown encrypt_type": (
        lambda: ({**plain_params(), "encrypt_type": "rsa"}, b"<xml/>"),
        400,
        "bad_mode",
    ),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_callbacks_are_refused_with_4xx_and_write_nothing(client, r, chat, name):
    """Each hostile body is a 4xx (never 500), audited and counted, and changes nothing else."""
    build, status, code = HOSTILE[name]
    params, body = build()
    before = without_security(r)
    response = post_raw(client, params, body)
    assert (response.status_code, response.text) == (status, code)
    assert without_security(r) == before
    assert chat.calls == []
    assert refusals.counts(r, PLATFORM)[code] == 1
    assert refused_records(r, code)


def test_forged_burst_queues_one_alert_and_audit_stays_bounded(r, settings, chat):
    """Ten forged callbacks: one alert at the threshold, three full audit records and counts."""
    active_platform(r, settings)
    tuned = settings_with(webhook_forged_alert=4, webhook_audit_refusals=3)
    client = app_with(tuned, chat).test_client()
    for _ in range(10):
        params, body = forged_signature()
        assert post_raw(client, params, body).status_code == 403
    found = [a for a in alerts.recent(r) if a.kind == "forged_callbacks"]
    assert len(found) == 1 and found[0].platform == PLATFORM
    records = refused_records(r, "bad_signature")
    assert len(records) == 3
    assert json.loads(records[-1]["detail"])["more_counted_only"] is True
    assert refusals.counts(r, PLATFORM) == {"bad_signature": 10}


def test_healthz_shows_the_refusal_counters(client, r):
    """/healthz reports each platform's refusals by reason."""
    params, body = forged_signature()
    post_raw(client, params, body)
    body = client.get("/healthz").get_json()
    assert body["webhook_refusals"][PLATFORM] == {"bad_signature": 1}


def test_secrets_are_revealed_once_per_process(client, r):
    """Many callbacks, one reveal of each secret; a changed Token is picked up at once."""
    for _ in range(5):
        post(client, text())
    reads = list(audit.records(r, action="credentials.read"))
    assert sorted(json.loads(rec["detail"])["name"] for rec in reads) == [
        "encoding_aes_key",
        "token",
    ]
    from app.registry import credentials

    credentials.set_secret(
        r, load_keyring(load_settings()), OPERATOR, PLATFORM, "token", "newtoken1"
    )
    assert post(client, text(), token="newtoken1").status_code == 200
    assert post(client, text()).status_code == 403  # the old token is refused now
    assert len(list(audit.records(r, action="credentials.read"))) == 4


def test_sender_that_is_not_an_openid_is_refused(client):
    """A FromUserName that is not an OpenID never reaches a Redis key."""
    assert post(client, text(sender="bad:sender")).status_code == 400


class BlockedChat(Chat):
    """Holds the first answer until the test releases it."""

    def __init__(self):
        super().__init__()
        self.release = threading.Event()

    def __call__(self, r, keyring, platform, message):
        self.calls.append(message)
        self.release.wait(10)
        return "终于答复"


def test_retry_that_outwaits_the_first_attempt_gets_success(r, settings):
    """A retry waits QIANFA_WEBHOOK_RETRY_WAIT for the first attempt, then acknowledges."""
    active_platform(r, settings)
    chat = BlockedChat()
    client = app_with(settings_with(webhook_retry_wait=0.1), chat).test_client()
    message, answers = text("帮助"), []
    first = threading.Thread(target=lambda: answers.append(post(client, message)))
    first.start()
    wait_until(lambda: chat.calls, message="the first attempt to reach the chat")
    assert post(client, message).text == "success"
    chat.release.set()
    first.join(10)
    assert reply_of(answers[0])["Content"] == "终于答复"
    assert reply_of(post(client, message))["Content"] == "终于答复"
    assert len(chat.calls) == 1


def test_chat_failure_releases_the_claim_for_the_retry(r, settings):
    """When the chat raises, the claim is dropped, so WeChat's retry is answered afresh."""
    active_platform(r, settings)
    outcomes = [RuntimeError("boom"), "第二次成功"]

    def flaky(r, keyring, platform, message):
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    client = app_with(settings, flaky).test_client()
    message = text("帮助")
    assert post(client, message).status_code == 500
    assert reply_of(post(client, message))["Content"] == "第二次成功"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("WEBHOOK_TIMESTAMP_WINDOW", "5"),
        ("WEBHOOK_MAX_BODY", "lots"),
        ("WEBHOOK_FORWARD_TIMEOUT", "5"),
        ("WEBHOOK_RETRY_WAIT", "-1"),
        ("WEBHOOK_FORGED_ALERT", "0"),
    ],
)
def test_webhook_settings_are_checked_at_start_up(name, value):
    """A webhook setting out of range stops start-up with one line naming it."""
    with pytest.raises(ConfigError, match=f"QIANFA_{name}"):
        load_settings({**os.environ, f"QIANFA_{name}": value})


def test_downstream_replies_that_wechat_would_refuse_become_success():
    """Garbage, a DTD, an envelope with a bad signature or in plaintext mode: "success"."""
    from app.webhook.forward import Forwarder

    envelope = render({"Encrypt": "QUJD", "MsgSignature": "0" * 40, "TimeStamp": 1, "Nonce": "2"})
    good = sign("downstream", "1", "2", "QUJD")
    signed_envelope = envelope.replace("0" * 40, good)
    cases = [
        (b"", True, "success"),
        (b"not xml", False, "success"),
        (BILLION_LAUGHS.encode(), False, "success"),
        (envelope.encode(), True, "success"),
        (signed_envelope.encode(), False, "success"),
        (signed_envelope.encode(), True, "enc:QUJD"),
        (b"<xml><MsgType>text</MsgType></xml>", False, "xml:<xml><MsgType>text</MsgType></xml>"),
    ]
    for content, encrypted, expected in cases:
        assert Forwarder.reply("downstream", content, encrypted=encrypted) == expected


def test_claim_script_builds_the_same_key_names_as_app_keys(r):
    """The claim script's key templates are generated from ``app.core.keys``; check them in Lua."""
    from app.webhook import scripts

    body = scripts.CLAIM_KEYS + (
        "return {k_platform('p'), k_admins('p'), k_secrets('p'), k_config('p'),"
        " k_nonce('p', '17', 'n:1'), k_dedup('p', 'ab'), k_binding('p', 'o'),"
        " k_session('p', 'o'), k_contact('p', 'o'), k_roles('P1'), PUBLISH_EVENTS}"
    )
    expected = [
        keys.platform("p"),
        keys.platform_admins("p"),
        keys.platform_secrets("p"),
        keys.webhook_config("p"),
        keys.webhook_nonce("p", "17", "n:1"),
        keys.webhook_dedup("p", "ab"),
        keys.binding("p", "o"),
        keys.chat_session("p", "o"),
        keys.contact("p", "o"),
        keys.person_roles("P1"),
        keys.publish_events(),
    ]
    assert [found.decode() for found in r.eval(body, 0)] == expected


# --- callbacks answered around Flask's routing (app.web.wechat.Direct) ---------------


def test_callback_answer_carries_the_security_header(client):
    response = post(client, text("帮助", sender=STAFF))
    assert response.status_code == 200
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_an_error_in_a_callback_is_answered_by_the_json_handler(settings, staff):
    """The callback path skips Flask's routing, not its error handlers: an unexpected error
    is the consistent JSON 500, logged, with no trace in the answer; the header is there."""

    def broken(*args):
        raise RuntimeError("boom in chat")

    response = post(app_with(settings, broken).test_client(), text("帮助", sender=STAFF))
    assert response.status_code == 500
    assert response.get_json() == {"error": "internal", "message": "服务器内部错误,已记录"}
    assert "boom" not in response.get_data(as_text=True)
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_redis_down_during_a_callback_answers_503(settings, staff):
    """A Redis that does not answer gives the JSON 503, as everywhere else."""
    app = app_with(settings, Chat())
    closed = redis.Redis(port=free_port(), socket_connect_timeout=0.5)
    app.extensions["qianfa.webhook"] = Gateway(closed, load_keyring(settings), Limits.of(settings))
    response = post(app.test_client(), text("帮助", sender=STAFF))
    assert response.status_code == 503
    assert response.get_json()["message"] == "数据存储暂时不可用,请稍后再试"


@pytest.mark.parametrize("path", ["/wechat/", f"/wechat/{PLATFORM}/x", "/wechat//x"])
def test_paths_beside_a_platform_are_left_to_flask(client, path):
    """Only ``/wechat/<one segment>`` is taken around Flask; the rest gets Flask's answer."""
    response = client.post(path, data=b"<xml/>")
    assert response.status_code in (404, 308)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
