"""Issue 14, item 5 (art. 17): suspending a platform holds its approved drafts, resuming sends
them back to review with their sign-offs void, closing withdraws every open draft; authors and
reviewers hear of it through the sandbox WeChat, through every channel that changes a status."""

from datetime import timedelta

import pytest
from click.testing import CliRunner

from app.cli.base import cli
from app.core import alerts, audit
from app.core.errors import Conflict
from app.core.store import now
from app.drafts import lifecycle, review, suspension
from app.publishing import record as pubs
from app.publishing import schedule
from app.registry import platforms
from tests.console_helpers import shot, sign_in_browser, with_password
from tests.factories import OPERATOR, actor, snapshot, submitted, text_draft, world
from tests.notify_helpers import sandbox_office  # noqa: F401
from tests.publishing_helpers import approved
from tests.wechat_helpers import APPID


@pytest.fixture
def o(sandbox_office):  # noqa: F811
    """The office with the author and the responsible person bound, windows open."""
    for person, name in (
        (sandbox_office.w.admin, "王老师"),
        (sandbox_office.w.responsible, "李书记"),
    ):
        sandbox_office.bind(person, name)
        sandbox_office.writes(person)
    return sandbox_office


def texts(o, person: str) -> list[str]:
    return [line["content"] for line in o.received(person)]


def later(hours: int = 2) -> str:
    return (now() + timedelta(hours=hours)).isoformat()


def test_a_scheduled_post_approved_before_a_suspension_needs_a_new_approval(o):
    """The bug of issue 14: approved and scheduled, suspended, resumed: it does not go out
    on the old approval; it is held, its author told, then back in review, reviewers asked."""
    draft = approved(o.r, o.w, scheduled_at=later())
    o.settle()
    suspension.change_status(o.r, OPERATOR, o.w.platform, "suspended", "内容违规,停用整改")
    assert lifecycle.get(o.r, draft.id).status == lifecycle.HELD
    o.settle()
    assert any("【暂停发布】" in text and "停用整改" in text for text in texts(o, o.w.admin))

    asked_before = len(texts(o, o.w.responsible))
    suspension.change_status(o.r, OPERATOR, o.w.platform, "active", "整改完成")
    back = review.state(o.r, draft.id)
    assert back.draft.status == lifecycle.IN_REVIEW and back.given == {}
    o.settle()
    assert any("【待审核】" in text for text in texts(o, o.w.responsible)[asked_before:])
    assert any("【重新审核】" in text for text in texts(o, o.w.admin))

    # The scheduled time comes: the queued run finds no approval and sends nothing.
    assert schedule.run(o.r, draft.id, draft.version) == pubs.REFUSED
    assert o.control.account(APPID)["mass_sends"] == []
    review.approve(o.r, actor(o.w.responsible), draft.id, draft.content_hash)
    o.settle()
    assert schedule.publication_of(o.r, draft.id).round == 2  # queued anew on the new approval


def test_suspension_leaves_other_drafts_and_resumption_moves_only_held_ones(r):
    """Only approved drafts are held; drafts in review, rejected or fresh stay as they are."""
    w = world(r)
    held, in_review, fresh = approved(r, w), submitted(r, w), text_draft(r, w)
    suspension.change_status(r, OPERATOR, w.platform, "suspended", "整改")
    statuses = {d.id: lifecycle.get(r, d.id).status for d in (held, in_review, fresh)}
    assert statuses == {held.id: "held", in_review.id: "in_review", fresh.id: "draft"}
    _, moved = suspension.change_status(r, OPERATOR, w.platform, "active", "整改完成")
    assert [d.id for d in moved] == [held.id]
    assert held.id in [d.id for d in review.waiting_for(r, w.responsible, None, 10)]


def test_nothing_is_approved_on_a_suspended_platform(r):
    """Art. 17: a sign-off during the suspension is refused and writes nothing."""
    w = world(r)
    draft = submitted(r, w)
    suspension.change_status(r, OPERATOR, w.platform, "suspended", "整改")
    before = snapshot(r)
    with pytest.raises(Conflict, match="第十七条"):
        review.approve(r, actor(w.responsible), draft.id, draft.content_hash)
    assert snapshot(r) == before


def test_closing_withdraws_every_open_draft_tells_the_authors_and_raises_an_alert(o):
    """Art. 17: every draft not yet published is withdrawn with the reason; one alert."""
    drafts = [approved(o.r, o.w, scheduled_at=later()), submitted(o.r, o.w), text_draft(o.r, o.w)]
    o.settle()
    _, moved = suspension.change_status(o.r, OPERATOR, o.w.platform, "closed", "主办单位撤销")
    assert sorted(d.id for d in moved) == sorted(d.id for d in drafts)
    for draft in drafts:
        gone = lifecycle.get(o.r, draft.id)
        assert gone.status == lifecycle.WITHDRAWN and "主办单位撤销" in gone.status_reason
    o.settle()
    told = [text for text in texts(o, o.w.admin) if "【已撤回】" in text]
    assert len(told) == len(drafts)
    (alert,) = [a for a in alerts.recent(o.r) if a.kind == "platform_closed"]
    assert "主办单位撤销" in alert.message


def test_a_refused_status_change_moves_no_draft(r):
    """A change off the table (closed is final) is refused before any draft moves."""
    w = world(r)
    approved(r, w)
    suspension.change_status(r, OPERATOR, w.platform, "closed", "撤销")
    before = snapshot(r)
    with pytest.raises(Conflict, match="已关闭"):
        suspension.change_status(r, OPERATOR, w.platform, "active", "重新开通")
    assert snapshot(r) == before


def test_the_cli_suspends_and_resumes_with_the_drafts_it_moved(r):
    """``qianfa platform status``: says which drafts were held, then sent back to review."""
    w = world(r)
    draft = approved(r, w)
    runner = CliRunner()
    out = runner.invoke(cli, ["platform", "status", w.platform, "suspended", "--reason", "整改"])
    assert out.exit_code == 0, out.output
    assert f"稿件 {draft.id}:暂停发布" in out.output
    out = runner.invoke(cli, ["platform", "status", w.platform, "active", "--reason", "整改完成"])
    assert f"稿件 {draft.id}:审核中" in out.output
    assert [r_["action"] for r_ in audit.records(r, draft=draft.id)][-2:] == [
        "draft.hold",
        "draft.resume",
    ]


def test_the_cli_refuses_a_status_change_in_one_line(r):
    w = world(r)
    out = CliRunner().invoke(cli, ["platform", "status", w.platform, "paused", "--reason", "x"])
    assert out.exit_code != 0
    assert out.output.startswith("错误:平台状态无效") and len(out.output.strip().splitlines()) == 1
    assert platforms.get(r, w.platform).status == platforms.ACTIVE


@pytest.mark.browser
def test_the_console_suspension_holds_the_approved_draft(r, site, page):
    """The propaganda department suspends in the console; the approved draft is held."""
    w = world(r)
    draft = approved(r, w)
    with_password(r, w.propaganda)
    sign_in_browser(page, site, w.propaganda)
    page.goto(f"{site}/console/platforms/{w.platform}")
    page.select_option("#status", "suspended")
    page.fill("#reason", "发布违规商业广告,停用整改")
    page.click("main form button[type=submit] >> text=确认")
    assert lifecycle.get(r, draft.id).status == lifecycle.HELD
    page.goto(f"{site}/console/drafts?status=held")
    assert draft.id in page.locator("table").inner_text()
    page.click(f"text={draft.id}")
    assert "停用整改" in page.locator("#status-reason").inner_text()
    shot(page, "draft-held")
