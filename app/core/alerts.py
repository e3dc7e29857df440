"""Escalation alerts for the propaganda department (党委宣传部).

An alert is queued in a Redis Stream, so it survives restarts and the console can list
what is open; the workers deliver it to every bound propaganda-department reviewer.
Raise one inside the transaction of the change that caused it (``queue_in``) so the
change and its alert land together, or on its own (``queue``) for events that change
nothing else, such as a burst of forged callbacks.
"""

import json
from dataclasses import dataclass

import redis

from app.core import keys
from app.core.store import Tx, decode, timestamp

KINDS = {
    "prohibited_content": "发现禁止发布的内容",
    "sensitive_draft": "稿件涉及重大事件、突发事件或社会敏感问题",
    "overdue_review": "审核超时",
    "publish_failed": "发布失败",
    "quota_exhausted": "接口调用额度用尽",
    "forged_callbacks": "大量伪造的微信回调",
    "platform_suspended": "平台已停用",
    "unsignable_draft": "稿件无人可以审核",
}
MAX_PENDING = 10_000


@dataclass(frozen=True)
class Alert:
    id: str
    kind: str
    message: str
    platform: str
    draft: str
    detail: dict
    at: str

    @property
    def title(self) -> str:
        return KINDS[self.kind]


def _fields(kind: str, message: str, platform: str, draft: str, detail: dict | None) -> dict:
    if kind not in KINDS:
        raise ValueError(f"unknown alert kind {kind!r}")
    return {
        "kind": kind,
        "message": message,
        "platform": platform,
        "draft": draft,
        "detail": json.dumps(detail or {}, ensure_ascii=False, sort_keys=True),
        "at": timestamp(),
    }


def queue_in(
    tx: Tx, kind: str, message: str, *, platform: str = "", draft: str = "", detail=None
) -> None:
    """Queue an alert as part of the caller's transaction."""
    fields = _fields(kind, message, platform, draft, detail)
    tx.write.xadd(keys.alerts(), fields, maxlen=MAX_PENDING, approximate=True)


def queue(
    r: redis.Redis, kind: str, message: str, *, platform: str = "", draft: str = "", detail=None
) -> str:
    fields = _fields(kind, message, platform, draft, detail)
    return r.xadd(keys.alerts(), fields, maxlen=MAX_PENDING, approximate=True).decode()


def recent(r: redis.Redis, count: int = 100) -> list[Alert]:
    """Newest first."""
    return [_alert(entry_id, raw) for entry_id, raw in r.xrevrange(keys.alerts(), count=count)]


def get(r: redis.Redis, alert_id: str) -> Alert | None:
    """One alert by its stream id, or None once the stream was capped past it."""
    found = r.xrange(keys.alerts(), min=alert_id, max=alert_id)
    return _alert(found[0][0], found[0][1]) if found else None


def _alert(entry_id: bytes, raw: dict) -> Alert:
    fields = decode(raw)
    return Alert(
        id=entry_id.decode(),
        kind=fields["kind"],
        message=fields["message"],
        platform=fields["platform"],
        draft=fields["draft"],
        detail=json.loads(fields["detail"]),
        at=fields["at"],
    )
