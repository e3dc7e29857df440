"""Defaults for every Qianfa setting.

Each name here is overridden by the environment variable ``QIANFA_<NAME>``; see
``config/qianfa.example.env`` for what each one means. ``None`` means "not set".
"""

REDIS_URL = None
INSTANCE_DIR = "instance"
HOST = "127.0.0.1"
PORT = 8000
WEB_WORKERS = 2
MASTER_KEY = None
MASTER_KEY_FILE = None
BIND_CODE_TTL = 86400
AUDIT_RETENTION_DAYS = 0
WORKER_STALE_AFTER = 60
WECHAT_API_BASE = "https://api.weixin.qq.com"
SANDBOX_PORT = 8100
LOG_LEVEL = "INFO"
WEBHOOK_TIMESTAMP_WINDOW = 300
WEBHOOK_MAX_BODY = 65536
WEBHOOK_DEDUP_TTL = 3600
WEBHOOK_RETRY_WAIT = 3.0
WEBHOOK_FORWARD_TIMEOUT = 3.0
WEBHOOK_REFUSAL_WINDOW = 60
WEBHOOK_AUDIT_REFUSALS = 20
WEBHOOK_FORGED_ALERT = 10
