"""What Qianfa says to followers is content too (art. 14-15): reviewed or screened.

- The default reply (``config.default_reply``) is proposed, screened like a draft and
  used only once the platform's first responsible person approves it (``approve``);
  until then the old reply (or ``success``) stays. A text screening blocks cannot be
  approved; the proposer cannot approve their own text. Clearing the reply says nothing
  to anyone, so it needs no review.
- Replies passed back from the forward server are screened in the webhook
  (``screen_forwarded``): only the text of the XML reply, with the lexicons the process
  has loaded; a ``block`` answers ``success`` instead and raises a
  ``follower_reply_blocked`` alert.

The webhook's callback script reads only the approved reply; a proposal waits in its own
hash (``keys.reply_proposal``).
"""

import hashlib
import json
from dataclasses import dataclass

import redis
from defusedxml import ElementTree as SafeTree

from app import screening
from app.core import alerts, audit, keys, validate
from app.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from app.core.store import Tx, atomically, decode, timestamp
from app.notify import deliver
from app.registry import access, bindcodes, platforms

ACTOR = audit.Actor.system("webhook")
TEXT_MAX = 600  # config.DEFAULT_REPLY_MAX: WeChat's passive text limit is 2048 bytes
TEXT_TAGS = ("Content", "Title", "Description")


@dataclass(frozen=True)
class Proposal:
    platform: str
    text: str
    digest: str
    verdict: str
    summary: str
    by: str
    at: str

    @property
    def blocked(self) -> bool:
        return self.verdict == screening.BLOCK


def digest_of(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def pending(r: redis.Redis, platform_id: str) -> Proposal | None:
    raw = decode(r.hgetall(keys.reply_proposal(platform_id)))
    return Proposal(platform=platform_id, **raw) if raw else None


def propose_in(tx: Tx, actor: audit.Actor, pid: str, text: str) -> Proposal:
    """Queue a proposed default reply, screened, in the caller's transaction."""
    text = validate.text(text, "默认回复", max_len=TEXT_MAX, multiline=True)
    found = screening.screen_text(text)
    proposal = Proposal(
        pid,
        text,
        digest_of(text),
        found.verdict,
        found.summary_zh(),
        actor.person or actor.operator,
        timestamp(),
    )
    fields = {k: v for k, v in proposal.__dict__.items() if k != "platform"}
    tx.write.delete(keys.reply_proposal(pid))
    tx.write.hset(keys.reply_proposal(pid), mapping=fields)
    detail = {"digest": proposal.digest, "verdict": proposal.verdict, "chars": len(text)}
    audit.append(tx, actor, "webhook.reply_propose", platform=pid, detail=detail)
    return proposal


def approve(r: redis.Redis, actor: audit.Actor, platform_id: str, digest: str = "") -> Proposal:
    """The first responsible person approves the proposed reply: from now on it is used."""
    return _decide(r, actor, platform_id, digest, "approve")


def reject(r: redis.Redis, actor: audit.Actor, platform_id: str, reason: str) -> Proposal:
    """The first responsible person turns the proposal down; the old reply stays."""
    reason = validate.text(reason, "驳回原因", max_len=validate.REASON_MAX, required=False)
    if not reason:
        raise InvalidInput("请写明驳回原因,如:驳回回复 语气不妥")
    return _decide(r, actor, platform_id, "", "reject", reason)


def _decide(r, actor: audit.Actor, platform_id: str, digest: str, action: str, reason=""):
    pid = platforms.get(r, platform_id).id
    if not actor.person or not access.has_role(r, actor.person, access.RESPONSIBLE, pid):
        raise Forbidden(f"只有平台 {pid} 的第一责任人可以审核默认回复", code="role")
    key = keys.reply_proposal(pid)

    def change(tx: Tx) -> Proposal:
        tx.watch(key)
        raw = decode(tx.read.hgetall(key))
        if not raw:
            raise NotFound(f"平台 {pid} 没有待审核的默认回复")
        proposal = Proposal(platform=pid, **raw)
        if digest and digest != proposal.digest:
            raise Conflict("默认回复已被改过,请查看新的内容后再审核", code="stale")
        if action == "approve":
            _check_approvable(actor, proposal)
            tx.write.hset(keys.webhook_config(pid), "default_reply", proposal.text)
        tx.write.delete(key)
        detail = {"digest": proposal.digest, "proposed_by": proposal.by}
        audit.append(
            tx, actor, f"webhook.reply_{action}", platform=pid, reason=reason, detail=detail
        )
        return proposal

    return atomically(r, [key, keys.webhook_config(pid)], change)


def _check_approvable(actor: audit.Actor, proposal: Proposal) -> None:
    """Screened again with today's lexicons: a blocked text is never used."""
    if actor.person == proposal.by:
        raise Forbidden("不能审核自己提出的默认回复", code="self_approval")
    found = screening.screen_text(proposal.text)
    if found.verdict == screening.BLOCK or proposal.blocked:
        raise Conflict(f"默认回复含有禁止发布的内容,不能通过:{found.summary_zh()}", code="blocked")


def tell_reviewer(r: redis.Redis, api_for, record: dict[str, str]) -> str:
    """The first responsible person hears of a proposal, with its text and code."""
    proposal = pending(r, record["platform"])
    if proposal is None or proposal.digest != json.loads(record["detail"]).get("digest"):
        return ""  # approved, turned down or replaced since
    platform = platforms.get(r, proposal.platform)
    text = (
        f"【默认回复待审核 · {platform.name}】粉丝发消息时将自动回复:\n{proposal.text}\n"
        f"内容检查:{proposal.summary}\n"
        f"同意请回复「同意回复 {proposal.digest}」,不同意请回复「驳回回复 原因」。"
    )
    notice = deliver.Notice(
        purpose="reply-review",
        token=proposal.digest,
        text=deliver.fit(text),
        headline="默认回复待审核",
        subject=platform.name,
        reply=proposal.text,
    )
    person = platform.responsible
    bound = [b for b in bindcodes.bindings_of(r, person) if b[0] == platform.id]
    if not bound:
        return deliver.unreachable(r, person, platform.id, notice)
    return deliver.deliver(r, api_for, person, platform.id, bound[0][1], notice)


# --- replies from the forward server ------------------------------------------------


def reply_text(xml: str) -> str:
    """The words a follower would read in a passive reply: Content, titles, descriptions."""
    try:
        root = SafeTree.fromstring(xml.encode(), forbid_dtd=True)
    except Exception:  # unreadable: the forwarder already refuses what it cannot parse
        return ""
    return "\n".join(
        (element.text or "").strip() for element in root.iter() if element.tag in TEXT_TAGS
    )


def screen_forwarded(r: redis.Redis, platform_id: str, xml: str) -> bool:
    """False (and a ``follower_reply_blocked`` alert) when the reply's text is blocked."""
    text = reply_text(xml)
    if not text:
        return True
    found = screening.screen_text(text)
    if found.verdict != screening.BLOCK:
        return True
    summary = found.summary_zh()
    audit.record(
        r, ACTOR, "webhook.reply_blocked", platform=platform_id, detail={"summary": summary}
    )
    alerts.queue(
        r,
        "follower_reply_blocked",
        f"平台 {platform_id} 的原服务器要回复粉丝的内容含有禁止发布的内容,已拦截(改回 success):"
        f"{summary}",
        platform=platform_id,
    )
    return False
