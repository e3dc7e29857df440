"""Signed, expiring read-only links to one version of a draft, for reviewers on a phone.

A reviewer asks ``查看 D42`` in WeChat; an article is too long for a chat bubble, so the
reply carries a link that shows that exact version as it will look. The link is its own
authorization: draft, version and expiry signed with ``itsdangerous`` under a key derived
from the master key, so it cannot be forged or stretched, and shows only that version.
"""

import time

from itsdangerous import BadSignature, URLSafeSerializer

from app.core.errors import Forbidden, InvalidInput
from app.core.masterkey import Keyring
from app.drafts import lifecycle

PURPOSE = "preview"
AGAIN = "请在微信中重新发送「查看」获取"


def _serializer(keyring: Keyring) -> URLSafeSerializer:
    return URLSafeSerializer(keyring.derive(PURPOSE), salt=PURPOSE)


def token(keyring: Keyring, draft_id: str, version: int, ttl: int, now: float | None = None):
    """A link token for one version; the expiry is signed with it, so it cannot be stretched."""
    expires = int((now or time.time()) + ttl)
    return _serializer(keyring).dumps({"d": draft_id, "v": version, "e": expires})


def link(keyring: Keyring, base_url: str, draft_id: str, version: int, ttl: int) -> str:
    return f"{base_url}/preview/{token(keyring, draft_id, version, ttl)}"


def open_token(keyring: Keyring, raw: str, now: float | None = None) -> tuple[str, int]:
    """The draft id and version a token was made for; refused when forged or expired."""
    if "." not in (raw or ""):
        raise InvalidInput(f"预览链接不完整,{AGAIN}")
    try:
        fields = _serializer(keyring).loads(raw)
        draft_id, version, expires = fields["d"], int(fields["v"]), int(fields["e"])
    except BadSignature:
        raise Forbidden(f"预览链接无效,{AGAIN}", code="bad_preview") from None
    except (ValueError, KeyError, TypeError):
        raise InvalidInput(f"预览链接不完整,{AGAIN}") from None
    if expires < (now or time.time()):
        raise Forbidden(f"预览链接已过期,{AGAIN}", code="expired_preview")
    return lifecycle.draft_id(draft_id), version
