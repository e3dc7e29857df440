"""Console pages for people, bindings, API tokens, console passwords and credentials."""

import re

from app.channels import apitokens, console_accounts
from app.core import audit, keys
from app.core.masterkey import load_keyring
from app.registry import bindcodes, credentials
from tests.console_helpers import signed_in
from tests.factories import OPERATOR, world


def test_people_are_created_with_messages_next_to_bad_fields(r, settings):
    w = world(r)
    client, token = signed_in(settings, r, w.propaganda)
    response = client.post("/console/people", data={"csrf": token, "name": "", "phone": "abc"})
    page = response.data.decode()
    assert response.status_code == 400
    assert 'id="name-error"' in page and 'id="phone-error"' in page
    response = client.post("/console/people", data={"csrf": token, "name": "周老师"})
    assert response.status_code == 302


def test_a_bind_code_is_shown_once_and_stored_only_hashed(r, settings):
    w = world(r)
    client, token = signed_in(settings, r, w.propaganda)
    url = f"/console/people/{w.admin}"
    page = client.post(f"{url}/bind-code", data={"csrf": token, "platform": w.platform})
    code = re.search(r'class="code">([^<]+)<', page.data.decode()).group(1)
    assert code not in client.get(url).data.decode()
    assert not any(code.encode() in key for key in r.keys("*"))
    assert [rec for rec in audit.records(r, action="bindcode.issue")][-1]["via"] == "console"


def test_bindings_and_api_tokens_are_revoked_from_the_person_page(r, settings):
    w = world(r)
    keyring = load_keyring(settings)
    code = bindcodes.issue(r, keyring, OPERATOR, w.admin, w.platform, 600)
    bindcodes.redeem(r, keyring, w.platform, "oAdmin00000000000000000001", code)
    token_id = apitokens.issue(r, OPERATOR, w.admin, [w.platform], label="CMS")[0].id
    client, token = signed_in(settings, r, w.propaganda)
    url = f"/console/people/{w.admin}"
    client.post(
        f"{url}/unbind",
        data={
            "csrf": token,
            "platform": w.platform,
            "openid": "oAdmin00000000000000000001",
            "reason": "换手机",
        },
    )
    assert bindcodes.bindings_of(r, w.admin) == []
    client.post(f"{url}/revoke-token", data={"csrf": token, "token": token_id, "reason": "离职"})
    assert not apitokens.get(r, token_id).active


def test_the_propaganda_department_opens_console_access_with_a_first_password(r, settings):
    w = world(r)
    client, token = signed_in(settings, r, w.propaganda)
    client.post(
        f"/console/people/{w.admin}/password", data={"csrf": token, "password": "first-pass-123"}
    )
    assert r.hget(keys.console_password(w.admin), "must_change") == b"1"
    assert console_accounts.has_password(r, w.admin)


def test_credentials_show_only_whether_set_and_when(r, settings):
    w = world(r)
    client, token = signed_in(settings, r, w.propaganda)
    url = f"/console/platforms/{w.platform}/credentials"
    assert "未设置" in client.get(url).data.decode()
    secret = "0123456789abcdef0123456789abcdef"
    response = client.post(url, data={"csrf": token, "name": "app_secret", "value": secret})
    assert response.status_code == 302
    page = client.get(url).data.decode()
    assert "已设置" in page and secret not in page
    assert credentials.status(r, w.platform)["app_secret"]["set"]
    response = client.post(url, data={"csrf": token, "name": "app_secret", "value": "short"})
    assert response.status_code == 400 and 'id="value-error"' in response.data.decode()
    sealed = credentials.reveal(
        r, load_keyring(settings), OPERATOR, w.platform, "app_secret", purpose="test"
    )
    assert sealed.reveal() == secret


def test_people_pages_are_the_propaganda_departments(r, settings):
    w = world(r)
    client, _ = signed_in(settings, r, w.responsible)
    assert client.get("/console/people").status_code == 403
    assert client.get(f"/console/platforms/{w.platform}/credentials").status_code == 403
