"""Defaults for every Qianfa setting.

Each name here is overridden by the environment variable ``QIANFA_<NAME>``; see
``config/qianfa.example.env`` for what each one means. ``None`` means "not set".
"""

REDIS_URL = None
REDIS_SENTINELS = None
REDIS_SERVICE = None
REDIS_PASSWORD = None
REDIS_MIN_REPLICAS = 0
REDIS_REPLICA_TIMEOUT = 1
INSTANCE_DIR = "instance"
HOST = "127.0.0.1"
PORT = 8000
WEB_WORKERS = 2
WEB_THREADS = 4
MASTER_KEY = None
MASTER_KEY_FILE = None
BIND_CODE_TTL = 86400
AUDIT_RETENTION_DAYS = 0
AUDIT_ANCHOR_FILE = None
AUDIT_ANCHOR_INTERVAL = 300
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
SCREENING_DIR = None
WEBHOOK_TIMESTAMP_WINDOW = 300
WEBHOOK_MAX_BODY = 65536
WEBHOOK_DEDUP_TTL = 3600
WEBHOOK_RETRY_WAIT = 3.0
WEBHOOK_FORWARD_TIMEOUT = 3.0
WEBHOOK_REFUSAL_WINDOW = 60
WEBHOOK_AUDIT_REFUSALS = 20
WEBHOOK_FORGED_ALERT = 10
REVIEW_REMIND_AFTER = 14400
REVIEW_ESCALATE_AFTER = 86400
REVIEW_SCAN_INTERVAL = 300
ALERT_FOLD_WINDOW = 600
PUBLISH_LEASE = 120
PUBLISH_RETRY_BASE = 5
PUBLISH_ATTEMPTS = 8
PUBLISH_JOB_TIMEOUT = 600
CONSOLE_IDLE_TIMEOUT = 1800
CONSOLE_SIGNIN_ATTEMPTS = 5
CONSOLE_SIGNIN_ADDRESS_ATTEMPTS = 20
CONSOLE_SIGNIN_WINDOW = 900
FETCH_ALLOW = None
UPLOAD_QUOTA_COUNT = 100
UPLOAD_QUOTA_BYTES = 50 * 1024 * 1024
UPLOAD_UNUSED_TTL = 7 * 86400
# After CONSOLE_SIGNIN_ATTEMPTS failures of one account from one address: wait this many
# seconds, doubled with every further failure, at most CONSOLE_SIGNIN_WINDOW.
CONSOLE_SIGNIN_DELAY = 60
CONSOLE_REFUSAL_WINDOW = 60
CONSOLE_AUDIT_REFUSALS = 20
# Reverse proxies in front of Qianfa whose X-Forwarded-For is believed (0: none).
TRUSTED_PROXIES = 0
# Seconds between two reconciliations of what is online with what was approved.
RECONCILE_INTERVAL = 300
# Platforms without a publishing API (art. 2): remind the administrator of an approved
# draft not reported as published after this many seconds; poll their feeds this often;
# show a feed as failing after it has failed this long.
MANUAL_REPORT_AFTER = 86400
FEED_POLL_INTERVAL = 900
FEED_FAILING_AFTER = 86400
# Seconds an open re-filing (art. 6: 及时) may wait before the propaganda department is reminded.
REFILING_REMIND_AFTER = 259200
# Seconds an alert may stay open before it goes to the leading group (领导小组) too.
ALERT_ESCALATE_AFTER = 86400
# Days without a publication after which a running platform counts as dormant (僵尸号).
DORMANT_DAYS = 90
# When (Beijing time, HH:MM) the propaganda department gets the daily report on yesterday.
DAILY_REPORT_AT = "08:00"
# Seconds an approval stands (art. 14): a draft not published this long after its last
# sign-off (or its scheduled time, if later) goes back to review.
APPROVAL_TTL = 604800
# Text in pictures (art. 10: "文字、图片、音像视频"): read with OCR in the pictures worker,
# each picture within this many seconds. "off" reads none and approval does not wait for it.
PICTURE_OCR = "on"
PICTURE_OCR_TIMEOUT = 60
# /metrics to a bearer token whose SHA-256 (hex) this is; unset: to this machine only.
METRICS_TOKEN_SHA256 = None
