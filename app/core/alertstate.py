"""Handling an alert to the end (art. 15: problems are reported and 妥善处理).

Every alert opens a case (``keys.alert_case``, written with the alert by
``app.core.alerts``): open → acknowledged (who, when) → resolved with a handling note
(处理说明); a resolved case can be reopened. Each change is audited in the same
transaction. Who may handle alerts is decided by the callers (``app.monitoring.handling``);
this module only holds the states and their moves.
"""

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass

import redis

from app.core import alerts, audit, keys
from app.core.alerts import KINDS
from app.core.errors import Conflict, InvalidInput, NotFound
from app.core.store import Tx, atomically, decode, timestamp

OPEN, ACKNOWLEDGED, RESOLVED = "open", "acknowledged", "resolved"
STATES = {OPEN: "待处理", ACKNOWLEDGED: "已认领", RESOLVED: "已处理"}
# (state now, move) -> state after; anything else is refused.
TRANSITIONS = {
    (OPEN, "acknowledge"): ACKNOWLEDGED,
    (OPEN, "resolve"): RESOLVED,
    (ACKNOWLEDGED, "resolve"): RESOLVED,
    (RESOLVED, "reopen"): OPEN,
}
NOTE_MAX = 500


@dataclass(frozen=True)
class Case:
    number: str
    kind: str
    message: str
    platform: str
    draft: str
    at: str
    state: str
    by: str = ""
    acknowledged_at: str = ""
    resolved_at: str = ""
    note: str = ""
    detail: str = "{}"

    @property
    def is_open(self) -> bool:
        return self.state != RESOLVED

    @property
    def title(self) -> str:
        return KINDS.get(self.kind, self.kind)

    @property
    def state_name(self) -> str:
        return STATES[self.state]

    @property
    def details(self) -> dict:
        """What the alert named (article id, title, URL ...), as it was raised."""
        try:
            found = json.loads(self.detail or "{}")
        except ValueError:
            return {}
        return found if isinstance(found, dict) else {}


def _case(raw: dict[str, str]) -> Case:
    known = {name: raw.get(name, "") for name in Case.__dataclass_fields__}
    return Case(**known)


def number(raw) -> str:
    text = str(raw or "").strip().upper()
    if not (text.startswith("A") and text[1:].isdigit()):
        raise InvalidInput(f"告警编号应为 A 加数字,例如 A12,收到 {str(raw)[:20]!r}")
    return text


def get(r: redis.Redis, raw_number: str) -> Case:
    found = decode(r.hgetall(keys.alert_case(number(raw_number))))
    if not found:
        raise NotFound(f"没有告警 {number(raw_number)}")
    return _case(found)


def open_cases(r: redis.Redis, limit: int = 200) -> list[Case]:
    """Unresolved cases, oldest first (what waits longest is handled first)."""
    return _cases(r, [n.decode() for n in r.zrange(keys.alerts_open(), 0, limit - 1)])


def all_cases(r: redis.Redis, limit: int = 200) -> list[Case]:
    """The newest cases in any state, newest first."""
    last = int(r.get(keys.sequence("alert")) or 0)
    return _cases(r, [f"A{n}" for n in range(last, max(0, last - limit), -1)])


def every_open(r: redis.Redis, batch: int) -> Iterator[Case]:
    """Every unresolved case, oldest first, ``batch`` at a time."""
    return _walk(r, keys.alerts_open(), batch)


def raised_on(r: redis.Redis, day: str, batch: int) -> Iterator[Case]:
    """Every case raised on a Beijing day (``alerts.day_of``), ``batch`` at a time from the
    day's index: the cost grows with that day's alerts, not with the alert history."""
    return _walk(r, keys.alerts_day(day), batch)


def _walk(r: redis.Redis, index: str, batch: int) -> Iterator[Case]:
    start = 0
    while names := [n.decode() for n in r.zrange(index, start, start + batch - 1)]:
        yield from _cases(r, names)
        start += batch


def _cases(r: redis.Redis, names: list[str]) -> list[Case]:
    with r.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.hgetall(keys.alert_case(name))
        found = pipe.execute()
    return [_case(decode(raw)) for raw in found if raw]


def reindex_days(r: redis.Redis, batch: int = 1000) -> int:
    """Index every case under its day (``raised_on``), for cases raised before the index
    existed (after an upgrade); how many were indexed."""
    last, indexed = int(r.get(keys.sequence("alert")) or 0), 0
    for first in range(1, last + 1, batch):
        names = [f"A{n}" for n in range(first, min(last, first + batch - 1) + 1)]
        with r.pipeline(transaction=False) as pipe:
            for case in _cases(r, names):
                if case.at:
                    day = keys.alerts_day(alerts.day_of(case.at))
                    pipe.zadd(day, {case.number: int(case.number[1:])})
                    pipe.expire(day, alerts.DAY_KEPT)
                    indexed += 1
            pipe.execute()
    return indexed


def move(r: redis.Redis, actor: audit.Actor, raw_number: str, action: str, note: str = "") -> Case:
    """Acknowledge, resolve or reopen a case, audited; a move the state forbids is refused."""
    name = number(raw_number)
    note = " ".join(str(note or "").split())[:NOTE_MAX]
    if action in ("resolve", "reopen") and not note:
        raise InvalidInput("请写明处理说明" if action == "resolve" else "请写明重新打开的原因")
    key = keys.alert_case(name)

    def change(tx: Tx) -> Case:
        current = read_in(tx, name)
        if current is None:
            raise NotFound(f"没有告警 {name}")
        return move_in(tx, actor, current, action, note)

    return atomically(r, [key], change)


def read_in(tx: Tx, name: str) -> Case | None:
    """A case read (and watched) in the caller's transaction."""
    key = keys.alert_case(name)
    tx.watch(key)
    raw = decode(tx.read.hgetall(key))
    return _case(raw) if raw else None


def move_in(tx: Tx, actor: audit.Actor, current: Case, action: str, note: str) -> Case:
    """Queue one move of a case read with ``read_in``, with its audit record."""
    after = TRANSITIONS.get((current.state, action))
    if after is None:
        raise Conflict(f"告警 {current.number} {current.state_name},不能{ACTION_NAMES[action]}")
    fields = _fields(actor, action, after, note)
    tx.write.hset(keys.alert_case(current.number), mapping=fields)
    if after == RESOLVED:
        tx.write.zrem(keys.alerts_open(), current.number)
    elif after == OPEN:
        tx.write.zadd(keys.alerts_open(), {current.number: time.time()})
    audit.append(
        tx,
        actor,
        f"alert.{action}",
        subject=current.number,
        platform=current.platform,
        draft=current.draft,
        decision=after,
        reason=note,
        detail={"kind": current.kind},
    )
    return Case(**{**current.__dict__, **fields})


ACTION_NAMES = {"acknowledge": "认领", "resolve": "处理", "reopen": "重新打开"}


def _fields(actor: audit.Actor, action: str, after: str, note: str) -> dict[str, str]:
    who = actor.person or actor.operator
    at = timestamp()
    if action == "acknowledge":
        return {"state": after, "by": who, "acknowledged_at": at}
    if action == "resolve":
        return {"state": after, "by": who, "resolved_at": at, "note": note}
    return {"state": after, "by": who, "resolved_at": "", "note": note}
