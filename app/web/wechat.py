"""``GET/POST /wechat/<platform>``: WeChat's callbacks, handed to ``app.webhook``.

The body is read only up to the size limit, so a 10 MB POST costs no more than the limit.
A POST goes to the gateway straight from WSGI (``Direct``), around Flask's request machinery.
"""

from urllib.parse import parse_qsl

from flask import Blueprint, Flask, Response, current_app, request
from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.wsgi import get_content_length, get_input_stream

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
    """The answer as a Flask response, counted."""
    return response_of(counted(answer))


def response_of(answer: Answer) -> Response:
    return Response(answer.body, status=answer.status, content_type=answer.content_type)


def counted(answer: Answer) -> Answer:
    """Count the answer: a refusal's body is its reason (``app.webhook.refusals``)."""
    refused = answer.status >= 400
    metrics.count(
        "qianfa_callbacks_total",
        result="refused" if refused else "accepted",
        reason=answer.body if refused else "",
    )
    return answer


def bounded_body(limit: int, environ) -> bytes | None:
    """The request body, or None when it is larger than ``limit`` (then left unread).

    Read as Werkzeug's ``Request.get_data`` reads it (``get_input_stream``: no further
    than Content-Length, nothing without one unless the server ended the stream).
    """
    length, stream = get_content_length(environ), get_input_stream(environ)
    if length is not None:
        return stream.read() if length <= limit else None
    body = stream.read(limit + 1)  # chunked: read no more than the limit allows
    return None if len(body) > limit else body


def query(environ) -> dict[str, str]:
    """The query's first value of each name, decoded as Werkzeug's ``Request.args``."""
    text = environ.get("QUERY_STRING", "").encode("latin1").decode()
    pairs = parse_qsl(text, keep_blank_values=True, errors="werkzeug.url_quote")
    first: dict[str, str] = {}
    for name, value in pairs:
        first.setdefault(name, value)
    return first


@bp.get("/wechat/<platform_id>")
def verify(platform_id: str):
    args = request.args.to_dict()
    return render(gateway().verify_url(platform_id, args, request.remote_addr or ""))


@bp.post("/wechat/<platform_id>")
def receive(platform_id: str):
    """What ``Direct`` answers; reached only where ``Direct`` is not installed."""
    return response_of(answer(gateway(), platform_id, request.environ))


def answer(gw: Gateway, platform_id: str, environ) -> Answer:
    """The gateway's answer to a POST, counted."""
    body = bounded_body(gw.limits.max_body, environ)
    args = query(environ)
    return counted(gw.callback(platform_id, args, body, environ.get("REMOTE_ADDR") or ""))


class Direct:
    """WSGI: ``POST /wechat/<platform>`` straight to the gateway; every other request to Flask.

    Callbacks are the hot path (WeChat waits 5 s; issue 17 asks p99 < 50 ms at 32
    connections), and Flask's request context, URL matching and response finishing cost
    about a quarter of a callback's CPU; Werkzeug's request and response objects another
    ~50 µs, so the body, query and answer are handled on the environ, as Werkzeug would
    (``bounded_body``, ``query``; the status line and headers of its ``Response``). The
    answer is ``receive``'s, with the security header every response gets
    (``headers.EVERYWHERE``); an exception goes through Flask's own error handlers. The
    path is matched as Flask's route matches it: one segment, not empty, decoded from
    the WSGI string as Werkzeug decodes it.
    """

    def __init__(self, app: Flask):
        self.app, self.flask = app, app.wsgi_app
        self.gateway: Gateway | None = None

    def __call__(self, environ, start_response):
        platform_id = _posted_platform(environ)
        if platform_id is None:
            return self.flask(environ, start_response)
        try:
            found = answer(self._gateway(), platform_id, environ)
        except Exception as exc:
            with self.app.request_context(environ):
                response = self.app.finalize_request(self.app.handle_user_exception(exc))
            return response(environ, start_response)
        body = found.body.encode()
        length = ("Content-Length", str(len(body)))
        listed = [("Content-Type", found.content_type), length, *headers.EVERYWHERE.items()]
        start_response(STATUS_LINES.get(found.status) or f"{found.status} UNKNOWN", listed)
        return [body]

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
# Werkzeug's status lines ("403 FORBIDDEN"), as its Response would send them.
STATUS_LINES = {code: f"{code} {reason.upper()}" for code, reason in HTTP_STATUS_CODES.items()}
