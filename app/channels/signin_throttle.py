"""Sign-in throttling that a stranger cannot turn into a lock-out of the real user.

Failures are counted per account-and-address pair and per address, never per account
alone: a flood of wrong passwords from one address slows only that address. After
``console_signin_attempts`` failures of a pair, each further try waits
``console_signin_delay`` seconds, doubled with every failure, at most
``console_signin_window``; past ``console_signin_address_attempts`` failures in a window
an address may not try at all. Each try is claimed by one atomic script *before* the
password is checked and counts as a failure until ``release`` says it succeeded, so the
limits are exact however many tries run in parallel.
"""

import time

import redis

from app.core import keys
from app.core.settings import Settings

ADDRESS_MAX = 64  # enough for any IPv6 text form; a longer value is not an address

# KEYS: pair failures (hash: fails, until), address failures (counter).
# ARGV: now, free tries per pair, address limit, window, first delay.
# Returns 0 when the try is claimed, else the seconds to wait.
CLAIM = """
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[4])
local spent = tonumber(redis.call('GET', KEYS[2]) or '0')
if spent >= tonumber(ARGV[3]) then return math.max(redis.call('TTL', KEYS[2]), 1) end
local wait = tonumber(redis.call('HGET', KEYS[1], 'until') or '0') - now
if wait > 0 then return wait end
local over = redis.call('HINCRBY', KEYS[1], 'fails', 1) - tonumber(ARGV[2])
local delay = 0
if over >= 0 then
  delay = math.min(tonumber(ARGV[5]) * 2 ^ math.min(over, 30), window)
  redis.call('HSET', KEYS[1], 'until', now + delay)
end
redis.call('EXPIRE', KEYS[1], window + delay)
if redis.call('INCR', KEYS[2]) == 1 then redis.call('EXPIRE', KEYS[2], window) end
return 0
"""

# KEYS: pair failures, address failures. A try that succeeded was no failure.
RELEASE = """
redis.call('DEL', KEYS[1])
if redis.call('DECR', KEYS[2]) <= 0 then redis.call('DEL', KEYS[2]) end
"""


def _keys(person_id: str, address: str) -> list[str]:
    address = address[:ADDRESS_MAX]
    return [
        keys.console_failures("pair", f"{person_id}|{address}"),
        keys.console_failures("addr", address),
    ]


def claim(r: redis.Redis, settings: Settings, person_id: str, address: str) -> int:
    """Claim one password check; 0 when granted, else how many seconds to wait."""
    args = [
        int(time.time()),
        settings.console_signin_attempts,
        settings.console_signin_address_attempts,
        settings.console_signin_window,
        settings.console_signin_delay,
    ]
    return int(r.register_script(CLAIM)(keys=_keys(person_id, address), args=args))


def release(r: redis.Redis, person_id: str, address: str) -> None:
    """Forget the pair's failures and give the address back the try that succeeded."""
    r.register_script(RELEASE)(keys=_keys(person_id, address))
