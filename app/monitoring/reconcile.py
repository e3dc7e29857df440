"""Reconciliation: every article online is Qianfa's publication of an approved version, or
an alert (art. 14: 先审后发; art. 15: daily monitoring).

Qianfa guards the one door it owns; an administrator can still publish from the MP back
office. So each round pages through ``freepublish/batchget`` (newest ``update_time``
first) and stops at the first article already seen at the same ``update_time``: a later
round costs O(new), not O(all). Pages come without content unless every article on them
is new (the first round); an article's content is fetched once per version. New articles
are examined oldest first and remembered one by one, so a round cut short by a WeChat
error leaves only newer articles unexamined, and the next round finds them again.

An article is Qianfa's when WeChat's article_id was recorded by publishing
(``keys.published_article``); its text (tags, whitespace and image addresses aside,
which WeChat rewrites) must match the approved version's, or ``published_changed`` is
raised. An unknown article whose cover is that of a publication still being settled is
Qianfa's own in flight: it is looked at again next round, never alerted. Anything else
raises one ``unreviewed_publication`` per article id.

A mass send (群发) is not in ``batchget``; WeChat reports it with MASSSENDJOBFINISH only.
One whose msg_id Qianfa did not record (``keys.published_mass``) raises one
``unreviewed_publication`` per msg_id (``mass_sent``), and a round of the platform starts.
"""

import hashlib
import html
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import redis

from app.core import alerts, audit, keys
from app.core.backoff import backoff
from app.core.errors import NotFound, WeChatError
from app.core.lease import Lease
from app.core.store import Tx, atomically, decode, timestamp
from app.drafts import lifecycle
from app.monitoring import online, online_pictures
from app.publishing import articles
from app.publishing import record as pubs
from app.registry import people, platforms

log = logging.getLogger(__name__)

ACTOR = audit.Actor.system("monitor")
PAGE = 20
UNVERIFIED = 48001  # 公众号没有此接口的权限: monitoring is not available for it
RETRY_BASE = 60.0
RETRY_CAP = 3600.0
LEASE_SECONDS = 600
TAG = re.compile(r"<[^>]*>")
SPACE = re.compile(r"\s+")


@dataclass
class Round:
    """What one round of one platform did: WeChat calls, articles examined, alerts raised."""

    platform: str
    calls: int = 0
    examined: int = 0
    alerts: list[str] = field(default_factory=list)
    skipped: str = ""
    error: str = ""


def text_of(news_items: list[dict]) -> str:
    """The visible text of an article: what WeChat's rewriting of markup leaves alone."""
    parts = []
    for item in news_items:
        body = html.unescape(TAG.sub(" ", str(item.get("content") or "")))
        parts.append(f"{item.get('title', '')}\n{body}")
    return SPACE.sub("", "\n".join(parts))


def fingerprint(news_items: list[dict]) -> str:
    return hashlib.sha256(text_of(news_items).encode()).hexdigest()


def approved_fingerprint(r: redis.Redis, draft_id: str, version: int) -> str:
    """The fingerprint of what was approved: the draft article Qianfa sent, images aside."""
    approved = lifecycle.version(r, draft_id, version)
    article = articles.draft_article(approved.kind, approved.content, "", {})
    return fingerprint([article])


def reconcile(r: redis.Redis, api, platform_id: str, *, force: bool = False) -> Round:
    """One round for one platform; never raises for WeChat's errors (they back off)."""
    result = Round(platform_id)
    state = decode(r.hgetall(keys.monitoring(platform_id)))
    if not force and float(state.get("retry_at") or 0) > time.time():
        result.skipped = "backing_off"
        return result
    held = Lease(r, f"{keys.monitoring(platform_id)}:lease", LEASE_SECONDS)
    if not held.acquire():
        result.skipped = "running"
        return result
    try:
        _round(r, api, platform_id, result)
        _succeeded(r, platform_id, state)
    except WeChatError as exc:
        result.error = str(exc)
        _failed(r, platform_id, state, exc)
    finally:
        held.release()
    return result


def _round(r: redis.Redis, api, platform_id: str, result: Round) -> None:
    counting = _Counting(api, result)
    seen = {
        k: json.loads(v) for k, v in decode(r.hgetall(keys.online_articles(platform_id))).items()
    }
    for article_id in sorted(s.decode() for s in r.smembers(keys.online_pending(platform_id))):
        news = counting.getarticle(article_id)
        if news is None or examine(r, platform_id, article_id, 0, news, result):
            r.srem(keys.online_pending(platform_id), article_id)
    for item in reversed(_new_items(counting, seen)):
        news = item["news_item"]
        if not all("content" in entry for entry in news):
            news = counting.getarticle(item["article_id"])
            if news is None:
                continue  # deleted since the page was read
        examine(r, platform_id, item["article_id"], item["update_time"], news, result)
    _rescreen(r, counting, platform_id, result)


def _rescreen(r: redis.Redis, api: "_Counting", platform_id: str, result: Round) -> None:
    """Screen again, a few per round, the articles seen before the lexicons changed."""
    for article_id in online.stale(r, platform_id):
        news = api.getarticle(article_id)
        if news is None:
            online.gone(r, platform_id, article_id)
            continue
        draft, version = _origin(r, article_id)
        if online.check(r, platform_id, article_id, news, draft=draft, version=version):
            result.alerts.append("online_content")


def _origin(r: redis.Redis, article_id: str) -> tuple[str, int]:
    """The draft version Qianfa published as this article, or ('', 0)."""
    member = r.get(keys.published_article(article_id))
    return pubs.parse_member(member.decode()) if member else ("", 0)


def _new_items(api: "_Counting", seen: dict) -> list[dict]:
    """The articles not yet seen at their current update_time, newest first."""
    found, offset, with_content = [], 0, not seen
    while True:
        page = api.page(offset, with_content)
        items = page["items"]
        for item in items:
            known = seen.get(item["article_id"])
            if known and known.get("update_time") == item["update_time"]:
                return found
            found.append(item)
        offset += len(items)
        if not items or offset >= page["total_count"]:
            return found
        with_content = True  # a whole page was new: the next ones probably are too


class _Counting:
    """The WeChat calls of a round, counted (for the report and the benchmark)."""

    def __init__(self, api, result: Round):
        self.api, self.result = api, result

    def page(self, offset: int, with_content: bool) -> dict:
        self.result.calls += 1
        return self.api.freepublish_page(offset, PAGE, content=with_content)

    def getarticle(self, article_id: str) -> list[dict] | None:
        self.result.calls += 1
        return self.api.freepublish_getarticle(article_id)


def examine(
    r: redis.Redis, platform_id: str, article_id: str, update_time: int, news: list, result: Round
) -> bool:
    """Classify one article version and remember it; False when it is Qianfa's own still
    being settled (kept pending for the next round)."""
    result.examined += 1
    print_ = fingerprint(news)
    member = r.get(keys.published_article(article_id))
    if member is None and _in_flight(r, platform_id, news):
        r.sadd(keys.online_pending(platform_id), article_id)
        return False
    first = news[0] if news else {}
    known = {
        "update_time": update_time,
        "title": str(first.get("title", ""))[:64],
        "url": str(first.get("url", "")),
        "fingerprint": print_,
        "seen_at": timestamp(),
    }
    if member is None:
        known["origin"] = "unreviewed"
        raised = _raise_once(
            r, platform_id, article_id, known, "unreviewed_publication", article_id
        )
    else:
        draft_id, version = pubs.parse_member(member.decode())
        known["origin"] = f"{draft_id}:v{version}"
        changed = print_ != approved_fingerprint(r, draft_id, version)
        claim = f"{article_id}:{print_}" if changed else ""
        kind = "published_changed" if changed else ""
        raised = _raise_once(r, platform_id, article_id, known, kind, claim, draft=draft_id)
    if raised:
        result.alerts.append(raised)
    draft, version = _origin(r, article_id)
    if online.check(r, platform_id, article_id, news, draft=draft, version=version):
        result.alerts.append("online_content")
    found = online_pictures.of_news(news)
    online_pictures.queue(r, platform_id, article_id, found, draft=draft, version=version)
    return True


def _in_flight(r: redis.Redis, platform_id: str, news: list[dict]) -> bool:
    """Whether a publication Qianfa has not settled yet uploaded this article's cover."""
    covers = {articles.cover_of(item) for item in news} - {""}
    if not covers:
        return False
    for draft_id, version in pubs.due_members(r, float("inf")):
        pub = pubs.load(r, draft_id, version)
        if pub and pub.platform == platform_id and pub.cover_media_id in covers:
            return True
    return False


def remember_in(tx: Tx, platform_id: str, article_id: str, known: dict) -> None:
    """Store what was seen of an article, and the platform's newest ``update_time`` online
    (the inventory's last publication) in the same transaction."""
    tx.write.hset(keys.online_articles(platform_id), article_id, json.dumps(known))
    tx.write.zadd(keys.online_newest(), {platform_id: known.get("update_time") or 0}, gt=True)


def reindex(r: redis.Redis, platform_ids: list[str]) -> None:
    """Rebuild each platform's newest ``update_time`` online from what is stored (after an
    upgrade from a version without ``keys.online_newest``)."""
    for pid in platform_ids:
        seen = decode(r.hgetall(keys.online_articles(pid))).values()
        newest = max((json.loads(raw).get("update_time") or 0 for raw in seen), default=None)
        if newest is not None:
            r.zadd(keys.online_newest(), {pid: newest}, gt=True)


def _raise_once(
    r: redis.Redis, platform_id, article_id, known: dict, kind: str, claim: str, draft=""
) -> str:
    """Remember the article and, for ``kind``, raise its alert unless ``claim`` was raised
    before, in one transaction: an article seen twice gives one alert."""
    claim_key = keys.monitoring_claim(f"{kind}:{platform_id}:{claim}")

    def change(tx: Tx) -> str:
        fresh = bool(kind) and not tx.read.exists(claim_key)
        message = _message(r, platform_id, kind, known) if fresh else ""
        remember_in(tx, platform_id, article_id, known)
        if not fresh:
            return ""
        tx.write.set(claim_key, timestamp())
        detail = {"article_id": article_id, **{k: known[k] for k in ("title", "url")}}
        audit.append(
            tx, ACTOR, f"monitoring.{kind}", platform=platform_id, draft=draft, detail=detail
        )
        alerts.queue_in(tx, kind, message, platform=platform_id, draft=draft, detail=detail)
        return kind

    return atomically(r, [claim_key], change)


def _message(r: redis.Redis, platform_id: str, kind: str, known: dict) -> str:
    platform = platforms.get(r, platform_id)
    try:
        responsible = people.get(r, platform.responsible).name
    except NotFound:
        responsible = platform.responsible
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(known["update_time"] or time.time()))
    what = f"《{known['title']}》({when})\n{known['url']}\n第一责任人:{responsible}"
    if kind == "unreviewed_publication":
        return f"平台 {platform_id} 上有一篇文章未经签发审核即已发布(违反第十四条):{what}"
    if kind == "unreviewed_mass":
        return (
            f"平台 {platform_id} 在公众平台后台群发了一条消息,未经签发审核(违反第十四条):"
            f"{what}\n群发不在已发表文章之列,只有微信的群发结果通知可见。"
        )
    return f"平台 {platform_id} 上经审核发布的文章已被改动,与审核通过的内容不一致:{what}"


MASS_SETTLE_SECONDS = 3600


def mass_sent(r: redis.Redis, platform_id: str, msg_id: str, urls: list[str], age: float) -> str:
    """Judge a MASSSENDJOBFINISH: ``ours``, ``settling`` (a send of Qianfa's on this
    platform has not recorded its msg_id yet: ask again later), or ``unreviewed``
    (alerted once per msg_id; ``seen`` when it already was)."""
    if r.exists(keys.published_mass(platform_id, msg_id)):
        return "ours"
    if age < MASS_SETTLE_SECONDS and _sending(r, platform_id):
        return "settling"
    first = urls[0] if urls else ""
    known = {"update_time": 0, "title": "后台群发的消息", "url": first}
    claim = f"mass:{msg_id}"
    raised = _raise_once_mass(r, platform_id, msg_id, known, claim)
    return "unreviewed" if raised else "seen"


def _sending(r: redis.Redis, platform_id: str) -> bool:
    """Whether a mass send of Qianfa's on the platform was started and not yet recorded."""
    for draft_id, version in pubs.due_members(r, float("inf")):
        pub = pubs.load(r, draft_id, version)
        if pub and pub.platform == platform_id and pub.send_intent_at and not pub.msg_id:
            return True
    return False


def _raise_once_mass(r: redis.Redis, platform_id: str, msg_id: str, known: dict, claim) -> str:
    claim_key = keys.monitoring_claim(f"unreviewed_publication:{platform_id}:{claim}")

    def change(tx: Tx) -> str:
        if tx.read.exists(claim_key):
            return ""
        tx.write.set(claim_key, timestamp())
        detail = {"msg_id": msg_id, "mass": True, "title": known["title"], "url": known["url"]}
        message = _message(r, platform_id, "unreviewed_mass", known)
        audit.append(
            tx, ACTOR, "monitoring.unreviewed_publication", platform=platform_id, detail=detail
        )
        alerts.queue_in(tx, "unreviewed_publication", message, platform=platform_id, detail=detail)
        return "unreviewed_publication"

    return atomically(r, [claim_key], change)


def _succeeded(r: redis.Redis, platform_id: str, state: dict) -> None:
    r.hset(keys.monitoring(platform_id), mapping={"last_round": timestamp(), "failures": 0})
    r.hdel(keys.monitoring(platform_id), "retry_at", "error", "status")
    if state.get("status") == "unavailable":
        audit.record(r, ACTOR, "monitoring.available", platform=platform_id)


def _failed(r: redis.Redis, platform_id: str, state: dict, exc: WeChatError) -> None:
    """Back off; an unverified account (48001) is said to be unmonitorable once."""
    failures = int(state.get("failures") or 0) + 1
    delay = backoff(failures - 1, base=RETRY_BASE, cap=RETRY_CAP)
    unavailable = getattr(exc, "errcode", None) == UNVERIFIED
    changes = {"failures": failures, "retry_at": time.time() + delay, "error": str(exc)[:200]}
    if unavailable:
        changes["status"] = "unavailable"
    r.hset(keys.monitoring(platform_id), mapping=changes)
    log.warning("reconciliation of %s failed (%s); next try in %.0fs", platform_id, exc, delay)
    if unavailable and state.get("status") != "unavailable":
        why = "该公众号未认证,微信不提供已发布文章的查询接口,无法监测(48001)"
        audit.record(r, ACTOR, "monitoring.unavailable", platform=platform_id, reason=why)


def status(r: redis.Redis, platform_id: str) -> dict[str, str]:
    """The platform's monitoring state."""
    return decode(r.hgetall(keys.monitoring(platform_id)))


def statuses(r: redis.Redis, platform_ids: list[str]) -> list[dict[str, str]]:
    """Each platform's monitoring state, in one round trip (the daily report)."""
    with r.pipeline(transaction=False) as pipe:
        for pid in platform_ids:
            pipe.hgetall(keys.monitoring(pid))
        return [decode(raw) for raw in pipe.execute()]


def reconcile_all(r: redis.Redis, api_for: Callable[[str], object]) -> list[Round]:
    """One round for every running WeChat account; other platforms are watched through
    their feeds (``app.monitoring.feeds``)."""
    return [
        reconcile(r, api_for(platform.id), platform.id)
        for platform in platforms.all_platforms(r)
        if platform.is_active and platform.kind == "wechat" and platform.appid
    ]
