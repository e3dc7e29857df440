"""The manual channel (issue 16): a website or Weibo platform has no publishing API, so an
approved draft waits for an administrator to publish it by hand and report the page, which
a job fetches from the sandbox's stand-in site and compares with the approved version (the
domain tests run that job's ``manual.verify`` through ``reported``)."""

import os

import pytest

from app.core import alerts, audit, keys
from app.core.errors import Conflict, Forbidden, InvalidInput
from app.core.settings import load_settings
from app.drafts import lifecycle
from app.publishing import manual, schedule
from app.publishing import record as pubs
from app.registry import sites
from tests.factories import OPERATOR, actor, snapshot
from tests.manual_helpers import (
    ARTICLE,
    ARTICLE_HTML,
    WEIBO_TEXT,
    beside_the_report,
    host_of,
    manual_world,
    reported,
    scripted,
)
from tests.publishing_helpers import approved
from tests.sandbox_helpers import running_sandbox


@pytest.fixture
def sandbox():
    with running_sandbox() as (url, control, _):
        yield control


def _kinds(r) -> list[str]:
    return [alert.kind for alert in alerts.recent(r)]


def test_an_approved_website_draft_waits_for_a_report_instead_of_failing(r, sandbox):
    """Before issue 16 this draft failed with 「不是登记了 AppID 的微信公众号」."""
    w, _ = manual_world(r, sandbox)
    draft = approved(r, w, "article", ARTICLE)
    pub = schedule.schedule(r, draft.id)
    assert pub.step == pubs.MANUAL and pub.channel == "manual"
    assert schedule.run(r, draft.id, draft.version) == pubs.MANUAL
    assert lifecycle.get(r, draft.id).status == lifecycle.APPROVED
    assert r.zcard(keys.publications_active()) == 0  # nothing for the sweeper to resume
    assert "publish_failed" not in _kinds(r)


def test_a_page_published_as_approved_is_verified_and_recorded(r, sandbox):
    w, _ = manual_world(r, sandbox)
    draft = approved(r, w, "article", ARTICLE)
    schedule.schedule(r, draft.id)
    item = sandbox.publish_item("news", title=ARTICLE["title"], html=ARTICLE_HTML)

    done, check = reported(r, actor(w.admin), draft.id, item["url"])

    assert check.state == manual.MATCH, check
    assert done.status == lifecycle.PUBLISHED
    pub = schedule.publication_of(r, draft.id)
    assert (pub.step, pub.article_url, pub.verdict) == (pubs.DONE, item["url"], "match")
    assert pub.reported_by == w.admin
    assert "published_differs" not in _kinds(r)
    assert manual.due(r, until=float("inf")) == []  # no reminder once reported


def test_a_differing_page_is_recorded_with_a_published_differs_alert(r, sandbox):
    w, _ = manual_world(r, sandbox)
    draft = approved(r, w, "article", ARTICLE)
    changed = ARTICLE_HTML.replace("三名同学获得一等奖", "三名同学获得特等奖") + "<p>欢迎报考!</p>"
    item = sandbox.publish_item("news", title=ARTICLE["title"], html=changed)

    done, check = reported(r, actor(w.admin), draft.id, item["url"])

    assert done.status == lifecycle.PUBLISHED
    assert check.state == manual.DIFFERS and "特等奖" in check.to_dict()["added"][0]
    [alert] = [a for a in alerts.recent(r) if a.kind == "published_differs"]
    assert alert.draft == draft.id and alert.detail["url"] == item["url"]
    assert any("一等奖" in s for s in alert.detail["missing"])
    assert any("特等奖" in s for s in alert.detail["added"])
    assert "欢迎报考" in "".join(alert.detail["added"])
    assert schedule.publication_of(r, draft.id).verdict == "differs"


def test_a_weibo_post_published_by_hand_is_verified(r, sandbox):
    w, _ = manual_world(r, sandbox, kind="weibo", site_id="jsj")
    draft = approved(r, w, text=WEIBO_TEXT)
    schedule.schedule(r, draft.id)
    post = sandbox.publish_item("jsj", text=WEIBO_TEXT)

    done, check = reported(r, actor(w.admin), draft.id, post["url"])

    assert check.state == manual.MATCH and done.status == lifecycle.PUBLISHED


def test_reports_refused_at_once_change_nothing(r, sandbox):
    """What costs nothing to check is refused in the request: domain, URL shape, who."""
    w, site = manual_world(r, sandbox)
    draft = approved(r, w, "article", ARTICLE)
    schedule.schedule(r, draft.id)
    item = sandbox.publish_item("news", title=ARTICLE["title"], html=ARTICLE_HTML)
    before = snapshot(r)
    refusals = {
        "http://elsewhere.example.com/a.html": "不在平台",
        "ftp://news/a.html": "http",
        "": "不能为空",
    }
    for url, words in refusals.items():
        with pytest.raises(InvalidInput) as caught:
            manual.accept(r, actor(w.admin), draft.id, url)
        assert words in caught.value.message, (url, caught.value.message)
    with pytest.raises(Forbidden):
        manual.accept(r, actor(w.responsible), draft.id, item["url"])
    assert snapshot(r) == before


def test_pages_that_cannot_be_checked_leave_the_draft_approved_and_say_why(r, sandbox):
    w, site = manual_world(r, sandbox)
    draft = approved(r, w, "article", ARTICLE)
    schedule.schedule(r, draft.id)
    before = beside_the_report(r)
    cases = ((site["home"] + "articles/99.html", "HTTP 404"), (site["feed_url"], "不是网页"))
    for url, words in cases:
        done, check = reported(r, actor(w.admin), draft.id, url)
        assert (done.status, check.state) == (lifecycle.APPROVED, manual.FAILED)
        assert words in check.error, (url, check.error)
    assert beside_the_report(r) == before
    failed = list(audit.records(r, draft=draft.id, action="publish.report_failed"))
    assert len(failed) == 2 and "HTTP 404" in failed[0]["reason"]


def test_redirects_elsewhere_large_pages_and_dead_hosts_are_refused(r, sandbox):
    w, site = manual_world(r, sandbox)
    draft = approved(r, w, text=WEIBO_TEXT)
    huge = b"<html><body><p>" + "很长的内容。".encode() * 400_000 + b"</p></body></html>"
    answers = {
        "/moved.html": (302, {"Location": site["home"]}, b""),
        "/huge.html": (200, {"Content-Type": "text/html; charset=utf-8"}, huge),
    }
    with scripted(answers) as server:
        sites.set_domain(r, OPERATOR, w.platform, server.host)
        before = beside_the_report(r)
        for path, words in (("/moved.html", "不在平台"), ("/huge.html", "过大")):
            done, check = reported(r, actor(w.admin), draft.id, server.url(path))
            assert words in check.error and done.status == lifecycle.APPROVED
        dead = server.host
    _, check = reported(r, actor(w.admin), draft.id, f"http://{dead}/a.html")
    assert "无法连接" in check.error
    assert beside_the_report(r) == before


def test_a_later_report_replaces_one_not_yet_checked(r, sandbox):
    """Two reports in a row: the first one's job finds it replaced and does nothing."""
    w, site = manual_world(r, sandbox)
    draft = approved(r, w, text=WEIBO_TEXT)
    post = sandbox.publish_item("news", text=WEIBO_TEXT)
    manual.accept(r, actor(w.admin), draft.id, site["home"] + "articles/99.html")
    first = list(audit.records(r, draft=draft.id, action="publish.report"))[-1]
    _, check = reported(r, actor(w.admin), draft.id, post["url"])
    assert check.state == manual.MATCH
    assert manual.verify(r, first, load_settings()) is None
    assert manual.current_check(r, draft.id).url == post["url"]


def test_only_an_approved_draft_can_be_reported(r, sandbox):
    w, site = manual_world(r, sandbox)
    draft = approved(r, w, text=WEIBO_TEXT)
    lifecycle.withdraw(r, actor(w.admin), draft.id)
    with pytest.raises(Conflict):
        manual.accept(r, actor(w.admin), draft.id, site["home"] + "articles/1.html")


def test_a_draft_not_reported_in_time_is_due_for_a_reminder(r, sandbox):
    w, _ = manual_world(r, sandbox)
    settings = load_settings({"QIANFA_MANUAL_REPORT_AFTER": "3600"})
    draft = approved(r, w, text=WEIBO_TEXT)
    schedule.schedule(r, draft.id, settings=settings)
    assert manual.due(r) == []
    [pub] = manual.due(r, until=float(r.zscore(keys.manual_pending(), f"{draft.id}:v1")))
    assert pub.draft == draft.id


def test_the_domain_is_checked_when_it_is_set(r, sandbox):
    w, _ = manual_world(r, sandbox)
    for bad in ("", "not a domain", "http://x/y/z", "a@b.com"):
        with pytest.raises(InvalidInput):
            sites.set_domain(r, OPERATOR, w.platform, bad)
    site = sites.set_domain(r, OPERATOR, w.platform, "https://News.Example.edu.cn/")
    assert site.domain == "news.example.edu.cn"
    assert site.owns("https://www.news.example.edu.cn/a.html")
    assert not site.owns("https://news.example.edu.cn.evil.com/a.html")
    assert host_of("http://127.0.0.1:1/") == "127.0.0.1:1"


def test_the_api_accepts_a_report_with_202_and_answers_the_check_at_its_status_url(r, sandbox):
    from app.channels import apitokens
    from app.web import create_app

    w, site = manual_world(r, sandbox)
    draft = approved(r, w, "article", ARTICLE)
    _, secret = apitokens.issue(r, OPERATOR, w.admin, [w.platform], label="CMS")
    client = create_app(load_settings()).test_client()
    headers = {"Authorization": f"Bearer {secret}"}
    path = f"/api/v1/drafts/{draft.id}/published"
    assert client.get(path, headers=headers).status_code == 404  # nothing reported yet

    refused = client.post(path, json={"url": "http://elsewhere.example.com/a"}, headers=headers)
    assert refused.status_code == 400
    assert refused.get_json()["field"] == "url" and "不在平台" in refused.get_json()["message"]
    assert lifecycle.get(r, draft.id).status == lifecycle.APPROVED

    item = sandbox.publish_item("news", title=ARTICLE["title"], html=ARTICLE_HTML)
    answer = client.post(path, json={"url": item["url"]}, headers=headers)
    assert answer.status_code == 202, answer.get_json()
    body = answer.get_json()
    assert body["status"] == "approved" and body["verification"]["state"] == "checking"
    assert answer.headers["Location"].endswith(body["status_url"])
    record = list(audit.records(r, draft=draft.id, action="publish.report"))[-1]
    manual.verify(r, record, load_settings())  # what the job does
    checked = client.get(body["status_url"], headers=headers).get_json()
    assert checked["status"] == "published" and checked["verification"]["matches"] is True


def test_a_failing_feed_backs_off_raises_nothing_and_shows_as_failing_after_a_while(r, sandbox):
    from app.monitoring import feeds

    w, site = manual_world(r, sandbox)
    sites.set_feed(r, OPERATOR, w.platform, site["home"] + "missing.xml")
    settings = load_settings({**os.environ, "QIANFA_FEED_FAILING_AFTER": "60"})
    outcome = feeds.poll_due(r, settings=settings, now=float("inf"))
    assert "HTTP 404" in outcome[w.platform]["failed"]
    assert feeds.poll_due(r, settings=settings) == {}  # not due again at once: backing off
    assert alerts.recent(r) == []
    assert feeds.failing(r, w.platform, settings) == ""  # not yet a day (here: 60 s)
    r.hset(keys.feed_state(w.platform), "failing_since", 1)  # failing since long ago
    assert "HTTP 404" in feeds.failing(r, w.platform, settings)
