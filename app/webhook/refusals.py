"""Refused callbacks: always counted, audited in bounded number, forged bursts alerted once.

Anyone can send refusals as fast as the network allows, and each audit record is a
transaction on the hash chain. So per platform and per window of
``QIANFA_WEBHOOK_REFUSAL_WINDOW`` seconds, the first ``QIANFA_WEBHOOK_AUDIT_REFUSALS``
refusals are audited in full (the last of them says that more will only be counted);
the first refusal of the next window adds one ``webhook.refusals_unrecorded`` record
with how many went unrecorded. The counters themselves are complete. A burst of
``QIANFA_WEBHOOK_FORGED_ALERT`` forged callbacks in one window queues one alert.
Callbacks for platforms that do not exist share the bucket ``_unknown``, so an attacker
cannot make Qianfa create keys of their choosing.
"""

import time
from dataclasses import dataclass

import redis

from app.core import alerts, audit, capped, keys
from app.core.errors import CallbackRefused
from app.core.store import decode
from app.webhook.scripts import COUNT

UNKNOWN = "_unknown"
ACTOR = audit.Actor.system("webhook")


@dataclass(frozen=True)
class Policy:
    window: int
    audit_first: int
    forged_alert: int


def record(
    r: redis.Redis,
    policy: Policy,
    platform_id: str | None,
    error: CallbackRefused,
    detail: dict,
) -> None:
    """Count one refusal; audit it while the window allows; alert on a forged burst."""
    bucket = platform_id or UNKNOWN
    window = int(time.time()) // policy.window
    count_keys = [
        keys.webhook_refusals(bucket),
        keys.webhook_refusal_window(bucket, window),
        keys.webhook_refusal_window(bucket, window - 1),
        keys.webhook_forged_window(bucket, window),
    ]
    args = [error.code, policy.window * 2, "1" if error.forged else "0", policy.forged_alert]
    count, previous, burst = r.register_script(COUNT)(keys=count_keys, args=args)
    platform = platform_id or ""
    detail = {"code": error.code, "status": error.status, **detail}
    capped.audit_counted(
        r,
        capped.Cap(policy.window, policy.audit_first),
        (count, previous),
        ACTOR,
        ("webhook.refused", "webhook.refusals_unrecorded"),
        detail,
        platform=platform,
        reason=error.message,
    )
    if burst:
        alerts.queue(
            r,
            "forged_callbacks",
            f"{policy.window} 秒内收到 {policy.forged_alert} 次签名无效的微信回调",
            platform=platform,
            detail={"count": policy.forged_alert, "window": policy.window},
        )


def counts(r: redis.Redis, platform_id: str) -> dict[str, int]:
    """Refusals of one platform by reason, since the counters were created."""
    return {k: int(v) for k, v in decode(r.hgetall(keys.webhook_refusals(platform_id))).items()}


def all_counts(r: redis.Redis, platform_ids: list[str]) -> dict[str, dict[str, int]]:
    """Refusal counters of every platform that has any, plus ``_unknown``."""
    with r.pipeline(transaction=False) as pipe:
        for bucket in [*platform_ids, UNKNOWN]:
            pipe.hgetall(keys.webhook_refusals(bucket))
        found = pipe.execute()
    return {
        bucket: {k: int(v) for k, v in decode(raw).items()}
        for bucket, raw in zip([*platform_ids, UNKNOWN], found, strict=True)
        if raw
    }
