"""Re-screening (复查): a draft's current version screened again when the lexicons changed.

The publish job calls ``recheck`` before it publishes. Screening itself stays pure: it
stores and reads results; the moves a new result causes (``block``, ``reopen``) are made
here, beside the draft's table of transitions. ``record_pictures`` is the same for what the
pictures worker read in a version's pictures: it ends the picture checks (audited
``draft.pictures``, whose job tells the reviewers who were told they were running), and a
``block`` from a picture moves the draft before anyone could approve it (review waits).
"""

import redis

from app import screening
from app.core import audit, keys, validate
from app.core.store import Tx, atomically
from app.drafts import lifecycle, release, review
from app.registry import platforms
from app.screening import pictures
from app.screening.results import Screening


def recheck(r: redis.Redis, raw_id: str) -> Screening:
    """Screen the current version again if the lexicons changed since; for the publish job.

    A ``block`` moves the draft to ``blocked`` where the table allows it; new art. 11 flags
    reopen an approved draft whose sign-offs no longer cover them. The caller checks
    the draft's status afterwards. Unchanged lexicons: the stored result, nothing written.
    """
    rules = screening.rules()
    did = lifecycle.draft_id(raw_id)

    def change(tx: Tx) -> Screening:
        draft = lifecycle.read_in(tx, did)
        before = screening.stored(tx.read, did, draft.version)
        if before and (before.lexicon_version, before.content_hash) == (
            rules.version,
            draft.content_hash,
        ):
            return before
        readings = pictures.stored(tx.read, did, draft.version, draft.content_hash)
        content = lifecycle.content_in(tx, draft)
        return _rescreened_in(tx, draft, before, content, rules, readings)

    return atomically(r, [keys.draft(did)], change)


def record_pictures(r: redis.Redis, raw_id: str, content_hash: str, readings) -> Screening | None:
    """Store what was read in a version's pictures and screen the version with it.

    ``None`` when the draft has moved on to another version (its own check follows).
    """
    rules = screening.rules()
    did = lifecycle.draft_id(raw_id)

    def change(tx: Tx) -> Screening | None:
        draft = lifecycle.read_in(tx, did)
        if draft.content_hash != content_hash:
            return None
        before = screening.stored(tx.read, did, draft.version)
        content = lifecycle.content_in(tx, draft)
        found = _rescreened_in(tx, draft, before, content, rules, readings)
        pictures.store_in(tx, did, draft.version, content_hash, readings)
        audit.append(
            tx,
            screening.SYSTEM,
            "draft.pictures",
            platform=draft.platform,
            draft=did,
            version_hash=content_hash,
            decision=found.verdict,
            detail={"pictures": len(readings)},
        )
        return found

    return atomically(r, [keys.draft(did)], change)


def _rescreened_in(tx: Tx, draft, before, content, rules, readings) -> Screening:
    found = screening.screen_version(draft, content, rules, readings)
    found = release.kept_in(tx.read, draft, found)  # hits released for this version stay so
    new_flags = not found.flags <= (before.flags if before else frozenset())
    action, awaiting = _consequence(tx, draft, found, new_flags)
    screening.record_in(tx, draft, found, alert_sensitive=new_flags)
    if action:
        _move_in(tx, draft, action, found, awaiting)
    return found


def _consequence(tx: Tx, draft, found: Screening, new_flags: bool) -> tuple[str, list[str]]:
    """The move the new result causes, with the sign-offs a reopened draft waits for."""
    if found.verdict == screening.BLOCK and (draft.status, "block") in lifecycle.TRANSITIONS:
        return "block", []
    if draft.status == lifecycle.APPROVED and new_flags:
        platform = platforms.read_in(tx, draft.platform)
        required = review.required_signoffs(platform, draft, draft.flags | found.flags)
        state = review.ReviewState(draft, required, review.valid_signoffs(tx.read, draft))
        if not state.complete:
            return "reopen", state.due
    return "", []


def _move_in(tx: Tx, draft, action: str, found: Screening, awaiting: list[str]) -> None:
    reason = found.summary_zh()[: validate.REASON_MAX]
    moved = draft.replace(status=lifecycle.next_status(draft.status, action), status_reason=reason)
    lifecycle.write_in(tx, moved, awaiting)
    audit.append(
        tx,
        screening.SYSTEM,
        f"draft.{action}",
        platform=draft.platform,
        draft=draft.id,
        version_hash=draft.content_hash,
        decision=moved.status,
        reason=reason,
    )
