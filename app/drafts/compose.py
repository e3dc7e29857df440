"""Composing a draft in chat (投稿): collect an administrator's messages, then make one draft.

After ``投稿`` the texts, pictures and links an administrator sends are kept in a short-lived
session; ``提交`` turns them into a draft of the simplest kind that holds them: text only is
a text post, one picture with at most a short caption is an image post, anything else (or a
title) is an article. An article's cover is its first picture unless ``封面`` chose another,
so one without any picture is refused at ``提交`` with the way to add one, not at publishing.

``修改 D42`` (``reopen``) loads a draft's current version back into a session; ``提交`` then
saves the next version (which voids earlier sign-offs) and sends it to review again.
"""

import html
import json
from dataclasses import asdict, dataclass, field
from html.parser import HTMLParser

import redis

from app.core import audit, keys, validate
from app.core.errors import Conflict, Forbidden, InvalidInput
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
    """``cover`` is the number of the part chosen as cover (0: the first picture);
    ``draft`` the draft being revised ('' for a new one); ``target`` the tier-1 platform a
    unit's contribution goes to ('' for the chat's own platform, art. 14)."""

    title: str = ""
    parts: list[Part] = field(default_factory=list)
    cover: int = 0
    draft: str = ""
    target: str = ""

    def dumps(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def loads(cls, raw: bytes) -> "Session":
        data = json.loads(raw)
        parts = [Part(**p) for p in data["parts"]]
        draft, target = data.get("draft", ""), data.get("target", "")
        return cls(data["title"], parts, data.get("cover", 0), draft, target)

    def cover_part(self) -> int:
        """The number of the cover picture, 0 when there is no picture."""
        if self.cover:
            return self.cover
        return next((n for n, p in enumerate(self.parts, 1) if p.type == IMAGE), 0)


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


def set_cover(r: redis.Redis, platform_id: str, openid: str, session: Session, raw: str):
    """Choose part number ``raw`` (a picture, as ``预览`` numbers them) as the cover."""
    number = validate.normalize(raw or "").strip()
    pictures = [n for n, p in enumerate(session.parts, 1) if p.type == IMAGE]
    if not pictures:
        raise InvalidInput("稿件里还没有图片:请先发送一张图片,第一张图片即为封面")
    if not number.isdigit() or int(number) not in pictures:
        shown = "、".join(str(n) for n in pictures)
        raise InvalidInput(f"请写明作封面的图片是第几段(「预览」可见),可选:{shown}")
    session.cover = int(number)
    save(r, platform_id, openid, session)
    return session


def drop(r: redis.Redis, platform_id: str, openid: str, session: Session, raw: str) -> Part:
    """Remove part number ``raw``, so a revision can replace what it no longer wants."""
    number = validate.normalize(raw or "").strip()
    if not session.parts:
        raise InvalidInput("稿件还是空的,没有可删除的内容")
    if not number.isdigit() or not 1 <= int(number) <= len(session.parts):
        raise InvalidInput(f"请写明要删除第几段(「预览」可见),应为 1–{len(session.parts)}")
    gone = session.parts.pop(int(number) - 1)
    if session.cover == int(number):
        session.cover = 0
    elif session.cover > int(number):
        session.cover -= 1
    save(r, platform_id, openid, session)
    return gone


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
    if not images:
        raise InvalidInput(COVER_NEEDED, code="cover_missing", field="cover_image")
    first_text = texts[0] if texts else ""
    return {
        "title": session.title,
        "digest": first_text.replace("\n", " ")[:DIGEST_CHARS],
        "content_html": "\n".join(_html(part) for part in session.parts),
        "cover_image": session.parts[session.cover_part() - 1].url,
    }


COVER_NEEDED = (
    "图文稿件须有封面图片:请发送一张图片(第一张图片即为封面,「封面 N」可改选第 N 段的图片),"
    "再「提交」"
)


def _html(part: Part) -> str:
    if part.type == IMAGE:
        return f'<p><img src="{html.escape(part.url)}" alt=""></p>'
    if part.type == LINK:
        title = html.escape(part.title or part.url)
        return f'<p><a href="{html.escape(part.url)}">{title}</a></p>'
    return "".join(f"<p>{html.escape(line)}</p>" for line in part.text.split("\n") if line)


def submit(r: redis.Redis, actor: audit.Actor, platform_id: str, session: Session):
    """Create the draft (or its next version) and send it to review; the session ends then."""
    kind, content = as_draft(session)
    if session.draft:
        return _resubmit(r, actor, platform_id, session.draft, kind, content)
    if session.target:  # a contribution from this platform's unit (art. 14)
        draft = lifecycle.create(
            r, actor, session.target, kind, content, contributed_from=platform_id
        )
    else:
        draft = lifecycle.create(r, actor, platform_id, kind, content)
    cancel(r, platform_id, actor.openid)
    return lifecycle.submit(r, actor, draft.id)


def _resubmit(r, actor: audit.Actor, platform_id: str, did: str, kind: str, content: dict):
    """Save the revision as the draft's next version; one back in 草稿 is submitted again."""
    current = lifecycle.get(r, did)
    if kind != current.kind:
        was, now = lifecycle.KINDS[current.kind], lifecycle.KINDS[kind]
        raise InvalidInput(
            f"修改后的内容是{now}稿件,原稿件 {did} 是{was}稿件:请按原类型修改,"
            f"或「取消」后撤回原稿、重新投稿"
        )
    draft = lifecycle.edit(r, actor, did, content)
    cancel(r, platform_id, actor.openid)
    if draft.status == lifecycle.DRAFT:
        return lifecycle.submit(r, actor, draft.id)
    return draft


# Statuses from which ``修改`` reopens a draft: ``edit`` leads back to review from each.
REOPENABLE = (lifecycle.REJECTED, lifecycle.IN_REVIEW, lifecycle.BLOCKED, lifecycle.FAILED)


def reopen(r: redis.Redis, actor: audit.Actor, platform_id: str, did: str) -> Session:
    """Load the author's draft into a session, to revise and ``提交`` as its next version."""
    draft = lifecycle.get(r, did)
    if draft.author != actor.person:
        raise Forbidden(f"只有稿件 {draft.id} 的作者可以修改它", code="not_author")
    if draft.status not in REOPENABLE:
        shown = lifecycle.STATUSES[draft.status]
        raise Conflict(f"稿件 {draft.id} 当前为「{shown}」,不能修改", code="transition")
    session = from_version(lifecycle.version(r, draft.id))
    session.draft = draft.id
    save(r, platform_id, actor.openid, session)
    return session


def from_version(version: lifecycle.Version) -> Session:
    """The session that ``提交`` turns back into this content."""
    content = version.content
    if version.kind == lifecycle.TEXT:
        return Session(parts=[Part(TEXT, text=content["text"])])
    if version.kind == lifecycle.IMAGE:
        caption = [Part(TEXT, text=content["caption"])] if content["caption"] else []
        return Session(parts=[Part(IMAGE, url=content["image_url"]), *caption])
    session = Session(title=content["title"], parts=_parts(content["content_html"]))
    covers = [n for n, p in enumerate(session.parts, 1) if p.type == IMAGE]
    chosen = [n for n in covers if session.parts[n - 1].url == content["cover_image"]]
    rebuilt = "\n".join(_html(part) for part in session.parts)
    extras = content["author"] or content["source_url"]
    if rebuilt != content["content_html"] or not chosen or extras:
        raise Conflict(
            "这篇图文不是在聊天中写成的,无法在聊天中还原排版,请通过接口或 CMS 修改",
            code="not_chat_made",
        )
    session.cover = 0 if chosen[0] == covers[0] else chosen[0]
    return session


class _Parts(HTMLParser):
    """The texts, pictures and links of an article this module composed (``_html``):
    a newline between top-level paragraphs separates two parts."""

    def __init__(self):
        super().__init__()
        self.parts: list[Part] = []
        self.lines: list[str] = []
        self.link: dict[str, str] | None = None

    def handle_starttag(self, tag, attrs):
        found = dict(attrs)
        if tag == "img":
            self.flush()
            self.parts.append(Part(IMAGE, url=found.get("src") or ""))
        elif tag == "a":
            self.flush()
            self.link = {"url": found.get("href") or "", "text": ""}

    def handle_endtag(self, tag):
        if tag == "a" and self.link is not None:
            title = "" if self.link["text"] == self.link["url"] else self.link["text"]
            self.parts.append(Part(LINK, url=self.link["url"], title=title))
            self.link = None

    def handle_data(self, data):
        if self.link is not None:
            self.link["text"] += data
        elif data == "\n":
            self.flush()
        else:
            self.lines.append(data)

    def flush(self):
        if self.lines:
            self.parts.append(Part(TEXT, text="\n".join(self.lines)))
            self.lines = []


def _parts(body: str) -> list[Part]:
    parser = _Parts()
    parser.feed(body)
    parser.close()
    parser.flush()
    return parser.parts


def outline(session: Session) -> list[str]:
    """One line per part, for ``预览``; the cover picture is marked."""
    head = f"修改稿件 {session.draft}," if session.draft else ""
    lines = [head + (f"标题:{session.title}" if session.title else "标题:(未设置)")]
    cover = session.cover_part()
    for number, part in enumerate(session.parts, 1):
        shown = part.text or part.title or part.url
        name = PART_NAMES[part.type] + ("·封面" if number == cover else "")
        lines.append(f"{number}. [{name}] {shown}")
    return lines
