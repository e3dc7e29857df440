"""What screening found: hits at their place in the original text, and the verdict they add up to.

A result is plain data that every channel renders: the chat states ``summary_zh()``, the
preview and ``查看`` highlight with ``segments()``, the API returns ``to_dict()``.
"""

from collections import Counter
from dataclasses import dataclass, field, replace

from app.screening import pictures
from app.screening.categories import (
    ART11,
    BLOCK,
    DEFAULT_FLAG,
    ESCALATE,
    PASS,
    STRENGTH,
    WARN,
    name_zh,
)

FIELDS_ZH = {
    "text": "正文",
    "caption": "图片说明",
    "image_url": "图片地址",
    "title": "标题",
    "author": "作者",
    "digest": "摘要",
    "content_html": "正文",
    "cover_image": "封面图片地址",
    "source_url": "原文链接",
}
PART_ZH = {"link": "的链接地址", "alt": "的图片说明"}
VERDICT_SUMMARY = {
    "block": "已拦截,不能送审",
    "escalate": "涉及第十一条,须经党委宣传部审核",
    "warn": "有需要审核人留意的内容",
}
# Fields read as paragraphs: a place in them is told as 第 N 段, the others by name only.
PARAGRAPH_FIELDS = ("text", "content_html", "caption", "digest")
# Personal data and secrets are shown masked: a result is read in chats and logs.
MASKED = ("personal_data", "credentials")
SUMMARY_TERMS = 3
EXCERPT = 40


@dataclass(frozen=True)
class Hit:
    """One finding; ``start``/``end`` index the original text of ``field`` (HTML: its source,
    for the console's highlighting); ``paragraph`` is where a reader finds it (0: unknown)."""

    category: str
    term: str
    field: str
    start: int
    end: int
    verdict: str
    excerpt: str = ""
    part: str = "text"
    pattern: bool = False
    suggestion: str = ""  # the correct form, for expression rules and leaders (错敏)
    note: str = ""
    paragraph: int = 0
    released: bool = False  # a block the propaganda department released (放行): now a warning

    @property
    def category_zh(self) -> str:
        return name_zh(self.category)

    @property
    def where_zh(self) -> str:
        """Where to look, in the words people use: 标题, 摘要, 正文第 3 段, 正文中的链接."""
        if self.field.startswith(pictures.PREFIX):
            place = pictures.place_zh(self.field)
            if self.category == pictures.UNREADABLE:
                return place
            return f"{place}中的文字第 {self.start + 1} 字"
        name = FIELDS_ZH.get(self.field, self.field)
        if self.field not in PARAGRAPH_FIELDS or not self.paragraph:
            return name
        place = f"{name}第 {self.paragraph} 段"
        return place + PART_ZH.get(self.part, "")

    @property
    def shown(self) -> str:
        """The hit as a reader may see it: the term, or a masked excerpt of personal data."""
        return self._shown() + ("(已放行)" if self.released else "")

    def _shown(self) -> str:
        if self.suggestion:
            note = f"({self.note})" if self.note else ""
            return f"「{self.excerpt or self.term}」→「{self.suggestion}」{note}"
        if not self.pattern:
            return f"「{self.term}」"
        if self.category == "credentials":
            return self.term
        return f"{self.term} {self.excerpt[:EXCERPT]}"

    def to_dict(self) -> dict:
        return {**self.__dict__, "category_zh": self.category_zh}

    @classmethod
    def from_dict(cls, raw: dict) -> "Hit":
        return cls(**{k: v for k, v in raw.items() if k in cls.__dataclass_fields__})


def mask(value: str) -> str:
    """Keep the first three and last two characters of a number, star the rest."""
    if len(value) <= 6:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 5) + value[-2:]


@dataclass(frozen=True)
class Screening:
    """The hits of one screening (strongest first, capped) and the full count per category."""

    lexicon_version: str
    hits: tuple[Hit, ...] = ()
    counts: dict[str, int] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    truncated: bool = False
    version: int = 0
    content_hash: str = ""
    screened_at: str = ""
    # Who released its blocking hits, why and when (``name``, ``reason``, ``at``), if anyone did.
    release: dict = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        """``block``, ``escalate``, ``warn`` or ``pass``: the strongest verdict of any hit."""
        return max((h.verdict for h in self.hits), key=STRENGTH.__getitem__, default=PASS)

    @property
    def flags(self) -> frozenset[str]:
        """The art. 11 flags that escalated hits add, as if the author had marked them."""
        escalated = {h.category for h in self.hits if h.verdict == ESCALATE}
        return frozenset(c if c in ART11 else DEFAULT_FLAG for c in escalated)

    def hits_with(self, verdict: str) -> list[Hit]:
        return [h for h in self.hits if h.verdict == verdict]

    def summary_zh(self) -> str:
        """One line in Chinese: the verdict, then each category with its first few words."""
        if not self.hits:
            return "内容检查未发现问题"
        by_category: dict[str, list[Hit]] = {}
        for hit in self.hits:
            by_category.setdefault(hit.category, []).append(hit)
        parts = []
        for category, hits in by_category.items():
            shown = list(dict.fromkeys(f"{h.shown}({h.where_zh})" for h in hits))
            more = self.counts.get(category, len(hits)) - SUMMARY_TERMS
            tail = f" 等 {self.counts.get(category, len(hits))} 处" if more > 0 else ""
            parts.append(f"{name_zh(category)}:{'、'.join(shown[:SUMMARY_TERMS])}{tail}")
        return f"内容检查{self._verdict_zh()}。" + ";".join(parts) + self._release_zh()

    def _release_zh(self) -> str:
        if not self.release:
            return ""
        return f"。拦截内容已由{self.release['name']}放行:{self.release['reason']}"

    def released(self, terms: set[tuple[str, str]], release: dict) -> "Screening":
        """This result with its blocking hits of ``terms`` (category, term) released: they stay
        shown, marked, as warnings; a blocking hit not among them still blocks."""
        hits = tuple(
            replace(h, verdict=WARN, released=True)
            if h.verdict == BLOCK and (h.category, h.term) in terms
            else h
            for h in self.hits
        )
        return replace(self, hits=hits, release=release)

    def _verdict_zh(self) -> str:
        """An escalation by 错敏 alone (a wrong political expression) is no art. 11 topic."""
        escalated = {h.category for h in self.hits_with(ESCALATE)}
        if self.verdict == ESCALATE and not escalated & set(ART11):
            return "须经党委宣传部审核"
        return VERDICT_SUMMARY[self.verdict]

    def audit_detail(self) -> dict:
        """What the audit trail keeps of a screening: never the text, only what and how many."""
        return {
            "lexicon_version": self.lexicon_version,
            "verdict": self.verdict,
            "counts": dict(sorted(self.counts.items())),
            "version": self.version,
        }

    def to_dict(self) -> dict:
        return {
            "lexicon_version": self.lexicon_version,
            "verdict": self.verdict,
            "hits": [h.to_dict() for h in self.hits],
            "counts": self.counts,
            "notes": list(self.notes),
            "truncated": self.truncated,
            "version": self.version,
            "content_hash": self.content_hash,
            "screened_at": self.screened_at,
            "release": self.release,
        }

    @classmethod
    def from_dict(cls, raw: dict) -> "Screening":
        return cls(
            lexicon_version=raw["lexicon_version"],
            hits=tuple(Hit.from_dict(h) for h in raw["hits"]),
            counts=dict(raw["counts"]),
            notes=tuple(raw["notes"]),
            truncated=raw["truncated"],
            version=raw["version"],
            content_hash=raw["content_hash"],
            screened_at=raw["screened_at"],
            release=raw.get("release") or {},
        )


def collect(version: str, hits: list[Hit], notes: list[str], limit: int) -> Screening:
    """Order hits strongest first, then by place; keep ``limit`` of them and count them all."""
    ordered = sorted(set(hits), key=lambda h: (-STRENGTH[h.verdict], h.field, h.start, h.end))
    counts = Counter(h.category for h in ordered)
    return Screening(
        lexicon_version=version,
        hits=tuple(ordered[:limit]),
        counts=dict(counts),
        notes=tuple(notes),
        truncated=len(ordered) > limit,
    )


def segments(text: str, hits, field: str | None = None) -> list[tuple[str, tuple[Hit, ...]]]:
    """Cut ``text`` into consecutive pieces, each with the hits covering it, for highlighting.

    With ``field``, only that field's hits count. Joining the pieces gives ``text`` back.
    """
    mine = [h for h in hits if field is None or h.field == field]
    mine = [h for h in mine if 0 <= h.start < h.end <= len(text)]
    cuts = sorted({0, len(text), *(h.start for h in mine), *(h.end for h in mine)})
    pieces = []
    for start, end in zip(cuts, cuts[1:], strict=False):
        covering = tuple(h for h in mine if h.start <= start and end <= h.end)
        if pieces and not covering and not pieces[-1][1]:
            pieces[-1] = (pieces[-1][0] + text[start:end], ())
        else:
            pieces.append((text[start:end], covering))
    return pieces


def runs(text: str, hits, field: str | None = None) -> list[tuple[str, bool]]:
    """``text`` cut into alternating plain and found runs, adjacent hits joined into one."""
    merged: list[tuple[str, bool]] = []
    for piece, covering in segments(text, hits, field):
        found = bool(covering)
        if merged and merged[-1][1] == found:
            merged[-1] = (merged[-1][0] + piece, found)
        else:
            merged.append((piece, found))
    return merged
