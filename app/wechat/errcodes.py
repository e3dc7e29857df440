"""What a WeChat errcode means for Qianfa, and when to try a failed call again.

``ERRCODES`` is the one table from errcode to error class (``app.core.errors``) and to the
Chinese words an author reads; ``classify`` builds the error. ``backoff`` is the pure
delay rule (exponential, jittered) that the RQ jobs use between attempts.
"""

import re

from app.core.backoff import backoff
from app.core.errors import (
    WeChatError,
    WeChatPermanent,
    WeChatQuotaExhausted,
    WeChatRetryable,
    WeChatTokenInvalid,
)

TOKEN_INVALID = (40001, 40014, 42001)
QUOTA_EXHAUSTED = 45009

# errcode -> (class, what it means, in Chinese, for the author). Codes not listed are
# permanent and shown with WeChat's own text.
ERRCODES: dict[int, tuple[type[WeChatError], str]] = {
    -1: (WeChatRetryable, "微信系统繁忙"),
    45011: (WeChatRetryable, "接口调用过于频繁,请一分钟后再试"),
    45066: (WeChatRetryable, "同一群发重试过快,请一分钟后再试"),
    45009: (WeChatQuotaExhausted, "今日接口调用次数已用完"),
    40001: (WeChatTokenInvalid, "access_token 无效或不是最新"),
    40014: (WeChatTokenInvalid, "access_token 不合法"),
    42001: (WeChatTokenInvalid, "access_token 已过期"),
    40003: (WeChatPermanent, "接收人 OpenID 无效"),
    40005: (WeChatPermanent, "文件类型不受支持"),
    40007: (WeChatPermanent, "素材 media_id 无效"),
    40009: (WeChatPermanent, "图片大小超过限制"),
    40013: (WeChatPermanent, "AppID 无效"),
    40033: (WeChatPermanent, "内容含有不合法的 \\uxxxx 字符"),
    40037: (WeChatPermanent, "模板 ID 无效"),
    40125: (WeChatPermanent, "AppSecret 错误"),
    40164: (WeChatPermanent, "服务器 IP 不在公众号的 IP 白名单中"),
    41005: (WeChatPermanent, "缺少上传的文件"),
    43004: (WeChatPermanent, "对方未关注公众号"),
    43101: (WeChatPermanent, "对方拒收模板消息"),
    44003: (WeChatPermanent, "图文内容为空"),
    44004: (WeChatPermanent, "消息内容为空"),
    45002: (WeChatPermanent, "消息内容超过长度限制"),
    45003: (WeChatPermanent, "标题超过长度限制"),
    45004: (WeChatPermanent, "摘要超过长度限制"),
    45008: (WeChatPermanent, "图文数量超过限制"),
    45015: (WeChatPermanent, "对方超过 48 小时未与公众号互动,无法发送客服消息"),
    45028: (WeChatPermanent, "群发次数已用完"),
    45047: (WeChatPermanent, "客服消息条数已达上限"),
    45067: (WeChatPermanent, "群发标识 clientmsgid 过长"),
    45110: (WeChatPermanent, "作者名超过长度限制"),
    47001: (WeChatPermanent, "请求格式错误"),
    47003: (WeChatPermanent, "请求参数无效"),
    48001: (WeChatPermanent, "公众号没有此接口的权限(需认证的服务号)"),
    53502: (WeChatPermanent, "发布任务 ID 无效"),
    53503: (WeChatPermanent, "草稿未通过发布检查"),
}
# Retired tokens are refused with 40001 by API calls, but 40001 from the token endpoints
# themselves means the AppSecret is wrong: never a reason to fetch yet another token.
TOKEN_ENDPOINT_ERRCODES = {40001: (WeChatPermanent, "AppSecret 错误或已重置")}
RETRY_AFTER = {45011: 60.0, 45066: 60.0}
NOISE = re.compile(r"\s*(?:hint: \[[^\]]*\]|rid: [0-9a-fA-F-]+)")


def clean_errmsg(errmsg) -> str:
    """WeChat's errmsg without the ``hint: [...]`` and ``rid: ...`` noise."""
    return NOISE.sub("", str(errmsg or "")).strip()


def classify(
    errcode: int,
    errmsg: str,
    endpoint: str,
    action: str,
    *,
    token_endpoint: bool = False,
    note: str = "",
    retry_after: float | None = None,
) -> WeChatError:
    """The error for a WeChat errcode, with a Chinese message naming what failed and why."""
    table = {**ERRCODES, **TOKEN_ENDPOINT_ERRCODES} if token_endpoint else ERRCODES
    cls, meaning = table.get(errcode, (WeChatPermanent, ""))
    text = clean_errmsg(errmsg)
    reason = meaning or f"微信返回:{text or '(无说明)'}"
    return cls(
        f"{action}失败:{reason}(微信错误码 {errcode}){note}",
        errcode=errcode,
        errmsg=text,
        endpoint=endpoint,
        retry_after=retry_after if retry_after is not None else RETRY_AFTER.get(errcode),
    )


def retry_delay(error: WeChatError, attempt: int, **kwargs) -> float:
    """When to try again after ``error``: the backoff, or longer if WeChat said so."""
    return max(backoff(attempt, **kwargs), error.retry_after or 0.0)
