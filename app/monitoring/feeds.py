"""Feeds of platforms without a publishing API: every item that shows up must have been reviewed.

A platform's feed (``app.registry.sites``: RSS or Atom, a sitemap, or a list page) is read
through the egress guard and parsed with defusedxml (hostile XML: no entities, no DTDs).
The first good reading only notes what is already there, so starting to watch a feed
raises nothing. After that each new item is fetched and must be a reviewed draft of that
platform: one whose page was reported (by URL) or whose approved text it matches
(``app.publishing.pages``); otherwise ``unreviewed_publication``. An item matching an
approved draft nobody reported records that draft as published there (its author is told).
A known page whose text changes later gives ``published_changed``; every new item is
screened, and hits give ``online_content`` (the text in its pictures too, read by the
pictures worker: ``app.monitoring.online_pictures``). A feed that fails is retried with
backoff and shown as failing on its platform's console page after
``QIANFA_FEED_FAILING_AFTER``; a failure never raises an unreviewed alert.
"""

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import redis
from defusedxml import ElementTree
from defusedxml.common import DefusedXmlException

from app import screening
from app.core import alerts, keys
from app.core.backoff import backoff
from app.core.errors import InvalidInput, QianfaError
from app.core.settings import Settings, get_settings
from app.core.store import Tx, atomically, decode, timestamp
from app.drafts import lifecycle
from app.monitoring import online_pictures
from app.publishing import manual, pages
from app.registry import sites

log = logging.getLogger(__name__)

FEED_TYPES = (
    "application/rss+xml",
    "application/atom+xml",
    "application/xml",
    "text/xml",
    *pages.HTML_TYPES,
)
MAX_ITEMS = 50  # newest items read per poll
MATCH_CANDIDATES = 50  # recent approved or published drafts an item is compared with
REVIEWED = (lifecycle.APPROVED, lifecycle.PUBLISHED)


def poll_due(r: redis.Redis, *, settings: Settings | None = None, now: float | None = None):
    """Poll every feed that is due; returns counts per platform."""
    settings = settings or get_settings()
    now = time.time() if now is None else now
    done = {}
    for site in sites.with_feeds(r):
        due = float(r.hget(keys.feed_state(site.platform), "next_due") or 0)
        if due <= now:
            done[site.platform] = poll(r, site, settings=settings)
    return done


def poll(r: redis.Redis, site: sites.Site, *, settings: Settings) -> dict:
    """Read one feed once and check its new items."""
    state_key = keys.feed_state(site.platform)
    try:
        body, _ = pages.fetch(site.feed_url, settings.fetch_allow, site.owns, types=FEED_TYPES)
        links = item_links(body, site)
    except InvalidInput as exc:
        return _failed(r, state_key, exc.message, settings)
    first = not r.hget(state_key, "ok_at")
    counts = {"items": len(links), "new": 0, "unreviewed": 0, "changed": 0}
    for url in links:
        outcome = _check(r, site, url, settings, baseline=first)
        if outcome:
            counts[outcome] += 1
    r.hset(state_key, mapping={"ok_at": timestamp(), "failures": 0, "error": ""})
    r.hdel(state_key, "failing_since")
    r.hset(state_key, "next_due", time.time() + settings.feed_poll_interval)
    return counts


def _failed(r: redis.Redis, state_key: str, message: str, settings: Settings) -> dict:
    failures = int(r.hget(state_key, "failures") or 0) + 1
    delay = min(settings.feed_poll_interval, backoff(failures - 1, base=30.0))
    r.hsetnx(state_key, "failing_since", time.time())
    r.hset(
        state_key,
        mapping={"failures": failures, "error": message[:200], "next_due": time.time() + delay},
    )
    return {"failed": message}


@dataclass(frozen=True)
class Failing:
    """A feed failing for longer than ``feed_failing_after``, as its platform's page shows it."""

    since: datetime
    error: str
    failures: int
    next_retry: datetime


def failing_state(r: redis.Redis, platform_id: str, settings: Settings | None = None):
    """The feed's failure when it has lasted ``feed_failing_after`` (a day), else ``None``."""
    settings = settings or get_settings()
    state = decode(r.hgetall(keys.feed_state(platform_id)))
    since = float(state.get("failing_since") or 0)
    if not since or time.time() - since < settings.feed_failing_after:
        return None
    return Failing(
        since=datetime.fromtimestamp(since, UTC),
        error=state.get("error", ""),
        failures=int(state.get("failures") or 0),
        next_retry=datetime.fromtimestamp(float(state.get("next_due") or 0), UTC),
    )


def failing(r: redis.Redis, platform_id: str, settings: Settings | None = None) -> str:
    """The feed's error when it has failed for longer than ``feed_failing_after``, else ''."""
    found = failing_state(r, platform_id, settings)
    return found.error if found else ""


# --- reading a feed -------------------------------------------------------------------------


def item_links(body: str, site: sites.Site) -> list[str]:
    """The item URLs of a feed, newest first as given, only those on the platform's domain."""
    if site.feed_kind == "list":
        found = _list_links(body, site.feed_url)
    else:
        found = _xml_links(body)
    unique = []
    for url in found:
        url = urljoin(site.feed_url, url.strip())
        if site.owns(url) and url != site.feed_url and url not in unique:
            unique.append(url)
    return unique[:MAX_ITEMS]


def _xml_links(body: str) -> list[str]:
    """RSS ``<item><link>``, Atom ``<entry><link href>``, sitemap ``<url><loc>``."""
    try:
        root = ElementTree.fromstring(body.encode())
    except (ElementTree.ParseError, DefusedXmlException, ValueError):
        raise InvalidInput("订阅内容不是有效的 RSS、Atom 或 sitemap") from None
    links = []
    for element in root.iter():
        name = _name(element)
        for child in element if name in ("item", "entry", "url") else ():
            if _name(child) in ("link", "loc"):
                link = child.get("href") or (child.text or "").strip()
                if link and child.get("rel", "alternate") == "alternate":
                    links.append(link)
    return links


def _name(element) -> str:
    return str(element.tag).rsplit("}", 1)[-1]


class _Links(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        href = dict(attrs).get("href")
        if tag == "a" and href and not href.startswith(("#", "javascript:", "mailto:")):
            self.links.append(href)


def _list_links(body: str, base: str) -> list[str]:
    """Links of a list page that lead deeper than the list itself (articles, not menus)."""
    parser = _Links()
    parser.feed(body)
    depth = urlsplit(base).path.rstrip("/").count("/")
    return [
        link
        for link in parser.links
        if urlsplit(urljoin(base, link)).path.rstrip("/").count("/") > depth
    ]


# --- checking an item -----------------------------------------------------------------------


def _check(r, site: sites.Site, url: str, settings: Settings, *, baseline: bool) -> str:
    known = decode(r.hgetall(keys.published_page(manual.url_key(url))))
    if known and baseline:
        return ""
    try:
        html, _ = pages.fetch(url, settings.fetch_allow, site.owns)
    except InvalidInput:
        return ""  # an item that cannot be read now is read at the next poll
    page = pages.extract(html)
    digest = pages.text_hash(page)
    if known:
        return _changed(r, site, url, known, digest)
    if baseline:
        _remember(r, site.platform, url, "", digest, "baseline")
        return ""
    draft = _reviewed_draft(r, site.platform, page)
    draft_id = draft.id if draft else ""
    if draft and draft.status == lifecycle.APPROVED:
        _publish_found(r, draft, url, digest)
    _remember(r, site.platform, url, draft_id, digest, "feed")
    _screen(r, site.platform, url, draft_id, page)
    where = {"draft": draft_id, "version": draft.version if draft else 0}
    found = online_pictures.of_page(page.images, url)
    online_pictures.queue(
        r, site.platform, manual.url_key(url), found, **where, title=page.title[:64], url=url
    )
    if draft_id:
        return "new"
    alerts.queue(
        r,
        "unreviewed_publication",
        f"平台 {site.platform} 上出现未经审核的内容:{page.title or url}",
        platform=site.platform,
        detail={"url": url, "title": page.title[:100]},
    )
    return "unreviewed"


def _changed(r, site: sites.Site, url: str, known: dict, digest: str) -> str:
    if known.get("text_hash") == digest:
        return ""
    r.hset(keys.published_page(manual.url_key(url)), "text_hash", digest)
    if not known.get("draft"):
        return ""  # a page from before the feed was watched, or already reported unreviewed
    alerts.queue(
        r,
        "published_changed",
        f"稿件 {known['draft']} 发布后页面内容被修改:{url}",
        platform=site.platform,
        draft=known["draft"],
        detail={"url": url},
    )
    return "changed"


def _reviewed_draft(r: redis.Redis, platform_id: str, page: pages.PageText):
    """The reviewed draft of the platform whose approved text this page says, or ``None``;
    an approved draft not yet reported comes first (this is likely its publication)."""
    found = lifecycle.list_drafts(r, platform=platform_id, limit=MATCH_CANDIDATES * 4)
    reviewed = [draft for draft in found if draft.status in REVIEWED]
    for draft in sorted(reviewed, key=lambda d: d.status != lifecycle.APPROVED):
        content = lifecycle.version(r, draft.id, draft.version).content
        title, text = manual.approved_text(draft.kind, content)
        if pages.compare(text, page, title=title).matches:
            return draft
    return None


def _publish_found(r: redis.Redis, draft: lifecycle.Draft, url: str, digest: str) -> None:
    """An approved draft published by hand and never reported: the feed item is its page."""
    try:
        manual.record_found(r, draft, url, digest)
    except QianfaError as exc:  # changed meanwhile (a new version, withdrawn): still reviewed
        log.info("feed item %s matched %s but was not recorded: %s", url, draft.id, exc.code)


def _remember(r, platform_id: str, url: str, draft_id: str, digest: str, how: str) -> None:
    def change(tx: Tx) -> None:
        manual.remember_in(tx, platform_id, url, draft_id, digest)
        tx.write.hset(keys.published_page(manual.url_key(url)), "seen", how)

    atomically(r, [], change)


def _screen(r, platform_id: str, url: str, draft_id: str, page: pages.PageText) -> None:
    found = screening.screen_text(f"{page.title}\n{page.text}")
    if not found.hits:
        return
    alerts.queue(
        r,
        "online_content",
        f"平台 {platform_id} 已发布的页面命中内容检查({found.verdict}):{url}",
        platform=platform_id,
        draft=draft_id,
        detail={"url": url, "verdict": found.verdict, "counts": found.counts},
    )
