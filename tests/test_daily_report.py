"""The daily report (art. 15): each morning at QIANFA_DAILY_REPORT_AT the propaganda
department gets one message on the day before (publications per platform, unreviewed
ones, open alerts, overdue reviews, dormant and unmonitorable platforms), once per day
and person however often the job runs; the console's 日报 page shows the same."""

import dataclasses
from datetime import datetime, timedelta

import pytest

from app.core import alerts, alertstate, audit, keys
from app.core.audit import Actor
from app.core.clock import BEIJING
from app.core.store import now
from app.drafts import lifecycle
from app.monitoring import daily, handling
from app.outbox import dispatch
from app.outbox import queues as jobs
from app.wechat.client import WeChatAPI
from tests.console_helpers import shot, sign_in_browser, signed_in, with_password
from tests.factories import actor, submitted, world
from tests.notify_helpers import sandbox_office  # noqa: F401
from tests.publishing_helpers import approved
from tests.test_chat import Phone

SYSTEM = Actor.system("publisher")


def published_today(r, w, text: str) -> str:
    """A draft that went out today (what the publishing worker's moves leave)."""
    draft = approved(r, w, "text", text=text)
    lifecycle.system_move(r, SYSTEM, draft.id, "start_publishing")
    lifecycle.system_move(r, SYSTEM, draft.id, "publish")
    return draft.id


def today():
    return now().astimezone(BEIJING).date()


@pytest.fixture
def w(r):
    return world(r)


def test_the_report_counts_each_platform_s_day(r, w, settings):
    quiet = world(r, platform_id="tw-wx")
    published_today(r, w, "计算机学院举办程序设计竞赛")
    published_today(r, w, "计算机学院召开教学工作会议")
    alerts.queue(r, "unreviewed_publication", "未经审核的文章", platform=w.platform)
    alerts.queue(r, "publish_failed", "发布失败", platform=w.platform)
    handled = alerts.queue(r, "online_content", "问题内容", platform=w.platform)
    handling.resolve(r, actor(w.propaganda), alerts.get(r, handled).number, "已删除")
    r.hset(keys.monitoring(quiet.platform), "status", "unavailable")
    report = daily.build(r, settings, today())
    mine, other = sorted(report.lines, key=lambda line: line.platform != w.platform)
    assert (mine.published, mine.unreviewed) == (2, 1)
    assert (other.published, other.unreviewed, other.unavailable) == (0, 0, True)
    assert report.open_alerts == {"unreviewed_publication": 1, "publish_failed": 1}
    text = daily.text(report)
    assert "经签发发布 2 条" in text and "未经审核发布 1 条" in text
    assert "待处理告警 2 条" in text and "无法监测" in text
    # The day before knows nothing of today's.
    assert daily.build(r, settings, today() - timedelta(days=1)).published == 0


def raise_on(r, monkeypatch, day, count: int, platform: str) -> None:
    """``count`` unreviewed publications raised at noon (Beijing) of ``day``."""
    noon = datetime.combine(day, datetime.min.time(), BEIJING) + timedelta(hours=12)
    with monkeypatch.context() as patched:
        patched.setattr(alerts, "timestamp", lambda moment=None: noon.isoformat())
        for _ in range(count):
            alerts.queue(r, "unreviewed_publication", "未经审核的文章", platform=platform)


def test_the_report_reads_its_day_s_alerts_however_many_came_later(r, w, settings, monkeypatch):
    """Only the report's day counts: one the day before is out, each of the day's is in,
    read a batch at a time, even behind more later alerts than the scan used to read."""
    day = today() - timedelta(days=2)
    raise_on(r, monkeypatch, day - timedelta(days=1), 1, w.platform)
    raise_on(r, monkeypatch, day, 3, w.platform)
    raise_on(r, monkeypatch, day + timedelta(days=1), 5, w.platform)
    monkeypatch.setattr(daily, "BATCH", 2)
    monkeypatch.setattr(daily, "SCAN", 4)  # the newest 4 are all the day after

    (line,) = daily.build(r, settings, day).lines
    assert line.unreviewed == 3
    assert daily.build(r, settings, day - timedelta(days=1)).unreviewed == 1
    assert daily.build(r, settings, day, {"tw-wx"}).unreviewed == 0
    assert daily.build(r, settings, day).open_alerts == {"unreviewed_publication": 9}
    # Cases raised before the day index existed are indexed by ``qianfa draft reindex``.
    for key in r.keys(keys.alerts_day("*")):
        r.delete(key)
    assert alertstate.reindex_days(r, batch=4) == 9
    assert daily.build(r, settings, day).unreviewed == 3


def test_the_report_counts_the_reviews_waiting_past_the_escalation_delay(r, w, settings):
    other = world(r, platform_id="tw-wx")
    for platform in (w, w, other):
        submitted(r, platform)
    assert daily.build(r, settings, today()).overdue_reviews == 0  # just submitted
    late = dataclasses.replace(settings, review_escalate_after=0)
    assert daily.build(r, late, today()).overdue_reviews == 3
    assert daily.build(r, late, today(), {w.platform}).overdue_reviews == 2
    assert "超时未审稿件 3 篇" in daily.text(daily.build(r, late, today()))


def test_a_platform_silent_too_long_is_named_dormant(r, w, settings):
    later = today() + timedelta(days=settings.dormant_days + 2)
    report = daily.build(r, settings, later)
    assert [line.platform for line in report.dormant] == [w.platform]
    assert "僵尸号 1 个" in daily.text(report)


def test_the_report_goes_out_once_a_day_to_each_propaganda_reviewer(
    sandbox_office,  # noqa: F811
):
    o = sandbox_office
    o.bind(o.w.propaganda, "张部长")
    o.writes(o.w.propaganda)
    settings = o.settings
    assert settings.daily_report_at == "08:00"  # the default
    api_for = lambda pid: WeChatAPI.for_platform(o.r, pid, settings)  # noqa: E731
    day = today()
    early = datetime.combine(day, datetime.min.time(), BEIJING) + timedelta(hours=7, minutes=59)
    assert daily.send(o.r, api_for, settings, early) == {}  # not yet
    on_time = early + timedelta(minutes=1)
    assert daily.send(o.r, api_for, settings, on_time) == {o.w.propaganda: "sent"}
    assert daily.send(o.r, api_for, settings, on_time + timedelta(hours=3)) == {}
    [message] = [m["content"] for m in o.received(o.w.propaganda) if "签发日报" in m["content"]]
    assert f"{day - timedelta(days=1):%Y-%m-%d}" in message and "待处理告警" in message
    said = [rec for rec in audit.records(o.r) if rec["action"] == "monitoring.daily_report"]
    assert len(said) == 1
    # The next morning brings the next one.
    assert daily.send(o.r, api_for, settings, on_time + timedelta(days=1))


def test_several_dispatchers_queue_the_daily_job_once_a_minute(r, settings):
    first = dispatch.Dispatcher(r, settings, name="a")
    first.ensure_groups()
    first.tick()
    dispatch.Dispatcher(r, settings, name="b").tick()
    queued = jobs.queue(r, jobs.NOTIFICATIONS).get_job_ids()
    assert sum(1 for job in queued if job.startswith("send_daily_report")) == 1


def test_the_department_asks_for_it_in_chat_and_others_may_not(r, w):
    propaganda = Phone(r, w.platform, "oProp0000000000001")
    propaganda.bind(w.propaganda)
    assert "签发日报" in propaganda.say("日报") and "签发日报" in propaganda.say("daily")
    admin = Phone(r, w.platform, "oAdmin000000000001")
    admin.bind(w.admin)
    assert "只有" in admin.say("日报")


def test_the_console_page_shows_only_the_platforms_a_person_may_see(r, w, settings):
    other = world(r, platform_id="tw-wx")
    published_today(r, w, "计算机学院举办程序设计竞赛")
    client, _ = signed_in(settings, r, w.responsible)
    page = client.get(f"/console/daily?day={today().isoformat()}").data.decode()
    assert f"daily-{w.platform}" in page and f"daily-{other.platform}" not in page
    bad = client.get("/console/daily?day=2026-13-45")
    assert bad.status_code == 400 and "日期应为 YYYY-MM-DD" in bad.data.decode()


@pytest.mark.browser
def test_the_daily_page_in_chromium(r, w, site, page):
    published_today(r, w, "计算机学院举办程序设计竞赛")
    alerts.queue(r, "unreviewed_publication", "未经审核的文章", platform=w.platform)
    with_password(r, w.propaganda)
    sign_in_browser(page, site, w.propaganda)
    page.click("nav >> text=日报")
    assert page.locator("#report-day").inner_text() == f"{today() - timedelta(days=1)}"
    page.goto(f"{site}/console/daily?day={today().isoformat()}")
    assert page.locator("#daily-published .n").inner_text() == "1"
    assert page.locator("#daily-unreviewed .n").inner_text() == "1"
    assert page.locator(f"#daily-{w.platform}").inner_text().count("1") >= 2
    page.click("#daily-open-alerts a")
    assert "未经审核的文章" in page.locator("main").inner_text()
    shot(page, "daily-report")
