"""Units (单位): the college's colleges, departments, leagues, unions and clubs (art. 2)."""

from dataclasses import dataclass

import redis

from app.core import audit, keys, validate
from app.core.errors import Conflict, NotFound
from app.core.store import Tx, atomically, decode, hashes, timestamp
from app.registry import access

KINDS = {
    "secondary_college": "二级学院(部)",
    "department": "职能部门",
    "research_institute": "科研机构",
    "party_org": "党组织",
    "youth_league": "团组织",
    "student_union": "学生会",
    "student_club": "学生社团",
    "teacher_club": "教师社团",
    "trade_union": "工会",
    "propaganda": "党委宣传部",
    "information_centre": "信息中心",
    "other": "其他",
}
NAME_MAX = 64


@dataclass(frozen=True)
class Unit:
    id: str
    name: str
    kind: str
    created_at: str

    @property
    def kind_label(self) -> str:
        return KINDS[self.kind]


def create(r: redis.Redis, actor: audit.Actor, name: str, kind: str) -> Unit:
    access.authorize(r, actor, (access.PROPAGANDA,), "登记单位")
    name = validate.text(name, "单位名称", max_len=NAME_MAX)
    kind = validate.choice(kind, KINDS, "单位类型")

    def change(tx: Tx) -> Unit:
        if tx.read.hexists(keys.unit_names(), name):
            raise Conflict(f"已有名为「{name}」的单位")
        unit = Unit(tx.next_id("unit", "U"), name, kind, timestamp())
        tx.write.hset(keys.unit(unit.id), mapping=unit.__dict__)
        tx.write.sadd(keys.units(), unit.id)
        tx.write.hset(keys.unit_names(), name, unit.id)
        audit.append(tx, actor, "unit.create", detail={"unit": unit.id, "name": name, "kind": kind})
        return unit

    return atomically(r, [keys.units(), keys.unit_names()], change)


def get(r: redis.Redis, unit_id: str) -> Unit:
    unit_id = validate.short_id(unit_id, "U", "单位")
    raw = decode(r.hgetall(keys.unit(unit_id)))
    if not raw:
        raise NotFound(f"没有编号为 {unit_id} 的单位")
    return Unit(**raw)


def many(r: redis.Redis, unit_ids) -> dict[str, Unit]:
    """Units by id in one round trip; ids not stored are left out."""
    return {uid: Unit(**raw) for uid, raw in hashes(r, keys.unit, unit_ids).items()}


def all_units(r: redis.Redis) -> list[Unit]:
    ids = sorted((m.decode() for m in r.smembers(keys.units())), key=lambda i: int(i[1:]))
    return [get(r, unit_id) for unit_id in ids]
