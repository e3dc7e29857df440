"""One-time bind codes: the only way a WeChat openid becomes a known person on a platform.

An operator issues a code for a person on a platform; the person sends ``绑定 <code>`` to
that platform's official account. A code works once and expires. Only its HMAC under a
key derived from the master key is stored, so a copy of Redis does not reveal codes that
are still valid, even to a brute-force search (rotating the master key voids open codes).
The binding records who the openid is; what that person may do is decided from their
stored roles each time. A person's first binding is their home binding (``set_home`` moves
it): ``reach`` tells them there about every platform they are not bound on, so that a
propaganda-department reviewer binds once, not on each of dozens of accounts.
"""

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

import redis

from app.core import audit, keys, validate
from app.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from app.core.masterkey import Keyring
from app.core.store import Tx, atomically, decode_set
from app.registry import access, people, platforms

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L: read aloud and typed on phones
LENGTH = 8


@dataclass(frozen=True)
class Binding:
    platform: str
    openid: str
    person: str
    roles: tuple[str, ...]


def digest(keyring: Keyring, code: str) -> str:
    return hmac.new(keyring.derive("bindcodes"), code.encode(), hashlib.sha256).hexdigest()


def normalize_code(raw) -> str:
    code = validate.normalize(raw if isinstance(raw, str) else "").upper().replace("-", "")
    code = code.replace(" ", "")
    if len(code) != LENGTH or any(ch not in ALPHABET for ch in code):
        raise InvalidInput("绑定码格式不对:应为 8 位字母数字,如 K7M2-Q9XA")
    return code


def roles_on(r: redis.Redis, person_id: str, platform_id: str) -> tuple[str, ...]:
    return access.roles_on(people.grants(r, person_id), platform_id)


def issue(
    r: redis.Redis, keyring: Keyring, actor: audit.Actor, person_id: str, platform_id: str, ttl: int
) -> str:
    """Issue a code for this person on this platform; shown once, stored only as a hash."""
    access.authorize(r, actor, (access.PROPAGANDA,), "签发绑定码")
    person = people.get(r, person_id)
    platform = platforms.get(r, platform_id)
    if platform.status == platforms.CLOSED:
        raise Conflict(f"平台 {platform.id} 已关闭")
    roles = roles_on(r, person.id, platform.id)
    if not roles:
        raise Forbidden(f"{person.name}({person.id})在平台 {platform.id} 上没有任何角色,无需绑定")
    code = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
    ticket = {"person": person.id, "platform": platform.id, "roles": list(roles)}

    def change(tx: Tx) -> str:
        tx.write.set(keys.bind_code(digest(keyring, code)), json.dumps(ticket), ex=ttl)
        audit.append(
            tx,
            actor,
            "bindcode.issue",
            subject=person.id,
            platform=platform.id,
            detail={"roles": list(roles), "ttl": ttl},
        )
        return code

    atomically(r, [], change)
    return f"{code[:4]}-{code[4:]}"


def redeem(
    r: redis.Redis, keyring: Keyring, platform_id: str, openid: str, raw_code: str
) -> Binding:
    """Bind ``openid`` on this platform to the person the code was issued for; once only."""
    platform_id, openid = platforms.platform_id(platform_id), validate.openid(openid)
    code_key = keys.bind_code(digest(keyring, normalize_code(raw_code)))

    def change(tx: Tx) -> Binding:
        raw = tx.read.get(code_key)
        if raw is None:
            raise NotFound("绑定码无效或已过期,请联系宣传部重新获取")
        ticket = json.loads(raw)
        if ticket["platform"] != platform_id:
            raise Conflict("此绑定码不是发给本公众号的,请在对应公众号中发送")
        person = ticket["person"]
        owner = tx.read.get(keys.binding(platform_id, openid))
        if owner is not None and owner.decode() != person:
            raise Conflict("此微信号已绑定其他人员,如需更换请联系宣传部解除绑定")
        previous = _bound_openids(tx, person, platform_id)
        tx.watch(keys.person_home(person))
        home = (tx.read.get(keys.person_home(person)) or b"").decode()
        tx.write.delete(code_key)
        for old in previous - {openid}:
            tx.write.delete(keys.binding(platform_id, old))
            tx.write.srem(keys.person_bindings(person), f"{platform_id}|{old}")
        tx.write.set(keys.binding(platform_id, openid), person)
        tx.write.sadd(keys.person_bindings(person), f"{platform_id}|{openid}")
        if not home or home.split("|", 1)[0] == platform_id:  # the first, or this one renewed
            tx.write.set(keys.person_home(person), f"{platform_id}|{openid}")
        actor = audit.Actor(via="chat", person=person, openid=openid)
        audit.append(
            tx,
            actor,
            "binding.create",
            platform=platform_id,
            detail={"roles": ticket["roles"], "replaced": sorted(previous - {openid})},
        )
        return Binding(platform_id, openid, person, tuple(ticket["roles"]))

    return atomically(r, [code_key, keys.binding(platform_id, openid)], change)


def _bound_openids(tx: Tx, person_id: str, platform_id: str) -> set[str]:
    entries = decode_set(tx.read.smembers(keys.person_bindings(person_id)))
    return {e.split("|", 1)[1] for e in entries if e.split("|", 1)[0] == platform_id}


def person_for(r: redis.Redis, platform_id: str, openid: str) -> str | None:
    """Who this openid is on this platform, from the stored binding; ``None`` for followers."""
    found = r.get(keys.binding(platforms.platform_id(platform_id), validate.openid(openid)))
    return found.decode() if found else None


def bindings_of(r: redis.Redis, person_id: str) -> list[tuple[str, str]]:
    entries = decode_set(r.smembers(keys.person_bindings(person_id)))
    return sorted(tuple(e.split("|", 1)) for e in entries)


def home_of(r: redis.Redis, person_id: str) -> tuple[str, str] | None:
    """The person's home binding: the one stored if it still holds, else their first."""
    bound = bindings_of(r, person_id)
    stored = (r.get(keys.person_home(person_id)) or b"").decode()
    chosen = tuple(stored.split("|", 1)) if stored else None
    return chosen if chosen in bound else (bound or [None])[0]


def reach(r: redis.Redis, person_id: str, platform_id: str) -> tuple[str, str] | None:
    """(platform, openid) where to tell a person about a platform: their binding on it, else
    their home binding; None when they are bound nowhere. Replies given there are answered
    from their stored roles, whichever account they come through."""
    here = [b for b in bindings_of(r, person_id) if b[0] == platform_id]
    return here[0] if here else home_of(r, person_id)


def set_home(r: redis.Redis, actor: audit.Actor, platform_id: str, openid: str) -> str:
    """Make this binding the person's home binding (the person, in chat); audited."""
    platform_id, openid = platforms.platform_id(platform_id), validate.openid(openid)
    key = keys.binding(platform_id, openid)

    def change(tx: Tx) -> str:
        person = tx.read.get(key)
        if person is None or person.decode() != actor.person:
            raise Forbidden("只能把自己在本公众号的绑定设为主绑定", code="not_bound")
        tx.write.set(keys.person_home(actor.person), f"{platform_id}|{openid}")
        audit.append(tx, actor, "binding.home", subject=actor.person, platform=platform_id)
        return actor.person

    return atomically(r, [key, keys.person_home(actor.person or "-")], change)


def unbind(r: redis.Redis, actor: audit.Actor, platform_id: str, openid: str, why: str) -> str:
    """Revoke a binding; the openid becomes an ordinary follower again."""
    access.authorize(r, actor, (access.PROPAGANDA,), "解除绑定")
    platform_id, openid = platforms.platform_id(platform_id), validate.openid(openid)
    why = platforms.reason(why)
    key = keys.binding(platform_id, openid)

    def change(tx: Tx) -> str:
        person = tx.read.get(key)
        if person is None:
            raise NotFound(f"平台 {platform_id} 上没有这个微信号的绑定")
        person = person.decode()
        tx.watch(keys.person_home(person))
        was_home = tx.read.get(keys.person_home(person)) == f"{platform_id}|{openid}".encode()
        tx.write.delete(key)
        tx.write.srem(keys.person_bindings(person), f"{platform_id}|{openid}")
        if was_home:
            tx.write.delete(keys.person_home(person))
        audit.append(
            tx,
            actor,
            "binding.revoke",
            subject=person,
            platform=platform_id,
            reason=why,
            detail={"openid": openid},
        )
        return person

    return atomically(r, [key], change)
