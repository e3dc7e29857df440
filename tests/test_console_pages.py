"""Console pages over the domain: review, platform status, filing, audit and dashboard."""

import json
import re
from datetime import date

from app.core import audit, clock
from app.drafts import lifecycle, review
from app.publishing import record as pubs
from app.publishing import schedule
from app.registry import filings, platforms, units
from tests.console_helpers import signed_in
from tests.factories import OPERATOR, actor, submitted, world


def approve_form(token: str, seen: str) -> dict:
    return {"csrf": token, "seen_hash": seen, "decision": "approve"}


def test_the_review_page_shows_sign_offs_and_approves_the_version_it_showed(r, settings):
    w = world(r)
    draft = submitted(r, w)
    client, token = signed_in(settings, r, w.responsible)
    page = client.get(f"/console/drafts/{draft.id}").data.decode()
    assert "第一责任人" in page and "待审核" in page and draft.content_hash in page
    response = client.post(
        f"/console/drafts/{draft.id}", data=approve_form(token, draft.content_hash)
    )
    assert response.status_code == 302
    assert lifecycle.get(r, draft.id).status == lifecycle.APPROVED
    record = [rec for rec in audit.records(r, action="draft.approve")][-1]
    assert record["via"] == "console" and record["person"] == w.responsible


def test_every_form_carries_the_sessions_csrf_token(r, settings):
    w = world(r)
    draft = submitted(r, w)
    client, token = signed_in(settings, r, w.responsible)
    page = client.get(f"/console/drafts/{draft.id}").data.decode()
    sent = re.findall(r'name="csrf" value="([^"]*)"', page)
    assert len(sent) == 3 and set(sent) == {token}


def test_a_stale_version_is_refused(r, settings):
    w = world(r)
    draft = submitted(r, w)
    old_hash = draft.content_hash
    lifecycle.edit(r, actor(w.admin), draft.id, {"text": "计算机学院举办程序设计大赛"})
    client, token = signed_in(settings, r, w.responsible)
    response = client.post(f"/console/drafts/{draft.id}", data=approve_form(token, old_hash))
    assert response.status_code == 409
    assert "已修改" in response.data.decode()
    assert lifecycle.get(r, draft.id).status == lifecycle.IN_REVIEW


def test_one_cannot_review_ones_own_draft_or_without_the_role(r, settings):
    w = world(r)
    draft = submitted(r, w)
    client, token = signed_in(settings, r, w.admin)
    response = client.post(
        f"/console/drafts/{draft.id}", data=approve_form(token, draft.content_hash)
    )
    assert response.status_code == 403
    client, token = signed_in(settings, r, w.other_admin)
    response = client.post(
        f"/console/drafts/{draft.id}", data=approve_form(token, draft.content_hash)
    )
    assert response.status_code == 403
    assert lifecycle.get(r, draft.id).status == lifecycle.IN_REVIEW


def test_a_rejection_needs_a_reason_shown_next_to_the_field(r, settings):
    w = world(r)
    draft = submitted(r, w)
    client, token = signed_in(settings, r, w.responsible)
    form = {"csrf": token, "seen_hash": draft.content_hash, "decision": "reject", "reason": ""}
    response = client.post(f"/console/drafts/{draft.id}", data=form)
    assert response.status_code == 400 and 'id="reason-error"' in response.data.decode()
    form["reason"] = "时间写错了"
    client.post(f"/console/drafts/{draft.id}", data=form)
    assert lifecycle.get(r, draft.id).status == lifecycle.REJECTED


def test_the_review_page_shows_the_difference_and_highlights_screening_hits(r, settings):
    w = world(r)
    draft = submitted(r, w, text="程序设计竞赛,报名请加微信")
    lifecycle.edit(r, actor(w.admin), draft.id, {"text": "程序设计竞赛,报名请到学院办公室"})
    client, _ = signed_in(settings, r, w.responsible)
    page = client.get(f"/console/drafts/{draft.id}").data.decode()
    assert "<del>" in page and "<ins>" in page
    lifecycle.edit(r, actor(w.admin), draft.id, {"text": "程序设计竞赛,报名请加微信"})
    page = client.get(f"/console/drafts/{draft.id}").data.decode()
    assert "<mark>加微信</mark>" in page


def test_suspending_needs_a_reason_and_stops_the_platform(r, settings):
    w = world(r)
    client, token = signed_in(settings, r, w.propaganda)
    url = f"/console/platforms/{w.platform}/status"
    response = client.post(url, data={"csrf": token, "status": "suspended", "reason": ""})
    assert response.status_code == 400 and 'id="reason-error"' in response.data.decode()
    response = client.post(
        url, data={"csrf": token, "status": "suspended", "reason": "发布违规内容"}
    )
    assert response.status_code == 302
    assert platforms.get(r, w.platform).status == platforms.SUSPENDED


def test_a_responsible_person_cannot_change_a_platforms_status(r, settings):
    w = world(r)
    client, token = signed_in(settings, r, w.responsible)
    url = f"/console/platforms/{w.platform}/status"
    response = client.post(url, data={"csrf": token, "status": "closed", "reason": "不想办了"})
    assert response.status_code == 403
    assert platforms.get(r, w.platform).status == platforms.ACTIVE


def test_a_platform_in_filing_cannot_be_activated_by_hand(r, settings):
    w = world(r, status="filing")
    client, token = signed_in(settings, r, w.propaganda)
    url = f"/console/platforms/{w.platform}/status"
    client.post(url, data={"csrf": token, "status": "active", "reason": "直接开通"})
    assert platforms.get(r, w.platform).status == platforms.FILING


def test_the_filing_form_reports_each_bad_field_and_writes_nothing(r, settings):
    w = world(r)
    client, token = signed_in(settings, r, w.propaganda)
    before = r.smembers("qianfa:platforms")
    response = client.post(
        "/console/filings/new", data={"csrf": token, "id": "Bad Id", "tier": "9", "purpose": ""}
    )
    page = response.data.decode()
    assert response.status_code == 400
    for field in ("id", "name", "kind", "tier", "unit", "responsible", "admin", "purpose"):
        assert f'id="{field}-error"' in page, field
    assert r.smembers("qianfa:platforms") == before


def test_a_filing_made_in_the_console_activates_the_platform_when_signed(r, settings):
    w = world(r)
    unit = units.create(r, OPERATOR, "学生会", "student_union").id
    league = units.create(r, OPERATOR, "校团委", "youth_league").id
    client, token = signed_in(settings, r, w.propaganda)
    response = client.post(
        "/console/filings/new",
        data={
            "csrf": token,
            "id": "xsh-wx",
            "name": "学生会微信公众号",
            "kind": "wechat",
            "tier": "3",
            "unit": unit,
            "supervising_unit": league,
            "responsible": w.responsible,
            "admin": w.admin,
            "account": "xsh_wx",
            "purpose": "发布学生会活动通知",
        },
    )
    assert response.status_code == 302
    fid = response.headers["Location"].rsplit("/", 1)[-1]
    today = date.today().isoformat()
    for step in filings.STEPS:
        form = {"csrf": token, "step": step.name, "decision": "agree", "opinion": "同意"}
        form.update(signer="某某", signed_on=today)
        if step.name == filings.CONFIRMS_OFFICE:  # 李书记 has no title on file (art. 13)
            refused = client.post(f"/console/filings/{fid}", data=form)
            assert refused.status_code == 400 and "第十二、十三条" in refused.data.decode()
            assert "确认职务提示" in refused.data.decode()
            confirm = {"csrf": token, "note": "已电话核实"}
            assert (
                client.post(f"/console/filings/{fid}/confirm-office", data=confirm).status_code
                == 302
            )
        response = client.post(f"/console/filings/{fid}", data=form)
        assert response.status_code == 302, response.data.decode()
    assert platforms.get(r, "xsh-wx").status == platforms.ACTIVE
    confirmed = [
        rec
        for rec in audit.records(r, platform="xsh-wx")
        if rec["action"] == "filing.confirm_office"
    ]
    assert confirmed and confirmed[0]["reason"] == "已电话核实"
    page = client.get(f"/console/filings/{fid}").data.decode()
    assert "党委书记意见" in page and "console-print.css" in page


def test_the_audit_page_filters_verifies_and_exports(r, settings):
    w = world(r)
    draft = submitted(r, w)
    review.approve(r, actor(w.responsible), draft.id, draft.content_hash)
    client, _ = signed_in(settings, r, w.propaganda)
    page = client.get(f"/console/audit?draft={draft.id}").data.decode()
    assert "审计链校验通过" in page and "draft.approve" in page and "platform.create" not in page
    lines = client.get(f"/console/audit/export.jsonl?draft={draft.id}").data.decode().splitlines()
    rows = [json.loads(line) for line in lines]
    assert "draft.approve" in {row["action"] for row in rows}
    assert {row["draft"] for row in rows} == {draft.id}
    csv = client.get("/console/audit/export.csv?action=draft.approve").data.decode()
    assert csv.splitlines()[0].startswith("id,seq,at") and "draft.approve" in csv
    exported = [rec for rec in audit.records(r, action="audit.export")]
    assert exported and exported[-1]["via"] == "console"


def test_times_on_console_pages_are_beijing_time_and_say_so(r, settings):
    w = world(r)
    draft = submitted(r, w)
    review.approve(r, actor(w.responsible), draft.id, draft.content_hash)
    client, _ = signed_in(settings, r, w.propaganda)
    stored = list(audit.records(r, action="draft.approve"))[-1]["at"]
    shown = clock.beijing(stored, seconds=True)
    assert shown in client.get(f"/console/audit?draft={draft.id}").data.decode()
    page = client.get(f"/console/drafts/{draft.id}").data.decode()
    assert "北京时间" in page and stored[:16] not in page


def test_a_responsible_person_sees_the_audit_of_their_own_platform_only(r, settings):
    mine = world(r, platform_id="jsj-wx")
    world(r, platform_id="wgy-wx")
    client, _ = signed_in(settings, r, mine.responsible)
    assert client.get("/console/audit").status_code == 403
    assert client.get("/console/audit?platform=jsj-wx").status_code == 200
    assert client.get("/console/audit?platform=wgy-wx").status_code == 403


def test_a_bad_time_filter_is_shown_next_to_its_field(r, settings):
    w = world(r)
    client, _ = signed_in(settings, r, w.propaganda)
    response = client.get("/console/audit?since=yesterday")
    assert response.status_code == 400 and 'id="since-error"' in response.data.decode()


def test_the_dashboard_counts_what_waits_for_me(r, settings):
    w = world(r)
    submitted(r, w)
    client, _ = signed_in(settings, r, w.responsible)
    page = client.get("/console/dashboard").data.decode()
    assert '<div class="n">1</div><div class="l">待我审核的稿件</div>' in page
    client, _ = signed_in(settings, r, w.admin)
    page = client.get("/console/dashboard").data.decode()
    assert '<div class="n">0</div><div class="l">待我审核的稿件</div>' in page


def test_an_article_is_shown_as_on_wechat_and_no_script_may_run(r, settings):
    w = world(r)
    content = {
        "title": "程序设计竞赛通知",
        "content_html": "<p>欢迎报名</p>",
        "author": "学院",
        "cover_image": "https://mmbiz.qpic.cn/cover.jpg",
    }
    draft = lifecycle.create(r, actor(w.admin), w.platform, "article", content)
    lifecycle.submit(r, actor(w.admin), draft.id)
    client, _ = signed_in(settings, r, w.responsible)
    response = client.get(f"/console/drafts/{draft.id}")
    assert "欢迎报名" not in response.data.decode()
    assert f'src="/console/drafts/{draft.id}/versions/1/body"' in response.data.decode()
    assert "script-src 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["Cache-Control"] == "private, no-store"
    body = client.get(f"/console/drafts/{draft.id}/versions/1/body")
    assert "<p>欢迎报名</p>" in body.data.decode()
    assert body.headers["Content-Security-Policy"].startswith("sandbox;")


def test_changing_an_administrator_of_a_running_platform_waits_on_a_new_filing(r, settings):
    w = world(r)
    client, token = signed_in(settings, r, w.propaganda)
    url = f"/console/platforms/{w.platform}/owners"
    form = {"csrf": token, "change": "remove_admin", "person": w.other_admin, "reason": ""}
    response = client.post(url, data=form)
    assert response.status_code == 400 and 'id="owners-error"' in response.data.decode()
    response = client.post(url, data={**form, "reason": "调离岗位"})
    assert response.status_code == 302 and "/console/filings/F" in response.headers["Location"]
    filing = filings.of_platform(r, w.platform)[0]
    assert filing.kind == "refiling" and filing.status == filings.OPEN
    assert len(filing.form["admins"]) == 1 and filing.pending["admins"] == [w.admin]
    assert w.other_admin in platforms.get(r, w.platform).admins
    page = client.get(f"/console/platforms/{w.platform}").data.decode()
    assert 'id="pending-owners"' in page and "审批完成后生效" in page
    dashboard = client.get("/console/dashboard").data.decode()
    refilings = dashboard.split('id="refiling-list"')[1].split("</ul>")[0]
    assert filing.id in refilings and f"管理员 {w.admin}" in refilings


def test_an_art12_mismatch_in_the_console_is_shown_at_its_field_and_writes_nothing(r, settings):
    w = world(r)
    club = units.create(r, OPERATOR, "摄影社", "student_club").id
    client, token = signed_in(settings, r, w.propaganda)
    before = r.smembers("qianfa:platforms")
    form = {"csrf": token, "id": "sys-wx", "name": "摄影社", "kind": "wechat", "tier": "1"}
    owners = {"unit": club, "supervising_unit": club, "responsible": w.responsible}
    response = client.post(
        "/console/filings/new", data={**form, **owners, "admin": w.admin, "purpose": "社团活动"}
    )
    page = response.data.decode()
    assert response.status_code == 400 and 'id="tier-error"' in page and "第十二条" in page
    assert r.smembers("qianfa:platforms") == before


def test_a_publication_that_retries_is_shown_as_retrying(r, settings):
    w = world(r)
    draft = submitted(r, w)
    review.approve(r, actor(w.responsible), draft.id, draft.content_hash)
    schedule.schedule(r, draft.id, settings=settings)
    pub = schedule.publication_of(r, draft.id)
    pubs.note(r, pub, attempts=1, reason="群发消息失败:微信系统繁忙")
    client, _ = signed_in(settings, r, w.propaganda)
    page = client.get(f"/console/drafts/{draft.id}").data.decode()
    assert "重试中" in page and "微信系统繁忙" in page
