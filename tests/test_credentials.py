import base64
import json
import os
import stat

import pytest
from click.testing import CliRunner

import app.cli
from app.core import audit, keys, masterkey
from app.core.audit import Actor
from app.core.errors import ConfigError, Conflict, Forbidden, InvalidInput, NotFound, QianfaError
from app.core.masterkey import Keyring
from app.core.settings import get_settings, load_settings
from app.registry import credentials, people
from app.registry.credentials import Sealed

APP_SECRET = "9f8e7d6c5b4a39281706f5e4d3c2b1a0"
TOKEN = "QianfaToken2024"
AES_KEY = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ"
VALUES = {"app_secret": APP_SECRET, "token": TOKEN, "encoding_aes_key": AES_KEY}
PASSPHRASE = "correct horse battery"
ACTOR = Actor.cli("tester")


def settings_for(tmp_path, **env):
    """Settings whose instance dir (and so default key file) is this test's own."""
    environ = {**os.environ, "QIANFA_INSTANCE_DIR": str(tmp_path)}
    environ.update({f"QIANFA_{k.upper()}": str(v) for k, v in env.items()})
    return load_settings(environ)


@pytest.fixture
def cfg(tmp_path):
    return settings_for(tmp_path)


@pytest.fixture
def keyring(cfg):
    return masterkey.load_keyring(cfg)


@pytest.fixture
def demo(r):
    r.sadd(keys.platforms(), "demo")
    return "demo"


def set_all(r, keyring, platform_id):
    for name, value in VALUES.items():
        credentials.set_secret(r, keyring, ACTOR, platform_id, name, value)


def everything_in(r) -> bytes:
    """Every key and value in the database, in a stable order, as one blob to search."""
    parts = []
    for key in sorted(r.scan_iter()):
        parts.append(key)
        kind = r.type(key).decode()
        if kind == "string":
            parts.append(r.get(key))
        elif kind == "hash":
            parts.extend(b for kv in sorted(r.hgetall(key).items()) for b in kv)
        elif kind == "set":
            parts.extend(sorted(r.smembers(key)))
        elif kind == "stream":
            for _, fields in r.xrange(key):
                parts.extend(b for kv in fields.items() for b in kv)
        else:
            raise AssertionError(f"unexpected key type {kind}")
    return b"\n".join(parts)


def assert_no_plaintext(blob: bytes | str) -> None:
    blob = blob.encode() if isinstance(blob, str) else blob
    for value in VALUES.values():
        assert value.encode() not in blob


def actions(r, action):
    return list(audit.records(r, action=action))


# --- domain -------------------------------------------------------------------------


def test_set_and_reveal_round_trip(r, keyring, demo):
    """Each secret set comes back unchanged from reveal."""
    set_all(r, keyring, demo)
    for name, value in VALUES.items():
        got = credentials.reveal(r, keyring, ACTOR, demo, name, purpose="test")
        assert got.reveal() == value


def test_values_never_in_redis_or_audit_in_plaintext(r, keyring, demo):
    """Neither the secrets hash nor the audit stream nor any other key holds a value."""
    set_all(r, keyring, demo)
    credentials.reveal(r, keyring, ACTOR, demo, "token", purpose="test")
    assert_no_plaintext(everything_in(r))
    stored = r.hget(keys.platform_secrets(demo), "token").decode()
    assert stored.startswith(f"v1:{keyring.primary}:")


def test_set_is_audited_by_name_only(r, keyring, demo):
    """Each set leaves one credentials.set record naming the secret, never its value."""
    set_all(r, keyring, demo)
    records = actions(r, "credentials.set")
    assert [json.loads(rec["detail"]) for rec in records] == [{"name": n} for n in VALUES]
    assert all(rec["platform"] == demo and rec["operator"] == "tester" for rec in records)
    assert_no_plaintext(json.dumps(list(audit.records(r))))
    assert audit.verify(r).ok


def test_every_reveal_is_audited_with_who_and_why(r, keyring, demo):
    """Each reveal appends a credentials.read record with the actor and the purpose."""
    set_all(r, keyring, demo)
    reviewer = people.create(r, ACTOR, "宣传部审核人")
    people.grant_college_role(r, ACTOR, reviewer.id, "propaganda")
    reader = Actor(via="console", person=reviewer.id)
    credentials.reveal(r, keyring, reader, demo, "app_secret", purpose="获取 access_token")
    credentials.reveal(r, keyring, Actor.system("webhook"), demo, "token", purpose="校验回调签名")
    reads = actions(r, "credentials.read")
    assert [json.loads(rec["detail"]) for rec in reads] == [
        {"name": "app_secret", "purpose": "获取 access_token"},
        {"name": "token", "purpose": "校验回调签名"},
    ]
    assert [(rec["person"], rec["operator"]) for rec in reads] == [
        (reviewer.id, ""),
        ("", "webhook"),
    ]


def test_people_without_the_propaganda_role_cannot_touch_secrets(r, keyring, demo):
    """A person who is not a propaganda reviewer can neither read nor set a secret."""
    set_all(r, keyring, demo)
    outsider = Actor(via="console", person=people.create(r, ACTOR, "管理员").id)
    with pytest.raises(Forbidden):
        credentials.reveal(r, keyring, outsider, demo, "token", purpose="好奇")
    with pytest.raises(Forbidden):
        credentials.set_secret(r, keyring, outsider, demo, "token", "abc123")
    assert actions(r, "credentials.read") == []


def test_reveal_without_purpose_is_refused_and_not_audited(r, keyring, demo):
    """A read that does not say why is refused."""
    set_all(r, keyring, demo)
    with pytest.raises(InvalidInput):
        credentials.reveal(r, keyring, ACTOR, demo, "token", purpose=" ")
    assert actions(r, "credentials.read") == []


def test_sealed_and_keyring_never_show_their_contents(r, keyring, demo, cfg):
    """Sealed prints as <sealed> and a Keyring's repr shows only key ids."""
    set_all(r, keyring, demo)
    sealed = credentials.reveal(r, keyring, ACTOR, demo, "token", purpose="test")
    assert isinstance(sealed, Sealed)
    assert repr(sealed) == str(sealed) == f"{sealed}" == "<sealed>"
    assert TOKEN not in repr({"token": sealed})
    key_text = cfg.master_key_file.read_text().strip()
    assert key_text not in repr(keyring) and keyring.primary in repr(keyring)


@pytest.mark.parametrize("target", [("other", "token"), ("demo", "app_secret")])
def test_ciphertext_moved_to_another_platform_or_name_fails(r, keyring, demo, target):
    """A ciphertext copied to another platform or another name does not decrypt."""
    set_all(r, keyring, demo)
    r.sadd(keys.platforms(), "other")
    moved = r.hget(keys.platform_secrets(demo), "token")
    platform_id, name = target
    r.hset(keys.platform_secrets(platform_id), name, moved)
    with pytest.raises(QianfaError, match="无法解密") as caught:
        credentials.reveal(r, keyring, ACTOR, platform_id, name, purpose="test")
    assert caught.value.code == "credentials_unreadable"


def test_damaged_ciphertext_is_one_clear_error(r, keyring, demo):
    """A tampered stored text gives a QianfaError, not a traceback from the cipher."""
    set_all(r, keyring, demo)
    stored = r.hget(keys.platform_secrets(demo), "token").decode()
    r.hset(keys.platform_secrets(demo), "token", stored[:-4] + "AAAA")
    with pytest.raises(QianfaError, match="无法解密"):
        credentials.reveal(r, keyring, ACTOR, demo, "token", purpose="test")


@pytest.mark.parametrize(
    "name, value",
    [
        ("app_secret", "too-short"),
        ("app_secret", "g" * 32),
        ("token", "ab"),
        ("token", "has space1"),
        ("token", "x" * 33),
        ("encoding_aes_key", AES_KEY[:-1]),
        ("encoding_aes_key", AES_KEY[:-1] + "-"),
        ("password", "whatever-secret"),
    ],
)
def test_bad_names_and_values_are_refused_without_echo(r, keyring, demo, name, value):
    """A malformed value or unknown name is refused, not echoed, and nothing is written."""
    before = everything_in(r)
    with pytest.raises(InvalidInput) as caught:
        credentials.set_secret(r, keyring, ACTOR, demo, name, value)
    assert value not in caught.value.message
    if name in VALUES:
        assert name in caught.value.message
    assert everything_in(r) == before


def test_unknown_platform_is_not_found_and_nothing_written(r, keyring):
    """Setting a secret of a platform that does not exist writes nothing."""
    with pytest.raises(NotFound):
        credentials.set_secret(r, keyring, ACTOR, "ghost", "token", TOKEN)
    assert r.dbsize() == 0


def test_missing_secret_is_not_found(r, keyring, demo):
    """Revealing a secret that was never set is NotFound."""
    with pytest.raises(NotFound):
        credentials.reveal(r, keyring, ACTOR, demo, "token", purpose="test")


def test_status_shows_set_and_time_never_values(r, keyring, demo):
    """status says which secrets are set and when, with no value in it."""
    credentials.set_secret(r, keyring, ACTOR, demo, "token", TOKEN)
    shown = credentials.status(r, demo)
    assert shown["token"]["set"] and shown["token"]["changed_at"]
    assert shown["app_secret"] == {"set": False, "changed_at": None}
    assert_no_plaintext(json.dumps(shown))


# --- master key ---------------------------------------------------------------------


def test_default_key_file_is_generated_once_with_mode_0600(tmp_path):
    """Without settings, the first use writes instance/master.key (0600) and reuses it."""
    cfg = settings_for(tmp_path / "fresh")
    first = masterkey.load_keyring(cfg)
    assert stat.S_IMODE(cfg.master_key_file.stat().st_mode) == 0o600
    assert masterkey.load_keyring(cfg).primary == first.primary


@pytest.mark.parametrize("setting", ["master_key", "master_key_file"])
def test_malformed_master_key_is_one_line_naming_the_setting(tmp_path, setting):
    """A malformed key, from env or file, is a one-line ConfigError that names the setting."""
    bad = "not-a-real-key-0123456789"
    (tmp_path / "bad.key").write_text(bad)
    value = tmp_path / "bad.key" if setting == "master_key_file" else bad
    with pytest.raises(ConfigError) as caught:  # at start-up for the env, at first use for a file
        masterkey.load_keyring(settings_for(tmp_path, **{setting: value}))
    message = caught.value.message
    assert f"QIANFA_{setting.upper()}" in message
    assert "\n" not in message and bad not in message


def test_missing_explicit_key_file_is_refused(tmp_path):
    """A QIANFA_MASTER_KEY_FILE that does not exist is an error, never silently generated."""
    with pytest.raises(ConfigError, match="找不到主密钥文件"):
        settings_for(tmp_path, master_key_file=tmp_path / "absent.key")
    assert not (tmp_path / "absent.key").exists()


def test_wrong_master_key_is_refused_and_never_mixed(r, keyring, demo):
    """Another master key can neither read the stored secrets nor add new ones beside them."""
    credentials.set_secret(r, keyring, ACTOR, demo, "token", TOKEN)
    other = Keyring([masterkey.new_key()])
    with pytest.raises(ConfigError, match=keyring.primary):
        credentials.reveal(r, other, ACTOR, demo, "token", purpose="test")
    before = everything_in(r)
    with pytest.raises(ConfigError):
        credentials.set_secret(r, other, ACTOR, demo, "app_secret", APP_SECRET)
    assert everything_in(r) == before


# --- rotation -----------------------------------------------------------------------


def test_rotation_reencrypts_and_old_key_is_no_longer_needed(r, keyring, demo, cfg):
    """After rotation every secret is under the new key file alone; the old key reads nothing."""
    r.sadd(keys.platforms(), "other")
    set_all(r, keyring, demo)
    credentials.set_secret(r, keyring, ACTOR, "other", "token", "OtherToken1")
    assert credentials.rotate_master_key(r, cfg, ACTOR) == 4
    assert not masterkey.staged(cfg.master_key_file).exists()
    rotated = masterkey.load_keyring(cfg)
    assert rotated.ids == [rotated.primary] != [keyring.primary]
    for name, value in VALUES.items():
        assert credentials.reveal(r, rotated, ACTOR, demo, name, purpose="t").reveal() == value
    with pytest.raises(ConfigError):
        credentials.reveal(r, keyring, ACTOR, demo, "token", purpose="t")
    [record] = actions(r, "credentials.rotate_master_key")
    assert json.loads(record["detail"])["count"] == 4
    assert_no_plaintext(everything_in(r))


def test_crash_between_transaction_and_rename_loses_nothing(r, keyring, demo, cfg):
    """With the new key only in <key file>.new, secrets stay readable and the next rotation
    finishes the rename."""
    set_all(r, keyring, demo)
    new = masterkey.stage_key(cfg.master_key_file)
    credentials.reseal_all(r, keyring, new, ACTOR)  # the process dies before install_key
    loaded = masterkey.load_keyring(cfg)
    assert credentials.reveal(r, loaded, ACTOR, demo, "token", purpose="t").reveal() == TOKEN
    assert credentials.rotate_master_key(r, cfg, ACTOR) == 3
    assert not masterkey.staged(cfg.master_key_file).exists()
    final = masterkey.load_keyring(cfg)
    assert credentials.reveal(r, final, ACTOR, demo, "token", purpose="t").reveal() == TOKEN


def test_crash_before_transaction_discards_the_unused_key(r, keyring, demo, cfg):
    """A staged key whose transaction never ran is discarded by the next rotation."""
    set_all(r, keyring, demo)
    masterkey.stage_key(cfg.master_key_file)  # the process dies before reseal_all
    loaded = masterkey.load_keyring(cfg)
    assert credentials.reveal(r, loaded, ACTOR, demo, "token", purpose="t").reveal() == TOKEN
    assert credentials.rotate_master_key(r, cfg, ACTOR) == 3
    final = masterkey.load_keyring(cfg)
    assert final.ids == [final.primary]
    assert credentials.reveal(r, final, ACTOR, demo, "token", purpose="t").reveal() == TOKEN


def test_env_key_rotation_needs_a_new_key_file(r, demo, tmp_path):
    """With QIANFA_MASTER_KEY, rotation writes the new key to the file the operator names."""
    env_cfg = settings_for(tmp_path, master_key=_key_text())
    set_all(r, masterkey.load_keyring(env_cfg), demo)
    with pytest.raises(InvalidInput, match="QIANFA_MASTER_KEY_FILE"):
        credentials.rotate_master_key(r, env_cfg, ACTOR)
    target = tmp_path / "keys" / "rotated.key"
    assert credentials.rotate_master_key(r, env_cfg, ACTOR, new_key_file=target) == 3
    file_cfg = settings_for(tmp_path, master_key_file=target)
    loaded = masterkey.load_keyring(file_cfg)
    assert credentials.reveal(r, loaded, ACTOR, demo, "token", purpose="t").reveal() == TOKEN


def _key_text() -> str:
    return base64.urlsafe_b64encode(masterkey.new_key()).decode()


# --- sealed archive -----------------------------------------------------------------


def test_export_then_open_round_trip(r, keyring, demo):
    """The archive holds every platform's id and secrets, readable with the passphrase only."""
    r.sadd(keys.platforms(), "empty")
    set_all(r, keyring, demo)
    data = credentials.export_sealed(r, keyring, ACTOR, PASSPHRASE)
    assert_no_plaintext(data)
    envelope = json.loads(data)
    assert envelope["format"] == "qianfa-sealed-credentials" and envelope["version"] == 1
    opened = credentials.open_sealed(data, PASSPHRASE)
    assert opened["exported_at"]
    assert set(opened["platforms"]) == {"demo", "empty"}
    assert {n: v.reveal() for n, v in opened["platforms"]["demo"].items()} == VALUES
    [record] = actions(r, "credentials.export_sealed")
    assert json.loads(record["detail"]) == {"platforms": 2}


def test_wrong_passphrase_or_corrupt_archive_is_refused(r, keyring, demo):
    """A wrong passphrase, a changed header or garbage is one clear InvalidInput."""
    set_all(r, keyring, demo)
    data = credentials.export_sealed(r, keyring, ACTOR, PASSPHRASE)
    with pytest.raises(InvalidInput, match="口令错误或文件已损坏"):
        credentials.open_sealed(data, "wrong passphrase!")
    changed = json.loads(data)
    changed["cipher"] = "AES-128-GCM"
    with pytest.raises(InvalidInput, match="口令错误或文件已损坏"):
        credentials.open_sealed(json.dumps(changed).encode(), PASSPHRASE)
    with pytest.raises(InvalidInput, match="不是签发的密封存档"):
        credentials.open_sealed(b"\x00garbage", PASSPHRASE)


def test_short_passphrase_is_refused_and_not_audited(r, keyring, demo):
    """A passphrase under 12 characters exports nothing."""
    set_all(r, keyring, demo)
    with pytest.raises(InvalidInput, match="12"):
        credentials.export_sealed(r, keyring, ACTOR, "short")
    assert actions(r, "credentials.export_sealed") == []


def test_import_restores_existing_platforms_under_the_current_key(r, keyring, demo, tmp_path):
    """Import re-seals the archive under this installation's key and skips unknown platforms."""
    r.sadd(keys.platforms(), "gone")
    set_all(r, keyring, demo)
    credentials.set_secret(r, keyring, ACTOR, "gone", "token", "GoneToken1")
    data = credentials.export_sealed(r, keyring, ACTOR, PASSPHRASE)
    r.flushdb()
    r.sadd(keys.platforms(), demo)
    fresh = masterkey.load_keyring(settings_for(tmp_path / "new-install"))
    assert credentials.import_sealed(r, fresh, ACTOR, data, PASSPHRASE) == 1
    for name, value in VALUES.items():
        assert credentials.reveal(r, fresh, ACTOR, demo, name, purpose="t").reveal() == value
    [record] = actions(r, "credentials.import_sealed")
    assert json.loads(record["detail"])["skipped"] == ["gone"]
    assert not r.exists(keys.platform_secrets("gone"))
    assert_no_plaintext(everything_in(r))


# --- command line -------------------------------------------------------------------


@pytest.fixture
def run_cli(tmp_path):
    """Invoke ``qianfa`` with this test's instance dir; settings are re-read per call."""

    def run(*args, input=None, **env):
        environ = {"QIANFA_INSTANCE_DIR": str(tmp_path)}
        environ.update({f"QIANFA_{k.upper()}": str(v) for k, v in env.items()})
        get_settings.cache_clear()
        try:
            return CliRunner().invoke(app.cli.cli, list(args), input=input, env=environ)
        finally:
            get_settings.cache_clear()

    return run


def test_cli_set_and_status_never_print_values(r, demo, run_cli, cfg):
    """set reads from stdin or a hidden prompt, and neither set nor status prints a value."""
    outputs = [
        run_cli("credentials", "set", demo, "token", "--stdin", input=TOKEN + "\n"),
        run_cli("credentials", "set", demo, "app_secret", input=f"{APP_SECRET}\n" * 2),
        run_cli("credentials", "status", demo),
    ]
    assert [o.exit_code for o in outputs] == [0, 0, 0]
    assert_no_plaintext("".join(o.output for o in outputs))
    assert "已设置" in outputs[-1].output and "未设置" in outputs[-1].output
    keyring = masterkey.load_keyring(cfg)
    got = credentials.reveal(r, keyring, ACTOR, demo, "app_secret", purpose="t")
    assert got.reveal() == APP_SECRET


def test_cli_refuses_value_in_argv_and_mistyped_confirmation(r, demo, run_cli):
    """A value given as an argument or typed differently twice is refused, nothing stored."""
    in_argv = run_cli("credentials", "set", demo, "token", TOKEN)
    mistyped = run_cli("credentials", "set", demo, "token", input=f"{TOKEN}\nOther1234\n")
    assert in_argv.exit_code != 0 and mistyped.exit_code == 1
    assert "两次输入不一致" in mistyped.output
    assert not r.exists(keys.platform_secrets(demo))


def test_cli_bad_value_is_one_line_without_the_value(r, demo, run_cli):
    """A malformed value ends with one 错误: line that names the field only."""
    result = run_cli("credentials", "set", demo, "app_secret", "--stdin", input="nothex\n")
    assert result.exit_code == 1
    assert result.stderr.strip().count("\n") == 0
    assert result.stderr.startswith("错误:app_secret") and "nothex" not in result.output


def test_cli_malformed_master_key_is_one_line(r, demo, run_cli):
    """A malformed QIANFA_MASTER_KEY stops the command with one line naming the setting."""
    result = run_cli(
        "credentials", "set", demo, "token", "--stdin", input=TOKEN, master_key="garbage"
    )
    assert result.exit_code == 1
    assert result.stderr.strip().count("\n") == 0
    assert result.stderr.startswith("错误:QIANFA_MASTER_KEY:") and "garbage" not in result.stderr


def test_cli_new_master_key_writes_0600_and_refuses_overwrite(run_cli, tmp_path):
    """new-master-key writes a valid private key file once and never overwrites it."""
    path = tmp_path / "k" / "master.key"
    first = run_cli("credentials", "new-master-key", str(path))
    assert first.exit_code == 0, first.output
    text = path.read_text()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert masterkey.parse_key(text, "test") and text.strip() not in first.output
    again = run_cli("credentials", "new-master-key", str(path))
    assert again.exit_code == 1 and "已存在" in again.output
    assert path.read_text() == text


def test_cli_rotate_with_env_key_points_operator_at_the_file(r, demo, run_cli, tmp_path):
    """Rotating an env key needs --new-key-file and says to set QIANFA_MASTER_KEY_FILE."""
    env_key = _key_text()
    set_all(r, masterkey.load_keyring(settings_for(tmp_path, master_key=env_key)), demo)
    refused = run_cli("credentials", "rotate-master-key", master_key=env_key)
    assert refused.exit_code == 1 and "--new-key-file" in refused.output
    target = tmp_path / "rotated.key"
    done = run_cli(
        "credentials", "rotate-master-key", "--new-key-file", str(target), master_key=env_key
    )
    assert done.exit_code == 0, done.output
    assert "QIANFA_MASTER_KEY_FILE" in done.output and str(target) in done.output
    assert env_key not in done.output and target.read_text().strip() not in done.output
    assert_no_plaintext(done.output)


def test_cli_export_and_import_sealed(r, demo, run_cli, cfg, tmp_path):
    """export-sealed writes a private archive that import-sealed restores from."""
    keyring = masterkey.load_keyring(cfg)
    set_all(r, keyring, demo)
    out, phrase = tmp_path / "backup.json", tmp_path / "phrase"
    phrase.write_text(PASSPHRASE + "\n")
    exported = run_cli(
        "credentials", "export-sealed", "--out", str(out), input=f"{PASSPHRASE}\n" * 2
    )
    assert exported.exit_code == 0, exported.output
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    r.delete(keys.platform_secrets(demo))
    imported = run_cli("credentials", "import-sealed", str(out), "--passphrase-file", str(phrase))
    assert imported.exit_code == 0, imported.output
    assert "1" in imported.output
    assert credentials.reveal(r, keyring, ACTOR, demo, "token", purpose="t").reveal() == TOKEN
    assert_no_plaintext(exported.output + imported.output)
    assert PASSPHRASE not in exported.output + imported.output


def test_cli_import_with_wrong_passphrase_is_one_line(r, demo, run_cli, cfg, tmp_path):
    """A wrong passphrase on import is one 错误: line and changes nothing."""
    set_all(r, masterkey.load_keyring(cfg), demo)
    out = tmp_path / "backup.json"
    out.write_bytes(credentials.export_sealed(r, masterkey.load_keyring(cfg), ACTOR, PASSPHRASE))
    result = run_cli("credentials", "import-sealed", str(out), input="not the passphrase\n")
    assert result.exit_code == 1
    assert result.stderr.startswith("错误:无法打开密封存档") and result.stderr.count("\n") == 1


def test_a_second_rotation_at_once_is_refused_and_changes_nothing(r, keyring, demo, cfg):
    """While one rotation holds the key file's lock, another is refused before touching keys."""
    set_all(r, keyring, demo)
    before = cfg.master_key_file.read_bytes()
    with masterkey.rotation_lock(cfg.master_key_file):
        with pytest.raises(Conflict, match="正在进行"):
            credentials.rotate_master_key(r, cfg, ACTOR)
    assert cfg.master_key_file.read_bytes() == before
    assert not masterkey.staged(cfg.master_key_file).exists()
    assert credentials.reveal(r, keyring, ACTOR, demo, "token", purpose="检查").reveal()
