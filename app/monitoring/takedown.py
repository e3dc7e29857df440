"""Take-down (下架): the propaganda department, or the leading group, removes an article
from a platform with a reason (art. 15: problems are 妥善处理).

A take-down is asked for in chat (``下架 <链接或 D42 或 A12> <原因>``) or with the
console's button, and happens in two steps so neither waits on WeChat: ``request``
decides who may, finds the article and records ``monitoring.takedown_request``; the
dispatcher hands that record to a worker, which calls ``freepublish/delete`` (``perform``),
then records ``monitoring.takedown`` and resolves the alerts about the article in one
transaction, and tells the author, the responsible person and whoever asked. An article
already gone is recorded as such and reported, not treated as an error. Nothing is ever
taken down automatically.
"""

import html
import json
from collections.abc import Callable
from dataclasses import dataclass

import redis

from app.core import alertstate, audit, keys, validate
from app.core.errors import Conflict, InvalidInput, NotFound
from app.core.store import Tx, atomically, decode, timestamp
from app.drafts import lifecycle
from app.notify import deliver
from app.notify.deliver import Notice
from app.publishing import record as pubs
from app.registry import access, platforms

TAKERS = (access.PROPAGANDA, access.LEADING_GROUP)
REASON_MAX = 200
REQUEST_TTL = 3600  # a request not carried out within this is forgotten and may be made again
REMOVED, GONE = "removed", "already_gone"
OUTCOMES = {REMOVED: "已从平台删除", GONE: "平台上已没有这篇文章(此前已被删除)"}


@dataclass(frozen=True)
class Target:
    """One article online: the platform, WeChat's article id, and what Qianfa knows of it."""

    platform: str
    article_id: str
    title: str = ""
    url: str = ""
    draft: str = ""


def request(r: redis.Redis, actor: audit.Actor, raw_target: str, reason: str) -> Target:
    """Ask for a take-down; the worker carries it out (``perform``)."""
    access.authorize(r, actor, TAKERS, "下架文章")
    target = find(r, raw_target)
    reason = validate.text(reason, "下架原因", max_len=REASON_MAX)
    asked = keys.monitoring_claim(f"takedown-request:{target.platform}:{target.article_id}")
    known = keys.online_articles(target.platform)

    def change(tx: Tx) -> Target:
        entry = _entry(tx.read.hget(known, target.article_id))
        if entry.get("taken_down_at"):
            raise Conflict(f"这篇文章已于 {entry['taken_down_at']} 下架")
        if tx.read.exists(asked):
            raise Conflict("这篇文章已在下架中,完成后会通知你")
        tx.write.set(asked, timestamp(), ex=REQUEST_TTL)
        audit.append(
            tx,
            actor,
            "monitoring.takedown_request",
            platform=target.platform,
            draft=target.draft,
            reason=reason,
            detail={"article_id": target.article_id, "title": target.title, "url": target.url},
        )
        return target

    return atomically(r, [asked, known], change)


def find(r: redis.Redis, raw) -> Target:
    """The article a person named: a link, a draft Qianfa published (D42), or an alert (A12)."""
    text = validate.normalize(str(raw or "")).strip()
    if not text:
        raise InvalidInput("请写明要下架的文章:文章链接、稿件编号(如 D42)或告警编号(如 A12)")
    head = text[:1].upper()
    if head == "D" and text[1:].isdigit():
        return _of_draft(r, text)
    if head == "A" and text[1:].isdigit():
        return _of_alert(r, text)
    if text.lower().startswith(("http://", "https://")):
        return _of_url(r, text)
    raise InvalidInput(f"看不懂「{text[:40]}」:请写文章链接、稿件编号(如 D42)或告警编号(如 A12)")


def _of_draft(r: redis.Redis, raw: str) -> Target:
    draft = lifecycle.get(r, raw)
    for version in range(draft.version, 0, -1):
        pub = pubs.load(r, draft.id, version)
        if pub and pub.article_id:
            known = _entry(r.hget(keys.online_articles(pub.platform), pub.article_id))
            content = lifecycle.version(r, draft.id, version).content
            title = known.get("title") or str(content.get("title", ""))
            url = pub.article_url or known.get("url", "")
            return Target(pub.platform, pub.article_id, title, url, draft.id)
    raise NotFound(f"稿件 {draft.id} 没有通过图文发布的在线文章")


def _of_alert(r: redis.Redis, raw: str) -> Target:
    case = alertstate.get(r, raw)
    detail = case.details
    if not (case.platform and detail.get("article_id")):
        raise InvalidInput(f"告警 {case.number} 没有指向某篇在线文章,请改用文章链接")
    draft = case.draft or _draft_of(r, detail["article_id"])
    return Target(
        case.platform, detail["article_id"], detail.get("title", ""), detail.get("url", ""), draft
    )


def _of_url(r: redis.Redis, raw: str) -> Target:
    wanted = _plain_url(raw)
    for platform in platforms.all_platforms(r):
        for article_id, value in decode(r.hgetall(keys.online_articles(platform.id))).items():
            known = _entry(value)
            if known.get("url") and _plain_url(known["url"]) == wanted:
                draft = _draft_of(r, article_id)
                return Target(platform.id, article_id, known.get("title", ""), known["url"], draft)
    raise NotFound("没有找到这个链接对应的在线文章(签发只认得已核对过的文章),请改用稿件编号")


def _plain_url(url: str) -> str:
    """A link as people paste it: entities unescaped, fragment and scheme left aside."""
    text = html.unescape(url.strip()).split("#", 1)[0]
    return text.split("://", 1)[-1].rstrip("/")


def _draft_of(r: redis.Redis, article_id: str) -> str:
    member = r.get(keys.published_article(article_id))
    return pubs.parse_member(member.decode())[0] if member else ""


def _entry(raw) -> dict:
    if not raw:
        return {}
    return json.loads(raw.decode() if isinstance(raw, bytes) else raw)


# --- the worker's side -------------------------------------------------------------------


def perform(r: redis.Redis, api_for: Callable[[str], object], record: dict[str, str]) -> str:
    """Carry out one requested take-down, once however often the job runs; then tell."""
    detail = json.loads(record.get("detail") or "{}")
    target = Target(
        record["platform"],
        detail["article_id"],
        detail.get("title", ""),
        detail.get("url", ""),
        record.get("draft", ""),
    )
    done = keys.monitoring_claim(f"takedown:{record['id']}")
    outcome = (r.get(done) or b"").decode()
    if not outcome:
        removed = api_for(target.platform).freepublish_delete(target.article_id)
        outcome = _settle(r, record, target, REMOVED if removed else GONE, done)
    tell(r, api_for, record, target, outcome)
    return outcome


def _settle(r: redis.Redis, record: dict, target: Target, outcome: str, done: str) -> str:
    """Record the take-down and resolve the open alerts about the article, together."""
    actor = audit.Actor(via=record["via"], person=record["person"], openid=record["openid"])
    known = keys.online_articles(target.platform)
    note = f"已下架({OUTCOMES[outcome]}):{record['reason']}"

    def change(tx: Tx) -> str:
        if tx.read.exists(done):
            return tx.read.get(done).decode()
        cases = [case for case in _cases_about(tx, target) if case is not None]
        entry = _entry(tx.read.hget(known, target.article_id))
        entry.update(taken_down_at=timestamp(), taken_down_by=actor.person or actor.operator)
        tx.write.hset(known, target.article_id, json.dumps(entry, ensure_ascii=False))
        tx.write.set(done, outcome)
        tx.write.delete(
            keys.monitoring_claim(f"takedown-request:{target.platform}:{target.article_id}")
        )
        audit.append(
            tx,
            actor,
            "monitoring.takedown",
            platform=target.platform,
            draft=target.draft,
            decision=outcome,
            reason=record["reason"],
            detail={
                "article_id": target.article_id,
                "title": target.title,
                "url": target.url,
                "request": record["id"],
                "alerts": [case.number for case in cases],
            },
        )
        for case in cases:
            alertstate.move_in(tx, actor, case, "resolve", note)
        return outcome

    return atomically(r, [done, known], change)


def _cases_about(tx: Tx, target: Target) -> list:
    """The open alerts that named this article (read in the transaction)."""
    numbers = [n.decode() for n in tx.read.zrange(keys.alerts_open(), 0, -1)]
    found = []
    for number in numbers:
        case = alertstate.read_in(tx, number)
        if case and case.platform == target.platform:
            if case.details.get("article_id") == target.article_id:
                found.append(case)
    return found


def tell(r, api_for, record: dict, target: Target, outcome: str) -> dict[str, str]:
    """The author (when Qianfa published it), the responsible person and whoever asked."""
    platform = platforms.get(r, target.platform)
    people = {record["person"]: "asked", platform.responsible: "responsible"}
    if target.draft:
        people[lifecycle.get(r, target.draft).author] = "author"
    notice = takedown_notice(record, target, outcome)
    told = {}
    for person in filter(None, people):
        told[person] = deliver.tell(r, api_for, person, platform.id, notice)
    return told


def takedown_notice(record: dict, target: Target, outcome: str) -> Notice:
    title = f"《{target.title}》" if target.title else f"文章 {target.article_id}"
    text = (
        f"【文章下架】平台 {target.platform} 的{title}{OUTCOMES[outcome]}。\n"
        f"原因:{record['reason']}" + (f"\n原链接:{target.url}" if target.url else "")
    )
    return Notice(
        purpose="takedown",
        token=record["id"],
        text=deliver.fit(text),
        headline="文章下架",
        subject=f"平台 {target.platform}",
        reply=record["reason"],
        draft=target.draft,
    )
