"""The dispatcher: the audit trail as an outbox, turned into RQ jobs by one table of rules.

Every change already appends its audit record in the same transaction (``app.core.store``), so
the record is the durable proof that something happened. The dispatcher reads the audit
stream (and the alert and PUBLISHJOBFINISH streams) through a Redis consumer group, routes
each record through ``RULES`` and, in one MULTI/EXEC, enqueues the jobs and acknowledges the
record. A record is never lost: until it is acknowledged it stays in the group's pending
list, and a dispatcher that died holding it is relieved by another one after
``CLAIM_IDLE_MS``. A record routed twice (a claim racing a slow dispatcher) queues a job
with the same deterministic id; each job is idempotent anyway (``app.notify.deliver`` claims, alert
claims), since RQ may also run a job again. The consumer group only adds a pending list
beside the stream: it changes no record, so ``audit verify`` is untouched; ``audit.trim``
removes records older than the retention, long after they were routed, and a trimmed record
still pending is simply acknowledged.

The dispatcher also enqueues the periodic jobs (``jobs.PERIODIC``) and writes a heartbeat
that ``/healthz`` reports.
"""

import json
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import redis

from app.core import audit, entries, keys
from app.core.settings import Settings
from app.core.store import now, timestamp
from app.drafts import lifecycle
from app.outbox import queues
from app.registry import platforms

log = logging.getLogger(__name__)

GROUP = "qianfa-dispatch"
BATCH = 100
BLOCK_MS = 1000
CLAIM_IDLE_MS = 60_000
HEARTBEAT_EVERY = 5.0
# Under load a step routes a record or two; the periodic SETs and the three XAUTOCLAIMs
# cost more than that, so each runs at most this often (seconds) rather than every step.
TICK_EVERY = 1.0
RECLAIM_EVERY = 1.0
FORGET_AFTER = 86400  # seconds: heartbeats of dispatchers gone this long are dropped
RETIRED_CONSUMER_IDLE_MS = 3_600_000  # a consumer idle this long, holding nothing, is gone


def _has_flags(record: dict[str, str]) -> bool:
    return bool(json.loads(record.get("detail") or "{}").get("flags"))


def _opened(record: dict[str, str]) -> bool:
    """A sign-off that waited for the one just given may now be given."""
    return bool(json.loads(record.get("detail") or "{}").get("opened"))


def _first_retry(record: dict[str, str]) -> bool:
    return json.loads(record.get("detail") or "{}").get("attempts") == 1


def _has_comment(record: dict[str, str]) -> bool:
    return bool(json.loads(record.get("detail") or "{}").get("comments"))


@dataclass(frozen=True)
class Rule:
    """Audit records of ``action`` (and ``decision``, when given) run ``workers.jobs.<job>``
    with the record's stream id, then ``args``."""

    action: str
    job: str
    queue: str
    decision: str = ""
    args: tuple[str, ...] = ()
    when: Callable[[dict[str, str]], bool] | None = None

    def matches(self, record: dict[str, str]) -> bool:
        if record.get("action") != self.action:
            return False
        if self.decision and record.get("decision") != self.decision:
            return False
        return self.when is None or self.when(record)


N, A, P = queues.NOTIFICATIONS, queues.ALERTS, queues.PUBLISHING
# The whole routing of side effects. A draft "enters review" on submit, on a new version
# while in review, and when a flag adds the propaganda department's sign-off; the author
# hears of each outcome. ``decision`` holds the status the draft has after the record.
RULES = (
    Rule("draft.submit", "notify_reviewers", N),
    Rule("draft.edit", "notify_reviewers", N, decision=lifecycle.IN_REVIEW),
    Rule("draft.flag", "notify_reviewers", N, decision=lifecycle.IN_REVIEW),
    # Art. 14: once a contribution's unit signed, the propaganda department is asked.
    Rule("draft.approve", "notify_reviewers", N, decision=lifecycle.IN_REVIEW, when=_opened),
    Rule("draft.approve", "notify_author", N, decision=lifecycle.APPROVED),
    Rule("draft.unflag", "notify_author", N, decision=lifecycle.APPROVED),
    Rule("draft.reject", "notify_author", N),
    Rule("draft.publish", "notify_author", N),
    Rule("draft.fail", "notify_author", N),
    Rule("draft.flag", "raise_alert", A, args=("sensitive_draft",)),
    Rule("draft.create", "raise_alert", A, args=("sensitive_draft",), when=_has_flags),
    Rule(
        "platform.status",
        "raise_alert",
        A,
        decision=platforms.SUSPENDED,
        args=("platform_suspended",),
    ),
    # Records that leave a draft approved (or move an approved draft's time) publish it.
    Rule("draft.approve", "schedule_publication", P, decision=lifecycle.APPROVED),
    Rule("draft.unflag", "schedule_publication", P, decision=lifecycle.APPROVED),
    Rule("draft.reschedule", "schedule_publication", P, decision=lifecycle.APPROVED),
    Rule("draft.retry", "schedule_publication", P, decision=lifecycle.APPROVED),
    # A take-down asked for in chat or the console is carried out by a worker.
    Rule("monitoring.takedown_request", "take_down", A),
    # A version entering review has the text in its pictures read (art. 10).
    Rule("draft.submit", "read_pictures", queues.PICTURES),
    Rule("draft.edit", "read_pictures", queues.PICTURES, decision=lifecycle.IN_REVIEW),
    # Their checks finished: reviewers told they were running hear the outcome.
    Rule("draft.pictures", "notify_pictures_checked", N),
    # A draft entering review that only its author could sign off is stuck: ``notify_reviewers``
    # raises the ``unsignable_draft`` alert in place of asking nobody.
    # A proposed default reply for followers waits for the first responsible person.
    Rule("webhook.reply_propose", "notify_reply_reviewer", N),
    # A blocked draft released by the propaganda department enters review like a submission.
    Rule("draft.release", "notify_reviewers", N),
    Rule("draft.release", "notify_author", N),
    Rule("draft.release", "read_pictures", queues.PICTURES),
    # The first failed publication step: the author hears at once that it is being retried.
    Rule("publish.retry", "notify_author", N, when=_first_retry),
    # A page published by hand was reported: a job fetches and compares it (issue 16); the
    # author hears of the publication (the reporter hears the check's outcome from the job).
    Rule("publish.report", "check_report", P),
    Rule("draft.report", "notify_author", N),
    # Art. 14, 17: held, withdrawn with a closed platform, back in review with sign-offs void;
    # a reviewer's comment on a sign-off that does not yet approve reaches the author at once.
    Rule("draft.hold", "notify_author", N),
    Rule("draft.close", "notify_author", N),
    Rule("draft.resume", "notify_author", N),
    Rule("draft.resume", "notify_reviewers", N),
    Rule("draft.lapse", "notify_author", N),
    Rule("draft.lapse", "notify_reviewers", N),
    Rule("draft.approve", "notify_author", N, decision=lifecycle.IN_REVIEW, when=_has_comment),
    Rule("platform.status", "raise_alert", A, decision=platforms.CLOSED, args=("platform_closed",)),
)


def route(record: dict[str, str]) -> list[tuple[str, str, tuple[str, ...]]]:
    """The jobs one audit record calls for: (queue, job, args)."""
    return [
        (rule.queue, rule.job, (record["id"], *rule.args)) for rule in RULES if rule.matches(record)
    ]


def route_alert(alert_id: str) -> list[tuple[str, str, tuple[str, ...]]]:
    """Every queued alert is delivered to the propaganda department."""
    return [(queues.ALERTS, "deliver_alert", (alert_id,))]


def route_publish_event(event_id: str) -> list[tuple[str, str, tuple[str, ...]]]:
    """Every PUBLISHJOBFINISH the webhook recorded settles its publication."""
    return [(queues.PUBLISHING, "publish_finished", (event_id,))]


class Dispatcher:
    """One consumer of the audit and alert streams; ``step`` does one round of work."""

    def __init__(
        self,
        r: redis.Redis,
        settings: Settings,
        *,
        name: str = "",
        claim_idle_ms: int = CLAIM_IDLE_MS,
    ) -> None:
        self.r = r
        self.settings = settings
        self.name = name or f"{socket.gethostname()}-{os.getpid()}"
        self.claim_idle_ms = claim_idle_ms
        self.streams = (keys.audit_stream(), keys.alerts(), keys.publish_events())
        self.routed = 0
        self._last_beat = 0.0
        self._next_tick = self._next_reclaim = 0.0

    def ensure_groups(self) -> None:
        """Create the consumer group on each stream if missing; a new group starts at the end,
        so a first start does not replay history (every job is idempotent, but old drafts
        would still be announced)."""
        for stream in self.streams:
            try:
                self.r.xgroup_create(stream, GROUP, id="$", mkstream=True)
            except redis.ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    def step(self, block_ms: int | None = BLOCK_MS) -> int:
        """Route what is pending too long elsewhere, then what is new; how many records."""
        try:
            handled = self._reclaim() if self._due("_next_reclaim", self._reclaim_every()) else 0
            reply = self.r.xreadgroup(
                GROUP, self.name, {s: ">" for s in self.streams}, count=BATCH, block=block_ms
            )
        except redis.ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            self.ensure_groups()  # the stream was deleted (a flushed database): start again
            return 0
        for stream, found in reply or []:
            self._dispatch(stream.decode(), [(i.decode(), fields) for i, fields in found])
            handled += len(found)
        self.routed += handled
        return handled

    def _due(self, name: str, every: float) -> bool:
        """Whether the chore timed by attribute ``name`` is due now; if so, time the next."""
        now = time.monotonic()
        if now < getattr(self, name):
            return False
        setattr(self, name, now + every)
        return True

    def _reclaim_every(self) -> float:
        """No record becomes claimable sooner than ``claim_idle_ms``: no point asking more often."""
        return min(RECLAIM_EVERY, self.claim_idle_ms / 1000)

    def _reclaim(self) -> int:
        """Take over records another dispatcher read but did not acknowledge in time."""
        handled = 0
        for stream in self.streams:
            reply = self.r.xautoclaim(
                stream, GROUP, self.name, self.claim_idle_ms, start_id="0-0", count=BATCH
            )
            self._dispatch(stream, [(i.decode(), fields) for i, fields in reply[1]])
            handled += len(reply[1])
        return handled

    def _dispatch(self, stream: str, found: list[tuple[str, dict | None]]) -> None:
        """Enqueue the jobs of a batch of records and acknowledge them, all in one
        transaction: a round trip per batch, not per record (most records route no job)."""
        if not found:
            return
        routed = [
            job for entry_id, fields in found for job in self._route(stream, entry_id, fields)
        ]
        with self.r.pipeline(transaction=True) as pipe:
            for queue_name, job, args in routed:
                queues.enqueue(self.r, queue_name, job, *args, pipeline=pipe)
            pipe.xack(stream, GROUP, *[entry_id for entry_id, _ in found])
            pipe.execute()
        for _, job, args in routed:
            log.info("dispatched %s %s", job, " ".join(args))

    def _route(self, stream: str, entry_id: str, fields: dict | None) -> list:
        """The jobs one record of ``stream`` calls for."""
        if stream == keys.audit_stream():
            record = audit.readable(fields or {})
            if audit.NOT_TEXT_FIELDS in record:  # not written by ``append``: verify names it
                entries.skipped(stream, entry_id, entries.NOT_UTF8)  # acknowledged, not routed
                record = {}
            return route({"id": entry_id, **record}) if record else []
        if stream == keys.alerts():
            return route_alert(entry_id) if fields else []
        return route_publish_event(entry_id) if fields else []

    def tick(self) -> None:
        """Enqueue each periodic job whose interval has passed, and beat the heart; at most
        every ``TICK_EVERY`` seconds, as no interval is counted in less than seconds."""
        if not self._due("_next_tick", TICK_EVERY):
            return
        for periodic in queues.PERIODIC:
            seconds = periodic.seconds(self.settings)
            if self.r.set(keys.periodic(periodic.name), timestamp(), nx=True, ex=seconds):
                queues.enqueue(self.r, periodic.queue, periodic.name, tag=str(int(time.time())))
        if time.monotonic() - self._last_beat >= HEARTBEAT_EVERY:
            self.heartbeat()
            self.forget_consumers()

    def heartbeat(self) -> None:
        self._last_beat = time.monotonic()
        beat = {"at": timestamp(), "pid": os.getpid(), "routed": self.routed}
        self.r.hset(keys.dispatchers(), self.name, json.dumps(beat))

    def forget_consumers(self) -> int:
        """Drop consumers of dispatchers long gone (each process has its own name) once
        they hold no pending record, so the group does not grow with every restart."""
        dropped = 0
        for stream in self.streams:
            for consumer in self.r.xinfo_consumers(stream, GROUP):
                idle, name = consumer["idle"], consumer["name"]
                name = name.decode() if isinstance(name, bytes) else name
                if consumer["pending"] == 0 and idle > RETIRED_CONSUMER_IDLE_MS:
                    self.r.xgroup_delconsumer(stream, GROUP, name)
                    dropped += 1
        return dropped

    def retire(self) -> None:
        """Leave the heartbeat list on a clean stop."""
        self.r.hdel(keys.dispatchers(), self.name)


def heartbeats(r: redis.Redis, stale_after: int) -> list[dict]:
    """Every dispatcher seen lately, with whether it beat within ``stale_after`` seconds."""
    found = []
    for name, raw in sorted(r.hgetall(keys.dispatchers()).items()):
        beat = json.loads(raw)
        age = now().timestamp() - _epoch(beat["at"])
        if age > FORGET_AFTER:
            r.hdel(keys.dispatchers(), name)
            continue
        found.append(
            {"name": name.decode(), "last_heartbeat": beat["at"], "alive": age <= stale_after}
        )
    return found


def _epoch(at: str) -> float:
    return datetime.fromisoformat(at).timestamp()


def run(r: redis.Redis, settings: Settings, stop: threading.Event | None = None) -> None:
    """Dispatch until SIGTERM/SIGINT (or ``stop``); ride out Redis restarts."""
    stop = stop or _stop_on_signals()
    dispatcher = Dispatcher(r, settings)
    pause = 0.5
    log.info("dispatcher %s starting", dispatcher.name)
    while not stop.is_set():
        try:
            dispatcher.ensure_groups()
            while not stop.is_set():
                dispatcher.tick()
                dispatcher.step()
                pause = 0.5
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            log.warning("dispatcher lost Redis (%s); retrying in %.1fs", exc, pause)
            stop.wait(pause)
            pause = min(pause * 2, 10.0)
    try:
        dispatcher.retire()
    except redis.RedisError:
        pass
    log.info("dispatcher %s stopped", dispatcher.name)


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    return stop
