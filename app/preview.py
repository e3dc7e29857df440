"""Signed, expiring read-only links to one version of a draft, for reviewers on a phone.

A reviewer asks ``查看 D42`` in WeChat; an article is too long for a chat bubble, so the
reply carries a link that shows that exact version as it will look. The link is its own
authorization: an HMAC over draft, version and expiry under a key derived from the master
key, so it cannot be forged or stretched, and it shows only the version it was made for.
"""

import base64
import hashlib
import hmac
import json
import time

from app import drafts
from app.errors import Forbidden, InvalidInput
from app.masterkey import Keyring

PURPOSE = "preview"


def _sign(keyring: Keyring, body: bytes) -> str:
    mac = hmac.new(keyring.derive(PURPOSE), body, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def token(keyring: Keyring, draft_id: str, version: int, ttl: int, now: float | None = None):
    expires = int((now or time.time()) + ttl)
    body = json.dumps({"d": draft_id, "v": version, "e": expires}, separators=(",", ":"))
    encoded = base64.urlsafe_b64encode(body.encode()).decode().rstrip("=")
    return f"{encoded}.{_sign(keyring, body.encode())}"


def link(keyring: Keyring, base_url: str, draft_id: str, version: int, ttl: int) -> str:
    return f"{base_url}/preview/{token(keyring, draft_id, version, ttl)}"


def open_token(keyring: Keyring, raw: str, now: float | None = None) -> tuple[str, int]:
    """The draft id and version a token was made for; refused when forged or expired."""
    encoded, _, signature = (raw or "").partition(".")
    try:
        body = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        fields = json.loads(body)
        draft_id, version, expires = fields["d"], int(fields["v"]), int(fields["e"])
    except (ValueError, KeyError, TypeError):
        raise InvalidInput("预览链接不完整,请在微信中重新发送「查看」获取") from None
    if not hmac.compare_digest(signature.encode(), _sign(keyring, body).encode()):
        raise Forbidden("预览链接无效,请在微信中重新发送「查看」获取", code="bad_preview")
    if expires < (now or time.time()):
        raise Forbidden("预览链接已过期,请在微信中重新发送「查看」获取", code="expired_preview")
    return drafts.draft_id(draft_id), version
