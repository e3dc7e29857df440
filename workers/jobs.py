"""RQ job functions. Each takes ids or plain values and re-reads state from Redis.

A job's signature is a wire format: jobs queued before a deploy run after it, so
parameters are only ever added at the end, as keywords with defaults.
"""

from app import audit
from app.redis import get_redis
from app.settings import get_settings


def trim_audit() -> int:
    """Apply the configured audit retention; with none configured, keep everything."""
    settings = get_settings()
    actor = audit.Actor.system("worker")
    return audit.trim(get_redis(settings), actor, settings.audit_retention_days)


def publish_draft(draft_id: str, version: int, run: int = 0) -> str:
    """Advance the publication of one draft version as far as it goes now (app.publishing).

    ``run`` numbers the runs of one publication; a run superseded by a later one exits.
    """
    from app import publishing

    settings = get_settings()
    return publishing.run(get_redis(settings), draft_id, version, settings=settings, number=run)


def sweep_publications() -> list[str]:
    """Re-queue publications whose job was lost; meant to run every minute or so."""
    from app import publishing

    settings = get_settings()
    return publishing.sweep(get_redis(settings), settings=settings)
