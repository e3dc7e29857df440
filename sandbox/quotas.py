"""Daily API quotas per account and endpoint, reset at midnight Beijing time.

Limits are WeChat's published production numbers; an account's ``quotas`` setting
overrides them (``{"token": 3}`` makes the fourth token call of the day answer 45009).
``clear_quota`` resets the day's counters at most 10 times a month, as WeChat allows.
"""

from sandbox.config import beijing_day
from sandbox.errors import WeChatError
from sandbox.state import Account, World

DAILY_LIMITS = {
    "token": 2000,
    "stable_token": 500_000,
    "message/custom/send": 500_000,
    "message/template/send": 100_000,
    "message/mass/sendall": 100,
    "message/mass/send": 100,
    "message/mass/preview": 100,
    "media/upload": 5000,
    "media/uploadimg": 5000,
    "material/add_material": 5000,
}
DEFAULT_LIMIT = 10_000
CLEARS_PER_MONTH = 10


def limit(account: Account, endpoint: str) -> int:
    return account.quotas.get(endpoint, DAILY_LIMITS.get(endpoint, DEFAULT_LIMIT))


def _key(world: World, endpoint: str) -> str:
    return f"{beijing_day(world.now())}|{endpoint}"


def used(world: World, account: Account, endpoint: str) -> int:
    return account.counters.get(_key(world, endpoint), 0)


def count(world: World, account: Account, endpoint: str) -> None:
    """Count one call, or refuse it with 45009 when today's quota is spent."""
    key = _key(world, endpoint)
    if account.counters.get(key, 0) >= limit(account, endpoint):
        raise WeChatError(45009)
    account.counters[key] = account.counters.get(key, 0) + 1


def clear(world: World, account: Account) -> None:
    """``clear_quota``: today's counters back to zero; 48006 after 10 clears in a month."""
    month = beijing_day(world.now())[:7]
    if account.quota_clears.get(month, 0) >= CLEARS_PER_MONTH:
        raise WeChatError(48006)
    account.quota_clears[month] = account.quota_clears.get(month, 0) + 1
    today = beijing_day(world.now())
    account.counters = {
        key: value for key, value in account.counters.items() if not key.startswith(today)
    }


def report(world: World, account: Account, endpoint: str) -> dict:
    """The ``openapi/quota/get`` answer for one endpoint."""
    daily, spent = limit(account, endpoint), used(world, account, endpoint)
    return {"daily_limit": daily, "used": spent, "remain": max(0, daily - spent)}
