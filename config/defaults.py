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
PUBLIC_URL = None
PREVIEW_TTL = 86400
WECHAT_TIMEOUT = 10
WECHAT_STABLE_TOKEN = None
WECHAT_TOKEN_MARGIN = 300
WECHAT_QUOTA_RESET = "00:00"
PUBLISH_LEASE = 120
PUBLISH_RETRY_BASE = 5
PUBLISH_ATTEMPTS = 8
PUBLISH_JOB_TIMEOUT = 600
