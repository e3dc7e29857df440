"""The manual channel: a platform without a publishing API (Weibo, a campus CMS, an app).

Review is the same as everywhere; an approved draft is then not published by Qianfa. Its
publication waits in step ``manual`` while an administrator publishes it by hand and reports
the address (chat ``已发布 D42 <链接>``, ``POST /api/v1/drafts/<id>/published``).
``report`` fetches that page through the egress guard, extracts its main text and compares
it with the approved version (``app.publishing.pages``): either way the draft becomes
published with its URL, and a page that differs raises ``published_differs`` listing
what differs. A report that cannot be checked (wrong domain, unreachable, not HTML, too
large, redirected elsewhere) changes nothing. An approved draft not reported within
``QIANFA_MANUAL_REPORT_AFTER`` is due for a reminder (``due``).
"""

import hashlib
import time

import redis

from app.core import audit, keys, validate
from app.core.alerts import queue_in
from app.core.errors import Conflict, Forbidden, InvalidInput
from app.core.settings import Settings, get_settings
from app.core.store import Tx, atomically, timestamp
from app.drafts import lifecycle
from app.publishing import pages
from app.publishing import record as pubs
from app.publishing.record import Publication
from app.registry import access, platforms, sites

MATCH, DIFFERS = "match", "differs"


def await_in(tx: Tx, pub: Publication, settings: Settings) -> Publication:
    """Record the publication as waiting for a report, with its reminder due."""
    pub = pubs.write_in(tx, pub)
    remind_at = time.time() + settings.manual_report_after
    tx.write.zadd(keys.manual_pending(), {pub.member: remind_at})
    return pub


def approved_text(kind: str, content: dict) -> tuple[str, str]:
    """(title, text) of the approved version as a reader sees it."""
    if kind == lifecycle.TEXT:
        return "", content["text"]
    if kind == lifecycle.IMAGE:
        return "", content.get("caption", "")
    return content["title"], pages.extract(content["content_html"], whole=True).text


def report(
    r: redis.Redis, actor: audit.Actor, draft_id: str, url, *, settings: Settings | None = None
):
    """Check the page an administrator published by hand and record the draft as published.

    Returns (draft, comparison). Everything is checked before anything is written.
    """
    settings = settings or get_settings()
    draft = lifecycle.get(r, draft_id)
    platform = platforms.get(r, draft.platform)
    _authorize(r, actor, platform)
    url = validate.url(url, "发布链接", required=True)
    site = _site(r, platform)
    if not site.owns(url):
        raise InvalidInput(f"链接不在平台「{platform.name}」登记的域名 {site.domain} 上")
    _require_reportable(draft, platform)
    html, final_url = pages.fetch(url, settings.fetch_allow, site.owns)
    content = lifecycle.version(r, draft.id, draft.version).content
    title, text = approved_text(draft.kind, content)
    page = pages.extract(html)
    found = pages.compare(text, page, title=title)
    draft = _record(r, actor, draft, final_url, found, pages.text_hash(page))
    return draft, found


def _authorize(r: redis.Redis, actor: audit.Actor, platform: platforms.Platform) -> None:
    if actor.trusted or access.has_role(r, actor.person, access.PROPAGANDA):
        return
    if not (actor.person and access.has_role(r, actor.person, access.ADMIN, platform.id)):
        raise Forbidden(f"只有平台「{platform.name}」的管理员可以报告发布")


def _site(r: redis.Redis, platform: platforms.Platform) -> sites.Site:
    if platform.kind == "wechat":
        raise InvalidInput(f"平台「{platform.name}」由微信接口发布,无需报告链接")
    site = sites.get(r, platform.id)
    if not site.domain:
        raise InvalidInput(f"平台「{platform.name}」尚未登记域名,请党委宣传部先设置")
    return site


def _require_reportable(draft: lifecycle.Draft, platform: platforms.Platform) -> None:
    if not platform.is_active:
        label = platforms.STATUSES.get(platform.status, platform.status)
        raise Conflict(f"平台 {platform.id} 当前为「{label}」,不能发布(第十七条)")
    if draft.status != lifecycle.APPROVED:
        shown = lifecycle.STATUSES[draft.status]
        raise Conflict(f"稿件 {draft.id} 当前为「{shown}」,只有已通过的稿件可以报告发布")


def _record(r, actor, draft, url: str, found: pages.Comparison, page_hash: str):
    """One transaction: publication done, draft published, page remembered, alert if it differs."""
    verdict = MATCH if found.matches else DIFFERS

    def change(tx: Tx) -> lifecycle.Draft:
        current = lifecycle.read_in(tx, draft.id)
        if current.content_hash != draft.content_hash:
            raise Conflict(f"稿件 {draft.id} 在核对期间有了新版本,请重新报告")
        _require_reportable(current, platforms.read_in(tx, current.platform))
        earlier = pubs.read_in(tx, current.id, current.version)
        pub = earlier or _publication(current)
        pub = pubs.write_in(
            tx,
            pub,
            step=pubs.DONE,
            article_url=url,
            verdict=verdict,
            reported_by=actor.person,
            channel="manual",
        )
        tx.write.zrem(keys.manual_pending(), pub.member)
        remember_in(tx, current.platform, url, current.id, page_hash)
        detail = {"url": url, "verdict": verdict, **(found.detail() if not found.matches else {})}
        updated = lifecycle.move_in(tx, actor, current, "report", detail=detail)
        if not found.matches:
            queue_in(
                tx,
                "published_differs",
                f"稿件 {current.id} 手工发布的页面与审核通过的版本不一致:{found.summary()}",
                platform=current.platform,
                draft=current.id,
                detail={"url": url, "version": current.version, **found.detail()},
            )
        return updated

    return atomically(r, [keys.draft(draft.id)], change)


def _publication(draft: lifecycle.Draft) -> Publication:
    return Publication(
        draft=draft.id,
        version=draft.version,
        content_hash=draft.content_hash,
        platform=draft.platform,
        kind=draft.kind,
        step=pubs.MANUAL,
        channel="manual",
        created_at=timestamp(),
    )


def url_key(url: str) -> str:
    return hashlib.sha256(url.strip().encode()).hexdigest()[:32]


def remember_in(tx: Tx, platform_id: str, url: str, draft_id: str, page_hash: str) -> None:
    """Note a page as the published form of a draft, for the feed watcher to recognise."""
    key = keys.published_page(url_key(url))
    fields = {"platform": platform_id, "url": url, "draft": draft_id, "at": timestamp()}
    fields["text_hash"] = page_hash
    tx.write.hset(key, mapping=fields)
    tx.write.sadd(keys.platform_pages(platform_id), url_key(url))


def due(r: redis.Redis, until: float | None = None) -> list[Publication]:
    """Manual publications whose reminder is due; those no longer waiting are dropped."""
    found = []
    until = time.time() if until is None else until
    for raw in r.zrangebyscore(keys.manual_pending(), "-inf", until):
        draft_id, version = pubs.parse_member(raw.decode())
        pub = pubs.load(r, draft_id, version)
        draft = lifecycle.get(r, draft_id) if pub else None
        waiting = draft and draft.status == lifecycle.APPROVED and draft.version == version
        if pub is None or pub.finished or not waiting:
            r.zrem(keys.manual_pending(), raw)
            continue
        found.append(pub)
    return found


def postpone(r: redis.Redis, pub: Publication, settings: Settings) -> None:
    """The next reminder of a publication still not reported, one period later."""
    r.zadd(keys.manual_pending(), {pub.member: time.time() + settings.manual_report_after})
