"""Faults on demand: error answers, gateway errors, delays, hangs, quotas, reproducibly."""

import pytest
import requests
from wechatpy.exceptions import APILimitedException, WeChatClientException

from sandbox.client import ControlError
from tests.sandbox_helpers import (
    SAMPLE_APPID,
    SAMPLE_SECRET,
    SandboxClient,
    register_sample_account,
    running_sandbox,
)

OTHER_APPID = "wx0000000000000002"
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


@pytest.fixture
def sandbox():
    with running_sandbox(fault_hang=5.0) as (url, control, world):
        register_sample_account(control)
        control.add_account(appid=OTHER_APPID, secret="other-secret")
        client = SandboxClient(url, SAMPLE_APPID, SAMPLE_SECRET, auto_retry=False)
        client.fetch_access_token()
        yield url, control, client


def outcome(call) -> int:
    """0 for success, else the errcode (None for an HTTP error) wechatpy raised."""
    try:
        call()
    except WeChatClientException as exc:
        return exc.errcode
    return 0


def test_next_three_calls_answer_system_error(sandbox):
    """A rule with times=3 fails exactly the next three calls with -1."""
    _, control, client = sandbox
    control.add_fault(endpoint="draft/count", action={"errcode": -1}, times=3)
    assert [outcome(lambda: client.get("draft/count")) for _ in range(4)] == [-1, -1, -1, 0]
    assert control.faults()["rules"][0]["fired"] == 3


def test_sequence_of_steps(sandbox):
    """A sequence applies one step per call; null lets a call through."""
    _, control, client = sandbox
    control.add_fault(endpoint="draft/*", sequence=[{"errcode": 45009}, None, {"http_status": 503}])
    results = [outcome(lambda: client.get("draft/count")) for _ in range(4)]
    assert results == [45009, 0, None, 0]


def test_gateway_error_is_an_http_error(sandbox):
    """An http_status fault answers a 5xx page, which wechatpy reports without an errcode."""
    _, control, client = sandbox
    control.add_fault(endpoint="draft/count", action={"http_status": 502}, times=1)
    with pytest.raises(WeChatClientException) as raised:
        client.get("draft/count")
    assert raised.value.errcode is None and raised.value.response.status_code == 502


def test_quota_fault_is_45009(sandbox):
    """A quota fault answers 45009, which wechatpy raises as APILimitedException."""
    _, control, client = sandbox
    control.add_fault(endpoint="message/*", action={"quota": True})
    with pytest.raises(APILimitedException):
        client.message.send_text("o" + "0" * 27, "hi")


@pytest.mark.parametrize(
    ("errcode", "text"),
    [
        (45011, "api minute-quota reach limit  mustslower  retry next minute"),
        (45066, "相同 clientmsgid 重试速度过快"),
    ],
)
def test_rate_limit_faults_answer_wechats_text(sandbox, errcode, text):
    """The per-minute quota (45011) and a too-fast mass retry (45066) carry their own errmsg."""
    _, control, client = sandbox
    control.add_fault(endpoint="message/mass/sendall", action={"errcode": errcode}, times=1)
    with pytest.raises(WeChatClientException) as raised:
        client.post("message/mass/sendall", data={"msgtype": "text"})
    assert raised.value.errcode == errcode
    assert raised.value.errmsg.startswith(text) and " rid: " in raised.value.errmsg


def test_faults_are_per_account(sandbox):
    """A rule for one AppID leaves another account's calls alone."""
    url, control, client = sandbox
    control.add_fault(appid=SAMPLE_APPID, action={"errcode": -1})
    other = SandboxClient(url, OTHER_APPID, "other-secret", auto_retry=False)
    assert outcome(lambda: other.get("draft/count")) == 0
    assert outcome(lambda: client.get("draft/count")) == -1


def test_token_endpoint_faults_by_appid(sandbox):
    """Token requests can fail too; the rule matches the appid in the query."""
    url, control, _ = sandbox
    control.add_fault(appid=SAMPLE_APPID, endpoint="token", action={"errcode": -1}, times=1)
    fresh = SandboxClient(url, SAMPLE_APPID, SAMPLE_SECRET)
    assert outcome(fresh.fetch_access_token) == -1
    assert fresh.fetch_access_token()["access_token"]


def test_error_rate_is_reproducible_under_a_seed(sandbox):
    """The same seed and the same calls fail the same way; both outcomes occur."""
    _, control, client = sandbox

    def run() -> list[int]:
        control.clear_faults(seed=42)
        control.add_fault(endpoint="draft/count", action={"errcode": -1}, rate=0.5)
        return [outcome(lambda: client.get("draft/count")) for _ in range(20)]

    first = run()
    assert first == run()
    assert set(first) == {0, -1}


def test_latency_delays_the_answer_but_not_the_work(sandbox):
    """A call answered after the caller gave up was still carried out, as on a slow network."""
    url, control, client = sandbox
    control.add_fault(endpoint="material/add_material", action={"latency": 1.0}, times=1)
    params = {"access_token": client.access_token, "type": "image"}
    with pytest.raises(requests.Timeout):
        requests.post(
            f"{url}/cgi-bin/material/add_material",
            params=params,
            files={"media": ("cover.png", PNG)},
            timeout=0.2,  # shorter than the added latency: the caller never sees the answer
        )
    control.wait_until(lambda: control.account(SAMPLE_APPID)["materials"], what="late upload")


def test_timeout_fault_leaves_the_client_waiting(sandbox):
    """A timeout fault does not answer in time; the caller's own timeout fires."""
    url, control, client = sandbox
    control.add_fault(endpoint="draft/count", action={"timeout": True}, times=1)
    client.timeout = 0.3
    with pytest.raises(requests.Timeout):
        client.get("draft/count")
    client.timeout = None
    assert client.get("draft/count") == {"total_count": 0}


@pytest.mark.parametrize(
    "rule",
    [
        {"action": {"explode": 1}},
        {"action": {"errcode": "x"}},
        {"action": {"http_status": 200}},
        {"action": {"errcode": -1}, "rate": 2},
        {"sequence": []},
        {},
    ],
)
def test_bad_rules_are_refused(sandbox, rule):
    """The control API explains a malformed rule instead of storing it."""
    _, control, _ = sandbox
    with pytest.raises(ControlError):
        control.add_fault(**rule)
    assert control.faults()["rules"] == []
