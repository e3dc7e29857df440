"""Access tokens the way WeChat hands them out and takes them back.

``/cgi-bin/token`` issues a new token on every call. The previous one is superseded: it
keeps working for ``token_grace`` seconds (WeChat: "5分钟内新老 access_token 都可用") and
then answers 40001 "not latest". A token past its 7200 s lifetime answers 42001.
``/cgi-bin/stable_token`` hands back the same token until ``stable_refresh_margin`` before
it expires; ``force_refresh`` rotates it at most 20 times a day, 30 s apart. The two kinds
are counted apart and never invalidate each other.
"""

import math
from dataclasses import dataclass

from sandbox.config import beijing_day
from sandbox.errors import WeChatError
from sandbox.state import Account, World

TOKEN_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
FORCE_PER_DAY = 20
FORCE_SPACING = 30


@dataclass
class IssuedToken:
    value: str
    appid: str
    kind: str  # "token" or "stable"
    issued_at: float
    expires_at: float
    superseded_at: float | None = None

    def remaining(self, now: float) -> int:
        return max(0, math.ceil(self.expires_at - now))

    def to_dict(self, now: float) -> dict:
        return {
            "access_token": self.value,
            "kind": self.kind,
            "issued_at": int(self.issued_at),
            "expires_in": self.remaining(now),
            "superseded": self.superseded_at is not None,
        }


def _mint(world: World, account: Account, kind: str) -> IssuedToken:
    now = world.now()
    value = f"{world.rng.randint(60, 99)}_" + world.random_text(150, TOKEN_ALPHABET)
    token = IssuedToken(value, account.appid, kind, now, now + world.config.token_ttl)
    world.tokens[value] = token
    account.tokens[kind] = token
    account.tokens.setdefault("history", []).append(token)
    return token


def _supersede(world: World, token: IssuedToken | None, grace: float) -> None:
    if token is None or token.superseded_at is not None:
        return
    now = world.now()
    token.superseded_at = now
    token.expires_at = min(token.expires_at, now + grace)


def issue(world: World, account: Account) -> IssuedToken:
    """``/cgi-bin/token``: a fresh token; the previous one lives on only for the grace period."""
    _supersede(world, account.tokens.get("token"), world.config.token_grace)
    return _mint(world, account, "token")


def stable(world: World, account: Account, force: bool) -> IssuedToken:
    """``/cgi-bin/stable_token``: the current stable token, rotated near expiry or on force."""
    now = world.now()
    current = account.tokens.get("stable")
    if current is None or current.remaining(now) <= world.config.stable_refresh_margin:
        # Rotated ahead of expiry: the old token lives out its own lifetime.
        return _mint(world, account, "stable")
    if force and _may_force(account, now):
        account.tokens.setdefault("forced", []).append(now)
        # WeChat's doc: force mode "会导致上次获取的 access_token 失效" (at once).
        _supersede(world, current, 0)
        return _mint(world, account, "stable")
    return current


def _may_force(account: Account, now: float) -> bool:
    forced = account.tokens.get("forced", [])
    today = [at for at in forced if beijing_day(at) == beijing_day(now)]
    return len(today) < FORCE_PER_DAY and (not forced or now - forced[-1] >= FORCE_SPACING)


def owner(world: World, value: str | None) -> str:
    """The AppID a token was issued to, valid or not: faults are chosen per account."""
    token = world.tokens.get(value or "")
    return token.appid if token else ""


def authenticate(world: World, value: str | None) -> Account:
    """The account a valid token belongs to; WeChat's 41001/40001/42001 otherwise."""
    if not value:
        raise WeChatError(41001)
    token = world.tokens.get(value)
    account = world.account(token.appid) if token else None
    if account is None:
        raise WeChatError(40001)
    if world.now() < token.expires_at:
        return account
    raise WeChatError(40001 if token.superseded_at is not None else 42001)


def summary(world: World, account: Account) -> dict:
    """What the control API shows: the live tokens and how many were issued."""
    now = world.now()
    history = account.tokens.get("history", [])
    return {
        "current": {
            kind: account.tokens[kind].to_dict(now)
            for kind in ("token", "stable")
            if kind in account.tokens
        },
        "issued": {kind: sum(1 for t in history if t.kind == kind) for kind in ("token", "stable")},
        "valid": [t.value for t in history if now < t.expires_at],
    }
