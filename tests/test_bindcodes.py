"""Bind codes: the only way an openid becomes a person; once, before expiry, on its platform."""

import hashlib

import pytest

from app.core import audit, keys
from app.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from app.core.masterkey import Keyring
from app.registry import bindcodes, people
from tests.conftest import wait_until
from tests.factories import KEYRING, OPERATOR, snapshot, world

TTL = 3600


def test_a_code_binds_the_openid_to_its_person_once(r):
    """A code binds the sender's openid to the person it was issued for and then stops working."""
    w = world(r)
    code = bindcodes.issue(r, KEYRING, OPERATOR, w.responsible, w.platform, TTL)
    binding = bindcodes.redeem(r, KEYRING, w.platform, "oOpenid-responsible", code)
    assert binding.person == w.responsible and binding.roles == ("responsible",)
    assert bindcodes.person_for(r, w.platform, "oOpenid-responsible") == w.responsible
    with pytest.raises(NotFound, match="无效或已过期"):
        bindcodes.redeem(r, KEYRING, w.platform, "oOpenid-someone-else", code)


def test_codes_are_typed_loosely_and_stored_only_as_hashes(r):
    """Lowercase, full-width and missing dashes are accepted; Redis never holds the code itself."""
    w = world(r)
    code = bindcodes.issue(r, KEYRING, OPERATOR, w.admin, w.platform, TTL)
    plain = code.replace("-", "")
    dumped = b"".join(r.dump(k) or b"" for k in r.keys("*")) + b"".join(r.keys("*"))
    assert plain.encode() not in dumped
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in plain.lower())
    assert bindcodes.redeem(r, KEYRING, w.platform, "oAdmin", full_width).person == w.admin


def test_an_expired_code_is_refused(r):
    """A code past its lifetime is refused like an unknown one."""
    w = world(r)
    code = bindcodes.issue(r, KEYRING, OPERATOR, w.admin, w.platform, TTL)
    key = keys.bind_code(bindcodes.digest(KEYRING, bindcodes.normalize_code(code)))
    r.pexpire(key, 1)
    wait_until(lambda: not r.exists(key), message="the code to expire")
    with pytest.raises(NotFound, match="无效或已过期"):
        bindcodes.redeem(r, KEYRING, w.platform, "oAdmin", code)


def test_a_code_for_another_platform_is_refused_and_kept(r):
    """A code sent to the wrong official account is refused without being used up."""
    w = world(r)
    world(r, platform_id="other-wx")
    code = bindcodes.issue(r, KEYRING, OPERATOR, w.admin, w.platform, TTL)
    with pytest.raises(Conflict, match="不是发给本公众号"):
        bindcodes.redeem(r, KEYRING, "other-wx", "oAdmin", code)
    assert bindcodes.redeem(r, KEYRING, w.platform, "oAdmin", code).person == w.admin


def test_an_openid_bound_to_someone_else_is_refused(r):
    """One WeChat user cannot be two people on the same platform."""
    w = world(r)
    first = bindcodes.issue(r, KEYRING, OPERATOR, w.admin, w.platform, TTL)
    bindcodes.redeem(r, KEYRING, w.platform, "oShared", first)
    code = bindcodes.issue(r, KEYRING, OPERATOR, w.responsible, w.platform, TTL)
    before = snapshot(r)
    with pytest.raises(Conflict, match="已绑定其他人员"):
        bindcodes.redeem(r, KEYRING, w.platform, "oShared", code)
    assert snapshot(r) == before


def test_rebinding_replaces_the_persons_old_openid(r):
    """A person who binds a new WeChat account on a platform loses the old binding there."""
    w = world(r)
    for openid in ("oOld", "oNew"):
        code = bindcodes.issue(r, KEYRING, OPERATOR, w.admin, w.platform, TTL)
        bindcodes.redeem(r, KEYRING, w.platform, openid, code)
    assert bindcodes.person_for(r, w.platform, "oOld") is None
    assert bindcodes.bindings_of(r, w.admin) == [(w.platform, "oNew")]


def test_codes_only_for_people_with_a_role_there(r):
    """A person with no role on the platform gets no code; a propaganda reviewer does."""
    w = world(r)
    stranger = people.create(r, OPERATOR, "路人")
    with pytest.raises(Forbidden, match="没有任何角色"):
        bindcodes.issue(r, KEYRING, OPERATOR, stranger.id, w.platform, TTL)
    code = bindcodes.issue(r, KEYRING, OPERATOR, w.propaganda, w.platform, TTL)
    assert bindcodes.redeem(r, KEYRING, w.platform, "oPropaganda", code).roles == ("propaganda",)


@pytest.mark.parametrize("bad", ["", "1234", "ABCD-EFG!", "OOOO-0000", "K7M2-Q9XA-ZZ"])
def test_malformed_codes_are_refused_without_a_lookup(r, bad):
    """Codes of the wrong length or with characters outside the alphabet get a format message."""
    w = world(r)
    with pytest.raises(InvalidInput, match="绑定码格式"):
        bindcodes.redeem(r, KEYRING, w.platform, "oX", bad)


def test_issuing_redeeming_and_revoking_are_audited(r):
    """Issue, bind and unbind each leave an audit record; the code itself is never recorded."""
    w = world(r)
    code = bindcodes.issue(r, KEYRING, OPERATOR, w.admin, w.platform, TTL)
    bindcodes.redeem(r, KEYRING, w.platform, "oAdmin", code)
    bindcodes.unbind(r, OPERATOR, w.platform, "oAdmin", "离职")
    records = list(audit.records(r, platform=w.platform))
    assert [x["action"] for x in records[-3:]] == [
        "bindcode.issue",
        "binding.create",
        "binding.revoke",
    ]
    assert records[-2]["person"] == w.admin and records[-2]["openid"] == "oAdmin"
    assert all(code.replace("-", "") not in str(x) for x in records)
    assert bindcodes.person_for(r, w.platform, "oAdmin") is None


def test_records_about_a_person_are_found_by_that_person(r):
    """Filtering the audit by a person finds what they did and what was done to them."""
    w = world(r)
    bindcodes.issue(r, KEYRING, OPERATOR, w.admin, w.platform, TTL)
    about = [x["action"] for x in audit.records(r, person=w.admin)]
    assert about[0] == "person.create" and about[-1] == "bindcode.issue"
    assert "role.grant" not in about


def test_codes_are_keyed_by_the_master_key(r):
    """A plain SHA-256 of a code finds nothing, and another master key cannot redeem it."""
    w = world(r)
    code = bindcodes.issue(r, KEYRING, OPERATOR, w.admin, w.platform, TTL)
    plain = bindcodes.normalize_code(code)
    assert not r.exists(keys.bind_code(hashlib.sha256(plain.encode()).hexdigest()))
    with pytest.raises(NotFound):
        bindcodes.redeem(r, Keyring([bytes(32)]), w.platform, "oAdmin", code)
    assert bindcodes.redeem(r, KEYRING, w.platform, "oAdmin", code).person == w.admin
