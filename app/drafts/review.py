"""Review (审核): who must sign off a draft, and approving or rejecting it.

``required_signoffs`` (in ``signoffs``) is the whole sign-off policy of the measures.
A sign-off is bound to the content hash and the review round it was given in: a new
version, or the draft entering review again (even with the same content), voids it.
Nobody signs off their own draft, and a reviewer who saw an older version is refused.
"""

import json
import time
from dataclasses import dataclass
from datetime import datetime
from itertools import combinations

import redis

from app import screening
from app.core import audit, keys, metrics, validate
from app.core.errors import Conflict, Forbidden
from app.core.store import Tx, atomically, decode, decode_set, one_trip, timestamp
from app.drafts import lifecycle, listing, signoffs
from app.drafts.lifecycle import Draft
from app.drafts.signoffs import (  # the policy, here where reviewers use it
    PROPAGANDA,
    RESPONSIBLE,
    SIGNOFFS,
    Requirement,
    answering_platform,
    required_signoffs,
)
from app.registry import access, platforms
from app.registry.platforms import Platform
from app.screening import pictures

# What a decision is called when no replica confirmed it in time (``replicas.confirm``).
APPROVAL, REJECTION = "审核通过意见", "驳回意见"


@dataclass(frozen=True)
class ReviewState:
    draft: Draft
    required: list[Requirement]
    given: dict[str, dict]

    @property
    def missing(self) -> list[str]:
        return [req.signoff for req in self.required if req.signoff not in self.given]

    @property
    def due(self) -> list[str]:
        """The missing sign-offs that may be given now (``signoffs.due``)."""
        return signoffs.due(self.required, self.given)

    @property
    def complete(self) -> bool:
        return not self.missing


def qualifications(r, person_id: str, platform: Platform, draft: Draft) -> set[str]:
    """The sign-offs this person may give on this draft, from their stored roles."""
    held = set()
    answering = answering_platform(platform, draft)
    if person_id and access.has_role(r, person_id, access.RESPONSIBLE, answering):
        held.add(RESPONSIBLE)
    if person_id and access.has_role(r, person_id, access.PROPAGANDA):
        held.add(PROPAGANDA)
    return held


def signed_by(state: ReviewState, person_id: str) -> bool:
    """One sign-off per person and version: whether this person already gave theirs."""
    return any(given["person"] == person_id for given in state.given.values())


def can_sign(r: redis.Redis, person_id: str, platform: Platform, draft: Draft) -> bool:
    """Whether this person could give one of the draft's missing sign-offs now."""
    if draft.author == person_id or draft.status != lifecycle.IN_REVIEW:
        return False
    current = state(r, draft.id)
    if signed_by(current, person_id):
        return False
    return bool(qualifications(r, person_id, platform, draft) & set(current.due))


def waiting_for(
    r: redis.Redis, person_id: str, scope: list[str] | None, limit: int, grants=None
) -> list[Draft]:
    """Drafts this person could sign now (as ``can_sign``), newest first, from the indexes.

    ``scope``: platform ids to look at, or ``None`` for all. Only the indexes of the sign-offs
    the person's stored roles allow are read, so the cost grows with the page.
    """
    return [draft for draft, _ in waiting_signed(r, person_id, scope, limit, grants)]


def waiting_signed(
    r: redis.Redis, person_id: str, scope: list[str] | None, limit: int, grants=None
) -> list[tuple[Draft, dict[str, dict]]]:
    """``waiting_for`` with each draft's stored sign-offs as read, so a list need not read
    them again (``page``). ``grants``: the person's stored role grants, when the caller
    already read them (the chat's webhook reads them with the binding)."""
    if grants is None:
        grants = decode_set(r.smembers(keys.person_roles(person_id)))
    index = []
    if access.grant_name(access.PROPAGANDA) in grants:
        index += [keys.drafts_awaiting(PROPAGANDA, pid) for pid in scope or [listing.ALL]]
    for grant in sorted(grants):
        role, _, pid = grant.partition("@")
        if role == access.RESPONSIBLE and pid and (scope is None or pid in scope):
            index.append(keys.drafts_awaiting(RESPONSIBLE, pid))
    ids = listing.newest_ids(r, index)
    return listing.take(ids, limit, lambda batch: _signable(r, person_id, batch))


def overdue(r: redis.Redis, scope: list[str] | None, late: datetime, limit: int) -> list[Draft]:
    """Drafts in review since before ``late`` on their review clock, oldest first: read from
    the entered-review index (never later than the clock) and checked in one round trip.

    ``scope``: platform ids, or ``None`` for all; a person who sees none sees none.
    """
    scopes = [listing.ALL] if scope is None else scope
    ids = listing.oldest_waiting(r, scopes, late.timestamp(), limit)
    found = [d for d in lifecycle.load_many(r, ids) if d.status == lifecycle.IN_REVIEW]
    late_ones = [d for d, since in zip(found, waiting_since(r, found), strict=True) if since < late]
    return sorted(late_ones, key=listing.score)[:limit]


def waiting_since(r: redis.Redis, drafts: list[Draft]) -> list[datetime]:
    """When each current version began to wait, from the reminders' clock (read only;
    ``draft_notices`` starts it), in one round trip."""
    with r.pipeline(transaction=False) as pipe:
        for draft in drafts:
            pipe.hmget(keys.review_clock(draft.id), "hash", "round", "since")
        clocks = pipe.execute()
    return [
        datetime.fromisoformat(since.decode())
        if lifecycle.clock_started(draft, content_hash, round_) and since
        else datetime.fromisoformat(draft.updated_at)
        for draft, (content_hash, round_, since) in zip(drafts, clocks, strict=True)
    ]


def signable(r: redis.Redis, person_id: str, drafts: list[Draft]) -> set[str]:
    """Which of these drafts the person could sign now (as ``can_sign``), for a whole page."""
    grants = decode_set(r.smembers(keys.person_roles(person_id)))
    asked = []
    with r.pipeline(transaction=False) as pipe:
        for draft in drafts:
            for signoff in _held(grants, draft.contributed_from or draft.platform):
                pipe.zscore(keys.drafts_awaiting(signoff, draft.platform), draft.id)
                asked.append(draft.id)
        found = pipe.execute()
    waiting = sorted({did for did, at in zip(asked, found, strict=True) if at is not None})
    return {draft.id for draft, _ in _signable(r, person_id, waiting)} if waiting else set()


def _held(grants: set[str], platform_id: str) -> list[str]:
    held = [PROPAGANDA] if access.grant_name(access.PROPAGANDA) in grants else []
    if access.grant_name(access.RESPONSIBLE, platform_id) in grants:
        held.append(RESPONSIBLE)
    return held


def _signable(r: redis.Redis, person_id: str, ids: list[str]) -> list[tuple[Draft, dict]]:
    """Of drafts missing a sign-off this person may give: those not theirs nor signed by
    them, each with its stored sign-offs; drafts and sign-offs are read in one round trip."""
    drafts, stored = one_trip(
        r,
        lambda pipe: lifecycle.queue_drafts(pipe, ids),
        lambda pipe: _queue_signoffs(pipe, ids),
    )
    return [
        (draft, given)
        for draft, given in zip(drafts, stored, strict=True)
        if draft is not None
        and draft.status == lifecycle.IN_REVIEW
        and draft.author != person_id
        and not any(s["person"] == person_id and counts(draft, s) for s in given.values())
    ]


def _queue_signoffs(pipe, ids: list[str]):
    """Each draft's stored sign-offs (current or not), queued on a shared pipeline."""
    for did in ids:
        pipe.hgetall(keys.draft_signoffs(did))

    def result(replies) -> list[dict[str, dict]]:
        return [_parsed(next(replies)) for _ in ids]

    return result


def unsignable(r: redis.Redis, current: ReviewState) -> list[str]:
    """The missing sign-offs that nobody but the draft's author could give, so the draft
    could never be approved: one person gives one sign-off (art. 14), never on their own.

    Each group of missing sign-offs needs as many distinct people able to give them. The
    chat answers ``提交`` with this, so everyone's roles are read in one round trip.
    """
    draft = current.draft
    signed = {given["person"] for given in current.given.values()}
    able = {signoff: set() for signoff in current.missing}
    candidates = sorted(decode_set(r.smembers(keys.people())) - signed - {draft.author})
    with r.pipeline(transaction=False) as pipe:
        for person_id in candidates:
            pipe.smembers(keys.person_roles(person_id))
        held = pipe.execute()
    for person_id, grants in zip(candidates, held, strict=True):
        answering = draft.contributed_from or draft.platform
        for signoff in set(_held(decode_set(grants), answering)) & set(able):
            able[signoff].add(person_id)
    for size in range(1, len(able) + 1):
        for group in combinations(able, size):
            if len(set().union(*(able[signoff] for signoff in group))) < size:
                return list(group)
    return []


def state(r: redis.Redis, raw_id: str) -> ReviewState:
    draft = lifecycle.get(r, raw_id)
    platform = platforms.get(r, draft.platform)
    return ReviewState(
        draft, required_signoffs(platform, draft, flags(r, draft)), valid_signoffs(r, draft)
    )


def page(
    r: redis.Redis, drafts: list[Draft], stored: dict[str, dict[str, dict]] | None = None
) -> list[tuple[lifecycle.Version, ReviewState | None]]:
    """Each draft of a list's page with its current version and, while in review, its
    ``state``, in one round trip. ``stored``: sign-offs by draft id the caller already read
    (``waiting_signed``)."""
    reviewing = [d for d in drafts if d.status == lifecycle.IN_REVIEW]
    unread = [d.id for d in reviewing if d.id not in (stored or {})]
    versions, found, screened, read = one_trip(
        r,
        lambda pipe: lifecycle.queue_versions(pipe, drafts),
        lambda pipe: platforms.queue_many(pipe, {d.platform for d in reviewing}),
        lambda pipe: screening.queue_flags(pipe, reviewing),
        lambda pipe: _queue_signoffs(pipe, unread),
    )
    given = {**(stored or {}), **dict(zip(unread, read, strict=True))}
    states = {
        d.id: ReviewState(
            d,
            required_signoffs(found[d.platform], d, d.flags | flagged),
            _counting(d, given[d.id]),
        )
        for d, flagged in zip(reviewing, screened, strict=True)
    }
    return [(v, states.get(d.id)) for d, v in zip(drafts, versions, strict=True)]


def approve(
    r: redis.Redis, actor: audit.Actor, raw_id: str, seen_hash: str, comment: str = ""
) -> ReviewState:
    """Sign off the version the reviewer saw; the last required sign-off approves the draft.

    Each person gives at most one sign-off per version, so where two are required (the
    responsible person and the propaganda department) two different people approve,
    even when one of them holds both roles. ``comment`` (审核意见) is shown to the author.
    """
    did = lifecycle.draft_id(raw_id)
    comment = validate.text(comment, "审核意见", max_len=validate.REASON_MAX, required=False)
    since = r.zscore(keys.drafts_waiting_since(listing.ALL), did)  # for the latency only

    def change(tx: Tx) -> ReviewState:
        draft, platform, mine = _reviewable(tx, actor, did, seen_hash, "approve")
        _require_running(platform, did)
        _require_pictures_read(tx, draft)
        current = _state_in(tx, draft, platform)
        signoff = _signoff_to_fill(did, actor, mine, current)
        signed = {**current.given, signoff: _signoff(actor, draft, comment)}
        tx.write.hset(keys.draft_signoffs(did), signoff, json.dumps(signed[signoff]))
        draft = _settle(draft, ReviewState(draft, current.required, signed))
        result = ReviewState(draft, current.required, signed)
        lifecycle.write_in(tx, draft, result.due)
        audit.append(
            tx,
            actor,
            "draft.approve",
            platform=platform.id,
            draft=did,
            version_hash=draft.content_hash,
            decision=draft.status,
            detail={
                "signoff": signoff,
                "missing": result.missing,
                "opened": [s for s in result.due if s not in current.due],
                **_comments(signed),
            },
        )
        return result

    result = atomically(r, [keys.draft(did), keys.draft_signoffs(did)], change, confirm=APPROVAL)
    if since is not None and result.draft.status == lifecycle.APPROVED:
        metrics.observe("qianfa_signoff_seconds", max(0.0, time.time() - since))
    return result


def reject(r: redis.Redis, actor: audit.Actor, raw_id: str, seen_hash: str, reason: str):
    """Send a draft back to its author with a reason; its sign-offs are dropped."""
    did = lifecycle.draft_id(raw_id)
    reason = validate.text(reason, "退回原因", max_len=validate.REASON_MAX)

    def change(tx: Tx) -> Draft:
        draft, platform, mine = _reviewable(tx, actor, did, seen_hash, "reject")
        draft = draft.replace(
            status=lifecycle.next_status(draft.status, "reject"), status_reason=reason
        )
        lifecycle.write_in(tx, draft)
        tx.write.delete(keys.draft_signoffs(did))
        tx.write.hset(keys.draft_rejection(did), mapping=_rejection(actor, mine, reason))
        audit.append(
            tx,
            actor,
            "draft.reject",
            platform=platform.id,
            draft=did,
            version_hash=draft.content_hash,
            decision=draft.status,
            reason=reason,
            detail={"as": sorted(mine)},
        )
        return draft

    return atomically(r, [keys.draft(did), keys.draft_signoffs(did)], change, confirm=REJECTION)


def _rejection(actor: audit.Actor, mine: set[str], reason: str) -> dict[str, str]:
    signoffs = [signoff for signoff in SIGNOFFS if signoff in mine]
    return {"person": actor.person, "as": ",".join(signoffs), "at": timestamp(), "reason": reason}


def rejection(r: redis.Redis, draft: Draft) -> dict[str, str] | None:
    """Who sent a rejected draft back, as what, when and why; ``None`` unless rejected."""
    if draft.status != lifecycle.REJECTED:
        return None
    return decode(r.hgetall(keys.draft_rejection(draft.id))) or None


def set_flag(r: redis.Redis, actor: audit.Actor, raw_id: str, flag: str, on: bool = True):
    """Mark (or clear) an art. 11 topic; marking adds the propaganda department's sign-off.

    The author and the platform's reviewers may mark; only the propaganda department clears.
    """
    did = lifecycle.draft_id(raw_id)
    flag = validate.choice(flag, lifecycle.FLAGS, "敏感标记")

    def change(tx: Tx) -> ReviewState:
        draft = lifecycle.read_in(tx, did)
        platform = platforms.read_in(tx, draft.platform)
        _require_flag_right(tx, actor, draft, platform, on)
        if (flag in draft.flags) == on:
            raise Conflict(f"稿件 {did} {'已' if on else '没有'}标记「{lifecycle.FLAGS[flag]}」")
        if draft.status in lifecycle.FINAL_OR_PUBLISHING:
            raise Conflict(f"稿件 {did} 当前为「{lifecycle.STATUSES[draft.status]}」,不能再改标记")
        draft = draft.replace(flags=draft.flags | {flag} if on else draft.flags - {flag})
        current = _state_in(tx, draft, platform)
        draft = _settle(draft, current)
        lifecycle.write_in(tx, draft, current.due)
        audit.append(
            tx,
            actor,
            "draft.flag" if on else "draft.unflag",
            platform=platform.id,
            draft=did,
            version_hash=draft.content_hash,
            decision=draft.status,
            detail={"flag": flag},
        )
        return ReviewState(draft, current.required, current.given)

    return atomically(r, [keys.draft(did), keys.draft_signoffs(did)], change)


def _settle(draft: Draft, state: ReviewState) -> Draft:
    """Match the status to the sign-offs after the requirements changed under a draft."""
    if draft.status == lifecycle.APPROVED and not state.complete:
        return draft.replace(status=lifecycle.next_status(draft.status, "reopen"))
    if draft.status == lifecycle.IN_REVIEW and state.complete:
        return draft.replace(status=lifecycle.next_status(draft.status, "approve"))
    return draft


def _reviewable(tx: Tx, actor: audit.Actor, did: str, seen_hash: str, action: str):
    """Refuse a decision on a draft that moved on, on one's own draft, or without the role."""
    draft = lifecycle.read_in(tx, did)
    lifecycle.next_status(draft.status, action)
    if (seen_hash or "").strip().lower() != draft.content_hash:
        raise Conflict(
            f"稿件 {did} 在你查看后已修改(现为第 {draft.version} 版),请查看最新版本后再审核",
            code="stale",
        )
    if actor.person and actor.person == draft.author:
        raise Forbidden("不能审核自己提交的稿件", code="self_review")
    platform = platforms.read_in(tx, draft.platform)
    if actor.person:
        tx.watch(keys.person_roles(actor.person))
    required = {req.signoff for req in required_signoffs(platform, draft, flags(tx.read, draft))}
    mine = qualifications(tx.read, actor.person, platform, draft) & required
    if not mine:
        needed = "、".join(SIGNOFFS[s] for s in sorted(required))
        raise Forbidden(f"你不是稿件 {did} 的审核人(需要:{needed})", code="not_reviewer")
    return draft, platform, mine


def _require_pictures_read(tx: Tx, draft: Draft) -> None:
    """Art. 10 covers pictures: a block found in one must land before anyone approves."""
    if pictures.pending(tx.read, draft, lifecycle.content_in(tx, draft)):
        raise Conflict(
            f"稿件 {draft.id} 的图片文字检查还在进行,完成后才能审核通过,请稍后再试",
            code="pictures_pending",
        )


def _require_flag_right(tx: Tx, actor: audit.Actor, draft: Draft, platform: Platform, on: bool):
    signoffs = qualifications(tx.read, actor.person, platform, draft)
    if on and (actor.person == draft.author or signoffs):
        return
    if not on and PROPAGANDA in signoffs:
        return
    who = "作者和审核人" if on else "党委宣传部"
    raise Forbidden(f"只有{who}可以{'标记' if on else '取消标记'}敏感内容")


def _signoff_to_fill(did: str, actor: audit.Actor, mine: set[str], state: ReviewState) -> str:
    """The first missing sign-off this reviewer may give; one person gives one sign-off."""
    if signed_by(state, actor.person):
        raise Conflict(f"你已审核通过稿件 {did} 的这一版本,等待其他审核人", code="duplicate")
    open_ = [signoff for signoff in state.due if signoff in mine]
    waiting = [req for req in state.required if req.signoff in mine and req.after in state.missing]
    if not open_ and waiting:
        first = SIGNOFFS[waiting[0].after]
        raise Conflict(
            f"稿件 {did} 须先经{first}审核,{SIGNOFFS[waiting[0].signoff]}随后审核(第十四条)",
            code="not_yet",
        )
    if not open_:
        done = "、".join(SIGNOFFS[s] for s in sorted(mine))
        raise Conflict(f"稿件 {did} 的这一版本已有{done}审核通过,等待其他审核人", code="duplicate")
    return open_[0]


def _signoff(actor: audit.Actor, draft: Draft, comment: str = "") -> dict:
    given = {
        "person": actor.person,
        "content_hash": draft.content_hash,
        "round": draft.review_round,
        "version": draft.version,
        "at": timestamp(),
    }
    return {**given, "comment": comment} if comment else given


def _comments(signed: dict[str, dict]) -> dict:
    """The reviewers' comments on this version, for the author's notice (``draft_notices``)."""
    found = {name: given["comment"] for name, given in signed.items() if given.get("comment")}
    return {"comments": found} if found else {}


def _require_running(platform: Platform, did: str) -> None:
    """Art. 17: nothing is approved on a suspended platform; review resumes with it."""
    if not platform.is_active:
        status = platforms.STATUSES.get(platform.status, platform.status)
        raise Conflict(
            f"平台 {platform.id} 当前为「{status}」,稿件 {did} 暂不能审核通过;"
            "平台恢复运行后再审核(第十七条)",
            code="platform_inactive",
        )


def _state_in(tx: Tx, draft: Draft, platform: Platform) -> ReviewState:
    required = required_signoffs(platform, draft, flags(tx.read, draft))
    return ReviewState(draft, required, valid_signoffs(tx.read, draft))


def flags(r, draft: Draft) -> frozenset[str]:
    """The draft's art. 11 flags: the author's and reviewers' marks and what screening found."""
    return draft.flags | screening.flags_for(r, draft)


def valid_signoffs(r, draft: Draft) -> dict[str, dict]:
    """Sign-offs given for the draft's current content in its current round; older ones
    do not count."""
    return _current(draft, r.hgetall(keys.draft_signoffs(draft.id)))


def _current(draft: Draft, raw) -> dict[str, dict]:
    return _counting(draft, _parsed(raw))


def _parsed(raw) -> dict[str, dict]:
    return {name: json.loads(value) for name, value in decode(raw).items()}


def _counting(draft: Draft, given: dict[str, dict]) -> dict[str, dict]:
    return {name: s for name, s in given.items() if counts(draft, s)}


def counts(draft: Draft, given: dict) -> bool:
    """Whether a stored sign-off vouches for the draft now: same content, same review round
    (one stored before rounds were counted has none, as such a draft's round is 0)."""
    same_round = given.get("round", 0) == draft.review_round
    return given["content_hash"] == draft.content_hash and same_round


def reindex(r: redis.Redis) -> int:
    """Rebuild every draft's listing indexes from the draft itself (after an upgrade)."""
    ids = [raw.decode() for raw in r.zrange(keys.drafts(), 0, -1)]
    for did in ids:
        atomically(r, [keys.draft(did), keys.draft_signoffs(did)], _reindex_in(did))
    return len(ids)


def _reindex_in(did: str):
    def change(tx: Tx) -> None:
        draft = lifecycle.read_in(tx, did)
        platform = platforms.read_in(tx, draft.platform)
        lifecycle.write_in(tx, draft, _state_in(tx, draft, platform).due)

    return change
