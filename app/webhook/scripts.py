"""The webhook's Lua scripts: each callback's Redis work in one round trip, atomically.

``FINGERPRINT`` is shared by the scripts that need it: a digest of what a process caches
about a platform (the sealed Token, EncodingAESKey and downstream token, the platform's
``updated_at`` and administrators). When it changes, the process reloads the platform and
reveals its secrets again; otherwise it never reads them.
"""

import hashlib

import redis


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

# KEYS: platform, admins, secrets, webhook config, nonce, dedup, binding, publish events,
#       the sender's chat session, the sender's 48-hour window (``app.contacts``).
# ARGV: fingerprint, nonce ttl, dedup ttl, kind ("message" | "publish" | "ack"),
#       then for "publish" the event's fields as name, value, name, value...,
#       for "message" the prefix and suffix of a person's role-set key, the time now,
#       "1" when the user wrote (an event opens no window), the window's length.
# Returns {"gone"} | {"inactive", status} | {"stale"} | {"replay"} | {"recorded"}
#       | {"dup", cached, person, default reply, forward url}
#       | {"new", "", person, default reply, forward url, grants, session}
# Nothing is written unless the callback is fresh: a refused one leaves Redis as it was.
# A bound sender's role grants and draft session come back with the binding, so the chat
# commands need no round trip of their own; the role-set key is built here from the bound
# person, which is fine on a single Redis (Qianfa does not run on Redis Cluster).
CLAIM = (
    FINGERPRINT
    + """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {'gone'} end
if status ~= 'active' then return {'inactive', status} end
if fingerprint(KEYS[1], KEYS[2], KEYS[3]) ~= ARGV[1] then return {'stale'} end
if not redis.call('SET', KEYS[5], '1', 'NX', 'EX', ARGV[2]) then return {'replay'} end
local cached = redis.call('GET', KEYS[6])
if ARGV[4] == 'publish' then
  if not cached then
    redis.call('XADD', KEYS[8], 'MAXLEN', '~', '100000', '*', unpack(ARGV, 5))
    redis.call('SET', KEYS[6], 'success', 'EX', ARGV[3])
  end
  return {'recorded'}
end
if ARGV[4] == 'ack' then
  if not cached then redis.call('SET', KEYS[6], 'success', 'EX', ARGV[3]) end
  return {'recorded'}
end
local config = redis.call('HMGET', KEYS[4], 'default_reply', 'forward_url')
local person = redis.call('GET', KEYS[7]) or ''
if cached then return {'dup', cached, person, config[1] or '', config[2] or ''} end
redis.call('SET', KEYS[6], 'pending', 'EX', ARGV[3])
if ARGV[8] == '1' then
  redis.call('HSET', KEYS[10], 'at', ARGV[7], 'used', '0')
  redis.call('EXPIRE', KEYS[10], ARGV[9])
end
local grants, session = {}, ''
if person ~= '' then
  grants = redis.call('SMEMBERS', ARGV[5] .. person .. ARGV[6])
  session = redis.call('GET', KEYS[9]) or ''
end
return {'new', '', person, config[1] or '', config[2] or '', grants, session}
"""
)

# KEYS: counters, this window's count, the previous window's count, forged count.
# ARGV: reason, window ttl, forged ("1" | "0"), forged threshold.
# Returns {refusals in this window, refusals of the previous window if this is the
# window's first, 1 when this refusal reaches the forged threshold}.
COUNT = """
redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
local n = redis.call('INCR', KEYS[2])
local previous = 0
if n == 1 then
  redis.call('EXPIRE', KEYS[2], ARGV[2])
  previous = tonumber(redis.call('GET', KEYS[3]) or '0')
end
local burst = 0
if ARGV[3] == '1' then
  local forged = redis.call('INCR', KEYS[4])
  if forged == 1 then redis.call('EXPIRE', KEYS[4], ARGV[2]) end
  if forged == tonumber(ARGV[4]) then burst = 1 end
end
return {n, previous, burst}
"""
