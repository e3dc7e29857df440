"""Refusals anyone can cause: always counted, audited in full only up to a cap per window.

A stranger can cause refusals as fast as the network allows, and each audit record is a
transaction on the hash chain. So per bucket and per window of ``Cap.window`` seconds the
first ``Cap.audit_first`` refusals are audited in full (the last of them says that more
will only be counted); the first refusal of the next window adds one record with how many
went unrecorded. The counters by reason are complete. The webhook and the console's
refusals before sign-in both go through here.
"""

import time
from dataclasses import dataclass

import redis

from app.core import audit

# KEYS: counters by reason (hash), this window's count, the previous window's count.
# ARGV: reason, window TTL. Leaves ``n`` (this window) and ``previous`` (the previous
# window's count, on the first refusal of a window only) for the caller's script to return.
COUNT_LUA = """
redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
local n = redis.call('INCR', KEYS[2])
local previous = 0
if n == 1 then
  redis.call('EXPIRE', KEYS[2], ARGV[2])
  previous = tonumber(redis.call('GET', KEYS[3]) or '0')
end
"""
COUNT = COUNT_LUA + "return {n, previous}\n"


@dataclass(frozen=True)
class Cap:
    window: int
    audit_first: int


def window_keys(cap: Cap, totals: str, window_key) -> list[str]:
    """The script's keys: ``window_key(n)`` names the counter of window number ``n``."""
    window = int(time.time()) // cap.window
    return [totals, window_key(window), window_key(window - 1)]


def count(r: redis.Redis, cap: Cap, totals: str, window_key, reason: str) -> tuple[int, int]:
    """Count one refusal; returns (its number in this window, the previous window's excess)."""
    found = r.register_script(COUNT)(
        keys=window_keys(cap, totals, window_key), args=[reason, cap.window * 2]
    )
    return int(found[0]), int(found[1])


def audit_counted(
    r: redis.Redis,
    cap: Cap,
    counted: tuple[int, int],
    who: audit.Actor,
    actions: tuple[str, str],
    detail: dict,
    **fields,
) -> None:
    """Audit a counted refusal in full while its window allows; report the last window's excess.

    ``actions`` names the full record and the unrecorded-count record; ``fields`` (such as
    ``platform``) go on both, except ``reason``, which only the full record carries.
    """
    number, previous = counted
    where = {k: v for k, v in fields.items() if k != "reason"}
    if previous > cap.audit_first:
        unrecorded = {"unrecorded": previous - cap.audit_first, "window": cap.window}
        audit.record(r, who, actions[1], detail=unrecorded, **where)
    if number <= cap.audit_first:
        if number == cap.audit_first:
            detail = {**detail, "more_counted_only": True}
        audit.record(r, who, actions[0], detail=detail, **fields)
