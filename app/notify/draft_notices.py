"""Who is told what about a draft: its reviewers while it waits for them, its author when
it moves on. Delivery (channel, once-only, audit) is ``app.notify.deliver``'s.

Reviewers are the people able to give a sign-off the draft still lacks on its current
version: the platform's first responsible person, and every propaganda-department
reviewer when that sign-off is required (for a unit's contribution, the unit's responsible
person first, art. 14); never the author, never someone who already signed this version.
Each is told where ``bindcodes.reach`` finds them: on the draft's platform, else through
their home binding, whose chat answers ``同意 D42`` from their stored roles.
"""

import json
import logging
from collections.abc import Callable
from datetime import datetime

import redis

from app import screening
from app.core import clock, keys
from app.core.errors import QianfaError, WeChatRetryable
from app.core.masterkey import Keyring
from app.core.paging import paginate
from app.core.settings import Settings
from app.core.store import now
from app.drafts import lifecycle, preview, review
from app.notify import deliver, manual_notices
from app.notify.deliver import Notice
from app.notify.escalation import propaganda_reviewers
from app.publishing import schedule
from app.registry import bindcodes, people, platforms
from app.screening import pictures

log = logging.getLogger(__name__)

REVIEW, REMINDER, OUTCOME = "review", "reminder", "outcome"
BODY_BYTES = 1400  # of the 2048 a customer-service text may carry; the rest is the frame
PICTURES_RUNNING = "图片文字检查进行中:检查完成前不能审核通过,完成后会再通知你。"
TOLD_TTL = 7 * 86400  # the reviewers told picture checks were running, kept this long


def reviewers_to_tell(r: redis.Redis, state: review.ReviewState, platform) -> dict[str, list]:
    """Person id -> the missing sign-offs they may give, for everyone who should be asked."""
    signed = {given["person"] for given in state.given.values()}
    wanted: dict[str, list[str]] = {}
    for req in state.required:
        if req.signoff not in state.due:
            continue
        for person in _qualified(r, req, platform):
            if person != state.draft.author and person not in signed:
                wanted.setdefault(person, []).append(req.signoff)
    return wanted


def _qualified(r: redis.Redis, req: review.Requirement, platform) -> list[str]:
    """The responsible person of the platform that answers (a contributing unit's), or
    every propaganda-department reviewer."""
    if req.signoff == review.RESPONSIBLE:
        answering = platform if req.platform == platform.id else platforms.get(r, req.platform)
        return [answering.responsible]
    return propaganda_reviewers(r)


def tell_reviewers(
    r: redis.Redis,
    api_for: Callable,
    keyring: Keyring,
    settings: Settings,
    draft_id: str,
    *,
    purpose: str = REVIEW,
) -> dict[str, str]:
    """Ask every missing reviewer of the draft's current version; person -> outcome.

    A passing WeChat error for one reviewer does not stop the others; it is raised at
    the end, so the job is retried and reaches only those not yet reached.
    """
    state = review.state(r, draft_id)
    draft = state.draft
    if draft.status != lifecycle.IN_REVIEW:
        return {}
    platform = platforms.get(r, draft.platform)
    version = lifecycle.version(r, draft.id)
    link = preview.link(
        keyring, settings.public_url, draft.id, version.number, settings.preview_ttl
    )
    author = people.get(r, draft.author).name
    reading = pictures.pending(r, draft, version.content)
    outcomes, passing = {}, []
    waiting_since(r, draft)  # reminders count from the round's start
    for person, signoffs in reviewers_to_tell(r, state, platform).items():
        notice = review_notice(draft, version, platform, author, signoffs, link, purpose, reading)
        try:
            outcomes[person] = deliver.tell(r, api_for, person, platform.id, notice)
        except WeChatRetryable as error:
            passing.append(error)
            continue
        if reading and outcomes[person] in (deliver.SENT, deliver.DUPLICATE):
            _told_pictures_running(r, draft, person)
        where = bindcodes.reach(r, person, platform.id)
        if outcomes[person] == deliver.SENT and where and where[0] == platform.id:
            _preview_for(r, settings, draft, where[1])  # a preview comes from the draft's account
    if reading and not pictures.pending(r, draft, version.content):
        tell_pictures_checked(r, api_for, draft.id, draft.content_hash)  # finished meanwhile
    if passing:
        raise passing[0]
    return outcomes


# --- the picture checks' outcome -----------------------------------------------------------


def _told_pictures_running(r: redis.Redis, draft, person: str) -> None:
    key = keys.pictures_told(draft.id, draft.content_hash)
    r.pipeline().sadd(key, person).expire(key, TOLD_TTL).execute()


def tell_pictures_checked(r: redis.Redis, api_for: Callable, draft_id: str, content_hash: str):
    """Tell the reviewers told "picture checks running" how they ended: ready, or blocked.

    Both this job and ``tell_reviewers`` (when the checks finished while it ran) call it;
    the delivery claim sends each reviewer one message.
    """
    draft = lifecycle.get(r, draft_id)
    told = sorted(m.decode() for m in r.smembers(keys.pictures_told(draft.id, content_hash)))
    if draft.content_hash != content_hash or not told:
        return {}
    found = screening.result_for(r, draft.id)
    notice = pictures_notice(draft, found.summary_zh() if found else "")
    if notice is None:
        return {}
    outcomes = {}
    for person in told:
        outcomes[person] = deliver.tell(r, api_for, person, draft.platform, notice)
    return outcomes


def pictures_notice(draft: lifecycle.Draft, summary: str) -> Notice | None:
    """What the picture checks mean for the reviewer: approve now, or nothing to review."""
    did = draft.id
    head = f"【图片检查完成】稿件 {did} 第 {draft.version} 版({draft.content_hash[:8]})"
    if draft.status == lifecycle.BLOCKED:
        text = f"{head}的图片中有禁止发布的内容,稿件已被拦截,无需审核。\n{summary}"
        reply, seen = "无需操作", ""
    elif draft.status == lifecycle.IN_REVIEW:
        text = (
            f"{head}的图片文字检查已完成:{summary}\n现在可以审核:回复「同意 {did}」通过,"
            f"「驳回 {did} 原因」退回,「查看 {did}」查看详情。"
        )
        reply, seen = f"回复 同意 {did} 或 驳回 {did} 原因", draft.content_hash
    else:
        return None  # withdrawn or moved on: nothing to say
    return Notice(
        purpose="pictures_checked",
        token=f"{did}:{draft.content_hash}",
        text=deliver.fit(text),
        headline=f"稿件 {did} 图片检查完成",
        subject=f"{did} 第{draft.version}版",
        reply=reply,
        draft=did,
        seen_hash=seen,
    )


def _preview_for(r: redis.Redis, settings: Settings, draft, openid: str) -> None:
    """Where the platform asks for it, show the reviewer the real thing in WeChat too."""
    if not schedule.preview_enabled(r, draft.platform):
        return
    try:
        schedule.send_preview(r, draft.id, openid, settings=settings)
    except QianfaError as error:  # the notice went out; a preview is a courtesy on top
        log.warning("preview of %s to a reviewer failed: %s", draft.id, error.code)


def review_notice(
    draft, version, platform, author: str, signoffs, link: str, purpose, reading=False
) -> Notice:
    """The message asking for a sign-off: summary, the content itself, what to reply.

    ``reading``: the text in its pictures is still being checked, so approval must wait.
    """
    roles = "、".join(review.SIGNOFFS[s] for s in signoffs)
    head = "【审核提醒】" if purpose == REMINDER else "【待审核】"
    lines = [
        f"{head}稿件 {draft.id} · {lifecycle.KINDS[draft.kind]} · 第 {draft.version} 版"
        f"({draft.content_hash[:8]})",
        f"平台:{platform.name} · 投稿人:{author}",
        f"请以{roles}身份审核。",
        "————",
        _body(draft, version, link),
        "————",
        *([PICTURES_RUNNING] if reading else []),
        f"回复「同意 {draft.id}」通过,「驳回 {draft.id} 原因」退回,「查看 {draft.id}」查看详情。",
    ]
    return Notice(
        purpose=purpose,
        token=review_token(draft),
        text=deliver.fit("\n".join(lines)),
        headline=f"{'审核提醒' if purpose == REMINDER else '待审核'}:{_title(draft, version)}",
        subject=f"{draft.id} 第{draft.version}版 {lifecycle.KINDS[draft.kind]}",
        reply=f"回复 同意 {draft.id} 或 驳回 {draft.id} 原因",
        draft=draft.id,
        url=link,
        seen_hash=draft.content_hash,
    )


def _title(draft, version) -> str:
    content = version.content
    if draft.kind == lifecycle.ARTICLE:
        return content["title"]
    if draft.kind == lifecycle.IMAGE:
        return content.get("caption") or "图片"
    return " ".join(content["text"].split())


def _body(draft, version, link: str) -> str:
    content = version.content
    if draft.kind == lifecycle.ARTICLE:
        digest = f"\n摘要:{content['digest']}" if content.get("digest") else ""
        return f"标题:{content['title']}{digest}\n阅读全文:{link}"
    if draft.kind == lifecycle.IMAGE:
        return f"图片:{content['image_url']}\n说明:{content['caption'] or '(无)'}"
    pages = paginate(content["text"], BODY_BYTES)
    if len(pages) == 1:
        return pages[0]
    return f"{pages[0]}\n(未完,共 {len(pages)} 段:回复「查看 {draft.id} 2」看下一段)"


# --- the review clock: how long a version has waited --------------------------------------


def review_token(draft: lifecycle.Draft) -> str:
    """What a request to review names: the version and the review round, so a draft that
    enters review again, even with content already reviewed once, is asked about anew."""
    return f"{draft.id}:{draft.content_hash}:r{draft.review_round}"


def waiting_since(r: redis.Redis, draft: lifecycle.Draft) -> datetime:
    """When the draft's current round began to wait: ``lifecycle.begin_round_in`` starts
    the clock; one kept from before rounds were counted is started now if not current."""
    content_hash, round_, since = r.hmget(keys.review_clock(draft.id), "hash", "round", "since")
    if not lifecycle.clock_started(draft, content_hash, round_) or since is None:
        started = now()
        r.hset(keys.review_clock(draft.id), mapping=lifecycle.round_clock(draft, started))
        return started
    return datetime.fromisoformat(since.decode())


# --- the author ----------------------------------------------------------------------------


def tell_author(r: redis.Redis, api_for: Callable, record: dict[str, str]) -> str:
    """Tell a draft's author what the audit record says happened to it."""
    draft = lifecycle.get(r, record["draft"])
    if record["action"] == "draft.report" and record.get("person") == draft.author:
        return ""  # the author reported it and hears the check's outcome (manual_notices)
    notice = author_notice(draft, record)
    if not manual_notices.is_manual(r, draft.platform):
        return deliver.tell(r, api_for, draft.author, draft.platform, notice)
    if notice.purpose == "approved":  # published by hand: say what, and how to report it
        text = deliver.fit(notice.text + "\n" + manual_notices.instructions(r, draft))
        notice = Notice(**{**notice.__dict__, "text": text, "reply": "请手工发布后报告链接"})
    return manual_notices.tell(r, api_for, draft.author, draft.platform, notice)


def author_notice(draft: lifecycle.Draft, record: dict[str, str]) -> Notice:
    action, did = record["action"], draft.id
    version = f"({record['version_hash'][:8]})" if record.get("version_hash") else ""
    if action == "draft.reject":
        reason = record.get("reason") or "(未说明)"
        text = f"【已退回】你的稿件 {did}{version}被退回。\n原因:{reason}\n修改后可重新提交。"
        return _author(record, "rejected", text, f"稿件 {did} 被退回", reason)
    if action in ("draft.publish", "draft.report"):
        url = published_url(record)
        text = f"【已发布】你的稿件 {did} 已发布。" + (f"\n文章链接:{url}" if url else "")
        return _author(record, "published", text, f"稿件 {did} 已发布", "点击查看文章", url)
    if action == "draft.fail":
        reason = record.get("reason") or "(未说明)"
        text = (
            f"【发布失败】你的稿件 {did} 发布失败。\n原因:{reason}\n"
            f"内容需要改动的,请发送「修改 {did}」修改后重新提交;"
            "若是微信接口或账号的问题,请联系党委宣传部处理后再提交。"
        )
        return _author(record, "failed", text, f"稿件 {did} 发布失败", reason)
    if action == "publish.retry":
        return _retrying(record)
    if action == "draft.release":
        reason = record.get("reason") or "(未说明)"
        text = (
            f"【已放行】你的稿件 {did}{version}被拦截的内容经党委宣传部核实后放行,"
            f"已送审。\n理由:{reason}"
        )
        return _author(record, "released", text, f"稿件 {did} 已放行送审", reason)
    if action in MOVED:
        purpose, head, headline = MOVED[action]
        text = f"{head}你的稿件 {did}{version}{record.get('reason', '')}"
        return _author(record, purpose, text, headline.format(did=did), "请查看稿件状态")
    comments = _comment_lines(record)
    if record.get("decision") == lifecycle.IN_REVIEW:  # a sign-off with a comment, more to come
        text = f"【审核意见】你的稿件 {did}{version}已获部分审核同意,尚待其他审核。\n{comments}"
        return _author(record, "commented", text, f"稿件 {did} 审核意见", "等待其他审核")
    when = f",定于 {clock.beijing(draft.scheduled_at)} 发布" if draft.scheduled_at else ",等待发布"
    text = f"【审核通过】你的稿件 {did}{version}已通过全部审核{when}。" + (
        f"\n{comments}" if comments else ""
    )
    notice = _author(record, "approved", text, f"稿件 {did} 审核通过", "等待发布")
    # Approval is per version and round: a second record that leaves the same version
    # approved is no news; approved again in a new round (sign-offs voided) is.
    token = f"{did}:{record.get('version_hash', '')}:r{draft.review_round}"
    return Notice(**{**notice.__dict__, "token": token})


# Art. 14, 17: moves made for the author, not by them; the record's reason says why.
MOVED = {
    "draft.hold": ("held", "【暂停发布】", "稿件 {did} 暂停发布"),
    "draft.close": ("closed", "【已撤回】", "稿件 {did} 随平台关闭撤回"),
    "draft.resume": ("review_again", "【重新审核】", "稿件 {did} 须重新审核"),
    "draft.lapse": ("review_again", "【重新审核】", "稿件 {did} 签发失效"),
}


def _comment_lines(record: dict[str, str]) -> str:
    """The reviewers' comments (审核意见) on the version, one line each."""
    found = json.loads(record.get("detail") or "{}").get("comments") or {}
    return "\n".join(
        f"{review.SIGNOFFS.get(name, name)}意见:{text}" for name, text in sorted(found.items())
    )


def _retrying(record: dict[str, str]) -> Notice:
    """The first failed step: what went wrong, that it retries, and how long at most."""
    did, reason = record["draft"], record.get("reason") or "(未说明)"
    detail = json.loads(record.get("detail") or "{}")
    minutes = max(1, -(-int(detail.get("longest_wait", 0)) // 60))
    text = (
        f"【发布遇到问题】你的稿件 {did} 发布时出错:{reason}\n"
        f"系统会自动重试(最多 {detail.get('retries_left', 0)} 次,约 {minutes} 分钟内),"
        "成功或最终失败都会再通知你,现在无需操作。"
    )
    return _author(record, "retrying", text, f"稿件 {did} 发布重试中", reason)


def _author(record, purpose: str, text: str, headline: str, reply: str, url: str = ""):
    return Notice(
        purpose=purpose,
        token=record["id"],
        text=text,
        headline=headline,
        subject=f"稿件 {record['draft']}",
        reply=reply,
        draft=record["draft"],
        url=url,
    )


def published_url(record: dict[str, str]) -> str:
    """The article link a ``draft.publish`` record carries (``url``, or the first of
    ``article_urls``); a text mass send has none."""
    detail = json.loads(record.get("detail") or "{}")
    urls = detail.get("article_urls") or []
    return detail.get("url") or detail.get("article_url") or (urls[0] if urls else "")
