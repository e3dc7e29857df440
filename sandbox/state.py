"""The simulated WeChat's memory: accounts, followers, chats and everything they created.

One ``World`` per sandbox app. API views, the control API and the job thread all read and
write it under ``world.lock``; callbacks (network I/O) never run while the lock is held.
Records an account creates through the API (drafts, publish jobs, articles, mass sends) are
plain dicts shaped like WeChat's JSON, so the control API can show them as they are.
"""

import random
import string
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from sandbox.config import Clock, SandboxConfig
from sandbox.crypto import CryptoError, aes_key
from sandbox.faults import Faults
from sandbox.jobs import Scheduler

ENCRYPT_MODES = ("plaintext", "compatible", "safe")
MODE_NAMES = {"plaintext": "明文模式", "compatible": "兼容模式", "safe": "安全模式"}
ACCOUNT_KINDS = ("service", "subscription")  # 服务号, 公众号 (formerly 订阅号)
ROLES = ("follower", "staff")
URLSAFE = string.ascii_letters + string.digits + "-_"
ID_BASES = {
    "msg": 24_560_000_000_000_000,  # MsgId of what users send
    "mass": 1_000_000_001,  # msg_id of mass sends
    "msg_data": 2_247_400_001,  # msg_data_id
    "publish": 2_247_500_001,  # publish_id
    "template": 2_000_000_001,  # msgid of template messages
    "delivery": 1,  # the sandbox's own numbering of callbacks
}


def msg_id_floor() -> int:
    """Where MsgIds start: 64-bit and from the wall clock (100 000 per millisecond), so a
    restarted sandbox never hands out a MsgId that Qianfa's duplicate cache still holds."""
    return int(time.time() * 1000) * 100_000


class StateError(ValueError):
    """A control-API request that does not fit the current state; shown to the user."""


@dataclass
class Window:
    """A span during which the account may push customer-service messages to one user."""

    opened_at: float
    span: int
    limit: int
    used: int = 0

    def is_open(self, now: float) -> bool:
        return now < self.opened_at + self.span


@dataclass
class User:
    """A simulated WeChat user of one account: a follower, or staff who review drafts."""

    openid: str
    nickname: str
    role: str = "follower"
    tags: list[int] = field(default_factory=list)
    wxname: str = ""
    subscribed: bool = True
    refuses_templates: bool = False
    windows: dict[str, Window] = field(default_factory=dict)
    chat: list[dict] = field(default_factory=list)

    def note(self, at: float, direction: str, via: str, **content) -> dict:
        """Add a line to the chat: ``direction`` is "sent" (by the user) or "received"."""
        entry = {"at": int(at), "direction": direction, "via": via, **content}
        self.chat.append(entry)
        return entry

    def to_dict(self, with_chat: bool = True) -> dict:
        data = {
            "openid": self.openid,
            "nickname": self.nickname,
            "role": self.role,
            "tags": self.tags,
            "wxname": self.wxname,
            "subscribed": self.subscribed,
            "refuses_templates": self.refuses_templates,
        }
        if with_chat:
            data["chat"] = self.chat
        return data


SETTABLE = {
    "secret": str,
    "token": str,
    "encoding_aes_key": str,
    "server_url": str,
    "encrypt_mode": str,
    "name": str,
    "original_id": str,
    "kind": str,
    "verified": bool,
    "ip_whitelist": list,
    "quotas": dict,
    "publish_outcomes": list,
}


@dataclass
class Account:
    """One official account (公众号/服务号) with its developer settings and its data."""

    appid: str
    secret: str
    token: str = ""
    encoding_aes_key: str = ""
    server_url: str = ""
    encrypt_mode: str = "plaintext"
    name: str = ""
    original_id: str = ""
    kind: str = "service"
    verified: bool = True
    ip_whitelist: list[str] = field(default_factory=list)
    quotas: dict[str, int] = field(default_factory=dict)
    publish_outcomes: list[int] = field(default_factory=list)
    users: dict[str, User] = field(default_factory=dict)
    templates: dict[str, dict] = field(default_factory=dict)
    materials: dict[str, dict] = field(default_factory=dict)
    drafts: dict[str, dict] = field(default_factory=dict)
    publish_jobs: dict[str, dict] = field(default_factory=dict)
    articles: dict[str, dict] = field(default_factory=dict)
    mass_sends: dict[str, dict] = field(default_factory=dict)
    template_sends: dict[str, dict] = field(default_factory=dict)
    client_msg_ids: dict[tuple, tuple[int, float]] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)
    quota_clears: dict[str, int] = field(default_factory=dict)
    tokens: dict = field(default_factory=dict)
    deliveries: deque = field(default_factory=lambda: deque(maxlen=500))

    def configure(self, changes: dict) -> None:
        """Change developer settings from the control API, checking names and values."""
        for name, value in changes.items():
            if name not in SETTABLE:
                raise StateError(f"不能修改的字段 {name}")
            if not isinstance(value, SETTABLE[name]):
                raise StateError(f"字段 {name} 的类型应为 {SETTABLE[name].__name__}")
        merged = {name: changes.get(name, getattr(self, name)) for name in SETTABLE}
        check_settings(merged)
        for name, value in changes.items():
            setattr(self, name, value)

    def user(self, openid: str) -> User | None:
        return self.users.get(openid)

    def settings(self) -> dict:
        return {"appid": self.appid, **{name: getattr(self, name) for name in SETTABLE}}

    def summary(self) -> dict:
        return {
            **self.settings(),
            "users": len(self.users),
            "drafts": len(self.drafts),
            "articles": len(self.articles),
            "mass_sends": len(self.mass_sends),
        }


def check_settings(settings: dict) -> None:
    if settings["encrypt_mode"] not in ENCRYPT_MODES:
        raise StateError(f"encrypt_mode 只能是 {'、'.join(ENCRYPT_MODES)}")
    if settings["kind"] not in ACCOUNT_KINDS:
        raise StateError(f"kind 只能是 {'、'.join(ACCOUNT_KINDS)}")
    if settings["encrypt_mode"] != "plaintext" or settings["encoding_aes_key"]:
        try:
            aes_key(settings["encoding_aes_key"])
        except CryptoError as exc:
            raise StateError("EncodingAESKey 必须是 43 位字母或数字") from exc
    if not all(code in (0, 2, 3, 4) for code in settings["publish_outcomes"]):
        raise StateError("publish_outcomes 只能包含 0、2、3、4,例如 [3, 0]")


class World:
    """All accounts of one sandbox, their tokens, the faults in force and the clock."""

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig()
        self.lock = threading.RLock()
        self.clock = Clock()
        self.scheduler = Scheduler()
        self.executor = ThreadPoolExecutor(max_workers=8, thread_name_prefix="sandbox-callback")
        self.stopping = threading.Event()
        self.in_flight = 0
        self.on_close: list = []  # called once when the sandbox stops (``persist``)
        self.pictures: dict[str, bytes] = {}  # pictures users sent, unless kept on disk
        self.picture_dir = None  # a Path once ``persist`` keeps the world on disk
        self.reset(self.config.seed)

    def close(self) -> None:
        """Stop the job thread and the callback workers, and wake any hanging fault."""
        self.stopping.set()
        for hook in self.on_close:
            hook()
        self.on_close = []
        self.scheduler.stop()
        self.executor.shutdown(wait=False, cancel_futures=True)

    def busy(self) -> int:
        """Jobs and callbacks still under way; tests wait for zero instead of sleeping."""
        return self.scheduler.pending() + self.in_flight

    def reset(self, seed: int) -> None:
        """Forget every account, rule and pending job; ids and random choices restart from ``seed``.

        A job or callback of the old world that is already running finds its account gone
        (``holds``) and stops, so it cannot reach the new world's server with an id that
        the new world will hand out again.
        """
        self.scheduler.clear()
        self.config.seed = seed
        self.accounts: dict[str, Account] = {}
        self.tokens: dict[str, object] = {}
        self.faults = Faults(seed)
        self.rng = random.Random(seed)
        self.counters = dict(ID_BASES)
        self.counters["msg"] = max(ID_BASES["msg"], msg_id_floor())

    def now(self) -> float:
        return self.clock.now()

    def next_id(self, kind: str) -> int:
        with self.lock:
            self.counters[kind] += 1
            return self.counters[kind] - 1

    def random_text(self, length: int, alphabet: str = URLSAFE) -> str:
        return "".join(self.rng.choice(alphabet) for _ in range(length))

    def new_openid(self) -> str:
        # OpenIDs are 28 characters: wechatpy's OPENID_RE tells them from WeChat ids by that.
        return "o" + self.random_text(27)

    def account(self, appid: str) -> Account | None:
        return self.accounts.get(appid)

    def holds(self, account: Account) -> bool:
        """Whether ``account`` is still part of this world (not dropped by a reset)."""
        return self.accounts.get(account.appid) is account

    def add_account(self, spec: dict) -> Account:
        appid, secret = spec.get("appid"), spec.get("secret")
        if not isinstance(appid, str) or not isinstance(secret, str) or not appid or not secret:
            raise StateError("appid 和 secret 必填")
        if appid in self.accounts:
            raise StateError(f"账号 {appid} 已存在")
        account = Account(appid=appid, secret=secret)
        account.original_id = "gh_" + self.random_text(12, "0123456789abcdef")
        account.name = appid
        account.configure({key: value for key, value in spec.items() if key not in ("appid",)})
        self.accounts[appid] = account
        return account

    def add_user(self, account: Account, spec: dict) -> User:
        openid = spec.get("openid") or self.new_openid()
        if openid in account.users:
            raise StateError(f"用户 {openid} 已存在")
        role = spec.get("role", "follower")
        if role not in ROLES:
            raise StateError(f"role 只能是 {'、'.join(ROLES)}")
        tags = spec.get("tags", [])
        if not isinstance(tags, list) or not all(isinstance(tag, int) for tag in tags):
            raise StateError("tags 必须是整数数组")
        user = User(
            openid=openid,
            nickname=str(spec.get("nickname") or f"用户{len(account.users) + 1}"),
            role=role,
            tags=tags,
            wxname=str(spec.get("wxname") or ""),
            subscribed=bool(spec.get("subscribed", True)),
            refuses_templates=bool(spec.get("refuses_templates", False)),
        )
        account.users[openid] = user
        return user
