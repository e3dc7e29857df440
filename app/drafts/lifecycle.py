"""Drafts (稿件): what administrators submit, in versions, through a table of allowed transitions.

Every version's content has a SHA-256 hash; approvals are bound to the hash they were
given for and to the review round (``review``), so a new version or a new round voids
them. Every change to a draft is one atomic Redis transaction together with its audit
record.
"""

import hashlib
import json
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

import redis

from app import screening
from app.core import audit, keys, validate
from app.core.errors import Conflict, ContentBlocked, Forbidden, InvalidInput, NotFound
from app.core.store import Tx, atomically, decode, now, one_trip, timestamp
from app.drafts import listing, uploads
from app.drafts.signoffs import FLAGS, SIGNOFFS, due, required_signoffs
from app.registry import access, platforms

TEXT, IMAGE, ARTICLE = "text", "image", "article"
KINDS = {TEXT: "文字", IMAGE: "图片", ARTICLE: "图文"}

DRAFT, IN_REVIEW, APPROVED = "draft", "in_review", "approved"
PUBLISHING, PUBLISHED = "publishing", "published"
REJECTED, WITHDRAWN, BLOCKED, FAILED = "rejected", "withdrawn", "blocked", "failed"
HELD = "held"  # approved, on a suspended platform: nothing goes out (art. 17)
STATUSES = {
    DRAFT: "草稿",
    IN_REVIEW: "审核中",
    APPROVED: "已通过",
    PUBLISHING: "发布中",
    PUBLISHED: "已发布",
    REJECTED: "已退回",
    WITHDRAWN: "已撤回",
    BLOCKED: "已拦截",
    FAILED: "发布失败",
    HELD: "暂停发布",
}

# The whole state machine: (status, action) -> next status. Anything else is refused.
TRANSITIONS = {
    (DRAFT, "submit"): IN_REVIEW,
    (DRAFT, "edit"): DRAFT,
    (DRAFT, "withdraw"): WITHDRAWN,
    (DRAFT, "block"): BLOCKED,
    (IN_REVIEW, "edit"): IN_REVIEW,
    (IN_REVIEW, "approve"): APPROVED,
    (IN_REVIEW, "reject"): REJECTED,
    (IN_REVIEW, "withdraw"): WITHDRAWN,
    (IN_REVIEW, "block"): BLOCKED,
    (APPROVED, "edit"): IN_REVIEW,
    (APPROVED, "reopen"): IN_REVIEW,
    (APPROVED, "reject"): REJECTED,
    (APPROVED, "withdraw"): WITHDRAWN,
    (APPROVED, "block"): BLOCKED,
    (APPROVED, "start_publishing"): PUBLISHING,
    (APPROVED, "report"): PUBLISHED,  # published by hand on a platform without an API
    (PUBLISHING, "publish"): PUBLISHED,
    (PUBLISHING, "fail"): FAILED,
    (REJECTED, "edit"): DRAFT,
    (REJECTED, "withdraw"): WITHDRAWN,
    (BLOCKED, "edit"): DRAFT,
    (BLOCKED, "withdraw"): WITHDRAWN,
    (BLOCKED, "release"): IN_REVIEW,  # the propaganda department judged the block false
    (FAILED, "retry"): APPROVED,
    (FAILED, "edit"): DRAFT,
    (FAILED, "withdraw"): WITHDRAWN,
    # Art. 17: a suspension holds what is approved; resuming voids its sign-offs (review
    # starts over, ``standing.reopen_in``); a closure withdraws every open draft.
    (APPROVED, "hold"): HELD,
    (HELD, "resume"): IN_REVIEW,
    (HELD, "edit"): DRAFT,
    (HELD, "withdraw"): WITHDRAWN,
    # Art. 14: an approval that no longer stands (too old, a signer lost the role) is void.
    (APPROVED, "lapse"): IN_REVIEW,
}
OPEN = (DRAFT, IN_REVIEW, APPROVED, HELD, REJECTED, BLOCKED, FAILED)
TRANSITIONS |= {(status, "close"): WITHDRAWN for status in OPEN}
# A new publish time leaves the status, and so the sign-offs: they bind to the content
# hash (``review``), which a new time does not change.
TRANSITIONS |= {(status, "reschedule"): status for status in OPEN}
ACTIONS = {
    "submit": "提交审核",
    "edit": "修改",
    "withdraw": "撤回",
    "block": "拦截",
    "approve": "审核通过",
    "reject": "退回",
    "reopen": "重新审核",
    "start_publishing": "开始发布",
    "publish": "发布完成",
    "fail": "发布失败",
    "retry": "重试发布",
    "report": "报告已发布",
    "release": "放行",
    "hold": "暂停发布",
    "resume": "恢复审核",
    "close": "随平台关闭撤回",
    "lapse": "签发失效,重新审核",
    "reschedule": "修改发布时间",
}

FINAL_OR_PUBLISHING = (PUBLISHING, PUBLISHED, WITHDRAWN)


LIMITS = {
    "text": 2000,
    "caption": 200,
    "title": 32,
    "author": 16,
    "digest": 128,
    "content_html": 20000,
}
CONTENT_FIELDS = {
    TEXT: {"text"},
    IMAGE: {"image_url", "caption"},
    ARTICLE: {"title", "author", "digest", "content_html", "cover_image", "source_url"},
}


def next_status(status: str, action: str) -> str:
    """Look the move up in ``TRANSITIONS``; refuse it with both states named."""
    try:
        return TRANSITIONS[(status, action)]
    except KeyError:
        raise Conflict(
            f"稿件当前为「{STATUSES[status]}」,不能{ACTIONS.get(action, action)}", code="transition"
        ) from None


def validate_content(kind: str, content: dict) -> dict[str, str]:
    """Check a version's fields for its kind and return them cleaned."""
    kind = validate.choice(kind, KINDS, "稿件类型")
    if not isinstance(content, dict):
        raise InvalidInput("稿件内容格式不对")
    unknown = set(content) - CONTENT_FIELDS[kind]
    if unknown:
        raise InvalidInput(f"{KINDS[kind]}稿件不接受这些字段:{'、'.join(sorted(unknown))}")
    if kind == TEXT:
        text = validate.text(content.get("text"), "正文", max_len=LIMITS["text"], multiline=True)
        return {"text": text}
    if kind == IMAGE:
        return {
            "image_url": validate.url(content.get("image_url"), "图片地址", required=True),
            "caption": validate.text(
                content.get("caption"), "图片说明", max_len=LIMITS["caption"], required=False
            ),
        }
    return _article(content)


def _article(content: dict) -> dict[str, str]:
    html = validate.text(
        content.get("content_html"), "正文", max_len=LIMITS["content_html"], multiline=True
    )
    return {
        "title": validate.text(content.get("title"), "标题", max_len=LIMITS["title"]),
        "author": validate.text(
            content.get("author"), "作者", max_len=LIMITS["author"], required=False
        ),
        "digest": validate.text(
            content.get("digest"), "摘要", max_len=LIMITS["digest"], required=False, multiline=True
        ),
        "content_html": html,
        "cover_image": _cover_image(content.get("cover_image")),
        "source_url": validate.url(content.get("source_url"), "原文链接"),
    }


def _cover_image(value) -> str:
    """An image URL, or the reference of an image uploaded through the API (``uploads``)."""
    if uploads.is_ref(value):
        return value
    return validate.url(value, "封面图片地址")


COVER_NEEDED = (
    "图文稿件须有封面图片才能发布(微信图文必须有封面):"
    "请在 cover_image 中给出图片地址或上传图片的引用,再提交"
)


def require_cover(kind: str, content: dict[str, str], platform_kind: str) -> None:
    """Refuse a WeChat article without a cover before review, not after it at publishing.

    WeChat's ``draft/add`` needs one; a website or Weibo post published by hand does not.
    """
    if platform_kind == "wechat" and kind == ARTICLE and not content.get("cover_image"):
        raise InvalidInput(COVER_NEEDED, code="cover_missing", field="cover_image")


def content_hash(kind: str, content: dict[str, str]) -> str:
    canonical = json.dumps(
        {"kind": kind, "content": content},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class Draft:
    id: str
    platform: str
    author: str
    kind: str
    status: str
    status_reason: str
    version: int
    content_hash: str
    flags: frozenset[str]
    scheduled_at: str
    created_at: str
    updated_at: str
    contributed_from: str = ""  # art. 14: the contributing unit's platform, for a tier-1 draft
    review_round: int = 0  # how often it entered review (``begin_round_in``)

    @classmethod
    def from_stored(cls, raw: dict[str, str]) -> "Draft":
        flags = frozenset(f for f in raw["flags"].split(",") if f)
        counts = {"version": int(raw["version"]), "review_round": int(raw.get("review_round", 0))}
        return cls(**{**raw, **counts, "flags": flags})

    def stored(self) -> dict[str, str]:
        fields = {k: str(v) for k, v in self.__dict__.items()}
        fields["flags"] = ",".join(sorted(self.flags))
        return fields

    def replace(self, **changes) -> "Draft":
        return Draft(**{**self.__dict__, **changes, "updated_at": timestamp()})


@dataclass(frozen=True)
class Version:
    number: int
    content_hash: str
    kind: str
    content: dict[str, str]
    author: str
    created_at: str


def draft_id(raw) -> str:
    return validate.short_id(raw, "D", "稿件")


def get(r: redis.Redis, raw_id: str) -> Draft:
    return _load(r, draft_id(raw_id))


def _load(r, did: str) -> Draft:
    raw = decode(r.hgetall(keys.draft(did)))
    if not raw:
        raise NotFound(f"没有编号为 {did} 的稿件")
    return Draft.from_stored(raw)


def version(r: redis.Redis, raw_id: str, number: int | None = None) -> Version:
    draft = get(r, raw_id)
    number = draft.version if number is None else number
    raw = decode(r.hgetall(keys.draft_version(draft.id, number)))
    if not raw:
        raise NotFound(f"稿件 {draft.id} 没有第 {number} 版")
    return _version(raw)


def queue_versions(pipe, drafts: list[Draft]):
    """Each draft's current version, for a page, queued on a pipeline other reads share
    (``store.one_trip``)."""
    for draft in drafts:
        pipe.hgetall(keys.draft_version(draft.id, draft.version))

    def result(replies) -> list[Version]:
        return [_current_version(draft, next(replies)) for draft in drafts]

    return result


def _current_version(draft: Draft, raw) -> Version:
    if not raw:
        raise NotFound(f"稿件 {draft.id} 没有第 {draft.version} 版")
    return _version(decode(raw))


def _version(raw: dict[str, str]) -> Version:
    return Version(
        number=int(raw["number"]),
        content_hash=raw["content_hash"],
        kind=raw["kind"],
        content=json.loads(raw["content"]),
        author=raw["author"],
        created_at=raw["created_at"],
    )


def list_drafts(
    r: redis.Redis,
    *,
    platform: str | None = None,
    status: str | None = None,
    author: str | None = None,
    limit: int = 100,
) -> list[Draft]:
    """Newest first, optionally for one platform, one status and one author (``listing``)."""
    scope = platforms.platform_id(platform) if platform else listing.ALL
    status = validate.choice(status, STATUSES, "稿件状态") if status else None
    if author:
        index = keys.drafts_by(author, scope)
    elif status:
        index = keys.drafts_in(status, scope)
    else:
        index = keys.platform_drafts(scope) if platform else keys.drafts()
    return listing.take(
        listing.newest_ids(r, [index]),
        limit,
        lambda ids: load_many(r, ids),
        lambda draft: status in (None, draft.status),
    )


def list_across(
    r: redis.Redis, platform_ids: list[str] | None, status: str, limit: int = 100
) -> list[Draft]:
    """Newest first in one status over several platforms, or all of them (``None``)."""
    status = validate.choice(status, STATUSES, "稿件状态")
    scopes = [listing.ALL] if platform_ids is None else platform_ids
    index = [keys.drafts_in(status, scope) for scope in scopes]
    return listing.take(listing.newest_ids(r, index), limit, lambda ids: load_many(r, ids))


def load_many(r: redis.Redis, ids: list[str]) -> list[Draft]:
    """Drafts by id in one round trip, in the order given; ids no longer stored are left out."""
    return [draft for draft in one_trip(r, lambda pipe: queue_drafts(pipe, ids))[0] if draft]


def queue_drafts(pipe, ids: list[str]):
    """Drafts by id queued on a shared pipeline (``store.one_trip``): one per id, ``None``
    for an id no longer stored."""
    for did in ids:
        pipe.hgetall(keys.draft(did))

    def result(replies) -> list[Draft | None]:
        found = [next(replies) for _ in ids]
        return [Draft.from_stored(decode(raw)) if raw else None for raw in found]

    return result


def read_in(tx: Tx, did: str) -> Draft:
    """Read a draft inside a transaction; the caller has WATCHed its key."""
    return _load(tx.read, did)


def write_in(tx: Tx, draft: Draft, awaiting: Collection[str] | None = None) -> None:
    """Store a draft's new state and its listing indexes.

    ``awaiting``: the sign-offs still missing when the review state changed (the reviewers'
    lists); ``None`` when it did not.
    """
    tx.write.hset(keys.draft(draft.id), mapping=draft.stored())
    listing.index_in(
        tx,
        draft,
        statuses=STATUSES,
        signoffs=SIGNOFFS,
        awaiting=awaiting,
        in_review=draft.status == IN_REVIEW,
        published=draft.status == PUBLISHED,
    )


def _required_in(tx: Tx, draft: Draft, found: screening.Screening) -> list[str]:
    """Every sign-off a version entering review needs: it has none yet."""
    platform = platforms.read_in(tx, draft.platform)
    return due(required_signoffs(platform, draft, draft.flags | found.flags), {})


def begin_round_in(tx: Tx, draft: Draft) -> Draft:
    """Start a new review round for a draft entering review (submit, release, resume,
    lapse, a new version): earlier sign-offs are void, even for the same content (A, then
    B, then A again), and reviewers are asked anew, their notice naming the round."""
    started = draft.replace(review_round=draft.review_round + 1)
    tx.write.delete(keys.draft_signoffs(draft.id))
    tx.write.hset(keys.review_clock(draft.id), mapping=round_clock(started, now()))
    return started


def round_clock(draft: Draft, since: datetime) -> dict[str, str]:
    """The review clock of the draft's current round: when it began to wait."""
    return {
        "hash": draft.content_hash,
        "round": str(draft.review_round),
        "since": since.isoformat(),
    }


def clock_started(draft: Draft, clock_hash, clock_round) -> bool:
    """Whether a stored review clock (its raw ``hash`` and ``round``) is the current round's;
    a clock stored before rounds were counted has no round, as such a draft's is 0."""
    return clock_hash == draft.content_hash.encode() and int(clock_round or 0) == draft.review_round


def create(
    r: redis.Redis,
    actor: audit.Actor,
    platform_id: str,
    kind: str,
    content: dict,
    *,
    flags: tuple[str, ...] = (),
    scheduled_at=None,
    contributed_from: str = "",
) -> Draft:
    """Start a draft on an active platform; only its administrators may, or, on a tier-1
    platform, an administrator of another unit's platform ``contributed_from`` (art. 14)."""
    platform = platforms.get(r, platform_id)
    source = _contribution_source(r, platform, contributed_from)
    author = _require_admin(r, actor, source or platform)
    kind = validate.choice(kind, KINDS, "稿件类型")
    cleaned = validate_content(kind, content)
    flags = frozenset(validate.choice(f, FLAGS, "敏感标记") for f in flags)
    scheduled = _schedule(scheduled_at)

    def change(tx: Tx) -> Draft:
        platforms.require_active_in(tx, platform.id)
        if source:
            platforms.require_active_in(tx, source.id)
        stamp = timestamp()
        draft = Draft(
            id=tx.next_id("draft", "D"),
            platform=platform.id,
            author=author,
            kind=kind,
            status=DRAFT,
            status_reason="",
            version=1,
            content_hash=content_hash(kind, cleaned),
            flags=flags,
            scheduled_at=scheduled,
            created_at=stamp,
            updated_at=stamp,
            contributed_from=source.id if source else "",
        )
        write_in(tx, draft)
        _write_version(tx, draft, cleaned, author)
        score = listing.score(draft)
        tx.write.zadd(keys.drafts(), {draft.id: score})
        tx.write.zadd(keys.platform_drafts(platform.id), {draft.id: score})
        audit.append(
            tx,
            actor,
            "draft.create",
            platform=platform.id,
            draft=draft.id,
            version_hash=draft.content_hash,
            detail={"kind": kind, "flags": sorted(draft.flags), "from": draft.contributed_from},
        )
        return draft

    return atomically(r, [keys.platform(platform.id)], change)


def edit(
    r: redis.Redis, actor: audit.Actor, raw_id: str, content: dict, *, base_hash: str = ""
) -> Draft:
    """Save a new version; approvals given for earlier versions no longer count.

    A version that goes (back) into review is screened first, as at ``submit``. With
    ``base_hash``, the edit is refused unless the current version is still that one.
    """
    did = draft_id(raw_id)
    rules = screening.rules()

    def change(tx: Tx) -> tuple[Draft, screening.Screening | None]:
        current = read_in(tx, did)
        _require_author(tx, actor, current)
        if base_hash and current.content_hash != base_hash:
            raise Conflict(f"稿件 {did} 已有新版本(第 {current.version} 版),请查看后再修改")
        cleaned = validate_content(current.kind, content)
        new_hash = content_hash(current.kind, cleaned)
        if new_hash == current.content_hash:
            raise Conflict(f"稿件 {did} 的内容没有变化")
        updated = current.replace(
            status=next_status(current.status, "edit"),
            version=current.version + 1,
            content_hash=new_hash,
        )
        found = awaiting = None
        if updated.status == IN_REVIEW:
            require_cover(updated.kind, cleaned, platforms.read_in(tx, updated.platform).kind)
            found = screening.screen_version(updated, cleaned, rules)
            awaiting = _required_in(tx, updated, found)
            updated = begin_round_in(tx, updated)
        write_in(tx, updated, awaiting)
        _write_version(tx, updated, cleaned, current.author)
        tx.write.delete(keys.draft_signoffs(did))
        audit.append(
            tx,
            actor,
            "draft.edit",
            platform=current.platform,
            draft=did,
            version_hash=new_hash,
            decision=updated.status,
            detail={"version": updated.version, "voided_signoffs": True},
        )
        if updated.status != IN_REVIEW:
            return updated, None
        return _screened_in(tx, updated, found), found

    return _unless_blocked(*atomically(r, [keys.draft(did)], change))


def reschedule(r: redis.Redis, actor: audit.Actor, raw_id: str, scheduled_at) -> Draft:
    """Set or clear (``None``) the publish time; the content, and so its sign-offs, stay."""
    did, when = draft_id(raw_id), _schedule(scheduled_at)

    def change(tx: Tx) -> Draft:
        current = read_in(tx, did)
        _require_author(tx, actor, current)
        if when == current.scheduled_at:
            unchanged = f"稿件 {did} 没有设定定时发布" if not when else f"稿件 {did} 已定于此时发布"
            raise Conflict(unchanged, code="unchanged")
        next_status(current.status, "reschedule")
        updated = current.replace(scheduled_at=when)
        write_in(tx, updated)
        audit.append(
            tx,
            actor,
            "draft.reschedule",
            platform=current.platform,
            draft=did,
            version_hash=current.content_hash,
            decision=current.status,
            detail={"scheduled_at": when, "was": current.scheduled_at, "signoffs_kept": True},
        )
        return updated

    return atomically(r, [keys.draft(did)], change)


def submit(r: redis.Redis, actor: audit.Actor, raw_id: str) -> Draft:
    """Send the current version to review once content screening lets it (art. 9-11, 16).

    ``block``: the draft goes to ``blocked`` instead, the propaganda department is alerted
    and ``ContentBlocked`` tells the author what and where. ``escalate`` adds the propaganda
    department's sign-off; every result is kept for reviewers (``screening.result_for``).
    """
    did = draft_id(raw_id)
    rules = screening.rules()

    def change(tx: Tx) -> tuple[Draft, screening.Screening]:
        current = read_in(tx, did)
        _require_author(tx, actor, current)
        platforms.require_active_in(tx, current.platform)
        updated = current.replace(status=next_status(current.status, "submit"), status_reason="")
        content = content_in(tx, current)
        require_cover(current.kind, content, platforms.read_in(tx, current.platform).kind)
        found = screening.screen_version(current, content, rules)
        if found.verdict == screening.BLOCK:
            return _screened_in(tx, current, found), found
        awaiting = _required_in(tx, updated, found)
        screening.record_in(tx, current, found)
        updated = begin_round_in(tx, updated)
        write_in(tx, updated, awaiting)
        audit.append(
            tx,
            actor,
            "draft.submit",
            platform=current.platform,
            draft=did,
            version_hash=current.content_hash,
            decision=updated.status,
            detail={"screening": found.verdict, "flags": sorted(found.flags)},
        )
        return updated, found

    return _unless_blocked(*atomically(r, [keys.draft(did)], change))


def _screened_in(tx: Tx, draft: Draft, found: screening.Screening) -> Draft:
    """Record the result; on ``block`` move the draft to ``blocked`` as Qianfa itself."""
    screening.record_in(tx, draft, found)
    if found.verdict != screening.BLOCK:
        return draft
    reason = found.summary_zh()[: validate.REASON_MAX]
    blocked = draft.replace(status=next_status(draft.status, "block"), status_reason=reason)
    write_in(tx, blocked)
    audit.append(
        tx,
        screening.SYSTEM,
        "draft.block",
        platform=draft.platform,
        draft=draft.id,
        version_hash=draft.content_hash,
        decision=blocked.status,
        reason=reason,
    )
    return blocked


def _unless_blocked(draft: Draft, found: screening.Screening | None) -> Draft:
    if found is not None and found.verdict == screening.BLOCK:
        raise ContentBlocked(
            screening.blocked_message(draft.id, found), draft=draft, screening=found
        )
    return draft


def content_in(tx: Tx, draft: Draft) -> dict[str, str]:
    """The content of the draft's current version, read inside a transaction."""
    raw = tx.read.hget(keys.draft_version(draft.id, draft.version), "content")
    return json.loads(raw) if raw else {}


def withdraw(r: redis.Redis, actor: audit.Actor, raw_id: str, reason: str = "") -> Draft:
    """Take a draft back before it is published."""
    reason = validate.text(reason, "撤回原因", max_len=validate.REASON_MAX, required=False)
    return _author_move(r, actor, raw_id, "withdraw", reason)


SYSTEM_ACTIONS = ("block", "start_publishing", "publish", "fail", "retry")
# Art. 17: publishing stops at once on a suspended or closed platform.
PUBLISHING_ACTIONS = ("start_publishing", "retry")


def system_move(
    r: redis.Redis,
    actor: audit.Actor,
    raw_id: str,
    action: str,
    reason: str = "",
    *,
    detail: dict | None = None,
):
    """Moves that only Qianfa itself makes: screening blocks, workers publish or fail.

    ``detail`` goes into the audit record (the article URL of a publication, say).
    """
    if not (actor.trusted and actor.via == "system") or action not in SYSTEM_ACTIONS:
        raise Forbidden(f"「{ACTIONS.get(action, action)}」只能由系统执行")
    reason = validate.text(reason, "原因", max_len=validate.REASON_MAX, required=False)

    def check(tx: Tx, draft: Draft) -> None:
        if action in PUBLISHING_ACTIONS:
            platforms.require_active_in(tx, draft.platform)

    return _move(r, actor, raw_id, action, reason, check, detail)


def _author_move(r: redis.Redis, actor: audit.Actor, raw_id: str, action: str, reason: str):
    def check(tx: Tx, draft: Draft) -> None:
        _require_author(tx, actor, draft)

    return _move(r, actor, raw_id, action, reason, check)


def _move(
    r: redis.Redis, actor: audit.Actor, raw_id: str, action: str, reason: str, check, detail=None
):
    did = draft_id(raw_id)

    def change(tx: Tx) -> Draft:
        current = read_in(tx, did)
        check(tx, current)
        return move_in(tx, actor, current, action, reason, detail)

    return atomically(r, [keys.draft(did)], change)


def move_in(
    tx: Tx, actor: audit.Actor, current: Draft, action: str, reason="", detail=None, awaiting=None
):
    """Queue one move of ``TRANSITIONS`` with its audit record; the caller checked who may.
    ``awaiting``: the sign-offs now missing, when the move changes the review (``write_in``)."""
    updated = current.replace(status=next_status(current.status, action), status_reason=reason)
    write_in(tx, updated, awaiting)
    audit.append(
        tx,
        actor,
        f"draft.{action}",
        platform=current.platform,
        draft=current.id,
        version_hash=current.content_hash,
        decision=updated.status,
        reason=reason,
        detail=detail,
    )
    return updated


def _write_version(tx: Tx, draft: Draft, content: dict[str, str], author: str) -> None:
    tx.write.hset(
        keys.draft_version(draft.id, draft.version),
        mapping={
            "number": draft.version,
            "content_hash": draft.content_hash,
            "kind": draft.kind,
            "content": json.dumps(content, ensure_ascii=False),
            "author": author,
            "created_at": timestamp(),
        },
    )


def _schedule(raw) -> str:
    when = validate.moment(raw, "定时发布时间")
    if when is None:
        return ""
    if when < now() - timedelta(minutes=1):
        raise InvalidInput("定时发布时间不能早于现在")
    return timestamp(when)


def _require_admin(r: redis.Redis, actor: audit.Actor, platform: platforms.Platform) -> str:
    if not actor.person or not access.has_role(r, actor.person, access.ADMIN, platform.id):
        raise Forbidden(f"只有平台「{platform.name}」的管理员可以投稿")
    return actor.person


def _contribution_source(r, platform: platforms.Platform, raw_source: str):
    """The contributing unit's platform (art. 14: 各单位需要在学校官方平台上发布信息), or None."""
    if not raw_source:
        return None
    source = platforms.get(r, raw_source)
    check_contribution(platform, source.id)
    return source


def check_contribution(platform: platforms.Platform, source_id: str) -> None:
    """A unit contributes only to a tier-1 platform, and not to the platform itself."""
    if platform.tier != 1:
        raise Forbidden(
            f"只能向学校官方(一级)平台投稿,平台「{platform.name}」是{platforms.TIERS[platform.tier]}"
            "(第十四条)",
            code="not_tier1",
        )
    if source_id == platform.id:
        raise InvalidInput("不能从一级平台向自己投稿,请直接投稿(第十四条)")


def _require_author(tx: Tx, actor: audit.Actor, draft: Draft) -> None:
    """The author, while still an administrator of the draft's (or contributing) platform."""
    if actor.person != draft.author:
        raise Forbidden(f"只有稿件 {draft.id} 的作者可以这样做")
    tx.watch(keys.person_roles(actor.person))
    home = draft.contributed_from or draft.platform
    if not access.has_role(tx.read, actor.person, access.ADMIN, home):
        raise Forbidden(f"你已不是平台 {home} 的管理员")
