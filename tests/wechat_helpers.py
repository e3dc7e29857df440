"""Helpers for the WeChat client tests: a platform with an AppID and a sealed AppSecret,
settings aimed at a sandbox, and the body of a competing process."""

import os
from concurrent.futures import ThreadPoolExecutor

import redis

from app.core.settings import Settings, load_settings
from app.registry import credentials
from app.wechat.client import WeChatAPI
from tests.factories import KEYRING, OPERATOR, world

PLATFORM = "jsj-wx"
APPID = "wx5823bf96d3bd56c7"
SECRET = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"


def wechat_platform(r, platform_id: str = PLATFORM, appid: str = APPID, keyring=KEYRING) -> str:
    """An active WeChat platform whose AppSecret is sealed (by default under KEYRING)."""
    world(r, platform_id=platform_id, appid=appid)
    credentials.set_secret(r, keyring, OPERATOR, platform_id, "app_secret", SECRET)
    return platform_id


def wechat_settings(api_base: str, **env) -> Settings:
    """This process's settings with WeChat at ``api_base`` and ``QIANFA_WECHAT_*`` overrides."""
    environ = {**os.environ, "QIANFA_WECHAT_API_BASE": api_base}
    environ.update({f"QIANFA_WECHAT_{name.upper()}": str(value) for name, value in env.items()})
    return load_settings(environ)


def compete_for_token(redis_url: str, api_base: str, threads: int, barrier, results) -> None:
    """In its own process: many threads need a token at once, then each makes a call."""
    r = redis.Redis.from_url(redis_url)
    api = WeChatAPI(r, KEYRING, PLATFORM, wechat_settings(api_base))
    barrier.wait(timeout=30)
    with ThreadPoolExecutor(threads) as pool:
        tokens = list(pool.map(lambda _: api.tokens.current(), range(threads)))
        counts = list(pool.map(lambda _: api.draft_count(), range(threads)))
    results.put((sorted(set(tokens)), counts))
    r.close()
