"""The pure parts of the WeChat client: errcode classes, backoff, quota reset, settings."""

import random
from datetime import UTC, datetime

import pytest

from app.core.backoff import backoff, retry_intervals
from app.core.errors import (
    ConfigError,
    QianfaError,
    WeChatError,
    WeChatPermanent,
    WeChatQuotaExhausted,
    WeChatRetryable,
    WeChatTokenInvalid,
)
from app.core.settings import load_settings
from app.wechat.errcodes import classify, clean_errmsg, retry_delay
from app.wechat.quota import next_reset


@pytest.mark.parametrize(
    ("errcode", "cls"),
    [
        (-1, WeChatRetryable),
        (45011, WeChatRetryable),
        (45066, WeChatRetryable),
        (45009, WeChatQuotaExhausted),
        (40001, WeChatTokenInvalid),
        (40014, WeChatTokenInvalid),
        (42001, WeChatTokenInvalid),
        (45015, WeChatPermanent),
        (40164, WeChatPermanent),
        (99999, WeChatPermanent),
    ],
)
def test_errcodes_map_to_one_class_each(errcode, cls):
    error = classify(errcode, "whatever", "message/custom/send", "发送客服消息")
    assert type(error) is cls
    assert isinstance(error, WeChatError) and isinstance(error, QianfaError)


def test_token_endpoint_40001_means_a_wrong_secret():
    """From /cgi-bin/token, 40001 is a bad AppSecret: permanent, never a reason to refetch."""
    error = classify(40001, "invalid credential", "token", "获取 access_token", token_endpoint=True)
    assert type(error) is WeChatPermanent and "AppSecret" in error.message


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        (
            "description size out of limit hint: [7jly7a074878-1] rid: 68ff2583-479cabd7-08ff32c3",
            "description size out of limit",
        ),
        (
            "invalid ip 1.2.3.4, not in whitelist rid: 60196b9b-4c5ba79c-066b49c8",
            "invalid ip 1.2.3.4, not in whitelist",
        ),
        ("response out of time limit hint: [ZE1Uxa0498age8]", "response out of time limit"),
        ("ok", "ok"),
        (None, ""),
    ],
)
def test_rid_and_hint_are_noise(raw, clean):
    assert clean_errmsg(raw) == clean


def test_unknown_errcode_message_carries_wechats_text_without_rid():
    error = classify(
        53404, "product not allowed rid: 68ff2583-479cabd7-08ff32c3", "draft/add", "新建草稿"
    )
    assert error.message == "新建草稿失败:微信返回:product not allowed(微信错误码 53404)"
    assert error.errmsg == "product not allowed"


def test_backoff_grows_exponentially_within_jitter_and_cap():
    rng = random.Random(7)
    for attempt in range(12):
        ceiling = min(900.0, 5.0 * 2**attempt)
        for _ in range(50):
            assert ceiling / 2 <= backoff(attempt, rng=rng) <= ceiling
    assert backoff(1000, rng=rng) <= 900.0


def test_backoff_is_reproducible_with_a_seeded_rng():
    assert backoff(3, rng=random.Random(1)) == backoff(3, rng=random.Random(1))
    assert len({backoff(3, rng=random.Random(seed)) for seed in range(20)}) > 1
    with pytest.raises(ValueError):
        backoff(-1)


def test_retry_intervals_for_rq():
    intervals = retry_intervals(4, base=2.0, rng=random.Random(0))
    assert len(intervals) == 4
    assert all(2.0 * 2**i / 2 <= d <= 2.0 * 2**i for i, d in enumerate(intervals))


def test_retry_delay_respects_what_wechat_asked():
    minute = classify(45011, "api minute-quota reach limit", "draft/add", "新建草稿")
    assert retry_delay(minute, 0, rng=random.Random(0)) == 60.0
    busy = classify(-1, "system error", "draft/add", "新建草稿")
    assert retry_delay(busy, 0, rng=random.Random(0)) <= 5.0


@pytest.mark.parametrize(
    ("moment", "at", "expected"),
    [
        ("2026-11-26T15:59:00+00:00", "00:00", "2026-11-27T00:00:00+08:00"),
        ("2026-11-26T16:00:00+00:00", "00:00", "2026-11-28T00:00:00+08:00"),
        ("2026-11-26T16:00:01+00:00", "00:00", "2026-11-28T00:00:00+08:00"),
        ("2026-11-26T10:00:00+00:00", "04:30", "2026-11-27T04:30:00+08:00"),
        ("2026-11-26T19:00:00+00:00", "04:30", "2026-11-27T04:30:00+08:00"),
    ],
)
def test_quota_resets_at_the_next_beijing_time(moment, at, expected):
    reset = next_reset(datetime.fromisoformat(moment), at)
    assert reset == datetime.fromisoformat(expected)
    assert reset > datetime.fromisoformat(moment).astimezone(UTC)


def test_wechat_settings_defaults():
    settings = load_settings({})
    assert settings.wechat_timeout == 10.0
    assert settings.wechat_stable_token == ()
    assert settings.wechat_token_margin == 300
    assert settings.wechat_quota_reset == "00:00"
    assert not settings.uses_stable_token("jsj-wx")


@pytest.mark.parametrize(
    ("raw", "uses"),
    [
        ("*", {"jsj-wx": True, "xy-wx": True}),
        (" jsj-wx , XY-wx", {"jsj-wx": True, "xy-wx": True}),
        ("jsj-wx", {"jsj-wx": True, "xy-wx": False}),
    ],
)
def test_stable_token_setting(raw, uses):
    settings = load_settings({"QIANFA_WECHAT_STABLE_TOKEN": raw})
    assert {pid: settings.uses_stable_token(pid) for pid in uses} == uses


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("WECHAT_STABLE_TOKEN", "jsj_wx"),
        ("WECHAT_STABLE_TOKEN", "*,jsj-wx"),
        ("WECHAT_TIMEOUT", "0"),
        ("WECHAT_TIMEOUT", "soon"),
        ("WECHAT_TOKEN_MARGIN", "7200"),
        ("WECHAT_QUOTA_RESET", "24:00"),
        ("WECHAT_QUOTA_RESET", "0:00"),
    ],
)
def test_bad_wechat_settings_name_the_variable(name, raw):
    with pytest.raises(ConfigError) as raised:
        load_settings({f"QIANFA_{name}": raw})
    assert raised.value.message.startswith(f"QIANFA_{name}:")
