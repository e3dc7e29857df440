"""The console in a real headless Chromium (fixtures in console_helpers).

Each test signs in through the page, does one thing a person does, and saves a
screenshot of every page it passes under ``tests/artifacts/``.
"""

import csv
import io
import shutil
from datetime import date

import pytest

from app.channels import console_accounts
from app.drafts import lifecycle
from app.registry import filings, people, platforms, units
from tests.console_helpers import ARTIFACTS, shot, sign_in_browser, with_password
from tests.factories import OPERATOR, actor, store_not_utf8, submitted, world

pytestmark = pytest.mark.browser


def test_first_sign_in_changes_the_password_and_shows_the_dashboard(r, site, page):
    w = world(r, tier=1)  # the college's own platform: the propaganda department signs too
    submitted(r, w)
    person, password = console_accounts.ensure_first_account(r)
    sign_in_browser(page, site, person, password)
    assert page.url.endswith("/console/password")
    shot(page, "password")
    page.fill("#old_password", password)
    page.fill("#password", "a-new-long-password")
    page.fill("#confirm", "a-new-long-password")
    page.click("main button[type=submit]")
    assert "/console/dashboard" in page.url, page.locator("main").inner_text()
    assert page.locator("#waiting .n").inner_text() == "1"
    shot(page, "dashboard")
    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    page.goto(page.url)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shot(page, "dashboard-phone")


def test_a_filing_chain_is_completed_and_the_platform_runs(r, site, page):
    w = world(r)
    union = units.create(r, OPERATOR, "学生会", "student_union")
    league = units.create(r, OPERATOR, "校团委", "youth_league")
    with_password(r, w.propaganda)
    sign_in_browser(page, site, w.propaganda)
    page.goto(f"{site}/console/filings/new")
    page.click("main button[type=submit]")
    assert page.locator("#name-error").is_visible()
    shot(page, "filing-new-errors")
    page.select_option("#unit", union.id)
    page.fill("#name", "学生会微信公众号")
    page.fill("#id", "xsh-wx")
    page.select_option("#kind", "wechat")
    page.select_option("#tier", "3")
    page.select_option("#supervising_unit", league.id)
    page.fill("#account", "xsh_wx")
    page.fill("#other_media", "学生会微博")
    page.fill("#purpose", "发布学生会活动通知和服务信息")
    page.select_option("#admin", w.admin)
    page.select_option("#responsible", w.responsible)
    page.click("main button[type=submit]")
    today = date.today().isoformat()
    signers = ["刘院长", "张部长", "陈副书记", "王副书记", "李书记"]
    assert page.locator("#office-warning").is_visible()  # 李书记 has no title on file
    page.fill("#note", "已核实任命文件")
    page.click("#confirm-office button")
    assert page.locator("#office-confirmed").is_visible()
    for step, signer in zip(filings.STEPS, signers, strict=True):
        assert page.locator(f"#step-{step.name}.next").is_visible()
        page.fill("#opinion", "同意开设")
        page.fill("#signer", signer)
        page.fill("#signed_on", today)
        page.click("#step-" + step.name + " button[type=submit]")
    assert platforms.get(r, "xsh-wx").status == platforms.ACTIVE
    shot(page, "filing")
    page.emulate_media(media="print")
    shot(page, "filing-print")


def test_a_reviewer_approves_a_draft_on_its_review_page(r, site, page):
    w = world(r)
    draft = submitted(r, w, text="计算机学院举办程序设计竞赛,报名请加微信")
    lifecycle.edit(
        r, actor(w.admin), draft.id, {"text": "计算机学院举办第五届程序设计竞赛,报名请加微信"}
    )
    with_password(r, w.responsible)
    sign_in_browser(page, site, w.responsible)
    page.click("#waiting")
    shot(page, "drafts")
    page.click(f"text={draft.id}")
    assert page.locator("mark").first.inner_text() == "加微信"
    assert page.locator("#diff ins").count() >= 1
    shot(page, "review")
    page.click("#approve")
    assert lifecycle.get(r, draft.id).status == lifecycle.APPROVED
    assert "已通过" in page.locator("#signoffs").inner_text()
    shot(page, "review-approved")


def test_the_propaganda_department_suspends_a_platform(r, site, page):
    w = world(r)
    with_password(r, w.propaganda)
    sign_in_browser(page, site, w.propaganda)
    page.goto(f"{site}/console/platforms")
    shot(page, "platforms")
    page.click(f"text={w.platform}")
    page.select_option("#status", "suspended")
    page.click("main form button[type=submit] >> text=确认")
    assert page.locator("#reason-error").is_visible()
    page.fill("#reason", "发布违规商业广告,停用整改")
    page.click("main form button[type=submit] >> text=确认")
    assert platforms.get(r, w.platform).status == platforms.SUSPENDED
    shot(page, "platform-suspended")


def test_the_audit_trail_is_filtered_verified_and_exported(r, site, page, tmp_path):
    w = world(r)
    with_password(r, w.propaganda)
    sign_in_browser(page, site, w.propaganda)
    page.goto(f"{site}/console/audit")
    page.fill("#platform", w.platform)
    page.click("main form button[type=submit]")
    assert "校验通过" in page.locator("#verification").inner_text()
    shot(page, "audit")
    with page.expect_download() as download:
        page.click("#export-csv")
    saved = tmp_path / "audit.csv"
    download.value.save_as(saved)
    text = saved.read_text(encoding="utf-8")
    assert text.startswith("id,seq,at") and "platform.create" in text
    shutil.copy(saved, ARTIFACTS / "audit.csv")


def test_a_record_that_is_not_utf8_is_listed_marked_and_exported(r, site, page, tmp_path):
    """A record with bytes that are not UTF-8 (stored around ``append``) used to make the
    page an error: it is listed, marked, the chain shown broken there, and exported."""
    w = world(r)
    with_password(r, w.propaganda)
    store_not_utf8(r, "platform.create")
    sign_in_browser(page, site, w.propaganda)
    page.goto(f"{site}/console/audit?action=platform.create")
    assert "非 UTF-8" in page.locator("#verification").inner_text()
    row = page.locator("main tbody tr", has_text="platform.create")
    assert "记录含有非 UTF-8 字节(字段 reason" in row.locator(".not-utf8").inner_text()
    assert row.inner_text().endswith("\\xff\\xfe")
    shot(page, "audit-not-utf8")
    with page.expect_download() as download:
        page.click("#export-csv")
    saved = tmp_path / "audit.csv"
    download.value.save_as(saved)
    (exported,) = csv.DictReader(io.StringIO(saved.read_text(encoding="utf-8-sig")))
    assert (exported["reason"], exported["not_utf8"]) == ("\\xff\\xfe", "reason")


def test_a_supervising_unit_sees_the_platforms_it_supervises(r, site, page):
    """Art. 12: a 校团委 officer with no platform role sees the student union's platform it
    supervises, filtered as such, and not the platforms it does not supervise."""
    union = world(r, tier=3, platform_id="xsh-wx")
    world(r, tier=2, platform_id="jsj-wx")
    league = platforms.get(r, union.platform).supervising_unit
    officer = people.create(r, OPERATOR, "团委干事", title="校团委干事", unit=league)
    with_password(r, officer.id)
    sign_in_browser(page, site, officer.id)
    page.goto(f"{site}/console/platforms")
    listed = page.locator("main table").inner_text()
    assert "xsh-wx" in listed and "jsj-wx" not in listed and "主管" in listed
    page.click("#supervised-filter >> text=只看本单位主管的平台")
    assert "supervised=1" in page.url and "xsh-wx" in page.locator("main table").inner_text()
    shot(page, "platforms-supervised")
    page.click("text=xsh-wx")
    assert "学生会" in page.locator("main").inner_text()
    refused = page.goto(f"{site}/console/platforms/jsj-wx")
    assert refused.status == 403
