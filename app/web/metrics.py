"""``GET /metrics``: Prometheus's text format, for the operator's Prometheus only.

Counters come from every process's files (``app.core.metrics``, multiprocess mode), added
up here; the state (drafts by status, queue depths, open alerts, the audit chain) is read
from Redis at each scrape (``app.channels.gauges``), with the health check's short-timeout
client, so a scrape with Redis down answers at once with ``qianfa_redis_up 0``.

Not public: the figures map the deployment and its traffic. A caller on this machine that
no proxy relayed (the rule of ``/healthz``'s detail) may read them, or a caller sending
``Authorization: Bearer <token>`` whose SHA-256 is ``QIANFA_METRICS_TOKEN_SHA256``,
compared in constant time; only the digest is configured, so the setting reveals nothing.
"""

import hashlib
import hmac

import redis
from flask import Blueprint, Response, request

from app.channels import gauges
from app.core import metrics
from app.core.errors import Forbidden
from app.web import health, settings

bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
def scrape():
    if not allowed():
        raise Forbidden("无权读取运行指标")
    from prometheus_client import (
        CONTENT_TYPE_LATEST,
        REGISTRY,
        CollectorRegistry,
        generate_latest,
        multiprocess,
    )

    registry = CollectorRegistry()
    if metrics.directory():
        multiprocess.MultiProcessCollector(registry)
    else:  # one process (tests in-process): its own counters
        registry.register(Delegate(REGISTRY))
    registry.register(RedisState(health.probe_client()))
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)


def allowed() -> bool:
    """A bearer token that matches the configured digest, else a local unproxied caller."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        expected = settings().metrics_token_sha256
        digest = hashlib.sha256(token.strip().encode()).hexdigest()
        return bool(expected) and hmac.compare_digest(digest, expected)
    return health.detailed()


class Delegate:
    def __init__(self, registry):
        self.registry = registry

    def collect(self):
        return self.registry.collect()


class RedisState:
    """The gauges read from Redis; ``qianfa_redis_up 0`` alone when Redis does not answer."""

    def __init__(self, r: redis.Redis):
        self.r = r

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily as Gauge

        up = Gauge("qianfa_redis_up", "Whether Redis answered this scrape")
        try:
            found = self.read()
        except redis.RedisError:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        drafts = Gauge("qianfa_drafts", "Drafts by status", labels=["status"])
        for status, count in found["drafts"].items():
            drafts.add_metric([status], count)
        jobs = Gauge("qianfa_queue_jobs", "RQ jobs by queue and state", labels=["queue", "state"])
        for (name, state), count in found["queues"].items():
            jobs.add_metric([name, state], count)
        alerts = Gauge("qianfa_alerts_open", "Open (unresolved) alerts by kind", labels=["kind"])
        for kind, count in found["alerts"].items():
            alerts.add_metric([kind], count)
        yield from (drafts, jobs, alerts)
        yield from self.chain(found["audit"])

    def read(self) -> dict:
        return {
            "drafts": gauges.drafts_by_status(self.r),
            "queues": gauges.queue_depths(self.r),
            "alerts": gauges.open_alerts(self.r),
            "audit": gauges.audit_chain(self.r, settings()),
        }

    @staticmethod
    def chain(audit: dict):
        from prometheus_client.core import GaugeMetricFamily as Gauge

        names = {
            "length": ("qianfa_audit_records", "Records in the audit chain (head sequence)"),
            "anchor_seq": ("qianfa_audit_anchor_seq", "Sequence number of the newest anchor"),
            "anchor_time": ("qianfa_audit_anchor_time_seconds", "When the newest anchor was made"),
        }
        for field, value in audit.items():
            name, doc = names[field]
            yield Gauge(name, doc, value=value)
