"""The webhook's Lua scripts: each callback's Redis work in one round trip, atomically.

``FINGERPRINT`` is shared by the scripts that need it: a digest of what a process caches
about a platform (the sealed Token, EncodingAESKey and downstream token, the platform's
``updated_at`` and administrators). When it changes, the process reloads the platform and
reveals its secrets again; otherwise it never reads them.
"""

import hashlib
import re

import redis

from app.core import capped, keys
from app.webhook import modes


class Script:
    """A Lua script run by its SHA-1, loaded on first use and again after a server restart.

    Leaner than redis-py's ``Script`` on the hot path: one EVALSHA, no argument wrappers.
    """

    def __init__(self, r: redis.Redis, source: str):
        self.r, self.source = r, source
        self.sha = hashlib.sha1(source.encode()).hexdigest()

    def __call__(self, keys: list[str], args: list) -> list:
        try:
            return self.r.execute_command("EVALSHA", self.sha, len(keys), *keys, *args)
        except redis.exceptions.NoScriptError:
            self.r.script_load(self.source)
            return self.r.execute_command("EVALSHA", self.sha, len(keys), *keys, *args)


FINGERPRINT = """
local function fingerprint(platform, admins, secrets)
  local sealed = redis.call('HMGET', secrets, 'token', 'encoding_aes_key', 'forward_token')
  local owners = redis.call('SMEMBERS', admins)
  table.sort(owners)
  local parts = {sealed[1] or '', sealed[2] or '', sealed[3] or '',
                 redis.call('HGET', platform, 'updated_at') or '', table.concat(owners, ',')}
  return redis.sha1hex(table.concat(parts, '|'))
end
"""

# KEYS: platform, admins, secrets.  Returns {status, fingerprint} or {} for no platform.
STATE = (
    FINGERPRINT
    + """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {} end
return {status, fingerprint(KEYS[1], KEYS[2], KEYS[3])}
"""
)


def lua_key(name: str, build, *params: str) -> str:
    """A Lua function ``name(params...)`` that builds the same key as ``build`` in ``keys``."""
    holes = [f"\x00{index}\x00" for index in range(len(params))]
    parts = re.split("\x00[0-9]+\x00", build(*holes))
    if not all(SAFE_PART.fullmatch(part) for part in parts):
        raise ValueError(f"key template for {name} is not plain text: {parts!r}")
    order = [int(found) for found in re.findall("\x00([0-9]+)\x00", build(*holes))]
    pieces = [f"'{parts[0]}'"]
    for index, part in zip(order, parts[1:], strict=True):
        pieces += [params[index], f"'{part}'"]
    body = " .. ".join(piece for piece in pieces if piece != "''")
    return f"local function {name}({', '.join(params)}) return {body} end\n"


SAFE_PART = re.compile(r"[A-Za-z0-9:_.-]*")

# The claim script builds its key names from the platform id, openid, nonce and dedup
# digest it is given, with the same templates as ``app.core.keys`` (generated from them here):
# fewer arguments to pack per callback. Scripts may do so only on a single Redis, which is
# what Qianfa runs on (not Redis Cluster, where every key must be passed in KEYS).
CLAIM_KEYS = "".join(
    [
        lua_key("k_platform", keys.platform, "pid"),
        lua_key("k_admins", keys.platform_admins, "pid"),
        lua_key("k_secrets", keys.platform_secrets, "pid"),
        lua_key("k_config", keys.webhook_config, "pid"),
        lua_key("k_nonce", keys.webhook_nonce, "pid", "ts", "nonce"),
        lua_key("k_dedup", keys.webhook_dedup, "pid", "digest"),
        lua_key("k_binding", keys.binding, "pid", "openid"),
        lua_key("k_session", keys.chat_session, "pid", "openid"),
        lua_key("k_contact", keys.contact, "pid", "openid"),
        lua_key("k_roles", keys.person_roles, "person"),
        f"local PUBLISH_EVENTS = '{keys.publish_events()}'\n",
        f"local DEFAULT_MODE = '{modes.DEFAULT}'\n",
    ]
)

# No KEYS (see above).
# ARGV: platform id, timestamp, nonce, dedup digest, sender's openid, fingerprint,
#       nonce ttl, dedup ttl, kind ("message" | "publish" | "ack"),
#       the mode the callback arrived in (``modes``),
#       then for "publish" the event's fields as name, value, name, value...,
#       for "message" the time now, "1" when the user wrote (an event opens no window),
#       the 48-hour window's length (``app.notify.window``).
# Returns {"gone"} | {"inactive", status} | {"stale"} | {"mismatch", configured mode}
#       | {"replay"} | {"recorded"}
#       | {"dup", cached, person, default reply, forward url}
#       | {"new", "", person, default reply, forward url, grants, session}
# Nothing is written unless the callback is fresh and in the platform's mode: a refused
# one leaves Redis as it was. The mode comes from the same read as the follower settings.
# A bound sender's role grants and draft session come back with the binding, so the chat
# commands need no round trip of their own.
CLAIM = (
    FINGERPRINT
    + CLAIM_KEYS
    + """
local pid, openid = ARGV[1], ARGV[5]
local platform = k_platform(pid)
local status = redis.call('HGET', platform, 'status')
if not status then return {'gone'} end
if status ~= 'active' then return {'inactive', status} end
if fingerprint(platform, k_admins(pid), k_secrets(pid)) ~= ARGV[6] then return {'stale'} end
local config = redis.call('HMGET', k_config(pid), 'default_reply', 'forward_url', 'mode')
local mode = config[3] or DEFAULT_MODE
if mode ~= ARGV[10] then return {'mismatch', mode} end
if not redis.call('SET', k_nonce(pid, ARGV[2], ARGV[3]), '1', 'NX', 'EX', ARGV[7]) then
  return {'replay'}
end
local dedup = k_dedup(pid, ARGV[4])
local cached = redis.call('GET', dedup)
if ARGV[9] == 'publish' then
  if not cached then
    redis.call('XADD', PUBLISH_EVENTS, 'MAXLEN', '~', '100000', '*', unpack(ARGV, 11))
    redis.call('SET', dedup, 'success', 'EX', ARGV[8])
  end
  return {'recorded'}
end
if ARGV[9] == 'ack' then
  if not cached then redis.call('SET', dedup, 'success', 'EX', ARGV[8]) end
  return {'recorded'}
end
local person = redis.call('GET', k_binding(pid, openid)) or ''
if cached then return {'dup', cached, person, config[1] or '', config[2] or ''} end
redis.call('SET', dedup, 'pending', 'EX', ARGV[8])
if ARGV[12] == '1' then
  local contact = k_contact(pid, openid)
  redis.call('HSET', contact, 'at', ARGV[11], 'used', '0')
  redis.call('EXPIRE', contact, ARGV[13])
end
local grants, session = {}, ''
if person ~= '' then
  grants = redis.call('SMEMBERS', k_roles(person))
  session = redis.call('GET', k_session(pid, openid)) or ''
end
return {'new', '', person, config[1] or '', config[2] or '', grants, session}
"""
)

# KEYS: counters, this window's count, the previous window's count, forged count.
# ARGV: reason, window ttl, forged ("1" | "0"), forged threshold.
# Returns {refusals in this window, refusals of the previous window if this is the
# window's first, 1 when this refusal reaches the forged threshold}.
COUNT = (
    capped.COUNT_LUA
    + """
local burst = 0
if ARGV[3] == '1' then
  local forged = redis.call('INCR', KEYS[4])
  if forged == 1 then redis.call('EXPIRE', KEYS[4], ARGV[2]) end
  if forged == tonumber(ARGV[4]) then burst = 1 end
end
return {n, previous, burst}
"""
)
