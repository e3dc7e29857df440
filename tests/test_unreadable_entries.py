"""Stream entries that are not UTF-8 (written by anyone with Redis access, or a bug):
each reader skips one with a warning and a count, and the entries after it are handled."""

import logging

import pytest
from prometheus_client import REGISTRY
from rq import SimpleWorker
from rq.registry import FailedJobRegistry

from app.core import alerts, audit, keys
from app.outbox import dispatch, queues
from tests.notify_helpers import sandbox_office  # noqa: F401

BAD = {b"kind": b"forged_callbacks", b"message": b"\xff\xfe not text"}


def skipped(stream: str, reason: str = "not_utf8") -> float:
    labels = {"stream": stream, "reason": reason}
    return REGISTRY.get_sample_value("qianfa_unreadable_entries_total", labels) or 0.0


def failed_jobs(r) -> list[str]:
    return [
        job_id
        for name in queues.QUEUES
        for job_id in FailedJobRegistry(queue=queues.queue(r, name)).get_job_ids()
    ]


def skip_lines(caplog) -> list[str]:
    return [rec.getMessage() for rec in caplog.records if "skipped" in rec.getMessage()]


@pytest.fixture
def o(sandbox_office):  # noqa: F811
    sandbox_office.bind(sandbox_office.w.propaganda, "张部长")
    sandbox_office.writes(sandbox_office.w.propaganda)
    return sandbox_office


def test_an_alert_entry_not_utf8_is_skipped_and_the_next_alert_delivered(o, caplog):
    before = skipped("alerts")
    bad = o.r.xadd(keys.alerts(), BAD).decode()
    alerts.queue(o.r, "forged_callbacks", "10 分钟内 30 次伪造签名的回调", platform=o.w.platform)
    with caplog.at_level(logging.WARNING):
        o.settle()

    texts = [m["content"] for m in o.received(o.w.propaganda, "客服消息")]
    assert len(texts) == 1 and "30 次伪造签名" in texts[0]
    assert failed_jobs(o.r) == []
    assert skipped("alerts") == before + 1
    (line,) = skip_lines(caplog)
    assert bad in line and "not_utf8" in line and "\\xff" not in line
    assert [a.message for a in alerts.recent(o.r)] == ["10 分钟内 30 次伪造签名的回调"]


def test_a_publish_event_not_utf8_is_skipped_and_the_next_event_handled(r, settings, caplog):
    """The next event (a publish_id that is not Qianfa's) is audited as such."""
    dispatcher = dispatch.Dispatcher(r, settings, name="test")
    dispatcher.ensure_groups()
    before = skipped("publish-events")
    r.xadd(keys.publish_events(), {b"platform": b"jsj-wx", b"publish_id": b"\xc3\x28"})
    good = {
        "publish_id": "2247599999",
        "publish_status": "0",
        "article_id": "x",
        "article_urls": "[]",
        "fail_idx": "[]",
    }
    r.xadd(keys.publish_events(), good)
    with caplog.at_level(logging.WARNING):
        while dispatcher.step(block_ms=None):
            pass
        worker = SimpleWorker([queues.queue(r, queues.PUBLISHING)], connection=r)
        worker.work(burst=True, logging_level="WARNING")

    (record,) = audit.records(r, action="publish.callback_unknown")
    assert '"2247599999"' in record["detail"]
    assert failed_jobs(r) == []
    assert skipped("publish-events") == before + 1
    assert len(skip_lines(caplog)) == 1


def test_a_publish_event_missing_its_fields_is_skipped_as_malformed(r, settings):
    from workers import jobs

    before = skipped("publish-events", "malformed")
    event_id = r.xadd(keys.publish_events(), {"publish_id": "1"}).decode()
    assert jobs.publish_finished(event_id) is False
    assert skipped("publish-events", "malformed") == before + 1


def test_a_mass_send_event_missing_its_fields_is_skipped_as_malformed(r, settings):
    from workers import jobs

    before = skipped("publish-events", "malformed")
    event_id = r.xadd(keys.publish_events(), {"event": "mass", "received_at": "x"}).decode()
    assert jobs.publish_finished(event_id) is False
    assert skipped("publish-events", "malformed") == before + 1
