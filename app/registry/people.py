"""People (人员) and the roles granted to them.

Platform roles (administrator 管理员, first responsible person 第一责任人) change only
through ``platforms``, which keeps "exactly one responsible person, at least one
administrator" true. College-wide roles (propaganda-department reviewer 宣传部审核人,
leading-group member 领导小组成员) are granted here. ``access`` reads them.
"""

from dataclasses import dataclass

import redis

from app.core import audit, keys, validate
from app.core.errors import Conflict, InvalidInput, NotFound
from app.core.store import Tx, atomically, decode, decode_set, hashes, timestamp
from app.registry import access, units


@dataclass(frozen=True)
class Person:
    id: str
    name: str
    title: str
    phone: str
    email: str
    qq: str
    unit: str
    created_at: str


def create(
    r: redis.Redis,
    actor: audit.Actor,
    name: str,
    *,
    title: str = "",
    phone: str = "",
    email: str = "",
    qq: str = "",
    unit: str = "",
) -> Person:
    access.authorize(r, actor, (access.PROPAGANDA,), "登记人员")
    fields = {
        "name": validate.text(name, "姓名", max_len=32),
        "title": validate.text(title, "职务", max_len=32, required=False),
        "phone": validate.optional_pattern(phone, validate.PHONE, "联系电话"),
        "email": validate.optional_pattern(email, validate.EMAIL, "E-mail"),
        "qq": validate.optional_pattern(qq, validate.QQ, "QQ 号"),
        "unit": units.get(r, unit).id if unit else "",
    }

    def change(tx: Tx) -> Person:
        person = Person(id=tx.next_id("person", "P"), created_at=timestamp(), **fields)
        tx.write.hset(keys.person(person.id), mapping=person.__dict__)
        tx.write.sadd(keys.people(), person.id)
        audit.append(tx, actor, "person.create", subject=person.id, detail={"name": person.name})
        return person

    return atomically(r, [], change)


def get(r: redis.Redis, person_id: str) -> Person:
    person_id = validate.short_id(person_id, "P", "人员")
    raw = decode(r.hgetall(keys.person(person_id)))
    if not raw:
        raise NotFound(f"没有编号为 {person_id} 的人员")
    return Person(**raw)


def many(r: redis.Redis, person_ids) -> dict[str, Person]:
    """People by id in one round trip (a list names hundreds); ids not stored are left out."""
    return {pid: Person(**raw) for pid, raw in hashes(r, keys.person, person_ids).items()}


def all_people(r: redis.Redis) -> list[Person]:
    ids = sorted(decode_set(r.smembers(keys.people())), key=lambda i: int(i[1:]))
    return [get(r, person_id) for person_id in ids]


def grants(r: redis.Redis, person_id: str) -> set[str]:
    return decode_set(r.smembers(keys.person_roles(person_id)))


def write_grant(tx: Tx, person_id: str, grant: str) -> None:
    tx.write.sadd(keys.person_roles(person_id), grant)


def write_revoke(tx: Tx, person_id: str, grant: str) -> None:
    tx.write.srem(keys.person_roles(person_id), grant)


def college_role(role: str) -> str:
    role = validate.choice(role, access.ROLES, "角色")
    if role not in access.COLLEGE_ROLES:
        raise InvalidInput(
            f"「{access.ROLES[role]}」是平台角色,请通过平台的负责人/管理员设置来指定"
        )
    return role


def grant_college_role(r: redis.Redis, actor: audit.Actor, person_id: str, role: str) -> Person:
    """Make a person a propaganda-department reviewer or a leading-group member."""
    access.authorize(r, actor, (access.PROPAGANDA,), "授予全校角色")
    person, role = get(r, person_id), college_role(role)

    def change(tx: Tx) -> None:
        if tx.read.sismember(keys.person_roles(person.id), role):
            raise Conflict(f"{person.name}({person.id})已是{access.ROLES[role]}")
        write_grant(tx, person.id, role)
        audit.append(tx, actor, "role.grant", subject=person.id, detail={"role": role})

    atomically(r, [keys.person_roles(person.id)], change)
    return person


def revoke_college_role(r: redis.Redis, actor: audit.Actor, person_id: str, role: str) -> Person:
    access.authorize(r, actor, (access.PROPAGANDA,), "收回全校角色")
    person, role = get(r, person_id), college_role(role)

    def change(tx: Tx) -> None:
        if not tx.read.sismember(keys.person_roles(person.id), role):
            raise Conflict(f"{person.name}({person.id})不是{access.ROLES[role]}")
        write_revoke(tx, person.id, role)
        audit.append(tx, actor, "role.revoke", subject=person.id, detail={"role": role})

    atomically(r, [keys.person_roles(person.id)], change)
    return person
