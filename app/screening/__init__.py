"""Content screening (内容检查) by the measures' categories (art. 9-11, 16).

Callers use:

- ``screen(fields, rules=None) -> Screening`` and ``screen_text(text, field="text")``: pure,
  for any text or a version's content fields (``content_html`` is parsed as HTML);
- ``result_for(r, draft_id, version=None) -> Screening | None``: the stored result of a
  draft version, for reviewers, the chat and the API;
- ``stored(r, draft_id, version)``: a version's stored result (``app.drafts.rescreen``
  screens again when the lexicons changed, for the publish job);
- ``segments(text, hits, field=None)``: the text cut into pieces with the hits covering each,
  for highlighting; ``Screening.summary_zh()``: one line in Chinese;
- ``rules()``: the current lexicons and policy (``Rules.version``, ``Rules.problems``).

``drafts.submit`` and ``drafts.edit`` screen every version that enters review; a ``block``
raises ``app.core.errors.ContentBlocked`` after moving the draft to ``blocked``.
"""

from app.screening.categories import (
    BLOCK,
    CATEGORIES,
    CORRECTIONS,
    ESCALATE,
    OFF,
    PASS,
    VERDICTS,
    WARN,
    Category,
)
from app.screening.engine import MAX_CHARS, MAX_HITS, screen, screen_text
from app.screening.lexicons import Rules
from app.screening.lexicons import load as rules
from app.screening.records import (
    SYSTEM,
    blocked_message,
    flags_for,
    queue_flags,
    record_in,
    result_for,
    screen_version,
    stored,
)
from app.screening.results import Hit, Screening, runs, segments

__all__ = [
    "BLOCK",
    "CATEGORIES",
    "CORRECTIONS",
    "ESCALATE",
    "MAX_CHARS",
    "MAX_HITS",
    "OFF",
    "PASS",
    "SYSTEM",
    "VERDICTS",
    "WARN",
    "Category",
    "Hit",
    "Rules",
    "Screening",
    "blocked_message",
    "flags_for",
    "queue_flags",
    "stored",
    "record_in",
    "result_for",
    "rules",
    "screen",
    "screen_text",
    "screen_version",
    "runs",
    "segments",
]
