"""Screening one piece of content: lexicon automaton plus pattern checks, mapped to the original.

Pure: no Redis, no Flask. Cost is linear in the length of the text: each step is one pass
(fold, compact, automaton, each expression), and only hits pay for position mapping.
"""

import re
from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from app.core.errors import InvalidInput
from app.screening import detectors, expressions, leaders, markup
from app.screening.categories import OFF
from app.screening.lexicons import Rules, load
from app.screening.normalize import Compact, fold
from app.screening.pictures import UNREADABLE
from app.screening.results import FIELDS_ZH, MASKED, Hit, Screening, collect, mask

MAX_CHARS = 10_000_000
MAX_HITS = 200
HTML_FIELDS = frozenset({"content_html"})
URL_FIELDS = frozenset({"image_url", "cover_image", "source_url"})
SURROGATE = re.compile(r"[\ud800-\udfff]")
SECRETS = "credentials"
# Posts are dated in China Standard Time (no daylight saving), for the rules' validity windows.
CHINA = timedelta(hours=8)


@dataclass
class Piece:
    """Text to screen: a field, or part of an article's HTML, with its way back to the source."""

    field: str
    part: str
    text: str
    source: str
    origin: markup.OffsetMap | None = None
    ends: list[int] | None = None

    def span(self, start: int, end: int) -> tuple[int, int]:
        return self.origin.span(start, end) if self.origin else (start, end)

    def paragraph(self, offset: int) -> int:
        """The paragraph of a source offset; the paragraph ends are found once, on demand."""
        if self.ends is None:
            self.ends = markup.paragraph_ends(self.source, is_html=self.field in HTML_FIELDS)
        return markup.paragraph_at(self.ends, offset)


def screen(
    fields: Mapping[str, str | bytes | None],
    *,
    rules: Rules | None = None,
    on: date | None = None,
    unreadable: Mapping[str, str] | None = None,
) -> Screening:
    """Screen named fields (a draft version's content); HTML in ``content_html`` is parsed.

    ``on`` is the post's day (default: today), for rules that apply from or until a date.
    ``unreadable`` names the pictures OCR could not read (field -> why): each is a hit of
    its own, so a reviewer is told and nothing passes unread.
    """
    rules = rules or load()
    on = on or post_day()
    notes: list[str] = []
    texts = {name: _as_text(name, value, notes) for name, value in fields.items()}
    total = sum(len(t) for t in texts.values())
    if total > MAX_CHARS:
        raise InvalidInput(f"内容过大:共 {total} 字,内容检查最多 {MAX_CHARS} 字")
    hits: list[Hit] = []
    for name, text in texts.items():
        for piece in _pieces(name, text):
            hits.extend(scan(piece, rules, on))
    hits.extend(_unreadable(unreadable or {}, rules))
    return collect(rules.version, hits, notes, MAX_HITS)


def screen_text(
    text: str | bytes, *, field: str = "text", rules: Rules | None = None, on: date | None = None
) -> Screening:
    return screen({field: text}, rules=rules, on=on)


def post_day(moment: datetime | None = None) -> date:
    """The day in China of ``moment`` (default: now)."""
    return ((moment or datetime.now(UTC)).astimezone(UTC) + CHINA).date()


def _unreadable(problems: Mapping[str, str], rules: Rules) -> list[Hit]:
    verdict = rules.verdict(UNREADABLE)
    if verdict == OFF:
        return []
    return [
        Hit(category=UNREADABLE, term=why, field=field, start=0, end=0, verdict=verdict)
        for field, why in problems.items()
    ]


def _as_text(name: str, value, notes: list[str]) -> str:
    label = FIELDS_ZH.get(name, name)
    if value is None:
        return ""
    if isinstance(value, bytes | bytearray):
        try:
            value = bytes(value).decode("utf-8")
        except UnicodeDecodeError as exc:
            notes.append(f"{label}从第 {exc.start} 字节起不是有效的 UTF-8,无法识别的字节未检查")
            value = bytes(value).decode("utf-8", errors="replace")
    if not isinstance(value, str):
        raise InvalidInput(f"{label}必须是文字")
    if SURROGATE.search(value):
        notes.append(f"{label}含有无效的字符编码,已按替换字符检查")
        value = SURROGATE.sub("\ufffd", value)
    return value


def _pieces(name: str, text: str) -> list[Piece]:
    if not text:
        return []
    if name in HTML_FIELDS:
        return [Piece(name, e.part, e.text, text, e.origin) for e in markup.extract(text)]
    return [Piece(name, "link" if name in URL_FIELDS else "text", text, text)]


def scan(piece: Piece, rules: Rules, on: date | None = None) -> list[Hit]:
    """Every hit in one piece, whitelisted ones removed, at its place in the field's source."""
    folded = fold(piece.text)
    matched = list(_matches(folded, rules))
    found = [(e.category, e.term, s, f, e.allow) for e, s, f in matched if e.rule is None]
    found += [
        (f.category, f.label, f.start, f.end, None)
        for f in _patterns(folded, rules)
        if rules.verdict(f.category) != OFF
    ]
    inside = _allowed([(c, s, e) for c, _, s, e, allow in found if allow])
    kept = [f for f in found if not f[4] and not inside(f[0], f[2], f[3])]
    hits = [
        _hit(piece, rules, category, term, start, end, pattern=allow is None)
        for category, term, start, end, allow in _outermost(_outside_secrets(kept))
    ]
    marks = [(e.rule, s, f) for e, s, f in matched if e.rule is not None]
    return hits + (_corrections(piece, folded, marks, rules, on or post_day()) if marks else [])


def _corrections(piece: Piece, folded: str, marks, rules: Rules, on: date) -> list[Hit]:
    """Expression rules and the leaders' table: hits that carry the correct form."""
    found = expressions.findings(marks, on) + leaders.check(piece.text, folded, marks, on)
    checked = [
        (f.category, f, f.start, f.end, None) for f in found if rules.verdict(f.category) != OFF
    ]
    return [
        _hit(piece, rules, f.category, f.term, f.start, f.end, pattern=False, correction=f)
        for _, f, _, _, _ in _outermost(checked)
    ]


def _outside_secrets(found: list[tuple]) -> list[tuple]:
    """Drop other hits that share characters with a secret, lest their excerpt repeat it.

    A random EncodingAESKey may hold ``wx`` and read as a WeChat ID; the secret is the finding.
    """
    secrets = [(start, end) for category, _, start, end, _ in found if category == SECRETS]
    return [
        f
        for f in found
        if f[0] == SECRETS or not any(start < f[3] and f[2] < end for start, end in secrets)
    ]


def _outermost(found: list[tuple]) -> list[tuple]:
    """Drop a hit inside a longer one of its category: 网络赌博 is one place, not two."""
    kept, reach = [], {}
    for item in sorted(found, key=lambda f: (f[0], f[2], -f[3])):
        category, _, _, end, _ = item
        if reach.get(category, -1) < end:
            kept.append(item)
            reach[category] = end
    return kept


def _allowed(spans: list[tuple[str, int, int]]):
    """A test whether a span lies inside an allowed phrase of its category, in log time."""
    starts: dict[str, list[int]] = {}
    reach: dict[str, list[int]] = {}
    for category, start, end in sorted(spans):
        starts.setdefault(category, []).append(start)
        ends = reach.setdefault(category, [])
        ends.append(max(end, ends[-1]) if ends else end)

    def inside(category: str, start: int, end: int) -> bool:
        index = bisect_right(starts.get(category, ()), start) - 1
        return index >= 0 and reach[category][index] >= end

    return inside


def lexicon_matches(folded: str, rules: Rules):
    """Lexicon hits in folded text as (category, term, start, end, allowed), positions mapped."""
    for entry, begin, finish in _matches(folded, rules):
        if entry.rule is None:
            yield entry.category, entry.term, begin, finish, entry.allow


def _matches(folded: str, rules: Rules):
    """Every automaton match in folded text as (entry, start, end): one pass for all files."""
    if rules.automaton is None:
        return
    compact = Compact(folded)
    if not compact.text:
        return
    for index, start, end in rules.automaton.find_matches_as_indexes(
        compact.text, overlapping=True
    ):
        begin, finish = compact.span(start, end)
        if _inside_a_word(folded, begin, finish):
            continue
        for entry in rules.entries[index]:
            yield entry, begin, finish


def _inside_a_word(text: str, start: int, end: int) -> bool:
    """A match whose Latin letters run on into a word: 加v in 参加Visual is no call to add v."""
    before = start > 0 and _latin(text[start]) and _latin(text[start - 1])
    return before or (end < len(text) and _latin(text[end - 1]) and _latin(text[end]))


def _latin(char: str) -> bool:
    return "a" <= char <= "z"


def _patterns(folded: str, rules: Rules):
    return detectors.find_all(folded, rules.allowed_domains)


def _hit(
    piece: Piece, rules: Rules, category, term, start, end, *, pattern: bool, correction=None
) -> Hit:
    begin, finish = piece.span(start, end)
    excerpt = piece.source[begin:finish]
    if category in MASKED:
        excerpt = "" if category == SECRETS else mask(excerpt)
    return Hit(
        category=category,
        term=term,
        field=piece.field,
        start=begin,
        end=finish,
        verdict=rules.verdict(category),
        excerpt=excerpt,
        part=piece.part,
        pattern=pattern,
        suggestion=correction.suggestion if correction else "",
        note=correction.note if correction else "",
        paragraph=piece.paragraph(begin),
    )
