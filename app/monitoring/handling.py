"""Who works the alerts, decided on the server from the stored roles.

The propaganda department handles alerts (art. 15: problems are 妥善处理) and the leading
group (领导小组) may too; the moves themselves are ``app.core.alertstate``'s. Chat and the
console both come through here, so the rule is written once.
"""

import redis

from app.core import alertstate, audit
from app.core.alerts import KINDS
from app.core.alertstate import Case
from app.registry import access

HANDLERS = (access.PROPAGANDA, access.LEADING_GROUP)


def may_handle(r: redis.Redis, person_id: str) -> bool:
    return any(access.has_role(r, person_id, role) for role in HANDLERS)


def open_cases(r: redis.Redis, actor: audit.Actor) -> list[Case]:
    access.authorize(r, actor, HANDLERS, "查看告警")
    return alertstate.open_cases(r)


def acknowledge(r: redis.Redis, actor: audit.Actor, number: str) -> Case:
    access.authorize(r, actor, HANDLERS, "认领告警")
    return alertstate.move(r, actor, number, "acknowledge")


def resolve(r: redis.Redis, actor: audit.Actor, number: str, note: str) -> Case:
    access.authorize(r, actor, HANDLERS, "处理告警")
    return alertstate.move(r, actor, number, "resolve", note)


def reopen(r: redis.Redis, actor: audit.Actor, number: str, note: str) -> Case:
    access.authorize(r, actor, HANDLERS, "重新打开告警")
    return alertstate.move(r, actor, number, "reopen", note)


def line(case: Case) -> str:
    """One case as a chat line: number, state, what, where."""
    where = f" · {case.platform}" if case.platform else ""
    title = KINDS.get(case.kind, case.kind)
    return f"{case.number}【{case.state_name}】{title}{where}:{case.message[:60]}"
