"""What a reader of an article sees: text, link targets and image alt text out of its HTML.

The parser is a handful of linear regular expressions rather than a DOM, so scripts,
broken tags and megabytes of markup cost one pass and never raise. Every extracted
character keeps the offset it came from, so a hit is reported at its place in the
HTML source the author wrote.
"""

import html
import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass

TOKEN = re.compile(
    r"<!--.*?(?:-->|\Z)"
    r"|<(script|style|template|noscript|iframe)\b[^>]*>.*?(?:</\1\s*>|\Z)"
    r"|<[a-zA-Z/!?][^>]*(?:>|\Z)",
    re.S | re.I,
)
TAG_NAME = re.compile(r"</?\s*([a-zA-Z][a-zA-Z0-9]*)")
ATTRIBUTE = re.compile(
    r"""([a-zA-Z_:][-a-zA-Z0-9_:.]*)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))"""
)
ENTITY = re.compile(r"&(?:#[0-9]{1,8};?|#[xX][0-9a-fA-F]{1,6};?|[A-Za-z][A-Za-z0-9]{1,31};?)")
LINK_ATTRIBUTES = {"href": "link", "src": "link", "data-src": "link", "alt": "alt", "title": "alt"}
# Tags that separate words: a line break keeps "2026</td><td>13800138000" two numbers.
BLOCK_TAGS = frozenset(
    "address article aside blockquote br dd div dl dt figcaption figure footer h1 h2 h3 h4 h5 "
    "h6 header hr li main nav ol p pre section table tbody td tfoot th thead tr ul".split()
)


class OffsetMap:
    """Maps positions in extracted text back to the source; built from runs as they are cut."""

    def __init__(self):
        self._starts: list[int] = []
        self._runs: list[tuple[int, int, int, bool]] = []  # (start, source, source_len, linear)
        self.length = 0

    def add(self, text_len: int, source: int, source_len: int, linear: bool) -> None:
        if text_len:
            self._starts.append(self.length)
            self._runs.append((self.length, source, source_len, linear))
            self.length += text_len

    def span(self, start: int, end: int) -> tuple[int, int]:
        first = self._runs[bisect_right(self._starts, start) - 1]
        last = self._runs[bisect_right(self._starts, end - 1) - 1]
        begin = first[1] + (start - first[0] if first[3] else 0)
        finish = last[1] + (end - last[0] if last[3] else last[2])
        return begin, finish


@dataclass
class Extract:
    part: str
    text: str
    origin: OffsetMap


def decoded(raw: str, offset: int, out: list[str], origin: OffsetMap) -> None:
    """Append ``raw`` (at ``offset`` in the source) with its character references decoded."""
    at = 0
    for match in ENTITY.finditer(raw):
        value = html.unescape(match.group())
        if value == match.group():
            continue
        out.append(raw[at : match.start()])
        origin.add(match.start() - at, offset + at, match.start() - at, True)
        out.append(value)
        origin.add(len(value), offset + match.start(), len(match.group()), False)
        at = match.end()
    out.append(raw[at:])
    origin.add(len(raw) - at, offset + at, len(raw) - at, True)


def extract(source: str) -> list[Extract]:
    """The visible text (one piece) and each link target, alt and title (one piece each)."""
    text: list[str] = []
    origin = OffsetMap()
    attributes: list[Extract] = []
    at = 0
    for token in TOKEN.finditer(source):
        decoded(source[at : token.start()], at, text, origin)
        at = token.end()
        tag = token.group()
        name = TAG_NAME.match(tag)
        if token.group(1) or not name:
            continue
        if name.group(1).lower() in BLOCK_TAGS:
            text.append("\n")
            origin.add(1, token.start(), len(tag), False)
        attributes.extend(_attributes(tag, token.start()))
    decoded(source[at:], at, text, origin)
    return [Extract("text", "".join(text), origin), *attributes]


def _attributes(tag: str, offset: int) -> list[Extract]:
    found = []
    for attr in ATTRIBUTE.finditer(tag):
        part = LINK_ATTRIBUTES.get(attr.group(1).lower())
        index = next((i for i in (2, 3, 4) if attr.group(i) is not None), 0)
        if part and index and attr.group(index):
            out: list[str] = []
            origin = OffsetMap()
            decoded(attr.group(index), offset + attr.start(index), out, origin)
            found.append(Extract(part, "".join(out), origin))
    return found


PARAGRAPH_END = re.compile(r"</\s*(?:p|div|h[1-6]|li|blockquote|section|pre|tr)\s*>|<br\b", re.I)


def paragraph_ends(source: str, *, is_html: bool) -> list[int]:
    """Where paragraphs (段) end, as a reader counts them: each non-empty line of plain
    text, each closed block (or line break) of HTML. One pass; ``paragraph_at`` bisects."""
    if is_html:
        return [match.start() for match in PARAGRAPH_END.finditer(source)]
    ends, start = [], 0
    while (newline := source.find("\n", start)) != -1:
        if source[start:newline].strip():
            ends.append(newline)
        start = newline + 1
    return ends


def paragraph_at(ends: list[int], offset: int) -> int:
    return 1 + bisect_left(ends, offset)
