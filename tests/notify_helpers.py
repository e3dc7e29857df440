"""A college office wired to the sandbox WeChat: a platform with an AppID and sealed
AppSecret, its people bound to simulated WeChat users, the dispatcher and a worker run
in this process, and what each person's phone received."""

from dataclasses import dataclass, field

import pytest
from rq import SimpleWorker

from app.core.masterkey import load_keyring
from app.core.settings import get_settings
from app.notify import window
from app.outbox import dispatch
from app.outbox import queues as jobs
from app.registry import bindcodes, credentials
from tests.factories import OPERATOR, World, world
from tests.sandbox_helpers import running_sandbox
from tests.wechat_helpers import APPID, SECRET

TEMPLATE = "review-notice-0000000000000000000000000001"


@dataclass
class Office:
    r: object
    control: object
    w: World
    openids: dict[str, str] = field(default_factory=dict)

    @property
    def settings(self):
        return get_settings()

    def bind(self, person: str, nickname: str = "") -> str:
        """Make ``person`` a WeChat user of the account, bound through a real bind code."""
        openid = self.control.add_user(APPID, nickname=nickname or person, role="staff")["openid"]
        keyring = load_keyring(self.settings)
        code = bindcodes.issue(self.r, keyring, OPERATOR, person, self.w.platform, 3600)
        bindcodes.redeem(self.r, keyring, self.w.platform, openid, code)
        self.openids[person] = openid
        return openid

    def writes(self, person: str, text: str = "在吗") -> None:
        """The person writes to the account: WeChat and Qianfa both see the window open."""
        openid = self.openids[person]
        self.control.send(APPID, openid, type="text", content=text)
        window.touch(self.r, self.w.platform, openid)

    def received(self, person: str, via: str | None = None) -> list[dict]:
        chat = self.control.user(APPID, self.openids[person])["chat"]
        return [
            line
            for line in chat
            if line["direction"] == "received" and (via is None or line["via"] == via)
        ]

    def dispatch(self) -> int:
        """Route everything new in the audit and alert streams."""
        dispatcher = dispatch.Dispatcher(self.r, self.settings, name="test")
        handled = 0
        while True:
            routed = dispatcher.step(block_ms=None)
            handled += routed
            if not routed:
                return handled

    def work(self) -> None:
        """Run every queued job in this process, until the queues are empty."""
        queues = [jobs.queue(self.r, name) for name in jobs.QUEUES]
        SimpleWorker(queues, connection=self.r).work(burst=True, logging_level="WARNING")

    def settle(self) -> None:
        """Dispatch and work until nothing more happens (alerts raised by jobs included)."""
        while self.dispatch():
            self.work()


def office(r, control, monkeypatch, url: str, **world_options) -> Office:
    """An active WeChat platform on the sandbox account, and the dispatcher's groups."""
    monkeypatch.setenv("QIANFA_WECHAT_API_BASE", url)
    get_settings.cache_clear()
    control.add_account(appid=APPID, secret=SECRET)
    w = world(r, appid=APPID, **world_options)
    credentials.set_secret(
        r, load_keyring(get_settings()), OPERATOR, w.platform, "app_secret", SECRET
    )
    dispatch.Dispatcher(r, get_settings()).ensure_groups()
    return Office(r, control, w)


@pytest.fixture
def sandbox_office(r, monkeypatch):
    """An ``Office`` on a fresh sandbox; the settings read for it are dropped afterwards."""
    with running_sandbox() as (url, control, _):
        yield office(r, control, monkeypatch, url)
    get_settings.cache_clear()
