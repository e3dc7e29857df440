"""Escalation to the propaganda department: raise alerts for events, and deliver the
queued alerts (``app.core.alerts``) to every bound propaganda-department reviewer.

Identical alerts (same kind, platform and draft) within ``QIANFA_ALERT_FOLD_WINDOW`` are
folded: the first is delivered at once, because it may be urgent; those that follow only
count, and when the window closes one message says how many more there were.
"""

import json
from collections.abc import Callable

import redis

from app.core import alerts, keys
from app.core.alerts import Alert
from app.core.errors import WeChatRetryable
from app.core.store import Tx, atomically
from app.drafts import lifecycle, review
from app.notify import deliver as notify
from app.notify.deliver import Notice
from app.registry import access, people

FOLD_MINUTES_MIN = 1
# Atomically: the first alert of a window takes the fold key; the others count under it.
FOLD_SCRIPT = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return '' end
local leader = redis.call('GET', KEYS[1])
if leader == false then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return ''
end
if leader == ARGV[1] then return '' end
redis.call('HINCRBY', KEYS[2], leader, 1)
return leader
"""


def raise_for_event(r: redis.Redis, record: dict[str, str], kind: str) -> bool:
    """Queue the alert an audit record calls for, once however often the job runs."""
    claim = keys.notified(f"alert:{kind}:{record['id']}")
    message = event_message(record, kind) if kind != UNSIGNABLE else unsignable_message(r, record)
    if not message:
        return False

    def change(tx: Tx) -> bool:
        if tx.read.exists(claim):
            return False
        tx.write.set(claim, "raised", ex=notify.KEEP)
        alerts.queue_in(
            tx, kind, message, platform=record.get("platform", ""), draft=record.get("draft", "")
        )
        return True

    return atomically(r, [claim], change)


UNSIGNABLE = "unsignable_draft"


def unsignable_message(r: redis.Redis, record: dict[str, str]) -> str:
    """Why a draft that entered review can never be approved; '' when someone else can."""
    current = review.state(r, record["draft"])
    if current.draft.status != lifecycle.IN_REVIEW:
        return ""
    missing = review.unsignable(r, current)
    if not missing:
        return ""
    who = "、".join(review.SIGNOFFS[signoff] for signoff in missing)
    return (
        f"平台 {current.draft.platform} 的稿件 {current.draft.id} 须经{who}审核,"
        "但有此资格的只有作者本人,无人能审核通过。请指定其他审核人(第十四条:先审后发)。"
    )


def event_message(record: dict[str, str], kind: str) -> str:
    detail = json.loads(record.get("detail") or "{}")
    platform, draft = record.get("platform", ""), record.get("draft", "")
    if kind == "platform_suspended":
        why = record.get("reason") or "(未说明)"
        return f"平台 {platform} 已停用:{why}。停用期间不发布任何稿件(第十七条)。"
    if kind == "platform_closed":
        why = record.get("reason") or "(未说明)"
        return f"平台 {platform} 已关闭:{why}。其未发布的稿件已全部撤回并通知作者(第十七条)。"
    flags = [detail["flag"]] if detail.get("flag") else detail.get("flags", [])
    topics = "、".join(lifecycle.FLAGS.get(flag, flag) for flag in flags) or "敏感问题"
    return f"平台 {platform} 的稿件 {draft} 涉及{topics},须经党委宣传部审核后方可发布(第十一条)。"


def overdue(r: redis.Redis, draft: lifecycle.Draft, waited_hours: float) -> bool:
    """Raise one ``overdue_review`` alert for the draft's current version."""
    claim = keys.notified(f"alert:overdue_review:{draft.id}:{draft.content_hash}")
    message = (
        f"平台 {draft.platform} 的稿件 {draft.id}(第 {draft.version} 版)"
        f"已等待审核 {waited_hours:.0f} 小时,仍未审核完毕。"
    )

    def change(tx: Tx) -> bool:
        if tx.read.exists(claim):
            return False
        tx.write.set(claim, "raised", ex=notify.KEEP)
        detail = {"version": draft.version, "hours": round(waited_hours, 1)}
        alerts.queue_in(
            tx, "overdue_review", message, platform=draft.platform, draft=draft.id, detail=detail
        )
        return True

    return atomically(r, [claim], change)


def refiling_overdue(r: redis.Redis, filing, waited_days: float) -> bool:
    """Raise one ``refiling_overdue`` alert for an open re-filing form (art. 6: 及时)."""
    claim = keys.notified(f"alert:refiling_overdue:{filing.id}")
    message = (
        f"平台 {filing.platform} 的变更备案表 {filing.id} 已发起 {waited_days:.0f} 天仍未审批完成;"
        "变更的负责人或管理员在审批完成前不生效(第六条)。"
    )

    def change(tx: Tx) -> bool:
        if tx.read.exists(claim):
            return False
        tx.write.set(claim, "raised", ex=notify.KEEP)
        alerts.queue_in(tx, "refiling_overdue", message, platform=filing.platform)
        return True

    return atomically(r, [claim], change)


# --- delivery ------------------------------------------------------------------------------


def propaganda_reviewers(r: redis.Redis) -> list[str]:
    return [p.id for p in people.all_people(r) if access.has_role(r, p.id, access.PROPAGANDA)]


def fold(r: redis.Redis, alert: Alert, window: int) -> str:
    """ "" when ``alert`` opens a fold window (deliver it now), else the id of the first
    alert of the window it was counted under."""
    if window <= 0:
        return ""
    counted = keys.notified(f"alert-counted:{alert.id}")
    if not r.set(counted, "1", nx=True, ex=max(2 * window, 60)):
        leader = r.get(keys.alert_fold(alert.kind, alert.platform, alert.draft))
        return "" if leader is None or leader.decode() == alert.id else leader.decode()
    key = keys.alert_fold(alert.kind, alert.platform, alert.draft)
    leader = r.eval(FOLD_SCRIPT, 2, key, keys.alert_fold_counts(), alert.id, window * 1000)
    return leader.decode() if isinstance(leader, bytes) else leader


def deliver(r: redis.Redis, api_for: Callable, alert: Alert, *, count: int = 0) -> dict:
    """Send the alert (or, with ``count``, the fold summary) to every propaganda reviewer."""
    notice = alert_notice(alert, count)
    outcomes, passing = {}, []
    for person in propaganda_reviewers(r):
        try:
            outcomes[person] = notify.tell(r, api_for, person, alert.platform, notice)
        except WeChatRetryable as error:
            passing.append(error)
    if passing:
        raise passing[0]
    return outcomes


def take_fold_count(r: redis.Redis, leader_id: str) -> int:
    """How many alerts were folded under ``leader_id``; the count is consumed."""
    with r.pipeline(transaction=True) as pipe:
        pipe.hget(keys.alert_fold_counts(), leader_id)
        pipe.hdel(keys.alert_fold_counts(), leader_id)
        raw, _ = pipe.execute()
    return int(raw or 0)


def alert_notice(alert: Alert, count: int = 0) -> Notice:
    where = " · ".join(
        part for part in (f"平台 {alert.platform}" if alert.platform else "",
                          f"稿件 {alert.draft}" if alert.draft else "") if part
    )  # fmt: skip
    if count:
        text = (
            f"【告警汇总 · {alert.title}】同类告警在此后又出现 {count} 次"
            f"(共 {count + 1} 次)。{where}\n最初一条:{alert.message}"
        )
        return Notice(
            purpose="alert-fold",
            token=alert.id,
            text=notify.fit(text),
            headline=f"{alert.title}(又 {count} 次)",
            subject=where or "全校",
            reply=alert.message,
            draft=alert.draft,
        )
    text = f"【告警 · {alert.title}】{alert.message}" + (f"\n{where}" if where else "")
    return Notice(
        purpose="alert",
        token=alert.id,
        text=notify.fit(text),
        headline=alert.title,
        subject=where or "全校",
        reply=alert.message,
        draft=alert.draft,
    )
