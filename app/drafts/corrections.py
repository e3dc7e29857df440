"""Adopting screening's suggestions (采纳): every correction applied at once, as a new version.

Expression rules and the leaders' table give each hit the correct form (``Hit.suggestion``).
``adopt`` writes them into the current version's text and saves the result through
``lifecycle.edit``: a new version like any edit, so earlier sign-offs are void and the new
version is screened again. A suggestion is left out when its place no longer holds the
text it was found in, overlaps one applied before it, or crosses HTML markup.
"""

import html
from dataclasses import dataclass

import redis

from app import screening
from app.core import audit
from app.core.errors import Conflict
from app.drafts import lifecycle
from app.screening.engine import HTML_FIELDS

MARKUP = ("<", ">", "&")


@dataclass(frozen=True)
class Adopted:
    draft: lifecycle.Draft
    applied: int
    skipped: int


def adopt(r: redis.Redis, actor: audit.Actor, raw_id: str) -> Adopted:
    """Apply every suggestion of the current version's screening; only its author may."""
    draft = lifecycle.get(r, raw_id)
    found = screening.stored(r, draft.id, draft.version)
    if found is None or found.content_hash != draft.content_hash:
        raise Conflict(f"稿件 {draft.id} 第 {draft.version} 版还没有内容检查结果,没有可采纳的建议")
    current = lifecycle.version(r, draft.id, draft.version)
    content, applied, skipped = apply(current.content, found.hits)
    if not applied:
        raise Conflict(f"稿件 {draft.id} 第 {draft.version} 版没有可以自动采纳的修改建议")
    updated = lifecycle.edit(r, actor, draft.id, content, base_hash=draft.content_hash)
    return Adopted(updated, applied, skipped)


def apply(content: dict[str, str], hits) -> tuple[dict[str, str], int, int]:
    """The content with each field's suggestions written in; how many applied and skipped."""
    by_field: dict[str, list] = {}
    for hit in hits:
        if hit.suggestion:
            by_field.setdefault(hit.field, []).append(hit)
    corrected, applied, skipped = dict(content), 0, 0
    for field, mine in by_field.items():
        text = content.get(field)
        if not isinstance(text, str):
            skipped += len(mine)
            continue
        corrected[field], done = _rewrite(text, mine, html_field=field in HTML_FIELDS)
        applied, skipped = applied + done, skipped + len(mine) - done
    return corrected, applied, skipped


def _rewrite(text: str, hits, *, html_field: bool) -> tuple[str, int]:
    pieces, reach, done = [], 0, 0
    for hit in sorted(hits, key=lambda h: (h.start, -h.end)):
        original = text[hit.start : hit.end]
        if hit.start < reach or original != hit.excerpt:
            continue
        if html_field and any(mark in original for mark in MARKUP):
            continue
        suggestion = html.escape(hit.suggestion, quote=False) if html_field else hit.suggestion
        pieces += [text[reach : hit.start], suggestion]
        reach, done = hit.end, done + 1
    return "".join(pieces) + text[reach:], done
