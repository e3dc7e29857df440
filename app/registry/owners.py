"""Changing a platform's first responsible person or administrators (art. 6, 13).

Before a platform runs, a change amends it at once. Once it runs, a change is a re-filing:
it is attached, as the owners proposed, to the platform's open re-filing form, and the
current owners stay in charge until that form's chain completes (``filings.sign_step``
hands the platform over in the same change); a refused form discards it.
"""

from dataclasses import dataclass

import redis

from app.core import audit, keys, validate
from app.core.errors import Conflict
from app.core.store import Tx, atomically
from app.registry import access, filings, people, platforms


@dataclass(frozen=True)
class OwnerChange:
    platform: platforms.Platform
    filing: filings.Filing | None  # the re-filing the change waits on; None if made at once


def set_responsible(r: redis.Redis, actor: audit.Actor, raw_id: str, person_id: str, why: str):
    """Name a new first responsible person."""
    new = people.get(r, person_id).id

    def proposed(owners: dict, pid: str) -> dict:
        if owners["responsible"] == new:
            raise Conflict(f"{new} 已是平台 {pid} 的第一责任人")
        return {**owners, "responsible": new}

    return _change(r, actor, raw_id, why, "变更平台负责人", proposed)


def add_admin(r: redis.Redis, actor: audit.Actor, raw_id: str, person_id: str, why: str):
    person = people.get(r, person_id).id

    def proposed(owners: dict, pid: str) -> dict:
        if person in owners["admins"]:
            raise Conflict(f"{person} 已是平台 {pid} 的管理员")
        return {**owners, "admins": sorted({*owners["admins"], person})}

    return _change(r, actor, raw_id, why, "变更平台管理员", proposed)


def remove_admin(r: redis.Redis, actor: audit.Actor, raw_id: str, person_id: str, why: str):
    person = validate.short_id(person_id, "P", "人员")

    def proposed(owners: dict, pid: str) -> dict:
        if person not in owners["admins"]:
            raise Conflict(f"{person} 不是平台 {pid} 的管理员")
        return {**owners, "admins": [a for a in owners["admins"] if a != person]}

    return _change(r, actor, raw_id, why, "变更平台管理员", proposed)


def _change(r, actor, raw_id: str, why: str, what: str, proposed) -> OwnerChange:
    access.authorize(r, actor, (access.PROPAGANDA,), what)
    pid, why = platforms.platform_id(raw_id), platforms.reason(why)

    def change(tx: Tx) -> OwnerChange:
        current = platforms.read_in(tx, pid)
        if current.status == platforms.CLOSED:
            raise Conflict(f"平台 {pid} 已关闭,不能再变更人员(第十七条)")
        if current.status == platforms.FILING:
            owners = proposed(platforms.owners_of(current), pid)
            platforms.check_owners(owners)
            return OwnerChange(platforms.write_owners_in(tx, actor, current, owners, why), None)
        waiting = filings.open_refiling_in(tx, pid)
        base = (waiting.pending if waiting else None) or platforms.owners_of(current)
        owners = proposed({k: base[k] for k in ("responsible", "admins")}, pid)
        platforms.check_owners(owners)
        filing = filings.write_pending_in(tx, actor, current, owners, why)
        detail = {"filing": filing.id, "before": platforms.owners_of(current), "after": owners}
        audit.append(tx, actor, "platform.refiling", platform=pid, reason=why, detail=detail)
        return OwnerChange(current, filing)

    return atomically(r, [keys.platform(pid), keys.platform_admins(pid)], change)
