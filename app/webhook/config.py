"""Per-platform webhook settings: the message mode, and what followers who are not staff get.

``mode`` is the message mode set in WeChat's console (``modes``; safe unless set): a
callback in another mode is refused. ``default_reply`` answers a follower's message
when the chat commands have nothing to say; a new one is only proposed here and is used
once the platform's first responsible person approves it (``app.monitoring.replies``);
``forward_url`` is the callback URL the account used before Qianfa, to which such
messages are forwarded unchanged, re-signed with the downstream's own token (the
``forward_token`` credential, required with a forward URL: the platform's Token never
leaves Qianfa). The settings live in one Redis
hash that the callback script reads in its single round trip; the downstream token is
sealed with the other credentials.
"""

from dataclasses import dataclass
from urllib.parse import urlparse

import redis

from app.core import audit, egress, keys, validate
from app.core.errors import InvalidInput, NotFound
from app.core.masterkey import Keyring
from app.core.settings import get_settings
from app.core.store import Tx, atomically, decode
from app.monitoring import replies
from app.registry import access, credentials, platforms
from app.webhook import modes
from app.webhook.crypto import same

DEFAULT_REPLY_MAX = 600  # WeChat's passive text limit is 2048 bytes: 600 Chinese characters fit
URL_MAX = 500
OWN_TOKEN_PURPOSE = "确认原服务器 Token 与本平台 Token 不同"


@dataclass(frozen=True)
class WebhookConfig:
    platform: str
    default_reply: str
    forward_url: str
    forward_token_set: bool
    mode: str = modes.DEFAULT


def forward_url(raw) -> str:
    """An http(s) URL with a host the egress guard lets through, or '' to stop forwarding.

    A name that does not resolve yet is accepted: every callback checks it again.
    """
    value = validate.text(raw, "转发地址", max_len=URL_MAX, required=False)
    if not value:
        return ""
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise InvalidInput("转发地址必须是 http:// 或 https:// 开头的完整网址")
    try:
        egress.check(value, get_settings().fetch_allow)
    except egress.Unresolved:
        pass
    except egress.Refused as exc:
        raise InvalidInput(f"转发地址不可用:{exc.message}") from None
    return value


def get(r: redis.Redis, platform_id: str) -> WebhookConfig:
    pid = platforms.get(r, platform_id).id
    stored = decode(r.hgetall(keys.webhook_config(pid)))
    sealed = r.hexists(keys.platform_secrets(pid), "forward_token")
    return WebhookConfig(
        pid,
        stored.get("default_reply", ""),
        stored.get("forward_url", ""),
        bool(sealed),
        stored.get("mode", modes.DEFAULT),
    )


def mode_of(r: redis.Redis, platform_id: str) -> str:
    """The platform's configured message mode, read alone (for display)."""
    stored = r.hget(keys.webhook_config(platform_id), "mode")
    return stored.decode() if stored else modes.DEFAULT


def configure(
    r: redis.Redis,
    keyring: Keyring,
    actor: audit.Actor,
    platform_id: str,
    *,
    default_reply: str | None = None,
    forward: str | None = None,
    forward_token: str | None = None,
    mode: str | None = None,
) -> WebhookConfig:
    """Change the settings given (None keeps a setting, '' clears it); each change audited."""
    access.authorize(r, actor, (access.PROPAGANDA,), "设置公众号回调")
    pid = platforms.get(r, platform_id).id
    changes = _changes(default_reply, forward, mode)
    if forward_token is not None:
        credentials.check_value("forward_token", forward_token)
        _check_own_token(r, keyring, actor, pid, forward_token)
    elif changes.get("forward_url"):
        _require_downstream_token(r, pid)

    def change(tx: Tx) -> None:
        platforms.read_in(tx, pid)
        settled = _settle_reply(tx, actor, pid, changes)
        kept = {name: value for name, value in settled.items() if value}
        cleared = [name for name, value in settled.items() if not value]
        if kept:
            tx.write.hset(keys.webhook_config(pid), mapping=kept)
        if cleared:
            tx.write.hdel(keys.webhook_config(pid), *cleared)
        if settled:
            audit.append(tx, actor, "webhook.configure", platform=pid, detail=settled)

    if forward_token is not None:  # first, so a forward URL never waits for its token
        credentials.set_secret(r, keyring, actor, pid, "forward_token", forward_token)
    if changes:
        atomically(r, [keys.webhook_config(pid)], change)
    return get(r, pid)


def _settle_reply(tx: Tx, actor: audit.Actor, pid: str, changes: dict) -> dict:
    """The changes to write at once: a new default reply is content for followers, so it
    is proposed for review instead; clearing it takes effect (and drops a proposal)."""
    settled = dict(changes)
    proposed = settled.pop("default_reply", None)
    if proposed:
        replies.propose_in(tx, actor, pid, proposed)
    elif proposed == "":
        settled["default_reply"] = ""
        tx.write.delete(keys.reply_proposal(pid))
    return settled


def _changes(default_reply: str | None, forward: str | None, mode: str | None) -> dict:
    """The checked values of the settings given; '' clears a setting."""
    changes = {}
    if default_reply is not None:
        changes["default_reply"] = validate.text(
            default_reply, "默认回复", max_len=DEFAULT_REPLY_MAX, required=False, multiline=True
        )
    if forward is not None:
        changes["forward_url"] = forward_url(forward)
    if mode is not None:
        changes["mode"] = modes.parse(mode)
    return changes


def _require_downstream_token(r: redis.Redis, pid: str) -> None:
    """A forward URL needs the downstream's own token: Qianfa never signs with the platform's."""
    if not r.hexists(keys.platform_secrets(pid), "forward_token"):
        raise InvalidInput(
            "设置转发地址须同时设置原服务器自己的 Token(--forward-token-stdin):"
            "本平台的 Token 不会交给原服务器"
        )


def _check_own_token(r, keyring: Keyring, actor: audit.Actor, pid: str, value: str) -> None:
    """Refuse a downstream token equal to the platform's: it would hand the Token downstream."""
    try:
        token = credentials.reveal(r, keyring, actor, pid, "token", purpose=OWN_TOKEN_PURPOSE)
    except NotFound:
        return
    if same(token.reveal(), value):
        raise InvalidInput(
            "原服务器 Token 不能与本平台的 Token 相同:请在原服务器上改用另一个 Token"
        )
