"""Console accounts: passwords, signed-in sessions, sign-in limits and who sees which platform.

A person with a password may sign in to the web console. Passwords are stored only as
werkzeug scrypt hashes. A session lives in Redis under the SHA-256 of its cookie value
and expires after ``console_idle_timeout`` seconds without a request; it carries its own
CSRF token, made at sign-in, and the person's password generation: a password change or
reset bumps the generation and so ends every other session of the person. Sign-in tries
are throttled by ``signin_throttle``; refusals before sign-in go through ``capped``.
Nothing here imports Flask.
"""

import hashlib
import hmac
import math
import secrets
from dataclasses import dataclass

import redis
from itsdangerous import BadSignature, TimestampSigner
from werkzeug.security import check_password_hash, generate_password_hash

from app.channels import signin_throttle
from app.core import audit, capped, keys
from app.core.errors import Forbidden, InvalidInput, QianfaError
from app.core.settings import Settings
from app.core.store import Tx, atomically, decode, timestamp
from app.registry import access, people, platforms

PASSWORD_MIN, PASSWORD_MAX = 10, 128
FIRST_ACCOUNT_NAME = "宣传部管理员"
# Compared against when the account does not exist, so both answers take as long.
_NO_ACCOUNT_HASH = generate_password_hash("no account has this password")
REFUSAL_ACTIONS = ("console.refused", "console.refusals_unrecorded")
SIGNIN_FORM_PURPOSE = "console-signin-form"


class TooManyAttempts(QianfaError):
    """Sign-in refused until the delay earned by failed attempts has passed."""

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


def change_own_password(r: redis.Redis, current: "Session", old: str, new: str) -> None:
    """Replace one's own password, after checking the current one; other sessions end."""
    stored = decode(r.hgetall(keys.console_password(current.person)))
    if not stored or not check_password_hash(stored["hash"], old or ""):
        raise InvalidInput("当前密码不对", field="old_password")
    if old == new:
        raise InvalidInput("新密码不能与当前密码相同", field="password")
    password = check_new_password(new)
    _store_password(r, actor(current.person), current.person, password, False, keep=current)


def _store_password(r, who, person_id: str, password: str, must_change: bool, keep=None):
    """Store the hash and bump the generation, which ends every session but ``keep``."""
    hashed = generate_password_hash(password)
    generation_key = keys.console_generation(person_id)
    kept = keys.console_session(_digest(keep.token)) if keep else ""

    def change(tx: Tx) -> None:
        tx.watch(generation_key, *([kept] if kept else []))
        generation = int(tx.read.get(generation_key) or 0) + 1
        keep_alive = bool(kept) and tx.read.exists(kept)
        tx.write.hset(
            keys.console_password(person_id),
            mapping={"hash": hashed, "must_change": int(must_change), "set_at": timestamp()},
        )
        tx.write.set(generation_key, generation)
        if keep_alive:
            tx.write.hset(kept, mapping={"must_change": 0, "generation": generation})
        detail = {"must_change": must_change, "other_sessions_ended": True}
        audit.append(tx, who, "console.password", subject=person_id, detail=detail)

    atomically(r, [], change)


def sign_in(
    r: redis.Redis,
    settings: Settings,
    raw_person: str,
    password: str,
    address: str,
    replaces: str = "",
) -> Session:
    """Check a password within the throttle; the session of ``replaces`` (a cookie) ends.

    A new cookie and CSRF token are made here, whatever the browser sent before.
    """
    person_id = (raw_person or "").strip().upper()[:16]
    wait = signin_throttle.claim(r, settings, person_id, address)
    if wait:
        _throttled(r, settings, person_id, address)
        raise TooManyAttempts(f"登录失败次数过多,请 {math.ceil(wait / 60)} 分钟后再试")
    stored = decode(r.hgetall(keys.console_password(person_id))) if person_id else {}
    if not check_password_hash(stored.get("hash", _NO_ACCOUNT_HASH), password or "") or not stored:
        _failed(r, person_id, address)
        raise Forbidden("人员编号或密码不对", code="bad_signin")
    signin_throttle.release(r, person_id, address)
    return _open_session(r, settings, person_id, stored["must_change"] == "1", address, replaces)


def _open_session(r, settings: Settings, person_id, must_change, address, replaces) -> Session:
    session = Session(secrets.token_urlsafe(32), person_id, secrets.token_urlsafe(32), must_change)
    key = keys.console_session(_digest(session.token))

    def change(tx: Tx) -> Session:
        generation = int(tx.read.get(keys.console_generation(person_id)) or 0)
        if replaces:
            tx.write.delete(keys.console_session(_digest(replaces)))
        tx.write.hset(
            key,
            mapping={
                "person": person_id,
                "csrf": session.csrf,
                "must_change": int(must_change),
                "generation": generation,
                "created_at": timestamp(),
            },
        )
        tx.write.expire(key, settings.console_idle_timeout)
        audit.append(tx, actor(person_id, address), "console.signin", subject=person_id)
        return session

    return atomically(r, [keys.console_generation(person_id)], change)


def _failed(r, person_id: str, address: str) -> None:
    """Audit a wrong password in full: the throttle already bounds how many there can be."""
    who, subject = _signin_actor(r, person_id, address)
    detail = {"account": person_id[:16], "why": "bad_password"}
    audit.record(r, who, "console.signin_failed", subject=subject, detail=detail)


def _throttled(r, settings: Settings, person_id: str, address: str) -> None:
    """Count a throttled try; audited only up to the cap, like other refusals before sign-in."""
    who, subject = _signin_actor(r, person_id, address)
    detail = {"account": person_id[:16], "why": "too_many_attempts"}
    counted = _count_refusal(r, settings, "too_many_attempts")
    actions = ("console.signin_failed", REFUSAL_ACTIONS[1])
    capped.audit_counted(r, _cap(settings), counted, who, actions, detail, subject=subject)


def _signin_actor(r, person_id: str, address: str) -> tuple[audit.Actor, str]:
    """Name the account only when it exists, so a stranger cannot write any name in."""
    known = bool(person_id) and bool(r.sismember(keys.people(), person_id))
    return actor(person_id if known else "", address), person_id if known else ""


def _cap(settings: Settings) -> capped.Cap:
    return capped.Cap(settings.console_refusal_window, settings.console_audit_refusals)


def _count_refusal(r, settings: Settings, why: str) -> tuple[int, int]:
    cap = _cap(settings)
    return capped.count(r, cap, keys.console_refusals(), keys.console_refusal_window, why)


def refused(r: redis.Redis, settings: Settings, who: audit.Actor, detail: dict) -> None:
    """Audit a refused request: in full once signed in, capped per window before that."""
    if who.person:
        audit.record(r, who, REFUSAL_ACTIONS[0], detail=detail)
        return
    counted = _count_refusal(r, settings, detail["why"])
    capped.audit_counted(r, _cap(settings), counted, who, REFUSAL_ACTIONS, detail)


def refusal_counts(r: redis.Redis) -> dict[str, int]:
    """Console refusals before sign-in by reason, since the counters were created."""
    return {k: int(v) for k, v in decode(r.hgetall(keys.console_refusals())).items()}


def signin_form_token(keyring) -> str:
    """A token for the sign-in form, signed so that only values Qianfa issued are accepted."""
    return _form_signer(keyring).sign(secrets.token_urlsafe(16)).decode()


def signin_form_token_ok(keyring, settings: Settings, token: str) -> bool:
    """Whether Qianfa issued ``token`` within the idle timeout (never an invented value)."""
    try:
        _form_signer(keyring).unsign(token or "", max_age=settings.console_idle_timeout)
    except BadSignature:
        return False
    return True


def _form_signer(keyring) -> TimestampSigner:
    return TimestampSigner(keyring.derive(SIGNIN_FORM_PURPOSE), salt=SIGNIN_FORM_PURPOSE)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def session(r: redis.Redis, settings: Settings, token: str) -> Session | None:
    """The live session of a cookie, kept alive for another idle period; None when over."""
    if not token:
        return None
    key = keys.console_session(_digest(token))
    stored = decode(r.hgetall(key))
    if not stored.get("person"):
        return None
    with r.pipeline(transaction=False) as pipe:
        pipe.get(keys.console_generation(stored["person"]))
        pipe.expire(key, settings.console_idle_timeout)
        generation, _ = pipe.execute()
    if stored.get("generation", "0") != str(int(generation or 0)):
        r.delete(key)  # the password changed since this session began
        return None
    return Session(token, stored["person"], stored["csrf"], stored["must_change"] == "1")


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
    grants, unit = people.grants(r, person_id), people.get(r, person_id).unit
    return [p for p in everything if access.roles_on(grants, p.id) or supervises(unit, p)]


def supervises(unit: str, platform: platforms.Platform) -> bool:
    """Art. 12: 校团委, a college's 党总支 and 校工会 manage the tier-3 platforms they
    supervise, so their people see them (read-only: acting still needs a stored role)."""
    return bool(unit) and platform.tier == 3 and platform.supervising_unit == unit


def platform_for(r: redis.Redis, person_id: str, raw_id: str) -> platforms.Platform:
    """A platform the person's stored roles or unit's supervision cover; refused otherwise."""
    platform = platforms.get(r, raw_id)
    if sees_all(r, person_id) or access.roles_on(people.grants(r, person_id), platform.id):
        return platform
    if supervises(people.get(r, person_id).unit, platform):
        return platform
    raise Forbidden(f"你的角色不涉及平台 {platform.id}", code="other_platform")


def draft_platform_for(r: redis.Redis, person_id: str, draft) -> platforms.Platform:
    """The draft's platform, if the person may see the draft: through that platform, or
    through the platform a unit contributed it from (art. 14); refused otherwise."""
    try:
        return platform_for(r, person_id, draft.platform)
    except Forbidden:
        if not draft.contributed_from:
            raise
    platform_for(r, person_id, draft.contributed_from)
    return platforms.get(r, draft.platform)


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
