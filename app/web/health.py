"""``GET /healthz``: Redis reachability, worker and dispatcher heartbeats, queue depths.

Anyone may ask whether Qianfa is up (``{"status": ...}``, 503 when Redis is down); only a
caller on this machine that no proxy relayed sees the detail (Redis host, worker names,
queue depths), which maps the deployment for an attacker.
"""

import ipaddress

import redis
from flask import Blueprint, current_app, jsonify, request
from redis.backoff import NoBackoff
from redis.retry import Retry
from rq import Worker

from app.core import keys
from app.core.redis import connect, describe
from app.core.store import decode_set, now
from app.outbox import dispatch
from app.outbox import queues as jobs
from app.web import settings
from app.webhook import refusals

bp = Blueprint("health", __name__)

# The health check waits this long for Redis, once: a monitor needs the answer now, not
# after the 4-8 s of retries with which get_redis() rides out a Redis restart.
PROBE_TIMEOUT = 0.5
PROXY_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Real-IP")


@bp.get("/healthz")
def healthz():
    body, status = report(probe_client())
    if not detailed():
        body = {"status": body["status"]}
    return jsonify(body), status


def detailed() -> bool:
    """Whether the caller is on this machine: a loopback peer, not relayed by a proxy."""
    if any(name in request.headers for name in PROXY_HEADERS):
        return False
    try:
        return ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        return False


def probe_client() -> redis.Redis:
    """This app's Redis client for health checks: short timeouts, no retries."""
    client = current_app.extensions.get("qianfa.health_redis")
    if client is None:
        client = connect(
            settings(),
            socket_timeout=PROBE_TIMEOUT,
            socket_connect_timeout=PROBE_TIMEOUT,
            retry=Retry(NoBackoff(), 0),
        )
        client = current_app.extensions.setdefault("qianfa.health_redis", client)
    return client


def report(r: redis.Redis) -> tuple[dict, int]:
    """The full health report and its HTTP status."""
    where = describe(settings())
    try:
        r.ping()
        workers = worker_heartbeats(r)
        dispatchers = dispatch.heartbeats(r, settings().worker_stale_after)
        queues = jobs.depths(r)
        refused = refusals.all_counts(r, sorted(decode_set(r.smembers(keys.platforms()))))
    except redis.RedisError as exc:
        body = {"status": "down", "redis": {"ok": False, "where": where, "error": str(exc)}}
        return body, 503
    alive = [w for w in workers if w["alive"]]
    dispatching = [d for d in dispatchers if d["alive"]]
    return (
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
        },
        200,
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
