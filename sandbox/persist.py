"""Keeping the sandbox's world on disk, so a restarted ``make run`` continues where it stopped.

Qianfa keeps its drafts, bindings, publications and duplicate cache in Redis across
restarts; a sandbox that forgot its accounts, chats, media, drafts, articles and mass sends
(or handed out its MsgIds again) would contradict it. ``Keeper`` writes the world as JSON
to one file (atomically: a temporary file, then a rename) about once a second while it
changes and when the sandbox stops; ``restore`` reads it back at start-up.

What is not kept: open customer-service windows (the next message a user sends opens one),
pending callback retries, injected faults and per-request dedupe caches.
"""

import json
import logging
import os
import tempfile
import threading
from pathlib import Path

from sandbox.state import ID_BASES, Account, User, World, msg_id_floor
from sandbox.tokens import IssuedToken

log = logging.getLogger(__name__)

FORMAT = 1
EVERY = 1.0  # seconds between checks for changes
RECORDS = (
    "templates",
    "materials",
    "drafts",
    "publish_jobs",
    "articles",
    "mass_sends",
    "template_sends",
    "counters",
    "quota_clears",
)
USER_FIELDS = ("nickname", "role", "tags", "wxname", "subscribed", "refuses_templates", "chat")


def snapshot(world: World) -> dict:
    """Everything worth keeping, as JSON-ready data; the caller holds ``world.lock``."""
    return {
        "format": FORMAT,
        "counters": dict(world.counters),
        "accounts": [_account(account) for account in world.accounts.values()],
    }


def _account(account: Account) -> dict:
    return {
        "settings": account.settings(),
        "users": [
            {"openid": user.openid, **{name: getattr(user, name) for name in USER_FIELDS}}
            for user in account.users.values()
        ],
        "records": {name: getattr(account, name) for name in RECORDS},
        "tokens": [token.__dict__ for kind, token in account.tokens.items() if kind != "history"],
    }


def restore(world: World, data: dict) -> None:
    """Put a snapshot back into an empty world; ids go on from the larger of kept and now."""
    if data.get("format") != FORMAT:
        raise ValueError(f"unknown sandbox state format {data.get('format')!r}")
    with world.lock:
        for kind, value in data["counters"].items():
            if kind in ID_BASES:
                world.counters[kind] = max(world.counters[kind], int(value))
        world.counters["msg"] = max(world.counters["msg"], msg_id_floor())
        for raw in data["accounts"]:
            _restore_account(world, raw)


def _restore_account(world: World, raw: dict) -> None:
    settings = dict(raw["settings"])
    account = Account(appid=settings.pop("appid"), secret=settings["secret"])
    account.configure(settings)
    for user in raw["users"]:
        fields = {name: user[name] for name in USER_FIELDS if name in user}
        account.users[user["openid"]] = User(openid=user["openid"], **fields)
    for name in RECORDS:
        setattr(account, name, dict(raw["records"].get(name) or {}))
    for stored in raw.get("tokens", []):
        token = IssuedToken(**stored)
        account.tokens[token.kind] = token
        world.tokens[token.value] = token
    world.accounts[account.appid] = account


def load(world: World, path: Path) -> bool:
    """Restore from ``path`` if it exists; a file that cannot be read is set aside, not lost."""
    if not path.exists():
        return False
    try:
        restore(world, json.loads(path.read_text("utf-8")))
    except (ValueError, KeyError, TypeError) as exc:
        aside = path.with_suffix(".unreadable")
        os.replace(path, aside)
        log.warning("sandbox state %s unreadable (%s); moved to %s", path, exc, aside)
        return False
    return True


def write(world: World, path: Path, last: str = "") -> str:
    """Write the world if it changed since ``last``; return what was written."""
    with world.lock:
        text = json.dumps(snapshot(world), ensure_ascii=False, sort_keys=True)
    if text == last:
        return last
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=".sandbox-", dir=path.parent)
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        out.write(text)
    os.replace(temporary, path)
    return text


class Keeper:
    """A thread that writes the world while it changes, and once more when it stops."""

    def __init__(self, world: World, path: Path):
        self.world, self.path = world, path
        self.last = ""
        self.thread = threading.Thread(target=self._run, name="sandbox-persist", daemon=True)

    def start(self) -> "Keeper":
        self.thread.start()
        return self

    def _run(self) -> None:
        while not self.world.stopping.wait(EVERY):
            self.flush()

    def flush(self) -> None:
        try:
            self.last = write(self.world, self.path, self.last)
        except OSError as exc:
            log.warning("sandbox state not written to %s: %s", self.path, exc)


def keep(world: World, path: Path) -> Keeper:
    """Load ``path`` into the world and keep it written there from now on; pictures users
    sent are kept as files beside it."""
    world.picture_dir = path.parent / "sandbox-pictures"
    load(world, path)
    keeper = Keeper(world, path).start()
    world.on_close.append(keeper.flush)
    return keeper
