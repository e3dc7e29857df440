"""What administrators of a platform without a publishing API hear (art. 2, issue 16).

Such a platform (a Weibo account, a website) has no chat of its own, so its people are
reached on whichever WeChat account they are bound to. When a draft is approved its
author is told exactly what to publish by hand and how to report it; a draft not
reported within ``QIANFA_MANUAL_REPORT_AFTER`` reminds the platform's administrators,
once per period, until it is reported, withdrawn or changed.
"""

from collections.abc import Callable

import redis

from app.core import keys
from app.core.errors import QianfaError, WeChatRetryable
from app.core.settings import Settings
from app.drafts import lifecycle
from app.notify import deliver
from app.notify.deliver import Notice
from app.publishing import channels, manual
from app.registry import platforms

CONTENT_SHOWN = 600  # characters of a text shown in the notice; the console shows all


def is_manual(r: redis.Redis, platform_id: str) -> bool:
    return not channels.for_kind(platforms.get(r, platform_id).kind).automatic


def instructions(r: redis.Redis, draft: lifecycle.Draft) -> str:
    """Exactly what to publish by hand, and how to report it."""
    platform = platforms.get(r, draft.platform)
    content = lifecycle.version(r, draft.id, draft.version).content
    if draft.kind == lifecycle.TEXT:
        body = content["text"]
        what = "请原样发布以下文字:\n" + (
            body if len(body) <= CONTENT_SHOWN else body[:CONTENT_SHOWN] + "…(全文见控制台)"
        )
    else:
        title = content.get("title") or content.get("caption") or ""
        what = f"请按控制台「稿件 {draft.id}」中审核通过的版本(含图片)原样发布《{title}》。"
    return (
        f"「{platform.name}」没有发布接口,需要手工发布。{what}\n"
        f"发布后发送「已发布 {draft.id} 链接」,签发会核对页面内容。"
    )


def remind(r: redis.Redis, api_for: Callable, settings: Settings) -> dict:
    """Remind the administrators of every manual publication not reported in time."""
    counts = {"due": 0, "sent": 0}
    for pub in manual.due(r):
        counts["due"] += 1
        draft = lifecycle.get(r, pub.draft)
        notice = _reminder(r, draft, pub.member)
        for admin in sorted(platforms.get(r, draft.platform).admins):
            try:
                counts["sent"] += tell(r, api_for, admin, draft.platform, notice) == deliver.SENT
            except (WeChatRetryable, QianfaError):
                continue  # the next period reminds again
        manual.postpone(r, pub, settings)
    return counts


def _reminder(r: redis.Redis, draft: lifecycle.Draft, member: str) -> Notice:
    score = r.zscore(keys.manual_pending(), member) or 0
    text = f"【待报告发布】稿件 {draft.id} 已审核通过,尚未报告发布链接。\n" + instructions(r, draft)
    return Notice(
        purpose="manual_reminder",
        token=f"{member}:{int(score)}",
        text=deliver.fit(text),
        headline=f"稿件 {draft.id} 待报告发布",
        subject=f"稿件 {draft.id}",
        reply=f"已发布 {draft.id} 链接",
        draft=draft.id,
    )


def tell(r, api_for, person: str, platform_id: str, notice: Notice) -> str:
    return deliver.tell(r, api_for, person, platform_id, notice)


def checked_notice(check: manual.Check) -> Notice:
    """The outcome of a report's check, for the person who reported the page."""
    did = check.draft
    if check.state == manual.MATCH:
        text = f"已核对稿件 {did}:页面与审核通过的版本一致,已记录为已发布。\n{check.url}"
    elif check.state == manual.DIFFERS:
        text = (
            f"稿件 {did} 已记录为已发布,但页面与审核通过的版本不一致({check.summary}),"
            f"已报告党委宣传部。请尽快改正页面内容。\n{check.url}"
        )
    else:
        text = (
            f"稿件 {did} 的发布链接无法核对:{check.error}\n"
            f"稿件仍为已通过。请检查链接后重新发送「已发布 {did} 链接」。"
        )
    return Notice(
        purpose="report_checked",
        token=f"{did}:{check.seq}",
        text=deliver.fit(text),
        headline=f"稿件 {did} {check.state_zh}",
        subject=f"稿件 {did}",
        reply="" if check.state != manual.FAILED else f"已发布 {did} 链接",
        draft=did,
        url=check.url,
    )


def tell_checked(r: redis.Redis, api_for: Callable, check: manual.Check) -> str:
    """Send the reporter the outcome, where they reported it (chat) or where they are bound."""
    if not check.reporter:
        return ""  # the operator at the shell, who reads the outcome with the draft
    platform_id = check.reply_on or lifecycle.get(r, check.draft).platform
    return tell(r, api_for, check.reporter, platform_id, checked_notice(check))
