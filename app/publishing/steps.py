"""The steps of one publication, each at most one WeChat call, each recorded before the next.

``Publisher.advance`` runs the publication's steps from wherever it stands until it is
finished or has to wait (for WeChat's publish job, a retry, the quota reset). It only
runs while it holds the draft's lease. What each step does:

    queued  re-check platform, quota, status, version and sign-offs; approved -> publishing
    cover   the cover (an image post: its picture) -> material/add_material
    images  one inline <img> -> media/uploadimg, its URL recorded; repeated per image
    draft   record the intent, draft/add -> media_id (on resume: find it in the draft box)
    submit  record the intent, freepublish/submit -> publish_id (on resume: ask WeChat first)
    wait    freepublish/get with backoff, or PUBLISHJOBFINISH, until published or failed
    send    a text post: message/mass/sendall with a clientmsgid derived from draft+version
"""

import logging
import time
from datetime import UTC, datetime

import redis

from app.core import audit, keys, metrics, validate
from app.core.alerts import queue_in
from app.core.backoff import CAP as BACKOFF_CAP
from app.core.backoff import backoff
from app.core.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    Unconfirmed,
    WeChatError,
    WeChatPermanent,
    WeChatQuotaExhausted,
    WeChatRetryable,
    WeChatTokenInvalid,
)
from app.core.settings import Settings
from app.core.store import Tx, atomically, timestamp
from app.drafts import images, lifecycle, rescreen, standing, suspension
from app.drafts.images import ImageUnavailable
from app.publishing import articles
from app.publishing import record as pubs
from app.publishing.crashpoints import crash_point
from app.publishing.record import Publication
from app.registry import platforms
from app.wechat import errcodes, quota
from app.wechat.client import PUBLISH_STATUS, WeChatAPI

log = logging.getLogger(__name__)

ACTOR = pubs.ACTOR
MAX_POLLS = 30
MASS_DEDUPE_SAFE = 23 * 3600  # seconds: inside WeChat's 24-hour clientmsgid window
SEARCH_PAGES = 5  # batchget pages (20 each, newest first) searched for our own draft/article
REASON_MAX = 200


def clientmsgid(pub: Publication) -> str:
    """Same draft and version, same id: WeChat drops a repeated mass send for 24 hours."""
    return f"qianfa-{pub.draft}-v{pub.version}-{pub.content_hash[:16]}"


class Publisher:
    """Advances one publication; built per run, holding the run's lease (None outside a run)."""

    def __init__(self, r: redis.Redis, settings: Settings, pub: Publication, lease=None):
        self.r, self.settings, self.pub, self.lease = r, settings, pub, lease
        self._api = None
        self._content = None

    @property
    def api(self) -> WeChatAPI:
        if self._api is None:
            self._api = WeChatAPI.for_platform(self.r, self.pub.platform, self.settings)
        return self._api

    @property
    def content(self) -> dict[str, str]:
        if self._content is None:
            self._content = lifecycle.version(self.r, self.pub.draft, self.pub.version).content
        return self._content

    # --- the loop ---

    def advance(self) -> str:
        """Run steps until finished or waiting; return what the publication is doing now."""
        try:
            return self._steps()
        except WeChatQuotaExhausted as exc:
            return self._hold(exc)
        except (WeChatRetryable, WeChatTokenInvalid) as exc:
            return self._retry(exc, exc.message)
        except ImageUnavailable as exc:
            return self._retry(exc, exc.message) if exc.retryable else self.fail(exc.message)
        except (WeChatPermanent, InvalidInput, NotFound) as exc:
            return self.fail(exc.message)
        except Unconfirmed:
            # No WeChat call follows a step no replica has; the sweeper resumes from it.
            log.warning("publication %s: step not confirmed by a replica", self.pub.member)
            return "unconfirmed"

    def _steps(self) -> str:
        steps = {
            pubs.QUEUED: self._start,
            pubs.COVER: self._cover,
            pubs.IMAGES: self._images,
            pubs.DRAFT: self._draft,
            pubs.SUBMIT: self._submit,
            pubs.SEND: self._send,
        }
        while self.pub is not None and not self.pub.finished:
            if self.pub.step == pubs.WAIT:
                return self._poll()
            if self.lease is not None and not self.lease.renew():
                log.warning("publication %s lost its lease; leaving it", self.pub.member)
                return "lease_lost"
            waiting = steps[self.pub.step]()
            if waiting:
                return waiting
        if self.pub is None:
            return "gone"
        self.settle_draft()
        return self.pub.step

    def _count(self, outcome: str) -> None:
        step = self.pub.step if self.pub is not None else "gone"
        metrics.count("qianfa_publish_steps_total", step=step, outcome=outcome)

    def _advance(self, step: str, detail: dict, **changes) -> None:
        self._count("done")
        self.pub = pubs.advance(self.r, self.pub, step, attempts=0, detail=detail, **changes)

    def _note(self, **changes) -> None:
        self.pub = pubs.note(self.r, self.pub, **changes)

    # --- queued: the checks at the moment it runs ---

    def refusal(self, draft: lifecycle.Draft) -> tuple[str, str]:
        """Why this publication may not start now ("" if it may), and the move that takes
        the draft out of "approved" with it, so that a refusal is never silent (art. 14, 17)."""
        platform = platforms.get(self.r, draft.platform)
        if not platform.is_active:
            label = platforms.STATUSES.get(platform.status, platform.status)
            why = f"平台 {platform.id} 当前为「{label}」,不能发布(第十七条)"
            return why, suspension.move_for(platform.status, draft.status)
        if draft.status != lifecycle.APPROVED:
            return f"稿件当前为「{lifecycle.STATUSES[draft.status]}」,不是「已通过」", ""
        if draft.version != self.pub.version or draft.content_hash != self.pub.content_hash:
            return f"稿件已有第 {draft.version} 版,第 {self.pub.version} 版不再发布", ""
        why = standing.lapsed(self.r, draft, self.settings.approval_ttl)
        return why, "lapse" if why else ""

    def _start(self) -> str:
        draft = lifecycle.get(self.r, self.pub.draft)
        resumed = draft.status == lifecycle.PUBLISHING and draft.version == self.pub.version
        if not resumed:
            # Screened again if the lexicons changed since review: a block or a new art. 11
            # topic takes the draft out of "approved", which the checks below then refuse.
            rescreen.recheck(self.r, draft.id)
            draft = lifecycle.get(self.r, self.pub.draft)
            reason, move = self.refusal(draft)
            if reason:
                return self._refuse(reason, move)
            early = _seconds_until(draft.scheduled_at)
            if early > 1:  # the publish time was moved later after this run was queued
                return self.schedule_run(early, "publish.rescheduled")
            if quota.is_paused(self.r, self.pub.platform):
                return self._hold(None)
            try:
                lifecycle.system_move(self.r, ACTOR, draft.id, "start_publishing")
            except Conflict as exc:
                return self._refuse(exc.message)
            crash_point("after:start")
        first = pubs.SEND if self.pub.kind == lifecycle.TEXT else pubs.COVER
        self._advance(first, {"done": "start", "kind": self.pub.kind})
        return ""

    def _refuse(self, reason: str, move: str = "") -> str:
        """Record the refusal and, in the same transaction, ``move`` the draft if it is
        still the approved version refused (held, withdrawn, or back to review)."""

        def change(tx: Tx) -> Publication:
            current = pubs.read_in(tx, self.pub.draft, self.pub.version)
            draft = lifecycle.read_in(tx, self.pub.draft) if move else None
            plan = None
            if draft is not None and draft.status == lifecycle.APPROVED:
                if draft.content_hash == current.content_hash:
                    plan = standing.plan_in(tx, draft, move)
            updated = pubs.write_in(tx, current, step=pubs.REFUSED, reason=reason)
            pubs.step_audit(tx, updated, "publish.refused", reason=reason)
            if plan is not None:
                standing.apply_in(tx, ACTOR, plan, reason[: validate.REASON_MAX])
            return updated

        self.pub = atomically(self.r, [keys.draft(self.pub.draft)], change, confirm=pubs.STEP)
        return pubs.REFUSED

    # --- uploads ---

    def _cover(self) -> str:
        source = articles.cover_source(self.pub.kind, self.content)
        data, name = images.image_bytes(self.r, source, self.settings.fetch_allow)
        crash_point("before:cover")
        answer = self.api.add_image_material(data, name)
        crash_point("after:cover")
        following = pubs.IMAGES if self.pub.kind == lifecycle.ARTICLE else pubs.DRAFT
        self._advance(
            following,
            {"done": "cover", "bytes": len(data)},
            cover_media_id=answer["media_id"],
            cover_url=answer.get("url", ""),
        )
        return ""

    def _images(self) -> str:
        wanted = articles.inline_images(self.content["content_html"])
        pending = [src for src in wanted if src not in self.pub.images]
        if not pending:
            self._advance(pubs.DRAFT, {"done": "images", "count": len(self.pub.images)})
            return ""
        data, name = images.image_bytes(self.r, pending[0], self.settings.fetch_allow)
        crash_point("before:images")
        url = self.api.upload_content_image(data, name)
        crash_point("after:images")
        uploaded = {**self.pub.images, pending[0]: url}
        detail = {"done": "image", "uploaded": len(uploaded), "of": len(wanted)}
        self._advance(pubs.IMAGES, detail, images=uploaded)
        return ""

    # --- the WeChat draft and its publication ---

    def _draft(self) -> str:
        if self.pub.draft_intent_at:
            found = self._find("draft_batchget", "media_id")
            if found:
                self._advance(
                    pubs.SUBMIT, {"done": "draft", "recovered": True}, media_id=found["media_id"]
                )
                return ""
        pub = self.pub
        article = articles.draft_article(pub.kind, self.content, pub.cover_media_id, pub.images)
        self._note(draft_intent_at=timestamp())
        crash_point("before:draft")
        media_id = self.api.draft_add([article])
        crash_point("after:draft")
        self._advance(
            pubs.SUBMIT, {"done": "draft", "images": len(self.pub.images)}, media_id=media_id
        )
        return ""

    def _find(self, method: str, id_field: str) -> dict | None:
        """Our draft or article in WeChat's newest pages: the one whose cover is ours.

        Each publication uploads its own cover, so its permanent media_id names it.
        """
        for page in range(SEARCH_PAGES):
            answer = getattr(self.api, method)(offset=page * 20, count=20)
            for item in answer["items"]:
                covers = [articles.cover_of(news) for news in item["news_item"]]
                if self.pub.cover_media_id in covers and item.get(id_field):
                    return item
            if (page + 1) * 20 >= answer["total_count"]:
                return None
        return None

    def _submit(self) -> str:
        if not self._platform_active():
            return self.fail(f"平台 {self.pub.platform} 已不在运行中,停止发布(第十七条)")
        again = bool(self.pub.submit_intent_at)
        if again and self._settled_by_wechat():
            return self.pub.step
        self._note(submit_intent_at=timestamp())
        crash_point("before:submit")
        try:
            answer = self.api.freepublish_submit(self.pub.media_id)
        except WeChatPermanent as exc:
            if not again:
                raise
            # WeChat may refuse a repeated submit while the first is still being published:
            # look again later instead of failing a draft that is about to go online.
            return self._retry(exc, exc.message)
        crash_point("after:submit")
        publish_id = answer["publish_id"]
        self.r.set(keys.publish_id(publish_id), self.pub.member)
        detail = {"done": "submit", "publish_id": publish_id}
        self._advance(pubs.WAIT, detail, publish_id=publish_id, polls=0)
        return self.schedule_run(self._delay(0), "publish.poll")

    def _settled_by_wechat(self) -> bool:
        """After a submit that may or may not have reached WeChat: did it publish?

        A WeChat draft becomes at most one article: once published it leaves the draft
        box, so submitting the same media_id again cannot publish it twice. So: our article
        online means done; our draft gone without an article means it was removed by
        someone; our draft still there means submit (again).
        """
        if self._found_online():
            return True
        if not self.api.draft_exists(self.pub.media_id):
            self.fail("微信草稿箱中的草稿已被删除,且没有找到已发布的文章")
            return True
        return False

    def _found_online(self) -> bool:
        """Settle as published if our article is among WeChat's published ones."""
        online = self._find("freepublish_batchget", "article_id")
        if not online:
            return False
        urls = [news.get("url", "") for news in online["news_item"]]
        self.published(online["article_id"], urls[0] if urls else "", recovered=True)
        return True

    def _poll(self) -> str:
        state = self.api.freepublish_get(self.pub.publish_id)
        status = state["publish_status"]
        if status == 0:
            urls = state["article_urls"]
            self.published(state["article_id"], urls[0] if urls else "")
            return self.pub.step
        if status == 1:
            polls = self.pub.polls + 1
            if polls > MAX_POLLS:
                return self.fail(f"微信在 {polls} 次查询后仍未完成发布")
            self._note(polls=polls)
            return self.schedule_run(self._delay(polls), "publish.poll")
        return self.failed_at_wechat(status)

    def failed_at_wechat(self, status: int) -> str:
        """WeChat says the job failed; unless our article is online after all (a repeated
        submit of a draft already published fails while the first one succeeded)."""
        if self._found_online():
            return self.pub.step
        meaning = PUBLISH_STATUS.get(status, f"状态 {status}")
        return self.fail(f"微信发布失败:{meaning}(publish_status {status})")

    def _send(self) -> str:
        if not self._platform_active():
            return self.fail(f"平台 {self.pub.platform} 已不在运行中,停止发布(第十七条)")
        if -_seconds_until(self.pub.send_intent_at) > MASS_DEDUPE_SAFE:
            # WeChat drops a repeated clientmsgid for 24 hours only: past that, a resend
            # could reach every follower twice, so a person has to look.
            return self.fail("上次群发已超过 23 小时仍未确认结果,为免重复群发已停止,请人工核对")
        if not self.pub.send_intent_at:
            self._note(send_intent_at=timestamp())
        crash_point("before:send")
        answer = self.api.mass_send_text(self.content["text"], clientmsgid(self.pub))
        crash_point("after:send")
        msg_id = "" if answer["msg_id"] is None else str(answer["msg_id"])
        self._finish(msg_id=msg_id, duplicate=answer["duplicate"])
        return self.pub.step

    def _platform_active(self) -> bool:
        return platforms.get(self.r, self.pub.platform).is_active

    # --- endings ---

    def published(self, article_id: str, article_url: str, recovered: bool = False) -> None:
        self._finish(article_id=article_id, article_url=article_url, recovered=recovered)

    def _finish(self, **result) -> None:
        changes = {k: v for k, v in result.items() if k in ("article_id", "article_url", "msg_id")}
        detail = {"done": "publish", **{k: v for k, v in result.items() if k != "article_url"}}
        if result.get("article_url"):
            detail["article_url"] = result["article_url"]
        self.pub = pubs.advance(self.r, self.pub, pubs.DONE, detail=detail, **changes)
        self.settle_draft()

    def fail(self, reason: str) -> str:
        """Fail the publication and the draft, with WeChat's reason, and alert."""
        reason = reason[:REASON_MAX]
        self._count("failed")

        def change(tx: Tx) -> Publication | None:
            current = pubs.read_in(tx, self.pub.draft, self.pub.version)
            if current is None or current.finished:
                return current
            updated = pubs.write_in(tx, current, step=pubs.FAILED, reason=reason)
            pubs.step_audit(tx, updated, "publish.failed", reason=reason)
            queue_in(
                tx,
                "publish_failed",
                f"稿件 {current.draft} 发布失败:{reason}",
                platform=current.platform,
                draft=current.draft,
                detail={"version": current.version, "step": current.step},
            )
            return updated

        self.pub = atomically(self.r, [], change, confirm=pubs.STEP)
        self.settle_draft()
        return pubs.FAILED

    def settle_draft(self) -> None:
        """Move the draft out of 发布中 to match a finished publication (idempotent)."""
        pub = self.pub
        if pub is None or pub.step not in (pubs.DONE, pubs.FAILED):
            return
        draft = lifecycle.get(self.r, pub.draft)
        if draft.status != lifecycle.PUBLISHING or draft.version != pub.version:
            return
        if pub.step == pubs.DONE:
            detail = {"article_url": pub.article_url, "article_id": pub.article_id}
            detail = {k: v for k, v in detail.items() if v} or {"msg_id": pub.msg_id}
            action, reason = "publish", ""
        else:
            action, reason, detail = "fail", pub.reason, {"step": "publish"}
        try:
            lifecycle.system_move(self.r, ACTOR, pub.draft, action, reason, detail=detail)
        except Conflict:
            pass  # settled by the callback or another run in the meantime

    # --- waiting ---

    def _delay(self, attempt: int) -> float:
        return backoff(attempt, base=self.settings.publish_retry_base)

    def _retry(self, exc: Exception, message: str) -> str:
        """Try again later; the record of the first retry tells the author (reason, that it
        retries, and for how long at most), and the publication shows the reason meanwhile."""
        attempts = self.pub.attempts + 1
        if attempts >= self.settings.publish_attempts:
            return self.fail(f"重试 {attempts} 次仍失败:{message}")
        if isinstance(exc, WeChatError):
            delay = errcodes.retry_delay(exc, attempts - 1, base=self.settings.publish_retry_base)
        else:
            delay = self._delay(attempts - 1)
        self._count("retry")
        self._note(attempts=attempts, reason=message[:REASON_MAX])
        errcode = getattr(exc, "errcode", None)
        return self.schedule_run(
            delay,
            "publish.retry",
            reason=message,
            attempts=attempts,
            errcode=errcode,
            retries_left=self.settings.publish_attempts - attempts,
            longest_wait=round(self.longest_wait(attempts)),
        )

    def longest_wait(self, attempts: int) -> float:
        """The most the remaining retries can take in all (each backoff at its ceiling)."""
        base = self.settings.publish_retry_base
        left = range(attempts, self.settings.publish_attempts)
        return sum(min(BACKOFF_CAP, base * 2 ** min(attempt, 32)) for attempt in left)

    def _hold(self, exc: WeChatQuotaExhausted | None) -> str:
        """The quota is spent: come back when it resets; the attempt does not count."""
        self._count("held")
        until = quota.paused_until(self.r, self.pub.platform)
        if until is not None:
            delay = (datetime.fromisoformat(until) - datetime.now(UTC)).total_seconds()
        else:
            delay = exc.retry_after if exc and exc.retry_after else 3600.0
        return self.schedule_run(max(1.0, delay) + 1.0, "publish.held")

    def schedule_run(self, delay: float, action: str, reason: str = "", **detail) -> str:
        """Queue the next run of this publication in ``delay`` seconds, and audit why."""
        from app.outbox import queues

        run = self.pub.run + 1
        job_id = queues.publish_job_id(self.pub.draft, self.pub.version, run)
        due = time.time() + max(0.0, delay)

        def change(tx: Tx) -> Publication:
            current = pubs.read_in(tx, self.pub.draft, self.pub.version)
            updated = pubs.write_in(tx, current, due=due, run=run, job=job_id)
            pubs.step_audit(tx, updated, action, reason, delay=round(delay, 1), **detail)
            return updated

        self.pub = atomically(self.r, [], change, confirm=pubs.STEP)
        at = datetime.fromtimestamp(due, UTC) if delay > 0 else None
        queues.enqueue_publish(
            self.r,
            self.pub.draft,
            self.pub.version,
            run,
            at=at,
            timeout=self.settings.publish_job_timeout,
        )
        return "waiting"


def _seconds_until(stored: str) -> float:
    if not stored:
        return 0.0
    return (datetime.fromisoformat(stored) - datetime.now(UTC)).total_seconds()


def audit_unknown(r: redis.Redis, publish_id: str, status: int) -> None:
    audit.record(
        r,
        ACTOR,
        "publish.callback_unknown",
        detail={"publish_id": str(publish_id), "publish_status": status},
    )
