"""Issue #11, hole 4: someone with only Redis access rolls back, forges or wipes the audit trail.

Every attack is done straight in the real Redis, as such an operator would, and must be
caught by ``qianfa audit verify`` run as a real process (one Chinese line, exit 1) and by
the domain function; an honest chain with periodic anchors still verifies.
"""

import base64
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
import requests

from app.core import alerts, anchors, audit, keys, masterkey
from app.core.auditseal import Signer, signer
from app.core.masterkey import new_key
from app.core.settings import get_settings, load_settings
from app.core.store import decode, timestamp
from app.registry import credentials
from app.web import create_app
from tests.console_helpers import PASSWORD, csrf_of, with_password
from tests.factories import world
from tests.test_audit import old_and_new
from tests.webhook_helpers import serve
from workers.jobs import anchor_audit

STREAM = keys.audit_stream()
OPS = audit.Actor.cli("ops")
HOUR_MS = 3_600_000


@pytest.fixture
def anchor_file(tmp_path, monkeypatch):
    """Anchors in a file of this test's own (the child processes see it too)."""
    path = tmp_path / "anchors" / "audit-anchors"
    monkeypatch.setenv("QIANFA_AUDIT_ANCHOR_FILE", str(path))
    get_settings.cache_clear()
    yield path
    get_settings.cache_clear()


def qianfa(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the real ``qianfa`` command in a child process."""
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=60,
    )


def entries(r) -> list[tuple[str, dict[str, str]]]:
    return [(i.decode(), decode(f)) for i, f in r.xrange(STREAM)]


def chain(r, n: int) -> list[tuple[str, dict[str, str]]]:
    for i in range(n):
        audit.record(r, OPS, "test.step", detail={"n": i})
    return entries(r)


def set_head(r, fields: dict[str, str]) -> None:
    r.hset(keys.audit_head(), mapping={"seq": fields["seq"], "hash": fields["hash"]})


def assert_detected(r, anchor_file, reason: str) -> None:
    """Both the domain function and ``qianfa audit verify`` report the attack."""
    result = audit.verify(r, anchor=anchors.newest(anchor_file))
    assert not result.ok and reason in result.problem, result
    done = qianfa("audit", "verify")
    assert done.returncode == 1, done.stdout
    assert done.stdout == ""
    [line] = done.stderr.splitlines()
    assert line.startswith("错误:审计链已被破坏") and reason in line, line


def forge(rows, by: Signer, change) -> list[tuple[str, dict[str, str]]]:
    """Rebuild ``rows`` with ``change`` applied, re-hashed, re-linked and signed by ``by``."""
    forged, prev = [], ""
    for entry_id, fields in rows:
        rec = {**fields, "prev": prev}
        change(rec)
        rec["hash"] = audit.record_hash(rec)
        rec["sig"] = by.sign(rec["hash"])
        forged.append((entry_id, rec))
        prev = rec["hash"]
    return forged


def rebuild(r, rows) -> None:
    r.delete(STREAM)
    for entry_id, fields in rows:
        r.xadd(STREAM, fields, id=entry_id)
    set_head(r, rows[-1][1])


def approve_everything(rec: dict[str, str]) -> None:
    rec["action"], rec["decision"] = "draft.approve", "approve"


# the attacks


def test_the_periodic_anchor_job_alerts_on_a_rolled_back_chain(r, anchor_file):
    """Nobody has to run ``audit verify`` by hand: the next periodic anchor raises an alert."""
    rows = chain(r, 4)
    anchors.anchor(r, anchor_file)
    r.xdel(STREAM, rows[3][0])
    set_head(r, rows[2][1])
    with pytest.raises(anchors.ChainBroken):
        anchor_audit()
    assert [alert.kind for alert in alerts.recent(r)] == ["audit_broken"]


def test_deleting_the_newest_records_and_moving_the_head_back_is_caught(r, anchor_file):
    rows = chain(r, 5)
    anchors.anchor(r, anchor_file)
    r.xdel(STREAM, rows[3][0], rows[4][0])
    set_head(r, rows[2][1])
    assert_detected(r, anchor_file, "末尾的记录被删除,链头被改回(回滚)")


@pytest.mark.parametrize("signature", ["copied", "made-up key"])
def test_appending_a_forged_record_and_updating_the_head_is_caught(r, anchor_file, signature):
    rows = chain(r, 3)
    anchors.anchor(r, anchor_file)
    last = rows[-1][1]
    forged = {**last, "seq": "4", "prev": last["hash"], "at": timestamp(), "person": "P9"}
    approve_everything(forged)
    forged["hash"] = audit.record_hash(forged)
    if signature == "made-up key":
        forged["sig"] = Signer.of([new_key()]).sign(forged["hash"])
    r.xadd(STREAM, forged)
    set_head(r, forged)
    reason = "签名不符" if signature == "copied" else "签名不属于任何已知的审计密钥"
    assert_detected(r, anchor_file, reason)


def test_appending_an_unsigned_old_style_record_is_caught(r, anchor_file):
    rows = chain(r, 3)
    last = rows[-1][1]
    forged = {k: v for k, v in last.items() if k not in ("v", "sig")}
    forged.update(seq="4", prev=last["hash"], at=timestamp())
    forged["hash"] = audit.record_hash(forged)
    r.xadd(STREAM, forged)
    set_head(r, forged)
    assert_detected(r, anchor_file, "签名之后出现未签名的旧版记录")


def test_a_trim_done_straight_in_redis_is_caught(r, anchor_file):
    rows = chain(r, 5)
    anchors.anchor(r, anchor_file)
    r.xtrim(STREAM, minid=rows[3][0], approximate=False)
    r.hset(keys.audit_anchor(), mapping={"seq": rows[2][1]["seq"], "hash": rows[2][1]["hash"]})
    assert_detected(r, anchor_file, "清理是伪造的")


def test_a_forged_trim_after_an_honest_one_is_caught(r, anchor_file):
    """Trimming further and moving the signed trim base (its signature copied) shows."""
    new_start = old_and_new(r, old=3, new=3)
    assert audit.trim(r, OPS, 7, as_of=new_start + timedelta(days=7)) == 3
    anchors.anchor(r, anchor_file)
    kept = entries(r)
    honest = decode(r.hgetall(keys.audit_anchor()))
    r.xtrim(STREAM, minid=kept[-1][0], approximate=False)
    victim = kept[-2]
    moved = {**honest, "seq": victim[1]["seq"], "hash": victim[1]["hash"], "entry": victim[0]}
    r.hset(keys.audit_anchor(), mapping=moved)
    assert_detected(r, anchor_file, "已清理部分的锚点签名不符:清理是伪造的")


@pytest.mark.parametrize("key_id", ["its own", "the real one"])
def test_rebuilding_the_whole_chain_with_a_made_up_key_is_caught(r, anchor_file, key_id):
    rows = chain(r, 4)
    real_kid = next(iter(signer().keys))
    made_up = new_key()
    by = Signer({real_kid: made_up}) if key_id == "the real one" else Signer.of([made_up])
    rebuild(r, forge(rows, by, approve_everything))
    reason = "签名不符" if key_id == "the real one" else "没有一条记录带本机审计密钥的有效签名"
    assert_detected(r, anchor_file, reason)


def test_rebuilding_the_chain_against_an_anchor_is_caught(r, anchor_file):
    """Even a chain that verified before (re-signed here with the real key, as an insider
    with the master key could) no longer matches the anchor written before the rebuild."""
    rows = chain(r, 4)
    anchors.anchor(r, anchor_file)
    rebuild(r, forge(rows, signer(), approve_everything))
    assert_detected(r, anchor_file, "审计链被改写或重建")


def test_wiping_the_chain_is_caught(r, anchor_file):
    chain(r, 3)
    anchors.anchor(r, anchor_file)
    r.delete(STREAM, keys.audit_head(), keys.audit_anchor())
    assert_detected(r, anchor_file, "审计链被清空")


def test_moving_a_record_by_hours_to_hide_it_from_a_dated_export_is_caught(r, anchor_file):
    rows = chain(r, 3)
    ms, part = rows[0][0].split("-")
    moved = [(f"{int(ms) - 3 * HOUR_MS}-{part}", rows[0][1]), *rows[1:]]
    r.delete(STREAM)
    for entry_id, fields in moved:
        r.xadd(STREAM, fields, id=entry_id)
    assert_detected(r, anchor_file, "id 被改动")


def test_editing_the_anchor_file_is_caught(r, anchor_file):
    chain(r, 3)
    anchors.anchor(r, anchor_file)
    line = json.loads(anchor_file.read_text())
    anchor_file.write_text(json.dumps({**line, "seq": "2"}) + "\n")
    done = qianfa("audit", "verify")
    assert done.returncode == 1
    assert "锚点文件被改动" in done.stderr and len(done.stderr.splitlines()) == 1


# anchors are only written over a chain that holds


def test_anchoring_refuses_a_rolled_back_chain_and_writes_nothing(r, anchor_file):
    rows = chain(r, 4)
    anchors.anchor(r, anchor_file)
    written = anchor_file.read_text()
    r.xdel(STREAM, rows[-1][0])
    set_head(r, rows[-2][1])
    done = qianfa("audit", "anchor")
    assert done.returncode == 1
    assert "回滚" in done.stderr and len(done.stderr.splitlines()) == 1
    with pytest.raises(anchors.ChainBroken):
        anchor_audit()
    assert anchor_file.read_text() == written


# the honest case


def test_an_honest_chain_with_periodic_anchors_and_trims_verifies(r, anchor_file):
    """The periodic job anchors between appends (once per new head) and across trims,
    including one that removes the anchored record."""
    new_start = old_and_new(r, old=3, new=2)
    assert anchor_audit() == 5
    assert anchor_audit() == 5  # nothing new: no new line
    assert audit.trim(r, OPS, 7, as_of=new_start + timedelta(days=7)) == 3
    chain(r, 2)
    assert anchor_audit() == 8
    assert audit.trim(r, OPS, 7, as_of=datetime.now(UTC) + timedelta(days=8)) == 5
    done = qianfa("audit", "anchor")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("锚点:第 9 条")
    assert len(anchor_file.read_text().splitlines()) == 3
    assert oct(anchor_file.stat().st_mode & 0o777) == "0o600"
    assert audit.verify(r, anchor=anchors.newest(anchor_file)).ok
    done = qianfa("audit", "verify")
    assert done.returncode == 0, done.stderr
    assert "与最新锚点相符:第 9 条" in done.stdout


def test_the_chain_verifies_across_a_master_key_rotation(r, anchor_file, tmp_path, monkeypatch):
    """The rotation's own record is signed with both keys, so with only the new key loaded
    every earlier record is still vouched for; old anchors are passed over."""
    key_file = tmp_path / "keys" / "master.key"
    masterkey.create_key_file(key_file, new_key())
    monkeypatch.setenv("QIANFA_MASTER_KEY_FILE", str(key_file))
    get_settings.cache_clear()
    chain(r, 3)
    anchors.anchor(r, anchor_file)
    old_kid = next(iter(signer().keys))
    credentials.rotate_master_key(r, get_settings(), OPS)
    assert old_kid not in signer().keys
    [rotation] = [rec for _, rec in entries(r) if rec["action"] == "credentials.rotate_master_key"]
    assert len(rotation["sig"].split()) == 2
    assert anchors.newest(anchor_file) is None
    assert audit.verify(r) == audit.Verification(True, 4)
    assert anchors.anchor(r, anchor_file).seq == 4
    done = qianfa("audit", "verify")
    assert done.returncode == 0, done.stderr


# verify never starts an embedded Redis just to find nothing


@pytest.mark.parametrize("anchored", [False, True])
def test_verify_without_redis_data_says_so_and_starts_no_embedded_redis(
    r, tmp_path, monkeypatch, anchored
):
    """No QIANFA_REDIS_URL and no embedded database: verify looks no further, and with
    anchors on record that is a wiped chain."""
    instance, anchor_path = tmp_path / "instance", tmp_path / "anchors"
    key = base64.urlsafe_b64encode(new_key()).decode()
    if anchored:
        monkeypatch.setenv("QIANFA_MASTER_KEY", key)
        monkeypatch.setenv("QIANFA_AUDIT_ANCHOR_FILE", str(anchor_path))
        get_settings.cache_clear()
        chain(r, 2)
        anchors.anchor(r, anchor_path)
        get_settings.cache_clear()
    env = {
        "QIANFA_REDIS_URL": "",
        "QIANFA_INSTANCE_DIR": str(instance),
        "QIANFA_MASTER_KEY": key,
        "QIANFA_AUDIT_ANCHOR_FILE": str(anchor_path),
    }
    done = qianfa("audit", "verify", env=env)
    assert done.returncode == 1 and len(done.stderr.splitlines()) == 1, done.stderr
    assert ("审计链被清空" if anchored else "没有任何审计记录,也没有锚点") in done.stderr
    assert not (instance / "qianfa.rdb").exists()
    assert not (instance / "appendonlydir").exists()


EMBEDDED_RUN = """
import sys
from pathlib import Path
import redis
from app.core import audit
from app.core.redis import embedded_url
client = redis.Redis.from_url(embedded_url(Path(sys.argv[1])))
audit.record(client, audit.Actor.system("test"), "platform.create", platform="p1")
print("ready", flush=True)
sys.stdin.read()
"""


def test_verify_finds_the_chain_of_a_running_embedded_redis(tmp_path):
    """While `make run` runs on the embedded Redis, `qianfa audit verify` checks its chain."""
    instance = tmp_path / "instance"
    key = base64.urlsafe_b64encode(new_key()).decode()
    env = {
        **os.environ,
        "QIANFA_REDIS_URL": "",
        "QIANFA_INSTANCE_DIR": str(instance),
        "QIANFA_MASTER_KEY": key,
        "QIANFA_AUDIT_ANCHOR_FILE": str(tmp_path / "anchors"),
    }
    running = subprocess.Popen(
        [sys.executable, "-c", EMBEDDED_RUN, str(instance)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert running.stdout.readline().strip() == "ready"
        done = qianfa("audit", "verify", env=env)
    finally:
        running.communicate("", timeout=30)
    assert done.returncode == 0, done.stderr
    assert "审计链完整:共核验 1 条记录" in done.stdout


# the console verifies only what is new, and shows an attack


def console_session(base: str, person: str) -> requests.Session:
    session = requests.Session()
    page = session.get(f"{base}/console/signin", timeout=10).text
    form = {"person": person, "password": PASSWORD, "csrf": csrf_of(page)}
    signed = session.post(f"{base}/console/signin", data=form, timeout=10, allow_redirects=False)
    assert signed.status_code == 302
    return session


def test_the_console_verifies_incrementally_and_shows_a_rollback(r, anchor_file):
    w = world(r)
    with_password(r, w.propaganda)
    with serve(create_app(load_settings())) as base:
        session = console_session(base, w.propaganda)
        first = session.get(f"{base}/console/audit", timeout=10).text
        assert "审计链校验通过" in first
        marked = decode(r.hgetall(keys.audit_verified()))
        assert int(marked["seq"]) == audit.head(r)[0]
        chain(r, 2)
        again = session.get(f"{base}/console/audit", timeout=10).text
        assert "本次核验 2 条新记录" in again
        anchors.anchor(r, anchor_file)
        rows = entries(r)
        r.xdel(STREAM, rows[-1][0])
        set_head(r, rows[-2][1])
        tampered = session.get(f"{base}/console/audit", timeout=10).text
        assert "审计链校验失败" in tampered and "回滚" in tampered
