"""``GET/POST /wechat/<platform>``: WeChat's callbacks, handed to ``app.webhook``.

The body is read only up to the size limit, so a 10 MB POST costs no more than the limit.
"""

from flask import Blueprint, Response, current_app, request

from app.core import metrics
from app.core.masterkey import load_keyring
from app.web import redis_client, settings
from app.webhook import Answer, Gateway, Limits

bp = Blueprint("wechat", __name__)
EXTENSION = "qianfa.webhook"


def gateway() -> Gateway:
    """This process's gateway, built on first use: it caches revealed platform secrets."""
    found = current_app.extensions.get(EXTENSION)
    if found is None:
        found = Gateway(redis_client(), load_keyring(settings()), Limits.of(settings()))
        current_app.extensions[EXTENSION] = found
    return found


def render(answer: Answer) -> Response:
    """The answer, counted: a refusal's body is its reason (``app.webhook.refusals``)."""
    refused = answer.status >= 400
    metrics.count(
        "qianfa_callbacks_total",
        result="refused" if refused else "accepted",
        reason=answer.body if refused else "",
    )
    return Response(answer.body, status=answer.status, content_type=answer.content_type)


def bounded_body(limit: int) -> bytes | None:
    """The request body, or None when it is larger than ``limit`` (then left unread)."""
    length = request.content_length
    if length is not None:
        return request.get_data(cache=False) if length <= limit else None
    body = request.stream.read(limit + 1)  # chunked: read no more than the limit allows
    return None if len(body) > limit else body


@bp.get("/wechat/<platform_id>")
def verify(platform_id: str):
    args = request.args.to_dict()
    return render(gateway().verify_url(platform_id, args, request.remote_addr or ""))


@bp.post("/wechat/<platform_id>")
def receive(platform_id: str):
    gw = gateway()
    body = bounded_body(gw.limits.max_body)
    args = request.args.to_dict()
    return render(gw.callback(platform_id, args, body, request.remote_addr or ""))
