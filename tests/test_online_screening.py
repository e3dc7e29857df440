"""What is online is screened (art. 15): when reconciliation first sees an article, and
again when the lexicons change; findings raise one ``online_content`` alert with
categories, words and places, and nothing is deleted."""

import pytest

from app.core import alerts, audit
from app.drafts import lifecycle, review
from app.monitoring import reconcile
from app.publishing import schedule
from app.wechat.client import WeChatAPI
from tests.factories import actor, add_term
from tests.publishing_helpers import (
    approved,
    article_content,
    finish,
    image_server,
)
from tests.sandbox_helpers import running_sandbox
from tests.wechat_helpers import APPID, PLATFORM, SECRET


@pytest.fixture
def sandbox(lexicons):
    with running_sandbox() as (url, control, _):
        control.add_account(appid=APPID, secret=SECRET)
        yield url, control


def round_of(r, pset):
    return reconcile.reconcile(r, WeChatAPI.for_platform(r, PLATFORM, pset), PLATFORM)


def raised(r) -> list[alerts.Alert]:
    return [alert for alert in alerts.recent(r, 1000) if alert.kind == "online_content"]


def published(r, control, pset, w, title: str) -> str:
    """A draft article approved and published through Qianfa; its draft id."""
    with image_server() as images:
        content = article_content([], title=title, cover_image=images.url("/cover.png"))
        draft = approved(r, w, "article", content)
        if draft.status != lifecycle.APPROVED:  # screening asked for the propaganda department
            review.approve(r, actor(w.propaganda), draft.id, draft.content_hash)
        schedule.schedule(r, draft.id, settings=pset)
        assert finish(r, control, draft.id, pset) == "done"
    return draft.id


def test_a_lexicon_change_that_makes_an_online_article_a_hit_raises_online_content(
    r, control, pset, w, lexicons
):
    draft = published(r, control, pset, w, "校园十佳歌手大赛")
    assert round_of(r, pset).alerts == []

    add_term(lexicons, "other_prohibited", "歌手大赛")
    later = round_of(r, pset)
    assert later.alerts == ["online_content"]
    [alert] = raised(r)
    assert alert.draft == draft and alert.platform == PLATFORM
    assert alert.detail["categories"] and "「歌手大赛」" in alert.detail["words"]
    assert any("标题" in place for place in alert.detail["places"])
    assert "歌手大赛" in alert.message and "第十条" in alert.message
    assert round_of(r, pset).alerts == [] and len(raised(r)) == 1  # once per finding
    article_id = schedule.publication_of(r, draft).article_id
    assert [
        a["article_id"]
        for a in WeChatAPI.for_platform(r, PLATFORM, pset).freepublish_page(0, 20)["items"]
    ] == [article_id]  # nothing deleted


def test_an_article_first_seen_with_prohibited_words_raises_both_alerts(r, control, pset, w):
    control.backoffice_publish(APPID, title="毕业季", content="<p>提供代写论文服务</p>")
    done = round_of(r, pset)
    assert sorted(done.alerts) == ["online_content", "unreviewed_publication"]
    [alert] = raised(r)
    assert "代写论文" in alert.message and "正文" in " ".join(alert.detail["places"])
    said = [rec for rec in audit.records(r) if rec["action"] == "monitoring.online_content"]
    assert len(said) == 1


def test_what_reviewers_already_saw_is_not_news(r, control, pset, w):
    published(r, control, pset, w, "关于领导班子调整的通知")
    assert round_of(r, pset).alerts == [] and raised(r) == []


def test_a_warn_hit_online_raises_online_content_at_low_severity(r, control, pset, w, lexicons):
    """Warn-only findings (advertising, typos ...) on a published post are the department's
    business too (art. 15), marked low; a block hit is high."""
    add_term(lexicons, "advertising_signal", "限时团购")  # explicit ad terms block (art. 9)
    control.backoffice_publish(APPID, title="社团活动", content="<p>社团限时团购活动</p>")
    assert "online_content" in round_of(r, pset).alerts
    [alert] = raised(r)
    assert alert.detail["severity"] == "low" and "提示性问题" in alert.message
    assert "「限时团购」" in alert.detail["words"]

    control.backoffice_publish(APPID, title="毕业季", content="<p>提供代写论文服务</p>")
    round_of(r, pset)
    assert raised(r)[0].detail["severity"] == "high"
