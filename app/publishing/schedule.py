"""Publishing (发布): an approved draft goes out through WeChat exactly once.

``schedule`` creates the durable publication record of the draft's current version and
queues its first run (at the draft's scheduled time, or now). Each run (``run``, the RQ
job ``workers.jobs.publish_draft``) takes the draft's lease and advances the record one
recorded step at a time (``app.publishing.steps``). ``on_publish_finished`` is what the webhook
calls for PUBLISHJOBFINISH; ``sweep`` re-queues publications whose job was lost (a worker
killed mid-job). Text posts go out as a mass send, articles and image posts through
the draft box and ``freepublish``. ``send_preview`` sends a draft to one reviewer's
WeChat (``message/mass/preview``) where the platform allows it.
"""

import time
from datetime import UTC, datetime

import redis
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from app.core import audit, keys
from app.core.errors import Conflict
from app.core.settings import Settings, get_settings
from app.core.store import Tx, atomically, timestamp
from app.drafts import images, lifecycle
from app.outbox import queues
from app.publishing import articles, channels
from app.publishing import record as pubs
from app.publishing.record import Publication
from app.publishing.steps import ACTOR, Publisher, audit_unknown
from app.registry import platforms
from app.wechat.client import WeChatAPI

PENDING_JOB = (JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED)


def schedule(r: redis.Redis, draft_id: str, *, settings: Settings | None = None):
    """Queue the publication of an approved draft's current version; repeat calls add nothing.

    It goes at ``draft.scheduled_at``, or at once when that is unset or already past.
    Returns the publication, or None when the draft is not approved.
    """
    settings = settings or get_settings()
    draft = lifecycle.get(r, draft_id)
    when = _moment(draft.scheduled_at)
    channel = channels.for_kind(platforms.get(r, draft.platform).kind)

    def change(tx: Tx) -> tuple[Publication | None, bool]:
        current = lifecycle.read_in(tx, draft.id)
        if current.status != lifecycle.APPROVED:
            return None, False
        earlier = pubs.read_in(tx, current.id, current.version)
        if earlier is not None and earlier.step != pubs.REFUSED and earlier.step != pubs.FAILED:
            return earlier, False
        pub = Publication(
            draft=current.id,
            version=current.version,
            content_hash=current.content_hash,
            platform=current.platform,
            kind=current.kind,
            step=channel.first_step,
            round=earlier.round + 1 if earlier else 1,
            run=1,
            job=queues.publish_job_id(current.id, current.version, 1),
            channel=channel.name,
            created_at=timestamp(),
        )
        due = when.timestamp() if when else time.time()
        pub = channel.begin_in(tx, pub, due, settings)
        pubs.step_audit(
            tx, pub, "publish.scheduled", scheduled_at=current.scheduled_at, channel=channel.name
        )
        return pub, True

    pub, created = atomically(r, [keys.draft(draft.id)], change)
    if created:
        channel.start(r, settings, pub, when)
    elif pub is not None and pub.step == pubs.QUEUED:
        _follow_schedule(r, settings, pub, when)
    return pub


def _follow_schedule(r: redis.Redis, settings: Settings, pub: Publication, when) -> None:
    """The draft's publish time changed since it was queued: queue a run for the new time."""
    due = when.timestamp() if when else time.time()
    queued = r.zscore(keys.publications_active(), pub.member)
    if queued is not None and abs(queued - due) > 1 and not pubs.lease_held(r, pub.draft):
        delay = max(0.0, due - time.time())
        Publisher(r, settings, pub).schedule_run(delay, "publish.rescheduled")


def _moment(stored: str) -> datetime | None:
    if not stored:
        return None
    when = datetime.fromisoformat(stored)
    return when if when > datetime.now(UTC) else None


def run(
    r: redis.Redis,
    draft_id: str,
    version: int,
    *,
    settings: Settings | None = None,
    number: int = 0,
) -> str:
    """Advance one publication as far as it goes now; return where it stands.

    Only the holder of the draft's lease advances it: a second run at the same time
    returns "busy" and leaves it alone. Run ``number`` (when given) exits if a later run
    has been queued since (a callback or the sweeper queued one), so runs never fork.
    """
    settings = settings or get_settings()
    lease = pubs.Lease(r, draft_id, settings.publish_lease)
    if not lease.acquire():
        return "busy"
    try:
        pub = pubs.load(r, draft_id, int(version))
        if pub is None:
            return "unknown"
        if number and number < pub.run:
            return "superseded"
        return channels.of(pub).advance(r, settings, pub, lease)
    finally:
        lease.release()


def sweep(r: redis.Redis, *, settings: Settings | None = None, now: float | None = None):
    """Re-queue every unfinished publication that is due, unleased and has no live job.

    A worker killed mid-job leaves its run "started" in RQ and the lease to expire; once
    it has, the next sweep queues a new run, which resumes from the recorded step.
    Returns the ``<draft>:v<version>`` re-queued.
    """
    settings = settings or get_settings()
    resumed = []
    for draft_id, version in pubs.due_members(r, time.time() if now is None else now):
        if pubs.lease_held(r, draft_id):
            continue
        pub = pubs.load(r, draft_id, version)
        if pub is None or pub.finished:
            r.zrem(keys.publications_active(), pubs.member(draft_id, version))
            continue
        if _job_pending(r, pub.job):
            continue
        Publisher(r, settings, pub).schedule_run(0, "publish.resumed", lost_job=pub.job)
        resumed.append(pub.member)
    return resumed


def _job_pending(r: redis.Redis, job_id: str) -> bool:
    """Whether the run named is waiting to start; a "started" run without lease is lost."""
    if not job_id:
        return False
    try:
        return Job.fetch(job_id, connection=r).get_status() in PENDING_JOB
    except NoSuchJobError:
        return False


def on_publish_finished(
    r: redis.Redis,
    publish_id,
    status: int,
    article_id: str = "",
    article_url: str = "",
    fail_idx=(),
    *,
    settings: Settings | None = None,
) -> bool:
    """Take WeChat's PUBLISHJOBFINISH; False (and audited) when the publish_id is not ours.

    Success settles the publication at once; a failure (or a success without the article
    URL) queues a run that asks WeChat, and looks for our article before failing the
    draft. Repeats change nothing.
    """
    settings = settings or get_settings()
    pub = pubs.by_publish_id(r, str(publish_id))
    if pub is None:
        audit_unknown(r, str(publish_id), int(status))
        return False
    audit.record(
        r,
        ACTOR,
        "publish.callback",
        platform=pub.platform,
        draft=pub.draft,
        version_hash=pub.content_hash,
        detail={
            "publish_id": str(publish_id),
            "publish_status": int(status),
            "failed": len(fail_idx),
        },
    )
    if pub.finished or int(status) == 1:
        return True
    publisher = Publisher(r, settings, pub)
    if int(status) == 0 and article_url:
        publisher.published(article_id, article_url)
    else:  # a failure, or a success without the URL: a run asks WeChat
        publisher.schedule_run(0, "publish.poll", publish_status=int(status))
    return True


def publication_of(r: redis.Redis, draft_id: str) -> Publication | None:
    """The publication of the draft's current version, if there is one."""
    draft = lifecycle.get(r, draft_id)
    return pubs.load(r, draft.id, draft.version)


# --- previews -------------------------------------------------------------------------


def set_preview(r: redis.Redis, actor: audit.Actor, platform_id: str, enabled: bool) -> bool:
    """Allow or forbid sending drafts to reviewers' WeChat before approval (群发预览)."""
    platform = platforms.get(r, platform_id)
    key = keys.platform_publishing(platform.id)

    def change(tx: Tx) -> bool:
        tx.write.hset(key, "mass_preview", "1" if enabled else "0")
        audit.append(
            tx,
            actor,
            "platform.preview_setting",
            platform=platform.id,
            decision="on" if enabled else "off",
        )
        return enabled

    return atomically(r, [key], change)


def preview_enabled(r: redis.Redis, platform_id: str) -> bool:
    return r.hget(keys.platform_publishing(platform_id), "mass_preview") == b"1"


def send_preview(r: redis.Redis, draft_id: str, openid: str, *, settings=None) -> int | None:
    """Send the draft's current version to one reviewer's WeChat to look at.

    Articles and image posts are uploaded and put in the draft box first (a preview shows a
    WeChat draft); text posts are sent as text. Returns WeChat's msg_id when it gives one.
    """
    settings = settings or get_settings()
    draft = lifecycle.get(r, draft_id)
    if not preview_enabled(r, draft.platform):
        raise Conflict(f"平台 {draft.platform} 未开启群发预览")
    content = lifecycle.version(r, draft.id).content
    api = WeChatAPI.for_platform(r, draft.platform, settings)
    if draft.kind == lifecycle.TEXT:
        msg_id = api.mass_preview_text(openid, content["text"])
        uploads = 0
    else:
        media_id, uploads = _preview_draft(r, api, draft, content, settings.fetch_allow)
        msg_id = api.mass_preview(openid, media_id)
    audit.record(
        r,
        ACTOR,
        "publish.preview",
        platform=draft.platform,
        draft=draft.id,
        version_hash=draft.content_hash,
        detail={"version": draft.version, "uploads": uploads},
    )
    return msg_id


def _preview_draft(r, api: WeChatAPI, draft, content: dict, allow) -> tuple[str, int]:
    data, name = images.image_bytes(r, articles.cover_source(draft.kind, content), allow)
    cover = api.add_image_material(data, name)["media_id"]
    urls = {}
    if draft.kind == lifecycle.ARTICLE:
        for src in articles.inline_images(content["content_html"]):
            data, name = images.image_bytes(r, src, allow)
            urls[src] = api.upload_content_image(data, name)
    article = articles.draft_article(draft.kind, content, cover, urls)
    return api.draft_add([article]), 1 + len(urls)
