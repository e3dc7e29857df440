"""Chat commands: what staff say to an official account and what Qianfa answers.

The webhook (``app.webhook``) verifies and decrypts a callback, looks up the sender's
binding, and hands the message here as an ``Inbound``. ``respond`` returns the text
reply, or ``None`` when the message is not for Qianfa (a follower who is not staff),
so the webhook gives the platform's default reply or forwards it downstream.

Commands are the ``COMMANDS`` table: Chinese words with English aliases, each with the
roles it needs on this platform, checked against the stored roles on every message, and
whether it changes anything (``mutates``, true unless a command is marked read-only).
A command that changes anything, and any content for a draft session, is accepted only
from a message whose body was authenticated (compatible or safe mode): in plaintext mode
WeChat's signature covers no part of the body, so anyone holding one signed query could
write the command.
Followers' ordinary words (帮助, 投稿 ...) stay theirs; only a bind code or a command that
names a draft is answered (and refused) for someone who is not bound.
"""

import functools
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

import redis

from app import screening
from app.core import audit, clock, keys, metrics, validate
from app.core.errors import Forbidden, InvalidInput, NotFound, QianfaError
from app.core.masterkey import Keyring
from app.core.paging import paginate
from app.core.settings import get_settings
from app.core.store import decode_set
from app.drafts import compose, corrections, lifecycle, preview, release, review
from app.monitoring import daily, handling, replies, reports, takedown
from app.publishing import manual
from app.registry import access, bindcodes, people, platforms
from app.registry.platforms import Platform

log = logging.getLogger(__name__)

MAX_REPLY_BYTES = 2048
PAGE_BYTES = 1200
SEEN_TTL = 7 * 86400
BIND_ATTEMPTS = 5
BIND_WINDOW = 3600
LIST_LIMIT = 10
PENDING_LIMIT = 20
PLAINTEXT_REFUSAL = (
    "抱歉,明文模式下不接受会改变状态的指令(绑定、投稿、审核、撤回等):"
    "明文消息的内容没有签名,无法确认确实来自微信。"
    "请在公众平台改为安全模式,并请党委宣传部在签发中同步设置。"
    "「帮助」「状态」「查看」等只读指令仍可使用。"
)
PLAINTEXT_HELP = "本公众号为明文模式,只能使用以上只读命令;请在公众平台改为安全模式。"
DRAFT_ID = re.compile(r"[DdＤｄ]\s*[0-9０-９]+")

ANYONE, STAFF, ADMIN, REVIEWER = "anyone", "staff", "admin", "reviewer"
NEEDS = {
    STAFF: "本公众号的工作人员",
    ADMIN: "本公众号的管理员",
    REVIEWER: "本公众号的审核人(第一责任人或党委宣传部)",
}


@dataclass(frozen=True)
class Inbound:
    """One message from WeChat, already verified; ``person`` is the bound person or ''.

    ``grants`` and ``session`` are the person's stored role grants and open draft session
    when the webhook read them together with the binding; ``None`` means read them here.
    ``authenticated`` says the body itself was signed (it came encrypted), not only the
    query: without it only read-only commands run.
    """

    openid: str
    type: str
    person: str = ""
    text: str = ""
    media_id: str = ""
    pic_url: str = ""
    url: str = ""
    title: str = ""
    description: str = ""
    event: str = ""
    grants: frozenset[str] | None = None
    session: str = ""
    authenticated: bool = False


@dataclass
class Context:
    r: redis.Redis
    keyring: Keyring
    platform: Platform
    message: Inbound
    roles: tuple[str, ...]
    session: compose.Session | None
    grants: frozenset[str] | set[str] | None = None  # every stored grant; None: unread

    @property
    def actor(self) -> audit.Actor:
        return audit.Actor(via="chat", person=self.message.person, openid=self.message.openid)

    @property
    def is_reviewer(self) -> bool:
        return _reviewer(self.roles)


@dataclass(frozen=True)
class Command:
    name: str
    words: tuple[str, ...]
    needs: str
    usage: str
    run: Callable[[Context, str], str]
    mutates: bool = True  # a new command changes state until marked otherwise


def respond(r: redis.Redis, keyring: Keyring, platform: Platform, message: Inbound) -> str | None:
    """The reply to one message, or ``None`` when it is a follower's, not Qianfa's."""
    try:
        return _respond(r, keyring, platform, message)
    except QianfaError as error:
        return error.message
    except Exception:
        log.exception("chat command failed on %s", platform.id)
        return "系统繁忙,请稍后再试。如多次出现,请联系党委宣传部。"


def _respond(r, keyring, platform, message: Inbound) -> str | None:
    if message.type not in ("text", "image", "link"):
        return None
    command, args = parse(message.text) if message.type == "text" else (None, "")
    if not message.person:
        if command is None or not (command.needs == ANYONE or DRAFT_ID.search(args)):
            return None
        if command.needs != ANYONE:
            return _refuse(r, platform, message, command, "unbound")
    grants, session = _sender(r, platform.id, message)
    roles = access.roles_on(grants, platform.id)
    ctx = Context(r, keyring, platform, message, roles, session, grants)
    if session is not None and access.ADMIN in roles:
        return _in_session(ctx, command, args)
    if command is None:
        return _hint(ctx)
    if not _allowed(ctx, command.needs):
        return _refuse(r, platform, message, command, "role")
    return _run(ctx, command, args)


def _run(ctx: Context, command: Command, args: str) -> str:
    """Run a command the sender may use; one that changes state needs an authenticated body."""
    if command.mutates and not ctx.message.authenticated:
        _count(command, "unauthenticated")
        return _unauthenticated(ctx, command.name)
    try:
        reply = command.run(ctx, args)
    except Forbidden as error:
        _count(command, "forbidden")
        return _refuse(ctx.r, ctx.platform, ctx.message, command, error.code, error.message)
    except QianfaError:
        _count(command, "invalid")
        raise
    _count(command, "ok")
    return reply


def _count(command: Command, outcome: str) -> None:
    metrics.count("qianfa_chat_commands_total", command=command.name, outcome=outcome)


def _sender(r, platform_id: str, message: Inbound):
    """The sender's stored role grants and open draft session, in one round trip."""
    if not message.person:
        return frozenset(), None
    if message.grants is not None:
        session = compose.Session.loads(message.session) if message.session else None
        return message.grants, session
    pipe = r.pipeline(transaction=False)
    pipe.smembers(keys.person_roles(message.person))
    pipe.get(keys.chat_session(platform_id, message.openid))
    grants, session = pipe.execute()
    return decode_set(grants), compose.Session.loads(session) if session else None


def parse(text: str) -> tuple["Command | None", str]:
    """Find the command word at the start, with or without a space after it."""
    text = " ".join(validate.normalize(text or "").split())
    lowered = text.lower()
    for word, command in _WORDS_BY_FIRST.get(lowered[:1], ()):
        if not lowered.startswith(word):
            continue
        rest = text[len(word) :]
        if word.isascii() and word.isalpha() and rest[:1].isalpha():
            continue
        return command, rest.strip()
    return None, text


def _allowed(ctx: Context, needs: str) -> bool:
    return _may(ctx.roles, needs)


def _may(roles: tuple[str, ...], needs: str) -> bool:
    if needs in (ANYONE, STAFF):
        return needs == ANYONE or bool(roles)
    if needs == ADMIN:
        return access.ADMIN in roles
    return _reviewer(roles)


def _reviewer(roles: tuple[str, ...]) -> bool:
    return bool({access.RESPONSIBLE, access.PROPAGANDA} & set(roles))


def _refuse(r, platform, message: Inbound, command: Command, why: str, text: str = "") -> str:
    actor = audit.Actor(via="chat", person=message.person, openid=message.openid)
    audit.record(
        r,
        actor,
        "chat.refused",
        platform=platform.id,
        reason=why,
        detail={"command": command.name, "words": message.text[:60]},
    )
    if text:
        return text
    if not message.person:
        return "你还没有绑定身份。请向党委宣传部索取绑定码,然后发送「绑定 绑定码」。"
    who = NEEDS[command.needs]
    return f"抱歉,「{command.words[0]}」只有{who}可以使用。发送「帮助」查看你可用的命令。"


def _unauthenticated(ctx: Context, name: str) -> str:
    """Refuse a state change whose body nobody signed, saying why and what to do."""
    detail = {"command": name, "words": ctx.message.text[:60]}
    audit.record(
        ctx.r,
        ctx.actor,
        "chat.refused",
        platform=ctx.platform.id,
        reason="plaintext",
        detail=detail,
    )
    return PLAINTEXT_REFUSAL


def _hint(ctx: Context) -> str:
    if ctx.message.type in ("image", "link") and access.ADMIN in ctx.roles:
        return "如需投稿,请先发送「投稿」,再发送文字、图片或链接。"
    shown = (ctx.message.text or "").strip()[:20]
    return f"没有看懂「{shown}」。发送「帮助」查看可用的命令。" if shown else _help(ctx, "")


# ---- the draft session -------------------------------------------------------------------


def _in_session(ctx: Context, command: Command | None, args: str) -> str:
    """While composing, only the session's commands are commands; the rest is content."""
    if command is not None and command.name in SESSION_COMMANDS:
        return _run(ctx, command, args)
    if not ctx.message.authenticated:
        return _unauthenticated(ctx, "session_content")
    part = _part(ctx.message)
    if part is None:
        return "投稿中只能发送文字、图片或链接。发送「提交」提交审核,「取消」放弃。"
    session = compose.add(ctx.r, ctx.platform.id, ctx.message.openid, ctx.session, part)
    what = compose.PART_NAMES[part.type]
    if part.type == compose.IMAGE and session.cover_part() == len(session.parts):
        what += "(封面;「封面 N」可改用第 N 段的图片)"
    return f"已收到第 {len(session.parts)} 段{what}。继续发送,或「预览」「提交」「取消」。"


def _part(message: Inbound) -> compose.Part | None:
    if message.type == "text":
        text = validate.text(message.text, "文字", max_len=lifecycle.LIMITS["text"], multiline=True)
        return compose.Part(compose.TEXT, text=text)
    if message.type == "image":
        return compose.Part(compose.IMAGE, url=validate.url(message.pic_url, "图片", required=True))
    if message.type == "link":
        url = validate.url(message.url, "链接", required=True)
        return compose.Part(compose.LINK, url=url, title=validate.normalize(message.title)[:64])
    return None


def _compose(ctx: Context, args: str, target: str = "") -> str:
    if ctx.session is not None:
        return "你正在投稿中:继续发送内容,或「预览」「提交」「取消」。"
    where = {"contributed_from": ctx.platform.id} if target else {}
    if args:
        text = {"text": args}
        draft = lifecycle.create(
            ctx.r, ctx.actor, target or ctx.platform.id, lifecycle.TEXT, text, **where
        )
        return _submitted(ctx, lifecycle.submit(ctx.r, ctx.actor, draft.id))
    compose.save(ctx.r, ctx.platform.id, ctx.message.openid, compose.Session(target=target))
    to = f"向一级平台「{target}」" if target else ""
    return (
        f"开始{to}投稿。请发送文字、图片或链接,可发送多条:\n"
        "「标题 …」设置标题 · 第一张图片为图文封面(「封面 N」改选)·「预览」查看 ·"
        "「提交」提交审核 ·「取消」放弃\n"
        f"{compose.SESSION_TTL // 3600} 小时内未提交将自动作废。"
    )


def _contribute(ctx: Context, args: str) -> str:
    """A unit's contribution to a tier-1 platform (art. 14): this platform's responsible
    person signs first, then the propaganda department."""
    target, _, text = (args or "").partition(" ")
    if not target:
        raise InvalidInput("请写明一级平台的标识,如:投稿到 xy-wx 文字")
    target = platforms.get(ctx.r, target).id
    if target == ctx.platform.id:
        return _compose(ctx, text.strip())
    lifecycle.check_contribution(platforms.get(ctx.r, target), ctx.platform.id)
    return _compose(ctx, text.strip(), target)


def _title(ctx: Context, args: str) -> str:
    if ctx.session is None:
        return _no_session()
    compose.set_title(ctx.r, ctx.platform.id, ctx.message.openid, ctx.session, args)
    return f"标题已设为「{ctx.session.title}」。"


def _preview_session(ctx: Context, args: str) -> str:
    if ctx.session is None:
        return _no_session()
    lines = compose.outline(ctx.session)
    return _fit("\n".join(lines) + "\n—— 发送「提交」提交审核,「取消」放弃")


def _submit_session(ctx: Context, args: str) -> str:
    if ctx.session is None:
        return _no_session()
    return _submitted(ctx, compose.submit(ctx.r, ctx.actor, ctx.platform.id, ctx.session))


def _cover(ctx: Context, args: str) -> str:
    if ctx.session is None:
        return _no_session()
    session = compose.set_cover(ctx.r, ctx.platform.id, ctx.message.openid, ctx.session, args)
    return f"封面已改为第 {session.cover} 段的图片。"


def _drop(ctx: Context, args: str) -> str:
    if ctx.session is None:
        return _no_session()
    gone = compose.drop(ctx.r, ctx.platform.id, ctx.message.openid, ctx.session, args)
    left = len(ctx.session.parts)
    return f"已删除一段{compose.PART_NAMES[gone.type]},还有 {left} 段。发送「预览」查看。"


def _revise(ctx: Context, args: str) -> str:
    """Reopen one's own draft in a session with its content, for its next version."""
    if ctx.session is not None:
        return "你正在投稿中:请先「提交」或「取消」,再修改其他稿件。"
    raw, _ = _split_id(args)
    draft = _draft_here(ctx, raw)
    session = compose.reopen(ctx.r, ctx.actor, ctx.platform.id, draft.id)
    return _fit(
        f"开始修改稿件 {draft.id}(第 {draft.version} 版),内容如下:\n"
        + "\n".join(compose.outline(session))
        + "\n继续发送内容追加,「删除 N」删去第 N 段,「标题 …」「封面 N」修改;"
        "「提交」保存为新版本并重新送审(此前的审核意见作废),「取消」放弃修改。"
    )


def _cancel(ctx: Context, args: str) -> str:
    if not compose.cancel(ctx.r, ctx.platform.id, ctx.message.openid):
        return _no_session()
    return "已取消本次投稿,内容未保存。"


def _no_session() -> str:
    return "你还没有开始投稿。请先发送「投稿」。"


def _submitted(ctx: Context, draft: lifecycle.Draft) -> str:
    state = review.state(ctx.r, draft.id)
    waiting = "、".join(review.SIGNOFFS[s] for s in state.missing)
    return _fit(
        f"已提交稿件 {draft.id}({lifecycle.KINDS[draft.kind]},第 {draft.version} 版),"
        f"状态:{lifecycle.STATUSES[draft.status]}。等待审核:{waiting or '无'}。\n"
        f"{_screening_line(ctx, draft)}\n"
        + _stuck_line(ctx, state)
        + f"发送「状态 {draft.id}」查看进度,「撤回 {draft.id}」撤回。"
    )


def _stuck_line(ctx: Context, state: review.ReviewState) -> str:
    """Say at once when only the author could give a sign-off the draft needs."""
    if state.draft.status != lifecycle.IN_REVIEW:
        return ""
    missing = review.unsignable(ctx.r, state)
    if not missing:
        return ""
    who = "、".join(review.SIGNOFFS[s] for s in missing)
    return (
        f"注意:本稿件须经{who}审核,而有此资格的只有作者本人(不能审核自己的稿件),"
        "目前无人能审核通过;已通报党委宣传部安排其他审核人。\n"
    )


def _screening_line(ctx: Context, draft: lifecycle.Draft) -> str:
    found = screening.result_for(ctx.r, draft.id)
    if not found:
        return "内容检查:本版本尚未检查"
    if any(hit.suggestion for hit in found.hits) and access.ADMIN in ctx.roles:
        return found.summary_zh() + f"\n发送「采纳 {draft.id}」一次采纳全部修改建议。"
    return found.summary_zh()


# ---- administrators ----------------------------------------------------------------------


def _draft_here(ctx: Context, raw: str) -> lifecycle.Draft:
    """The draft named in the command, if it belongs to (or was contributed from) this
    platform; the propaganda department reviews every platform's from wherever it is bound.
    What the sender may do with it is still decided from their stored roles."""
    if not raw:
        raise InvalidInput("请写明稿件编号,如 D42")
    draft = lifecycle.get(ctx.r, raw)
    here = ctx.platform.id in (draft.platform, draft.contributed_from)
    if not here and access.PROPAGANDA not in ctx.roles:
        raise NotFound(f"本公众号没有编号为 {draft.id} 的稿件")
    return draft


def _split_id(args: str) -> tuple[str, str]:
    match = DRAFT_ID.match(args)
    if not match:
        raise InvalidInput("请写明稿件编号,如 D42")
    return match.group(0).replace(" ", ""), args[match.end() :].strip()


def _withdraw(ctx: Context, args: str) -> str:
    raw, reason = _split_id(args)
    draft = _draft_here(ctx, raw)
    draft = lifecycle.withdraw(ctx.r, ctx.actor, draft.id, reason)
    return f"已撤回稿件 {draft.id}。"


def _adopt(ctx: Context, args: str) -> str:
    raw, _ = _split_id(args)
    draft = _draft_here(ctx, raw)
    done = corrections.adopt(ctx.r, ctx.actor, draft.id)
    new = done.draft
    left = f"另有 {done.skipped} 处无法自动修改,请手动处理。" if done.skipped else ""
    void = "此前的审核意见已作废。" if draft.status != lifecycle.DRAFT else ""
    return _fit(
        f"已采纳 {done.applied} 处修改建议,稿件 {new.id} 生成第 {new.version} 版,"
        f"状态:{lifecycle.STATUSES[new.status]}。{void}{left}\n{_screening_line(ctx, new)}"
    )


def _status(ctx: Context, args: str) -> str:
    raw, _ = _split_id(args)
    draft = _draft_here(ctx, raw)
    return "\n".join(_summary(ctx, draft))


def _summary(ctx: Context, draft: lifecycle.Draft) -> list[str]:
    state = review.state(ctx.r, draft.id)
    lines = [
        f"稿件 {draft.id} · {lifecycle.KINDS[draft.kind]} · 第 {draft.version} 版"
        f"({draft.content_hash[:8]})· {lifecycle.STATUSES[draft.status]}"
    ]
    rejected = review.rejection(ctx.r, draft)
    if rejected:
        lines.append(f"退回原因:{rejected['reason']}({_who(ctx, rejected)})")
        lines.append(f"发送「修改 {draft.id}」修改后重新提交。")
    elif draft.status_reason:
        lines.append(f"说明:{draft.status_reason}")
    if draft.status in (lifecycle.IN_REVIEW, lifecycle.APPROVED):
        for req in state.required:
            given = state.given.get(req.signoff)
            mark = "已通过" if given else "待审核"
            said = f",意见:{given['comment']}" if given and given.get("comment") else ""
            lines.append(f"{review.SIGNOFFS[req.signoff]}:{mark}{said}")
    if draft.scheduled_at:
        lines.append(f"定时发布:{clock.beijing(draft.scheduled_at)}")
    lines.append(f"更新于 {clock.beijing(draft.updated_at)}")
    if draft.flags:
        lines.append("标记:" + "、".join(lifecycle.FLAGS[f] for f in sorted(draft.flags)))
    if draft.status != lifecycle.DRAFT:
        lines.append(_screening_line(ctx, draft))
    return lines


def _who(ctx: Context, decision: dict[str, str]) -> str:
    """``王主任(第一责任人),2026-05-01 14:03 北京时间`` for a stored decision."""
    try:
        name = people.get(ctx.r, decision["person"]).name
    except QianfaError:
        name = decision.get("person", "")
    roles = "、".join(review.SIGNOFFS[s] for s in decision.get("as", "").split(",") if s)
    return f"{name}({roles}),{clock.beijing(decision.get('at', ''))}"


HEADLINE_CHARS = 16


def _page(ctx: Context, drafts: list[lifecycle.Draft], stored=None) -> list[tuple]:
    """Each draft of a list with its headline and what it still needs, read for the whole
    page in one round trip; ``stored``: the sign-offs already read (``review.page``)."""
    return [
        (d, _headline(v.content), _waiting_for(d, state.missing if state else []))
        for d, (v, state) in zip(drafts, review.page(ctx.r, drafts, stored), strict=True)
    ]


def _headline(content: dict) -> str:
    """A title or the first words, so a list says which draft is which."""
    words = content.get("title") or content.get("text") or content.get("caption") or "图片"
    words = " ".join(words.split())
    return "「" + words[:HEADLINE_CHARS] + ("…" if len(words) > HEADLINE_CHARS else "") + "」"


def _waiting_for(draft: lifecycle.Draft, missing: list[str]) -> str:
    """What a draft still needs, in a word or two."""
    if draft.status == lifecycle.IN_REVIEW:
        return "待" + "、".join(review.SIGNOFFS[s] for s in missing) + "审核"
    if draft.status == lifecycle.REJECTED:
        return f"{lifecycle.STATUSES[draft.status]}:{draft.status_reason}"
    if draft.status == lifecycle.DRAFT:
        return "未提交"
    return lifecycle.STATUSES[draft.status]


def _mine(ctx: Context, args: str) -> str:
    found = lifecycle.list_drafts(
        ctx.r, platform=ctx.platform.id, author=ctx.message.person, limit=LIST_LIMIT
    )
    if not found:
        return "你在本公众号还没有稿件。发送「投稿」开始。"
    lines = [f"你最近的稿件(最多 {LIST_LIMIT} 篇):"]
    lines += [
        f"{d.id}{headline} · {needs} · {clock.age(d.updated_at)}"
        for d, headline, needs in _page(ctx, found)
    ]
    lines.append("发送「状态 D编号」查看详情。")
    return _fit("\n".join(lines))


# ---- reviewers ---------------------------------------------------------------------------


def _pending(ctx: Context, args: str) -> str:
    """This platform's drafts (and its unit's contributions) waiting for the sender; every
    platform's for a propaganda-department reviewer, who reviews them all from here."""
    scope = None if access.PROPAGANDA in ctx.roles else [ctx.platform.id]
    signed = review.waiting_signed(ctx.r, ctx.message.person, scope, PENDING_LIMIT, ctx.grants)
    waiting = [draft for draft, _ in signed]
    if not waiting:
        return "目前没有等待你审核的稿件。"
    count = f"最近 {PENDING_LIMIT}" if len(waiting) == PENDING_LIMIT else len(waiting)
    lines = [f"等待你审核的稿件({count} 篇):"]
    lines += [
        f"{d.id} {lifecycle.KINDS[d.kind]}{headline} · 送审 {clock.age(d.updated_at)} · {needs}"
        for d, headline, needs in _page(ctx, waiting, {d.id: given for d, given in signed})
    ]
    lines.append("发送「查看 D编号」阅读。")
    return _fit("\n".join(lines))


def _view(ctx: Context, args: str) -> str:
    raw, rest = _split_id(args)
    draft = _draft_here(ctx, raw)
    version = lifecycle.version(ctx.r, draft.id)
    ctx.r.set(keys.chat_seen(draft.id, ctx.message.person), draft.content_hash, ex=SEEN_TTL)
    body, pages = _body(ctx, draft, version, rest)
    lines = _summary(ctx, draft) + ["————", body]
    if pages:
        lines.append(pages)
    if ctx.is_reviewer and draft.status == lifecycle.IN_REVIEW:
        lines.append(
            f"同意请回复「同意 {draft.id}」(可附意见,如「同意 {draft.id} 标题可再精炼」),"
            f"驳回请回复「驳回 {draft.id} 原因」。"
        )
    return _fit("\n".join(lines))


def _body(ctx: Context, draft: lifecycle.Draft, version: lifecycle.Version, page_arg: str):
    content = version.content
    if draft.kind == lifecycle.IMAGE:
        return f"图片:{content['image_url']}\n说明:{content['caption'] or '(无)'}", ""
    if draft.kind == lifecycle.ARTICLE:
        settings = get_settings()
        url = preview.link(
            ctx.keyring, settings.public_url, draft.id, version.number, settings.preview_ttl
        )
        hours = settings.preview_ttl // 3600
        return f"标题:{content['title']}\n阅读全文({hours} 小时内有效):{url}", ""
    pages = paginate(_marked(ctx, draft, content["text"]), PAGE_BYTES)
    number = _page_number(page_arg, len(pages))
    more = ""
    if len(pages) > 1:
        more = f"(第 {number}/{len(pages)} 段)"
        if number < len(pages):
            more += f"发送「查看 {draft.id} {number + 1}」看下一段。"
    return pages[number - 1], more


def _marked(ctx: Context, draft: lifecycle.Draft, text: str) -> str:
    """The text with screening hits in 【】, so a reviewer sees what was found where."""
    found = screening.result_for(ctx.r, draft.id)
    if not found or not found.hits:
        return text
    pieces = screening.runs(text, found.hits, field="text")
    return "".join(f"【{piece}】" if hit else piece for piece, hit in pieces)


def _page_number(raw: str, count: int) -> int:
    if not raw:
        return 1
    if not raw.isdigit() or not 1 <= int(raw) <= count:
        raise InvalidInput(f"段号应为 1–{count} 之间的数字")
    return int(raw)


def _seen_hash(ctx: Context, draft: lifecycle.Draft) -> str:
    """The version this reviewer read, or the current one if they decide without reading."""
    seen = ctx.r.get(keys.chat_seen(draft.id, ctx.message.person))
    return seen.decode() if seen else draft.content_hash


def _approve(ctx: Context, args: str) -> str:
    raw, comment = _split_id(args)
    draft = _draft_here(ctx, raw)
    state = review.approve(ctx.r, ctx.actor, draft.id, _seen_hash(ctx, draft), comment)
    done = state.draft
    head = f"已同意稿件 {done.id} 第 {done.version} 版({done.content_hash[:8]})。"
    head += f"审核意见已转告作者:{comment}。" if comment else ""
    if state.complete:
        return head + "审核已全部通过,等待发布。"
    return head + "还需:" + "、".join(review.SIGNOFFS[s] for s in state.missing) + "审核。"


def _reject(ctx: Context, args: str) -> str:
    raw, reason = _split_id(args)
    draft = _draft_here(ctx, raw)
    if not reason:
        raise InvalidInput(f"请写明驳回原因,如:驳回 {draft.id} 标题有错别字")
    done = review.reject(ctx.r, ctx.actor, draft.id, _seen_hash(ctx, draft), reason)
    return f"已驳回稿件 {done.id} 第 {done.version} 版,原因:{reason}。已退回作者修改。"


def _schedule(ctx: Context, args: str) -> str:
    """``定时 D42 2026-12-05 09:00`` (Beijing time): a new publish time; sign-offs stay."""
    raw, when = _split_id(args)
    if not when:
        raise InvalidInput(f"请写明发布时间(北京时间),如:定时 {raw} 2026-12-05 09:00")
    draft = lifecycle.reschedule(ctx.r, ctx.actor, _draft_here(ctx, raw).id, when)
    return (
        f"稿件 {draft.id} 改定于 {clock.beijing(draft.scheduled_at)} 发布。"
        "内容未变,已有的审核签发仍然有效。"
    )


def _unschedule(ctx: Context, args: str) -> str:
    raw, _ = _split_id(args)
    draft = lifecycle.reschedule(ctx.r, ctx.actor, _draft_here(ctx, raw).id, None)
    after = "将立即发布" if draft.status == lifecycle.APPROVED else "审核通过后立即发布"
    return f"已取消稿件 {draft.id} 的定时发布,{after}。"


def _flag(ctx: Context, args: str) -> str:
    raw, topic = _split_id(args)
    draft = _draft_here(ctx, raw)
    flag = _topic(topic)
    state = review.set_flag(ctx.r, ctx.actor, draft.id, flag, True)
    waiting = "、".join(review.SIGNOFFS[s] for s in state.missing) or "无"
    label = lifecycle.FLAGS[flag]
    head = f"已将稿件 {draft.id} 标记为「{label}」,须经党委宣传部审核。待审核:{waiting}。"
    return head + ("\n" + _stuck_line(ctx, state)).rstrip()


WHITELIST_WORDS = ("白名单", "加白", "whitelist")


def _release(ctx: Context, args: str) -> str:
    """放行 D42 [白名单] 理由: the propaganda department releases a false positive."""
    raw, rest = _split_id(args)
    draft = _draft_here(ctx, raw)
    word, _, after = rest.partition(" ")
    whitelist = word.lower() in WHITELIST_WORDS
    reason = after.strip() if whitelist else rest
    if not reason:
        raise InvalidInput(f"请写明放行理由,如:放行 {draft.id} 禁毒宣传用语,并非违禁内容")
    done = release.release(ctx.r, ctx.actor, draft.id, reason, whitelist=whitelist)
    waiting = "、".join(review.SIGNOFFS[s] for s in review.state(ctx.r, done.id).missing)
    added = "被拦截的短语已加入白名单。" if whitelist else ""
    return f"已放行稿件 {done.id} 并送审,等待审核:{waiting or '无'}。{added}已通知作者。"


def _topic(raw: str) -> str:
    if not raw:
        return "sensitive_issue"
    for flag, name in lifecycle.FLAGS.items():
        if raw in (flag, name) or name.startswith(raw):
            return flag
    raise InvalidInput("标记应为:" + "、".join(lifecycle.FLAGS.values()))


# ---- everyone ----------------------------------------------------------------------------


def _bind(ctx: Context, args: str) -> str:
    if not args:
        return "请发送「绑定 绑定码」,如:绑定 K7M2-Q9XA"
    attempts_key = keys.bind_attempts(ctx.platform.id, ctx.message.openid)
    attempts = int(ctx.r.get(attempts_key) or 0)
    if attempts >= BIND_ATTEMPTS:
        raise Forbidden("绑定码错误次数过多,请一小时后再试", code="bind_throttled")
    try:
        binding = bindcodes.redeem(ctx.r, ctx.keyring, ctx.platform.id, ctx.message.openid, args)
    except (InvalidInput, NotFound):
        ctx.r.pipeline().incr(attempts_key).expire(attempts_key, BIND_WINDOW).execute()
        raise
    ctx.r.delete(attempts_key)
    roles = "、".join(access.ROLES[role] for role in binding.roles)
    return f"绑定成功。你在「{ctx.platform.name}」的身份:{roles}。\n发送「帮助」查看你可用的命令。"


def _help(ctx: Context, args: str) -> str:
    return _help_text(ctx.roles, ctx.message.authenticated, ctx.session is not None)


@functools.lru_cache(maxsize=64)
def _help_text(roles: tuple[str, ...], authenticated: bool, composing: bool) -> str:
    """The same for everyone with these roles: built once per process, not per ``帮助``."""
    lines = ["可用命令(中文或英文均可):"]
    for command in COMMANDS:
        if command.mutates and not authenticated:
            continue
        if command.needs != ANYONE and _may(roles, command.needs) and command.usage:
            lines.append(f"{command.usage}({command.words[-1]})")
    if not authenticated:
        lines.append(PLAINTEXT_HELP)
    if composing:
        lines.append("你正在投稿中:发送的文字、图片、链接都会收入稿件。")
    return _fit("\n".join(lines))


def _published(ctx: Context, args: str) -> str:
    """A draft of a platform without a publishing API was published by hand: report the page.

    The draft may be on another platform than this account (a Weibo or a website has no
    chat of its own); ``manual.accept`` decides from the stored roles who may report it.
    The page is fetched by a job, since WeChat waits 5 s for this reply; its outcome is
    sent here when it is checked.
    """
    raw, url = _split_id(args)
    if not url:
        raise InvalidInput(f"请附上发布后的链接,如:已发布 {raw} https://…")
    check = manual.accept(ctx.r, ctx.actor, raw, url.split()[0], reply_on=ctx.platform.id)
    return f"已收到稿件 {check.draft} 的发布链接,正在核对页面内容,核对结果稍后发给你。"


def _fit(text: str) -> str:
    """Cut a reply to what one WeChat text message carries."""
    if len(text.encode()) <= MAX_REPLY_BYTES:
        return text
    cut = text.encode()[: MAX_REPLY_BYTES - 10].decode(errors="ignore")
    return cut + "…(略)"


def _alerts(ctx: Context, args: str) -> str:
    cases = handling.open_cases(ctx.r, ctx.actor)
    if not cases:
        return "目前没有待处理的告警。"
    lines = [handling.line(case) for case in cases[:LIST_LIMIT]]
    more = f"\n……共 {len(cases)} 条,请到控制台查看全部。" if len(cases) > LIST_LIMIT else ""
    return _fit(f"待处理告警 {len(cases)} 条(最早的在前):\n" + "\n".join(lines) + more)


def _acknowledge_alert(ctx: Context, args: str) -> str:
    case = handling.acknowledge(ctx.r, ctx.actor, args.split(" ")[0] if args else "")
    return f"已认领告警 {case.number}。处理完毕后请回复:处理 {case.number} 处理说明"


def _resolve_alert(ctx: Context, args: str) -> str:
    number, _, note = (args or "").partition(" ")
    if number and not note.strip():
        raise InvalidInput(f"请写明处理说明,如:处理 {number.upper()} 已联系管理员删除该文")
    case = handling.resolve(ctx.r, ctx.actor, number, note)
    return f"告警 {case.number} 已处理,处理说明:{case.note}"


def _take_down(ctx: Context, args: str) -> str:
    target, _, reason = (args or "").partition(" ")
    if target and not reason.strip():
        raise InvalidInput(f"请写明下架原因,如:下架 {target} 内容未经审核")
    found = takedown.request(ctx.r, ctx.actor, target, reason)
    title = f"《{found.title}》" if found.title else f"文章 {found.article_id}"
    return f"已提交下架:平台 {found.platform} 的{title}。完成后会通知你、作者和第一责任人。"


def _approve_reply(ctx: Context, args: str) -> str:
    """Approve the proposed default reply, naming its code so a changed text is not approved."""
    proposal = replies.pending(ctx.r, ctx.platform.id)
    if proposal is None:
        return "本公众号没有待审核的默认回复。"
    if not args:
        return _fit(
            f"待审核的默认回复(提出人 {proposal.by}):\n{proposal.text}\n"
            f"内容检查:{proposal.summary}\n同意请回复「同意回复 {proposal.digest}」。"
        )
    done = replies.approve(ctx.r, ctx.actor, ctx.platform.id, args.split(" ")[0].lower())
    return f"已同意,粉丝今后将收到新的默认回复:{done.text[:40]}"


def _reject_reply(ctx: Context, args: str) -> str:
    replies.reject(ctx.r, ctx.actor, ctx.platform.id, args)
    return "已驳回待审核的默认回复,粉丝仍收到原来的回复。"


def _daily(ctx: Context, args: str) -> str:
    access.authorize(ctx.r, ctx.actor, handling.HANDLERS, "查看日报")
    settings = get_settings()
    return daily.text(daily.build(ctx.r, settings, daily.yesterday()))


def _report(ctx: Context, args: str) -> str:
    done = reports.report(ctx.r, ctx.actor, ctx.platform.id, args)
    return f"已收到你的举报(告警 {done.number}),党委宣传部会处理。谢谢!"


def _home(ctx: Context, args: str) -> str:
    """The home binding: review requests and alerts of platforms one is not bound on come here."""
    bindcodes.set_home(ctx.r, ctx.actor, ctx.platform.id, ctx.message.openid)
    return (
        f"已将「{ctx.platform.name}」设为你的主绑定:未绑定的平台的审核请求和告警都发到这里,"
        "可在这里直接「待审」「查看」「同意」「驳回」。"
    )


COMMANDS = (
    Command("bind", ("绑定", "bind"), ANYONE, "", _bind),
    Command(
        "home", ("设为主绑定", "home"), STAFF, "设为主绑定:其他平台的审核和告警发到这里", _home
    ),
    Command("help", ("帮助", "?", "help"), STAFF, "帮助:查看可用命令", _help, mutates=False),
    Command("compose", ("投稿", "new"), ADMIN, "投稿 [文字]:开始投稿,或直接提交短文字", _compose),
    Command("title", ("标题", "title"), ADMIN, "标题 文字:设置投稿标题", _title),
    Command(
        "contribute",
        ("投稿到", "contribute"),
        ADMIN,
        "投稿到 平台 [文字]:本单位向学校一级平台投稿",
        _contribute,
    ),
    Command(
        "preview",
        ("预览", "preview"),
        ADMIN,
        "预览:查看正在投的稿",
        _preview_session,
        mutates=False,
    ),
    Command("send", ("提交", "send"), ADMIN, "提交:把正在投的稿提交审核", _submit_session),
    Command("cancel", ("取消", "cancel"), ADMIN, "取消:放弃正在投的稿", _cancel),
    Command("withdraw", ("撤回", "withdraw"), ADMIN, "撤回 D编号 [原因]:撤回稿件", _withdraw),
    Command("status", ("状态", "status"), STAFF, "状态 D编号:查看稿件进度", _status, mutates=False),
    Command("mine", ("我的稿件", "mine"), ADMIN, "我的稿件:列出我的稿件", _mine, mutates=False),
    Command(
        "pending", ("待审", "pending"), REVIEWER, "待审:等待我审核的稿件", _pending, mutates=False
    ),
    Command("view", ("查看", "view"), STAFF, "查看 D编号:阅读稿件", _view, mutates=False),
    Command(
        "approve", ("同意", "通过", "approve"), REVIEWER, "同意 D编号 [意见]:审核通过", _approve
    ),
    Command("reject", ("驳回", "reject"), REVIEWER, "驳回 D编号 原因:退回修改", _reject),
    Command("flag", ("敏感", "flag"), STAFF, "敏感 D编号:标记涉及重大事件等", _flag),
    Command("release", ("放行", "release"), REVIEWER, "放行 D编号 [白名单] 理由:放行", _release),
    Command("alerts", ("告警", "alerts"), STAFF, "告警:列出待处理的告警", _alerts, mutates=False),
    Command("ack", ("认领", "ack"), STAFF, "认领 A编号:认领告警", _acknowledge_alert),
    Command("resolve", ("处理", "resolve"), STAFF, "处理 A编号 说明:处理完告警", _resolve_alert),
    Command(
        "published", ("已发布", "published"), STAFF, "已发布 D编号 链接:报告手工发布", _published
    ),
    Command("adopt", ("采纳", "adopt"), ADMIN, "采纳 D编号:采纳内容检查的修改建议", _adopt),
    Command("takedown", ("下架", "takedown"), STAFF, "下架 链接或D编号 原因:下架文章", _take_down),
    Command("cover", ("封面", "cover"), ADMIN, "封面 N:投稿中用第 N 段的图片作封面", _cover),
    Command("drop", ("删除", "drop"), ADMIN, "删除 N:投稿中删去第 N 段", _drop),
    Command("revise", ("修改", "revise"), ADMIN, "修改 D编号:修改被退回或审核中的稿件", _revise),
    Command("report", ("举报", "report"), STAFF, "举报 链接或说明:向党委宣传部举报问题", _report),
    Command("daily", ("日报", "daily"), STAFF, "日报:昨天的监测日报", _daily, mutates=False),
    Command(
        "reply_approve",
        ("同意回复", "approve-reply"),
        REVIEWER,
        "同意回复:审核默认回复",
        _approve_reply,
    ),
    Command("reply_reject", ("驳回回复", "reject-reply"), REVIEWER, "驳回回复 原因", _reject_reply),
    Command("schedule", ("定时", "schedule"), ADMIN, "定时 D编号 时间:改定时发布", _schedule),
    Command(
        "unschedule", ("取消定时", "unschedule"), ADMIN, "取消定时 D编号:取消定时", _unschedule
    ),
)
SESSION_COMMANDS = {"help", "compose", "title", "preview", "send", "cancel"}
SESSION_COMMANDS |= {"cover", "drop", "revise"}
_WORDS = sorted(
    ((word.lower(), command) for command in COMMANDS for word in command.words),
    key=lambda pair: -len(pair[0]),
)


def _by_first_character(words: list) -> dict[str, list]:
    """The words, longest first, under their first character: a message is tried only
    against the words it can start with."""
    grouped: dict[str, list] = {}
    for word, command in words:
        if not word:
            raise ValueError(f"command {command.name} has an empty word")
        grouped.setdefault(word[0], []).append((word, command))
    return grouped


_WORDS_BY_FIRST = _by_first_character(_WORDS)
