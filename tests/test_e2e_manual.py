"""Issue 16's "done when", against the sandbox's stand-in website and Weibo account: a draft
approved, published by hand, reported in chat, verified by the job the dispatcher routes the
report to (its outcome sent to the reporter's WeChat); a differing page; an item published
without review; an edit after publication. The feed is read by the same code the periodic
job runs (``feeds.poll_due``)."""

import json

import pytest

from app.core import alerts, audit
from app.core.settings import get_settings
from app.drafts import lifecycle
from app.monitoring import feeds
from app.publishing import schedule
from app.registry import owners, sites
from tests.factories import OPERATOR, refiled
from tests.manual_helpers import ARTICLE, ARTICLE_HTML, WEIBO_TEXT, manual_world
from tests.notify_helpers import office
from tests.publishing_helpers import approved
from tests.sandbox_helpers import running_sandbox
from tests.test_chat import Phone

CASES = {
    "website": {
        "site": "news",
        "draft": ("article", ARTICLE),
        "publish": {"title": ARTICLE["title"], "html": ARTICLE_HTML},
        "differing": {"title": ARTICLE["title"], "html": ARTICLE_HTML + "<p>未经审核的一段。</p>"},
        "edit": {"html": ARTICLE_HTML.replace("120名", "200名")},
        "unreviewed": {"title": "未经审核的通知", "html": "<p>明天全院停课。</p>"},
    },
    "weibo": {
        "site": "jsj",
        "draft": ("text", {"text": WEIBO_TEXT}),
        "publish": {"text": WEIBO_TEXT},
        "differing": {"text": WEIBO_TEXT.replace("金奖", "银奖")},
        "edit": {"text": WEIBO_TEXT + "欢迎报考!"},
        "unreviewed": {"text": "明天全院停课,请相互转告。"},
    },
}


def _kinds(r) -> list[str]:
    return [alert.kind for alert in alerts.recent(r)]


def _poll(r):
    return feeds.poll_due(r, settings=get_settings(), now=float("inf"))


def _report(o, phone, person: str, text: str) -> str:
    """Say it in chat, run what the dispatcher routes, return the outcome the person got."""
    reply = phone.say(text)
    assert "正在核对" in reply, reply
    before = len(o.received(person))
    o.settle()
    return o.received(person)[before]["content"]


@pytest.mark.parametrize("kind", sorted(CASES))
def test_a_platform_without_api_is_reviewed_published_by_hand_verified_and_watched(
    r, kind, monkeypatch
):
    case = CASES[kind]
    with running_sandbox() as (url, control, _world):
        # The administrator talks to Qianfa on the college's WeChat account.
        o = office(r, control, monkeypatch, url, platform_id="jsj-wx")
        w, site = manual_world(r, control, kind=kind, site_id=case["site"])
        sites.set_feed(r, OPERATOR, w.platform, site["feed_url"])
        refiled(r, owners.add_admin(r, OPERATOR, o.w.platform, w.admin, "兼管微博和网站"))
        phone = Phone(r, o.w.platform, o.bind(w.admin))
        o.writes(w.admin)
        assert _poll(r)[w.platform]["items"] == 0  # the first reading is the baseline

        kind_of_draft, content = case["draft"]
        draft = approved(r, w, kind_of_draft, content)
        schedule.schedule(r, draft.id)
        item = control.publish_item(case["site"], **case["publish"])
        told = _report(o, phone, w.admin, f"已发布 {draft.id} {item['url']}")
        assert "一致" in told and "不一致" not in told, told
        assert lifecycle.get(r, draft.id).status == lifecycle.PUBLISHED
        assert _poll(r)[w.platform] == {"items": 1, "new": 0, "unreviewed": 0, "changed": 0}
        assert _kinds(r) == []

        other = approved(r, w, kind_of_draft, content)
        wrong = control.publish_item(case["site"], **case["differing"])
        told = _report(o, phone, w.admin, f"published {other.id} {wrong['url']}")
        assert "不一致" in told, told
        assert _kinds(r) == ["published_differs"]
        assert lifecycle.get(r, other.id).status == lifecycle.PUBLISHED

        control.edit_item(case["site"], item["id"], **case["edit"])
        control.publish_item(case["site"], **case["unreviewed"])
        counts = _poll(r)[w.platform]
        assert (counts["changed"], counts["unreviewed"]) == (1, 1), counts
        found = {alert.kind: alert for alert in alerts.recent(r)}
        assert found["published_changed"].draft == draft.id
        assert found["unreviewed_publication"].detail["url"].startswith(site["home"])
        assert _poll(r)[w.platform]["unreviewed"] == 0  # told once, not at every poll


def test_a_feed_item_matching_an_approved_unreported_draft_publishes_it(r, monkeypatch):
    """Nobody reported the page: the feed finds it, the draft is published there, audited,
    and its author is told on WeChat; no unreviewed alert."""
    with running_sandbox() as (url, control, _world):
        o = office(r, control, monkeypatch, url, platform_id="jsj-wx")
        w, site = manual_world(r, control, site_id="news")
        sites.set_feed(r, OPERATOR, w.platform, site["feed_url"])
        refiled(r, owners.add_admin(r, OPERATOR, o.w.platform, w.admin, "兼管网站"))
        o.bind(w.admin)
        o.writes(w.admin)
        _poll(r)  # the baseline
        draft = approved(r, w, "article", ARTICLE)
        item = control.publish_item("news", title=ARTICLE["title"], html=ARTICLE_HTML)

        assert _poll(r)[w.platform]["new"] == 1
        published = lifecycle.get(r, draft.id)
        assert published.status == lifecycle.PUBLISHED
        assert schedule.publication_of(r, draft.id).article_url == item["url"]
        [record] = audit.records(r, draft=draft.id, action="draft.report")
        assert json.loads(record["detail"])["found_by"] == "feed"
        assert _kinds(r) == []
        o.settle()
        told = [line["content"] for line in o.received(w.admin)]
        assert any("已发布" in text and item["url"] in text for text in told), told
