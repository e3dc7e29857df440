"""Beyond the propaganda department: the platform's supervising unit hears of alerts about
the platforms it supervises (art. 12), and the leading group of an alert left open longer
than QIANFA_ALERT_ESCALATE_AFTER (art. 5), once per opening."""

import pytest

from app.core import alerts, alertstate, audit, keys
from app.monitoring import handling, recipients
from app.registry import owners, people, platforms
from app.wechat.client import WeChatAPI
from tests.factories import OPERATOR, actor, refiled
from tests.notify_helpers import sandbox_office  # noqa: F401


@pytest.fixture
def o(sandbox_office):  # noqa: F811
    """The office with its propaganda reviewer bound and in the 48-hour window."""
    sandbox_office.bind(sandbox_office.w.propaganda, "张部长")
    sandbox_office.writes(sandbox_office.w.propaganda)
    return sandbox_office


def staff_of_supervising_unit(o) -> str:
    """A deputy secretary of the platform's supervising unit who administers a platform."""
    unit = platforms.get(o.r, o.w.platform).supervising_unit
    person = people.create(o.r, OPERATOR, "团委刘书记", unit=unit)
    refiled(o.r, owners.add_admin(o.r, OPERATOR, o.w.platform, person.id, "主管单位派驻管理员"))
    o.bind(person.id, "刘书记")
    o.writes(person.id)
    return person.id


def leader(o) -> str:
    person = people.create(o.r, OPERATOR, "党委书记")
    people.grant_college_role(o.r, OPERATOR, person.id, "leading_group")
    o.bind(person.id, "书记")
    o.writes(person.id)
    return person.id


def api_for(o):
    return lambda platform_id: WeChatAPI.for_platform(o.r, platform_id, o.settings)


def texts(o, person: str) -> list[str]:
    return [line["content"] for line in o.received(person)]


def test_the_supervising_unit_hears_of_alerts_about_its_platforms(o):
    deputy = staff_of_supervising_unit(o)
    outsider = people.create(o.r, OPERATOR, "别的单位的人")
    assert recipients.supervisors(o.r, o.w.platform) == [deputy]
    alerts.queue(o.r, "unreviewed_publication", "平台上有一篇未经审核的文章", platform=o.w.platform)
    o.settle()
    assert any("未经审核的文章" in text for text in texts(o, deputy))
    assert any("未经审核的文章" in text for text in texts(o, o.w.propaganda))
    assert outsider.id not in recipients.supervisors(o.r, o.w.platform)


def test_an_alert_open_too_long_goes_to_the_leading_group_once(o):
    chief = leader(o)
    alerts.queue(o.r, "online_content", "已发布的文章发现问题内容", platform=o.w.platform)
    [case] = alertstate.open_cases(o.r)
    assert recipients.escalate(o.r, api_for(o), after=3600) == {}  # not yet overdue

    o.r.zadd(keys.alerts_open(), {case.number: 1_000_000})  # raised long ago
    recipients.escalate(o.r, api_for(o), after=3600)
    recipients.escalate(o.r, api_for(o), after=3600)
    [told] = [t for t in texts(o, chief) if "超时未处理" in t]
    assert case.number in told and "领导小组" in told
    said = [rec for rec in audit.records(o.r) if rec["action"] == "alert.escalate"]
    assert len(said) == 1 and said[0]["subject"] == case.number

    handling.resolve(o.r, actor(o.w.propaganda), case.number, "已下架")
    recipients.escalate(o.r, api_for(o), after=3600)
    assert len([t for t in texts(o, chief) if "超时未处理" in t]) == 1
