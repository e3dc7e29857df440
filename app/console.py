"""Console accounts: passwords, signed-in sessions, sign-in limits and who sees which platform.

A person with a password may sign in to the web console. Passwords are stored only as
werkzeug scrypt hashes. A session lives in Redis under the SHA-256 of its cookie value
and expires after ``console_idle_timeout`` seconds without a request; it carries its own
CSRF token. Failed sign-ins are counted per account and per client address, and past
either limit sign-in is refused until the window passes. Nothing here imports Flask.
"""

import hashlib
import hmac
import secrets
from dataclasses import dataclass

import redis
from werkzeug.security import check_password_hash, generate_password_hash

from app import access, audit, keys, people, platforms
from app.errors import Forbidden, InvalidInput, QianfaError
from app.settings import Settings
from app.store import Tx, atomically, decode, timestamp

PASSWORD_MIN, PASSWORD_MAX = 10, 128
FIRST_ACCOUNT_NAME = "宣传部管理员"
# Compared against when the account does not exist, so both answers take as long.
_NO_ACCOUNT_HASH = generate_password_hash("no account has this password")


class TooManyAttempts(QianfaError):
    """Sign-in refused until the window of failed attempts has passed."""

    status = 429
    code = "too_many_attempts"


@dataclass(frozen=True)
class Session:
    token: str
    person: str
    csrf: str
    must_change: bool


def actor(person_id: str, address: str = "") -> audit.Actor:
    return audit.Actor(via="console", person=person_id, operator=address)


def check_new_password(password: str) -> str:
    if not isinstance(password, str) or not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise InvalidInput(f"密码长度应为 {PASSWORD_MIN}–{PASSWORD_MAX} 个字符", field="password")
    if password.strip() != password or len(set(password)) < 4:
        raise InvalidInput("密码不能以空格开头或结尾,且不能过于简单", field="password")
    return password


def has_password(r: redis.Redis, person_id: str) -> bool:
    return bool(r.hexists(keys.console_password(person_id), "hash"))


def set_password(
    r: redis.Redis, who: audit.Actor, person_id: str, password: str, *, must_change: bool = False
) -> None:
    """Give a person console access, or a new password; the propaganda department does this."""
    access.authorize(r, who, (access.PROPAGANDA,), "设置控制台密码")
    person = people.get(r, person_id)
    _store_password(r, who, person.id, check_new_password(password), must_change)


def change_own_password(r: redis.Redis, person_id: str, old: str, new: str) -> None:
    """Replace one's own password, after checking the current one."""
    stored = decode(r.hgetall(keys.console_password(person_id)))
    if not stored or not check_password_hash(stored["hash"], old or ""):
        raise InvalidInput("当前密码不对", field="old_password")
    if old == new:
        raise InvalidInput("新密码不能与当前密码相同", field="password")
    _store_password(r, actor(person_id), person_id, check_new_password(new), False)


def _store_password(r, who: audit.Actor, person_id: str, password: str, must_change: bool):
    hashed = generate_password_hash(password)

    def change(tx: Tx) -> None:
        tx.write.hset(
            keys.console_password(person_id),
            mapping={"hash": hashed, "must_change": int(must_change), "set_at": timestamp()},
        )
        detail = {"must_change": must_change}
        audit.append(tx, who, "console.password", subject=person_id, detail=detail)

    atomically(r, [], change)


def sign_in(
    r: redis.Redis, settings: Settings, raw_person: str, password: str, address: str
) -> Session:
    """Check a password within the attempt limits; every success and failure is audited."""
    person_id = (raw_person or "").strip().upper()[:16]
    counters = [keys.console_failures("account", person_id), keys.console_failures("addr", address)]
    limits = [settings.console_signin_attempts, settings.console_signin_address_attempts]
    if any(int(r.get(key) or 0) >= limit for key, limit in zip(counters, limits, strict=True)):
        _failed(r, person_id, address, "too_many_attempts", counters, settings, count=False)
        raise TooManyAttempts("登录失败次数过多,请稍后再试")
    stored = decode(r.hgetall(keys.console_password(person_id))) if person_id else {}
    if not check_password_hash(stored.get("hash", _NO_ACCOUNT_HASH), password or "") or not stored:
        _failed(r, person_id, address, "bad_password", counters, settings)
        raise Forbidden("人员编号或密码不对", code="bad_signin")
    r.delete(counters[0])
    token = secrets.token_urlsafe(32)
    session = Session(token, person_id, secrets.token_urlsafe(32), stored["must_change"] == "1")
    key = keys.console_session(_digest(token))

    def change(tx: Tx) -> Session:
        tx.write.hset(
            key,
            mapping={
                "person": person_id,
                "csrf": session.csrf,
                "must_change": int(session.must_change),
                "created_at": timestamp(),
            },
        )
        tx.write.expire(key, settings.console_idle_timeout)
        audit.append(tx, actor(person_id, address), "console.signin", subject=person_id)
        return session

    return atomically(r, [], change)


def _failed(r, person_id, address, why, counters, settings: Settings, *, count=True) -> None:
    if count:
        with r.pipeline() as pipe:
            for key in counters:
                pipe.incr(key)
                pipe.expire(key, settings.console_signin_window, nx=True)
            pipe.execute()
    known = bool(person_id) and r.sismember(keys.people(), person_id)
    who = actor(person_id if known else "", address)
    detail = {"account": person_id[:16], "why": why}
    audit.record(r, who, "console.signin_failed", subject=person_id if known else "", detail=detail)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def session(r: redis.Redis, settings: Settings, token: str) -> Session | None:
    """The live session of a cookie, kept alive for another idle period; None when expired."""
    if not token:
        return None
    key = keys.console_session(_digest(token))
    stored = decode(r.hgetall(key))
    if not stored:
        return None
    r.expire(key, settings.console_idle_timeout)
    return Session(token, stored["person"], stored["csrf"], stored["must_change"] == "1")


def password_changed(r: redis.Redis, token: str) -> None:
    r.hset(keys.console_session(_digest(token)), "must_change", 0)


def sign_out(r: redis.Redis, current: Session, address: str = "") -> None:
    def change(tx: Tx) -> None:
        tx.write.delete(keys.console_session(_digest(current.token)))
        audit.append(tx, actor(current.person, address), "console.signout")

    atomically(r, [], change)


def csrf_ok(current: Session, sent: str | None) -> bool:
    """Compare the form's token with the session's in constant time."""
    return bool(sent) and hmac.compare_digest(current.csrf.encode(), str(sent).encode())


def sees_all(r: redis.Redis, person_id: str) -> bool:
    """The propaganda department and the leading group see every platform (art. 5, 13)."""
    return any(access.has_role(r, person_id, role) for role in access.COLLEGE_ROLES)


def visible_platforms(r: redis.Redis, person_id: str) -> list[platforms.Platform]:
    everything = platforms.all_platforms(r)
    if sees_all(r, person_id):
        return everything
    grants = people.grants(r, person_id)
    return [p for p in everything if access.roles_on(grants, p.id)]


def platform_for(r: redis.Redis, person_id: str, raw_id: str) -> platforms.Platform:
    """A platform the person's stored roles cover; refused (not hidden) otherwise."""
    platform = platforms.get(r, raw_id)
    if sees_all(r, person_id) or access.roles_on(people.grants(r, person_id), platform.id):
        return platform
    raise Forbidden(f"你的角色不涉及平台 {platform.id}", code="other_platform")


def ensure_first_account(r: redis.Redis) -> tuple[str, str] | None:
    """Create the first propaganda-department account once; its password is returned once."""
    if not r.set(keys.console_first_account(), "creating", nx=True):
        return None
    system = audit.Actor.system("console-setup")
    try:
        person = people.create(r, system, FIRST_ACCOUNT_NAME, title="控制台管理员")
        people.grant_college_role(r, system, person.id, access.PROPAGANDA)
        password = secrets.token_urlsafe(12)
        set_password(r, system, person.id, password, must_change=True)
    except (QianfaError, redis.RedisError):
        r.delete(keys.console_first_account())
        raise
    r.set(keys.console_first_account(), person.id)
    return person.id, password
