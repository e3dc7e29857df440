"""``/preview/<token>``: one version of a draft, as it will look on WeChat, for reviewers.

The signed token is the authorization (``app.preview``). The article's HTML is the
author's, so the page forbids every script and sends no referrer, which would carry
the token to image hosts.
"""

from flask import Blueprint, make_response, render_template

from app import drafts, platforms, preview, screening
from app.errors import QianfaError
from app.masterkey import load_keyring
from app.web import redis_client, settings

bp = Blueprint("preview", __name__)

POLICY = (
    "default-src 'none'; img-src https: http: data:; style-src 'unsafe-inline'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def _pieces(version: drafts.Version, found) -> list:
    """The text of a text or image post cut for highlighting what screening found."""
    field = {"text": "text", "image": "caption"}.get(version.kind)
    if field is None:
        return []
    hits = found.hits if found else ()
    return screening.runs(version.content[field], hits, field=field)


@bp.get("/preview/<token>")
def show(token: str):
    r = redis_client()
    try:
        draft_id, number = preview.open_token(load_keyring(settings()), token)
        draft = drafts.get(r, draft_id)
        version = drafts.version(r, draft_id, number)
        platform = platforms.get(r, draft.platform)
        found = screening.result_for(r, draft_id, number)
        page = render_template(
            "preview.html",
            draft=draft,
            version=version,
            platform=platform,
            status=drafts.STATUSES[draft.status],
            kind=drafts.KINDS[draft.kind],
            found=found,
            pieces=_pieces(version, found),
        )
        status = 200
    except QianfaError as error:
        page, status = render_template("preview_error.html", message=error.message), error.status
    response = make_response(page, status)
    response.headers["Content-Security-Policy"] = POLICY
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
