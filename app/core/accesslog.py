"""Access logs without secrets: one redaction rule for every request line Qianfa logs.

Query strings carry the AppSecret (``/cgi-bin/token?secret=``), access tokens, webhook
signatures and openids; some path segments are bearer values themselves (the signed
preview token) or personal (an openid in the sandbox's ``/users/<openid>``). ``redact``
keeps the shape of a request target for debugging and drops every such value.

Standard library only. The sandbox server, a separate program, keeps its own copy of the
rule (``sandbox/redaction.py``).
"""

import logging
import re
import time

HIDDEN = "***"
# The path segment after each of these names is a bearer value or an openid.
SECRET_AFTER = frozenset({"preview", "users"})
# A request target inside free text (a library's log line or an error message).
TARGET = re.compile(r"/[^\s\"'<>]*")

log = logging.getLogger("qianfa.access")


def redact(target: str) -> str:
    """``/preview/abc?secret=x&a=1`` -> ``/preview/***?secret=***&a=***``."""
    path, mark, query = target.partition("?")
    segments = path.split("/")
    for i in range(1, len(segments)):
        if segments[i - 1] in SECRET_AFTER and segments[i]:
            segments[i] = HIDDEN
    names = [part.partition("=")[0] for part in query.split("&") if part]
    hidden = "&".join(f"{name}={HIDDEN}" for name in names)
    return "/".join(segments) + (mark and f"?{hidden}")


def redact_text(text: str) -> str:
    """Every request target in ``text`` redacted (URLs keep their scheme and host).

    For free text that quotes a request line, such as an error about a malformed one.
    (urllib3's debug log of each URL is redacted by ``app.wechat.client``'s own filter.)
    """
    return TARGET.sub(lambda found: redact(found.group()), text)


class AccessLog:
    """WSGI middleware: one line per request, its target redacted, after the answer."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        started = time.perf_counter()
        status = []

        def recording(code, headers, exc_info=None):
            status.append(code.split(" ", 1)[0])
            return start_response(code, headers, exc_info)

        try:
            return self.app(environ, recording)
        finally:
            if log.isEnabledFor(logging.INFO):  # redacting the target costs; skip it unlogged
                log.info(
                    '%s "%s %s" %s %.1fms',
                    environ.get("REMOTE_ADDR", "-"),
                    environ.get("REQUEST_METHOD", "-"),
                    redact(request_target(environ)),
                    status[0] if status else "500",
                    (time.perf_counter() - started) * 1000,
                )


def request_target(environ) -> str:
    query = environ.get("QUERY_STRING", "")
    path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
    return f"{path}?{query}" if query else path
