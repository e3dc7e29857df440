"""Stream entries read back (alerts, publish events, the audit stream's routing).

Anyone with Redis access, or a bug, can XADD to a stream; an entry that is not UTF-8 or
lacks what its writer always puts in would make its reader raise on every attempt. Each
reader skips such an entry instead: one warning naming the stream and entry id (never
its content), one count in ``qianfa_unreadable_entries_total``, and on to the next.
"""

import logging

from app.core import metrics

log = logging.getLogger(__name__)

NOT_UTF8, MALFORMED = "not_utf8", "malformed"


def text(stream: str, entry_id, raw: dict[bytes, bytes]) -> dict[str, str] | None:
    """The entry's fields as text; ``None`` (skipped, logged, counted) unless UTF-8."""
    try:
        return {name.decode(): value.decode() for name, value in raw.items()}
    except UnicodeDecodeError:
        skipped(stream, entry_id, NOT_UTF8)
        return None


def skipped(stream: str, entry_id, reason: str) -> None:
    """Say once that an entry was skipped, and count it by stream and reason."""
    name = stream.rsplit(":", 1)[-1]
    entry = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
    log.warning("%s entry %s skipped: %s", name, entry, reason)
    metrics.count("qianfa_unreadable_entries_total", stream=name, reason=reason)
