"""WeChat's 48-hour window: when a user last wrote to an account, and what Qianfa sent since.

A customer-service message (客服消息) reaches a user only within 48 hours of their last
message to the account, and at most 5 times per message (WeChat's 2023 rule; 45015 and
45047 otherwise). The webhook's claim script does what ``touch`` does on every message a
user writes (events open no window), in the callback's one round trip; notifications
ask ``window_open`` before choosing a customer-service message over a template message.
"""

import redis

from app.core import keys, validate
from app.core.store import now
from app.registry import platforms

WINDOW = 48 * 3600
PER_MESSAGE = 5
# Leave a margin: the job that reads the window sends a moment later, on WeChat's clock.
MARGIN = 300


def touch(r: redis.Redis, platform_id: str, openid: str, *, at: float | None = None) -> None:
    """Record that ``openid`` just wrote to the account: the window opens again, unused."""
    key = keys.contact(platforms.platform_id(platform_id), validate.openid(openid))
    moment = now().timestamp() if at is None else at
    pipe = r.pipeline(transaction=True)
    pipe.hset(key, mapping={"at": moment, "used": 0})
    pipe.expire(key, WINDOW)
    pipe.execute()


def window_open(r: redis.Redis, platform_id: str, openid: str) -> bool:
    """Whether a customer-service message to ``openid`` can still go out now."""
    raw = r.hmget(keys.contact(platform_id, openid), "at", "used")
    if raw[0] is None:
        return False
    age = now().timestamp() - float(raw[0])
    return age < WINDOW - MARGIN and int(raw[1] or 0) < PER_MESSAGE


def used(r: redis.Redis, platform_id: str, openid: str) -> None:
    """Count one customer-service message sent in the current window."""
    key = keys.contact(platform_id, openid)
    if r.exists(key):
        r.hincrby(key, "used", 1)


def close(r: redis.Redis, platform_id: str, openid: str) -> None:
    """WeChat said the window is shut (45015/45047): use templates until the user writes."""
    r.delete(keys.contact(platform_id, openid))
