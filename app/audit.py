"""The audit trail: one hash-chained record for every step, in an append-only Redis Stream.

Each record carries the hash of the one before it and its own sequence number, and the
head key holds the newest (seq, hash), so ``verify`` finds a record that was changed,
removed, inserted or reordered. Records are appended inside the same MULTI as the change
they describe (``append(tx, ...)``), so a change is never without its record. Secrets
never enter a record: callers put names in ``detail``, never values.

The chain is not keyed: someone who can write to Redis can rebuild every record after
the one they changed, and the head. ``qianfa audit verify`` prints the head's hash;
writing it down elsewhere from time to time (an external anchor) catches that too.
"""

import csv
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

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
    "subject",
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
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
VERIFY_ATTEMPTS = 3
ID_CLOCK_TOLERANCE_MS = 86_400_000  # one day
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Actor:
    """Who did something: a person (with the openid they used) or an operator of a channel.

    ``trusted`` marks the operator at the server's shell and Qianfa's own processes; only
    ``cli()`` and ``system()`` set it, so an actor built from request data never is.
    """

    via: str
    person: str = ""
    openid: str = ""
    operator: str = ""
    trusted: bool = field(default=False, compare=False)

    @classmethod
    def cli(cls, operator: str) -> "Actor":
        return cls(via="cli", operator=operator, trusted=True)

    @classmethod
    def system(cls, operator: str) -> "Actor":
        return cls(via="system", operator=operator, trusted=True)


def record_hash(record: dict[str, str]) -> str:
    body = {k: v for k, v in record.items() if k != "hash"}
    canonical = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def append(
    tx: Tx,
    actor: Actor,
    action: str,
    *,
    subject: str = "",
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
        "subject": subject,
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


def entry(r: redis.Redis, entry_id: str) -> dict[str, str] | None:
    """One record by its stream id (with ``id``), or None once trimmed away."""
    found = r.xrange(keys.audit_stream(), min=entry_id, max=entry_id)
    return {"id": entry_id, **decode(found[0][1])} if found else None


def head(r: redis.Redis) -> tuple[int, str]:
    """The newest record's sequence number and hash: the value to note down as an anchor."""
    fields = decode(r.hgetall(keys.audit_head()))
    return int(fields.get("seq", 0)), fields.get("hash", "")


@dataclass(frozen=True)
class Verification:
    """The outcome of ``verify``: on a broken chain, where it first breaks and why.

    ``bad_entry`` is the stream id of the first bad record, or "" when that record is
    missing from the end of the stream; ``bad_seq`` is its sequence number either way.
    """

    ok: bool
    checked: int
    bad_entry: str = ""
    problem: str = ""
    bad_seq: int = 0


@dataclass(frozen=True)
class _Link:
    """One record as the next one sees it; the anchor is a link with no entry."""

    entry: str
    seq: int
    hash: str


@dataclass(frozen=True)
class _Fault:
    entry: str
    seq: int
    problem: str


@dataclass(frozen=True)
class _Snapshot:
    anchor: _Link
    head: _Link
    last_entry: str


def verify(r: redis.Redis) -> Verification:
    """Walk the whole chain and name the first record that does not fit.

    A trim that runs meanwhile moves the anchor and would look like tampering, so a
    failure is only reported once the anchor is seen unchanged across the walk.
    """
    for _ in range(VERIFY_ATTEMPTS):
        snapshot = _snapshot(r)
        result = _walk(r, snapshot)
        if result.ok or _snapshot(r).anchor == snapshot.anchor:
            return result
    return result


def _snapshot(r: redis.Redis) -> _Snapshot:
    """Read anchor, head and the newest id at one instant, so later appends are left out."""
    with r.pipeline(transaction=True) as pipe:
        pipe.hgetall(keys.audit_anchor())
        pipe.hgetall(keys.audit_head())
        pipe.xrevrange(keys.audit_stream(), count=1)
        anchor, head, last = pipe.execute()
    return _Snapshot(_link("", decode(anchor)), _link("", decode(head)), _last_id(last))


def _link(entry: str, fields: dict[str, str]) -> _Link:
    return _Link(entry, _as_int(fields.get("seq", "0")), fields.get("hash", ""))


def _last_id(newest: list) -> str:
    return newest[0][0].decode() if newest else ""


def _as_int(raw: str | None) -> int:
    try:
        return int(raw or "")
    except ValueError:
        return -1


def _walk(r: redis.Redis, snapshot: _Snapshot) -> Verification:
    prev, before, checked = snapshot.anchor, None, 0
    entries = _entries(r, "-", snapshot.last_entry) if snapshot.last_entry else ()
    for entry_id, rec in entries:
        fault = _fault(entry_id, rec, prev, before, snapshot.head.seq)
        if fault:
            return Verification(False, checked, fault.entry, fault.problem, fault.seq)
        before, prev = prev, _link(entry_id, rec)
        checked += 1
    return _tail(prev, snapshot.head, checked)


def _fault(
    entry_id: str, rec: dict[str, str], prev: _Link, before: _Link | None, head_seq: int
) -> _Fault | None:
    """Say which record breaks the chain at ``rec``, and why."""
    seq = _as_int(rec.get("seq"))
    if record_hash(rec) != rec.get("hash"):
        return _Fault(entry_id, seq, "记录内容与其哈希不符:此记录被改动")
    if not _id_fits_time(entry_id, rec.get("at", "")):
        return _Fault(
            entry_id,
            seq,
            "流 id 的时间与记录的时间(at)相差超过 1 天:此记录的 id 被改动,或当时 Redis 时钟有误",
        )
    return _link_fault(entry_id, rec, seq, prev, before, head_seq)


def _id_fits_time(entry_id: str, at: str) -> bool:
    """Stream ids are not hashed, yet trim and time filters go by them: check them loosely.

    The id comes from the Redis server's clock and ``at`` from the app's, so only a gross
    difference (a record moved in time) counts.
    """
    try:
        stated = _ms(datetime.fromisoformat(at))
    except ValueError:
        return False
    return abs(int(entry_id.split("-")[0]) - stated) <= ID_CLOCK_TOLERANCE_MS


def _link_fault(
    entry_id: str,
    rec: dict[str, str],
    seq: int,
    prev: _Link,
    before: _Link | None,
    head_seq: int,
) -> _Fault | None:
    """Check that ``rec`` follows ``prev``; if not, name the record that broke the link.

    A record inserted with a valid hash of its own only shows at the next record, which
    still links to the record before the intruder; so that case names the record before.
    """
    expected = prev.seq + 1
    if seq == expected and rec.get("prev") == prev.hash:
        if seq > head_seq:
            return _Fault(entry_id, seq, f"序号超出链头(第 {head_seq} 条):此记录未经签发写入")
        return None
    if before is not None and seq == prev.seq and rec.get("prev") == before.hash:
        return _Fault(prev.entry, prev.seq, "后一条记录链接的是此记录之前的那条:此记录是插入的")
    if seq == expected and prev.entry:
        return _Fault(
            prev.entry, prev.seq, "后一条记录链接的哈希与此记录不符:此记录被改动并重算了哈希"
        )
    if seq == expected:
        return _Fault(entry_id, seq, "与已清理部分的锚点不符:此记录或锚点被改动")
    if seq > expected:
        gone = _span(expected, seq - 1)
        return _Fault(
            entry_id, seq, f"序号应为 {expected},实为 {seq}:{gone}缺失(被删除或移到了后面)"
        )
    return _Fault(entry_id, seq, f"序号应为 {expected},实为 {seq}:此记录重复或被移到了前面")


def _tail(last: _Link, head: _Link, checked: int) -> Verification:
    """Compare the last record with the head, which catches records removed from the end."""
    if last.seq < head.seq:
        now_last = f"第 {last.seq} 条 {last.entry}" if last.entry else "无"
        problem = (
            f"{_span(last.seq + 1, head.seq)}缺失:链头记到第 {head.seq} 条,"
            f"流中最后一条为{now_last}:末尾的记录被删除"
        )
        return Verification(False, checked, "", problem, last.seq + 1)
    if last.seq != head.seq or last.hash != head.hash:
        problem = "与链头记录的哈希不符:最后一条记录被替换,或链头被改动"
        return Verification(False, checked, last.entry, problem, last.seq)
    return Verification(True, checked)


def _span(first: int, last: int) -> str:
    return f"第 {first} 条" if first == last else f"第 {first}–{last} 条"


def _entries(r: redis.Redis, start: str, end: str) -> Iterator[tuple[str, dict[str, str]]]:
    while True:
        batch = r.xrange(keys.audit_stream(), min=start, max=end, count=BATCH)
        for entry_id, fields in batch:
            yield entry_id.decode(), decode(fields)
        if len(batch) < BATCH:
            return
        start = "(" + batch[-1][0].decode()


def _ms(moment: datetime) -> int:
    """Milliseconds since the epoch, as stream ids count time; integer maths, so exact.

    A float ``timestamp() * 1000`` can land one millisecond early. A time without a zone
    is taken as UTC, as everything Qianfa stores is.
    """
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - EPOCH) // timedelta(milliseconds=1)


def _id_range(since: datetime | None, until: datetime | None) -> tuple[str, str] | None:
    """Stream ids for [since, until), or None when no id can fall in it."""
    start = max(_ms(since), 0) if since else 0
    end = _ms(until) - 1 if until else None
    if end is not None and end < start:
        return None
    return (str(start) if since else "-", "+" if end is None else str(end))


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
    """Yield records in order, filtered; the time range [since, until) maps onto stream ids.

    ``person`` matches records the person made and records about them (``subject``).
    """
    wanted = {"platform": platform, "draft": draft, "action": action}
    wanted = {k: v for k, v in wanted.items() if v}
    span = _id_range(since, until)
    if span is None:
        return
    for entry_id, rec in _entries(r, *span):
        concerns = not person or person in (rec.get("person"), rec.get("subject"))
        if concerns and all(rec.get(k) == v for k, v in wanted.items()):
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
        writer.writerow({k: spreadsheet_safe(v) for k, v in row.items()})
        count += 1
    return count


def spreadsheet_safe(value: str) -> str:
    """Keep a reason typed by a user from running as a formula when the CSV opens in Excel."""
    return "'" + value if value[:1] in FORMULA_STARTS else value


def trim(
    r: redis.Redis, actor: Actor, retention_days: int, *, as_of: datetime | None = None
) -> int:
    """Remove records older than the retention policy; with no policy, remove nothing.

    The last removed record becomes the anchor the chain then starts from, so ``verify``
    still passes. ``as_of`` is the moment the retention counts back from (default now).
    """
    if retention_days <= 0:
        return 0
    cutoff = _ms((as_of or now()) - timedelta(days=retention_days))
    if cutoff <= 0:
        return 0

    def change(tx: Tx) -> int:
        # "cutoff - 1" as the upper bound means every id before "cutoff-0": what XTRIM removes.
        older = tx.read.xrevrange(keys.audit_stream(), max=str(cutoff - 1), min="-", count=1)
        if not older:
            return 0
        last = decode(older[0][1])
        removed = int(last["seq"]) - int(decode(tx.read.hgetall(keys.audit_anchor())).get("seq", 0))
        # Exact, not "~": an approximate trim may keep records the anchor has passed.
        tx.write.xtrim(keys.audit_stream(), minid=str(cutoff), approximate=False)
        tx.write.hset(keys.audit_anchor(), mapping={"seq": last["seq"], "hash": last["hash"]})
        before = timestamp(EPOCH + timedelta(milliseconds=cutoff))
        append(tx, actor, "audit.trim", detail={"removed": removed, "before": before})
        return removed

    return atomically(r, [keys.audit_anchor()], change)
