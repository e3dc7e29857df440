"""The JSON the API answers with: drafts, their review state and uploads.

Field names here are the API's contract (``openapi.SCHEMAS`` describes them); domain
objects change shape without the API changing with them.
"""

import redis

from app import screening
from app.drafts import lifecycle, review, uploads


def summary(draft: lifecycle.Draft) -> dict:
    """A draft without its content, as lists show it."""
    return {
        "id": draft.id,
        "platform": draft.platform,
        "author": draft.author,
        "kind": draft.kind,
        "status": draft.status,
        "status_label": lifecycle.STATUSES[draft.status],
        "status_reason": draft.status_reason,
        "version": draft.version,
        "content_hash": draft.content_hash,
        "flags": sorted(draft.flags),
        "scheduled_at": draft.scheduled_at or None,
        "contributed_from": draft.contributed_from or None,
        "created_at": draft.created_at,
        "updated_at": draft.updated_at,
    }


def draft(r: redis.Redis, draft_id: str) -> dict:
    """A draft with its current version's content and who still has to sign it off."""
    state = review.state(r, draft_id)
    current = lifecycle.version(r, draft_id, state.draft.version)
    return {
        **summary(state.draft),
        "content": current.content,
        "version_created_at": current.created_at,
        "review": review_state(state),
        "screening": _screening(r, draft_id),
    }


def _screening(r: redis.Redis, draft_id: str) -> dict | None:
    """The current version's screening: verdict and hits with their positions, for highlighting."""
    found = screening.result_for(r, draft_id)
    return found.to_dict() if found else None


def review_state(state: review.ReviewState) -> dict:
    return {
        "required": [
            {"signoff": req.signoff, "label": review.SIGNOFFS[req.signoff], "rule": req.rule}
            for req in state.required
        ],
        "given": [
            {
                "signoff": name,
                "label": review.SIGNOFFS[name],
                "person": given["person"],
                "version": given["version"],
                "at": given["at"],
                "comment": given.get("comment", ""),
            }
            for name, given in sorted(state.given.items())
        ],
        "missing": state.missing,
        "complete": state.complete,
    }


def upload(saved: uploads.Upload) -> dict:
    return {
        "ref": saved.ref,
        "sha256": saved.sha256,
        "content_type": saved.content_type,
        "size": saved.size,
        "created_at": saved.created_at,
    }
