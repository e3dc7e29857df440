"""The console for platforms published by hand (issue 16), in real headless Chromium: an
administrator reports the page of an approved draft on its review page, and a feed failing
for a day shows on the platform's page."""

import os

import pytest
from rq import SimpleWorker

from app.core import keys
from app.core.settings import load_settings
from app.drafts import lifecycle
from app.monitoring import feeds
from app.outbox import dispatch, queues
from app.registry import sites
from tests.console_helpers import shot, sign_in_browser, signed_in, with_password
from tests.factories import OPERATOR, snapshot
from tests.manual_helpers import ARTICLE, ARTICLE_HTML, manual_world
from tests.publishing_helpers import approved
from tests.sandbox_helpers import running_sandbox

pytestmark = pytest.mark.browser


@pytest.fixture
def sandbox():
    with running_sandbox() as (_, control, _):
        yield control


def _run_jobs(r, settings) -> None:
    """What the dispatcher and a worker do with the report's audit record."""
    dispatcher = dispatch.Dispatcher(r, settings, name="test")
    while dispatcher.step(block_ms=None):
        work = [queues.queue(r, name) for name in queues.DEFAULT_QUEUES]
        SimpleWorker(work, connection=r).work(burst=True, logging_level="WARNING")


def test_an_administrator_reports_a_page_on_the_review_page_and_sees_it_checked(
    r, site, page, sandbox, settings
):
    w, _ = manual_world(r, sandbox)
    dispatch.Dispatcher(r, settings).ensure_groups()
    draft = approved(r, w, "article", ARTICLE)
    with_password(r, w.admin)
    sign_in_browser(page, site, w.admin)
    page.goto(f"{site}/console/drafts/{draft.id}")

    before = snapshot(r)
    page.fill("#url", "http://elsewhere.example.com/news/1.html")
    page.click("#report")
    assert "不在平台" in page.locator("#url-error").inner_text()
    shot(page, "manual-report-refused")
    assert snapshot(r) == before  # sessions aside, nothing is written: the page wrote none
    assert lifecycle.get(r, draft.id).status == lifecycle.APPROVED

    item = sandbox.publish_item("news", title=ARTICLE["title"], html=ARTICLE_HTML)
    page.fill("#url", item["url"])
    page.click("#report")
    assert "正在核对" in page.locator("#report-check").inner_text()
    _run_jobs(r, settings)
    page.reload()
    assert "与审核版本一致" in page.locator("#report-check").inner_text()
    assert page.locator("#report").count() == 0  # published: nothing more to report
    shot(page, "manual-report-checked")
    assert lifecycle.get(r, draft.id).status == lifecycle.PUBLISHED


def test_only_the_platforms_administrators_may_report_its_pages(r, sandbox, settings):
    """The first responsible person signs drafts but does not report pages: the form is not
    shown to them, and a forged post is refused by the server."""
    w, _ = manual_world(r, sandbox)
    draft = approved(r, w, "article", ARTICLE)
    client, csrf = signed_in(settings, r, w.responsible)
    assert 'id="report"' not in client.get(f"/console/drafts/{draft.id}").data.decode()
    item = sandbox.publish_item("news", title=ARTICLE["title"], html=ARTICLE_HTML)
    forged = client.post(
        f"/console/drafts/{draft.id}/published", data={"url": item["url"], "csrf": csrf}
    )
    assert forged.status_code == 403
    assert "管理员" in forged.data.decode()
    assert r.exists(keys.manual_check(draft.id)) == 0
    assert lifecycle.get(r, draft.id).status == lifecycle.APPROVED


def test_a_feed_failing_for_a_day_shows_on_the_platform_page(r, site, page, sandbox):
    w, home = manual_world(r, sandbox)
    sites.set_feed(r, OPERATOR, w.platform, home["home"] + "missing.xml")
    feeds.poll_due(r, settings=load_settings({**os.environ}), now=float("inf"))
    with_password(r, w.propaganda)
    sign_in_browser(page, site, w.propaganda)
    page.goto(f"{site}/console/platforms/{w.platform}")
    assert page.locator("#feed-failing").count() == 0  # failing for seconds: not yet shown
    r.hset(keys.feed_state(w.platform), "failing_since", 1)  # failing since long ago
    page.reload()
    shown = page.locator("#feed-failing").inner_text()
    assert "1970-01-01 08:00" in shown and "HTTP 404" in shown and "下次重试" in shown
    assert "missing.xml" in page.locator("main").inner_text()
    shot(page, "platform-feed-failing")
