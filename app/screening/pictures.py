"""The pictures of a draft version, and what OCR read in each, stored beside its screening.

Art. 10 forbids prohibited content in "文字、图片、音像视频", so the text inside every
picture (the cover, an image post, each picture in an article) is screened like a field.
OCR is slow, so it runs in the pictures worker (``app.drafts.picture_text``, with the
engine in ``app.screening.ocr``); here are only the
places (each picture named as a reader finds it: 封面图片, 正文第 2 张图片), the
per-version record of what was read, and whether the checks are still running, which
review asks before anyone may approve.
"""

import html
import json
import re
from dataclasses import asdict, dataclass

from app.core import keys

PREFIX = "picture:"
UNREADABLE = "unreadable_picture"
IMG_SRC = re.compile(r"""<img\b[^>]*?\bsrc\s*=\s*(["'])(.*?)\1""", re.IGNORECASE | re.DOTALL)
SOURCES = (("upload:",), ("http://", "https://"))
PLACES_ZH = {"cover_image": "封面图片", "image_url": "图片"}


@dataclass(frozen=True)
class Picture:
    """One picture of a version: its screening field (``picture:…``) and where it comes from."""

    field: str
    source: str

    @property
    def place_zh(self) -> str:
        return place_zh(self.field)


@dataclass(frozen=True)
class Reading:
    """What OCR made of one picture: its text, or why there is none (``problem``)."""

    field: str
    sha256: str
    text: str = ""
    problem: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def place_zh(field: str) -> str:
    """Where a picture is, for the author and the reviewer."""
    _, source, *index = field.split(":")
    if source == "content_html" and index:
        return f"正文第 {index[0]} 张图片"
    return PLACES_ZH.get(source, "图片")


def places(content: dict[str, str]) -> list[Picture]:
    """Every picture of a version's content that can be fetched, each named once, in order."""
    found = [
        Picture(f"{PREFIX}{name}", content[name].strip())
        for name in ("cover_image", "image_url")
        if _readable(content.get(name))
    ]
    seen: list[str] = []
    for match in IMG_SRC.finditer(content.get("content_html") or ""):
        src = html.unescape(match.group(2)).strip()
        if _readable(src) and src not in seen:
            seen.append(src)
    found += [Picture(f"{PREFIX}content_html:{n}", src) for n, src in enumerate(seen, 1)]
    return found


def _readable(source) -> bool:
    """An upload reference or an http(s) URL; data: and relative sources are never shown."""
    if not isinstance(source, str):
        return False
    lowered = source.strip().lower()
    return any(lowered.startswith(prefixes) for prefixes in SOURCES)


def store_in(tx, draft_id: str, version: int, content_hash: str, readings) -> None:
    """Keep what was read for this version; its presence ends the running checks."""
    record = {"content_hash": content_hash, "pictures": [r.to_dict() for r in readings]}
    tx.write.set(keys.draft_pictures(draft_id, version), json.dumps(record, ensure_ascii=False))


def stored(r, draft_id: str, version: int, content_hash: str) -> list[Reading] | None:
    """What was read in this version's pictures; ``None`` while the checks are running."""
    raw = r.get(keys.draft_pictures(draft_id, version))
    record = json.loads(raw) if raw else None
    if record is None or record["content_hash"] != content_hash:
        return None
    return [Reading(**reading) for reading in record["pictures"]]


def enabled() -> bool:
    from app.core.settings import get_settings

    return get_settings().picture_ocr


def pending(r, draft, content: dict[str, str]) -> bool:
    """Whether this version has pictures whose checks have not finished (OCR is on)."""
    if not enabled() or not places(content):
        return False
    return stored(r, draft.id, draft.version, draft.content_hash) is None


def fields(readings) -> tuple[dict[str, str], dict[str, str]]:
    """The text of each picture read, as screening fields; and why each other one was not."""
    texts = {r.field: r.text for r in readings if not r.problem}
    problems = {r.field: r.problem for r in readings if r.problem}
    return texts, problems
