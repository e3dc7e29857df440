"""Text normalisation that defeats simple evasion, with a way back to the original positions.

``fold`` keeps the length (one character in, one out): case, full-width and other
compatibility forms, traditional to simplified (OpenCC's character table). ``compact``
then drops everything that is neither a letter nor a digit: spaces, punctuation,
symbols and zero-width characters inserted between the characters of a word. Both are
a few C-level passes over the text, so screening stays linear and fast.
"""

import functools
import re
import unicodedata
from bisect import bisect_right
from itertools import accumulate

import opencc

# Neither a letter nor a digit (str.isalnum), or an underscore: never part of a term.
SKIP = re.compile(r"([\W_]+)")
CJK_RANGES = ((0x3400, 0x4DC0), (0x4E00, 0xA000), (0xF900, 0xFB00))


@functools.cache
def fold_table() -> dict[int, str]:
    """One-character replacements: compatibility forms (NFKC) and traditional characters."""
    table = {}
    for code in range(0x80, 0x10000):
        char = chr(code)
        folded = unicodedata.normalize("NFKC", char).lower()
        if len(folded) == 1 and folded != char.lower():
            table[code] = folded
    chars = [chr(c) for start, end in CJK_RANGES for c in range(start, end)]
    # One call for all: OpenCC never forms a phrase across a line break.
    simplified = opencc.OpenCC("t2s").convert("\n".join(chars)).split("\n")
    for char, simple in zip(chars, simplified, strict=True):
        if len(simple) == 1 and simple != char:
            table[ord(char)] = table.get(ord(simple), simple)
    return table


@functools.cache
def _foldable() -> re.Pattern:
    return re.compile(_char_class(sorted(fold_table())))


def _char_class(codes: list[int]) -> str:
    """A regex class of the code points, as ranges so that it compiles quickly."""
    parts, start = [], None
    for i, code in enumerate(codes):
        if start is None:
            start = code
        if i + 1 == len(codes) or codes[i + 1] != code + 1:
            parts.append(
                re.escape(chr(start)) + ("-" + re.escape(chr(code)) if code > start else "")
            )
            start = None
    return "[" + "".join(parts) + "]"


def fold(text: str) -> str:
    """Lower case, half-width, simplified; the result has exactly the length of ``text``."""
    folded = text.lower()
    if len(folded) != len(text):  # a few characters lower to two (İ); keep those as they are
        folded = "".join(c.lower() if len(c.lower()) == 1 else c for c in text)
    if _foldable().search(folded):
        folded = folded.translate(fold_table())
    return folded


class Compact:
    """``text`` without separators, mapping its positions back to the folded text."""

    def __init__(self, folded: str):
        self._parts = SKIP.split(folded)
        self.text = "".join(self._parts[::2])
        self._starts: tuple[list[int], list[int]] | None = None

    def _index(self) -> tuple[list[int], list[int]]:
        if self._starts is None:
            lengths = list(map(len, self._parts))
            original = [0, *accumulate(lengths)][::2]
            compact = [0, *accumulate(lengths[::2])]
            self._starts = (compact, original)
        return self._starts

    def position(self, index: int) -> int:
        compact, original = self._index()
        piece = bisect_right(compact, index) - 1
        return original[piece] + index - compact[piece]

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The span in the folded (and so the original) text of ``text[start:end]``."""
        return self.position(start), self.position(end - 1) + 1


def normalize_term(term: str) -> str:
    """A lexicon term as the automaton sees it: folded and compacted like the text."""
    return Compact(fold(term)).text
