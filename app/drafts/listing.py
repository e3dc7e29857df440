"""Draft listings read from indexes kept in the same transaction as each change.

A listing (``待审``, ``我的稿件``, the console's lists and dashboard, the API's list) walks
a sorted set newest first and loads a page of drafts, so its cost grows with the page and
not with the number of drafts. Each index exists per platform and across all platforms
(``ALL``): drafts per status, per author, per sign-off still missing, and the drafts in
review by when they entered it; per platform, its published drafts by when they were
published (the inventory's last publication, the daily report's count). ``lifecycle.write_in``
keeps them; ``review.reindex`` recreates them from the drafts themselves (after an upgrade).
"""

import heapq
import time
from collections.abc import Callable, Collection, Iterable, Iterator
from datetime import datetime

import redis

from app.core import keys
from app.core.store import Tx

ALL = "*"
CHUNK = 50


def score(draft) -> int:
    """Newest first: ids are numbered in the order drafts were created (``Tx.next_id``)."""
    return int(draft.id[1:])


def index_in(
    tx: Tx,
    draft,
    *,
    statuses: Iterable[str],
    signoffs: Iterable[str],
    awaiting: Collection[str] | None,
    in_review: bool,
    published: bool = False,
) -> None:
    """Queue the index updates for a draft's new state; one ZADD or ZREM per index.

    ``awaiting`` ``None`` leaves the sign-off indexes of a draft still in review as they are.
    """
    write, member = tx.write, {draft.id: score(draft)}
    at = {draft.id: datetime.fromisoformat(draft.updated_at).timestamp()}
    _put(write, keys.drafts_published_at(draft.platform), at, published)
    if not in_review:
        awaiting = ()
    source = draft.contributed_from
    for signoff in signoffs if source and awaiting is not None else ():
        # Art. 14: a contribution waits among its unit's platform's drafts too, where that
        # unit's responsible person looks.
        _put(write, keys.drafts_awaiting(signoff, source), member, signoff in awaiting)
    for scope in (draft.platform, ALL):
        for status in statuses:
            _put(write, keys.drafts_in(status, scope), member, status == draft.status)
        for signoff in signoffs if awaiting is not None else ():
            _put(write, keys.drafts_awaiting(signoff, scope), member, signoff in awaiting)
        since = keys.drafts_waiting_since(scope)
        if in_review:
            write.zadd(since, {draft.id: time.time()}, nx=True)
        else:
            write.zrem(since, draft.id)
        write.zadd(keys.drafts_by(draft.author, scope), member)


def _put(write, key: str, member: dict[str, float], present: bool) -> None:
    if present:
        write.zadd(key, member)
    else:
        write.zrem(key, *member)


def newest_ids(r: redis.Redis, index_keys: list[str], chunk: int = CHUNK) -> Iterator[str]:
    """Ids newest first over several indexes, merged, each read a chunk at a time."""
    if len(index_keys) == 1:  # nothing to merge, so no scores to read and parse
        yield from (did.decode() for did in _walk(r, index_keys[0], chunk, scores=False))
        return
    walks = [_walk(r, key, chunk, scores=True) for key in index_keys]
    seen = set()
    for did, _ in heapq.merge(*walks, key=lambda pair: -pair[1]):
        if did not in seen:
            seen.add(did)
            yield did.decode()


def _walk(r: redis.Redis, key: str, chunk: int, *, scores: bool) -> Iterator:
    start = 0
    while True:
        got = r.zrevrange(key, start, start + chunk - 1, withscores=scores)
        yield from got
        if len(got) < chunk:
            return
        start += chunk


def take(
    ids: Iterator[str],
    limit: int,
    load: Callable[[list[str]], list],
    keep: Callable[[object], bool] = lambda _: True,
) -> list:
    """Load drafts a page at a time until ``limit`` of them pass ``keep``."""
    found: list = []
    while len(found) < limit:
        batch = [did for _, did in zip(range(limit), ids, strict=False)]
        if not batch:
            break
        found += [draft for draft in load(batch) if keep(draft)]
    return found[:limit]


def oldest_waiting(r: redis.Redis, scopes: list[str], before: float, limit: int) -> list[str]:
    """Ids of drafts that entered review before ``before``, oldest first in each scope (up
    to ``limit`` each), in one round trip."""
    with r.pipeline(transaction=False) as pipe:
        for scope in scopes:
            pipe.zrangebyscore(keys.drafts_waiting_since(scope), "-inf", before, 0, limit)
        return [did.decode() for found in pipe.execute() for did in found]


def last_published(r: redis.Redis, platform_ids: list[str]) -> list[float | None]:
    """When each platform's newest published draft was published (epoch seconds), in one
    round trip."""
    with r.pipeline(transaction=False) as pipe:
        for pid in platform_ids:
            pipe.zrevrange(keys.drafts_published_at(pid), 0, 0, withscores=True)
        return [found[0][1] if found else None for found in pipe.execute()]


def published_between(r: redis.Redis, platform_ids: list[str], start: float, end: float):
    """Drafts published on each platform in ``[start, end)`` (epoch seconds), in one round
    trip."""
    with r.pipeline(transaction=False) as pipe:
        for pid in platform_ids:
            pipe.zcount(keys.drafts_published_at(pid), start, f"({end}")
        return pipe.execute()


def count(r: redis.Redis, index_keys: list[str]) -> int:
    """Members over several indexes (a draft in two of them counts twice)."""
    with r.pipeline(transaction=False) as pipe:
        for key in index_keys:
            pipe.zcard(key)
        return sum(pipe.execute())
