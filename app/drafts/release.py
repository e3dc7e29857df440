"""Releasing a blocked draft (放行): the propaganda department judges its blocking hits false.

The draft goes into review as at ``submit``. Its stored result keeps the hits, marked as
released with who and why, as warnings that every channel shows to the reviewers. The
release is kept for the version (``keys.draft_release``), so screening the same content
again (the publish job's ``recheck``, the pictures worker) keeps those hits released while
any other block still blocks; an edit is a new version, screened afresh. With
``whitelist``, the phrase around each released hit joins its category's whitelist first
(``screening.allowlist``), so the next campaign passes on its own.
"""

import json
from collections import Counter

import redis

from app import screening
from app.core import audit, keys, validate
from app.core.errors import Conflict, Forbidden, InvalidInput, QianfaError
from app.core.store import Tx, atomically, timestamp
from app.drafts import lifecycle
from app.drafts.signoffs import required_signoffs
from app.registry import access, people, platforms
from app.screening import allowlist, pictures


def release(
    r: redis.Redis, actor: audit.Actor, raw_id: str, reason: str, *, whitelist: bool = False
) -> lifecycle.Draft:
    """Send a blocked draft to review with its blocking hits released; audited with the reason."""
    access.authorize(r, actor, (access.PROPAGANDA,), "放行被拦截的稿件")
    did = lifecycle.draft_id(raw_id)
    reason = validate.text(reason, "放行理由", max_len=validate.REASON_MAX)
    draft = lifecycle.get(r, did)
    found = _releasable(actor, draft, screening.stored(r, did, draft.version))
    phrases = _phrases(r, draft, found) if whitelist else []
    for category, phrase in phrases:
        allowlist.allow(r, actor, category, phrase)
    mark = {"person": actor.person, "name": _name(r, actor), "reason": reason, "at": timestamp()}

    def change(tx: Tx) -> lifecycle.Draft:
        current = lifecycle.read_in(tx, did)
        tx.watch(keys.draft_screening(did, current.version))
        stored = _releasable(actor, current, screening.stored(tx.read, did, current.version))
        platforms.require_active_in(tx, current.platform)
        platform = platforms.read_in(tx, current.platform)
        terms = {(h.category, h.term) for h in stored.hits_with(screening.BLOCK)}
        released = stored.released(terms, mark)
        updated = current.replace(
            status=lifecycle.next_status(current.status, "release"),
            status_reason=f"党委宣传部已放行:{reason}"[: validate.REASON_MAX],
        )
        updated = lifecycle.begin_round_in(tx, updated)  # sign-offs from before the block are void
        needed = required_signoffs(platform, updated, updated.flags | released.flags)
        kept = {**mark, "content_hash": current.content_hash, "terms": sorted(terms)}
        tx.write.set(keys.draft_release(did, current.version), json.dumps(kept, ensure_ascii=False))
        screening.record_in(tx, current, released)
        lifecycle.write_in(tx, updated, [req.signoff for req in needed])
        counts = Counter(category for category, _ in terms)
        audit.append(
            tx,
            actor,
            "draft.release",
            platform=current.platform,
            draft=did,
            version_hash=current.content_hash,
            decision=updated.status,
            reason=reason,
            detail={"released": dict(sorted(counts.items())), "whitelisted": len(phrases)},
        )
        return updated

    return atomically(r, [keys.draft(did)], change)


def kept_in(read, draft, found: screening.Screening) -> screening.Screening:
    """``found`` with the hits released for this version still released (re-screening)."""
    raw = read.get(keys.draft_release(draft.id, draft.version))
    mark = json.loads(raw) if raw else None
    if not mark or mark["content_hash"] != draft.content_hash:
        return found
    terms = {tuple(pair) for pair in mark["terms"]}
    shown = {k: mark[k] for k in ("person", "name", "reason", "at")}
    return found.released(terms, shown)


def _releasable(actor: audit.Actor, draft, found) -> screening.Screening:
    """The blocking result of the draft's current version, if this actor may release it."""
    if draft.status != lifecycle.BLOCKED:
        status = lifecycle.STATUSES[draft.status]
        raise Conflict(
            f"稿件 {draft.id} 当前为「{status}」,没有被拦截,无需放行", code="not_blocked"
        )
    if actor.person and actor.person == draft.author:
        raise Forbidden(f"不能放行自己的稿件 {draft.id}", code="own_draft")
    current = found is not None and found.content_hash == draft.content_hash
    if not current or found.verdict != screening.BLOCK:
        raise Conflict(f"稿件 {draft.id} 当前版本没有拦截的检查结果,无法放行", code="not_blocked")
    return found


def _phrases(r: redis.Redis, draft, found: screening.Screening) -> list[tuple[str, str]]:
    """The phrase around each blocking hit, for its category's whitelist; refused as a
    whole when one cannot be whitelisted, so nothing is half done."""
    texts = dict(lifecycle.version(r, draft.id).content)
    readings = pictures.stored(r, draft.id, draft.version, draft.content_hash) or []
    texts.update(pictures.fields(readings)[0])
    phrases = set()
    for hit in found.hits_with(screening.BLOCK):
        if hit.pattern or hit.category not in screening.CATEGORIES:
            raise InvalidInput(
                f"{hit.category_zh}{hit.shown}由规则检查发现,不能加入白名单;请不选加入白名单再放行"
            )
        around = allowlist.phrase_around(texts.get(hit.field, ""), hit.start, hit.end, hit.term)
        phrases.add((hit.category, allowlist.check(hit.category, around, hit.term)))
    return sorted(phrases)


def _name(r: redis.Redis, actor: audit.Actor) -> str:
    if not actor.person:
        return f"操作员 {actor.operator}"
    try:
        return f"党委宣传部 {people.get(r, actor.person).name}"
    except QianfaError:
        return f"党委宣传部 {actor.person}"
