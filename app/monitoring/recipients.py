"""Who hears of an alert besides the propaganda department, from the stored units and roles.

- The platform's supervising unit (art. 12: 主管单位) hears of every alert about the
  platforms it supervises: its people who hold a role in Qianfa.
- The leading group (art. 5: 校园网络舆情管理领导小组) hears of an alert left open longer
  than ``QIANFA_ALERT_ESCALATE_AFTER``, once per opening (a reopened alert counts anew).

Delivery is ``app.notify.deliver``'s: once per person and notice, audited.
"""

import time
from collections.abc import Callable

import redis

from app.core import alertstate, audit, keys
from app.core.alerts import Alert
from app.core.errors import NotFound, WeChatRetryable
from app.core.store import Tx, atomically
from app.notify import deliver, escalation
from app.notify.deliver import Notice
from app.registry import access, people, platforms

ACTOR = audit.Actor.system("monitor")


def supervisors(r: redis.Redis, platform_id: str) -> list[str]:
    """People of the platform's supervising unit who hold a role (the propaganda
    department aside: it hears of every alert anyway)."""
    try:
        unit = platforms.get(r, platform_id).supervising_unit
    except NotFound:
        return []
    told = set(escalation.propaganda_reviewers(r))
    return [
        person.id
        for person in people.all_people(r)
        if person.unit == unit and person.id not in told and people.grants(r, person.id)
    ]


def leading_group(r: redis.Redis) -> list[str]:
    return [p.id for p in people.all_people(r) if access.has_role(r, p.id, access.LEADING_GROUP)]


def tell_supervisors(r: redis.Redis, api_for: Callable, alert: Alert) -> dict[str, str]:
    """The supervising unit hears of an alert about a platform it supervises."""
    if not alert.platform:
        return {}
    return _tell(r, api_for, supervisors(r, alert.platform), alert.platform, _notice(alert))


def overdue(r: redis.Redis, after: int, moment: float | None = None) -> list[tuple[str, float]]:
    """Open alerts (number, opened at) waiting longer than ``after`` seconds."""
    until = (moment or time.time()) - after
    found = r.zrangebyscore(keys.alerts_open(), "-inf", until, withscores=True)
    return [(name.decode(), score) for name, score in found]


def escalate(r: redis.Redis, api_for: Callable, after: int) -> dict[str, dict]:
    """Send every alert open longer than ``after`` to the leading group, once per opening."""
    outcomes = {}
    members = leading_group(r)
    for number, opened in overdue(r, after):
        case = alertstate.get(r, number)
        _claim(r, case, opened, after)
        notice = _overdue_notice(case, opened)  # delivered once per person (deliver's claim)
        outcomes[number] = _tell(r, api_for, members, case.platform, notice)
    return outcomes


def _token(case: alertstate.Case, opened: float) -> str:
    return f"{case.number}:{int(opened)}"


def _claim(r: redis.Redis, case: alertstate.Case, opened: float, after: int) -> bool:
    """Record the escalation of this opening once (audited); False when already done."""
    claim = keys.notified(f"alert-escalated:{_token(case, opened)}")

    def change(tx: Tx) -> bool:
        if tx.read.exists(claim):
            return False
        tx.write.set(claim, "escalated", ex=deliver.KEEP)
        audit.append(
            tx,
            ACTOR,
            "alert.escalate",
            subject=case.number,
            platform=case.platform,
            draft=case.draft,
            decision="leading_group",
            reason=f"告警超过 {after // 3600} 小时未处理",
            detail={"kind": case.kind, "opened": int(opened)},
        )
        return True

    return atomically(r, [claim], change)


def _tell(r, api_for, persons: list[str], platform_id: str, notice: Notice) -> dict[str, str]:
    outcomes, passing = {}, []
    for person in persons:
        try:
            outcomes[person] = deliver.tell(r, api_for, person, platform_id, notice)
        except WeChatRetryable as error:
            passing.append(error)
    if passing:
        raise passing[0]
    return outcomes


def _notice(alert: Alert) -> Notice:
    """The alert as the propaganda department gets it, for the supervising unit."""
    return escalation.alert_notice(alert)


def _overdue_notice(case: alertstate.Case, opened: float) -> Notice:
    hours = (time.time() - opened) / 3600
    where = f"平台 {case.platform}" if case.platform else "全校"
    text = (
        f"【告警超时未处理 · {case.title}】{case.number} 已 {hours:.0f} 小时未处理"
        f"({case.state_name}),报领导小组。{where}\n{case.message}"
    )
    return Notice(
        purpose="alert-overdue",
        token=_token(case, opened),
        text=deliver.fit(text),
        headline=f"告警 {case.number} 超时未处理",
        subject=where,
        reply=case.message,
        draft=case.draft,
    )
