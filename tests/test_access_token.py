"""Access tokens shared through Redis: one fetch for many callers, one refresh at a time."""

import multiprocessing
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from app.core import audit, keys
from app.core.lease import Lease
from app.wechat.client import WeChatAPI
from tests.factories import KEYRING
from tests.sandbox_helpers import running_sandbox
from tests.wechat_helpers import (
    APPID,
    PLATFORM,
    SECRET,
    compete_for_token,
    wechat_platform,
    wechat_settings,
)

GRACE = 300


@pytest.fixture
def sandbox(r):
    wechat_platform(r)
    with running_sandbox() as (url, control, world):
        control.add_account(appid=APPID, secret=SECRET)
        yield url, control


def client(r, sandbox, **env) -> WeChatAPI:
    return WeChatAPI(r, KEYRING, PLATFORM, wechat_settings(sandbox[0], **env))


def issued(control, kind: str = "token") -> int:
    return control.account(APPID)["tokens"]["issued"][kind]


def secret_reads(r) -> int:
    return len(list(audit.records(r, action="credentials.read")))


def outside_fetch(url: str) -> str:
    """Another system fetching a plain token for the same account, as WeChat allows."""
    params = {"grant_type": "client_credential", "appid": APPID, "secret": SECRET}
    return requests.get(f"{url}/cgi-bin/token", params=params, timeout=10).json()["access_token"]


def test_token_is_fetched_once_and_shared(r, sandbox):
    """Calls reuse the stored token; only the fetch reveals the AppSecret (audited once)."""
    _, control = sandbox
    first, second = client(r, sandbox), client(r, sandbox)
    assert first.draft_count() == 0 and second.draft_count() == 0
    assert issued(control) == 1 and secret_reads(r) == 1
    [read] = audit.records(r, action="credentials.read")
    assert read["via"] == "system" and read["operator"] == "wechat"
    stored = r.hgetall(keys.wechat_token(APPID))
    assert stored[b"kind"] == b"token"
    assert 0 < r.ttl(keys.wechat_token(APPID)) <= 7200
    assert float(stored[b"refresh_at"]) == pytest.approx(float(stored[b"expires_at"]) - 300, 1)


def test_many_threads_cause_one_fetch(r, sandbox):
    """Sixteen threads needing a token at once: one fetch, all hold the same token."""
    _, control = sandbox
    api = client(r, sandbox)
    barrier = threading.Barrier(16)

    def need_token(_):
        barrier.wait(timeout=10)
        return api.tokens.current()

    with ThreadPoolExecutor(16) as pool:
        tokens = set(pool.map(need_token, range(16)))
    assert len(tokens) == 1 and issued(control) == 1 and secret_reads(r) == 1


def test_two_processes_cause_one_fetch(r, sandbox, redis_url):
    """Two worker processes with eight threads each: one fetch between them."""
    url, control = sandbox
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(2), context.Queue()
    processes = [
        context.Process(target=compete_for_token, args=(redis_url, url, 8, barrier, results))
        for _ in range(2)
    ]
    for process in processes:
        process.start()
    collected = [results.get(timeout=60) for _ in processes]
    for process in processes:
        process.join(timeout=30)
        assert process.exitcode == 0
    assert collected[0][0] == collected[1][0] and len(collected[0][0]) == 1
    assert all(counts == [0] * 8 for _, counts in collected)
    assert issued(control) == 1 and secret_reads(r) == 1


def test_stale_token_after_an_outside_refresh_is_refreshed_once(r, sandbox):
    """Someone else fetched a token and the grace period passed: 40001, one refresh, one retry."""
    url, control = sandbox
    api = client(r, sandbox)
    old = api.tokens.current()
    outside_fetch(url)
    control.advance_clock(GRACE + 1)
    assert api.draft_count() == 0
    assert issued(control) == 3  # ours, the outside one, our one refresh
    assert api.tokens.current() != old
    assert secret_reads(r) == 2


def test_concurrent_40001s_refresh_once(r, sandbox):
    """Eight threads refused with the same stale token cause one refresh between them."""
    url, control = sandbox
    api = client(r, sandbox)
    api.tokens.current()
    outside_fetch(url)
    control.advance_clock(GRACE + 1)
    barrier = threading.Barrier(8)

    def call(_):
        barrier.wait(timeout=10)
        return api.draft_count()

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(call, range(8))) == [0] * 8
    assert issued(control) == 3


def test_token_is_refreshed_ahead_of_expiry(r, sandbox):
    """Within the margin before expiry the next caller fetches a new token first."""
    _, control = sandbox
    api = client(r, sandbox)
    old = api.tokens.current()
    r.hset(keys.wechat_token(APPID), "refresh_at", "0")
    new = api.tokens.current()
    assert new != old and issued(control) == 2
    assert api.draft_count() == 0


def test_dead_holders_lock_expires(r, sandbox):
    """A lock left by a process that died mid-refresh expires, then a waiter fetches."""
    _, control = sandbox
    r.set(keys.wechat_token_lock(APPID), "a-dead-process", px=300)
    assert client(r, sandbox).draft_count() == 0
    assert issued(control) == 1


def test_lock_is_released_only_by_its_holder(r, sandbox):
    """After a refresh the lock is gone; someone else's lock is never deleted."""
    api = client(r, sandbox)
    api.tokens.current()
    assert not r.exists(keys.wechat_token_lock(APPID))
    r.set(keys.wechat_token_lock(APPID), "someone-else", px=60_000)
    Lease(r, keys.wechat_token_lock(APPID), 60).release()  # a lease that is not theirs
    assert r.get(keys.wechat_token_lock(APPID)) == b"someone-else"


def test_stable_token_where_configured(r, sandbox):
    """A platform listed in QIANFA_WECHAT_STABLE_TOKEN fetches with POST /cgi-bin/stable_token."""
    _, control = sandbox
    api = client(r, sandbox, stable_token=PLATFORM)
    assert api.draft_count() == 0
    assert issued(control, "stable") == 1 and issued(control, "token") == 0
    assert r.hget(keys.wechat_token(APPID), "kind") == b"stable"


def test_stable_token_refused_is_force_refreshed(r, sandbox):
    """A refused stable token that WeChat still hands out is rotated with force_refresh."""
    _, control = sandbox
    api = client(r, sandbox, stable_token="*")
    old = api.tokens.current()
    control.add_fault(endpoint="draft/count", action={"errcode": 40001}, times=1)
    assert api.draft_count() == 0
    assert api.tokens.current() != old
    assert issued(control, "stable") == 2 and secret_reads(r) == 2


def test_plain_and_stable_tokens_do_not_disturb_each_other(r, sandbox):
    """An outside plain-token fetch leaves a stable token working past the grace period."""
    url, control = sandbox
    api = client(r, sandbox, stable_token="*")
    api.tokens.current()
    outside_fetch(url)
    control.advance_clock(GRACE + 1)
    assert api.draft_count() == 0
    assert issued(control, "stable") == 1


def test_waiters_get_the_refreshed_token(r, sandbox):
    """While another process holds the lock, a caller does not fetch: it takes what is stored."""
    _, control = sandbox
    api = client(r, sandbox)
    lock = keys.wechat_token_lock(APPID)
    r.set(lock, "refreshing-elsewhere", px=30_000)
    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(api.tokens.current)
        r.hset(
            keys.wechat_token(APPID),
            mapping={"token": "stored-by-the-holder", "refresh_at": "9999999999"},
        )
        r.delete(lock)
        assert waiting.result(timeout=10) == "stored-by-the-holder"
    assert issued(control) == 0
