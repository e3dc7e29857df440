"""Escalation alerts for the propaganda department (党委宣传部).

An alert is queued in a Redis Stream, so it survives restarts and the console can list
what is open; the workers deliver it to every bound propaganda-department reviewer.
Raise one inside the transaction of the change that caused it (``queue_in``) so the
change and its alert land together, or on its own (``queue``) for events that change
nothing else, such as a burst of forged callbacks. A change that must tell someone the
new alert's number reserves it in its read phase (``reserve``): the result of a command
queued in MULTI is known only after EXEC.
"""

import json
from dataclasses import dataclass
from datetime import datetime

import redis

from app.core import entries, keys
from app.core.clock import BEIJING
from app.core.store import Tx, timestamp

KINDS = {
    "prohibited_content": "发现禁止发布的内容",
    "sensitive_draft": "稿件涉及重大事件、突发事件或社会敏感问题",
    "overdue_review": "审核超时",
    "publish_failed": "发布失败",
    "quota_exhausted": "接口调用额度用尽",
    "forged_callbacks": "大量伪造的微信回调",
    "platform_suspended": "平台已停用",
    "audit_broken": "审计记录校验失败",
    "unreviewed_publication": "发现未经审核发布的文章",
    "published_changed": "已发布的文章被改动",
    "published_differs": "发布内容与审核版本不一致",
    "online_content": "已发布的文章发现问题内容",
    "refiling_overdue": "变更备案久未完成",
    "unsignable_draft": "稿件无人可以审核",
    "problem_report": "收到问题举报",
    "follower_reply_blocked": "转发服务器的回复含禁止内容,已拦截",
    "platform_closed": "平台已关闭",
}
MAX_PENDING = 10_000
DAY_KEPT = 400 * 86400  # how long the index of a day's alerts is kept (the daily report)
# One round trip inside the caller's MULTI: number the alert (A1, A2 ...) unless the
# transaction reserved its number (ARGV[2]), append it to the stream, open its case
# (``app.core.alertstate``), which outlives the capped stream, and index it under its day
# (KEYS[5], kept ARGV[3] seconds).
QUEUE_SCRIPT = """
local number = ARGV[2]
if number == '' then number = 'A' .. redis.call('INCR', KEYS[1]) end
local fields = {}
for i = 4, #ARGV do fields[#fields + 1] = ARGV[i] end
fields[#fields + 1] = 'number'
fields[#fields + 1] = number
local id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[1], '*', unpack(fields))
fields[#fields + 1] = 'id'
fields[#fields + 1] = id
fields[#fields + 1] = 'state'
fields[#fields + 1] = 'open'
redis.call('HSET', KEYS[4] .. number, unpack(fields))
redis.call('ZADD', KEYS[3], redis.call('TIME')[1], number)
redis.call('ZADD', KEYS[5], tonumber(string.sub(number, 2)), number)
redis.call('EXPIRE', KEYS[5], ARGV[3])
return id
"""


@dataclass(frozen=True)
class Alert:
    id: str
    kind: str
    message: str
    platform: str
    draft: str
    detail: dict
    at: str
    number: str = ""

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


def reserve(tx: Tx) -> str:
    """The number of an alert this transaction will raise (read phase; a refused change
    uses none). Every later ``queue_in`` of the transaction numbers from here too."""
    return tx.next_id("alert", "A")


def queue_in(
    tx: Tx,
    kind: str,
    message: str,
    *,
    platform: str = "",
    draft: str = "",
    detail=None,
    number: str = "",
) -> None:
    """Queue an alert as part of the caller's transaction (numbered ``number`` if reserved)."""
    key = keys.sequence("alert")
    if not number and key in tx.sequences:  # numbers reserved: count on from them
        tx.sequences[key] += 1
        number = f"A{tx.sequences[key]}"
    _queue(tx.write, _fields(kind, message, platform, draft, detail), number)


def queue(
    r: redis.Redis, kind: str, message: str, *, platform: str = "", draft: str = "", detail=None
) -> str:
    found = _queue(r, _fields(kind, message, platform, draft, detail), "")
    return found.decode() if isinstance(found, bytes) else found


def _queue(client, fields: dict, number: str):
    day = keys.alerts_day(day_of(fields["at"]))
    names = (keys.sequence("alert"), keys.alerts(), keys.alerts_open(), keys.alert_case(""), day)
    flat = [part for pair in fields.items() for part in pair]
    return client.eval(QUEUE_SCRIPT, len(names), *names, MAX_PENDING, number, DAY_KEPT, *flat)


def day_of(at: str) -> str:
    """The Beijing day (``YYYY-MM-DD``) of an alert's ``at``: the day it is reported on."""
    return datetime.fromisoformat(at).astimezone(BEIJING).date().isoformat()


def recent(r: redis.Redis, count: int = 100) -> list[Alert]:
    """Newest first, of the last ``count`` entries those that are readable alerts."""
    found = (_alert(entry_id, raw) for entry_id, raw in r.xrevrange(keys.alerts(), count=count))
    return [alert for alert in found if alert is not None]


def get(r: redis.Redis, alert_id: str) -> Alert | None:
    """One alert by its stream id; None once the stream was capped past it, or when the
    entry is not an alert ``queue`` wrote (``entries``: skipped, logged, counted)."""
    found = r.xrange(keys.alerts(), min=alert_id, max=alert_id)
    return _alert(found[0][0], found[0][1]) if found else None


def _alert(entry_id: bytes, raw: dict) -> Alert | None:
    fields = entries.text(keys.alerts(), entry_id, raw)
    if fields is None:
        return None
    try:
        alert = Alert(
            id=entry_id.decode(),
            kind=fields["kind"],
            message=fields["message"],
            platform=fields["platform"],
            draft=fields["draft"],
            detail=json.loads(fields["detail"]),
            at=fields["at"],
            number=fields.get("number", ""),
        )
    except (KeyError, ValueError):
        alert = None
    if alert is None or alert.kind not in KINDS or not isinstance(alert.detail, dict):
        entries.skipped(keys.alerts(), entry_id, entries.MALFORMED)
        return None
    return alert
