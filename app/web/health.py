"""``GET /healthz``: Redis reachability, worker and dispatcher heartbeats, queue depths."""

import redis
from flask import Blueprint, jsonify
from rq import Worker

from app import dispatch, jobs, keys
from app.redis import describe
from app.store import decode_set, now
from app.web import redis_client, settings
from app.webhook import refusals

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    r = redis_client()
    where = describe(settings())
    try:
        r.ping()
        workers = worker_heartbeats(r)
        dispatchers = dispatch.heartbeats(r, settings().worker_stale_after)
        queues = jobs.depths(r)
        refused = refusals.all_counts(r, sorted(decode_set(r.smembers(keys.platforms()))))
    except redis.RedisError as exc:
        body = {"status": "down", "redis": {"ok": False, "where": where, "error": str(exc)}}
        return jsonify(body), 503
    alive = [w for w in workers if w["alive"]]
    dispatching = [d for d in dispatchers if d["alive"]]
    return jsonify(
        {
            # Without a dispatcher nothing reaches the queues; without a worker nothing leaves.
            "status": "ok" if alive and dispatching else "degraded",
            "redis": {"ok": True, "where": where},
            "wechat_api_base": settings().wechat_api_base,
            "workers": workers,
            "workers_alive": len(alive),
            "dispatchers": dispatchers,
            "dispatchers_alive": len(dispatching),
            "queues": queues,
            "webhook_refusals": refused,
        }
    )


def worker_heartbeats(r: redis.Redis) -> list[dict]:
    stale_after = settings().worker_stale_after
    result = []
    for worker in Worker.all(connection=r):
        beat = worker.last_heartbeat
        age = (now() - beat.replace(tzinfo=now().tzinfo)).total_seconds() if beat else None
        result.append(
            {
                "name": worker.name,
                "state": str(worker.get_state()),
                "queues": worker.queue_names(),
                "last_heartbeat": beat.isoformat(timespec="seconds") if beat else None,
                "alive": age is not None and age <= stale_after,
            }
        )
    return result
