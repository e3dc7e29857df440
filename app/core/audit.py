"""The audit trail: one hash-chained, signed record for every step, in a Redis Stream.

Each record carries the hash of the one before it and its own sequence number, and the
head key holds the newest (seq, hash), so ``verify`` finds a record that was changed,
removed, inserted or reordered. Records are appended inside the same MULTI as the change
they describe (``append(tx, ...)``), so a change is never without its record. Secrets
never enter a record: callers put names in ``detail``, never values.

Each record (version 2) is also signed with a key derived from the master key
(``app.core.auditseal``), which is not in Redis: someone with only Redis access can neither
forge a record nor rebuild the chain. What a signature cannot show, records removed
from the end with the head moved back, or the whole chain wiped, the anchors written
outside Redis show (``app.core.anchors``): ``verify`` takes the newest one.
"""

import csv
import gc
import hashlib
import json
import multiprocessing
import operator
import os
import threading
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

import redis

from app.core import clock, keys
from app.core.auditseal import VERSION, Checkpoint, Signer, checkpoint, signer
from app.core.store import Tx, atomically, decode, now, timestamp

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
    "v",
    "sig",
)
UNHASHED = ("hash", "sig")
BATCH = 1000
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
VERIFY_ATTEMPTS = 3
NOT_TEXT = "记录含有非 UTF-8 字节:此记录被改动"
# Added to a record read back with bytes that are not UTF-8: the fields that held them.
NOT_TEXT_FIELDS = "not_utf8"
# The stream id comes from Redis's clock and ``at`` from the app's: NTP keeps them this close.
ID_CLOCK_TOLERANCE_MS = 300_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_MS = timedelta(milliseconds=1)
# The fields in the order ``append`` stores them. ``verify``'s fast check reads a record as
# Redis sends it (a flat list, name then value) and fills one template with the hashed values
# in the order JSON sorts them ("%s" takes bytes as they are); the template's own quotes are
# a byte never found in UTF-8 until the values' quotes and backslashes are escaped.
STORED = (*FIELDS[:14], "prev", "v", "hash", "sig")
_STORED_NAMES = [f.encode() for f in STORED]
_AT = {f: 2 * STORED.index(f) + 1 for f in STORED}
_HASHED = sorted(f for f in STORED if f not in UNHASHED)
_HASHED_VALUES = operator.itemgetter(*(_AT[f] for f in _HASHED))
_QUOTE = b"\xff"
_TEMPLATE = ("{" + ",".join(f'"{f}":"%s"' for f in _HASHED) + "}").encode().replace(b'"', _QUOTE)
_QUOTES = _TEMPLATE.count(_QUOTE)
_UNQUOTE = bytes.maketrans(_QUOTE, b'"')
_SEQ, _TIME, _PREV, _V, _HASH, _SIG = (_AT[f] for f in ("seq", "at", "prev", "v", "hash", "sig"))
_VERSION = VERSION.encode()
# A chain this long is checked in runs, one process each: below it, forking and joining cost
# about as much as they save. Redis answers every process from one thread, so more than
# MAX_WORKERS of them only queue there.
PARALLEL_FROM = 50_000
MAX_WORKERS = 4
_FORK = multiprocessing.get_context("fork")


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
    """SHA-256 of everything but the hash and the signature (which signs this hash)."""
    body = {k: v for k, v in record.items() if k not in UNHASHED}
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
        "v": VERSION,
    }
    record["hash"] = record_hash(record)
    record["sig"] = signer().sign(record["hash"])
    tx.audit_entry = len(tx.write.command_stack)
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
    return {"id": entry_id, **readable(found[0][1])} if found else None


def readable(fields: dict[bytes, bytes]) -> dict[str, str]:
    """A stored record as text, whatever its bytes, so that reading never fails on it.

    ``append`` writes only UTF-8; bytes that are not (a record written around it, or
    corrupted) are shown as ``\\xNN`` and ``NOT_TEXT_FIELDS`` names the fields that held them.
    ``verify`` names such a record as changed.
    """
    try:
        return decode(fields)
    except UnicodeDecodeError:
        pass
    record, damaged = {}, []
    for raw_name, raw_value in fields.items():
        name = raw_name.decode(errors="backslashreplace")
        record[name] = raw_value.decode(errors="backslashreplace")
        if not (_is_utf8(raw_name) and _is_utf8(raw_value)):
            damaged.append(name)
    record[NOT_TEXT_FIELDS] = ",".join(damaged)
    return record


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode()
    except UnicodeDecodeError:
        return False
    return True


def head(r: redis.Redis) -> tuple[int, str]:
    """The newest record's sequence number and hash: the value to note down as an anchor."""
    fields = decode(r.hgetall(keys.audit_head()))
    return int(fields.get("seq", 0)), fields.get("hash", "")


def empty(r: redis.Redis) -> bool:
    """No record, no head and no trim base: a chain never written (or wiped)."""
    return not r.exists(keys.audit_stream(), keys.audit_head(), keys.audit_anchor())


@dataclass(frozen=True)
class Verification:
    """The outcome of ``verify``: on a broken chain, where it first breaks and why.

    ``bad_entry`` is the stream id of the first bad record, or "" when that record is
    missing from the end of the stream; ``bad_seq`` is its sequence number either way.
    ``signed`` says a signature vouches for the newest record (False only for a chain
    written wholly before signing); ``tail`` is the newest record checked, for a checkpoint.
    """

    ok: bool
    checked: int
    bad_entry: str = ""
    problem: str = ""
    bad_seq: int = 0
    signed: bool = field(default=True, compare=False)
    tail: Checkpoint | None = field(default=None, compare=False)


class _Link(NamedTuple):
    """One record as the next one sees it; the trim base is a link with no entry.

    ``v2`` and ``signed`` say whether this or an earlier record was version 2, or signed.
    A tuple, not a frozen dataclass: ``verify`` makes one per record, a million of them.
    """

    entry: str
    seq: int
    hash: str
    v2: bool = False
    signed: bool = False


@dataclass(frozen=True)
class _Fault:
    entry: str
    seq: int
    problem: str


@dataclass(frozen=True)
class _Snapshot:
    base: dict[str, str]
    start: _Link
    head: _Link
    last_entry: str
    moved: str = ""  # why the ``since`` checkpoint no longer holds, if it does not


def verify(
    r: redis.Redis, *, anchor: Checkpoint | None = None, since: Checkpoint | None = None
) -> Verification:
    """Walk the chain (from ``since``, a checkpoint verified before, when given) and name
    the first record that does not fit; then hold the chain against ``anchor``.

    A trim that runs meanwhile moves the base and would look like tampering, so a
    failure is only reported once the base is seen unchanged across the walk.
    """
    by = signer()
    for _ in range(VERIFY_ATTEMPTS):
        snapshot = _snapshot(r, since, by)
        result = _verify_snapshot(r, snapshot, anchor, by)
        if result.ok or _snapshot(r, since, by).base == snapshot.base:
            return result
    return result


def _verify_snapshot(
    r: redis.Redis, snapshot: _Snapshot, anchor: Checkpoint | None, by: Signer
) -> Verification:
    if snapshot.moved:
        return Verification(False, 0, snapshot.start.entry, snapshot.moved, snapshot.start.seq)
    result = _walk(r, snapshot, by)
    fault = _base_fault(r, snapshot.base, by) if result.ok else None
    fault = fault or (_anchor_fault(r, snapshot, anchor) if result.ok and anchor else None)
    if fault:
        return Verification(False, result.checked, fault.entry, fault.problem, fault.seq)
    return result


def _snapshot(r: redis.Redis, since: Checkpoint | None, by: Signer) -> _Snapshot:
    """Read base, head, the newest id (and the ``since`` record) at one instant."""
    with r.pipeline(transaction=True) as pipe:
        pipe.hgetall(keys.audit_anchor())
        pipe.hgetall(keys.audit_head())
        pipe.xrevrange(keys.audit_stream(), count=1)
        if since and since.entry:
            pipe.xrange(keys.audit_stream(), min=since.entry, max=since.entry)
        base, head, last, *marked = pipe.execute()
    base = decode(base)
    snapshot = _Snapshot(base, _link("", base), _link("", decode(head)), _last_id(last))
    if not (since and marked and marked[0]):
        return snapshot  # none, or trimmed away since: walk it all
    rec = decode(marked[0][0][1])
    if (_as_int(rec.get("seq")), rec.get("hash")) != (since.seq, since.hash):
        moved = f"第 {since.seq} 条记录在上次核验({since.at})之后被改写"
        return replace(snapshot, start=_Link(since.entry, since.seq, since.hash), moved=moved)
    return replace(snapshot, start=_follow(_Link("", 0, ""), since.entry, rec, by))


def _link(entry: str, fields: dict[str, str]) -> _Link:
    return _Link(entry, _as_int(fields.get("seq", "0")), fields.get("hash", ""))


def _follow(prev: _Link, entry_id: str, rec: dict[str, str], by: Signer) -> _Link:
    """The link ``rec`` makes for the next record, carrying what came before it."""
    v2 = rec.get("v", "1") == VERSION
    signed = prev.signed or (v2 and by.check(rec.get("hash", ""), rec.get("sig", "")) is True)
    return _Link(entry_id, _as_int(rec.get("seq")), rec.get("hash", ""), prev.v2 or v2, signed)


def _last_id(newest: list) -> str:
    return newest[0][0].decode() if newest else ""


def _as_int(raw: str | None) -> int:
    try:
        return int(raw or "")
    except ValueError:
        return -1


def _walk(r: redis.Redis, snapshot: _Snapshot, by: Signer) -> Verification:
    """Check each batch the fast way (``_sound``); a batch it does not vouch for is walked
    record by record, and only that walk names a fault, so the verdict is the same.
    A long chain is first vouched for in runs side by side (``_in_parallel``); the walk
    goes on from the end of the runs it could join."""
    before, prev, checked = _in_parallel(r, snapshot, by)
    start = "(" + prev.entry if prev.entry else "-"
    batches = _raw_batches(r, start, snapshot.last_entry) if snapshot.last_entry else ()
    for batch in batches:
        links = _sound(batch, prev, snapshot.head.seq, by)
        if links:
            before, prev = links
            checked += len(batch)
            continue
        for raw_id, flat in batch:
            entry_id, rec = raw_id.decode(), _text(flat)
            if rec is None:
                seq = _as_int(dict(zip(flat[::2], flat[1::2], strict=True)).get(b"seq"))
                return Verification(False, checked, entry_id, NOT_TEXT, seq)
            fault = _fault(entry_id, rec, prev, before, snapshot.head.seq, by)
            if fault:
                return Verification(False, checked, fault.entry, fault.problem, fault.seq)
            before, prev = prev, _follow(prev, entry_id, rec, by)
            checked += 1
    return _tail(prev, snapshot.head, checked)


def _in_parallel(
    r: redis.Redis, snapshot: _Snapshot, by: Signer
) -> tuple[_Link | None, _Link, int]:
    """Vouch for the chain in disjoint runs, each checked by ``_sound`` in a process of its
    own, and join them where each run's first record follows the last of the run before.

    Returns where the sequential walk takes over: the last two links joined and the records
    they cover (all of them when every run is sound and joined). Only a process with no other
    thread forks, as a thread could hold a lock the children need.
    """
    records = snapshot.head.seq - snapshot.start.seq
    workers = min(os.cpu_count() or 1, MAX_WORKERS)
    if records < PARALLEL_FROM or workers < 2 or threading.active_count() > 1:
        return None, snapshot.start, 0
    spans = _spans(r, snapshot, workers)
    if len(spans) < 2:
        return None, snapshot.start, 0
    try:
        with ProcessPoolExecutor(
            len(spans), mp_context=_FORK, initializer=_inherit, initargs=(r, by)
        ) as pool:
            runs = list(pool.map(_run, spans, [snapshot.head.seq] * len(spans)))
    except BrokenProcessPool:  # a child killed (the OOM killer): walk it all in this process
        return None, snapshot.start, 0
    return _join(runs, snapshot.start)


class _Run(NamedTuple):
    """A run ``_sound`` vouched for: the link its first record claims to follow, its last
    two links and its length."""

    follows: _Link
    before: _Link
    last: _Link
    checked: int


def _spans(r: redis.Redis, snapshot: _Snapshot, parts: int) -> list[tuple[str, str]]:
    """Stream id ranges that cover the chain after ``snapshot.start`` in up to ``parts`` runs
    of about equal length: each run after the first starts at the millisecond found by halving
    time until the first record there has the run's first number. The numbers only steer the
    split; in a chain too broken for them the runs are uneven, still disjoint and covering."""
    start, end = "(" + snapshot.start.entry if snapshot.start.entry else "-", snapshot.last_entry
    first = _first_from(r, start, end)
    if first is None:
        return [(start, end)]
    low, high = first[0] + 1, _id_ms(end)
    per_run, splits = (snapshot.head.seq - snapshot.start.seq) // parts, []
    for part in range(1, parts):
        low = _first_ms(r, snapshot.start.seq + part * per_run + 1, low, high, end)
        splits.append(low)
    splits = [ms for ms in dict.fromkeys(splits) if ms <= high]
    starts, ends = [start, *map(str, splits)], [*(str(ms - 1) for ms in splits), end]
    return list(zip(starts, ends, strict=True))


def _first_ms(r: redis.Redis, seq: int, low: int, high: int, end: str) -> int:
    """The first millisecond in [low, high] from which the first record is numbered ``seq``
    or more (``high`` when none is)."""
    while low < high:
        middle = (low + high) // 2
        found = _first_from(r, str(middle), end)
        if found is None or found[1] >= seq:
            high = middle
        else:
            low = middle + 1
    return low


def _first_from(r: redis.Redis, start: str, end: str) -> tuple[int, int] | None:
    """The millisecond and number of the first record from ``start``: one record read."""
    found = r.xrange(keys.audit_stream(), min=start, max=end, count=1)
    if not found:
        return None
    entry_id, fields = found[0]
    return _id_ms(entry_id.decode()), _as_int(fields.get(b"seq", b"").decode(errors="replace"))


def _inherit(r: redis.Redis, by: Signer) -> None:
    """In a child: the parent's client (redis-py opens new connections after a fork) and
    signer. The child lives for one run and its lists hold no cycles: no garbage collector."""
    global _inherited
    _inherited = (r, by)
    gc.disable()


_inherited: tuple[redis.Redis, Signer] | None = None


def _run(span: tuple[str, str], head_seq: int) -> _Run | None:
    """In a child: the run of records in ``span`` when ``_sound`` vouches for all of it,
    taking its first record's own word for the link before (``_join`` checks it)."""
    r, by = _inherited
    follows = prev = before = None
    checked = 0
    for batch in _raw_batches(r, *span):
        follows = follows or _claimed(batch[0][1])
        links = _sound(batch, prev or follows, head_seq, by) if follows else None
        if not links:
            return None
        (before, prev), checked = links, checked + len(batch)
    return _Run(follows, before, prev, checked) if checked else _Run(None, None, None, 0)


def _claimed(flat: list) -> _Link | None:
    """The link a stored record says it follows: its number less one, its ``prev``."""
    try:
        return _Link("", int(flat[_SEQ]) - 1, flat[_PREV].decode())
    except (IndexError, ValueError):
        return None


def _join(runs: list[_Run | None], start: _Link) -> tuple[_Link | None, _Link, int]:
    """The last two links and the records covered by the runs joined end to end from
    ``start``, up to the first run that is not sound or does not follow on."""
    before, prev, checked = None, start, 0
    for run in runs:
        if run is None or (
            run.checked and (run.follows.seq, run.follows.hash) != (prev.seq, prev.hash)
        ):
            break
        if run.checked:
            before = run.before if run.checked > 1 else prev
            prev, checked = run.last, checked + run.checked
    return before, prev, checked


def _text(flat: list) -> dict[str, str] | None:
    """The record as text, or None when it is not UTF-8 (``append`` writes only text)."""
    try:
        return decode(dict(zip(flat[::2], flat[1::2], strict=True)))
    except UnicodeDecodeError:
        return None


def _sound(batch: list, prev: _Link, head_seq: int, by: Signer) -> tuple[_Link, _Link] | None:
    """The last two links when every record of ``batch`` passes ``_fault`` the usual way.

    The usual way: version-2 records stored as ``append`` stores them, each hashed over its
    stored bytes in the canonical form (UTF-8 JSON text is those bytes, quoted, with ``"``
    and ``\\`` escaped), signed by exactly our keys, each next in the chain. A value this
    form would render unlike JSON (a control character, bytes that are not UTF-8) gives a
    hash no key of ours ever signed, so its batch is walked record by record too. Whole
    batches, in comprehensions: a call per record cost more than its hashing.
    """
    flats = [flat for _, flat in batch]
    if not all([f[::2] == _STORED_NAMES and f[_V] == _VERSION for f in flats]):
        return None
    texts = [_TEMPLATE % _HASHED_VALUES(f) for f in flats]
    if b"".join(texts).count(_QUOTE) != _QUOTES * len(texts):
        return None  # a value holding the placeholder, so not UTF-8
    hashes = [
        hashlib.sha256(t.replace(b"\\", b"\\\\").replace(b'"', b'\\"').translate(_UNQUOTE))
        .hexdigest()
        .encode()
        for t in texts
    ]
    if hashes != [f[_HASH] for f in flats] or by.seals(hashes) != [f[_SIG] for f in flats]:
        return None
    first, last = prev.seq + 1, prev.seq + len(flats)
    if last > head_seq or [_as_int(f[_SEQ]) for f in flats] != list(range(first, last + 1)):
        return None
    if [f[_PREV] for f in flats] != [prev.hash.encode(), *hashes[:-1]]:
        return None
    ids = [raw_id for raw_id, _ in batch]
    if not _times_fit(ids, [f[_TIME] for f in flats]):
        return None
    tail = _Link(ids[-1].decode(), last, hashes[-1].decode(), True, True)
    if len(ids) == 1:
        return prev, tail
    return _Link(ids[-2].decode(), last - 1, hashes[-2].decode(), True, True), tail


def _fault(
    entry_id: str, rec: dict[str, str], prev: _Link, before: _Link | None, head_seq: int, by: Signer
) -> _Fault | None:
    """Say which record breaks the chain at ``rec``, and why."""
    seq = _as_int(rec.get("seq"))
    if record_hash(rec) != rec.get("hash"):
        return _Fault(entry_id, seq, "记录内容与其哈希不符:此记录被改动")
    problem = _seal_problem(rec, prev, by)
    if problem:
        return _Fault(entry_id, seq, problem)
    if not _id_fits_time(entry_id, rec.get("at", "")):
        return _Fault(
            entry_id,
            seq,
            "流 id 的时间与记录的时间(at)相差超过 5 分钟:此记录的 id 被改动,或当时 Redis 时钟有误",
        )
    return _link_fault(entry_id, rec, seq, prev, before, head_seq)


def _seal_problem(rec: dict[str, str], prev: _Link, by: Signer) -> str | None:
    """Why ``rec``'s version or signature cannot be genuine, if it cannot.

    Unsigned (version 1) records come only before the first signed one, and once a record
    signed with a key of ours has come, every later one must be signed with one too.
    """
    version = rec.get("v", "1")
    if version == "1":
        return "签名之后出现未签名的旧版记录:此记录是伪造的" if prev.v2 else None
    if version != VERSION:
        return f"未知的记录版本 {version!r}:此记录是伪造的"
    verdict = by.check(rec.get("hash", ""), rec.get("sig", ""))
    if verdict is False:
        return "签名不符:此记录被改动或伪造(没有审计密钥无法签名)"
    if verdict is None and prev.signed:
        return "签名不属于任何已知的审计密钥:此记录是伪造的"
    return None


def _id_fits_time(entry_id: str, at: str) -> bool:
    """Stream ids are not hashed, yet trim and time filters go by them: check them.

    The id comes from the Redis server's clock and ``at`` from the app's (to the second,
    rounded down), so a few minutes of difference are allowed, not a record moved in time.
    """
    try:
        stated = _ms(datetime.fromisoformat(at))
    except ValueError:
        return False
    return abs(_id_ms(entry_id) - stated) <= ID_CLOCK_TOLERANCE_MS


def _times_fit(ids: list[bytes], stated: list[bytes]) -> bool:
    """``_id_fits_time`` for a batch in id order: each distinct time is read once, and when
    all its ids and times lie within the tolerance of one another no pair can be further
    apart; otherwise pair by pair."""
    moments = {}
    for at in set(stated):
        try:
            moments[at] = _ms(datetime.fromisoformat(at.decode()))
        except ValueError:
            return False
    first, last = _id_ms(ids[0]), _id_ms(ids[-1])
    low, high = min(first, *moments.values()), max(last, *moments.values())
    if high - low <= ID_CLOCK_TOLERANCE_MS:
        return True
    pairs = zip(ids, stated, strict=True)
    return all(abs(_id_ms(i) - moments[at]) <= ID_CLOCK_TOLERANCE_MS for i, at in pairs)


def _id_ms(entry_id: str | bytes) -> int:
    """The milliseconds of a stream id, as text or as Redis sends it."""
    return int(entry_id.partition("-" if isinstance(entry_id, str) else b"-")[0])


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
    if last.v2 and not last.signed:
        problem = "没有一条记录带本机审计密钥的有效签名:整条链被人用别的密钥重建,或主密钥不对"
        return Verification(False, checked, last.entry, problem, last.seq)
    tail = Checkpoint(last.seq, last.hash, last.entry, "")
    return Verification(True, checked, signed=last.signed or not last.entry, tail=tail)


def _base_fault(r: redis.Redis, base: dict[str, str], by: Signer) -> _Fault | None:
    """A trim base must be one a real trim left: signed, or named by the newest trim record.

    A base that is unsigned (left by a trim before signing) or signed under a key since
    rotated away is held against the newest ``audit.trim`` record, which the chain vouches for.
    """
    if not base:
        return None
    seq = _as_int(base.get("seq"))
    marked = Checkpoint.parse(base)
    verdict = marked.trusted(by) if marked else None
    if verdict is False:
        return _Fault("", seq, "已清理部分的锚点签名不符:清理是伪造的")
    if verdict:
        return None
    detail = _newest_trim(r)
    if detail is None:
        return _Fault("", seq, "有已清理部分的锚点,却没有清理记录:清理是伪造的")
    if "base" in detail and (detail["base"], detail.get("base_hash")) != (seq, base.get("hash")):
        return _Fault("", seq, "已清理部分的锚点与最近一次清理记录不符:清理是伪造的")
    return None


def _newest_trim(r: redis.Redis) -> dict | None:
    """The detail of the newest ``audit.trim`` record, reading back from the newest."""
    end = "+"
    while True:
        batch = r.xrevrange(keys.audit_stream(), max=end, min="-", count=BATCH)
        for _, fields in batch:
            rec = decode(fields)
            if rec.get("action") == "audit.trim":
                return json.loads(rec.get("detail") or "{}")
        if len(batch) < BATCH:
            return None
        end = "(" + batch[-1][0].decode()


def _anchor_fault(r: redis.Redis, snapshot: _Snapshot, anchor: Checkpoint) -> _Fault | None:
    """Hold the chain against a signed anchor kept outside Redis: it must still contain the
    anchored record, unchanged, unless a (vouched-for) trim removed it."""
    head, base_seq = snapshot.head, _as_int(snapshot.base.get("seq", "0"))
    if head.seq < anchor.seq:
        if not snapshot.last_entry and not snapshot.base and head.seq == 0:
            problem = (
                f"Redis 中已没有任何审计记录,而锚点({anchor.at})记到第 {anchor.seq} 条:审计链被清空"
            )
        else:
            problem = (
                f"链头只到第 {head.seq} 条,而锚点({anchor.at})记到第 {anchor.seq} 条:"
                "末尾的记录被删除,链头被改回(回滚)"
            )
        return _Fault("", anchor.seq, problem)
    if anchor.seq == 0 or anchor.seq < base_seq:
        return None
    if anchor.seq == base_seq:
        found = {"seq": str(base_seq), "hash": snapshot.base.get("hash", "")}
    else:
        found = entry(r, anchor.entry)
    if found is None:
        return _Fault(
            anchor.entry, anchor.seq, f"锚点({anchor.at})所记的记录已不在流中:它被删除或移动了"
        )
    if (_as_int(found.get("seq")), found.get("hash")) != (anchor.seq, anchor.hash):
        return _Fault(
            anchor.entry, anchor.seq, f"与锚点({anchor.at})所记的哈希不符:审计链被改写或重建"
        )
    return None


def _span(first: int, last: int) -> str:
    return f"第 {first} 条" if first == last else f"第 {first}–{last} 条"


def _entries(r: redis.Redis, start: str, end: str) -> Iterator[tuple[str, dict[str, str]]]:
    while True:
        batch = r.xrange(keys.audit_stream(), min=start, max=end, count=BATCH)
        for entry_id, fields in batch:
            yield entry_id.decode(), readable(fields)
        if len(batch) < BATCH:
            return
        start = "(" + batch[-1][0].decode()


def _raw_batches(r: redis.Redis, start: str, end: str) -> Iterator[list[tuple[bytes, list]]]:
    """Records as Redis sends them, a batch at a time: the id and a flat list of names and
    values. redis-py pairing each record's 36 strings into a dict cost ``verify`` more than
    all its hashing, so this reads through a client on the same connections without that
    step, and asks for the next batch while the caller checks this one.
    """
    raw = redis.Redis(connection_pool=r.connection_pool)
    raw.set_response_callback("XRANGE", lambda response, **_: response)

    def fetch(after: str) -> list:
        return raw.xrange(keys.audit_stream(), min=after, max=end, count=BATCH)

    with ThreadPoolExecutor(max_workers=1) as reader:
        batch = fetch(start)
        while len(batch) == BATCH:
            following = reader.submit(fetch, "(" + batch[-1][0].decode())
            yield batch
            batch = following.result()
        if batch:
            yield batch


def _ms(moment: datetime) -> int:
    """Milliseconds since the epoch, as stream ids count time; integer maths, so exact.

    A float ``timestamp() * 1000`` can land one millisecond early. A time without a zone
    is taken as UTC, as everything Qianfa stores is.
    """
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - EPOCH) // ONE_MS


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
    """The spreadsheet people open: times in Beijing time, with their +08:00 offset;
    the JSONL export keeps every field as stored (bytes that are not UTF-8: ``readable``)."""
    columns = ("id", *FIELDS, NOT_TEXT_FIELDS)
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    count = 0
    for row in rows:
        shown = {**row, "at": clock.iso_beijing(row["at"])} if "at" in row else row
        writer.writerow({k: spreadsheet_safe(v) for k, v in shown.items()})
        count += 1
    return count


def spreadsheet_safe(value: str) -> str:
    """Keep a reason typed by a user from running as a formula when the CSV opens in Excel."""
    return "'" + value if value[:1] in FORMULA_STARTS else value


def trim(
    r: redis.Redis, actor: Actor, retention_days: int, *, as_of: datetime | None = None
) -> int:
    """Remove records older than the retention policy; with no policy, remove nothing.

    The last removed record becomes the base the chain then starts from, signed so that a
    trim done straight in Redis shows, and named in the trim's own record. ``as_of`` is
    the moment the retention counts back from (default now).
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
        last_id, last = older[0][0].decode(), decode(older[0][1])
        removed = int(last["seq"]) - int(decode(tx.read.hgetall(keys.audit_anchor())).get("seq", 0))
        # Exact, not "~": an approximate trim may keep records the base has passed.
        tx.write.xtrim(keys.audit_stream(), minid=str(cutoff), approximate=False)
        base = checkpoint(int(last["seq"]), last["hash"], last_id)
        tx.write.hset(keys.audit_anchor(), mapping=base.fields())
        before = timestamp(EPOCH + timedelta(milliseconds=cutoff))
        detail = {"removed": removed, "before": before, "base": base.seq, "base_hash": base.hash}
        append(tx, actor, "audit.trim", detail=detail)
        return removed

    return atomically(r, [keys.audit_anchor()], change)
