"""API tokens (API 令牌): how an editor's CMS acts for one person on some platforms.

A token is shown once, when it is issued; only its SHA-256 is stored, so a copy of Redis
holds nothing that authenticates. (A plain hash is enough here, unlike bind codes: the
token carries 256 random bits, far beyond any search.) A token names a person and the
platforms it may be used on; what the person may do there is decided from their stored
roles at every request, so taking the administrator role away disarms the token at once.
"""

import hashlib
import secrets
from dataclasses import dataclass

import redis

from app.core import audit, keys, validate
from app.core.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthorized
from app.core.store import Tx, atomically, decode, decode_set, timestamp
from app.registry import access, people, platforms

PREFIX = "qf_"
TOKEN_BYTES = 32
TOKEN_MAX_LEN = 128
LABEL_MAX = 64
MAX_PLATFORMS = 20
REFUSED = "API 令牌无效或已吊销"


@dataclass(frozen=True)
class ApiToken:
    id: str
    person: str
    platforms: tuple[str, ...]
    label: str
    issued_by: str
    created_at: str
    last_used_at: str
    revoked_at: str

    @property
    def active(self) -> bool:
        return not self.revoked_at

    def actor(self) -> audit.Actor:
        """Who the audit trail names for a request made with this token."""
        return audit.Actor(via="api", person=self.person, operator=self.id)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_id(raw) -> str:
    return validate.short_id(raw, "T", "API 令牌")


def issue(
    r: redis.Redis,
    actor: audit.Actor,
    person_id: str,
    platform_ids: list[str] | tuple[str, ...],
    *,
    label: str = "",
) -> tuple[ApiToken, str]:
    """Issue a token for an administrator on the given platforms; the secret is returned once."""
    access.authorize(r, actor, (access.PROPAGANDA,), "签发 API 令牌")
    person = people.get(r, person_id)
    scope = _scope(r, platform_ids)
    label = validate.text(label, "备注", max_len=LABEL_MAX, required=False)
    secret = PREFIX + secrets.token_urlsafe(TOKEN_BYTES)

    def change(tx: Tx) -> ApiToken:
        tx.watch(keys.person_roles(person.id))
        for pid in scope:
            if not access.has_role(tx.read, person.id, access.ADMIN, pid):
                raise Forbidden(
                    f"{person.name}({person.id})不是平台 {pid} 的管理员,不能为其签发令牌"
                )
        token = ApiToken(
            id=tx.next_id("apitoken", "T"),
            person=person.id,
            platforms=scope,
            label=label,
            issued_by=actor.person or actor.operator,
            created_at=timestamp(),
            last_used_at="",
            revoked_at="",
        )
        tx.write.hset(
            keys.api_token(token.id), mapping={**_stored(token), "digest": digest(secret)}
        )
        tx.write.set(keys.api_token_by_digest(digest(secret)), token.id)
        tx.write.sadd(keys.api_tokens(), token.id)
        tx.write.sadd(keys.person_api_tokens(person.id), token.id)
        _audit(tx, actor, "apitoken.issue", token)
        return token

    return atomically(r, [], change), secret


def revoke(r: redis.Redis, actor: audit.Actor, raw_id: str, reason: str = "") -> ApiToken:
    """Revoke a token at once; the propaganda department, an operator or its holder may."""
    tid = token_id(raw_id)
    reason = validate.text(reason, "吊销原因", max_len=validate.REASON_MAX, required=False)

    def change(tx: Tx) -> ApiToken:
        raw = decode(tx.read.hgetall(keys.api_token(tid)))
        if not raw:
            raise NotFound(f"没有编号为 {tid} 的 API 令牌")
        token = _token(raw)
        if actor.person != token.person:
            access.authorize(tx.read, actor, (access.PROPAGANDA,), "吊销他人的 API 令牌")
        if not token.active:
            raise Conflict(f"API 令牌 {tid} 已于 {token.revoked_at} 吊销")
        revoked = ApiToken(**{**token.__dict__, "revoked_at": timestamp()})
        tx.write.hset(keys.api_token(tid), "revoked_at", revoked.revoked_at)
        tx.write.delete(keys.api_token_by_digest(raw["digest"]))
        _audit(tx, actor, "apitoken.revoke", revoked, reason)
        return revoked

    return atomically(r, [keys.api_token(tid)], change)


def get(r: redis.Redis, raw_id: str) -> ApiToken:
    tid = token_id(raw_id)
    raw = decode(r.hgetall(keys.api_token(tid)))
    if not raw:
        raise NotFound(f"没有编号为 {tid} 的 API 令牌")
    return _token(raw)


def list_tokens(r: redis.Redis, person_id: str | None = None) -> list[ApiToken]:
    """Every token, or one person's, oldest first; never the secret, which is not stored."""
    index = keys.person_api_tokens(people.get(r, person_id).id) if person_id else keys.api_tokens()
    ids = sorted(decode_set(r.smembers(index)), key=lambda tid: int(tid[1:]))
    return [get(r, tid) for tid in ids]


def authenticate(r: redis.Redis, raw) -> ApiToken:
    """The active token this secret belongs to, with its last use noted; else ``Unauthorized``."""
    if not isinstance(raw, str) or not raw.startswith(PREFIX) or len(raw) > TOKEN_MAX_LEN:
        raise Unauthorized(REFUSED)
    found = r.get(keys.api_token_by_digest(digest(raw)))
    if found is None:
        raise Unauthorized(REFUSED)
    token = get(r, found.decode())
    if not token.active:
        raise Unauthorized(REFUSED)
    used = timestamp()
    r.hset(keys.api_token(token.id), "last_used_at", used)
    return ApiToken(**{**token.__dict__, "last_used_at": used})


def authorize(r: redis.Redis, token: ApiToken, raw_platform) -> str:
    """Let the token act on this platform: in its scope, and its person still an administrator."""
    pid = platforms.platform_id(raw_platform)
    if pid not in token.platforms:
        raise Forbidden(f"API 令牌 {token.id} 无权操作平台 {pid}", code="out_of_scope")
    if not access.has_role(r, token.person, access.ADMIN, pid):
        raise Forbidden(
            f"{token.person} 已不是平台 {pid} 的管理员,API 令牌 {token.id} 不能再用于该平台",
            code="not_admin",
        )
    return pid


def contribution_source(r: redis.Redis, token: ApiToken, target: str, chosen: str) -> str:
    """Which of the token's platforms a contribution to ``target`` comes from (art. 14):
    the one chosen, or the only one the token is usable on; "" when ``target`` is no
    tier-1 platform (the caller refuses it as out of scope)."""
    if chosen:
        return authorize(r, token, chosen)
    usable = usable_platforms(r, token)
    tier1 = platforms.exists(r, target) and platforms.get(r, target).tier == 1
    if not tier1 or not usable:
        return ""
    if len(usable) > 1:
        raise InvalidInput(
            f"向一级平台投稿须写明来自哪个平台(contributed_from,可选:{'、'.join(usable)})"
        )
    return usable[0]


def usable_platforms(r: redis.Redis, token: ApiToken) -> list[str]:
    """The platforms in the token's scope on which its person is still an administrator."""
    return [pid for pid in token.platforms if access.has_role(r, token.person, access.ADMIN, pid)]


def _scope(r: redis.Redis, platform_ids) -> tuple[str, ...]:
    if isinstance(platform_ids, str) or not platform_ids:
        raise InvalidInput("至少指定一个平台", field="platforms")
    scope = tuple(dict.fromkeys(platforms.platform_id(raw) for raw in platform_ids))
    if len(scope) > MAX_PLATFORMS:
        raise InvalidInput(f"一个令牌最多用于 {MAX_PLATFORMS} 个平台", field="platforms")
    for pid in scope:
        if platforms.get(r, pid).status == platforms.CLOSED:
            raise Conflict(f"平台 {pid} 已关闭")
    return scope


def _stored(token: ApiToken) -> dict[str, str]:
    return {**token.__dict__, "platforms": ",".join(token.platforms)}


def _token(raw: dict[str, str]) -> ApiToken:
    fields = {name: raw.get(name, "") for name in ApiToken.__dataclass_fields__}
    return ApiToken(**{**fields, "platforms": tuple(p for p in raw["platforms"].split(",") if p)})


def _audit(tx: Tx, actor: audit.Actor, action: str, token: ApiToken, reason: str = "") -> None:
    """One record per platform in scope, so an export for any of them shows the token."""
    detail = {"token": token.id, "label": token.label, "platforms": list(token.platforms)}
    for pid in token.platforms:
        audit.append(
            tx, actor, action, subject=token.person, platform=pid, reason=reason, detail=detail
        )
