"""Access tokens shared by every Qianfa process through Redis (issue 5, item 7).

Each fetch of a plain ``/cgi-bin/token`` makes WeChat retire the previous token five
minutes later, so processes fetching their own would keep invalidating each other.
Here one Redis hash per AppID holds the token, its expiry and when to refresh it. When
it is missing, due for refresh or reported stale, one process refreshes it under a Redis
lock (``SET NX PX`` with a random value, deleted only by its holder) while the others
wait for the new token to appear; the fetch happens only under the lock, so two
refreshes never race.

The token is kept in Redis as plain text, as wechatpy's ``RedisStorage`` does: it lives
two hours and is worth less than access to Redis itself. It is never logged.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass

import redis

from app.core import keys
from app.core.errors import WeChatRetryable
from app.core.lease import Lease

POLL = 0.05  # seconds between looks at the hash while another process refreshes


@dataclass(frozen=True)
class Issued:
    """A token as WeChat handed it out: ``expires_in`` seconds from now."""

    value: str
    expires_in: int
    kind: str  # "token" (/cgi-bin/token) or "stable" (/cgi-bin/stable_token)

    def __repr__(self) -> str:
        return f"Issued(<token>, expires_in={self.expires_in}, kind={self.kind!r})"


# Fetch a new token from WeChat; its argument is the token WeChat just refused, if any.
Fetch = Callable[[str | None], Issued]


class TokenStore:
    """One account's shared access token: read from Redis, refreshed by one process at a time."""

    def __init__(
        self, r: redis.Redis, appid: str, fetch: Fetch, *, margin: int, lock_ttl: float
    ) -> None:
        self.r = r
        self.appid = appid
        self.fetch = fetch
        self.margin = margin
        self.lock_ttl = lock_ttl

    def current(self) -> str:
        """A token to call WeChat with, refreshed first when missing or near expiry."""
        return self._get(stale=None)

    def replace(self, stale: str) -> str:
        """A token other than ``stale``, which WeChat has just refused (40001/42001)."""
        return self._get(stale=stale)

    def forget(self) -> None:
        self.r.delete(keys.wechat_token(self.appid))

    def _cached(self, stale: str | None) -> str | None:
        """The stored token unless it is missing, the refused one, or due for refresh."""
        token, refresh_at = self.r.hmget(keys.wechat_token(self.appid), "token", "refresh_at")
        if token is None or refresh_at is None:
            return None
        value = token.decode()
        if value == stale or time.time() >= float(refresh_at):
            return None
        return value

    def _get(self, stale: str | None) -> str:
        token = self._cached(stale)
        if token:
            return token
        deadline = time.monotonic() + 2 * self.lock_ttl
        while True:
            lock = Lease(self.r, keys.wechat_token_lock(self.appid), self.lock_ttl)
            if lock.acquire():
                try:
                    # Someone may have refreshed between our read and our lock.
                    return self._cached(stale) or self._refresh(stale)
                finally:
                    lock.release()
            time.sleep(POLL)
            token = self._cached(stale)
            if token:
                return token
            if time.monotonic() >= deadline:
                raise WeChatRetryable("等待 access_token 刷新超时", endpoint="token")

    def _refresh(self, stale: str | None) -> str:
        issued = self.fetch(stale)
        now = time.time()
        expires_at = now + issued.expires_in
        # Refresh ``margin`` seconds early; a short-lived token at half its life.
        refresh_at = now + max(issued.expires_in - self.margin, issued.expires_in / 2)
        key = keys.wechat_token(self.appid)
        with self.r.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            pipe.hset(
                key,
                mapping={
                    "token": issued.value,
                    "kind": issued.kind,
                    "fetched_at": f"{now:.3f}",
                    "expires_at": f"{expires_at:.3f}",
                    "refresh_at": f"{refresh_at:.3f}",
                },
            )
            pipe.pexpireat(key, int(expires_at * 1000))
            pipe.execute()
        return issued.value
