"""Reach one person in WeChat: a customer-service message inside the 48-hour window,
otherwise the platform's template message; at most once, and the outcome audited.

Each ``Notice`` carries a ``token`` naming what it is about (a draft version, an event,
an alert); the claim ``keys.notified(purpose:token:person)`` is set before WeChat is
called, so a job run again (a redelivered event, an RQ retry) never sends it twice. A
passing WeChat error releases the claim and propagates for the job to retry; a refusal is
recorded as ``notify.failed`` and not retried. A job killed between the claim and the
call loses that one message: the review reminder covers the one that matters most.
"""

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import redis

from app.core import audit, keys, validate
from app.core.errors import QianfaError, WeChatPermanent, WeChatRetryable
from app.core.store import atomically, now
from app.core.validate import CHINA_TIME
from app.notify import window
from app.registry import access, bindcodes, platforms

ACTOR = audit.Actor.system("notify")
CLAIM_TTL = 86400
KEEP = 30 * 86400
SEEN_TTL = 7 * 86400  # as long as a chat view counts (app.channels.chat.SEEN_TTL)
WINDOW_SHUT = (45015, 45047)
TEMPLATE_FIELDS = ("keyword1", "keyword2", "keyword3", "keyword4")
TEMPLATE_VALUE_MAX = 20  # WeChat shows 20 characters of a template field, then an ellipsis
TEMPLATE_ID_MAX = 64


@dataclass(frozen=True)
class Notice:
    """One message for a person: the full text, and the short fields of a template message.

    ``seen_hash`` is the content hash of the version the message shows (its text, or a
    link to it); once delivered, that reviewer's ``同意`` binds to that version.
    """

    purpose: str
    token: str
    text: str
    headline: str
    subject: str
    reply: str
    draft: str = ""
    url: str = ""
    seen_hash: str = ""

    def template_data(self, moment: datetime) -> dict[str, str]:
        values = (
            self.headline,
            self.subject,
            self.reply,
            f"{moment.astimezone(CHINA_TIME):%m-%d %H:%M}",
        )
        return {
            name: _short(value)
            for name, value in zip(TEMPLATE_FIELDS, values, strict=True)
            if value
        }


def _short(value: str) -> str:
    return value if len(value) <= TEMPLATE_VALUE_MAX else value[: TEMPLATE_VALUE_MAX - 1] + "…"


SENT, DUPLICATE, FAILED, UNREACHABLE = "sent", "duplicate", "failed", "unreachable"
MAX_TEXT_BYTES = 2048


def fit(text: str) -> str:
    """Cut a text to what one customer-service message carries."""
    if len(text.encode()) <= MAX_TEXT_BYTES:
        return text
    return text.encode()[: MAX_TEXT_BYTES - 10].decode(errors="ignore") + "…(略)"


def _claim(notice: Notice, person: str) -> str:
    return keys.notified(f"{notice.purpose}:{notice.token}:{person}")


def claimed(r: redis.Redis, purpose: str, token: str, person: str) -> bool:
    """Whether a notice of this purpose and token was already handled for the person."""
    return bool(r.exists(keys.notified(f"{purpose}:{token}:{person}")))


def deliver(
    r: redis.Redis,
    api_for: Callable[[str], object],
    person: str,
    platform_id: str,
    openid: str,
    notice: Notice,
) -> str:
    """Send ``notice`` to ``person`` at ``openid`` on ``platform_id``, once; say what happened."""
    claim = _claim(notice, person)
    if not r.set(claim, "sending", nx=True, ex=CLAIM_TTL):
        return DUPLICATE
    try:
        channel = _send(r, api_for(platform_id), platform_id, openid, notice)
    except WeChatRetryable:
        r.delete(claim)
        raise
    except QianfaError as error:  # WeChat refused, or the platform has no AppID or AppSecret
        r.set(claim, FAILED, ex=KEEP)
        _audit(r, "notify.failed", person, platform_id, notice, reason=error.message)
        return FAILED
    if channel is None:
        r.set(claim, FAILED, ex=KEEP)
        reason = "对方超过 48 小时未与公众号互动,且本公众号未设置审核通知模板消息"
        _audit(r, "notify.failed", person, platform_id, notice, reason=reason)
        return FAILED
    r.set(claim, channel, ex=KEEP)
    if notice.seen_hash and (channel == "custom" or notice.url):
        r.set(keys.chat_seen(notice.draft, person), notice.seen_hash, ex=SEEN_TTL)
    _audit(r, "notify.sent", person, platform_id, notice, decision=channel)
    return SENT


def _send(r: redis.Redis, api, platform_id: str, openid: str, notice: Notice) -> str | None:
    """The channel that carried the notice, or None when neither can reach the person."""
    if window.window_open(r, platform_id, openid):
        try:
            api.send_text(openid, notice.text)
        except WeChatPermanent as error:
            if error.errcode not in WINDOW_SHUT:
                raise
            window.close(r, platform_id, openid)
        else:
            window.used(r, platform_id, openid)
            return "custom"
    template_id = template_for(r, platform_id)
    if not template_id:
        return None
    client_msg_id = hashlib.sha256(f"{notice.purpose}:{notice.token}".encode()).hexdigest()[:32]
    api.send_template(
        openid,
        template_id,
        notice.template_data(now()),
        url=notice.url,
        client_msg_id=client_msg_id,
    )
    return "template"


def tell(r: redis.Redis, api_for, person: str, platform_id: str, notice: Notice) -> str:
    """Send a notice about ``platform_id`` where the person is reached (``bindcodes.reach``:
    their binding there, else their home binding), or record them unreachable."""
    where = bindcodes.reach(r, person, platform_id)
    if where is None:
        return unreachable(r, person, platform_id, notice)
    return deliver(r, api_for, person, where[0], where[1], notice)


def unreachable(r: redis.Redis, person: str, platform_id: str, notice: Notice) -> str:
    """Record (once) that a person who should be told is bound nowhere."""
    if r.set(_claim(notice, person), UNREACHABLE, nx=True, ex=KEEP):
        reason = f"未在平台 {platform_id} 或任何公众号绑定微信,无法通知"
        _audit(r, "notify.unreachable", person, platform_id, notice, reason=reason)
    return UNREACHABLE


def _audit(r, action, person, platform_id, notice: Notice, *, decision="", reason="") -> None:
    audit.record(
        r,
        ACTOR,
        action,
        subject=person,
        platform=platform_id,
        draft=notice.draft,
        version_hash=notice.seen_hash,
        decision=decision,
        reason=reason,
        detail={"purpose": notice.purpose},
    )


# --- the template message of each platform ----------------------------------------------


def template_for(r: redis.Redis, platform_id: str) -> str:
    raw = r.hget(keys.platform_notify(platform_id), "template_id")
    return raw.decode() if raw else ""


def set_template(r: redis.Redis, actor: audit.Actor, platform_id: str, template_id: str) -> str:
    """Set (or clear, with "") the template message used outside the 48-hour window."""
    access.authorize(r, actor, (access.PROPAGANDA,), "设置通知模板")
    pid = platforms.get(r, platform_id).id
    template_id = validate.text(template_id, "模板 ID", max_len=TEMPLATE_ID_MAX, required=False)

    def change(tx) -> str:
        if template_id:
            tx.write.hset(keys.platform_notify(pid), "template_id", template_id)
        else:
            tx.write.hdel(keys.platform_notify(pid), "template_id")
        audit.append(
            tx, actor, "platform.notify_template", platform=pid, detail={"template_id": template_id}
        )
        return template_id

    return atomically(r, [keys.platform_notify(pid)], change)
