"""Qianfa's WeChat client against the sandbox: each method, error classes, the quota pause."""

import io
import logging
import traceback
from dataclasses import replace

import pytest

from app.core import alerts, audit, keys
from app.core.errors import (
    InvalidInput,
    WeChatPermanent,
    WeChatQuotaExhausted,
    WeChatRetryable,
    WeChatTokenInvalid,
)
from app.core.masterkey import load_keyring
from app.wechat.client import WeChatAPI
from app.wechat.quota import is_paused, paused_until
from tests.conftest import free_port
from tests.factories import KEYRING, world
from tests.sandbox_helpers import running_sandbox
from tests.wechat_helpers import APPID, PLATFORM, SECRET, wechat_platform, wechat_settings

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
TEMPLATE = "review-notice-0000000000000000000000000001"


@pytest.fixture
def sandbox(r):
    wechat_platform(r)
    with running_sandbox(fault_hang=5.0) as (url, control, world):
        control.add_account(appid=APPID, secret=SECRET)
        yield url, control


@pytest.fixture
def api(r, sandbox):
    url, _ = sandbox
    return WeChatAPI(r, KEYRING, PLATFORM, wechat_settings(url))


@pytest.fixture
def control(sandbox):
    return sandbox[1]


@pytest.fixture
def reviewer(control) -> str:
    """A staff member who has just written to the account, so its reply window is open."""
    openid = control.add_user(APPID, nickname="张老师", role="staff")["openid"]
    control.send(APPID, openid, type="text", content="我的待办")
    return openid


def received(control, openid: str, via: str) -> list[dict]:
    chat = control.user(APPID, openid)["chat"]
    return [line for line in chat if line["direction"] == "received" and line["via"] == via]


def published_draft(api) -> str:
    cover = api.add_image_material(PNG, "cover.png")
    article = {
        "title": "程序设计竞赛",
        "content": "<p>比赛结果</p>",
        "thumb_media_id": cover["media_id"],
    }
    return api.draft_add([article])


# --- each method's happy path ---------------------------------------------------------


def test_send_text_reaches_the_chat_as_raw_utf8(api, control, reviewer):
    """A customer-service text arrives as typed: Chinese sent as UTF-8, not \\u escapes."""
    api.send_text(reviewer, "草稿 D42「程序设计竞赛」待您审核")
    assert (
        received(control, reviewer, "客服消息")[-1]["content"] == "草稿 D42「程序设计竞赛」待您审核"
    )


def test_send_template_returns_msgid(api, control, reviewer):
    """A template message reaches the user; a repeated client_msg_id is WeChat's to drop."""
    control.add_template(APPID, template_id=TEMPLATE, title="审核提醒")
    data = {"thing1": "程序设计竞赛", "time2": "2026-11-26 20:00"}
    first = api.send_template(
        reviewer, TEMPLATE, data, url="https://q.example/p/1", client_msg_id="D42-1"
    )
    again = api.send_template(reviewer, TEMPLATE, data, client_msg_id="D42-1")
    assert first == again > 0
    [line] = received(control, reviewer, "模板消息")
    assert line["data"] == data and line["url"] == "https://q.example/p/1"


def test_mass_send_text_and_its_duplicate(api, control, reviewer):
    """sendall reaches every follower; a repeated clientmsgid is success with the first msg_id."""
    first = api.mass_send_text("计算机学院举办程序设计竞赛", "D42-abcdef")
    assert first == {"msg_id": first["msg_id"], "duplicate": False}
    assert api.mass_send_text("计算机学院举办程序设计竞赛", "D42-abcdef") == {
        "msg_id": first["msg_id"],
        "duplicate": True,
    }
    control.wait_idle()
    sends = control.account(APPID)["mass_sends"]
    assert len(sends) == 1 and sends[0]["clientmsgid"] == "D42-abcdef"
    assert received(control, reviewer, "群发")[-1]["content"] == "计算机学院举办程序设计竞赛"


def test_mass_duplicate_without_msg_id_is_still_success(api, control):
    control.add_fault(endpoint="message/mass/sendall", action={"errcode": 45065}, times=1)
    assert api.mass_send_text("通知", "D42-abcdef") == {"msg_id": None, "duplicate": True}


def test_mass_preview_sends_the_draft_to_one_reviewer(api, control, reviewer):
    """preview puts the draft article in one user's chat."""
    media_id = published_draft(api)
    api.mass_preview(reviewer, media_id)
    [line] = received(control, reviewer, "群发预览")
    assert line["media_id"] == media_id and line["titles"] == ["程序设计竞赛"]


def test_uploads(api, control):
    """A cover becomes permanent material; a body image gets an mmbiz URL."""
    cover = api.add_image_material(io.BytesIO(PNG), "cover.png")
    url = api.upload_content_image(PNG, "inline.png")
    assert url.startswith("http://mmbiz.qpic.cn/")
    materials = {m["media_id"]: m for m in control.account(APPID)["materials"]}
    assert materials[cover["media_id"]]["size"] == len(PNG)
    assert materials[cover["media_id"]]["url"] == cover["url"]


def test_draft_submit_and_poll(api, control):
    """draft/add, freepublish/submit, then freepublish/get reports the article's URL."""
    control.configure(publish_delay=60.0)
    media_id = published_draft(api)
    submitted = api.freepublish_submit(media_id)
    assert submitted["publish_id"].isdigit()
    assert api.freepublish_get(submitted["publish_id"])["publish_status"] == 1
    control.flush_jobs()
    state = api.freepublish_get(submitted["publish_id"])
    assert state["publish_status"] == 0 and state["fail_idx"] == []
    [article] = control.account(APPID)["articles"]
    assert state["article_id"] == article["article_id"]
    assert state["article_urls"] == [article["news_item"][0]["url"]]


def test_publish_ids_as_strings(api, control):
    """WeChat's docs show publish_id as a string, captures as a number: both come back as str."""
    control.configure(publish_id_type="string", publish_delay=0.0)
    submitted = api.freepublish_submit(published_draft(api))
    control.configure(publish_id_type="number")
    assert api.freepublish_get(submitted["publish_id"])["publish_id"] == submitted["publish_id"]


def test_failed_publication_reports_fail_idx(api, control):
    control.change_account(APPID, publish_outcomes=[2])
    submitted = api.freepublish_submit(published_draft(api))
    control.flush_jobs()
    state = api.freepublish_get(submitted["publish_id"])
    assert state["publish_status"] == 2 and state["fail_idx"] == [1]


def test_draft_count(api):
    assert api.draft_count() == 0


def test_for_platform_uses_this_processs_master_key(r, tmp_path):
    """``for_platform`` opens the AppSecret with the key from the settings, as workers will."""
    with running_sandbox() as (url, control, _):
        control.add_account(appid=APPID, secret=SECRET)
        settings = replace(
            wechat_settings(url), instance_dir=tmp_path, master_key_file=tmp_path / "master.key"
        )
        wechat_platform(r, keyring=load_keyring(settings))
        assert WeChatAPI.for_platform(r, PLATFORM, settings).draft_count() == 0


def test_only_wechat_platforms_with_an_appid(r):
    """A platform without an AppID has no WeChat API."""
    world(r, platform_id="jsj-web")
    with pytest.raises(InvalidInput):
        WeChatAPI(r, KEYRING, "jsj-web")


# --- errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "retry_after"),
    [
        ({"errcode": -1}, None),
        ({"errcode": 45011}, 60.0),
        ({"errcode": 45066}, 60.0),
        ({"http_status": 502}, None),
        ({"http_status": 503}, None),
    ],
)
def test_passing_failures_are_retryable(api, control, action, retry_after):
    """-1, the minute quota, a rapid mass retry and gateway errors: WeChatRetryable."""
    control.add_fault(endpoint="draft/count", action=action, times=1)
    with pytest.raises(WeChatRetryable) as raised:
        api.draft_count()
    assert raised.value.retry_after == retry_after
    assert raised.value.errcode == action.get("errcode")
    assert api.draft_count() == 0


def test_timeout_is_retryable(r, sandbox, control):
    """A call WeChat answers too late is WeChatRetryable, and the next one goes through."""
    url, _ = sandbox
    api = WeChatAPI(r, KEYRING, PLATFORM, wechat_settings(url, timeout=0.3))
    api.tokens.current()
    control.add_fault(endpoint="draft/count", action={"latency": 3}, times=1)
    with pytest.raises(WeChatRetryable) as raised:
        api.draft_count()
    assert "超时" in raised.value.message
    assert api.draft_count() == 0


def test_unreachable_wechat_is_retryable(r):
    """Nothing listening at the API base: WeChatRetryable, already when fetching the token."""
    wechat_platform(r)
    api = WeChatAPI(r, KEYRING, PLATFORM, wechat_settings(f"http://127.0.0.1:{free_port()}"))
    with pytest.raises(WeChatRetryable) as raised:
        api.draft_count()
    assert "无法连接微信接口" in raised.value.message


def test_permanent_error_speaks_chinese_to_the_author(api, control):
    """45015 (user silent for 48 hours) is permanent; the message says so, without the rid."""
    silent = control.add_user(APPID, nickname="李同学")["openid"]
    with pytest.raises(WeChatPermanent) as raised:
        api.send_text(silent, "草稿 D42 待审")
    error = raised.value
    assert error.errcode == 45015 and error.endpoint == "message/custom/send"
    assert error.message == (
        "发送客服消息失败:对方超过 48 小时未与公众号互动,无法发送客服消息(微信错误码 45015)"
    )
    assert error.errmsg == "response out of time limit or subscription is canceled"
    assert error.to_dict() == {
        "error": "wechat_refused",
        "message": error.message,
        "errcode": 45015,
    }


def test_unknown_errcode_shows_wechats_text(api, control):
    control.add_fault(endpoint="draft/add", action={"errcode": 53404}, times=1)
    with pytest.raises(WeChatPermanent) as raised:
        api.draft_add([{"title": "t", "content": "c"}])
    assert raised.value.message.startswith("新建草稿失败:微信返回:")
    assert "rid:" not in raised.value.message


def test_token_refused_twice_raises_after_one_refresh(api, control):
    """40001 on the call and again on its retry: one refresh, one retry, WeChatTokenInvalid."""
    api.tokens.current()
    control.add_fault(endpoint="draft/count", action={"errcode": 40001}, times=2)
    with pytest.raises(WeChatTokenInvalid):
        api.draft_count()
    assert control.account(APPID)["tokens"]["issued"]["token"] == 2
    assert control.faults()["rules"][0]["fired"] == 2


def test_upload_is_resent_whole_after_a_token_refresh(api, control):
    """A file consumed by a refused upload is rewound for the retry (wechatpy sends it empty)."""
    api.tokens.current()
    control.add_fault(endpoint="material/add_material", action={"errcode": 42001}, times=1)
    stream = io.BytesIO(b"header" + PNG)
    stream.seek(6)
    cover = api.add_image_material(stream, "cover.png")
    [material] = control.account(APPID)["materials"]
    assert material["media_id"] == cover["media_id"] and material["size"] == len(PNG)


def test_wrong_app_secret_is_permanent(r, api, control):
    """40125 from the token endpoint: permanent, and no loop of token fetches."""
    control.change_account(APPID, secret="ffffffffffffffffffffffffffffffff")
    with pytest.raises(WeChatPermanent) as raised:
        api.draft_count()
    assert raised.value.errcode == 40125 and raised.value.endpoint == "token"
    assert "AppSecret 错误" in raised.value.message


# --- 45009: the quota pause -----------------------------------------------------------


def alerts_of(r, kind: str) -> list:
    return [a for a in alerts.recent(r) if a.kind == kind]


def test_quota_exhausted_pauses_publishing_and_alerts_once(r, api, control, reviewer):
    """45009 pauses the platform until the reset and queues one alert however often it recurs."""
    control.add_fault(endpoint="message/*", action={"quota": True})
    for _ in range(3):
        with pytest.raises(WeChatQuotaExhausted) as raised:
            api.send_text(reviewer, "草稿 D42 待审")
    assert is_paused(r, PLATFORM)
    assert "发布暂停至" in raised.value.message
    assert 0 < raised.value.retry_after <= 86400
    ttl = r.pttl(keys.wechat_paused(PLATFORM)) / 1000
    assert 0 < ttl <= 86400 and abs(ttl - raised.value.retry_after) < 5
    [alert] = alerts_of(r, "quota_exhausted")
    assert alert.platform == PLATFORM and alert.detail["endpoint"] == "message/custom/send"
    assert alert.detail["until"] == paused_until(r, PLATFORM)
    assert len(list(audit.records(r, action="wechat.quota_exhausted"))) == 1


def test_paused_platform_does_not_call_wechat_to_publish(r, api, control):
    """While paused, publishing steps are refused here, before any call reaches WeChat."""
    control.add_fault(endpoint="draft/count", action={"quota": True}, times=1)
    with pytest.raises(WeChatQuotaExhausted):
        api.draft_count()
    with pytest.raises(WeChatQuotaExhausted) as raised:
        api.add_image_material(PNG, "cover.png")
    assert raised.value.message.startswith("上传封面图片暂缓")
    with pytest.raises(WeChatQuotaExhausted):
        api.mass_send_text("通知", "D1-x")
    assert control.account(APPID)["materials"] == []
    assert control.account(APPID)["mass_sends"] == []
    assert api.draft_count() == 0  # not a publishing step: still allowed


def test_quota_exhausted_on_the_token_endpoint_pauses_too(r, api, control):
    control.change_account(APPID, quotas={"token": 0})
    with pytest.raises(WeChatQuotaExhausted):
        api.draft_count()
    assert is_paused(r, PLATFORM)
    assert len(alerts_of(r, "quota_exhausted")) == 1


# --- secrets stay sealed --------------------------------------------------------------


def texts_of(error: BaseException) -> str:
    return " ".join([str(error), repr(error), "".join(traceback.format_exception(error))])


def test_app_secret_and_token_never_in_logs_or_errors(r, sandbox, control, caplog):
    """At DEBUG (urllib3 logs request lines), neither the AppSecret nor a token shows up."""
    url, _ = sandbox
    caplog.set_level(logging.DEBUG)
    api = WeChatAPI(r, KEYRING, PLATFORM, wechat_settings(url, timeout=0.3))
    token = api.tokens.current()
    control.add_fault(endpoint="draft/count", action={"errcode": 40001}, times=1)
    control.add_fault(endpoint="token", action={"latency": 3}, times=1)
    errors = []
    with pytest.raises(WeChatRetryable) as raised:
        api.draft_count()  # the refresh times out
    errors.append(raised.value)
    assert api.draft_count() == 0  # the refresh goes through
    token = [token, api.tokens.current()]
    closed = WeChatAPI(r, KEYRING, PLATFORM, wechat_settings(f"http://127.0.0.1:{free_port()}"))
    closed.tokens.forget()
    with pytest.raises(WeChatRetryable) as raised:
        closed.draft_count()
    errors.append(raised.value)
    assert any("secret=<sealed>" in record.getMessage() for record in caplog.records)
    logged = caplog.text + " ".join(record.getMessage() for record in caplog.records)
    for secret in (SECRET, *token):
        assert secret not in logged
        assert all(secret not in texts_of(error) for error in errors)
