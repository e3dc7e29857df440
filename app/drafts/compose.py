"""Composing a draft in chat (投稿): collect an administrator's messages, then make one draft.

After ``投稿`` the texts, pictures and links an administrator sends are kept in a short-lived
session; ``提交`` turns them into a draft of the simplest kind that holds them: text only is
a text post, one picture with at most a short caption is an image post, anything else (or a
title) is an article.
"""

import html
import json
from dataclasses import asdict, dataclass, field

import redis

from app.core import audit, keys, validate
from app.core.errors import Conflict, InvalidInput
from app.drafts import lifecycle

SESSION_TTL = 2 * 3600
MAX_PARTS = 30
DIGEST_CHARS = 54
TEXT, IMAGE, LINK = "text", "image", "link"
PART_NAMES = {TEXT: "文字", IMAGE: "图片", LINK: "链接"}


@dataclass(frozen=True)
class Part:
    type: str
    text: str = ""
    url: str = ""
    title: str = ""


@dataclass
class Session:
    title: str = ""
    parts: list[Part] = field(default_factory=list)

    def dumps(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def loads(cls, raw: bytes) -> "Session":
        data = json.loads(raw)
        return cls(title=data["title"], parts=[Part(**p) for p in data["parts"]])


def load(r: redis.Redis, platform_id: str, openid: str) -> Session | None:
    raw = r.get(keys.chat_session(platform_id, openid))
    return Session.loads(raw) if raw else None


def save(r: redis.Redis, platform_id: str, openid: str, session: Session) -> None:
    r.set(keys.chat_session(platform_id, openid), session.dumps(), ex=SESSION_TTL)


def cancel(r: redis.Redis, platform_id: str, openid: str) -> bool:
    return bool(r.delete(keys.chat_session(platform_id, openid)))


def add(r: redis.Redis, platform_id: str, openid: str, session: Session, part: Part) -> Session:
    if len(session.parts) >= MAX_PARTS:
        raise Conflict(f"一篇稿件最多 {MAX_PARTS} 段内容,请「提交」或「取消」")
    session.parts.append(part)
    save(r, platform_id, openid, session)
    return session


def set_title(r: redis.Redis, platform_id: str, openid: str, session: Session, title: str):
    session.title = validate.text(title, "标题", max_len=lifecycle.LIMITS["title"])
    save(r, platform_id, openid, session)
    return session


def as_draft(session: Session) -> tuple[str, dict[str, str]]:
    """The kind and content of the draft these messages make."""
    texts = [p.text for p in session.parts if p.type == TEXT]
    images = [p for p in session.parts if p.type == IMAGE]
    if not session.parts:
        raise InvalidInput("稿件还是空的:请先发送文字、图片或链接")
    if not session.title and len(texts) == len(session.parts):
        return lifecycle.TEXT, {"text": "\n\n".join(texts)}
    caption = "\n".join(texts)
    if not session.title and len(images) == 1 and len(session.parts) - len(texts) == 1:
        if len(caption) <= lifecycle.LIMITS["caption"]:
            return lifecycle.IMAGE, {"image_url": images[0].url, "caption": caption}
    if not session.title:
        raise InvalidInput("这篇稿件将作为图文发布,请先发送「标题 …」设置标题")
    return lifecycle.ARTICLE, _article(session, texts, images)


def _article(session: Session, texts: list[str], images: list[Part]) -> dict[str, str]:
    first_text = texts[0] if texts else ""
    return {
        "title": session.title,
        "digest": first_text.replace("\n", " ")[:DIGEST_CHARS],
        "content_html": "\n".join(_html(part) for part in session.parts),
        "cover_image": images[0].url if images else "",
    }


def _html(part: Part) -> str:
    if part.type == IMAGE:
        return f'<p><img src="{html.escape(part.url)}" alt=""></p>'
    if part.type == LINK:
        title = html.escape(part.title or part.url)
        return f'<p><a href="{html.escape(part.url)}">{title}</a></p>'
    return "".join(f"<p>{html.escape(line)}</p>" for line in part.text.split("\n") if line)


def submit(r: redis.Redis, actor: audit.Actor, platform_id: str, session: Session):
    """Create the draft and send it to review; the session ends once the draft exists."""
    kind, content = as_draft(session)
    draft = lifecycle.create(r, actor, platform_id, kind, content)
    cancel(r, platform_id, actor.openid)
    return lifecycle.submit(r, actor, draft.id)


def outline(session: Session) -> list[str]:
    """One line per part, for ``预览``."""
    lines = [f"标题:{session.title}" if session.title else "标题:(未设置)"]
    for number, part in enumerate(session.parts, 1):
        shown = part.text or part.title or part.url
        lines.append(f"{number}. [{PART_NAMES[part.type]}] {shown}")
    return lines
