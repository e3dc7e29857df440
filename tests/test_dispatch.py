"""The dispatcher: audit records routed to RQ jobs by one table, acknowledged with the
enqueue, redelivered after a crash, alongside the audit chain's verify and trim."""

import json
import subprocess
import sys
from datetime import timedelta

import pytest

from app.core import alerts, audit, keys
from app.core.settings import load_settings
from app.core.store import now
from app.drafts import lifecycle, review
from app.outbox import dispatch, queues
from app.web import create_app
from tests.conftest import wait_until
from tests.factories import OPERATOR, actor, submitted, world


def record(action, decision="", **fields):
    return {"id": "1-0", "action": action, "decision": decision, "detail": "{}", **fields}


@pytest.mark.parametrize(
    ("rec", "expected"),
    [
        (
            record("draft.submit", "in_review"),
            [
                ("notifications", "notify_reviewers", ("1-0",)),
                ("pictures", "read_pictures", ("1-0",)),
            ],
        ),
        (
            record("draft.edit", "in_review"),
            [
                ("notifications", "notify_reviewers", ("1-0",)),
                ("pictures", "read_pictures", ("1-0",)),
            ],
        ),
        (record("draft.edit", "draft"), []),
        (record("draft.approve", "in_review"), []),
        (
            record("draft.approve", "approved"),
            [
                ("notifications", "notify_author", ("1-0",)),
                ("publishing", "schedule_publication", ("1-0",)),
            ],
        ),
        (
            record("draft.unflag", "approved"),
            [
                ("notifications", "notify_author", ("1-0",)),
                ("publishing", "schedule_publication", ("1-0",)),
            ],
        ),
        (
            record("draft.reschedule", "approved"),
            [("publishing", "schedule_publication", ("1-0",))],
        ),
        (record("draft.reschedule", "in_review"), []),
        (record("draft.reject", "rejected"), [("notifications", "notify_author", ("1-0",))]),
        (record("draft.publish", "published"), [("notifications", "notify_author", ("1-0",))]),
        (record("draft.fail", "failed"), [("notifications", "notify_author", ("1-0",))]),
        (
            record("draft.flag", "in_review"),
            [
                ("notifications", "notify_reviewers", ("1-0",)),
                ("alerts", "raise_alert", ("1-0", "sensitive_draft")),
            ],
        ),
        (
            record("draft.create", "", detail='{"flags": ["emergency"], "kind": "text"}'),
            [("alerts", "raise_alert", ("1-0", "sensitive_draft"))],
        ),
        (record("draft.create", "", detail='{"flags": [], "kind": "text"}'), []),
        (
            record("platform.status", "suspended"),
            [("alerts", "raise_alert", ("1-0", "platform_suspended"))],
        ),
        (record("platform.status", "active"), []),
        (record("notify.sent", "custom"), []),
    ],
)
def test_rules_route_each_record_to_its_jobs(rec, expected):
    assert dispatch.route(rec) == expected


def test_every_rule_names_a_job_and_a_queue():
    from workers import jobs as job_functions

    for rule in dispatch.RULES:
        assert callable(getattr(job_functions, rule.job)), rule
        assert rule.queue in queues.QUEUES


@pytest.fixture
def dispatcher(r, settings):
    d = dispatch.Dispatcher(r, settings, name="test")
    d.ensure_groups()
    return d


def pending(r, stream=None) -> int:
    return r.xpending(stream or keys.audit_stream(), dispatch.GROUP)["pending"]


def queued(r, name) -> list[str]:
    return queues.queue(r, name).job_ids


def test_a_submit_is_enqueued_and_acknowledged_together(r, dispatcher):
    w = world(r)
    draft = submitted(r, w)
    dispatcher.step(block_ms=None)

    (event,) = audit.records(r, action="draft.submit")
    assert queued(r, "notifications") == [queues.job_id("notify_reviewers", event["id"])]
    assert queues.queue(r, "notifications").jobs[0].args == (event["id"],)
    assert pending(r) == 0
    assert draft.status == lifecycle.IN_REVIEW


def test_a_record_that_is_not_utf8_is_acknowledged_and_not_routed(r, dispatcher):
    """A draft.submit stored around ``append`` with bytes that are not UTF-8 (``verify``
    names it) used to stop the dispatcher at every claim: it routes nothing, is acknowledged,
    and the records around it are routed as usual."""
    w = world(r)
    submitted(r, w)
    (_, fields), *_ = r.xrevrange(keys.audit_stream(), count=1)
    r.xadd(keys.audit_stream(), {**fields, b"reason": b"\xff\xfe"})
    submitted(r, w)
    dispatcher.step(block_ms=None)
    first, damaged, second = audit.records(r, action="draft.submit")
    assert damaged["not_utf8"] == "reason"
    routed = [queues.job_id("notify_reviewers", event["id"]) for event in (first, second)]
    assert queued(r, "notifications") == routed
    assert pending(r) == 0


def test_a_record_left_unacknowledged_by_a_dead_dispatcher_is_routed_again(r, settings):
    """A crash between enqueue and ack: another dispatcher claims the record and routes it."""
    w = world(r)
    dead = dispatch.Dispatcher(r, settings, name="dead")
    dead.ensure_groups()
    submitted(r, w)
    r.xreadgroup(dispatch.GROUP, "dead", {keys.audit_stream(): ">"}, count=100)  # then dies
    assert pending(r) > 0 and queued(r, "notifications") == []

    patient = dispatch.Dispatcher(r, settings, name="patient")
    assert patient.step(block_ms=None) == 0  # not idle long enough: the owner may still be busy
    rescuer = dispatch.Dispatcher(r, settings, name="rescuer", claim_idle_ms=0)
    rescuer.step(block_ms=None)

    (event,) = audit.records(r, action="draft.submit")
    assert queued(r, "notifications") == [queues.job_id("notify_reviewers", event["id"])]
    assert pending(r) == 0


def test_routing_twice_queues_the_same_job_id(r, dispatcher, settings):
    """Ids are derived from the record, so a second routing names the same job."""
    w = world(r)
    submitted(r, w)
    dispatcher.step(block_ms=None)
    (event,) = audit.records(r, action="draft.submit")
    dispatcher._dispatch(keys.audit_stream(), [(event["id"], {b"action": b"draft.submit"})])

    ids = queued(r, "notifications")
    assert set(ids) == {queues.job_id("notify_reviewers", event["id"])}


def test_verify_stays_green_with_the_group_and_after_trim(r, dispatcher):
    """The consumer group changes no record; a trimmed record still pending is acknowledged."""
    w = world(r)
    submitted(r, w)
    r.xreadgroup(dispatch.GROUP, "dead", {keys.audit_stream(): ">"}, count=100)
    assert audit.verify(r).ok

    removed = audit.trim(r, OPERATOR, 1, as_of=now() + timedelta(days=2))
    assert removed > 0
    assert audit.verify(r).ok

    rescuer = dispatch.Dispatcher(r, load_settings(), name="rescuer", claim_idle_ms=0)
    rescuer.step(block_ms=None)
    assert pending(r) == 0
    assert audit.verify(r).ok


def test_a_deleted_stream_gets_its_group_back(r, dispatcher):
    """After a flushed database the dispatcher recreates its groups and carries on."""
    r.flushdb()
    assert dispatcher.step(block_ms=None) == 0
    w = world(r)
    submitted(r, w)
    dispatcher.step(block_ms=None)
    assert len(queued(r, "notifications")) == 1


def test_alerts_are_routed_to_delivery(r, dispatcher):
    alert_id = alerts.queue(r, "forged_callbacks", "伪造签名 30 次", platform="jsj-wx")
    dispatcher.step(block_ms=None)
    assert queued(r, "alerts") == [queues.job_id("deliver_alert", alert_id)]
    assert pending(r, keys.alerts()) == 0


def test_an_approval_is_routed_to_the_author_notice(r, dispatcher):
    w = world(r)
    draft = submitted(r, w)
    review.approve(r, actor(w.responsible), draft.id, draft.content_hash)
    dispatcher.step(block_ms=None)
    names = [job.func_name for job in queues.queue(r, "notifications").jobs]
    assert names == ["workers.jobs.notify_reviewers", "workers.jobs.notify_author"]


def test_periodic_jobs_are_enqueued_once_per_interval(r, dispatcher):
    dispatcher.tick()
    dispatcher.tick()
    other = dispatch.Dispatcher(r, load_settings(), name="other")
    other.tick()
    names = sorted(job.func_name for job in queues.queue(r, "notifications").jobs)
    assert names == [
        "workers.jobs.anchor_audit",
        "workers.jobs.escalate_alerts",
        "workers.jobs.remind_manual",
        "workers.jobs.scan_reviews",
        "workers.jobs.send_daily_report",
        "workers.jobs.trim_audit",
    ]
    assert 0 < r.ttl(keys.periodic("trim_audit")) <= 86400
    assert 0 < r.ttl(keys.periodic("anchor_audit")) <= 300


def test_heartbeat_is_listed_and_forgotten_when_stale(r, dispatcher):
    dispatcher.heartbeat()
    (beat,) = dispatch.heartbeats(r, stale_after=60)
    assert beat["name"] == "test" and beat["alive"]
    old = json.dumps({"at": (now() - timedelta(days=2)).isoformat(), "pid": 1, "routed": 0})
    r.hset(keys.dispatchers(), "gone", old)
    assert [b["name"] for b in dispatch.heartbeats(r, stale_after=60)] == ["test"]


@pytest.mark.slow
def test_the_dispatcher_process_beats_in_healthz_and_routes(r):
    """`qianfa dispatcher` routes a submit into the queue and shows alive in /healthz."""
    proc = subprocess.Popen([sys.executable, "-m", "app", "dispatcher"])
    try:
        client = create_app(load_settings()).test_client()

        def alive():
            return client.get("/healthz").get_json()["dispatchers_alive"] == 1

        wait_until(alive, timeout=20, message="the dispatcher's heartbeat")
        w = world(r)
        submitted(r, w)
        wait_until(lambda: queued(r, "notifications"), message="the routed job")
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    assert proc.returncode == 0
    assert r.hlen(keys.dispatchers()) == 0  # a clean stop leaves the list


def test_consumers_of_dispatchers_long_gone_are_forgotten(r, dispatcher, monkeypatch):
    """Each dispatcher process reads under its own name; idle ones holding nothing go."""
    r.xreadgroup(dispatch.GROUP, "old", {keys.audit_stream(): ">"}, count=1)
    dispatcher.step(block_ms=None)
    monkeypatch.setattr(dispatch, "RETIRED_CONSUMER_IDLE_MS", -1)
    dispatcher.forget_consumers()
    names = {c["name"] for c in r.xinfo_consumers(keys.audit_stream(), dispatch.GROUP)}
    assert names == set()
