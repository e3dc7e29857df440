"""The sandbox's logs: JSON lines on stderr, as Qianfa's, without secrets or openids.

The sandbox shares nothing with Qianfa but HTTP, so it keeps its own copy of Qianfa's
format (``app.core.logs``) rather than importing it: one JSON object per line with the
time, level, logger, process and request id (the caller's ``X-Request-Id`` or a new one,
returned in the response), every request target redacted (``sandbox.redaction``),
openids masked.
"""

import contextvars
import json
import logging
import os
import re
import sys
import time

from sandbox.redaction import redact_text

OPENID = re.compile(r"\bo[A-Za-z0-9_-]{20,40}\b")
BEARER = re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]+")
REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
ENVIRON_KEY = "HTTP_X_REQUEST_ID"

_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("sandbox_request", default="")


def clean(text: str) -> str:
    text = BEARER.sub(r"\1 ***", redact_text(text))
    return OPENID.sub(lambda found: found.group()[:4] + "***", text)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "process": "sandbox",
            "pid": record.process,
        }
        rid = getattr(record, "request_id", None) or _request_id.get()
        if rid:
            line["request_id"] = rid
        line["msg"] = clean(record.getMessage())
        if record.exc_info:
            line["exc"] = clean(self.formatException(record.exc_info))
        return json.dumps(line, ensure_ascii=False)


def configure(level: str = "INFO") -> None:
    """Every record of the sandbox process, werkzeug's included, as JSON lines on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)


class RequestId:
    """WSGI middleware: each request's id, bound to its log lines and sent back."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        given = environ.get(ENVIRON_KEY)
        rid = given if given and REQUEST_ID.fullmatch(given) else os.urandom(8).hex()
        environ[ENVIRON_KEY] = rid

        def with_id(status, headers, exc_info=None):
            headers = [(k, v) for k, v in headers if k.lower() != "x-request-id"]
            return start_response(status, [*headers, ("X-Request-Id", rid)], exc_info)

        token = _request_id.set(rid)
        try:
            return self.app(environ, with_id)
        finally:
            _request_id.reset(token)
