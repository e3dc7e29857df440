"""Art. 16: each platform's back-office login sealed, and the sealed archive per unit."""

import json
import logging

import pytest
from click.testing import CliRunner

import app.cli
from app.channels import apitokens
from app.core import audit, masterkey
from app.core.errors import InvalidInput, NotFound
from app.core.settings import get_settings, load_settings
from app.registry import credentials, platforms
from app.web import create_app
from tests.console_helpers import signed_in
from tests.factories import OPERATOR, submitted, world

LOGIN = "xinwen_admin@college.edu.cn"
PASSWORD = "Houtai#Mima2026 秘"
PASSPHRASE = "correct horse battery"
# Back offices of art. 16: WeChat's mp.weixin.qq.com, Weibo's, the website's CMS.
KINDS = ("wechat", "weibo", "website")


def everything_in(r) -> bytes:
    """Every key and value (strings, hashes, sets, streams) as one blob to search."""
    parts = []
    for key in sorted(r.scan_iter()):
        kind = r.type(key).decode()
        parts.append(key)
        if kind == "string":
            parts.append(r.get(key))
        elif kind == "hash":
            parts.extend(b for kv in r.hgetall(key).items() for b in kv)
        elif kind in ("set", "zset"):
            parts.extend(r.smembers(key) if kind == "set" else r.zrange(key, 0, -1))
        elif kind == "stream":
            parts.extend(b for _, fields in r.xrange(key) for kv in fields.items() for b in kv)
        elif kind == "list":
            parts.extend(r.lrange(key, 0, -1))
    return b"\n".join(parts)


def assert_sealed_nowhere(blob: bytes | str) -> None:
    blob = blob.encode() if isinstance(blob, str) else blob
    assert LOGIN.encode() not in blob and PASSWORD.encode() not in blob


@pytest.fixture
def keyring(settings):
    return masterkey.load_keyring(settings)


def seal_login(r, keyring, platform_id: str) -> None:
    credentials.set_secret(r, keyring, OPERATOR, platform_id, "login_name", LOGIN)
    credentials.set_secret(r, keyring, OPERATOR, platform_id, "login_password", PASSWORD)


@pytest.mark.parametrize("kind", KINDS)
def test_a_back_office_login_is_sealed_and_never_in_clear(r, keyring, kind, caplog):
    """In Redis, the audit trail and the logs only names appear; reveal gives the values back."""
    caplog.set_level(logging.DEBUG)
    w = world(r, kind=kind, platform_id=f"bo-{kind}")
    seal_login(r, keyring, w.platform)
    got = credentials.reveal(r, keyring, OPERATOR, w.platform, "login_password", purpose="交接")
    assert got.reveal() == PASSWORD and repr(got) == str(got) == "<sealed>"
    assert_sealed_nowhere(everything_in(r))
    assert_sealed_nowhere(caplog.text)
    names = [
        json.loads(rec["detail"])["name"] for rec in audit.records(r, action="credentials.set")
    ]
    assert names == ["login_name", "login_password"]
    state = credentials.status(r, w.platform)
    assert state["login_name"]["set"] and state["login_password"]["set"]


@pytest.mark.parametrize(
    ("name", "value"), [("login_name", "有 空格"), ("login_password", "短密码"), ("login_name", "")]
)
def test_a_malformed_login_is_refused_without_echo(r, keyring, name, value):
    w = world(r)
    with pytest.raises(InvalidInput) as caught:
        credentials.set_secret(r, keyring, OPERATOR, w.platform, name, value)
    assert caught.value.message.startswith(name) and (
        not value or value not in caught.value.message
    )
    assert not credentials.status(r, w.platform)[name]["set"]


def test_the_console_sets_a_back_office_password_and_never_shows_it(r, settings):
    w = world(r)
    client, token = signed_in(settings, r, w.propaganda)
    url = f"/console/platforms/{w.platform}/credentials"
    assert "后台登录密码" in client.get(url).data.decode()
    answer = client.post(url, data={"csrf": token, "name": "login_password", "value": PASSWORD})
    assert answer.status_code == 302
    page = client.get(url).data.decode()
    assert_sealed_nowhere(page)
    assert credentials.status(r, w.platform)["login_password"]["set"]


def test_api_answers_never_carry_a_sealed_login(r, settings, keyring):
    w = world(r)
    seal_login(r, keyring, w.platform)
    draft = submitted(r, w)
    _, secret = apitokens.issue(r, OPERATOR, w.admin, [w.platform], label="CMS")
    client = create_app(load_settings()).test_client()
    headers = {"Authorization": f"Bearer {secret}"}
    for path in (f"/api/v1/drafts/{draft.id}", "/api/v1/drafts"):
        answer = client.get(path, headers=headers)
        assert answer.status_code == 200
        assert_sealed_nowhere(answer.data)


def run_cli(*args, input=None):
    get_settings.cache_clear()
    try:
        return CliRunner().invoke(app.cli.cli, list(args), input=input)
    finally:
        get_settings.cache_clear()


def test_the_cli_sets_and_shows_a_login_without_printing_it(r):
    w = world(r)
    outputs = [
        run_cli("credentials", "set", w.platform, "login_name", "--stdin", input=LOGIN + "\n"),
        run_cli("credentials", "set", w.platform, "login_password", input=f"{PASSWORD}\n" * 2),
        run_cli("credentials", "status", w.platform),
    ]
    assert [o.exit_code for o in outputs] == [0, 0, 0], [o.output for o in outputs]
    assert "login_password" in outputs[-1].output and "已设置" in outputs[-1].output
    assert_sealed_nowhere("".join(o.output for o in outputs))
    assert_sealed_nowhere(everything_in(r))


# ---- the sealed archive of one unit -------------------------------------------------------


def two_units(r, keyring):
    """Two platforms of two units, each with its login and its AppSecret sealed."""
    first, second = world(r, platform_id="jsj-wx"), world(r, platform_id="wy-wb", kind="weibo")
    for w in (first, second):
        seal_login(r, keyring, w.platform)
    secret = "0123456789abcdef0123456789abcdef"
    credentials.set_secret(r, keyring, OPERATOR, second.platform, "app_secret", secret)
    return platforms.get(r, first.platform), platforms.get(r, second.platform)


def test_a_units_archive_holds_only_that_units_platforms(r, keyring):
    mine, theirs = two_units(r, keyring)
    data = credentials.export_sealed(r, keyring, OPERATOR, PASSPHRASE, unit=mine.unit)
    assert_sealed_nowhere(data)
    opened = credentials.open_sealed(data, PASSPHRASE)
    assert (set(opened["platforms"]), opened["unit"]) == ({mine.id}, mine.unit)
    login = opened["platforms"][mine.id]
    assert {n: v.reveal() for n, v in login.items()} == {
        "login_name": LOGIN,
        "login_password": PASSWORD,
    }
    [record] = audit.records(r, action="credentials.export_sealed")
    assert json.loads(record["detail"]) == {"platforms": 1, "unit": mine.unit}
    everything = credentials.open_sealed(
        credentials.export_sealed(r, keyring, OPERATOR, PASSPHRASE), PASSPHRASE
    )
    assert set(everything["platforms"]) == {mine.id, theirs.id} and everything["unit"] == ""


def test_a_unit_archive_restores_only_its_platforms(r, keyring):
    mine, theirs = two_units(r, keyring)
    data = credentials.export_sealed(r, keyring, OPERATOR, PASSPHRASE, unit=theirs.unit)
    assert credentials.import_sealed(r, keyring, OPERATOR, data, PASSPHRASE) == 1
    [record] = audit.records(r, action="credentials.import_sealed")
    assert json.loads(record["detail"])["restored"] == [theirs.id]


def test_an_unknown_or_empty_unit_exports_nothing(r, keyring):
    two_units(r, keyring)
    with pytest.raises(NotFound, match="没有编号为 U99 的单位"):
        credentials.export_sealed(r, keyring, OPERATOR, PASSPHRASE, unit="U99")
    from app.registry import units

    empty = units.create(r, OPERATOR, "图书馆", "department")
    with pytest.raises(InvalidInput, match=f"单位 {empty.id} 没有平台"):
        credentials.export_sealed(r, keyring, OPERATOR, PASSPHRASE, unit=empty.id)
    assert list(audit.records(r, action="credentials.export_sealed")) == []


def test_the_cli_exports_one_units_archive(r, keyring, tmp_path):
    mine, _ = two_units(r, keyring)
    out, phrase = tmp_path / "unit.qfa", tmp_path / "phrase"
    phrase.write_text(PASSPHRASE + "\n")
    args = ["credentials", "export-sealed", "--out", str(out), "--passphrase-file", str(phrase)]
    result = run_cli(*args, "--unit", mine.unit)
    assert result.exit_code == 0, result.output
    assert f"单位 {mine.unit} 的密封存档" in result.output
    assert_sealed_nowhere(result.output + out.read_text())
    opened = credentials.open_sealed(out.read_bytes(), PASSPHRASE)
    assert set(opened["platforms"]) == {mine.id}
    missing = run_cli(*args[:3], str(tmp_path / "other.qfa"), *args[4:], "--unit", "U99")
    assert missing.exit_code == 1 and missing.stderr == "错误:没有编号为 U99 的单位\n"
    assert not (tmp_path / "other.qfa").exists()
