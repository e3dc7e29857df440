"""A Redis lease: redis-py's ``Lock`` used without blocking, as the right to some work.

``Lock`` keeps the guarantees a lease needs: ``SET NX PX`` with a random token, and renew
and release through scripts that act only while the token still matches, so a holder
whose lease lapsed can neither extend nor delete the next holder's. The token is shared
by the threads of the holder (``thread_local=False``): a lease is one job's, not one
thread's. What this adds is the lease's vocabulary: ``renew`` and ``release`` answer
instead of raising when the lease was lost, since losing it is an outcome, not a fault.
"""

import redis
from redis.exceptions import LockError
from redis.lock import Lock


class Lease:
    """The right to the work named by ``key``, for ``seconds`` at a time."""

    def __init__(self, r: redis.Redis, key: str, seconds: float):
        self.key = key
        self._lock = Lock(r, key, timeout=max(0.001, seconds), blocking=False, thread_local=False)

    def acquire(self) -> bool:
        return self._lock.acquire()

    def renew(self) -> bool:
        """Extend the lease to its full time again; False if it lapsed and may be another's."""
        try:
            return self._lock.reacquire()
        except LockError:
            return False

    def release(self) -> None:
        """Give the lease up; a lease that already lapsed is left to whoever holds it now."""
        try:
            self._lock.release()
        except LockError:
            pass
