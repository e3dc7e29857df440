"""The default reply's review in real headless Chromium: the propaganda department proposes
a reply on the platform's page, the first responsible person approves or rejects it (a
reason required) with the page's buttons; everyone else sees it without them, and a forged
post from anyone else is refused with 403 and changes nothing."""

import pytest

from app.core import audit, keys
from app.monitoring import replies
from tests.console_helpers import shot, sign_in_browser, with_password
from tests.factories import world

pytestmark = pytest.mark.browser

TEXT = "感谢关注计算机学院,回复「课表」查询课表"


def used(r, platform_id: str) -> str:
    """The reply the webhook's callback script reads."""
    found = r.hget(keys.webhook_config(platform_id), "default_reply")
    return found.decode() if found else ""


def decisions(r) -> list[dict]:
    wanted = ("webhook.reply_approve", "webhook.reply_reject")
    return [rec for rec in audit.records(r) if rec["action"] in wanted]


def open_platform(page, site: str, person: str, platform_id: str) -> None:
    sign_in_browser(page, site, person)
    page.goto(f"{site}/console/platforms/{platform_id}")


def sign_out(page) -> None:
    page.click(".who button[type=submit]")


@pytest.fixture
def w(r):
    w = world(r)
    for person in (w.propaganda, w.responsible, w.admin):
        with_password(r, person)
    return w


def propose_in_console(page, site: str, w) -> None:
    open_platform(page, site, w.propaganda, w.platform)
    page.fill("#reply-new", TEXT)
    page.click("#default-reply form button.secondary")
    assert "须经平台第一责任人审核后启用" in page.locator(".note").inner_text()


def test_the_responsible_person_approves_a_reply_the_department_proposed(r, w, site, page):
    propose_in_console(page, site, w)
    proposal = replies.pending(r, w.platform)
    assert proposal.text == TEXT and proposal.by == w.propaganda and used(r, w.platform) == ""
    # The proposer sees it, with who proposed it and the screening, but no buttons.
    shown = page.locator("#reply-proposal").inner_text()
    assert TEXT in shown and "宣传部张部长" in shown and "内容检查未发现问题" in shown
    assert page.locator("#reply-proposal button").count() == 0
    sign_out(page)

    open_platform(page, site, w.responsible, w.platform)
    shot(page, "reply-review")
    page.click("#reply-proposal button[value=approve]")
    assert "审核意见已登记" in page.locator(".note").inner_text()
    assert TEXT in page.locator("#reply-current").inner_text()
    assert used(r, w.platform) == TEXT and replies.pending(r, w.platform) is None
    [record] = decisions(r)
    assert record["action"] == "webhook.reply_approve" and record["person"] == w.responsible
    assert record["via"] == "console"


def test_a_rejection_needs_a_reason_and_keeps_the_old_reply(r, w, site, page):
    propose_in_console(page, site, w)
    sign_out(page)

    open_platform(page, site, w.responsible, w.platform)
    page.click("#reply-proposal button[value=reject]")
    assert "请写明驳回原因" in page.locator("#reply-error").inner_text()
    assert replies.pending(r, w.platform).text == TEXT and decisions(r) == []
    page.fill("#reply-reason", "语气不妥")
    page.click("#reply-proposal button[value=reject]")
    assert "审核意见已登记" in page.locator(".note").inner_text()
    assert page.locator("#reply-proposal").count() == 0
    assert replies.pending(r, w.platform) is None and used(r, w.platform) == ""
    [record] = decisions(r)
    assert record["action"] == "webhook.reply_reject" and record["reason"] == "语气不妥"


@pytest.mark.parametrize("forger", ["admin", "propaganda"])
def test_a_forged_approval_from_anyone_else_is_refused(r, w, site, page, forger):
    propose_in_console(page, site, w)
    proposal = replies.pending(r, w.platform)
    if forger == "admin":
        sign_out(page)
        open_platform(page, site, w.admin, w.platform)
    # Anyone else sees the proposal without the buttons ...
    assert TEXT in page.locator("#reply-proposal").inner_text()
    assert page.locator("#reply-proposal button").count() == 0
    # ... and a post made by hand, with their own valid session and CSRF token, is refused.
    csrf = page.locator("input[name=csrf]").first.get_attribute("value")
    answer = page.request.post(
        f"{site}/console/platforms/{w.platform}/reply/review",
        form={"csrf": csrf, "action": "approve", "digest": proposal.digest},
    )
    assert answer.status == 403
    assert replies.pending(r, w.platform) == proposal and used(r, w.platform) == ""
    assert decisions(r) == []
