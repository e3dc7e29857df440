"""WeChat's error answers: HTTP 200, an ``errcode`` and an ``errmsg`` ending in a ``rid``.

The messages are WeChat's own English strings (as seen in captures and SDK fixtures), so
a client that matches on them behaves here as it would against the real servers.
"""

import random
import time

ERRMSG = {
    -1: "system error",
    40001: (
        "invalid credential, access_token is invalid or not latest, could get access_token "
        "by getStableAccessToken, more details at https://mmbizurl.cn/s/JtxxFh33r"
    ),
    40002: "invalid grant_type",
    40003: "invalid openid",
    40004: "invalid media type",
    40005: "invalid file type",
    40007: "invalid media_id",
    40008: "invalid message type",
    40009: "invalid image size",
    40010: "invalid voice size",
    40011: "invalid video size",
    40012: "invalid thumb size",
    40013: "invalid appid",
    40033: "invalid charset. please check your request, if include \\uxxxx will create fail!",
    40037: "invalid template_id",
    40125: "invalid appsecret",
    40130: "invalid openid list size, at least two openid",
    40164: "invalid ip {ip} ipv6 ::ffff:{ip}, not in whitelist",
    41001: "access_token missing",
    41002: "appid missing",
    41004: "appsecret missing",
    41005: "media data missing",
    42001: "access_token expired",
    43001: "require GET method",
    43002: "require POST method",
    43004: "require subscribe",
    43101: "user refuse to accept the msg",
    44002: "empty post data",
    44003: "empty news data",
    44004: "empty content",
    45001: "media size out of limit",
    45002: "content size out of limit",
    45003: "title size out of limit",
    45004: "description size out of limit",
    45005: "url size out of limit",
    45008: "article size out of limit",
    45009: "reach max api daily quota limit",
    45011: "api minute-quota reach limit  mustslower  retry next minute",
    45015: "response out of time limit or subscription is canceled",
    45028: "has no masssend quota",
    45047: "out of response count limit",
    45065: "clientmsgid exist",
    # No English capture of 45066 was found; this is the doc's own description.
    45066: "相同 clientmsgid 重试速度过快,请间隔1分钟重试",
    45067: "clientmsgid size out of limit",
    45110: "author size out of limit",
    47001: "data format error",
    47003: "argument invalid!",
    48001: "api unauthorized",
    48006: "forbid to clear quota because of reaching the limit",
    53502: "Publish ID 无效",
    76021: "cgi_path not found, please check",
    53600: "Article ID 无效",
}

_rid_random = random.SystemRandom()


class WeChatError(Exception):
    """A business error, answered with HTTP 200 like every WeChat error.

    ``detail`` is appended to the standard message (``argument invalid! index``), ``fields``
    fill its placeholders, and ``extra`` goes into the body (45065 carries the ``msg_id``).
    """

    def __init__(self, errcode: int, detail: str = "", fields: dict | None = None, **extra):
        super().__init__(errcode, detail)
        self.errcode = errcode
        self.detail = detail
        self.fields = fields
        self.extra = extra

    def body(self) -> dict:
        return error_body(self.errcode, self.detail, self.fields, **self.extra)


def rid(now: float | None = None) -> str:
    """A request id shaped like WeChat's: hex seconds, then two random 32-bit words."""
    seconds = int(now if now is not None else time.time())
    return f"{seconds:08x}-{_rid_random.getrandbits(32):08x}-{_rid_random.getrandbits(32):08x}"


def errmsg(errcode: int, detail: str = "", fields: dict | None = None) -> str:
    text = ERRMSG.get(errcode, ERRMSG[-1])
    if fields:
        text = text.format(**fields)
    if detail:
        text = f"{text} {detail}"
    return f"{text} rid: {rid()}"


def error_body(errcode: int, detail: str = "", fields: dict | None = None, **extra) -> dict:
    return {"errcode": errcode, "errmsg": errmsg(errcode, detail, fields), **extra}
