"""Screening results in Redis, one per draft version, and what a verdict does to a draft.

A result is stored in the transaction that moves the draft, together with an audit
record that keeps the lexicon version, the verdict and the count per category (never
the text) and, for ``block`` and ``escalate``, an alert to the propaganda department.
"""

import dataclasses
import json
from datetime import datetime

import redis

from app.core import alerts, audit, keys, validate
from app.core.store import Tx, timestamp
from app.screening import pictures
from app.screening.categories import BLOCK, name_zh
from app.screening.engine import post_day, screen
from app.screening.lexicons import Rules
from app.screening.results import Screening

SYSTEM = audit.Actor.system("screening")
BLOCK_DETAIL = 5


def screen_version(draft, content: dict[str, str], rules: Rules, readings=None) -> Screening:
    """Screen one version of a draft; the result names the version and its content hash.

    Rules with dates judge the post by the day it goes out: its scheduled time, or today.
    ``readings`` are what OCR read in its pictures (``pictures.stored``), screened with it.
    """
    scheduled = datetime.fromisoformat(draft.scheduled_at) if draft.scheduled_at else None
    texts, problems = pictures.fields(readings or [])
    found = screen({**content, **texts}, rules=rules, on=post_day(scheduled), unreadable=problems)
    return dataclasses.replace(
        found, version=draft.version, content_hash=draft.content_hash, screened_at=timestamp()
    )


def result_for(r: redis.Redis, raw_id: str, version: int | None = None) -> Screening | None:
    """The stored result of a version (default: the current one); ``None`` if never screened."""
    did = validate.short_id(raw_id, "D", "稿件")
    if version is None:
        current = r.hget(keys.draft(did), "version")
        if current is None:
            return None
        version = int(current)
    return stored(r, did, version)


def stored(r, did: str, version: int) -> Screening | None:
    raw = r.get(keys.draft_screening(did, version))
    return Screening.from_dict(json.loads(raw)) if raw else None


def flags_for(r, draft) -> frozenset[str]:
    """The art. 11 flags screening added to the draft's current content."""
    return _current_flags(draft, stored(r, draft.id, draft.version))


def queue_flags(pipe, drafts: list):
    """``flags_for`` of each draft of a page, as one MGET queued on a pipeline other reads
    share (``store.one_trip``)."""
    if drafts:
        pipe.mget([keys.draft_screening(draft.id, draft.version) for draft in drafts])

    def result(replies) -> list[frozenset[str]]:
        found = next(replies) if drafts else []
        return [
            _current_flags(draft, Screening.from_dict(json.loads(raw)) if raw else None)
            for draft, raw in zip(drafts, found, strict=True)
        ]

    return result


def _current_flags(draft, found: Screening | None) -> frozenset[str]:
    if found is None or found.content_hash != draft.content_hash:
        return frozenset()
    return found.flags


def record_in(tx: Tx, draft, found: Screening, *, alert_sensitive: bool = True) -> None:
    """Store the result, audit it and alert the propaganda department as its verdict says."""
    tx.write.set(
        keys.draft_screening(draft.id, found.version),
        json.dumps(found.to_dict(), ensure_ascii=False, sort_keys=True),
    )
    audit.append(
        tx,
        SYSTEM,
        "draft.screen",
        platform=draft.platform,
        draft=draft.id,
        version_hash=found.content_hash,
        decision=found.verdict,
        detail=found.audit_detail(),
    )
    which = f"稿件 {draft.id} 第 {found.version} 版"
    if found.verdict == BLOCK:
        kind, message = "prohibited_content", f"{which}含有禁止发布的内容,已拦截"
    elif found.flags and alert_sensitive:
        topics = "、".join(name_zh(flag) for flag in sorted(found.flags))
        kind, message = "sensitive_draft", f"{which}涉及{topics},须经党委宣传部审核"
    else:
        return
    alerts.queue_in(
        tx, kind, message, platform=draft.platform, draft=draft.id, detail=found.audit_detail()
    )


def blocked_message(draft_id: str, found: Screening) -> str:
    """What the author is told: which categories, which words, where."""
    hits = found.hits_with(BLOCK)
    shown = ";".join(f"{h.category_zh}:{h.shown}({h.where_zh})" for h in hits[:BLOCK_DETAIL])
    more = f" 等 {len(hits)} 处" if len(hits) > BLOCK_DETAIL else ""
    return (
        f"稿件 {draft_id} 含有禁止发布的内容,已拦截并通报党委宣传部:{shown}{more}。请修改后重新提交"
    )
