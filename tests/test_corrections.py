"""采纳: every suggestion of a screening applied at once, as a new version of the draft."""

import pytest

from app import screening
from app.core import audit
from app.core.errors import Conflict, Forbidden
from app.drafts import corrections, lifecycle, review
from tests.console_helpers import signed_in
from tests.factories import actor, text_draft, world
from tests.test_chat import Phone

WRONG = "截止目前,校长李文华、党委书记张建国出席了学习贯彻十九大精神报告会。"
RIGHT = "截至目前,党委书记张建国、校长李文华出席了学习贯彻二十大精神报告会。"


@pytest.fixture
def w(r):
    return world(r)


@pytest.fixture
def admin(r, w):
    phone = Phone(r, w.platform, "oAdmin000000000001")
    phone.bind(w.admin)
    return phone


def test_adopt_writes_every_suggestion_into_a_new_version_and_voids_sign_offs(r, w):
    draft = lifecycle.submit(r, actor(w.admin), text_draft(r, w, WRONG).id)
    assert len([h for h in screening.result_for(r, draft.id).hits if h.suggestion]) == 3
    review.approve(r, actor(w.responsible), draft.id, draft.content_hash)
    assert lifecycle.get(r, draft.id).status == lifecycle.APPROVED
    done = corrections.adopt(r, actor(w.admin), draft.id)
    assert (done.applied, done.skipped) == (3, 0)
    assert lifecycle.version(r, draft.id).content["text"] == RIGHT
    new = lifecycle.get(r, draft.id)
    assert (new.version, new.status) == (2, lifecycle.IN_REVIEW)
    assert review.state(r, draft.id).given == {}
    assert screening.result_for(r, draft.id).hits == ()
    [edit] = [rec for rec in audit.records(r, draft=draft.id) if rec["action"] == "draft.edit"]
    assert edit["decision"] == lifecycle.IN_REVIEW and edit["person"] == w.admin


def test_adopt_with_nothing_to_adopt_is_refused_and_changes_nothing(r, w):
    draft = lifecycle.submit(r, actor(w.admin), text_draft(r, w).id)
    with pytest.raises(Conflict, match="没有可以自动采纳"):
        corrections.adopt(r, actor(w.admin), draft.id)
    assert lifecycle.get(r, draft.id).version == 1


def test_only_the_author_adopts(r, w):
    draft = lifecycle.submit(r, actor(w.admin), text_draft(r, w, WRONG).id)
    with pytest.raises(Forbidden):
        corrections.adopt(r, actor(w.other_admin), draft.id)
    assert lifecycle.get(r, draft.id).version == 1


def test_suggestions_in_article_html_keep_the_markup(r, w):
    html = "<p>全院<b>深入</b>学习贯彻十九大精神</p><p>截止目前</p>"
    content = {"title": "通知", "content_html": html, "cover_image": "https://example.org/c.png"}
    draft = lifecycle.create(r, actor(w.admin), w.platform, "article", content)
    draft = lifecycle.submit(r, actor(w.admin), draft.id)
    corrections.adopt(r, actor(w.admin), draft.id)
    assert lifecycle.version(r, draft.id).content["content_html"] == (
        "<p>全院<b>深入</b>学习贯彻二十大精神</p><p>截至目前</p>"
    )


def test_a_suggestion_whose_place_changed_is_left_out():
    found = screening.screen_text("截止目前再接再励")
    content, applied, skipped = corrections.apply({"text": "截止目前再接再力"}, found.hits)
    assert (content["text"], applied, skipped) == ("截至目前再接再力", 1, 1)


def test_in_chat_the_author_sees_original_and_suggestion_and_adopts_with_one_command(r, admin):
    reply = admin.say(f"投稿 {WRONG}")
    assert "「截止目前」→「截至目前」" in reply and "采纳 D1" in reply
    assert "领导排序错误" in reply
    reply = admin.say("采纳 D1")
    assert "已采纳 3 处修改建议" in reply and "第 2 版" in reply
    assert "此前的审核意见已作废" in reply
    assert lifecycle.version(r, "D1").content["text"] == RIGHT
    assert "没有可以自动采纳" in admin.say("adopt D1")


def test_the_console_review_page_shows_original_and_suggestion(r, w, settings):
    draft = lifecycle.submit(r, actor(w.admin), text_draft(r, w, "全院师生再接再励").id)
    client, _ = signed_in(settings, r, w.responsible)
    page = client.get(f"/console/drafts/{draft.id}").data.decode()
    assert "错别字:「再接再励」→「再接再厉」" in page and "<mark>再接再励</mark>" in page
