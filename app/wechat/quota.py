"""The quota pause: after 45009 a platform publishes nothing until WeChat's quota resets.

WeChat's daily quotas reset at midnight Beijing time (``QIANFA_WECHAT_QUOTA_RESET``). The
pause is one Redis key with a TTL until then, so it ends by itself; publish jobs check
``is_paused`` and ``WeChatAPI`` refuses publishing steps while it lasts.
"""

import json
from datetime import datetime, timedelta

import redis

from app.core import alerts, audit, keys
from app.core.store import Tx, atomically, now, timestamp
from app.core.validate import CHINA_TIME

ACTOR = audit.Actor.system("wechat")


def next_reset(moment: datetime, at: str) -> datetime:
    """The first ``at`` (HH:MM, Beijing time) after ``moment``, when daily quotas reset."""
    hour, minute = map(int, at.split(":"))
    local = moment.astimezone(CHINA_TIME)
    reset = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if reset <= local:
        reset += timedelta(days=1)
    return reset


def pause(r: redis.Redis, platform_id: str, *, endpoint: str, until: datetime) -> bool:
    """Pause the platform's publishing until ``until``; True if this call paused it.

    The pause, its audit record and the one ``quota_exhausted`` alert land together, and
    only the first of many workers hitting 45009 at once creates them.
    """
    key = keys.wechat_paused(platform_id)
    ttl_ms = max(1000, int((until - now()).total_seconds() * 1000))
    shown = until.astimezone(CHINA_TIME).strftime("%m-%d %H:%M")
    detail = {"endpoint": endpoint, "until": timestamp(until)}

    def change(tx: Tx) -> bool:
        if tx.read.exists(key):
            return False
        tx.write.set(key, json.dumps({**detail, "since": timestamp()}), px=ttl_ms)
        message = f"平台 {platform_id} 今日微信接口额度已用完({endpoint}),发布暂停至 {shown}"
        alerts.queue_in(tx, "quota_exhausted", message, platform=platform_id, detail=detail)
        audit.append(tx, ACTOR, "wechat.quota_exhausted", platform=platform_id, detail=detail)
        return True

    return atomically(r, [key], change)


def is_paused(r: redis.Redis, platform_id: str) -> bool:
    """Whether the platform's publishing waits for its WeChat quota to reset."""
    return bool(r.exists(keys.wechat_paused(platform_id)))


def paused_until(r: redis.Redis, platform_id: str) -> str | None:
    raw = r.get(keys.wechat_paused(platform_id))
    return json.loads(raw)["until"] if raw else None
