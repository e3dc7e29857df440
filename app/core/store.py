"""Atomic read-check-write on Redis, shared by every domain module.

A change is a function ``fn(tx)`` that reads through ``tx.read`` (keys it reads are
WATCHed), checks its rules, then queues writes on ``tx.write`` and audit records with
``audit.append(tx, ...)``. ``atomically`` runs it under WATCH/MULTI/EXEC and re-runs
it when another client changed a watched key first, so a change and its audit record
land together or not at all.

Every transaction WATCHes the audit chain's head, and every change appends to the chain,
so changes are serialized: two of them never commit on the same state. The explicit
watch lists still name what each change reads, so the code says what it depends on.
"""

import random
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import TypeVar

import redis

from app.core import keys, replicas
from app.core.errors import Conflict

MAX_ATTEMPTS = 200
T = TypeVar("T")


class Tx:
    """One attempt of an atomic change: a WATCHed read phase, then queued writes."""

    def __init__(self, pipe: redis.client.Pipeline):
        """Read the audit head, which the caller has WATCHed (``atomically``)."""
        self.pipe = pipe
        head = pipe.hgetall(keys.audit_head())
        self.audit_seq = int(head.get(b"seq", 0))
        self.audit_hash = head.get(b"hash", b"").decode()
        self.audit_entry: int | None = None  # where EXEC answers with the last record's id
        self.sequences: dict[str, int] = {}

    @property
    def read(self) -> redis.client.Pipeline:
        if self.pipe.explicit_transaction:
            raise RuntimeError("read after the first write of a transaction")
        return self.pipe

    def watch(self, *names: str) -> None:
        self.read.watch(*names)

    def next_id(self, kind: str, prefix: str) -> str:
        """Allocate a short, typeable id such as ``D42``; a refused change uses none."""
        key = keys.sequence(kind)
        self.watch(key)
        number = self.sequences.get(key) or int(self.read.get(key) or 0)
        self.sequences[key] = number + 1
        return f"{prefix}{number + 1}"

    @property
    def write(self) -> redis.client.Pipeline:
        if not self.pipe.explicit_transaction:
            self.pipe.multi()
        return self.pipe


def atomically(r: redis.Redis, watch: list[str], fn: Callable[[Tx], T], *, confirm="") -> T:
    """Run ``fn`` as one atomic change, retrying when a watched key changed under it.

    ``confirm`` names (in Chinese) a change that must reach the configured replicas before
    it counts as done: a sign-off, a publication step (``replicas.confirm``).
    """
    for attempt in range(MAX_ATTEMPTS):
        with r.pipeline(transaction=True) as pipe:
            try:
                pipe.watch(*watch, keys.audit_head())  # one WATCH: a round trip less
                tx = Tx(pipe)
                result = fn(tx)
                for key, number in tx.sequences.items():
                    tx.write.set(key, number)
                if pipe.explicit_transaction:
                    replies = pipe.execute()
                    if confirm:
                        entry = None if tx.audit_entry is None else replies[tx.audit_entry]
                        replicas.confirm(r, confirm, entry, tx.audit_hash)
                return result
            except redis.WatchError:
                time.sleep(random.uniform(0, 0.002 * min(attempt + 1, 10)))
    raise Conflict("操作冲突过多,请稍后重试", code="busy")


def decode(raw: dict[bytes, bytes]) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in raw.items()}


def hashes(r: redis.Redis, key_of: Callable[[str], str], ids) -> dict[str, dict[str, str]]:
    """Hashes by id in one round trip, decoded; ids with nothing stored are left out."""
    ids = sorted(set(ids))
    with r.pipeline(transaction=False) as pipe:
        for one in ids:
            pipe.hgetall(key_of(one))
        found = pipe.execute()
    return {one: decode(raw) for one, raw in zip(ids, found, strict=True) if raw}


Queued = Callable[[Iterator], object]


def one_trip(r: redis.Redis, *reads: Callable[[redis.client.Pipeline], Queued]) -> list:
    """Reads of several modules in one round trip instead of one each (a list's page).

    Each read queues its commands on the pipeline and returns how to build its result from
    the replies, taking its own from the shared iterator in the order it queued them.
    """
    with r.pipeline(transaction=False) as pipe:
        results = [read(pipe) for read in reads]
        replies = iter(pipe.execute())
    return [result(replies) for result in results]


def decode_set(raw) -> set[str]:
    return {v.decode() for v in raw}


def now() -> datetime:
    return datetime.now(UTC)


def timestamp(moment: datetime | None = None) -> str:
    """ISO 8601 in UTC with seconds, as every record stores time."""
    return (moment or now()).isoformat(timespec="seconds")
