"""Reconciliation against the sandbox: what an administrator publishes from the MP back
office raises one ``unreviewed_publication``; what Qianfa published raises none; an edit
made online raises ``published_changed``; WeChat's errors back off without false alerts."""

import pytest
from rq import SimpleWorker

from app.core import alerts, alertstate, audit, keys
from app.core.settings import get_settings
from app.monitoring import reconcile
from app.outbox import dispatch
from app.outbox import queues as jobs
from app.publishing import record as pubs
from app.publishing import schedule
from app.wechat.client import WeChatAPI
from tests.publishing_helpers import (
    approved,
    article_content,
    finish,
    publish_env,
)
from tests.sandbox_helpers import running_sandbox
from tests.wechat_helpers import APPID, PLATFORM, SECRET


@pytest.fixture
def sandbox():
    with running_sandbox() as (url, control, _):
        control.add_account(appid=APPID, secret=SECRET)
        yield url, control


def api(r, pset) -> WeChatAPI:
    return WeChatAPI.for_platform(r, PLATFORM, pset)


def raised(r, kind: str) -> list[alerts.Alert]:
    return [alert for alert in alerts.recent(r, 1000) if alert.kind == kind]


def publish_through_qianfa(r, control, pset, w, images, title="程序设计竞赛") -> str:
    content = article_content([], title=title, cover_image=images.url("/cover.png"))
    draft = approved(r, w, "article", content)
    schedule.schedule(r, draft.id, settings=pset)
    assert finish(r, control, draft.id, pset) == pubs.DONE
    return schedule.publication_of(r, draft.id).article_id


def test_a_backoffice_post_raises_exactly_one_alert_and_qianfa_posts_none(
    r, control, pset, w, images
):
    for n in range(100):
        publish_through_qianfa(r, control, pset, w, images, title=f"第{n}期简报")
    bypass = control.backoffice_publish(APPID, title="未经审核的通知", content="<p>直接发</p>")

    done = reconcile.reconcile(r, api(r, pset), PLATFORM)
    assert done.examined == 101 and done.error == ""
    [alert] = raised(r, "unreviewed_publication")
    assert alert.platform == PLATFORM and alert.detail["article_id"] == bypass["article_id"]
    assert "未经审核的通知" in alert.message and "第一责任人" in alert.message
    assert bypass["news_item"][0]["url"] in alert.message
    assert alertstate.get(r, alert.number).state == alertstate.OPEN

    # Seen again (a later round, or the same article id after a restart): no second alert.
    again = reconcile.reconcile(r, api(r, pset), PLATFORM)
    assert again.examined == 0 and len(raised(r, "unreviewed_publication")) == 1
    r.delete(keys.online_articles(PLATFORM))
    reconcile.reconcile(r, api(r, pset), PLATFORM)
    assert len(raised(r, "unreviewed_publication")) == 1


def test_an_article_edited_online_after_publication_raises_published_changed(
    r, control, pset, w, images
):
    article_id = publish_through_qianfa(r, control, pset, w, images)
    assert reconcile.reconcile(r, api(r, pset), PLATFORM).alerts == []
    control.backoffice_edit(APPID, article_id, content="<p>审核后被改过的正文</p>")

    done = reconcile.reconcile(r, api(r, pset), PLATFORM)
    assert done.alerts == ["published_changed"]
    [alert] = raised(r, "published_changed")
    assert alert.detail["article_id"] == article_id and alert.draft
    assert raised(r, "unreviewed_publication") == []
    assert [rec["action"] for rec in audit.records(r)][-1] == "monitoring.published_changed"


def test_a_later_round_costs_the_new_articles_not_all(r, control, pset, w):
    for n in range(45):
        control.backoffice_publish(APPID, title=f"旧文{n}", content="x")
    first = reconcile.reconcile(r, api(r, pset), PLATFORM)
    assert (first.examined, first.calls) == (45, 3)  # three pages with content
    for n in range(2):
        control.backoffice_publish(APPID, title=f"新文{n}", content="y")
    later = reconcile.reconcile(r, api(r, pset), PLATFORM)
    assert (later.examined, later.calls) == (2, 3)  # one page, then each new article's content


def test_wechat_errors_back_off_and_raise_no_false_alert(r, control, pset, w, images):
    publish_through_qianfa(r, control, pset, w, images)
    control.add_fault(endpoint="freepublish/batchget", action={"errcode": -1}, times=1)
    failed = reconcile.reconcile(r, api(r, pset), PLATFORM)
    assert failed.error and raised(r, "unreviewed_publication") == []
    assert reconcile.reconcile(r, api(r, pset), PLATFORM).skipped == "backing_off"
    done = reconcile.reconcile(r, api(r, pset), PLATFORM, force=True)
    assert done.examined == 1 and done.alerts == []


def test_an_unverified_account_is_said_once_to_be_unmonitorable(r, control, pset, w):
    control.change_account(APPID, kind="subscription", verified=False)
    for _ in range(2):
        reconcile.reconcile(r, api(r, pset), PLATFORM, force=True)
    assert reconcile.status(r, PLATFORM)["status"] == "unavailable"
    said = [rec for rec in audit.records(r) if rec["action"] == "monitoring.unavailable"]
    assert len(said) == 1 and "48001" in said[0]["reason"]


def test_the_dispatcher_runs_reconciliation_within_one_interval(
    r, control, w, sandbox, monkeypatch
):
    for name, value in publish_env(sandbox[0], reconcile_interval=1).items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    try:
        control.backoffice_publish(APPID, title="后台直接发布", content="x")
        dispatcher = dispatch.Dispatcher(r, get_settings(), name="a")
        dispatcher.ensure_groups()
        dispatch.Dispatcher(r, get_settings(), name="b").tick()
        dispatcher.tick()  # a second dispatcher in the same interval adds nothing
        assert jobs.queue(r, jobs.ALERTS).count == 1
        SimpleWorker([jobs.queue(r, jobs.ALERTS)], connection=r).work(burst=True)
        [alert] = raised(r, "unreviewed_publication")
        assert "后台直接发布" in alert.message
    finally:
        get_settings.cache_clear()
