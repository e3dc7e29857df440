"""Waiting for a replica before a change counts as done.

Redis replicates asynchronously: a master that dies right after answering takes its last
writes with it, and Sentinel promotes a replica that never had them. A sign-off that a
reviewer was told about, or a publication step recorded before a WeChat call, must not be
lost that way, so with ``QIANFA_REDIS_MIN_REPLICAS`` set such a change is confirmed with
``WAIT`` before it is acknowledged; unconfirmed, it raises ``Unconfirmed``.

``WAIT`` counts from the last write of the connection it is sent on, and the transaction's
connection has gone back to the pool, so the check writes a probe of its own after
reading the change's audit record back on the same connection: a replica that has the probe
has the change, and reading the record back rules out a master that changed in between.
"""

import redis

from app.core import keys
from app.core.errors import Unconfirmed


def confirm(r: redis.Redis, what: str, entry_id: bytes | str | None, record_hash: str) -> None:
    """Return once ``r.min_replicas`` replicas have the change whose audit record is
    ``entry_id`` (with ``record_hash``); raise ``Unconfirmed`` otherwise."""
    needed = getattr(r, "min_replicas", 0)
    if not needed:
        return
    wait_ms = max(1, round(getattr(r, "replica_timeout", 1.0) * 1000))
    try:
        with r.pipeline(transaction=False) as pipe:
            if entry_id is not None:
                pipe.xrange(keys.audit_stream(), min=entry_id, max=entry_id)
            pipe.incr(keys.replica_probe())
            pipe.wait(needed, wait_ms)
            replies = pipe.execute()
    except redis.RedisError as exc:
        raise Unconfirmed(_message(what)) from exc
    found = entry_id is None or (
        replies[0] and replies[0][0][1].get(b"hash") == record_hash.encode()
    )
    if not found or replies[-1] < needed:
        raise Unconfirmed(_message(what))


def _message(what: str) -> str:
    return (
        f"{what}已写入,但未能确认已同步到备用数据库,暂不能视为成功:"
        "如数据库随即切换,它可能丢失。请稍后查看稿件状态,如未记录请重新操作。"
    )
