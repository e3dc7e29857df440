"""The sandbox's access log without secrets: query values and openids hidden.

The sandbox is a program of its own that shares nothing with Qianfa but HTTP, so it
keeps its own rule rather than importing Qianfa's (``app.core.accesslog``); the rule is
the same: URLs here carry the AppSecret, access tokens and signatures in their queries,
and openids in ``/users/<openid>``.
"""

import re

HIDDEN = "***"
SECRET_AFTER = frozenset({"users"})
TARGET = re.compile(r"/[^\s\"'<>]*")


def redact(target: str) -> str:
    """``/cgi-bin/token?appid=x&secret=y`` -> ``/cgi-bin/token?appid=***&secret=***``."""
    path, mark, query = target.partition("?")
    segments = path.split("/")
    for i in range(1, len(segments)):
        if segments[i - 1] in SECRET_AFTER and segments[i]:
            segments[i] = HIDDEN
    names = [part.partition("=")[0] for part in query.split("&") if part]
    return "/".join(segments) + (mark and "?" + "&".join(f"{n}={HIDDEN}" for n in names))


def redact_text(text: str) -> str:
    """Every request target quoted in ``text`` redacted (a malformed request line)."""
    return TARGET.sub(lambda found: redact(found.group()), text)
