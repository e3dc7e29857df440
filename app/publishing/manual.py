"""The manual channel: a platform without a publishing API (Weibo, a campus CMS, an app).

Review is the same as everywhere; an approved draft is then not published by Qianfa. Its
publication waits in step ``manual`` while an administrator publishes it by hand and reports
the address (chat ``已发布 D42 <链接>``, the console's review page,
``POST /api/v1/drafts/<id>/published``). ``accept`` takes the report after the cheap checks
(who, the URL's shape and domain, the draft's state) and answers at once; the job
``check_report`` then runs ``verify``: it fetches the page through the egress guard,
extracts its main text and compares it with the approved version (``app.publishing.pages``).
Either way the draft becomes published with its URL, and a page that differs raises
``published_differs`` listing what differs. A page that cannot be checked (unreachable, not
HTML, too large, redirected elsewhere) changes nothing but the report's ``Check``, which
says why; the reporter is told the outcome. A feed item matching an approved draft nobody
reported publishes it too (``record_found``). An approved draft not reported within
``QIANFA_MANUAL_REPORT_AFTER`` is due for a reminder (``due``).
"""

import dataclasses
import hashlib
import json
import time
from dataclasses import dataclass

import redis

from app.core import audit, keys, validate
from app.core.alerts import queue_in
from app.core.errors import Conflict, Forbidden, InvalidInput, QianfaError
from app.core.settings import Settings
from app.core.store import Tx, atomically, decode, timestamp
from app.drafts import lifecycle
from app.publishing import pages
from app.publishing import record as pubs
from app.publishing.record import Publication
from app.registry import access, platforms, sites

MATCH, DIFFERS = "match", "differs"
CHECKING, FAILED = "checking", "failed"
STATES_ZH = {
    CHECKING: "正在核对",
    MATCH: "与审核版本一致",
    DIFFERS: "与审核版本不一致",
    FAILED: "无法核对",
}
ACTOR = audit.Actor.system("publisher")


@dataclass(frozen=True)
class Check:
    """One report of a page published by hand, and where its check stands."""

    draft: str
    url: str
    reporter: str
    reply_on: str  # the WeChat platform the report came from in chat, else ''
    content_hash: str
    seq: str  # the report's audit record; a later report replaces this one
    state: str = CHECKING
    at: str = ""
    summary: str = ""
    error: str = ""
    detail: str = "{}"  # JSON: the sentences that differ

    @property
    def state_zh(self) -> str:
        return STATES_ZH.get(self.state, self.state)

    def write_in(self, tx: Tx) -> None:
        key = keys.manual_check(self.draft)
        tx.write.delete(key)
        tx.write.hset(key, mapping={**dataclasses.asdict(self), "at": self.at or timestamp()})

    def to_dict(self) -> dict:
        """What the API and the console show of it."""
        shown = {"state": self.state, "state_zh": self.state_zh, "url": self.url}
        shown.update(reported_at=self.at, summary=self.summary, error=self.error)
        return {**shown, "matches": self.state == MATCH, **json.loads(self.detail)}


def current_check(r: redis.Redis, draft_id: str) -> Check | None:
    """The latest report of the draft's page, or ``None``."""
    raw = decode(r.hgetall(keys.manual_check(draft_id)))
    return Check(**raw) if raw else None


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


def accept(r: redis.Redis, actor: audit.Actor, draft_id: str, url, *, reply_on: str = ""):
    """Take a report after the checks that cost nothing; the page is checked by a job.

    Who may report, the URL's shape and domain and the draft's state are checked here, so a
    wrong report is refused at once; fetching a page may take 30 s, longer than WeChat
    waits for a chat reply, so the audited ``publish.report`` record is routed to the job
    ``check_report`` (``verify``). ``reply_on``: the WeChat platform the report was made on
    in chat, where the result is sent. Returns the ``Check``, in state ``checking``.
    """
    draft = lifecycle.get(r, draft_id)
    platform = platforms.get(r, draft.platform)
    _authorize(r, actor, platform)
    url = validate.url(url, "发布链接", required=True)
    site = _site(r, platform)
    if not site.owns(url):
        raise InvalidInput(f"链接不在平台「{platform.name}」登记的域名 {site.domain} 上")
    _require_reportable(draft, platform)

    def change(tx: Tx) -> Check:
        current = lifecycle.read_in(tx, draft.id)
        if current.content_hash != draft.content_hash:
            raise Conflict(f"稿件 {draft.id} 刚有了新版本,请重新报告")
        _require_reportable(current, platforms.read_in(tx, current.platform))
        record = audit.append(
            tx,
            actor,
            "publish.report",
            platform=current.platform,
            draft=current.id,
            version_hash=current.content_hash,
            detail={"url": url},
        )
        check = Check(current.id, url, actor.person, reply_on, current.content_hash, record["seq"])
        check.write_in(tx)
        return check

    return atomically(r, [keys.draft(draft.id), keys.manual_check(draft.id)], change)


def verify(r: redis.Redis, record: dict[str, str], settings: Settings) -> "Check | None":
    """The job's part: fetch the reported page, compare it and record the outcome.

    ``record`` is the ``publish.report`` audit record. A match or a difference records the
    draft as published (``_record``); a page that cannot be checked leaves the draft
    approved and the check ``failed`` with the reason. ``None`` when a later report
    replaced this one; a check already settled is returned as it is (a job run again).
    """
    check = current_check(r, record["draft"])
    if check is None or check.seq != record["seq"] or check.state != CHECKING:
        return check if check is not None and check.seq == record["seq"] else None
    draft = lifecycle.get(r, check.draft)
    site = sites.get(r, draft.platform)
    actor = audit.Actor(record["via"], record["person"], record["openid"], record["operator"])
    try:
        if draft.content_hash != check.content_hash:
            raise Conflict(f"稿件 {draft.id} 在核对期间有了新版本,请重新报告")
        html, final_url = pages.fetch(check.url, settings.fetch_allow, site.owns)
        content = lifecycle.version(r, draft.id, draft.version).content
        title, text = approved_text(draft.kind, content)
        page = pages.extract(html)
        found = pages.compare(text, page, title=title)
        return _record(r, actor, draft, final_url, found, pages.text_hash(page), check)
    except QianfaError as exc:  # unreachable, not HTML, too large, moved away, a new version
        return _settle(r, check, exc.message, draft.platform)


def may_report(r: redis.Redis, actor: audit.Actor, platform: platforms.Platform) -> bool:
    """The platform's administrators and the propaganda department report its pages."""
    if actor.trusted or access.has_role(r, actor.person, access.PROPAGANDA):
        return True
    return bool(actor.person) and access.has_role(r, actor.person, access.ADMIN, platform.id)


def _authorize(r: redis.Redis, actor: audit.Actor, platform: platforms.Platform) -> None:
    if not may_report(r, actor, platform):
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


def _record(r, actor, draft, url: str, found: pages.Comparison, page_hash: str, check=None):
    """One transaction: publication done, draft published, page remembered, alert if it
    differs, and the report's check settled. Returns the check (None without one)."""
    verdict = MATCH if found.matches else DIFFERS
    watched = [keys.draft(draft.id), keys.manual_check(draft.id)]

    def change(tx: Tx) -> Check | None:
        current = lifecycle.read_in(tx, draft.id)
        if current.content_hash != draft.content_hash:
            raise Conflict(f"稿件 {draft.id} 在核对期间有了新版本,请重新报告")
        _require_reportable(current, platforms.read_in(tx, current.platform))
        if check is not None and _replaced(tx, check):
            return None
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
        if check is None:
            detail["found_by"] = "feed"
        lifecycle.move_in(tx, actor, current, "report", detail=detail)
        if not found.matches:
            queue_in(
                tx,
                "published_differs",
                f"稿件 {current.id} 手工发布的页面与审核通过的版本不一致:{found.summary()}",
                platform=current.platform,
                draft=current.id,
                detail={"url": url, "version": current.version, **found.detail()},
            )
        if check is None:
            return None
        shown = json.dumps(found.detail() if not found.matches else {}, ensure_ascii=False)
        settled = dataclasses.replace(check, state=verdict, summary=found.summary(), detail=shown)
        settled.write_in(tx)
        return settled

    return atomically(r, watched, change)


def _replaced(tx: Tx, check: Check) -> bool:
    """Whether a later report (or a settled check) took this one's place."""
    raw = tx.read.hmget(keys.manual_check(check.draft), "seq", "state")
    return raw != [check.seq.encode(), CHECKING.encode()]


def _settle(r: redis.Redis, check: Check, error: str, platform_id: str) -> Check | None:
    """A report whose page could not be checked: the draft stays approved, the reporter
    is told why (audited ``publish.report_failed``)."""

    def change(tx: Tx) -> Check | None:
        if _replaced(tx, check):
            return current_check(tx.read, check.draft)
        settled = dataclasses.replace(check, state=FAILED, error=error[:300])
        settled.write_in(tx)
        audit.append(
            tx,
            ACTOR,
            "publish.report_failed",
            platform=platform_id,
            draft=check.draft,
            version_hash=check.content_hash,
            reason=error[:300],
            detail={"url": check.url},
        )
        return settled

    return atomically(r, [keys.manual_check(check.draft)], change)


def record_found(r: redis.Redis, draft: lifecycle.Draft, url: str, page_hash: str):
    """A feed item matching an approved draft nobody reported: the draft is published there."""
    _record(r, ACTOR, draft, url, pages.Comparison(matches=True), page_hash)
    return lifecycle.get(r, draft.id)


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
