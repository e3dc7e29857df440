"""Reports (举报, art. 15): any bound staff member reports a problem in chat or the console;
it becomes an alert for the propaganda department with the reporter recorded, audited;
empty reports are refused politely, and a person cannot flood the desk."""

import threading

import pytest

from app.core import alerts, alertstate, audit
from app.monitoring import reports
from tests.console_helpers import signed_in
from tests.factories import world
from tests.test_chat import Phone

LINK = "https://mp.weixin.qq.com/s?__biz=MzA&mid=1&idx=1&sn=abc"


@pytest.fixture
def w(r):
    return world(r)


@pytest.fixture
def admin(r, w):
    phone = Phone(r, w.platform, "oAdmin000000000001")
    phone.bind(w.admin)
    return phone


def reported(r) -> list[alerts.Alert]:
    return [a for a in alerts.recent(r, 100) if a.kind == "problem_report"]


def records(r) -> list[dict]:
    return [rec for rec in audit.records(r) if rec["action"] == "monitoring.report"]


def test_a_staff_member_reports_in_chat_and_the_department_gets_an_alert(r, w, admin):
    reply = admin.say(f"举报 {LINK} 文中学院名称写错了")
    [alert] = reported(r)
    assert f"告警 {alert.number}" in reply and "党委宣传部会处理" in reply
    assert alert.platform == w.platform and alert.detail["reporter"] == w.admin
    assert alert.detail["url"] == LINK and "王老师" in alert.message
    assert alertstate.get(r, alert.number).state == alertstate.OPEN
    [record] = records(r)
    assert record["person"] == w.admin and "学院名称写错了" in record["reason"]
    assert "已收到你的举报" in admin.say("report 另一个问题")  # the English alias
    assert len(reported(r)) == 2


def test_an_empty_report_is_refused_politely_and_changes_nothing(r, w, admin):
    assert "请写明举报的链接或问题说明" in admin.say("举报")
    assert "请写明举报的链接或问题说明" in admin.say("举报    ")
    assert reported(r) == [] and records(r) == []


def test_a_follower_who_is_not_staff_cannot_report(r, w):
    follower = Phone(r, w.platform, "oFollower000000001")
    assert follower.say("举报 这篇文章有问题") is None  # a follower's words stay theirs
    assert reported(r) == []


def test_reports_are_limited_per_person(r, w, admin):
    for n in range(reports.LIMIT):
        assert "已收到你的举报" in admin.say(f"举报 第{n}个问题")
    refused = admin.say("举报 又一个问题")
    assert "已举报" in refused and "稍后再试" in refused
    assert len(reported(r)) == reports.LIMIT and len(records(r)) == reports.LIMIT
    # Someone else is not held back by it.
    other = Phone(r, w.platform, "oResp0000000000001")
    other.bind(w.responsible)
    assert "已收到你的举报" in other.say("举报 我也发现了问题")


def test_a_report_through_the_console(r, w, settings):
    client, token = signed_in(settings, r, w.admin)
    empty = client.post("/console/reports", data={"csrf": token, "text": "  "})
    assert empty.status_code == 400 and "请写明举报的链接或问题说明" in empty.data.decode()
    assert reported(r) == []
    done = client.post(
        "/console/reports",
        data={"csrf": token, "platform": w.platform, "text": f"{LINK} 图片侵权"},
        follow_redirects=True,
    )
    assert done.status_code == 200 and "已收到你的举报" in done.data.decode()
    [alert] = reported(r)
    assert alert.detail["reporter"] == w.admin and alert.platform == w.platform
    assert f"case-{alert.number}" in done.data.decode()  # the reporter sees their platform's case


def test_the_console_refuses_a_platform_the_reporter_has_no_role_on(r, w, settings):
    other = world(r, platform_id="wy-wx")
    client, token = signed_in(settings, r, w.admin)
    refused = client.post(
        "/console/reports", data={"csrf": token, "platform": other.platform, "text": "有问题"}
    )
    assert refused.status_code == 403 and reported(r) == []


def test_a_forged_report_without_csrf_is_refused(r, w, settings):
    client, _ = signed_in(settings, r, w.admin)
    refused = client.post("/console/reports", data={"text": "伪造的举报"})
    assert refused.status_code == 400 and reported(r) == []


def test_the_reporter_is_told_their_alerts_number_while_other_alerts_pour_in(r, w):
    stop = threading.Event()

    def flood():
        while not stop.is_set():
            alerts.queue(r, "forged_callbacks", "伪造签名")

    flooder = threading.Thread(target=flood)
    flooder.start()
    try:
        actor = audit.Actor(via="console", person=w.admin)
        done = [reports.report(r, actor, w.platform, f"第{n}个问题") for n in range(reports.LIMIT)]
    finally:
        stop.set()
        flooder.join()
    for n, told in enumerate(done):
        case = alertstate.get(r, told.number)
        assert case.kind == "problem_report" and f"第{n}个问题" in case.message
