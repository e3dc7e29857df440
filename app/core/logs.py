"""One log format for every process Qianfa starts: JSON lines on stderr, secrets left out.

``configure`` is the one set-up (web, worker, dispatcher, ``qianfa run``): the standard
library's logging with a JSON formatter, so the libraries' own records (waitress, RQ,
urllib3) come out in the same format. Each line carries the process, the request id, job
id, draft and platform that ``context`` bound where they are known. Before a line is
written, every request target in it loses its query values and bearer path segments
(``accesslog.redact_text``: AppSecrets, access tokens, signatures), openids are masked
and ``Bearer`` credentials dropped; passwords and sealed secrets are never passed to a
logger at all. The sandbox, a program of its own, keeps its own copy (``sandbox/logs.py``).
"""

import contextlib
import contextvars
import json
import logging
import os
import re
import sys
import time

from app.core.accesslog import redact_text

CONTEXT_FIELDS = ("request_id", "job_id", "queue", "draft", "platform")
# An openid is 28 characters from WeChat (the sandbox's are 27): keep 4 to tell them apart.
OPENID = re.compile(r"\bo[A-Za-z0-9_-]{20,40}\b")
BEARER = re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]+")
# A request id from outside is kept only if it is this short and plain.
REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")

ENCODER = json.JSONEncoder(ensure_ascii=False)  # json.dumps(..., ensure_ascii=False), built once
_context: contextvars.ContextVar[tuple] = contextvars.ContextVar("qianfa_log", default=())


def clean(text: str) -> str:
    """``text`` without query values, bearer segments, openids or bearer credentials.

    Each line passes here; the first two patterns are run only where they can match (a
    request target starts with "/", a credential follows "bearer"), which halves the cost.
    """
    if "/" in text:
        text = redact_text(text)
    if "bearer" in text.lower():
        text = BEARER.sub(r"\1 ***", text)
    return OPENID.sub(lambda found: found.group()[:4] + "***", text)


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, process, context, message."""

    def __init__(self, process: str):
        super().__init__()
        self.process = process

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "process": self.process,
            "pid": record.process,
        }
        fields = dict(_context.get())
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None) or fields.get(name)
            if value:
                line[name] = clean(str(value))
        line["msg"] = clean(record.getMessage())
        if record.exc_info:
            line["exc"] = clean(self.formatException(record.exc_info))
        return ENCODER.encode(line)


def configure(level: str, process: str) -> None:
    """Every record of this process, libraries' included, as JSON lines on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(process))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(True)


class Throttled:
    """Stands in for a library's logger that warns on every request while a state lasts
    (waitress's "Task queue depth": under load, every callback): passes one warning per
    ``interval`` seconds to ``logger``, saying how many were held back.

    A filter on the logger came too late: the record was already built (the caller found,
    the time taken), about 5% of a web process's CPU under load for lines nobody sees.
    """

    def __init__(self, logger: logging.Logger, interval: float, clock=time.monotonic):
        self.logger, self.interval, self.clock = logger, interval, clock
        self.opens, self.held = float("-inf"), 0

    def warning(self, msg: str, *args) -> None:
        now = self.clock()
        if now < self.opens:
            self.held += 1
            return
        if self.held:
            msg = f"{msg} ({self.held} more in the last {self.interval:g} s)"
        self.opens, self.held = now + self.interval, 0
        self.logger.warning(msg, *args)


@contextlib.contextmanager
def context(**fields):
    """Bind request id, job id, draft or platform to every line logged inside the block."""
    known = {name: value for name, value in fields.items() if value is not None}
    token = _context.set((*_context.get(), *known.items()))
    try:
        yield
    finally:
        _context.reset(token)


def bind(**fields) -> None:
    """Add fields to the current context (a job that learns its draft once it has read it)."""
    known = {name: value for name, value in fields.items() if value is not None}
    _context.set((*_context.get(), *known.items()))


def request_id(given: str | None) -> str:
    """The caller's ``X-Request-Id`` when it is plain and short, else a new one."""
    if given and REQUEST_ID.fullmatch(given):
        return given
    return os.urandom(8).hex()


class RequestId:
    """WSGI middleware: each request's id (the caller's or a new one) bound to its log lines
    and returned in the ``X-Request-Id`` response header, for a caller to quote."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        rid = request_id(environ.get("HTTP_X_REQUEST_ID"))
        environ["HTTP_X_REQUEST_ID"] = rid

        def with_id(status, headers, exc_info=None):
            headers = [(k, v) for k, v in headers if k.lower() != "x-request-id"]
            return start_response(status, [*headers, ("X-Request-Id", rid)], exc_info)

        with context(request_id=rid):
            return self.app(environ, with_id)
