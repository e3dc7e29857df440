"""Anchors of the audit chain outside Redis, and the checkpoints that keep verifying cheap.

An anchor is a signed checkpoint (seq, hash, stream id, time) appended as one JSON line
to the anchor file (``QIANFA_AUDIT_ANCHOR_FILE``, by default ``<instance>/audit-anchors``).
Someone with only Redis access cannot reach it, so records removed from the end with the
head moved back, or a wiped chain, contradict the newest anchor.

``anchor`` (the dispatcher's periodic ``anchor_audit`` job and ``qianfa audit anchor``)
first verifies what came after the newest anchor, so an anchor only ever vouches for a
chain that held, and (with ``QIANFA_REDIS_MIN_REPLICAS``) that a replica has. The console
keeps its own signed checkpoint in Redis and verifies only the records after it
(``verify_recent``); ``qianfa audit verify`` walks the whole chain.
"""

import json
import os
from pathlib import Path

import redis

from app.core import audit, keys, replicas
from app.core.auditseal import Checkpoint, checkpoint, signer
from app.core.errors import Conflict
from app.core.store import decode

TAIL_BYTES = 65536  # the newest anchors are near the end: read this much first


class ChainBroken(Conflict):
    """The audit chain failed verification; the message says where and why."""

    code = "audit_broken"


def describe(result: audit.Verification) -> str:
    """One line saying where a broken chain first breaks and why."""
    where = (
        f"{result.bad_entry}(第 {result.bad_seq} 条)"
        if result.bad_entry
        else f"第 {result.bad_seq} 条(已不在流中)"
    )
    return (
        f"审计链已被破坏(此前 {result.checked} 条完好)。"
        f"第一条异常记录:{where};原因:{result.problem}"
    )


def newest(path: Path) -> Checkpoint | None:
    """The newest anchor signed under a key of ours; None when there is none.

    Anchors under a key since rotated away are passed over; a line signed under one of our
    keys that does not check means the file itself was edited.
    """
    by = signer()
    for lines in (_tail_lines(path), _all_lines(path)):
        for line in reversed(lines):
            found = _parse(line)
            verdict = found.trusted(by) if found else None
            if verdict is False:
                raise ChainBroken(f"锚点文件 {path} 中有一行的签名不符:锚点文件被改动")
            if verdict:
                return found
    return None


def _parse(line: str) -> Checkpoint | None:
    try:
        fields = json.loads(line)
    except ValueError:
        return None  # a line cut short by a crash, or not an anchor
    return Checkpoint.parse(fields) if isinstance(fields, dict) else None


def _tail_lines(path: Path) -> list[str]:
    """The last complete lines of the file, or [] without a file."""
    try:
        with open(path, "rb") as file:
            size = file.seek(0, os.SEEK_END)
            file.seek(max(0, size - TAIL_BYTES))
            text = file.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return []
    return [line for line in text.split("\n")[1 if size > TAIL_BYTES else 0 :] if line]


def _all_lines(path: Path) -> list[str]:
    """Every line; read only when the tail held no usable anchor."""
    try:
        if path.stat().st_size <= TAIL_BYTES:
            return []  # the tail was the whole file
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    return [line for line in text.split("\n") if line]


def write(path: Path, anchor: Checkpoint) -> None:
    """Append ``anchor`` as one line (one write, so concurrent writers never interleave)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, (json.dumps(anchor.fields(), sort_keys=True) + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def anchor(r: redis.Redis, path: Path) -> Checkpoint | None:
    """Verify the chain from the newest anchor on and append a new anchor at its head.

    Raises ``ChainBroken`` rather than anchor a chain that does not hold; returns None
    for an empty chain, and the newest anchor when nothing was appended since.
    """
    last = newest(path)
    result = audit.verify(r, anchor=last, since=last)
    if not result.ok:
        raise ChainBroken(describe(result))
    tail = result.tail
    if tail is None or tail.seq == 0:
        return None
    if last and (last.seq, last.hash) == (tail.seq, tail.hash):
        return last
    # Never vouch for a record a failover could lose: the anchor would then contradict the
    # promoted replica's chain for ever.
    replicas.confirm(r, "审计锚点", tail.entry or None, tail.hash)
    made = checkpoint(tail.seq, tail.hash, tail.entry)
    write(path, made)
    return made


def verify_recent(r: redis.Redis, path: Path) -> audit.Verification:
    """Verify only the records after the last verified checkpoint (kept, signed, in Redis),
    against the newest anchor, and move the checkpoint forward when they hold."""
    by = signer()
    mark = Checkpoint.parse(decode(r.hgetall(keys.audit_verified())))
    since = mark if mark and mark.trusted(by) else None
    result = audit.verify(r, anchor=newest(path), since=since)
    tail = result.tail
    if result.ok and tail and tail.seq and (since is None or since.seq != tail.seq):
        fields = checkpoint(tail.seq, tail.hash, tail.entry, by).fields()
        r.hset(keys.audit_verified(), mapping=fields)
    return result
