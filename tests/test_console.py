"""Console sign-in, sessions, CSRF, sign-in limits and who sees which platform."""

import dataclasses
import json

import pytest
from click.testing import CliRunner

from app.channels import console_accounts
from app.cli import cli
from app.core import audit, keys
from app.core.errors import Forbidden, InvalidInput
from app.core.settings import load_settings
from app.registry import people
from tests.conftest import free_port
from tests.console_helpers import (
    PASSWORD,
    client_for,
    csrf_of,
    sign_in,
    signed_in,
    with_password,
)
from tests.factories import OPERATOR, world


def last(r, action: str) -> dict:
    found = [rec for rec in audit.records(r, action=action)]
    assert found, f"no {action} record"
    return found[-1]


def test_a_password_is_stored_only_as_a_scrypt_hash(r):
    w = world(r)
    with_password(r, w.responsible)
    stored = r.hget(keys.console_password(w.responsible), "hash").decode()
    assert stored.startswith("scrypt:") and PASSWORD not in stored


@pytest.mark.parametrize("password", ["short", " leading-space-pw", "aaaaaaaaaaaa"])
def test_weak_passwords_are_refused(r, password):
    w = world(r)
    with pytest.raises(InvalidInput):
        console_accounts.set_password(r, OPERATOR, w.responsible, password)


def test_only_the_propaganda_department_sets_passwords(r):
    w = world(r)
    with pytest.raises(Forbidden):
        console_accounts.set_password(r, console_accounts.actor(w.admin), w.responsible, PASSWORD)


def test_sign_in_sets_an_httponly_samesite_cookie_and_is_audited(r, settings):
    w = world(r)
    with_password(r, w.responsible)
    response = sign_in(client_for(settings), w.responsible)
    assert response.status_code == 302
    cookie = [h for h in response.headers.getlist("Set-Cookie") if h.startswith("qianfa_console=")]
    assert "HttpOnly" in cookie[0] and "SameSite=Lax" in cookie[0]
    assert "Secure" not in cookie[0]
    assert last(r, "console.signin")["person"] == w.responsible


def test_the_cookie_is_secure_when_the_public_url_is_https(r, settings):
    w = world(r)
    with_password(r, w.responsible)
    secure = dataclasses.replace(settings, public_url="https://qianfa.example.edu.cn")
    response = sign_in(client_for(secure), w.responsible)
    assert "Secure" in response.headers["Set-Cookie"]


def test_a_wrong_password_is_refused_and_audited(r, settings):
    w = world(r)
    with_password(r, w.responsible)
    response = sign_in(client_for(settings), w.responsible, "wrong-password-123")
    assert response.status_code == 403
    assert "人员编号或密码不对".encode() in response.data
    record = last(r, "console.signin_failed")
    assert record["subject"] == w.responsible
    assert json.loads(record["detail"])["why"] == "bad_password"


def test_failures_delay_that_account_from_that_address_even_for_the_right_password(r, settings):
    w = world(r)
    with_password(r, w.responsible)
    client = client_for(settings)
    for _ in range(settings.console_signin_attempts):
        sign_in(client, w.responsible, "wrong-password-123")
    assert sign_in(client, w.responsible).status_code == 429


def test_too_many_failures_from_one_address_lock_every_account(r, settings):
    w = world(r)
    with_password(r, w.responsible)
    strict = dataclasses.replace(settings, console_signin_address_attempts=3)
    client = client_for(strict)
    for n in range(3):
        sign_in(client, f"P{90 + n}", "wrong-password-123")
    assert sign_in(client, w.responsible).status_code == 429


def test_the_sign_in_form_needs_its_own_csrf_token(r, settings):
    w = world(r)
    with_password(r, w.responsible)
    client = client_for(settings)
    client.get("/console/signin")
    response = client.post(
        "/console/signin", data={"person": w.responsible, "password": PASSWORD, "csrf": "x"}
    )
    assert response.status_code == 400
    assert json.loads(last(r, "console.refused")["detail"])["why"] == "csrf"


@pytest.mark.parametrize("token", [None, "forged"])
def test_a_form_without_the_sessions_csrf_token_is_refused_and_audited(r, settings, token):
    w = world(r)
    client, _ = signed_in(settings, r, w.propaganda)
    data = {"status": "suspended", "reason": "违规"}
    if token:
        data["csrf"] = token
    response = client.post(f"/console/platforms/{w.platform}/status", data=data)
    assert response.status_code == 400
    assert json.loads(last(r, "console.refused")["detail"])["why"] == "csrf"
    assert r.hget(keys.platform(w.platform), "status") == b"active"


def test_an_expired_session_is_refused_and_audited(r, settings):
    w = world(r)
    client, token = signed_in(settings, r, w.propaganda)
    [key] = r.keys(keys.console_session("*"))
    assert 0 < r.ttl(key) <= settings.console_idle_timeout
    r.delete(key)  # what the idle expiry does
    response = client.post(
        f"/console/platforms/{w.platform}/status",
        data={"status": "suspended", "reason": "违规", "csrf": token},
    )
    assert response.status_code == 302 and "/console/signin" in response.headers["Location"]
    assert json.loads(last(r, "console.refused")["detail"])["why"] == "session_expired"
    assert r.hget(keys.platform(w.platform), "status") == b"active"


def test_without_a_session_every_page_leads_to_sign_in(settings):
    response = client_for(settings).get("/console/dashboard")
    assert response.status_code == 302 and "/console/signin" in response.headers["Location"]


def test_another_units_platform_is_refused_and_audited(r, settings):
    mine = world(r, platform_id="jsj-wx")
    other = world(r, platform_id="wgy-wx")
    client, _ = signed_in(settings, r, mine.responsible)
    assert client.get(f"/console/platforms/{mine.platform}").status_code == 200
    assert client.get(f"/console/platforms/{other.platform}").status_code == 403
    record = last(r, "console.refused")
    assert record["person"] == mine.responsible
    assert json.loads(record["detail"])["why"] == "other_platform"


def test_each_person_sees_only_the_platforms_their_roles_cover(r, settings):
    mine = world(r, platform_id="jsj-wx")
    world(r, platform_id="wgy-wx")
    client, _ = signed_in(settings, r, mine.responsible)
    page = client.get("/console/platforms").data.decode()
    assert "jsj-wx" in page and "wgy-wx" not in page
    client, _ = signed_in(settings, r, mine.propaganda)
    page = client.get("/console/platforms").data.decode()
    assert "jsj-wx" in page and "wgy-wx" in page


def test_the_first_account_is_created_once_and_must_change_its_password(r, settings):
    person, password = console_accounts.ensure_first_account(r)
    assert console_accounts.ensure_first_account(r) is None
    assert people.get(r, person).name == console_accounts.FIRST_ACCOUNT_NAME
    client = client_for(settings)
    assert sign_in(client, person, password).status_code == 302
    assert client.get("/console/dashboard").headers["Location"].endswith("/console/password")
    page = client.get("/console/password")
    response = client.post(
        "/console/password",
        data={
            "old_password": password,
            "password": "a-new-long-password",
            "confirm": "a-new-long-password",
            "csrf": csrf_of(page.data),
        },
    )
    assert response.status_code == 302
    assert client.get("/console/dashboard").status_code == 200


def test_a_mismatched_new_password_is_shown_next_to_its_field(r, settings):
    w = world(r)
    client, token = signed_in(settings, r, w.responsible)
    response = client.post(
        "/console/password",
        data={"old_password": PASSWORD, "password": "x" * 12, "confirm": "y", "csrf": token},
    )
    assert response.status_code == 400
    assert 'id="confirm-error"' in response.data.decode()


def test_sign_out_ends_the_session(r, settings):
    w = world(r)
    client, token = signed_in(settings, r, w.responsible)
    client.post("/console/signout", data={"csrf": token})
    assert client.get("/console/dashboard").status_code == 302
    assert last(r, "console.signout")["person"] == w.responsible


def test_the_cli_sets_a_password_from_a_hidden_prompt(r):
    w = world(r)
    result = CliRunner().invoke(
        cli, ["console", "set-password", w.responsible], input=f"{PASSWORD}\n{PASSWORD}\n"
    )
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output
    assert console_accounts.has_password(r, w.responsible)
    assert last(r, "console.password")["via"] == "cli"


def test_qianfa_run_prints_the_first_accounts_password_only_once(r, settings, redis_url):
    from app.cli.runner import console_lines

    first = console_lines(settings, redis_url)
    assert any("一次性密码" in line for line in first)
    again = console_lines(settings, redis_url)
    assert not any("一次性密码" in line for line in again)


def test_an_unchosen_status_is_refused_next_to_the_field(r, settings):
    w = world(r)
    client, token = signed_in(settings, r, w.propaganda)
    response = client.post(
        f"/console/platforms/{w.platform}/status", data={"csrf": token, "reason": "违规"}
    )
    assert response.status_code == 400 and 'id="status-error"' in response.data.decode()


def test_with_redis_down_the_console_shows_a_page_not_json():
    """A console request while Redis is unreachable gets a Chinese HTML page with 503."""
    dead = f"redis://127.0.0.1:{free_port()}/0"
    client = client_for(load_settings({"QIANFA_REDIS_URL": dead}))
    client.set_cookie("qianfa_console", "some-session-token", path="/console")
    response = client.get("/console/dashboard")
    assert response.status_code == 503
    assert response.mimetype == "text/html"
    assert "数据存储暂时不可用" in response.get_data(as_text=True)
