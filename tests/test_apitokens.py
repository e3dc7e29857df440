"""API tokens: issued once, stored hashed, scoped to platforms, disarmed with the admin role."""

import pytest
from click.testing import CliRunner

import app.cli
from app.channels import apitokens
from app.core import audit, keys
from app.core.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthorized
from app.registry import owners
from tests.factories import OPERATOR, actor, refiled, snapshot, world


def test_issued_token_is_shown_once_and_stored_only_as_a_hash(r):
    """The secret is high-entropy, authenticates, and appears nowhere in Redis."""
    w = world(r)
    token, secret = apitokens.issue(r, OPERATOR, w.admin, [w.platform], label="学院网站 CMS")
    assert secret.startswith("qf_") and len(secret) >= 46
    assert (token.id, token.person, token.platforms) == ("T1", w.admin, (w.platform,))
    dump = b"".join(key + (r.dump(key) or b"") for key in r.keys("*"))
    assert secret.encode() not in dump and secret[3:].encode() not in dump
    assert r.exists(keys.api_token_by_digest(apitokens.digest(secret)))
    assert apitokens.authenticate(r, secret).id == "T1"


def test_authentication_notes_the_last_use(r):
    """A successful authentication records when the token was last used."""
    w = world(r)
    _, secret = apitokens.issue(r, OPERATOR, w.admin, [w.platform])
    assert apitokens.get(r, "T1").last_used_at == ""
    used = apitokens.authenticate(r, secret)
    assert used.last_used_at and apitokens.get(r, "T1").last_used_at == used.last_used_at


@pytest.mark.parametrize("secret", [None, "", "qf_", "qf_unknown", "Bearer qf_x", "x" * 500, 42])
def test_unknown_or_malformed_secrets_are_unauthorized(r, secret):
    """Anything but a live token's secret is refused with the same message."""
    w = world(r)
    apitokens.issue(r, OPERATOR, w.admin, [w.platform])
    with pytest.raises(Unauthorized, match="API 令牌无效或已吊销"):
        apitokens.authenticate(r, secret)


def test_revoked_token_no_longer_authenticates(r):
    """Revoking works at once, is audited with its reason and cannot be done twice."""
    w = world(r)
    _, secret = apitokens.issue(r, OPERATOR, w.admin, [w.platform])
    revoked = apitokens.revoke(r, OPERATOR, "t1", "离职")
    assert revoked.revoked_at and not apitokens.get(r, "T1").active
    with pytest.raises(Unauthorized):
        apitokens.authenticate(r, secret)
    with pytest.raises(Conflict, match="已于"):
        apitokens.revoke(r, OPERATOR, "T1")
    [record] = audit.records(r, action="apitoken.revoke")
    assert record["reason"] == "离职" and record["subject"] == w.admin


def test_only_the_propaganda_department_or_an_operator_issues(r):
    """An administrator cannot issue a token, even for themself; a propaganda reviewer can."""
    w = world(r)
    before = snapshot(r)
    with pytest.raises(Forbidden, match="宣传部审核人"):
        apitokens.issue(r, actor(w.admin), w.admin, [w.platform])
    assert snapshot(r) == before
    token, _ = apitokens.issue(r, actor(w.propaganda), w.admin, [w.platform])
    assert token.issued_by == w.propaganda


def test_a_token_is_only_for_platforms_where_the_person_is_an_administrator(r):
    """Issuing for a platform the person does not administer is refused and writes nothing."""
    w = world(r)
    before = snapshot(r)
    with pytest.raises(Forbidden, match="不是平台 jsj-wx 的管理员"):
        apitokens.issue(r, OPERATOR, w.responsible, [w.platform])
    with pytest.raises(NotFound):
        apitokens.issue(r, OPERATOR, w.admin, [w.platform, "nope-wx"])
    with pytest.raises(InvalidInput, match="至少指定一个平台"):
        apitokens.issue(r, OPERATOR, w.admin, [])
    assert snapshot(r) == before


def test_closed_platform_gets_no_token(r):
    """No token is issued for a closed platform."""
    w = world(r, status="closed")
    with pytest.raises(Conflict, match="已关闭"):
        apitokens.issue(r, OPERATOR, w.admin, [w.platform])


def test_scope_and_role_are_checked_at_use(r):
    """Out of scope is refused; so is a platform whose administrator role the person lost."""
    w = world(r)
    other = world(r, platform_id="wh-wx")
    token, _ = apitokens.issue(r, OPERATOR, w.admin, [w.platform])
    assert apitokens.authorize(r, token, "JSJ-WX") == w.platform
    with pytest.raises(Forbidden) as refused:
        apitokens.authorize(r, token, other.platform)
    assert refused.value.code == "out_of_scope"
    refiled(r, owners.remove_admin(r, OPERATOR, w.platform, w.admin, "调岗"))
    with pytest.raises(Forbidden) as refused:
        apitokens.authorize(r, token, w.platform)
    assert refused.value.code == "not_admin"
    assert apitokens.usable_platforms(r, token) == []


def test_holder_may_revoke_their_own_token_but_not_anothers(r):
    """An administrator may revoke their own token, not a colleague's."""
    w = world(r)
    apitokens.issue(r, OPERATOR, w.admin, [w.platform])
    apitokens.issue(r, OPERATOR, w.other_admin, [w.platform])
    with pytest.raises(Forbidden):
        apitokens.revoke(r, actor(w.admin), "T2")
    assert apitokens.revoke(r, actor(w.admin), "T1").revoked_at


def test_issue_is_audited_on_every_platform_in_scope_without_the_secret(r):
    """An audit export for either platform shows the token; no record holds its secret."""
    w = world(r)
    other = world(r, platform_id="wh-wx")
    refiled(r, owners.add_admin(r, OPERATOR, other.platform, w.admin, "兼任"))
    _, secret = apitokens.issue(r, OPERATOR, w.admin, [w.platform, other.platform])
    issued = list(audit.records(r, action="apitoken.issue"))
    assert [rec["platform"] for rec in issued] == [w.platform, other.platform]
    assert all('"token": "T1"' in rec["detail"] for rec in issued)
    assert not any(secret in str(rec) for rec in audit.records(r))
    assert audit.verify(r).ok


def test_list_shows_tokens_but_never_a_secret(r):
    """Listing shows every token, or one person's, and never a secret or its hash."""
    w = world(r)
    apitokens.issue(r, OPERATOR, w.admin, [w.platform])
    apitokens.issue(r, OPERATOR, w.other_admin, [w.platform])
    assert [t.id for t in apitokens.list_tokens(r)] == ["T1", "T2"]
    assert [t.id for t in apitokens.list_tokens(r, w.other_admin)] == ["T2"]
    assert "digest" not in apitokens.get(r, "T1").__dict__


@pytest.fixture
def cli(r):
    runner = CliRunner()
    return lambda *args: runner.invoke(app.cli.cli, list(args), catch_exceptions=False)


def test_api_token_commands(cli, r):
    """Issue prints the secret once; list never does; revoke disarms it."""
    w = world(r)
    issued = cli("api-token", "issue", w.admin, "--platform", w.platform, "--label", "CMS")
    assert issued.exit_code == 0 and "T1" in issued.output
    secret = next(word for word in issued.output.split() if word.startswith("令牌:qf_"))[3:]
    assert apitokens.authenticate(r, secret).person == w.admin
    listing = cli("api-token", "list", w.admin).output
    assert "T1" in listing and "有效" in listing and secret not in listing
    assert "已吊销" in cli("api-token", "revoke", "T1", "--reason", "测试").output
    assert "已吊销" in cli("api-token", "list").output


def test_api_token_command_errors_are_one_line(r):
    """A refused issue prints one Chinese line and exits 1."""
    w = world(r)
    result = CliRunner().invoke(
        app.cli.cli, ["api-token", "issue", w.responsible, "--platform", w.platform]
    )
    assert result.exit_code == 1
    assert result.output.strip().startswith("错误:") and "不是平台" in result.output
    assert len(result.output.strip().splitlines()) == 1
