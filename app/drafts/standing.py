"""Whether an approval still stands (art. 14), and the moves that send a draft back to review.

A sign-off vouches for one content version (``review``), given by someone holding a role, at
a time. It stops vouching when the draft is not published within ``QIANFA_APPROVAL_TTL`` of
its last sign-off (a scheduled post: of its scheduled time, when later), or when a signer no
longer holds the role they signed as. Publishing asks ``lapsed`` before it starts
(``publishing.steps``) and the ``sweep_approvals`` job asks it of every approved draft; either
way the draft goes back to review with its sign-offs void (``lapse``). ``plan_in`` and
``apply_in`` are every move of ``TRANSITIONS`` made for the draft rather than by its author
(hold, resume, close, lapse), split in a read and a write phase so that one transaction can
move many drafts (``suspension``).
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

import redis

from app.core import audit, keys
from app.core.errors import QianfaError
from app.core.store import Tx, atomically, now
from app.drafts import lifecycle, review
from app.drafts.lifecycle import Draft
from app.registry import people, platforms

SYSTEM = audit.Actor.system("approvals")
SCAN_LIMIT = 10_000


@dataclass(frozen=True)
class Move:
    """One planned move: ``awaiting`` is what a draft going back to review waits for."""

    draft: Draft
    action: str
    awaiting: list[str] | None


def plan_in(tx: Tx, draft: Draft, action: str) -> Move:
    """Read what the move needs (refused by ``TRANSITIONS`` if it is not allowed)."""
    tx.watch(keys.draft(draft.id), keys.draft_signoffs(draft.id))
    if lifecycle.next_status(draft.status, action) != lifecycle.IN_REVIEW:
        return Move(draft, action, None)
    platform = platforms.read_in(tx, draft.platform)
    required = review.required_signoffs(platform, draft, review.flags(tx.read, draft))
    return Move(draft, action, [req.signoff for req in required])


def apply_in(tx: Tx, actor: audit.Actor, move: Move, reason: str, detail=None) -> Draft:
    """Write a planned move with its audit record; back in review, a new review round
    starts (``lifecycle.begin_round_in``): every sign-off is void and reviewers are asked
    (and reminded) anew."""
    if move.awaiting is None:
        return lifecycle.move_in(tx, actor, move.draft, move.action, reason, detail)
    draft = lifecycle.begin_round_in(tx, move.draft)
    detail = {**(detail or {}), "voided_signoffs": True}
    return lifecycle.move_in(tx, actor, draft, move.action, reason, detail, move.awaiting)


def deadline(draft: Draft, given: dict[str, dict], ttl: int) -> datetime | None:
    """When the approval lapses: ``ttl`` seconds after the last sign-off or the publish time."""
    times = [datetime.fromisoformat(signoff["at"]) for signoff in given.values()]
    if draft.scheduled_at:
        times.append(datetime.fromisoformat(draft.scheduled_at))
    return max(times) + timedelta(seconds=ttl) if times else None


def lapsed(r, draft: Draft, ttl: int, as_of: datetime | None = None) -> str:
    """Why an approved draft's approval no longer stands; "" while it does (or not approved)."""
    if draft.status != lifecycle.APPROVED:
        return ""
    current = review.state(r, draft.id)
    if not current.complete:
        missing = "、".join(review.SIGNOFFS[name] for name in current.missing)
        return f"当前版本缺少签发:{missing}(第十四条:先审后发)"
    platform = platforms.get(r, draft.platform)
    for name, given in sorted(current.given.items()):
        if name not in review.qualifications(r, given["person"], platform, draft):
            role = review.SIGNOFFS[name]
            return f"签发人{_name(r, given['person'])}已不再担任{role},其签发作废(第十四条)"
    ends = deadline(draft, current.given, ttl)
    if ends is not None and (as_of or now()) >= ends:
        return f"审核通过后 {_span(ttl)}内未发布,签发已过期(第十四条),须重新审核"
    return ""


def lapse(r: redis.Redis, raw_id: str, ttl: int, as_of: datetime | None = None) -> Draft | None:
    """Send an approved draft whose approval lapsed back to review; None if it stands."""
    did = lifecycle.draft_id(raw_id)

    def change(tx: Tx) -> Draft | None:
        draft = lifecycle.read_in(tx, did)
        why = lapsed(tx.read, draft, ttl, as_of)
        if not why:
            return None
        return apply_in(tx, SYSTEM, plan_in(tx, draft, "lapse"), why)

    return atomically(r, [keys.draft(did), keys.draft_signoffs(did)], change)


def sweep(r: redis.Redis, ttl: int, as_of: datetime | None = None) -> list[str]:
    """Lapse every approved draft whose approval no longer stands; the ids moved."""
    approved = lifecycle.list_drafts(r, status=lifecycle.APPROVED, limit=SCAN_LIMIT)
    return [
        draft.id
        for draft in approved
        if lapsed(r, draft, ttl, as_of) and lapse(r, draft.id, ttl, as_of) is not None
    ]


def _name(r, person_id: str) -> str:
    try:
        return people.get(r, person_id).name
    except QianfaError:
        return person_id


def _span(seconds: int) -> str:
    if seconds % 86400 == 0:
        return f"{seconds // 86400} 天"
    if seconds % 3600 == 0:
        return f"{seconds // 3600} 小时"
    return f"{seconds // 60} 分钟"
