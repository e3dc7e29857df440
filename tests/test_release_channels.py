"""放行 through every channel that offers it: chat, console (page and browser), API, CLI."""

import pytest
from click.testing import CliRunner

import app.cli
from app import screening
from app.channels import apitokens, chat
from app.core import audit
from app.core.settings import load_settings
from app.drafts import lifecycle
from app.registry import bindcodes, people, platforms
from app.web import create_app
from tests.console_helpers import shot, sign_in_browser, signed_in, with_password
from tests.factories import KEYRING, OPERATOR, snapshot, submitted, world
from tests.test_cli import qianfa
from tests.test_release import FALSE_POSITIVE, PHRASE, REASON, blocked


@pytest.fixture
def w(r):
    return world(r)


def say(r, w, person: str, text: str) -> str:
    """One encrypted chat message from ``person``'s WeChat, bound to the platform."""
    openid = f"o{person}000000000000001"
    code = bindcodes.issue(r, KEYRING, OPERATOR, person, w.platform, ttl=600)
    phone = chat.Inbound(openid=openid, type="text", text=f"绑定 {code}", authenticated=True)
    chat.respond(r, KEYRING, platforms.get(r, w.platform), phone)
    message = chat.Inbound(openid=openid, type="text", text=text, person=person, authenticated=True)
    return chat.respond(r, KEYRING, platforms.get(r, w.platform), message)


# ---- chat ----------------------------------------------------------------------------------


def test_chat_release_with_a_reason_and_the_english_alias(r, w):
    first, second = blocked(r, w), blocked(r, w)
    reply = say(r, w, w.propaganda, f"放行 {first.id} {REASON}")
    assert reply.startswith(f"已放行稿件 {first.id} 并送审") and "第一责任人" in reply
    assert say(r, w, w.propaganda, f"release {second.id} {REASON}").startswith("已放行")
    assert {lifecycle.get(r, d.id).status for d in (first, second)} == {lifecycle.IN_REVIEW}
    assert "(已放行)" in say(r, w, w.responsible, f"查看 {first.id}")


def test_chat_release_can_whitelist_the_phrase(r, w, lexicons):
    draft = blocked(r, w)
    reply = say(r, w, w.propaganda, f"放行 {draft.id} 白名单 {REASON}")
    assert "已加入白名单" in reply
    assert PHRASE in (lexicons / "obscenity_violence.allow.txt").read_text(encoding="utf-8")
    [record] = audit.records(r, action="draft.release")
    assert record["reason"] == REASON


def test_chat_refuses_politely_and_changes_nothing(r, w):
    """A responsible person cannot release; a draft in review is not blocked; a reason is due."""
    draft, fine = blocked(r, w), submitted(r, w)
    before = (lifecycle.get(r, draft.id), screening.result_for(r, draft.id))
    refused = say(r, w, w.responsible, f"放行 {draft.id} {REASON}")
    assert refused == "只有宣传部审核人可以放行被拦截的稿件"
    not_blocked = say(r, w, w.propaganda, f"放行 {fine.id} {REASON}")
    assert not_blocked == f"稿件 {fine.id} 当前为「审核中」,没有被拦截,无需放行"
    no_reason = say(r, w, w.propaganda, f"放行 {draft.id}")
    assert no_reason.startswith("请写明放行理由")
    assert (lifecycle.get(r, draft.id), screening.result_for(r, draft.id)) == before
    assert list(audit.records(r, action="draft.release")) == []
    assert [rec["reason"] for rec in audit.records(r, action="chat.refused")] == ["forbidden"]


# ---- API -----------------------------------------------------------------------------------


@pytest.fixture
def client(r):
    return create_app(load_settings()).test_client()


def token_for(r, person: str, platform: str) -> dict:
    _, secret = apitokens.issue(r, OPERATOR, person, [platform], label="CMS")
    return {"Authorization": f"Bearer {secret}"}


def test_api_release_by_a_propaganda_administrator(r, w, client):
    """The token's person must administer the platform (API tokens) and be propaganda."""
    people.grant_college_role(r, OPERATOR, w.other_admin, "propaganda")
    draft = blocked(r, w)
    headers = token_for(r, w.other_admin, w.platform)
    answer = client.post(
        f"/api/v1/drafts/{draft.id}/release", json={"reason": REASON}, headers=headers
    )
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["status"] == lifecycle.IN_REVIEW
    assert body["screening"]["hits"][0]["released"] is True
    assert body["screening"]["release"]["reason"] == REASON


def test_api_release_attacks_are_refused_and_change_nothing(r, w, client):
    """The author's own token, a non-propaganda admin, a draft not blocked, bad fields."""
    draft, fine = blocked(r, w), submitted(r, w)
    author = token_for(r, w.admin, w.platform)
    url = f"/api/v1/drafts/{draft.id}/release"
    denied = client.post(url, json={"reason": REASON}, headers=author)
    assert denied.status_code == 403 and denied.get_json()["error"] == "forbidden"
    people.grant_college_role(r, OPERATOR, w.admin, "propaganda")  # now propaganda, still author
    own = client.post(url, json={"reason": REASON}, headers=author)
    assert (own.status_code, own.get_json()["error"]) == (403, "own_draft")
    people.grant_college_role(r, OPERATOR, w.other_admin, "propaganda")
    other = token_for(r, w.other_admin, w.platform)
    fine_url = f"/api/v1/drafts/{fine.id}/release"
    conflict = client.post(fine_url, json={"reason": REASON}, headers=other)
    assert (conflict.status_code, conflict.get_json()["error"]) == (409, "not_blocked")
    assert client.post(url, json={}, headers=other).get_json()["field"] == "reason"
    bad = client.post(url, json={"reason": REASON, "whitelist": "yes"}, headers=other)
    assert (bad.status_code, bad.get_json()["field"]) == (400, "whitelist")
    assert lifecycle.get(r, draft.id).status == lifecycle.BLOCKED
    assert list(audit.records(r, action="draft.release")) == []


# ---- CLI -----------------------------------------------------------------------------------


def test_cli_release_and_its_one_line_refusal(r, w, lexicons):
    draft, fine = blocked(r, w), submitted(r, w)
    runner = CliRunner()
    args = ["screening", "release", draft.id, "--reason", REASON, "--whitelist"]
    result = runner.invoke(app.cli.cli, args, catch_exceptions=False)
    assert result.exit_code == 0 and f"已放行稿件 {draft.id} 并送审" in result.output
    assert lifecycle.get(r, draft.id).status == lifecycle.IN_REVIEW
    assert PHRASE in (lexicons / "obscenity_violence.allow.txt").read_text(encoding="utf-8")
    [record] = audit.records(r, action="draft.release")
    assert record["via"] == "cli"
    state = snapshot(r)
    done = qianfa("screening", "release", fine.id, "--reason", REASON)
    assert done.returncode == 1
    assert done.stderr == f"错误:稿件 {fine.id} 当前为「审核中」,没有被拦截,无需放行\n"
    assert snapshot(r) == state


# ---- console -------------------------------------------------------------------------------


def test_console_release_form_for_the_propaganda_department_only(r, w, settings):
    draft = blocked(r, w)
    responsible, token = signed_in(settings, r, w.responsible)
    page = responsible.get(f"/console/drafts/{draft.id}").data.decode()
    assert 'id="release"' not in page
    refused = responsible.post(
        f"/console/drafts/{draft.id}/release", data={"csrf": token, "reason": REASON}
    )
    assert refused.status_code == 403
    assert lifecycle.get(r, draft.id).status == lifecycle.BLOCKED
    client, token = signed_in(settings, r, w.propaganda)
    page = client.get(f"/console/drafts/{draft.id}").data.decode()
    assert 'id="release"' in page
    empty = client.post(f"/console/drafts/{draft.id}/release", data={"csrf": token})
    assert empty.status_code == 400 and "放行理由不能为空" in empty.data.decode()
    done = client.post(
        f"/console/drafts/{draft.id}/release", data={"csrf": token, "reason": REASON}
    )
    assert done.status_code == 302
    assert lifecycle.get(r, draft.id).status == lifecycle.IN_REVIEW
    page = client.get(f"/console/drafts/{draft.id}").data.decode()
    assert "(已放行)" in page and REASON in page and 'id="release"' not in page


@pytest.mark.browser
def test_console_one_click_releases_and_whitelists(r, site, page, lexicons):
    w = world(r)
    draft = blocked(r, w)
    with_password(r, w.propaganda)
    sign_in_browser(page, site, w.propaganda)
    page.goto(f"{site}/console/drafts/{draft.id}")
    page.fill("#release-reason", REASON)
    shot(page, "release")
    page.click("#release-whitelist")
    page.wait_for_selector("[role=status]")
    assert "已放行并送审" in page.inner_text("[role=status]")
    assert "(已放行)" in page.inner_text("#hits")
    assert lifecycle.get(r, draft.id).status == lifecycle.IN_REVIEW
    assert screening.screen_text(FALSE_POSITIVE).verdict != screening.BLOCK
