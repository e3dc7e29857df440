"""Issue 14, item 6 through every channel that offers it: a reviewer's comment (chat through
the sandbox WeChat, console in Chromium, shown by the API) and a new or no publish time
(chat, console, API); each refusal is one line and writes nothing."""

import pytest

from app.channels import apitokens
from app.core.settings import load_settings
from app.drafts import lifecycle, review
from app.web import create_app
from tests.console_helpers import shot, sign_in_browser, with_password
from tests.factories import OPERATOR, actor, snapshot, submitted, world
from tests.publishing_helpers import approved
from tests.test_e2e_chat import ADMIN, RESPONSIBLE, college, phones  # noqa: F401

LATER = "2099-12-05 09:00"


def test_a_reviewer_comments_in_chat_and_the_author_reads_it(phones, college, r):  # noqa: F811
    """``同意 D1 <意见>`` signs off with the comment; ``状态`` shows it to the author."""
    phones.bind_all()
    assert "已提交稿件 D1" in phones.say(ADMIN, "投稿 计算机学院举办程序设计竞赛")
    reply = phones.say(RESPONSIBLE, "同意 D1 标题可再精炼")
    assert "审核意见已转告作者:标题可再精炼" in reply
    given = review.state(r, "D1").given["responsible"]
    assert given["comment"] == "标题可再精炼"
    assert "第一责任人:已通过,意见:标题可再精炼" in phones.say(ADMIN, "状态 D1")


def test_a_too_long_comment_is_refused_in_one_line(phones, college, r):  # noqa: F811
    phones.bind_all()
    phones.say(ADMIN, "投稿 计算机学院举办程序设计竞赛")
    before = lifecycle.get(r, "D1")
    reply = phones.say(RESPONSIBLE, "同意 D1 " + "很" * 600)
    assert "审核意见过长" in reply and "\n" not in reply
    assert lifecycle.get(r, "D1") == before and review.state(r, "D1").given == {}


def test_the_author_reschedules_and_unschedules_in_chat(phones, college, r):  # noqa: F811
    """``定时 D1 <time>`` and ``取消定时 D1`` (and the English aliases); sign-offs stay."""
    phones.bind_all()
    phones.say(ADMIN, "投稿 计算机学院举办程序设计竞赛")
    phones.say(RESPONSIBLE, "同意 D1")
    assert "改定于 2099-12-05 09:00 北京时间 发布" in phones.say(ADMIN, f"定时 D1 {LATER}")
    draft = lifecycle.get(r, "D1")
    assert draft.status == lifecycle.APPROVED and draft.scheduled_at == "2099-12-05T01:00:00+00:00"
    assert review.state(r, "D1").complete
    assert "已取消稿件 D1 的定时发布" in phones.say(ADMIN, "取消定时 D1")
    assert lifecycle.get(r, "D1").scheduled_at == ""
    assert "改定于" in phones.say(ADMIN, "schedule D1 2099-12-06 10:00")
    assert "已取消" in phones.say(ADMIN, "unschedule D1")


@pytest.mark.parametrize(
    ("words", "error"),
    [
        ("定时 D1", "请写明发布时间"),
        ("定时 D1 2020-01-01 08:00", "不能早于现在"),
        ("定时 D1 下周一", "格式不对"),
        ("取消定时 D1", "没有设定定时发布"),
    ],
)
def test_a_bad_reschedule_in_chat_is_one_line(phones, college, r, words, error):  # noqa: F811
    phones.bind(ADMIN, college.admin)
    phones.say(ADMIN, "投稿 计算机学院举办程序设计竞赛")
    before = lifecycle.get(r, "D1")
    reply = phones.say(ADMIN, words)
    assert error in reply and "\n" not in reply
    assert lifecycle.get(r, "D1") == before


# --- the API --------------------------------------------------------------------------------


@pytest.fixture
def api(r):
    w = world(r)
    _, secret = apitokens.issue(r, OPERATOR, w.admin, [w.platform], label="CMS")
    client = create_app(load_settings()).test_client()
    return w, client, {"Authorization": f"Bearer {secret}"}


def test_the_api_reschedules_keeps_sign_offs_and_shows_comments(r, api):
    w, client, headers = api
    draft = submitted(r, w)
    review.approve(r, actor(w.responsible), draft.id, draft.content_hash, "配图再清晰些")
    path = f"/api/v1/drafts/{draft.id}/schedule"
    answer = client.post(path, json={"scheduled_at": "2099-12-05T09:00"}, headers=headers)
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["scheduled_at"] == "2099-12-05T01:00:00+00:00" and body["status"] == "approved"
    assert body["review"]["given"][0]["comment"] == "配图再清晰些"
    cleared = client.post(path, json={"scheduled_at": None}, headers=headers).get_json()
    assert cleared["scheduled_at"] is None and cleared["review"]["complete"]


@pytest.mark.parametrize(
    ("body", "field"),
    [({}, "scheduled_at"), ({"scheduled_at": "下周"}, "scheduled_at"), ({"at": "x"}, "at")],
)
def test_a_bad_api_reschedule_is_a_json_error_and_writes_nothing(r, api, body, field):
    w, client, headers = api
    draft = approved(r, w)
    before = lifecycle.get(r, draft.id)
    answer = client.post(f"/api/v1/drafts/{draft.id}/schedule", json=body, headers=headers)
    assert answer.status_code == 400
    assert answer.get_json()["field"] == field and answer.get_json()["message"]
    assert lifecycle.get(r, draft.id) == before


def test_the_api_refuses_rescheduling_a_published_draft(r, api):
    w, client, headers = api
    draft = approved(r, w)
    r.hset(f"qianfa:draft:{draft.id}", "status", lifecycle.PUBLISHED)
    before = snapshot(r)
    path = f"/api/v1/drafts/{draft.id}/schedule"
    answer = client.post(path, json={"scheduled_at": "2099-12-05T09:00"}, headers=headers)
    assert answer.status_code == 409 and "已发布" in answer.get_json()["message"]
    assert {k: v for k, v in snapshot(r).items() if b"apitoken" not in k} == {
        k: v for k, v in before.items() if b"apitoken" not in k
    }


# --- the console ----------------------------------------------------------------------------


@pytest.mark.browser
def test_a_reviewer_comments_in_the_console(r, site, page):
    w = world(r)
    draft = submitted(r, w)
    with_password(r, w.responsible)
    sign_in_browser(page, site, w.responsible)
    page.goto(f"{site}/console/drafts/{draft.id}")
    page.fill("#comment", "活动时间请写明到分钟")
    page.click("#approve")
    assert "意见:活动时间请写明到分钟" in page.locator("#signoffs").inner_text()
    assert review.state(r, draft.id).given["responsible"]["comment"] == "活动时间请写明到分钟"
    shot(page, "review-comment")


@pytest.mark.browser
def test_the_author_reschedules_in_the_console(r, site, page):
    """The author sets a new time and clears it on the draft's page; sign-offs stay."""
    w = world(r)
    draft = approved(r, w, scheduled_at="2099-01-01T08:00")
    with_password(r, w.admin)
    sign_in_browser(page, site, w.admin)
    page.goto(f"{site}/console/drafts/{draft.id}")
    page.fill("#at", "2099-12-05T09:00")
    page.click("#reschedule")
    assert "2099-12-05 09:00 北京时间" in page.locator("#scheduled").inner_text()
    assert lifecycle.get(r, draft.id).scheduled_at == "2099-12-05T01:00:00+00:00"
    assert review.state(r, draft.id).complete
    shot(page, "rescheduled")
    page.click("#unschedule")
    assert lifecycle.get(r, draft.id).scheduled_at == ""
    page.click("#reschedule")  # no time given: refused on the page, nothing changes
    assert "没有设定定时发布" in page.locator("main").inner_text()
    assert lifecycle.get(r, draft.id).scheduled_at == ""
