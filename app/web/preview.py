"""``/preview/<token>``: one version of a draft, as it will look on WeChat, for reviewers.

The signed token is the authorization (``app.drafts.preview``). The article's HTML is the
author's, so the page shows it only in a sandboxed frame (``/preview/<token>/body``);
the headers of both are set in ``app.web.headers``.
"""

from flask import Blueprint, render_template

from app import screening
from app.core.errors import QianfaError
from app.core.masterkey import load_keyring
from app.drafts import lifecycle, preview
from app.registry import platforms
from app.web import authorhtml, redis_client, settings

bp = Blueprint("preview", __name__)


def _pieces(version: lifecycle.Version, found) -> list:
    """The text of a text or image post cut for highlighting what screening found."""
    field = {"text": "text", "image": "caption"}.get(version.kind)
    if field is None:
        return []
    hits = found.hits if found else ()
    return screening.runs(version.content[field], hits, field=field)


def _opened(token: str) -> tuple[lifecycle.Draft, lifecycle.Version]:
    r = redis_client()
    draft_id, number = preview.open_token(load_keyring(settings()), token)
    return lifecycle.get(r, draft_id), lifecycle.version(r, draft_id, number)


@bp.errorhandler(QianfaError)
def refused(error: QianfaError):
    return render_template("preview_error.html", message=error.message), error.status


@bp.get("/preview/<token>")
def show(token: str):
    r = redis_client()
    draft, version = _opened(token)
    found = screening.result_for(r, draft.id, version.number)
    return render_template(
        "preview.html",
        token=token,
        draft=draft,
        version=version,
        platform=platforms.get(r, draft.platform),
        status=lifecycle.STATUSES[draft.status],
        kind=lifecycle.KINDS[draft.kind],
        found=found,
        pieces=_pieces(version, found),
    )


@bp.get("/preview/<token>/body")
def body(token: str):
    """The article's body, for the preview page's sandboxed frame."""
    _, version = _opened(token)
    return authorhtml.frame(version.content.get("content_html", ""))
