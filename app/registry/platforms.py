"""Platforms (平台): every official account, site or app of the college (art. 2, 4, 6, 12, 13, 17).

A platform has a tier, an owning and a supervising unit, exactly one first responsible
person and at least one administrator. It starts in ``filing`` and works only while
``active``; every status change carries a reason. Its owners change through ``owners``.
"""

import json
import re
from dataclasses import dataclass

import redis

from app.core import audit, keys, validate
from app.core.errors import Conflict, InvalidInput, NotFound
from app.core.store import Tx, atomically, decode, decode_set, one_trip, timestamp
from app.registry import access, people, tiers, units

KINDS = {
    "wechat": "微信公众号",
    "weibo": "微博",
    "website": "网站",
    "app": "客户端",
    "other": "其他",
}
TIERS = {1: "一级平台", 2: "二级平台", 3: "三级平台"}

FILING, ACTIVE, SUSPENDED, CLOSED = "filing", "active", "suspended", "closed"
STATUSES = {FILING: "备案中", ACTIVE: "运行中", SUSPENDED: "已停用", CLOSED: "已关闭"}
STATUS_TRANSITIONS = {
    FILING: {ACTIVE, CLOSED},
    ACTIVE: {SUSPENDED, CLOSED},
    SUSPENDED: {ACTIVE, CLOSED},
    CLOSED: set(),
}
# Art. 4, 6, 7: a platform runs only once its filing form's chain is complete, and only
# ``filings.sign_step`` makes that move; no channel may make it by hand.
FILED_ONLY = {(FILING, ACTIVE)}
PLATFORM_ID = re.compile(r"^[a-z][a-z0-9-]{1,31}$")
APPID = re.compile(r"^wx[0-9a-f]{16}$")


@dataclass(frozen=True)
class Platform:
    id: str
    name: str
    kind: str
    tier: int
    unit: str
    supervising_unit: str
    responsible: str
    admins: frozenset[str]
    status: str
    status_reason: str
    appid: str
    account: str
    purpose: str
    created_at: str
    updated_at: str

    @property
    def is_active(self) -> bool:
        return self.status == ACTIVE

    def stored(self) -> dict[str, str]:
        return {k: str(v) for k, v in self.__dict__.items() if k != "admins"}


def platform_id(raw) -> str:
    value = validate.normalize(raw if isinstance(raw, str) else "").lower()
    if not PLATFORM_ID.fullmatch(value):
        raise InvalidInput(
            f"平台标识格式不对:{str(raw)[:40]!r};应为 2–32 位小写字母、数字或连字符,以字母开头"
        )
    return value


def parse_tier(raw) -> int:
    try:
        value = int(str(raw).strip())
    except ValueError:
        value = 0
    if value not in TIERS:
        raise InvalidInput(f"平台级别无效:{str(raw)[:10]!r};应为 1、2 或 3(第十二条)")
    return value


def reason(raw) -> str:
    return validate.text(raw, "原因", max_len=validate.REASON_MAX)


def exists(r: redis.Redis, platform_id: str) -> bool:
    return bool(r.sismember(keys.platforms(), platform_id))


def get(r: redis.Redis, raw_id: str) -> Platform:
    """The platform, read in one round trip (publishing checks it at every step)."""
    pid = platform_id(raw_id)
    with r.pipeline(transaction=False) as pipe:
        pipe.hgetall(keys.platform(pid))
        pipe.smembers(keys.platform_admins(pid))
        raw, admins = pipe.execute()
    return _found(pid, raw, admins)


def _load(r, pid: str) -> Platform:
    return _found(pid, r.hgetall(keys.platform(pid)), r.smembers(keys.platform_admins(pid)))


def _found(pid: str, raw: dict, admins) -> Platform:
    if not raw:
        raise NotFound(f"没有标识为 {pid} 的平台")
    return _from_stored(decode(raw), admins)


def _from_stored(raw: dict[str, str], admins) -> Platform:
    return Platform(**{**raw, "tier": int(raw["tier"]), "admins": frozenset(decode_set(admins))})


def many(r: redis.Redis, platform_ids) -> dict[str, Platform]:
    """Platforms by id in one round trip (a page of drafts spans several)."""
    return one_trip(r, lambda pipe: queue_many(pipe, platform_ids))[0]


def queue_many(pipe, platform_ids):
    """``many`` queued on a shared pipeline (``store.one_trip``)."""
    ids = sorted(set(platform_ids))
    for pid in ids:
        pipe.hgetall(keys.platform(pid))
        pipe.smembers(keys.platform_admins(pid))

    def result(replies) -> dict[str, Platform]:
        found = [(pid, next(replies), next(replies)) for pid in ids]
        return {pid: _from_stored(decode(raw), admins) for pid, raw, admins in found if raw}

    return result


def all_platforms(r: redis.Redis) -> list[Platform]:
    """Every platform, read in one round trip (the console lists hundreds)."""
    ids = sorted(decode_set(r.smembers(keys.platforms())))
    with r.pipeline(transaction=False) as pipe:
        for pid in ids:
            pipe.hgetall(keys.platform(pid))
            pipe.smembers(keys.platform_admins(pid))
        found = pipe.execute()
    return [
        _from_stored(decode(raw), admins)
        for raw, admins in zip(found[::2], found[1::2], strict=True)
        if raw
    ]


def by_appid(r: redis.Redis, appid: str) -> Platform | None:
    pid = r.get(keys.platform_by_appid(appid))
    return get(r, pid.decode()) if pid else None


def filings(r: redis.Redis, pid: str) -> list[dict]:
    return [json.loads(item) for item in r.lrange(keys.platform_filings(pid), 0, -1)]


def create(
    r: redis.Redis,
    actor: audit.Actor,
    raw_id: str,
    *,
    name: str,
    kind: str,
    tier: int | str,
    unit: str,
    supervising_unit: str,
    responsible: str,
    admins: list[str],
    appid: str = "",
    account: str = "",
    purpose: str = "",
) -> Platform:
    """File a new platform; it stays in ``filing`` until its approval is complete."""
    access.authorize(r, actor, (access.PROPAGANDA,), "登记平台")
    now = timestamp()
    owner, supervisor = units.get(r, unit), units.get(r, supervising_unit)
    platform = Platform(
        id=platform_id(raw_id),
        name=validate.text(name, "平台名称", max_len=64),
        kind=validate.choice(kind, KINDS, "平台类型"),
        tier=parse_tier(tier),
        unit=owner.id,
        supervising_unit=supervisor.id,
        responsible=people.get(r, responsible).id,
        admins=_admin_ids(r, admins),
        status=FILING,
        status_reason="新建备案",
        appid=validate.optional_pattern(appid, APPID, "AppID"),
        account=validate.text(account, "微信/微博号", max_len=64, required=False),
        purpose=validate.text(purpose, "用途及发布范围", max_len=2000, required=False),
        created_at=now,
        updated_at=now,
    )
    _check_separation(platform.responsible, platform.admins)
    tiers.check(platform.tier, owner, supervisor)
    if platform.appid and platform.kind != "wechat":
        raise InvalidInput("只有微信公众号平台需要 AppID")

    def change(tx: Tx) -> Platform:
        if tx.read.sismember(keys.platforms(), platform.id):
            raise Conflict(f"平台标识 {platform.id} 已被使用")
        if platform.appid and tx.read.exists(keys.platform_by_appid(platform.appid)):
            raise Conflict(f"AppID {platform.appid} 已登记在另一平台")
        tx.write.hset(keys.platform(platform.id), mapping=platform.stored())
        tx.write.sadd(keys.platform_admins(platform.id), *platform.admins)
        tx.write.sadd(keys.platforms(), platform.id)
        if platform.appid:
            tx.write.set(keys.platform_by_appid(platform.appid), platform.id)
        people.write_grant(
            tx, platform.responsible, access.grant_name(access.RESPONSIBLE, platform.id)
        )
        for admin in platform.admins:
            people.write_grant(tx, admin, access.grant_name(access.ADMIN, platform.id))
        _write_filing(tx, platform.id, "initial", "新建备案", owners_of(platform))
        audit.append(tx, actor, "platform.create", platform=platform.id, detail=owners_of(platform))
        return platform

    watched = [keys.platforms()]
    if platform.appid:
        watched.append(keys.platform_by_appid(platform.appid))
    return atomically(r, watched, change)


def status_change(raw_id, new_status, why) -> tuple[str, str, str]:
    """The platform id, status and reason of a status change, checked before anything is read.

    Channels change a status through ``app.drafts.suspension.change_status``, which moves the
    platform's drafts in the same transaction (art. 17).
    """
    return platform_id(raw_id), validate.choice(new_status, STATUSES, "平台状态"), reason(why)


def check_status_change(current: Platform, new_status: str) -> None:
    """Refuse activation by hand (only a completed filing activates) and moves off the table."""
    if (current.status, new_status) in FILED_ONLY:
        raise Conflict(
            f"平台 {current.id} 须在备案审批表签署完成后才能运行(第四、六、七条:"
            "平台实行备案管理,未经审批不得开设)",
            code="filing_incomplete",
        )
    _require_transition(current, new_status)


def _require_transition(current: Platform, new_status: str) -> None:
    if new_status not in STATUS_TRANSITIONS[current.status]:
        was, to = STATUSES[current.status], STATUSES[new_status]
        raise Conflict(f"平台 {current.id} 当前为「{was}」,不能改为「{to}」", code="transition")


def write_status_in(
    tx: Tx, actor: audit.Actor, current: Platform, new_status: str, why: str
) -> Platform:
    """Queue a status change checked against ``STATUS_TRANSITIONS``, with its audit record."""
    pid = current.id
    _require_transition(current, new_status)
    tx.write.hset(
        keys.platform(pid),
        mapping={"status": new_status, "status_reason": why, "updated_at": timestamp()},
    )
    audit.append(
        tx,
        actor,
        "platform.status",
        platform=pid,
        decision=new_status,
        reason=why,
        detail={"from": current.status},
    )
    return _replace(current, status=new_status, status_reason=why)


def _admin_ids(r: redis.Redis, admins: list[str]) -> frozenset[str]:
    if not admins:
        raise InvalidInput("至少需要一名管理员(第十三条)")
    return frozenset(people.get(r, admin).id for admin in admins)


def _check_separation(responsible: str, admins: frozenset[str]) -> None:
    if responsible in admins:
        raise Conflict("第一责任人不能同时担任本平台管理员:管理员的稿件须由第一责任人审核")


def read_in(tx: Tx, pid: str) -> Platform:
    """Read a platform inside a transaction, watching it so a concurrent change retries."""
    tx.watch(keys.platform(pid), keys.platform_admins(pid))
    return _load(tx.read, pid)


def _replace(platform: Platform, **changes) -> Platform:
    return Platform(**{**platform.__dict__, **changes})


def owners_of(platform: Platform) -> dict:
    return {"responsible": platform.responsible, "admins": sorted(platform.admins)}


def check_owners(owners: dict) -> None:
    """Exactly one responsible person, at least one administrator, never both (art. 13)."""
    if not owners["admins"]:
        raise Conflict("平台至少要有一名管理员,请先添加新管理员(第十三条)")
    _check_separation(owners["responsible"], frozenset(owners["admins"]))


def write_owners_in(tx: Tx, actor, current: Platform, owners: dict, why: str) -> Platform:
    """Hand the platform to these owners: grants, the owner fields and the audit record."""
    check_owners(owners)
    pid, admins = current.id, frozenset(owners["admins"])
    if owners["responsible"] != current.responsible:
        people.write_revoke(tx, current.responsible, access.grant_name(access.RESPONSIBLE, pid))
        people.write_grant(tx, owners["responsible"], access.grant_name(access.RESPONSIBLE, pid))
    for gone in current.admins - admins:
        tx.write.srem(keys.platform_admins(pid), gone)
        people.write_revoke(tx, gone, access.grant_name(access.ADMIN, pid))
    for new in admins - current.admins:
        tx.write.sadd(keys.platform_admins(pid), new)
        people.write_grant(tx, new, access.grant_name(access.ADMIN, pid))
    fields = {"responsible": owners["responsible"], "updated_at": timestamp()}
    tx.write.hset(keys.platform(pid), mapping=fields)
    detail = {"before": owners_of(current), "after": {**owners, "admins": sorted(admins)}}
    audit.append(tx, actor, "platform.owners", platform=pid, reason=why, detail=detail)
    return _replace(current, responsible=owners["responsible"], admins=admins)


def _write_filing(tx: Tx, pid: str, kind: str, why: str, detail: dict) -> None:
    filing = {"kind": kind, "reason": why, "opened_at": timestamp(), "detail": detail}
    tx.write.rpush(keys.platform_filings(pid), json.dumps(filing, ensure_ascii=False))


def require_active_in(tx: Tx, platform_id: str) -> None:
    """Refuse drafts and publishing on a platform that is not active (art. 4, 17)."""
    tx.watch(keys.platform(platform_id))
    status = (tx.read.hget(keys.platform(platform_id), "status") or b"").decode()
    if status != ACTIVE:
        raise _inactive(platform_id, status)


def _inactive(platform_id: str, status: str) -> Conflict:
    label = STATUSES.get(status, "未登记")
    return Conflict(f"平台 {platform_id} 当前为「{label}」,不能投稿或发布(第四、十七条)")
