"""The audit trail: one hash-chained record for every step, in an append-only Redis Stream.

Each record carries the hash of the one before it and its own sequence number, and the
head key holds the newest (seq, hash), so ``verify`` finds a record that was changed,
removed, inserted or reordered. Records are appended inside the same MULTI as the change
they describe (``append(tx, ...)``), so a change is never without its record. Secrets
never enter a record: callers put names in ``detail``, never values.
"""

import csv
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import redis

from app import keys
from app.store import Tx, atomically, decode, now, timestamp

FIELDS = (
    "seq",
    "at",
    "via",
    "person",
    "openid",
    "operator",
    "action",
    "platform",
    "draft",
    "version_hash",
    "decision",
    "reason",
    "detail",
    "prev",
    "hash",
)
BATCH = 1000


@dataclass(frozen=True)
class Actor:
    """Who did something: a person (with the openid they used) or an operator of a channel."""

    via: str
    person: str = ""
    openid: str = ""
    operator: str = ""

    @classmethod
    def cli(cls, operator: str) -> "Actor":
        return cls(via="cli", operator=operator)

    @classmethod
    def system(cls, operator: str) -> "Actor":
        return cls(via="system", operator=operator)


def record_hash(record: dict[str, str]) -> str:
    body = {k: v for k, v in record.items() if k != "hash"}
    canonical = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def append(
    tx: Tx,
    actor: Actor,
    action: str,
    *,
    platform: str = "",
    draft: str = "",
    version_hash: str = "",
    decision: str = "",
    reason: str = "",
    detail: dict | None = None,
) -> dict[str, str]:
    """Queue one record in the transaction ``tx``, chained to the record before it."""
    record = {
        "seq": str(tx.audit_seq + 1),
        "at": timestamp(),
        "via": actor.via,
        "person": actor.person,
        "openid": actor.openid,
        "operator": actor.operator,
        "action": action,
        "platform": platform,
        "draft": draft,
        "version_hash": version_hash,
        "decision": decision,
        "reason": reason,
        "detail": json.dumps(detail or {}, sort_keys=True, ensure_ascii=False),
        "prev": tx.audit_hash,
    }
    record["hash"] = record_hash(record)
    tx.write.xadd(keys.audit_stream(), record)
    tx.write.hset(keys.audit_head(), mapping={"seq": record["seq"], "hash": record["hash"]})
    tx.audit_seq, tx.audit_hash = int(record["seq"]), record["hash"]
    return record


def record(r: redis.Redis, actor: Actor, action: str, **fields) -> dict[str, str]:
    """Append one record on its own, for steps that change nothing else."""
    return atomically(r, [], lambda tx: append(tx, actor, action, **fields))


@dataclass(frozen=True)
class Verification:
    ok: bool
    checked: int
    bad_entry: str = ""
    problem: str = ""


def verify(r: redis.Redis) -> Verification:
    """Walk the whole chain and name the first record that does not fit."""
    anchor = decode(r.hgetall(keys.audit_anchor()))
    expected_seq = int(anchor.get("seq", 0)) + 1
    prev_hash = anchor.get("hash", "")
    checked = 0
    for entry_id, rec in _entries(r, "-", "+"):
        problem = _check(rec, expected_seq, prev_hash)
        if problem:
            return Verification(False, checked, entry_id, problem)
        checked += 1
        expected_seq, prev_hash = expected_seq + 1, rec["hash"]
    head = decode(r.hgetall(keys.audit_head()))
    if head.get("hash", "") != prev_hash or int(head.get("seq", 0)) != expected_seq - 1:
        return Verification(
            False,
            checked,
            "(末尾)",
            f"链头记录第 {head.get('seq', 0)} 条,实际最后一条为第 {expected_seq - 1} 条:"
            "末尾的记录被删除,或链头被改动",
        )
    return Verification(True, checked)


def _check(rec: dict[str, str], expected_seq: int, prev_hash: str) -> str:
    if record_hash(rec) != rec.get("hash"):
        return "记录内容与其哈希不符:记录被改动"
    if rec.get("seq") != str(expected_seq):
        return f"序号应为 {expected_seq},实为 {rec.get('seq')}:此前有记录被删除、插入或重排"
    if rec.get("prev") != prev_hash:
        return "前一记录的哈希不符:此前有记录被删除、插入或重排"
    return ""


def _entries(r: redis.Redis, start: str, end: str) -> Iterator[tuple[str, dict[str, str]]]:
    while True:
        batch = r.xrange(keys.audit_stream(), min=start, max=end, count=BATCH)
        for entry_id, fields in batch:
            yield entry_id.decode(), decode(fields)
        if len(batch) < BATCH:
            return
        start = "(" + batch[-1][0].decode()


def _stream_id(moment: datetime | None, default: str) -> str:
    return str(int(moment.timestamp() * 1000)) if moment else default


def records(
    r: redis.Redis,
    *,
    platform: str | None = None,
    person: str | None = None,
    draft: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Iterator[dict[str, str]]:
    """Yield records in order, filtered; the time range maps onto stream ids."""
    wanted = {"platform": platform, "person": person, "draft": draft, "action": action}
    wanted = {k: v for k, v in wanted.items() if v}
    for entry_id, rec in _entries(r, _stream_id(since, "-"), _stream_id(until, "+")):
        if all(rec.get(k) == v for k, v in wanted.items()):
            yield {"id": entry_id, **rec}


def write_jsonl(rows: Iterator[dict[str, str]], out) -> int:
    count = 0
    for row in rows:
        out.write(json.dumps(row, ensure_ascii=False) + "\n")
        count += 1
    return count


def write_csv(rows: Iterator[dict[str, str]], out) -> int:
    writer = csv.DictWriter(out, fieldnames=("id", *FIELDS), extrasaction="ignore")
    writer.writeheader()
    count = 0
    for row in rows:
        writer.writerow(row)
        count += 1
    return count


def trim(r: redis.Redis, actor: Actor, retention_days: int) -> int:
    """Remove records older than the retention policy; with no policy, remove nothing."""
    if retention_days <= 0:
        return 0
    cutoff = _stream_id(now() - timedelta(days=retention_days), "-")

    def change(tx: Tx) -> int:
        older = tx.read.xrevrange(keys.audit_stream(), max=f"({cutoff}", min="-", count=1)
        if not older:
            return 0
        last = decode(older[0][1])
        removed = int(last["seq"]) - int(decode(tx.read.hgetall(keys.audit_anchor())).get("seq", 0))
        tx.write.xtrim(keys.audit_stream(), minid=cutoff)
        tx.write.hset(keys.audit_anchor(), mapping={"seq": last["seq"], "hash": last["hash"]})
        append(tx, actor, "audit.trim", detail={"removed": removed, "before": cutoff})
        return removed

    return atomically(r, [keys.audit_anchor()], change)
