"""Alerts delivered to every bound propaganda-department reviewer, identical ones folded,
and the alerts raised for flagged drafts, suspended platforms and overdue reviews."""

import pytest
from rq.registry import ScheduledJobRegistry

from app.core import alerts, audit, keys
from app.drafts import review, suspension
from app.notify import escalation
from app.outbox import queues
from app.registry import people
from tests.factories import OPERATOR, actor, submitted
from tests.notify_helpers import sandbox_office  # noqa: F401


@pytest.fixture
def o(sandbox_office):  # noqa: F811
    """The office with its propaganda reviewer bound and in the 48-hour window."""
    sandbox_office.bind(sandbox_office.w.propaganda, "张部长")
    sandbox_office.writes(sandbox_office.w.propaganda)
    return sandbox_office


def alerts_received(o, person) -> list[str]:
    return [m["content"] for m in o.received(person, "客服消息") if "告警" in m["content"]]


def test_an_alert_reaches_every_bound_propaganda_reviewer(o):
    second = people.create(o.r, OPERATOR, "宣传部刘老师")
    people.grant_college_role(o.r, OPERATOR, second.id, "propaganda")
    o.bind(second.id, "刘老师")
    o.writes(second.id)
    unbound = people.create(o.r, OPERATOR, "宣传部陈老师")
    people.grant_college_role(o.r, OPERATOR, unbound.id, "propaganda")

    alerts.queue(o.r, "forged_callbacks", "10 分钟内 30 次伪造签名的回调", platform=o.w.platform)
    o.settle()

    for person in (o.w.propaganda, second.id):
        (text,) = alerts_received(o, person)
        assert "大量伪造的微信回调" in text and "30 次伪造签名" in text
    (record,) = audit.records(o.r, action="notify.unreachable")
    assert record["subject"] == unbound.id


def test_identical_alerts_within_the_window_are_folded_into_one_with_a_count(o):
    """The first is delivered at once; the next two only count; the flush tells their number."""
    from workers import jobs as job_functions

    first = alerts.queue(o.r, "publish_failed", "D7 发布失败", platform=o.w.platform, draft="D7")
    for _ in range(2):
        alerts.queue(o.r, "publish_failed", "D7 又失败", platform=o.w.platform, draft="D7")
    alerts.queue(o.r, "publish_failed", "D8 发布失败", platform=o.w.platform, draft="D8")
    o.settle()

    texts = alerts_received(o, o.w.propaganda)
    assert len(texts) == 2 and "D7 发布失败" in texts[0] and "D8 发布失败" in texts[1]
    scheduled = ScheduledJobRegistry(queue=queues.queue(o.r, queues.ALERTS))
    assert queues.job_id("flush_alert_fold", first) in scheduled.get_job_ids()

    job_functions.flush_alert_fold(first)  # what the RQ scheduler runs when the window closes
    job_functions.flush_alert_fold(first)

    summary = alerts_received(o, o.w.propaganda)[2:]
    assert len(summary) == 1
    assert "告警汇总" in summary[0] and "又出现 2 次" in summary[0] and "共 3 次" in summary[0]


def test_after_the_window_the_same_alert_is_delivered_again(o):
    from workers import jobs as job_functions

    first = alerts.queue(o.r, "quota_exhausted", "额度用完", platform=o.w.platform)
    o.settle()
    job_functions.flush_alert_fold(first)
    o.r.delete(keys.alert_fold("quota_exhausted", o.w.platform, ""))  # window over
    alerts.queue(o.r, "quota_exhausted", "额度又用完", platform=o.w.platform)
    o.settle()

    assert len(alerts_received(o, o.w.propaganda)) == 2


def test_redelivering_an_alert_neither_resends_nor_counts_it_twice(o):
    from workers import jobs as job_functions

    first = alerts.queue(o.r, "publish_failed", "D7 发布失败", platform=o.w.platform, draft="D7")
    follower = alerts.queue(o.r, "publish_failed", "D7 又失败", platform=o.w.platform, draft="D7")
    o.settle()
    job_functions.deliver_alert(first)
    job_functions.deliver_alert(follower)

    assert len(alerts_received(o, o.w.propaganda)) == 1
    assert escalation.take_fold_count(o.r, first) == 1


def test_a_flagged_draft_raises_a_sensitive_draft_alert(o):
    draft = submitted(o.r, o.w)
    review.set_flag(o.r, actor(o.w.admin), draft.id, "emergency")
    o.settle()

    (raised,) = [a for a in alerts.recent(o.r) if a.kind == "sensitive_draft"]
    assert raised.draft == draft.id and "突发事件" in raised.message
    assert any("突发事件" in text for text in alerts_received(o, o.w.propaganda))


def test_a_draft_created_with_a_flag_raises_the_alert_too(o):
    draft = submitted(o.r, o.w, flags=("sensitive_issue",))
    o.settle()
    assert [a.draft for a in alerts.recent(o.r) if a.kind == "sensitive_draft"] == [draft.id]


def test_a_suspended_platform_raises_an_alert_once(o):
    from workers import jobs as job_functions

    suspension.change_status(o.r, OPERATOR, o.w.platform, "suspended", "内容违规,停用整改")
    o.settle()
    *_, event = audit.records(o.r, action="platform.status", platform=o.w.platform)
    job_functions.raise_alert(event["id"], "platform_suspended")  # run again: no second alert

    (raised,) = [a for a in alerts.recent(o.r) if a.kind == "platform_suspended"]
    assert "内容违规,停用整改" in raised.message
    (text,) = alerts_received(o, o.w.propaganda)
    assert "平台已停用" in text


def test_a_propaganda_reviewer_bound_elsewhere_is_reached_there(o):
    """An alert about another platform goes to the reviewer's binding on this account."""
    alerts.queue(o.r, "forged_callbacks", "伪造回调", platform="xy-wx")
    o.settle()
    assert len(alerts_received(o, o.w.propaganda)) == 1
