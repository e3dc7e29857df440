"""Alerts handled to the end: open → acknowledged → resolved with a note, reopened;
in chat (告警 · 认领 · 处理) by the propaganda department only, every move audited."""

import pytest

from app.core import alerts, alertstate, audit
from app.core.errors import Conflict, InvalidInput
from app.monitoring import handling
from tests.console_helpers import signed_in, without_csrf
from tests.factories import actor, world
from tests.test_chat import Phone


@pytest.fixture
def w(r):
    return world(r)


def phone_of(r, w, person: str, openid: str) -> Phone:
    phone = Phone(r, w.platform, openid)
    phone.bind(person)
    return phone


@pytest.fixture
def admin(r, w):
    return phone_of(r, w, w.admin, "oAdmin000000000001")


@pytest.fixture
def propaganda(r, w):
    return phone_of(r, w, w.propaganda, "oProp0000000000001")


def raise_one(r, w, kind="unreviewed_publication") -> str:
    alerts.queue(r, kind, "平台上有一篇未经审核的文章", platform=w.platform)
    return alertstate.open_cases(r)[-1].number


def test_alerts_are_numbered_and_open_a_case(r, w):
    first, second = raise_one(r, w), raise_one(r, w, "publish_failed")
    assert (first, second) == ("A1", "A2")
    assert [c.number for c in alertstate.open_cases(r)] == ["A1", "A2"]
    assert alerts.recent(r)[0].number == "A2"


def test_the_propaganda_department_lists_acknowledges_and_resolves_in_chat(r, w, propaganda):
    number = raise_one(r, w)
    assert number in propaganda.say("告警") and "待处理" in propaganda.say("alerts")
    assert f"已认领告警 {number}" in propaganda.say(f"认领 {number}")
    assert alertstate.get(r, number).state == alertstate.ACKNOWLEDGED
    assert "请写明处理说明" in propaganda.say(f"处理 {number}")
    assert alertstate.get(r, number).state == alertstate.ACKNOWLEDGED
    assert "已处理" in propaganda.say(f"处理 {number.lower()} 已联系管理员删除该文")
    case = alertstate.get(r, number)
    assert (case.state, case.note, case.by) == ("resolved", "已联系管理员删除该文", w.propaganda)
    assert "没有待处理的告警" in propaganda.say("告警")
    moves = [rec for rec in audit.records(r) if rec["action"].startswith("alert.")]
    assert [m["action"] for m in moves] == ["alert.acknowledge", "alert.resolve"]
    assert moves[-1]["reason"] == "已联系管理员删除该文" and moves[-1]["person"] == w.propaganda


def test_an_administrator_may_not_handle_alerts(r, w, admin):
    number = raise_one(r, w)
    assert "只有" in admin.say("告警")
    assert "只有" in admin.say(f"处理 {number} 没事")
    assert alertstate.get(r, number).state == alertstate.OPEN


def test_bad_moves_are_refused_and_change_nothing(r, w):
    number = raise_one(r, w)
    who = actor(w.propaganda)
    with pytest.raises(InvalidInput):
        handling.resolve(r, who, "X9", "说明")
    with pytest.raises(Conflict):
        handling.reopen(r, who, number, "再看看")
    handling.resolve(r, who, number, "已处理")
    with pytest.raises(Conflict):
        handling.acknowledge(r, who, number)
    reopened = handling.reopen(r, who, number, "文章又出现了")
    assert reopened.state == alertstate.OPEN and number in [
        c.number for c in alertstate.open_cases(r)
    ]


def test_a_stranger_phone_gets_nothing(r, w):
    stranger = Phone(r, w.platform, "oStranger00000000001")
    assert stranger.say("告警") is None


def test_the_dashboard_counts_open_alerts_however_old_and_drops_resolved_ones(r, w, settings):
    number = raise_one(r, w)
    handled = raise_one(r, w, "publish_failed")
    handling.resolve(r, actor(w.propaganda), handled, "已重新发布")
    client, _ = signed_in(settings, r, w.propaganda)
    page = without_csrf(client.get("/console/dashboard").data)
    assert "待处理告警" in page and f"{number} · 待处理" in page and handled not in page


def test_the_console_lists_open_alerts_first_and_filters_them(r, w, settings):
    handled = raise_one(r, w, "publish_failed")
    handling.resolve(r, actor(w.propaganda), handled, "已重新发布")
    waiting = raise_one(r, w)
    client, _ = signed_in(settings, r, w.propaganda)
    page = client.get("/console/alerts").data.decode()
    assert page.index(f"case-{waiting}") < page.index(f"case-{handled}")
    assert "已重新发布" in page
    only_open = client.get("/console/alerts?state=open").data.decode()
    assert f"case-{waiting}" in only_open and f"case-{handled}" not in only_open
    by_kind = client.get("/console/alerts?kind=publish_failed").data.decode()
    assert f"case-{handled}" in by_kind and f"case-{waiting}" not in by_kind


def test_console_moves_are_checked_on_the_server(r, w, settings):
    number = raise_one(r, w)
    client, token = signed_in(settings, r, w.propaganda)
    refused = client.post(f"/console/alerts/{number}", data={"csrf": token, "action": "resolve"})
    assert refused.status_code == 400 and "请写明处理说明" in refused.data.decode()
    assert alertstate.get(r, number).state == alertstate.OPEN
    done = client.post(
        f"/console/alerts/{number}", data={"csrf": token, "action": "resolve", "note": "已核实"}
    )
    assert done.status_code == 302 and alertstate.get(r, number).note == "已核实"

    admin, admin_token = signed_in(settings, r, w.admin)
    assert "告警" in admin.get("/console/alerts").data.decode()
    moved = admin.post(
        f"/console/alerts/{number}", data={"csrf": admin_token, "action": "reopen", "note": "x"}
    )
    assert moved.status_code == 403 and alertstate.get(r, number).state == alertstate.RESOLVED
