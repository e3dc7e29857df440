"""Settings: ``config/defaults.py`` overridden by ``QIANFA_*`` environment variables.

They are parsed and validated once into a frozen ``Settings``; a bad value raises
``ConfigError`` naming the variable, which the entry points print as one line.
"""

import functools
import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from app.core import egress
from app.core.errors import ConfigError
from config import defaults

PREFIX = "QIANFA_"
REDIS_SCHEMES = ("redis", "rediss", "unix")
MASTER_KEY_TEXT = re.compile(r"[A-Za-z0-9_-]{43}=?")
MASTER_KEY_FORMAT = "应为 32 字节随机数的 url-safe base64 文本(44 个字符)"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
PLATFORM_ID = re.compile(r"[a-z][a-z0-9-]{1,31}")  # the rule of app.registry.platforms.PLATFORM_ID
CLOCK_TIME = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")
ALL_PLATFORMS = "*"


@dataclass(frozen=True)
class Settings:
    redis_url: str | None
    instance_dir: Path
    host: str
    port: int
    web_workers: int
    web_threads: int
    master_key: str | None
    master_key_file: Path
    bind_code_ttl: int
    audit_retention_days: int
    audit_anchor_file: Path
    audit_anchor_interval: int
    worker_stale_after: int
    wechat_api_base: str
    wechat_configured: bool
    sandbox_port: int
    log_level: str
    public_url: str
    preview_ttl: int
    wechat_timeout: float
    wechat_stable_token: tuple[str, ...]
    wechat_token_margin: int
    wechat_quota_reset: str
    review_remind_after: int
    review_escalate_after: int
    review_scan_interval: int
    alert_fold_window: int
    screening_dir: Path
    webhook_timestamp_window: int
    webhook_max_body: int
    webhook_dedup_ttl: int
    webhook_retry_wait: float
    webhook_forward_timeout: float
    webhook_refusal_window: int
    webhook_audit_refusals: int
    webhook_forged_alert: int
    publish_lease: float
    publish_retry_base: float
    publish_attempts: int
    publish_job_timeout: int
    console_idle_timeout: int
    console_signin_attempts: int
    console_signin_address_attempts: int
    console_signin_window: int
    fetch_allow: egress.Allow
    upload_quota_count: int
    upload_quota_bytes: int
    upload_unused_ttl: int
    console_signin_delay: int
    console_refusal_window: int
    console_audit_refusals: int
    refiling_remind_after: int
    trusted_proxies: int
    reconcile_interval: int
    manual_report_after: int
    feed_poll_interval: int
    feed_failing_after: int
    alert_escalate_after: int
    dormant_days: int
    daily_report_at: str
    approval_ttl: int
    picture_ocr: bool
    picture_ocr_timeout: float
    metrics_token_sha256: str | None
    redis_sentinels: tuple[tuple[str, int], ...]
    redis_service: str | None
    redis_password: str | None
    redis_min_replicas: int
    redis_replica_timeout: float

    def uses_stable_token(self, platform_id: str) -> bool:
        """Whether this platform fetches its access token with ``/cgi-bin/stable_token``."""
        stable = self.wechat_stable_token
        return ALL_PLATFORMS in stable or platform_id in stable

    def __repr__(self) -> str:
        shown = dict(self.__dict__)
        shown["master_key"] = "<sealed>" if self.master_key else None
        shown["redis_url"] = without_password(self.redis_url) if self.redis_url else None
        shown["redis_password"] = "<sealed>" if self.redis_password else None
        return f"Settings({shown})"


def without_password(url: str) -> str:
    """The URL with any password replaced, for messages and logs."""
    parsed = urlparse(url)
    if parsed.password is None:
        return url
    netloc = parsed.netloc.replace(f":{parsed.password}@", ":<sealed>@", 1)
    return parsed._replace(netloc=netloc).geturl()


def parse_int(name: str, raw: str, *, low: int, high: int) -> int:
    try:
        value = int(raw.strip())
    except ValueError:
        raise ConfigError(f"{PREFIX}{name}: 需要整数,收到 {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{PREFIX}{name}: 需要 {low}–{high} 之间的整数,收到 {value}")
    return value


def parse_float(name: str, raw: str, *, low: float, high: float) -> float:
    try:
        value = float(raw.strip())
    except ValueError:
        raise ConfigError(f"{PREFIX}{name}: 需要数字,收到 {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{PREFIX}{name}: 需要 {low:g}–{high:g} 之间的数字,收到 {value:g}")
    return value


def parse_redis_url(name: str, raw: str) -> str:
    scheme = urlparse(raw).scheme
    if scheme not in REDIS_SCHEMES:
        shown = repr(scheme) if scheme else "(缺少协议)"
        raise ConfigError(
            f"{PREFIX}{name}: 不支持的协议 {shown},应为 redis://、rediss:// 或 unix://"
        )
    return raw


def parse_http_url(name: str, raw: str) -> str:
    parsed = urlparse(raw)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ConfigError(f"{PREFIX}{name}: 需要 http(s):// 开头的网址,收到 {raw!r}")
    return raw.rstrip("/")


def parse_seconds(name: str, raw: str, *, low: float, high: float) -> float:
    try:
        value = float(raw.strip())
    except ValueError:
        raise ConfigError(f"{PREFIX}{name}: 需要秒数,收到 {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{PREFIX}{name}: 需要 {low}–{high} 之间的秒数,收到 {raw!r}")
    return value


def parse_platform_list(name: str, raw: str) -> tuple[str, ...]:
    """Comma-separated platform ids, or ``*`` for every platform; empty for none."""
    items = tuple(dict.fromkeys(part.strip().lower() for part in raw.split(",") if part.strip()))
    if items == (ALL_PLATFORMS,):
        return items
    for item in items:
        if not PLATFORM_ID.fullmatch(item):
            raise ConfigError(
                f"{PREFIX}{name}: 应为逗号分隔的平台标识,或 * 表示全部平台,收到 {item[:40]!r}"
            )
    return items


def parse_clock_time(name: str, raw: str) -> str:
    value = raw.strip()
    if not CLOCK_TIME.fullmatch(value):
        raise ConfigError(f"{PREFIX}{name}: 需要 HH:MM 格式的北京时间,收到 {raw!r}")
    return value


def parse_choice(name: str, raw: str, choices: tuple[str, ...]) -> str:
    value = raw.strip().upper()
    if value not in choices:
        raise ConfigError(f"{PREFIX}{name}: 应为 {'/'.join(choices)} 之一,收到 {raw!r}")
    return value


def parse_directory(name: str, raw: str | None) -> Path:
    """An existing directory; unset means the sample shipped in ``config/screening``."""
    if raw is None:
        return Path(defaults.__file__).resolve().parent / "screening"
    path = Path(raw).expanduser().absolute()
    if not path.is_dir():
        raise ConfigError(f"{PREFIX}{name}: 找不到目录 {raw}")
    return path


def load_settings(environ=None) -> Settings:
    """Read every setting from ``environ`` (default ``os.environ``) over the defaults."""
    environ = os.environ if environ is None else environ

    def raw(name: str):
        value = environ.get(PREFIX + name)
        if value is None or value == "":
            default = getattr(defaults, name)
            return None if default is None else str(default)
        return value

    redis_url = raw("REDIS_URL")
    instance_dir = Path(raw("INSTANCE_DIR")).expanduser().absolute()
    master_key, master_key_file = raw("MASTER_KEY"), raw("MASTER_KEY_FILE")
    if master_key and master_key_file:
        raise ConfigError(f"{PREFIX}MASTER_KEY 与 {PREFIX}MASTER_KEY_FILE 只能设置一个")
    if master_key and not MASTER_KEY_TEXT.fullmatch(master_key.strip()):
        raise ConfigError(f"{PREFIX}MASTER_KEY: 主密钥格式错误,{MASTER_KEY_FORMAT}")
    if master_key_file and not Path(master_key_file).expanduser().is_file():
        raise ConfigError(f"{PREFIX}MASTER_KEY_FILE: 找不到主密钥文件 {master_key_file}")
    return Settings(
        redis_url=parse_redis_url("REDIS_URL", redis_url) if redis_url else None,
        instance_dir=instance_dir,
        host=raw("HOST"),
        port=parse_int("PORT", raw("PORT"), low=1, high=65535),
        web_workers=parse_int("WEB_WORKERS", raw("WEB_WORKERS"), low=1, high=64),
        web_threads=parse_int("WEB_THREADS", raw("WEB_THREADS"), low=1, high=256),
        master_key=master_key,
        master_key_file=(
            Path(master_key_file).expanduser().absolute()
            if master_key_file
            else instance_dir / "master.key"
        ),
        bind_code_ttl=parse_int("BIND_CODE_TTL", raw("BIND_CODE_TTL"), low=60, high=30 * 86400),
        audit_retention_days=parse_int(
            "AUDIT_RETENTION_DAYS", raw("AUDIT_RETENTION_DAYS"), low=0, high=100 * 365
        ),
        **_audit_anchor_settings(raw, instance_dir),
        worker_stale_after=parse_int(
            "WORKER_STALE_AFTER", raw("WORKER_STALE_AFTER"), low=5, high=3600
        ),
        wechat_api_base=parse_http_url("WECHAT_API_BASE", raw("WECHAT_API_BASE")),
        wechat_configured=bool(environ.get(PREFIX + "WECHAT_API_BASE")),
        sandbox_port=parse_int("SANDBOX_PORT", raw("SANDBOX_PORT"), low=1, high=65535),
        log_level=parse_choice("LOG_LEVEL", raw("LOG_LEVEL"), LOG_LEVELS),
        public_url=parse_http_url("PUBLIC_URL", raw("PUBLIC_URL") or _local_url(raw)),
        preview_ttl=parse_int("PREVIEW_TTL", raw("PREVIEW_TTL"), low=60, high=30 * 86400),
        wechat_timeout=parse_seconds("WECHAT_TIMEOUT", raw("WECHAT_TIMEOUT"), low=0.1, high=300),
        wechat_stable_token=parse_platform_list(
            "WECHAT_STABLE_TOKEN", raw("WECHAT_STABLE_TOKEN") or ""
        ),
        wechat_token_margin=parse_int(
            "WECHAT_TOKEN_MARGIN", raw("WECHAT_TOKEN_MARGIN"), low=0, high=3600
        ),
        wechat_quota_reset=parse_clock_time("WECHAT_QUOTA_RESET", raw("WECHAT_QUOTA_RESET")),
        screening_dir=parse_directory("SCREENING_DIR", raw("SCREENING_DIR")),
        **_webhook_settings(raw),
        **_review_timing(raw),
        **_console_settings(raw),
        **_egress_settings(raw),
        alert_fold_window=parse_int(
            "ALERT_FOLD_WINDOW", raw("ALERT_FOLD_WINDOW"), low=0, high=86400
        ),
        publish_lease=parse_seconds("PUBLISH_LEASE", raw("PUBLISH_LEASE"), low=0.5, high=3600),
        publish_retry_base=parse_seconds(
            "PUBLISH_RETRY_BASE", raw("PUBLISH_RETRY_BASE"), low=0.01, high=3600
        ),
        publish_attempts=parse_int("PUBLISH_ATTEMPTS", raw("PUBLISH_ATTEMPTS"), low=1, high=100),
        publish_job_timeout=parse_int(
            "PUBLISH_JOB_TIMEOUT", raw("PUBLISH_JOB_TIMEOUT"), low=10, high=3600
        ),
        reconcile_interval=parse_int(
            "RECONCILE_INTERVAL", raw("RECONCILE_INTERVAL"), low=1, high=86400
        ),
        **_manual_settings(raw),
        refiling_remind_after=parse_int(
            "REFILING_REMIND_AFTER", raw("REFILING_REMIND_AFTER"), low=60, high=90 * 86400
        ),
        alert_escalate_after=parse_int(
            "ALERT_ESCALATE_AFTER", raw("ALERT_ESCALATE_AFTER"), low=1, high=30 * 86400
        ),
        dormant_days=parse_int("DORMANT_DAYS", raw("DORMANT_DAYS"), low=1, high=3650),
        daily_report_at=parse_clock_time("DAILY_REPORT_AT", raw("DAILY_REPORT_AT")),
        approval_ttl=parse_int("APPROVAL_TTL", raw("APPROVAL_TTL"), low=60, high=365 * 86400),
        **_picture_settings(raw),
        metrics_token_sha256=parse_sha256("METRICS_TOKEN_SHA256", raw("METRICS_TOKEN_SHA256")),
        **_sentinel_settings(raw, redis_url),
    )


def parse_sha256(name: str, raw: str | None) -> str | None:
    """A SHA-256 digest in hex (a bearer token's, never the token itself), or None."""
    if not raw:
        return None
    value = raw.strip().lower()
    if not re.fullmatch(r"[0-9a-f]{64}", value):
        raise ConfigError(f"{PREFIX}{name}: 需要 64 位十六进制的 SHA-256 摘要")
    return value


def parse_addresses(name: str, raw: str) -> tuple[tuple[str, int], ...]:
    """Comma-separated ``host:port`` pairs (``[v6]:port`` for IPv6), in the order given."""
    found = []
    for item in filter(None, (part.strip() for part in raw.split(","))):
        host, _, port = item.rpartition(":")
        host = host.removeprefix("[").removesuffix("]")
        if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
            raise ConfigError(f"{PREFIX}{name}: 应为逗号分隔的 主机:端口,收到 {item[:60]!r}")
        found.append((host, int(port)))
    return tuple(dict.fromkeys(found))


def _sentinel_settings(raw, redis_url: str | None) -> dict:
    """Redis found through Sentinel, and how many replicas must confirm a sign-off.

    One way to name the Redis: a URL, or Sentinel with its service, never both.
    """
    sentinels = parse_addresses("REDIS_SENTINELS", raw("REDIS_SENTINELS") or "")
    service = (raw("REDIS_SERVICE") or "").strip() or None
    if sentinels and redis_url:
        raise ConfigError(f"{PREFIX}REDIS_SENTINELS 与 {PREFIX}REDIS_URL 只能设置一个")
    if sentinels and not service:
        raise ConfigError(f"{PREFIX}REDIS_SENTINELS 需要同时设置 {PREFIX}REDIS_SERVICE(主库名)")
    if service and not sentinels:
        raise ConfigError(f"{PREFIX}REDIS_SERVICE 只在设置了 {PREFIX}REDIS_SENTINELS 时使用")
    if raw("REDIS_PASSWORD") and not sentinels:
        raise ConfigError(f"{PREFIX}REDIS_PASSWORD 只用于 Sentinel;否则请写在 {PREFIX}REDIS_URL 中")
    return {
        "redis_sentinels": sentinels,
        "redis_service": service,
        "redis_password": raw("REDIS_PASSWORD") or None,
        "redis_min_replicas": parse_int(
            "REDIS_MIN_REPLICAS", raw("REDIS_MIN_REPLICAS"), low=0, high=16
        ),
        "redis_replica_timeout": parse_seconds(
            "REDIS_REPLICA_TIMEOUT", raw("REDIS_REPLICA_TIMEOUT"), low=0.01, high=4
        ),  # under the 5 s socket timeout, and WeChat's 5 s for a chat reply
    }


def _manual_settings(raw) -> dict[str, int]:
    """Platforms without a publishing API: the report reminder and the feed polling."""

    def integer(name: str, low: int, high: int) -> int:
        return parse_int(name, raw(name), low=low, high=high)

    return {
        "manual_report_after": integer("MANUAL_REPORT_AFTER", 60, 30 * 86400),
        "feed_poll_interval": integer("FEED_POLL_INTERVAL", 10, 86400),
        "feed_failing_after": integer("FEED_FAILING_AFTER", 60, 30 * 86400),
    }


def _picture_settings(raw) -> dict:
    """Text in pictures: whether the pictures worker reads them, and the limit per picture."""
    return {
        "picture_ocr": parse_choice("PICTURE_OCR", raw("PICTURE_OCR"), ("ON", "OFF")) == "ON",
        "picture_ocr_timeout": parse_seconds(
            "PICTURE_OCR_TIMEOUT", raw("PICTURE_OCR_TIMEOUT"), low=1, high=3600
        ),
    }


def _audit_anchor_settings(raw, instance_dir: Path) -> dict:
    """Where the audit chain's anchors are appended (outside Redis), and how often."""
    path = raw("AUDIT_ANCHOR_FILE")
    interval = raw("AUDIT_ANCHOR_INTERVAL")
    return {
        "audit_anchor_file": (
            Path(path).expanduser().absolute() if path else instance_dir / "audit-anchors"
        ),
        "audit_anchor_interval": parse_int("AUDIT_ANCHOR_INTERVAL", interval, low=10, high=86400),
    }


def _review_timing(raw) -> dict[str, int]:
    """When a waiting review is reminded and escalated; escalation never comes first."""
    week = 7 * 86400
    remind = parse_int("REVIEW_REMIND_AFTER", raw("REVIEW_REMIND_AFTER"), low=60, high=week)
    escalate = parse_int(
        "REVIEW_ESCALATE_AFTER", raw("REVIEW_ESCALATE_AFTER"), low=60, high=4 * week
    )
    if escalate < remind:
        raise ConfigError(
            f"{PREFIX}REVIEW_ESCALATE_AFTER({escalate})"
            f"不能短于 {PREFIX}REVIEW_REMIND_AFTER({remind})"
        )
    scan = parse_int("REVIEW_SCAN_INTERVAL", raw("REVIEW_SCAN_INTERVAL"), low=10, high=86400)
    return {
        "review_remind_after": remind,
        "review_escalate_after": escalate,
        "review_scan_interval": scan,
    }


def _console_settings(raw) -> dict[str, int]:
    """The web console's idle session expiry, its sign-in limits and the proxies it trusts."""

    def integer(name: str, low: int, high: int) -> int:
        return parse_int(name, raw(name), low=low, high=high)

    return {
        "console_idle_timeout": integer("CONSOLE_IDLE_TIMEOUT", 60, 7 * 86400),
        "console_signin_attempts": integer("CONSOLE_SIGNIN_ATTEMPTS", 1, 1000),
        "console_signin_address_attempts": integer("CONSOLE_SIGNIN_ADDRESS_ATTEMPTS", 1, 100_000),
        "console_signin_window": integer("CONSOLE_SIGNIN_WINDOW", 10, 86400),
        "console_signin_delay": integer("CONSOLE_SIGNIN_DELAY", 1, 86400),
        "console_refusal_window": integer("CONSOLE_REFUSAL_WINDOW", 10, 86400),
        "console_audit_refusals": integer("CONSOLE_AUDIT_REFUSALS", 1, 10_000),
        "trusted_proxies": integer("TRUSTED_PROXIES", 0, 10),
    }


def _egress_settings(raw) -> dict:
    """Where fetches of URLs people supply may go, and how much a person may upload."""
    try:
        allow = egress.Allow.parse(raw("FETCH_ALLOW") or "")
    except ValueError as exc:
        raise ConfigError(f"{PREFIX}FETCH_ALLOW: {exc}") from None

    def integer(name: str, low: int, high: int) -> int:
        return parse_int(name, raw(name), low=low, high=high)

    return {
        "fetch_allow": allow,
        "upload_quota_count": integer("UPLOAD_QUOTA_COUNT", 1, 100_000),
        "upload_quota_bytes": integer("UPLOAD_QUOTA_BYTES", 1024 * 1024, 100 * 1024**3),
        "upload_unused_ttl": integer("UPLOAD_UNUSED_TTL", 60, 365 * 86400),
    }


def _local_url(raw) -> str:
    """Where the web process listens, for links when no public address is configured."""
    port = parse_int("PORT", raw("PORT"), low=1, high=65535)
    return f"http://{raw('HOST')}:{port}"


def _webhook_settings(raw) -> dict:
    """The callback endpoint's limits; WeChat gives up on an answer after 5 seconds."""

    def integer(name: str, low: int, high: int) -> int:
        return parse_int(name, raw(name), low=low, high=high)

    def seconds(name: str, low: float, high: float) -> float:
        return parse_float(name, raw(name), low=low, high=high)

    return {
        "webhook_timestamp_window": integer("WEBHOOK_TIMESTAMP_WINDOW", 10, 3600),
        "webhook_max_body": integer("WEBHOOK_MAX_BODY", 1024, 10 * 1024 * 1024),
        "webhook_dedup_ttl": integer("WEBHOOK_DEDUP_TTL", 60, 7 * 86400),
        "webhook_retry_wait": seconds("WEBHOOK_RETRY_WAIT", 0, 4.5),
        "webhook_forward_timeout": seconds("WEBHOOK_FORWARD_TIMEOUT", 0.1, 4.5),
        "webhook_refusal_window": integer("WEBHOOK_REFUSAL_WINDOW", 10, 86400),
        "webhook_audit_refusals": integer("WEBHOOK_AUDIT_REFUSALS", 1, 10_000),
        "webhook_forged_alert": integer("WEBHOOK_FORGED_ALERT", 1, 1_000_000),
    }


@functools.cache
def get_settings() -> Settings:
    """The settings of this process, read from the environment on first use."""
    return load_settings()
