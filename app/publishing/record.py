"""A publication (发布记录): the durable state of publishing one version of one draft.

One Redis hash per draft and version (``keys.publication``) says which step comes next
and holds every id WeChat gave back so far (cover media_id, inline image URLs, the
WeChat draft's media_id, publish_id, msg_id, the article URL). A step that calls WeChat
without an idempotency key first records its *intent* (``*_intent_at``), so a job that
resumes after a crash knows the call may have happened and asks WeChat before repeating
it. Unfinished publications sit in a sorted set scored by when they are next due, which
the sweeper reads; a short lease (``keys.publication_lease``) lets one job at a time
advance a draft's publication.
"""

import json
import time
from dataclasses import dataclass, field

import redis

from app.core import audit, keys, lease
from app.core.store import Tx, atomically, decode, timestamp

ACTOR = audit.Actor.system("publisher")

QUEUED, COVER, IMAGES, DRAFT, SUBMIT, WAIT, SEND = (
    "queued",
    "cover",
    "images",
    "draft",
    "submit",
    "wait",
    "send",
)
DONE, FAILED, REFUSED = "done", "failed", "refused"
MANUAL = "manual"  # a platform without a publishing API: waits for a person's report
STEPS = {
    QUEUED: "等待发布",
    COVER: "上传封面",
    IMAGES: "上传正文图片",
    DRAFT: "新建微信草稿",
    SUBMIT: "提交发布",
    WAIT: "等待微信发布结果",
    SEND: "群发",
    DONE: "已发布",
    FAILED: "发布失败",
    REFUSED: "拒绝发布",
    MANUAL: "等待手工发布",
}
FINISHED = (DONE, FAILED, REFUSED)
STEP = "发布步骤"  # what a step is called when no replica confirmed it (``replicas.confirm``)
INTS = ("version", "round", "run", "attempts", "polls")


@dataclass(frozen=True)
class Publication:
    draft: str
    version: int
    content_hash: str
    platform: str
    kind: str
    step: str
    round: int = 1
    run: int = 0
    job: str = ""
    attempts: int = 0
    polls: int = 0
    cover_media_id: str = ""
    cover_url: str = ""
    images: dict[str, str] = field(default_factory=dict)
    media_id: str = ""
    draft_intent_at: str = ""
    submit_intent_at: str = ""
    send_intent_at: str = ""
    publish_id: str = ""
    msg_id: str = ""
    article_id: str = ""
    article_url: str = ""
    reason: str = ""
    channel: str = ""
    verdict: str = ""  # a manual publication's page: "match" or "differs"
    reported_by: str = ""
    created_at: str = ""
    updated_at: str = ""

    @property
    def member(self) -> str:
        return member(self.draft, self.version)

    @property
    def finished(self) -> bool:
        return self.step in FINISHED

    @classmethod
    def from_stored(cls, raw: dict[str, str]) -> "Publication":
        known = {name: raw[name] for name in cls.__dataclass_fields__ if name in raw}
        for name in INTS:
            if name in known:
                known[name] = int(known[name])
        known["images"] = json.loads(known.get("images") or "{}")
        return cls(**known)


def stored(changes: dict) -> dict[str, str]:
    out = {}
    for name, value in changes.items():
        out[name] = json.dumps(value, sort_keys=True) if name == "images" else str(value)
    return out


def member(draft_id: str, version: int) -> str:
    return f"{draft_id}:v{version}"


def parse_member(raw: str) -> tuple[str, int]:
    draft_id, _, version = raw.rpartition(":v")
    return draft_id, int(version)


def load(r: redis.Redis, draft_id: str, version: int) -> Publication | None:
    raw = decode(r.hgetall(keys.publication(draft_id, version)))
    return Publication.from_stored(raw) if raw else None


def read_in(tx: Tx, draft_id: str, version: int) -> Publication | None:
    key = keys.publication(draft_id, version)
    tx.watch(key)
    raw = decode(tx.read.hgetall(key))
    return Publication.from_stored(raw) if raw else None


def write_in(tx: Tx, pub: Publication, due: float | None = None, **changes) -> Publication:
    """Queue the changes on the publication; a finished one leaves the active set."""
    updated = Publication(**{**pub.__dict__, **changes, "updated_at": timestamp()})
    tx.write.hset(keys.publication(pub.draft, pub.version), mapping=stored(updated.__dict__))
    if changes.get("article_id"):  # how reconciliation recognises Qianfa's own articles
        tx.write.set(keys.published_article(changes["article_id"]), pub.member)
    if changes.get("msg_id"):  # and its mass sends, when WeChat's MASSSENDJOBFINISH comes
        tx.write.set(keys.published_mass(pub.platform, changes["msg_id"]), pub.member)
    if updated.finished:
        tx.write.zrem(keys.publications_active(), pub.member)
    elif due is not None:
        tx.write.zadd(keys.publications_active(), {pub.member: due})
    return updated


def step_audit(tx: Tx, pub: Publication, action: str = "publish.step", reason="", **detail):
    """One audit record per step: ids and counts, never the content."""
    audit.append(
        tx,
        ACTOR,
        action,
        platform=pub.platform,
        draft=pub.draft,
        version_hash=pub.content_hash,
        decision=pub.step,
        reason=reason[:200],
        detail={"version": pub.version, "round": pub.round, **detail},
    )


def advance(r: redis.Redis, pub: Publication, step: str, *, detail=None, **changes) -> Publication:
    """Record that ``pub`` reached ``step`` with the ids just learnt, and audit it."""

    def change(tx: Tx) -> Publication:
        current = read_in(tx, pub.draft, pub.version)
        if current is None or current.round != pub.round or current.finished:
            return current
        updated = write_in(tx, current, due=time.time(), step=step, **changes)
        step_audit(tx, updated, **(detail or {}))
        return updated

    return atomically(r, [keys.publication(pub.draft, pub.version)], change, confirm=STEP)


def note(r: redis.Redis, pub: Publication, **changes) -> Publication:
    """Record fields without a new step or audit record (an intent, a counter)."""

    def change(tx: Tx) -> Publication:
        current = read_in(tx, pub.draft, pub.version)
        if current is None or current.round != pub.round:
            return current
        return write_in(tx, current, **changes)

    return atomically(r, [keys.publication(pub.draft, pub.version)], change, confirm=STEP)


def due_members(r: redis.Redis, until: float) -> list[tuple[str, int]]:
    """Unfinished publications due by ``until`` (epoch seconds)."""
    raw = r.zrangebyscore(keys.publications_active(), "-inf", until)
    return [parse_member(item.decode()) for item in raw]


def by_publish_id(r: redis.Redis, publish_id: str) -> Publication | None:
    found = r.get(keys.publish_id(str(publish_id)))
    if not found:
        return None
    return load(r, *parse_member(found.decode()))


# --- the lease ------------------------------------------------------------------------


class Lease(lease.Lease):
    """The right to advance one draft's publication, for ``seconds`` at a time."""

    def __init__(self, r: redis.Redis, draft_id: str, seconds: float):
        super().__init__(r, keys.publication_lease(draft_id), seconds)


def lease_held(r: redis.Redis, draft_id: str) -> bool:
    return bool(r.exists(keys.publication_lease(draft_id)))
