"""``GET/POST /wechat/<platform>``: WeChat's callbacks, handed to ``app.webhook``.

The body is read only up to the size limit, so a 10 MB POST costs no more than the limit.
A POST goes to the gateway straight from WSGI (``Direct``), around Flask's request machinery.
"""

from flask import Blueprint, Flask, Response, current_app, request
from werkzeug.wrappers import Request

from app.core import metrics
from app.core.masterkey import load_keyring
from app.web import headers, redis_client, settings
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


def bounded_body(limit: int, incoming: Request) -> bytes | None:
    """The request body, or None when it is larger than ``limit`` (then left unread)."""
    length = incoming.content_length
    if length is not None:
        return incoming.get_data(cache=False) if length <= limit else None
    body = incoming.stream.read(limit + 1)  # chunked: read no more than the limit allows
    return None if len(body) > limit else body


@bp.get("/wechat/<platform_id>")
def verify(platform_id: str):
    args = request.args.to_dict()
    return render(gateway().verify_url(platform_id, args, request.remote_addr or ""))


@bp.post("/wechat/<platform_id>")
def receive(platform_id: str):
    """What ``Direct`` answers; reached only where ``Direct`` is not installed."""
    return answer(gateway(), platform_id, request)


def answer(gw: Gateway, platform_id: str, incoming: Request) -> Response:
    body = bounded_body(gw.limits.max_body, incoming)
    args = incoming.args.to_dict()
    return render(gw.callback(platform_id, args, body, incoming.remote_addr or ""))


class Direct:
    """WSGI: ``POST /wechat/<platform>`` straight to the gateway; every other request to Flask.

    Callbacks are the hot path (WeChat waits 5 s; issue 17 asks p99 < 50 ms at 32
    connections), and Flask's request context, URL matching and response finishing cost
    about a quarter of a callback's CPU. The answer is ``receive``'s, with the security
    header every response gets (``headers.EVERYWHERE``); an exception goes through Flask's
    own error handlers. The path is matched as Flask's route matches it: one segment,
    not empty, decoded from the WSGI string as Werkzeug decodes it.
    """

    def __init__(self, app: Flask):
        self.app, self.flask = app, app.wsgi_app
        self.gateway: Gateway | None = None

    def __call__(self, environ, start_response):
        platform_id = _posted_platform(environ)
        if platform_id is None:
            return self.flask(environ, start_response)
        try:
            response = answer(self._gateway(), platform_id, Request(environ))
            response.headers.update(headers.EVERYWHERE)
        except Exception as exc:
            with self.app.request_context(environ):
                response = self.app.finalize_request(self.app.handle_user_exception(exc))
        return response(environ, start_response)

    def _gateway(self) -> Gateway:
        if self.gateway is None:
            with self.app.app_context():
                self.gateway = gateway()
        return self.gateway


def _posted_platform(environ) -> str | None:
    path = environ.get("PATH_INFO", "")
    if environ.get("REQUEST_METHOD") != "POST" or not path.startswith(PREFIX):
        return None
    segment = path[len(PREFIX) :]
    if not segment or "/" in segment:
        return None  # Flask answers it (404, or its redirect for a trailing slash)
    return segment.encode("latin-1").decode("utf-8", "replace")


PREFIX = "/wechat/"
