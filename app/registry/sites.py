"""Where a platform without a publishing API lives on the web: its domain and its feed (art. 2).

A Weibo account, a college website or an app's news page is published by hand, so Qianfa
only sees it from outside: a reported page must be on the platform's registered domain
(or a subdomain of it), and the platform's feed (RSS or Atom, a sitemap, or a list page)
is where new items show up. Both are set by the propaganda department; a WeChat platform
has neither, since WeChat's API tells Qianfa what was published.
"""

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

import redis

from app.core import audit, keys, validate
from app.core.errors import InvalidInput
from app.core.store import Tx, atomically, decode, timestamp
from app.registry import access, platforms

FEED_KINDS = {"rss": "RSS 或 Atom 订阅", "sitemap": "网站地图(sitemap)", "list": "列表页"}
DOMAIN_MAX = 253
LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
DOMAIN = re.compile(rf"{LABEL}(?:\.{LABEL})*(?::[0-9]{{1,5}})?")


@dataclass(frozen=True)
class Site:
    platform: str
    domain: str = ""
    feed_url: str = ""
    feed_kind: str = ""

    def owns(self, url: str) -> bool:
        """Whether ``url`` is on this site's domain (a subdomain counts; a port must match)."""
        host, port = _host_port(url)
        want_host, _, want_port = self.domain.partition(":")
        if not host or not want_host:
            return False
        if want_port and str(port) != want_port:
            return False
        return host == want_host or host.endswith("." + want_host)


def _host_port(url: str) -> tuple[str, int | None]:
    try:
        split = urlsplit(url)
        return (split.hostname or "").lower().rstrip("."), split.port
    except ValueError:
        return "", None


def domain(raw) -> str:
    """``host`` or ``host:port``, lower case, as a URL would carry it."""
    value = validate.normalize(raw if isinstance(raw, str) else "").lower().rstrip("/")
    value = value.removeprefix("https://").removeprefix("http://")
    try:
        value = value.encode("idna").decode("ascii") if value else ""
    except UnicodeError:
        value = ""
    if not DOMAIN.fullmatch(value) or len(value) > DOMAIN_MAX:
        raise InvalidInput(f"域名格式不对:{str(raw)[:60]!r};例如 news.example.edu.cn")
    return value


def get(r: redis.Redis, platform_id: str) -> Site:
    pid = platforms.get(r, platform_id).id
    return _site(pid, decode(r.hgetall(keys.platform_site(pid))))


def _site(pid: str, stored: dict[str, str]) -> Site:
    return Site(pid, **{k: v for k, v in stored.items() if k in Site.__dataclass_fields__})


def with_feeds(r: redis.Redis) -> list[Site]:
    """Every active platform that has a feed to watch."""
    found = []
    for platform in platforms.all_platforms(r):
        if platform.kind != "wechat" and platform.is_active:
            site = get(r, platform.id)
            if site.feed_url:
                found.append(site)
    return found


def set_domain(r: redis.Redis, actor: audit.Actor, platform_id: str, raw_domain: str) -> Site:
    """Register the domain a manual platform's pages are published on."""
    access.authorize(r, actor, (access.PROPAGANDA,), "设置平台域名")
    platform = _manual(r, platform_id)
    value = domain(raw_domain)
    return _write(r, actor, platform.id, "platform.domain", {"domain": value})


def set_feed(r: redis.Redis, actor: audit.Actor, platform_id: str, url: str, kind="rss") -> Site:
    """Register the feed that shows what goes online on a manual platform."""
    access.authorize(r, actor, (access.PROPAGANDA,), "设置平台订阅")
    platform = _manual(r, platform_id)
    feed_url = validate.url(url, "订阅地址", required=True)
    feed_kind = validate.choice(kind, FEED_KINDS, "订阅类型")
    site = get(r, platform.id)
    if site.domain and not Site(platform.id, site.domain).owns(feed_url):
        raise InvalidInput(f"订阅地址不在平台登记的域名 {site.domain} 上")
    fields = {"feed_url": feed_url, "feed_kind": feed_kind}
    return _write(r, actor, platform.id, "platform.feed", fields)


def _manual(r: redis.Redis, platform_id: str) -> platforms.Platform:
    platform = platforms.get(r, platform_id)
    if platform.kind == "wechat":
        raise InvalidInput(f"平台 {platform.id} 是微信公众号,发布情况由微信接口核对,无需设置")
    return platform


def _write(r: redis.Redis, actor: audit.Actor, pid: str, action: str, fields: dict) -> Site:
    key = keys.platform_site(pid)

    def change(tx: Tx) -> Site:
        current = decode(tx.read.hgetall(key))
        tx.write.hset(key, mapping={**fields, "updated_at": timestamp()})
        if action == "platform.feed":  # a new feed starts with a clean polling record
            tx.write.delete(keys.feed_state(pid))
        audit.append(tx, actor, action, platform=pid, detail=fields)
        return _site(pid, {**current, **fields})

    return atomically(r, [key], change)
