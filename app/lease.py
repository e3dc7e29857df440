"""A Redis lease: a key set with ``NX`` and an expiry, holding a random token.

Only the holder, who knows the token, can renew or delete it, so a holder whose lease
lapsed cannot release the next holder's.
"""

import uuid

import redis

RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""
RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""


class Lease:
    """The right to the work named by ``key``, for ``seconds`` at a time."""

    def __init__(self, r: redis.Redis, key: str, seconds: float):
        self.r, self.key = r, key
        self.ms = max(1, int(seconds * 1000))
        self.token = uuid.uuid4().hex

    def acquire(self) -> bool:
        return bool(self.r.set(self.key, self.token, nx=True, px=self.ms))

    def renew(self) -> bool:
        """Extend the lease; False if it lapsed and someone else may hold it."""
        return bool(self.r.eval(RENEW, 1, self.key, self.token, self.ms))

    def release(self) -> None:
        self.r.eval(RELEASE, 1, self.key, self.token)
