"""Access tokens: issue, expiry, the refresh grace period, stable_token, quotas, a storm."""

import multiprocessing

import pytest
import requests
from wechatpy.exceptions import WeChatClientException

from tests.sandbox_helpers import (
    SAMPLE_APPID,
    SAMPLE_SECRET,
    SandboxClient,
    register_sample_account,
    running_sandbox,
    storm_fetch,
    storm_reuse,
)

GRACE = 300


@pytest.fixture
def sandbox():
    with running_sandbox() as (url, control, world):
        register_sample_account(control)
        yield url, control


def token_call(url: str, **params) -> dict:
    return requests.get(f"{url}/cgi-bin/token", params=params, timeout=10).json()


def draft_count(url: str, token: str | None) -> dict:
    params = {} if token is None else {"access_token": token}
    return requests.get(f"{url}/cgi-bin/draft/count", params=params, timeout=10).json()


def fetch(url: str) -> str:
    answer = token_call(
        url, grant_type="client_credential", appid=SAMPLE_APPID, secret=SAMPLE_SECRET
    )
    return answer["access_token"]


def test_wechatpy_client_gets_a_token_and_calls_the_api(sandbox):
    """wechatpy's WeChatClient, pointed at the sandbox, fetches a 7200 s token and uses it."""
    url, _ = sandbox
    client = SandboxClient(url, SAMPLE_APPID, SAMPLE_SECRET)
    assert client.fetch_access_token()["expires_in"] == 7200
    assert client.get("draft/count") == {"total_count": 0}


@pytest.mark.parametrize(
    ("params", "errcode"),
    [
        ({"grant_type": "password", "appid": SAMPLE_APPID, "secret": SAMPLE_SECRET}, 40002),
        ({"grant_type": "client_credential", "secret": SAMPLE_SECRET}, 41002),
        ({"grant_type": "client_credential", "appid": "wx0", "secret": SAMPLE_SECRET}, 40013),
        ({"grant_type": "client_credential", "appid": SAMPLE_APPID}, 41004),
        ({"grant_type": "client_credential", "appid": SAMPLE_APPID, "secret": "wrong"}, 40125),
    ],
)
def test_token_request_errors(sandbox, params, errcode):
    """Each wrong or missing token parameter gets WeChat's own errcode, with HTTP 200."""
    url, _ = sandbox
    response = requests.get(f"{url}/cgi-bin/token", params=params, timeout=10)
    assert response.status_code == 200
    body = response.json()
    assert body["errcode"] == errcode
    assert " rid: " in body["errmsg"]


def test_wrong_secret_raises_in_wechatpy(sandbox):
    """wechatpy sees 40125 as a WeChatClientException when fetching a token."""
    url, _ = sandbox
    with pytest.raises(WeChatClientException) as raised:
        SandboxClient(url, SAMPLE_APPID, "wrong").fetch_access_token()
    assert raised.value.errcode == 40125


def test_missing_and_unknown_tokens(sandbox):
    """No access_token is 41001; a token the sandbox never issued is 40001."""
    url, _ = sandbox
    assert draft_count(url, None)["errcode"] == 41001
    assert draft_count(url, "not-a-token")["errcode"] == 40001


def test_old_token_works_only_within_the_grace_period(sandbox):
    """After a refresh the previous token works for 5 minutes, then answers 40001."""
    url, control = sandbox
    old, new = fetch(url), fetch(url)
    control.advance_clock(GRACE - 1)
    assert draft_count(url, old) == {"total_count": 0}
    control.advance_clock(2)
    stale = draft_count(url, old)
    assert stale["errcode"] == 40001
    assert "not latest" in stale["errmsg"]
    assert draft_count(url, new) == {"total_count": 0}


def test_expired_token_is_42001_and_wechatpy_recovers(sandbox):
    """A token past 7200 s answers 42001; wechatpy's auto-retry fetches a new one."""
    url, control = sandbox
    client = SandboxClient(url, SAMPLE_APPID, SAMPLE_SECRET)
    token = client.access_token
    control.advance_clock(7201)
    assert draft_count(url, token)["errcode"] == 42001
    assert client.get("draft/count") == {"total_count": 0}
    assert client.access_token != token


def test_stable_token_is_reused_and_force_refresh_rotates(sandbox):
    """stable_token answers the same token with its remaining life; force_refresh rotates it."""
    url, control = sandbox
    body = {"grant_type": "client_credential", "appid": SAMPLE_APPID, "secret": SAMPLE_SECRET}
    first = requests.post(f"{url}/cgi-bin/stable_token", json=body, timeout=10).json()
    control.advance_clock(100)
    again = requests.post(f"{url}/cgi-bin/stable_token", json=body, timeout=10).json()
    assert again["access_token"] == first["access_token"]
    assert again["expires_in"] < first["expires_in"]
    forced = requests.post(
        f"{url}/cgi-bin/stable_token", json={**body, "force_refresh": True}, timeout=10
    ).json()
    assert forced["access_token"] != first["access_token"]
    assert draft_count(url, first["access_token"])["errcode"] == 40001
    too_soon = requests.post(
        f"{url}/cgi-bin/stable_token", json={**body, "force_refresh": True}, timeout=10
    ).json()
    assert too_soon["access_token"] == forced["access_token"]


def test_stable_token_is_post_only_and_apart_from_token(sandbox):
    """GET stable_token is 43002; fetching /cgi-bin/token does not touch the stable token."""
    url, _ = sandbox
    assert requests.get(f"{url}/cgi-bin/stable_token", timeout=10).json()["errcode"] == 43002
    body = {"grant_type": "client_credential", "appid": SAMPLE_APPID, "secret": SAMPLE_SECRET}
    stable = requests.post(f"{url}/cgi-bin/stable_token", json=body, timeout=10).json()
    fetch(url)
    fetch(url)
    assert draft_count(url, stable["access_token"]) == {"total_count": 0}


def test_daily_token_quota_and_clear_quota(sandbox):
    """Past the daily token quota WeChat answers 45009 until clear_quota; 11 clears a month fail."""
    url, control = sandbox
    control.change_account(SAMPLE_APPID, quotas={"token": 2})
    token = fetch(url)
    fetch(url)
    with pytest.raises(WeChatClientException) as raised:
        SandboxClient(url, SAMPLE_APPID, SAMPLE_SECRET).fetch_access_token()
    assert raised.value.errcode == 45009
    client = SandboxClient(url, SAMPLE_APPID, SAMPLE_SECRET, access_token=token)
    for _ in range(10):
        assert client.post("clear_quota", data={"appid": SAMPLE_APPID})["errcode"] == 0
    with pytest.raises(WeChatClientException) as raised:
        client.post("clear_quota", data={"appid": SAMPLE_APPID})
    assert raised.value.errcode == 48006
    assert fetch(url)


def test_ip_whitelist(sandbox):
    """With an IP whitelist that excludes the caller, token answers 40164 naming the IP."""
    url, control = sandbox
    control.change_account(SAMPLE_APPID, ip_whitelist=["10.0.0.0/8"])
    answer = token_call(
        url, grant_type="client_credential", appid=SAMPLE_APPID, secret=SAMPLE_SECRET
    )
    assert answer["errcode"] == 40164
    assert "127.0.0.1" in answer["errmsg"]


def run_processes(target, argsets) -> list:
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    processes = [context.Process(target=target, args=(*args, results)) for args in argsets]
    for process in processes:
        process.start()
    collected = [results.get(timeout=60) for _ in processes]
    for process in processes:
        process.join(timeout=30)
        assert process.exitcode == 0
    return collected


def test_token_refresh_storm_from_several_processes(sandbox):
    """Tokens fetched by competing processes work only for the grace period, then 40001."""
    # Afterwards wechatpy clients holding stale tokens refresh (40001 → token → retry).
    url, control = sandbox
    workers = 4
    barrier = multiprocessing.get_context("spawn").Barrier(workers)
    first = run_processes(storm_fetch, [(url, SAMPLE_APPID, SAMPLE_SECRET, barrier)] * workers)
    tokens = [token for token, count in first]
    assert len(set(tokens)) == workers and all(count == 0 for _, count in first)
    latest = control.account(SAMPLE_APPID)["tokens"]["current"]["token"]["access_token"]
    assert latest in tokens

    control.advance_clock(GRACE + 1)
    assert {t: draft_count(url, t).get("errcode", 0) for t in tokens} == {
        t: 0 if t == latest else 40001 for t in tokens
    }

    second = run_processes(storm_reuse, [(url, SAMPLE_APPID, SAMPLE_SECRET, t) for t in tokens])
    for old, now_held, count in second:
        assert count == 0
        assert (now_held == old) == (old == latest)
    issued = control.account(SAMPLE_APPID)["tokens"]["issued"]["token"]
    assert issued == workers + (workers - 1)
