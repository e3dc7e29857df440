"""The alert desk in real headless Chromium: an alert is acknowledged, resolved with a
handling note (refused without one), and reopened, through the console's own buttons."""

import pytest

from app.core import alerts, alertstate
from tests.console_helpers import shot, sign_in_browser, with_password
from tests.factories import world

pytestmark = pytest.mark.browser


def test_an_alert_is_worked_to_the_end_in_the_console(r, site, page):
    w = world(r)
    alerts.queue(r, "unreviewed_publication", "平台上有一篇未经审核的文章", platform=w.platform)
    [case] = alertstate.open_cases(r)
    with_password(r, w.propaganda)
    sign_in_browser(page, site, w.propaganda)
    assert page.locator("#alerts .n").inner_text() == "1"
    page.click("#alerts")
    here = f"#case-{case.number}"
    assert "待处理" in page.locator(here).inner_text()
    shot(page, "alerts")

    page.click(f"{here} button[value=acknowledge]")
    assert "已认领" in page.locator(here).inner_text()
    assert alertstate.get(r, case.number).by == w.propaganda
    page.click(f"{here} button[value=resolve]")
    assert "请写明处理说明" in page.locator(f"{here} .error").inner_text()
    assert alertstate.get(r, case.number).state == alertstate.ACKNOWLEDGED
    page.fill(f"#note-{case.number}", "已联系管理员删除该文")
    page.click(f"{here} button[value=resolve]")
    assert "已联系管理员删除该文" in page.locator(here).inner_text()
    assert alertstate.get(r, case.number).state == alertstate.RESOLVED
    shot(page, "alerts-resolved")

    page.fill(f"#note-{case.number}", "文章又出现了")
    page.click(f"{here} button[value=reopen]")
    assert alertstate.get(r, case.number).state == alertstate.OPEN
    page.goto(f"{site}/console/dashboard")
    assert page.locator("#alerts .n").inner_text() == "1"
