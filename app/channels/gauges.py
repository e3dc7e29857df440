"""What ``/metrics`` reads from Redis at each scrape: the state, where counters are events.

Each figure is a few cheap reads, never a scan of drafts: drafts by status are the sizes of
the listing indexes (``app.drafts.listing``), queue depths RQ's own counts, open alerts
the open cases (``app.core.alertstate``), the audit chain its head and its newest anchor.
"""

import logging
from datetime import datetime

import redis

from app.core import alertstate, anchors, audit, keys
from app.core.settings import Settings
from app.drafts import lifecycle, listing
from app.outbox import queues

log = logging.getLogger(__name__)
OPEN_ALERTS_READ = 1000  # open cases read per scrape; more than this is an incident anyway


def drafts_by_status(r: redis.Redis) -> dict[str, int]:
    with r.pipeline(transaction=False) as pipe:
        for status in lifecycle.STATUSES:
            pipe.zcard(keys.drafts_in(status, listing.ALL))
        return dict(zip(lifecycle.STATUSES, pipe.execute(), strict=True))


def queue_depths(r: redis.Redis) -> dict[tuple[str, str], int]:
    """(queue, state) -> jobs: queued, started, scheduled, failed."""
    return {
        (name, state): count
        for name, states in queues.depths(r).items()
        for state, count in states.items()
    }


def open_alerts(r: redis.Redis) -> dict[str, int]:
    found: dict[str, int] = {}
    for case in alertstate.open_cases(r, OPEN_ALERTS_READ):
        found[case.kind] = found.get(case.kind, 0) + 1
    return found


def audit_chain(r: redis.Redis, settings: Settings) -> dict[str, float]:
    """The chain's length (its head's sequence number) and its newest anchor's."""
    seq, _ = audit.head(r)
    result = {"length": float(seq)}
    try:
        anchor = anchors.newest(settings.audit_anchor_file)
    except anchors.ChainBroken as exc:
        log.warning("audit anchors unreadable: %s", exc.message)
        anchor = None
    if anchor is not None:
        result["anchor_seq"] = float(anchor.seq)
        result["anchor_time"] = datetime.fromisoformat(anchor.at).timestamp()
    return result
