import codecs
import csv
import io
import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

import app.cli  # noqa: F401  (registers every command group on the qianfa CLI)
from app.cli import cli
from app.cli.audit import parse_time
from app.core import audit, keys
from app.core.auditseal import checkpoint, signer
from app.core.settings import get_settings
from app.core.store import decode
from app.core.validate import CHINA_TIME as BEIJING
from tests.conftest import wait_until
from tests.factories import store_not_utf8
from workers.jobs import trim_audit

STREAM = keys.audit_stream()
OPS = audit.Actor.cli("ops")
ALICE = audit.Actor(via="wechat", person="P1", openid="o-alice")
BOB = audit.Actor(via="wechat", person="P2", openid="o-bob")
# Six records in three batches; each batch starts in a later millisecond of Redis's clock.
HISTORY = (
    (
        (ALICE, "draft.submit", {"platform": "jwc", "draft": "D1"}),
        (BOB, "draft.approve", {"platform": "jwc", "draft": "D1", "decision": "approve"}),
    ),
    (
        (ALICE, "draft.submit", {"platform": "xsc", "draft": "D42"}),
        (OPS, "platform.create", {"platform": "xsc", "reason": "新设平台"}),
    ),
    (
        (BOB, "draft.approve", {"platform": "xsc", "draft": "D42", "decision": "approve"}),
        (ALICE, "draft.publish", {"platform": "xsc", "draft": "D42"}),
    ),
)


def run(*args: str):
    """Run ``qianfa`` as an operator would, through the real command group."""
    return CliRunner().invoke(cli, list(args))


def entries(r) -> list[tuple[str, dict[str, str]]]:
    return [(i.decode(), decode(f)) for i, f in r.xrange(STREAM)]


def seqs(rows) -> list[int]:
    return [int(fields["seq"]) for _, fields in rows]


def chain(r, n: int) -> list[tuple[str, dict[str, str]]]:
    """Append ``n`` records, each in its own atomic change, and return the stream."""
    for i in range(n):
        audit.record(r, OPS, "test.step", detail={"n": i})
    return entries(r)


def rebuild(r, rows) -> None:
    """Replace the stream by ``rows`` at their explicit ids, as anyone with Redis access could."""
    r.delete(STREAM)
    for entry_id, fields in rows:
        r.xadd(STREAM, fields, id=entry_id)


def entry_time(entry_id: str) -> datetime:
    return audit.EPOCH + timedelta(milliseconds=int(entry_id.split("-")[0]))


def earlier(entry_id: str, *, days: int) -> str:
    """The stream id ``days`` before ``entry_id``, same sequence part."""
    ms, part = entry_id.split("-")
    return f"{int(ms) - days * 86_400_000}-{part}"


def next_millisecond(r) -> None:
    """Wait until Redis's clock has passed the newest id, so the next append is later in time."""
    newest = int(r.xrevrange(STREAM, count=1)[0][0].split(b"-")[0])

    def moved_on():
        seconds, micros = r.time()
        return seconds * 1000 + micros // 1000 > newest

    wait_until(moved_on, interval=0, message="the Redis clock to pass the newest id")


def old_and_new(r, old: int = 3, new: int = 2) -> datetime:
    """Append ``old`` records, then ``new`` a millisecond later; return when the new ones start."""
    chain(r, old)
    next_millisecond(r)
    for i in range(new):
        audit.record(r, OPS, "test.new", detail={"n": i})
    return entry_time(entries(r)[old][0])


@pytest.fixture
def retention(monkeypatch):
    """Set QIANFA_AUDIT_RETENTION_DAYS for this test; settings are re-read afterwards."""

    def set_days(days: int) -> None:
        monkeypatch.setenv("QIANFA_AUDIT_RETENTION_DAYS", str(days))
        get_settings.cache_clear()

    yield set_days
    get_settings.cache_clear()


@pytest.fixture
def history(r) -> dict[int, datetime]:
    """Record HISTORY and return each record's time (its stream id) by sequence number."""
    for number, batch in enumerate(HISTORY):
        if number:
            next_millisecond(r)
        for actor, action, fields in batch:
            audit.record(r, actor, action, **fields)
    return {int(fields["seq"]): entry_time(entry_id) for entry_id, fields in entries(r)}


def exported(fmt: str, *options: str) -> list[int]:
    """Export through the CLI and return the sequence numbers written to stdout."""
    result = run("audit", "export", "--format", fmt, *options)
    assert result.exit_code == 0, result.output
    rows = parse(fmt, result.stdout)
    assert result.stderr == f"已导出 {len(rows)} 条审计记录。\n"
    return [int(row["seq"]) for row in rows]


def parse(fmt: str, text: str) -> list[dict[str, str]]:
    if fmt == "csv":
        return list(csv.DictReader(io.StringIO(text, newline="")))
    return [json.loads(line) for line in text.splitlines()]


def assert_verify_names(entry: str, seq: int, reason: str) -> None:
    """``qianfa audit verify`` exits 1 naming ``entry`` (``seq``) as the first bad record."""
    result = run("audit", "verify")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert f"第一条异常记录:{entry}(第 {seq} 条)" in result.stderr
    assert reason in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


# verify


def test_chain_of_records_verifies(r):
    """Records appended one by one verify; the CLI reports how many, that no anchor exists
    yet, and the head."""
    chain(r, 5)
    assert audit.verify(r) == audit.Verification(True, 5)
    result = run("audit", "verify")
    assert result.exit_code == 0
    seq, digest = audit.head(r)
    assert (seq, len(digest)) == (5, 64)
    lines = result.stdout.splitlines()
    assert lines[0] == "审计链完整:共核验 5 条记录。"
    assert lines[1].startswith("尚无锚点:") and "qianfa audit anchor" in lines[1]
    assert lines[2] == f"链头:第 5 条,哈希 {digest}"


def test_empty_trail_without_anchors_says_so_and_fails(r):
    """With no record and no anchor there is nothing to vouch for: one line, exit 1."""
    result = run("audit", "verify")
    assert result.exit_code == 1
    assert result.stderr == "错误:没有任何审计记录,也没有锚点:无从核验(Redis 是否配置正确?)\n"


def test_edited_record_is_named(r):
    """Changing one field of a record in Redis names that record."""
    rows = chain(r, 5)
    rows[2][1]["reason"] = "事后补写的理由"
    rebuild(r, rows)
    assert_verify_names(rows[2][0], 3, "记录内容与其哈希不符")


def test_edited_and_rehashed_record_is_named(r):
    """An edit whose own hash was recomputed is named by its signature, which no longer fits."""
    rows = chain(r, 5)
    rows[2][1]["decision"] = "approve"
    rows[2][1]["hash"] = audit.record_hash(rows[2][1])
    rebuild(r, rows)
    assert_verify_names(rows[2][0], 3, "签名不符")


def test_deleted_middle_record_is_named(r):
    """Deleting a record in the middle names the record after the gap and the missing number."""
    rows = chain(r, 5)
    r.xdel(STREAM, rows[2][0])
    assert_verify_names(rows[3][0], 4, "第 3 条缺失")


def test_deleted_last_record_is_named(r):
    """Deleting the newest record names its number, which is no longer in the stream."""
    rows = chain(r, 5)
    r.xdel(STREAM, rows[-1][0])
    result = run("audit", "verify")
    assert result.exit_code == 1
    assert "第一条异常记录:第 5 条(已不在流中)" in result.stderr
    assert "末尾的记录被删除" in result.stderr
    assert rows[3][0] in result.stderr


def test_forged_record_inserted_between_two_is_named(r):
    """A record inserted between two, with a valid hash of its own, is named."""
    rows = chain(r, 5)
    # Consecutive appends often share a millisecond, leaving no id free between them; the
    # same records 10 ms apart are still an intact chain, since ids are not hashed.
    base = int(rows[0][0].split("-")[0])
    rows = [(f"{base + 10 * i}-0", fields) for i, (_, fields) in enumerate(rows)]
    rebuild(r, rows)
    assert audit.verify(r).ok
    forged = {**rows[2][1], "seq": "4", "prev": rows[2][1]["hash"], "person": "P9"}
    forged["action"], forged["decision"] = "draft.approve", "approve"
    forged["hash"] = audit.record_hash(forged)
    forged_id = f"{base + 25}-0"
    rebuild(r, [*rows[:3], (forged_id, forged), *rows[3:]])
    assert_verify_names(forged_id, 4, "签名不符")


def test_forged_record_with_a_bad_hash_is_named(r):
    """A clumsily forged record (hash not recomputed) is named at once."""
    rows = chain(r, 3)
    forged = {**rows[1][1], "action": "draft.approve"}
    r.xadd(STREAM, forged)
    assert_verify_names(entries(r)[-1][0], 2, "记录内容与其哈希不符")


def test_reordered_records_are_named(r):
    """Swapping the contents of two records (ids kept) names the first of the two."""
    rows = chain(r, 5)
    (first, a), (second, b) = rows[1], rows[2]
    rows[1], rows[2] = (first, b), (second, a)
    rebuild(r, rows)
    assert_verify_names(first, 3, "序号应为 2,实为 3")


def test_record_appended_past_the_head_is_named(r):
    """A well-formed record added straight to the stream, bypassing the head, is named."""
    rows = chain(r, 3)
    forged = {**rows[-1][1], "seq": "4", "prev": rows[-1][1]["hash"], "action": "draft.publish"}
    forged["hash"] = audit.record_hash(forged)
    forged_id = r.xadd(STREAM, forged).decode()
    assert_verify_names(forged_id, 4, "签名不符")


def test_record_moved_in_time_is_named(r):
    """Moving records to older stream ids (to have them trimmed early) is caught."""
    rows = chain(r, 3)
    moved = [(earlier(entry_id, days=30), fields) for entry_id, fields in rows]
    rebuild(r, moved)
    assert_verify_names(moved[0][0], 1, "id 被改动")


def test_verify_during_appends_reports_no_tampering(r):
    """Records appended while verify walks the stream never look like tampering."""
    done = threading.Event()

    def append_many():
        for i in range(100):
            audit.record(r, OPS, "test.busy", detail={"n": i})
        done.set()

    with ThreadPoolExecutor(1) as pool:
        appending = pool.submit(append_many)
        results = [audit.verify(r)]
        while not done.is_set():
            results.append(audit.verify(r))
        appending.result()
    assert all(result.ok for result in results), [x for x in results if not x.ok][:1]
    assert audit.verify(r) == audit.Verification(True, 100)


def test_concurrent_appends_form_one_chain(r):
    """8 threads appending 25 records each give one chain with consecutive numbers."""
    start = threading.Barrier(8, timeout=10)

    def append_25(thread: int) -> None:
        start.wait()
        for n in range(25):
            audit.record(r, audit.Actor.system(f"t{thread}"), "test.concurrent", detail={"n": n})

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(append_25, range(8)))
    rows = entries(r)
    assert seqs(rows) == list(range(1, 201))
    assert audit.verify(r) == audit.Verification(True, 200)
    written = sorted((f["operator"], json.loads(f["detail"])["n"]) for _, f in rows)
    assert written == sorted((f"t{t}", n) for t in range(8) for n in range(25))


# verify, a batch at a time


def spaced_chain(r, n: int) -> list[tuple[str, dict[str, str]]]:
    """``n`` records at ids 10 ms apart, so a record can be put between any two."""
    rows = chain(r, n)
    base = int(rows[0][0].split("-")[0])
    rows = [(f"{base + 10 * i}-0", fields) for i, (_, fields) in enumerate(rows)]
    rebuild(r, rows)
    return rows


def signed_copy(fields: dict[str, str], **changes: str) -> dict[str, str]:
    """A record changed and re-signed: what only someone holding the audit key could write."""
    forged = {**fields, **changes}
    forged["hash"] = audit.record_hash(forged)
    forged["sig"] = signer().sign(forged["hash"])
    return forged


def edit(rows):
    rows[4][1]["reason"] = "事后补写"
    return rows


def rehash(rows):
    rows[5][1]["person"] = "P9"
    rows[5][1]["hash"] = audit.record_hash(rows[5][1])
    return rows


def swap(rows):
    rows[3], rows[4] = (rows[3][0], rows[4][1]), (rows[4][0], rows[3][1])
    return rows


def drop(rows):
    return rows[:4] + rows[5:]


def insert_signed(rows):
    """A validly signed record put between records 3 and 4, with record 4's number: only the
    record after it shows it (it links past the intruder), across a batch boundary here."""
    intruder = signed_copy(rows[3][1], seq="4", prev=rows[2][1]["hash"], person="P9")
    intruder_id = f"{int(rows[2][0].split('-')[0]) + 5}-0"
    return [*rows[:3], (intruder_id, intruder), *rows[3:]]


def move_in_time(rows):
    rows[6] = (earlier(rows[6][0], days=1).replace("-0", "-1"), rows[6][1])
    return sorted(rows, key=lambda row: tuple(map(int, row[0].split("-"))))


@pytest.mark.parametrize("tamper", [edit, rehash, swap, drop, insert_signed, move_in_time])
def test_batches_name_the_same_fault_as_a_walk_record_by_record(r, monkeypatch, tamper):
    """Verify vouches for whole batches the fast way and walks only a batch it cannot vouch
    for, carrying the two records before it: a fault lands on the same record, with the
    same reason, whether the chain is one batch or many (batches of 2 and of 3)."""
    rebuild(r, tamper(spaced_chain(r, 9)))
    whole = audit.verify(r)
    assert not whole.ok
    for size in (2, 3):
        monkeypatch.setattr(audit, "BATCH", size)
        assert audit.verify(r) == whole


def test_text_of_every_kind_verifies(r, monkeypatch):
    """Quotes, backslashes, control characters, Chinese and characters beyond the BMP verify,
    in batches and one by one, and an edit to any of them is still named."""
    texts = ('他说"同意"', "C:\\审稿\\", "第一行\n第二行\t\x01", "签发 ✅ 𠮷", "", "%s{}")
    for text in texts:
        audit.record(r, OPS, "test.text", reason=text, detail={"说明": text, text: [text]})
    for size in (1000, 2):
        monkeypatch.setattr(audit, "BATCH", size)
        assert audit.verify(r) == audit.Verification(True, len(texts))
    rows = entries(r)
    rows[3][1]["reason"] = "签发 ✅ 𠮶"
    rebuild(r, rows)
    assert_verify_names(rows[3][0], 4, "记录内容与其哈希不符")


def test_untouched_chain_is_vouched_for_without_a_walk_record_by_record(r, monkeypatch):
    """What makes verify fast: records as ``append`` writes them (quotes, backslashes and
    Chinese included) are checked batch by batch, never one by one."""
    for text in ('他说"同意"', "C:\\审稿\\", "签发 ✅"):
        audit.record(r, OPS, "test.text", reason=text, detail={"说明": text})
    chain(r, 5)

    def one_by_one(*args):
        raise AssertionError("a good batch was walked record by record")

    monkeypatch.setattr(audit, "_fault", one_by_one)
    monkeypatch.setattr(audit, "BATCH", 3)
    assert audit.verify(r) == audit.Verification(True, 8)


def side_by_side(monkeypatch) -> list[list]:
    """Make ``verify`` check even a short chain in two runs side by side; the runs each
    verify's processes report are appended to the list returned."""
    monkeypatch.setattr(audit, "PARALLEL_FROM", 2)
    monkeypatch.setattr(audit, "MAX_WORKERS", 2)
    monkeypatch.setattr(audit.os, "cpu_count", lambda: 2)
    # Another test's thread may still be ending; this one's threads all are joined.
    monkeypatch.setattr(audit.threading, "active_count", lambda: 1)
    monkeypatch.setattr(audit, "BATCH", 2)
    seen, join = [], audit._join

    def spied(runs, start):
        seen.append(runs)
        return join(runs, start)

    monkeypatch.setattr(audit, "_join", spied)
    return seen


def test_a_long_chain_is_vouched_for_in_runs_side_by_side(r, monkeypatch):
    """Past ``PARALLEL_FROM`` records, two processes each vouch for half the chain (in
    batches) and the halves are joined: the verdict and the checkpoint are the walk's."""
    spaced_chain(r, 9)
    whole = audit.verify(r)
    seen = side_by_side(monkeypatch)
    halves = audit.verify(r)
    assert halves == whole == audit.Verification(True, 9)
    assert halves.tail == whole.tail and halves.signed
    assert [run.checked for run in seen[0]] == [4, 5]


def test_runs_side_by_side_start_after_a_checkpoint(r, monkeypatch):
    """From a checkpoint verified before, the runs split what follows it and the first
    run is joined to the checkpoint's record."""
    rows = spaced_chain(r, 9)
    since = checkpoint(2, rows[1][1]["hash"], rows[1][0])
    whole = audit.verify(r, since=since)
    seen = side_by_side(monkeypatch)
    assert audit.verify(r, since=since) == whole == audit.Verification(True, 7)
    assert sum(run.checked for run in seen[0]) == 7


def die_in_child(span, head_seq) -> None:
    os._exit(9)  # as a child killed by the OOM killer


def test_a_run_whose_process_is_killed_is_walked_in_this_process(r, monkeypatch):
    """A child killed mid-run (the OOM killer) breaks the pool; verify walks it all itself."""
    spaced_chain(r, 9)
    seen = side_by_side(monkeypatch)
    monkeypatch.setattr(audit, "_run", die_in_child)
    assert audit.verify(r) == audit.Verification(True, 9)
    assert seen == []  # nothing was joined: the walk did it all


def test_a_short_chain_is_walked_in_this_process(r, monkeypatch):
    """Below ``PARALLEL_FROM`` records, starting processes would cost more than they save."""
    chain(r, 3)
    monkeypatch.setattr(audit, "_spans", None)  # called only to split the chain into runs
    assert audit.verify(r) == audit.Verification(True, 3)


def test_a_changed_record_in_the_second_run_is_named_as_the_walk_names_it(r, monkeypatch):
    """The first run is vouched for, the second is not: the walk takes over after the
    first and names the record the walk of the whole chain names."""
    rows = edit(spaced_chain(r, 9))
    rebuild(r, rows)
    whole = audit.verify(r)
    seen = side_by_side(monkeypatch)
    assert audit.verify(r) == whole
    assert (whole.bad_entry, whole.bad_seq) == (rows[4][0], 5)
    first, second = seen[0]
    assert first.checked == 4 and second is None


@pytest.mark.parametrize("tamper", [edit, rehash, swap, drop, insert_signed, move_in_time])
def test_runs_side_by_side_name_the_same_fault_as_one_walk(r, monkeypatch, tamper):
    """Whatever the tampering, and wherever it moves the split, the runs joined and the walk
    after them name the fault the walk of the whole chain names, with the same count."""
    rebuild(r, tamper(spaced_chain(r, 9)))
    whole = audit.verify(r)
    seen = side_by_side(monkeypatch)
    assert audit.verify(r) == whole
    assert seen and all(len(runs) == 2 for runs in seen)


def test_bytes_that_are_not_utf8_are_named_not_a_crash(r):
    """A record given a byte UTF-8 never has (the fast check's stand-in for its template's
    quotes) is named as changed, in one line, where verify used to stop with a traceback."""
    rows = spaced_chain(r, 3)
    raw = {k.encode(): v.encode() for k, v in rows[1][1].items()}
    raw[b"action"] += b"\xff"
    r.delete(STREAM)
    for entry_id, fields in rows:
        r.xadd(STREAM, raw if fields is rows[1][1] else fields, id=entry_id)
    assert_verify_names(rows[1][0], 2, "记录含有非 UTF-8 字节")


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_a_record_that_is_not_utf8_is_exported_marked_not_a_crash(r, fmt):
    """``audit export`` used to stop with a traceback on such a record: it writes every
    record, that one with its bytes as \\xNN and the field that held them named."""
    for action in ("test.before", "test.damaged", "test.after"):
        audit.record(r, OPS, action, reason="退回")
    damaged = store_not_utf8(r, "test.damaged")
    result = run("audit", "export", "--format", fmt)
    assert result.exit_code == 0, result.output
    rows = parse(fmt, result.stdout)
    assert [row["action"] for row in rows] == ["test.before", "test.damaged", "test.after"]
    assert (rows[1]["id"], rows[1]["reason"], rows[1]["not_utf8"]) == (
        damaged,
        "退回\\xff\\xfe",
        "reason",
    )
    assert [rows[0].get("not_utf8", ""), rows[2].get("not_utf8", "")] == ["", ""]


# export

FILTERS = {
    "platform": (["--platform", "XSC"], [3, 4, 5, 6]),
    "person": (["--person", "p1"], [1, 3, 6]),
    "draft": (["--draft", "d42"], [3, 5, 6]),
    "action": (["--action", "draft.approve"], [2, 5]),
    "platform and person": (["--platform", "xsc", "--person", "Ｐ２"], [5]),
    "none": ([], [1, 2, 3, 4, 5, 6]),
}


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
@pytest.mark.parametrize("options, expected", FILTERS.values(), ids=FILTERS.keys())
def test_export_filters(history, fmt, options, expected):
    """Each filter (short ids in any case) exports exactly the matching records, in order."""
    assert exported(fmt, *options) == expected


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_export_time_range(history, fmt):
    """--since is inclusive and --until exclusive, to the millisecond of the stream id."""
    second, third = history[3], history[5]
    assert exported(fmt, "--since", second.isoformat(), "--until", third.isoformat()) == [3, 4]
    assert exported(fmt, "--since", third.isoformat()) == [5, 6]
    assert exported(fmt, "--until", second.isoformat()) == [1, 2]


def test_export_time_forms(history):
    """Zoneless times are Beijing time, zones count, and a bare --until date covers the day."""
    second = history[3]
    no_zone = second.astimezone(BEIJING).replace(tzinfo=None).isoformat()
    utc = second.astimezone(UTC).isoformat()
    assert exported("jsonl", "--since", no_zone) == [3, 4, 5, 6]
    assert exported("jsonl", "--since", utc) == [3, 4, 5, 6]
    first_day = history[1].astimezone(BEIJING).date().isoformat()
    last_day = history[6].astimezone(BEIJING).date().isoformat()
    assert exported("jsonl", "--since", first_day, "--until", last_day) == [1, 2, 3, 4, 5, 6]
    day_after = (history[6].astimezone(BEIJING).date() + timedelta(days=1)).isoformat()
    assert exported("jsonl", "--since", day_after) == []


def test_parse_time_reads_iso_forms_as_beijing_time():
    """ISO dates and times are Beijing time (UTC+8) unless they carry a zone."""
    assert parse_time("2026-11-01", "--since") == datetime(2026, 11, 1, tzinfo=BEIJING)
    until = parse_time("2026-11-01", "--until", end_of_day=True)
    assert until == datetime(2026, 11, 2, tzinfo=BEIJING)
    assert parse_time("2026-11-01T08:00:00", "--since") == datetime(2026, 11, 1, tzinfo=UTC)
    assert parse_time("2026-11-01T08:00:00+00:00", "--since") == datetime(
        2026, 11, 1, 8, tzinfo=UTC
    )


def test_export_jsonl_is_the_stream_verbatim(history, r):
    """A JSONL export carries every field of every record plus its stream id."""
    result = run("audit", "export", "--format", "jsonl")
    assert parse("jsonl", result.stdout) == [{"id": i, **f} for i, f in entries(r)]


def test_export_to_a_csv_file_excel_can_open(history, tmp_path):
    """--out writes the file (CSV with a UTF-8 BOM for Excel) and nothing to stdout."""
    out = tmp_path / "audit.csv"
    result = run("audit", "export", "--format", "CSV", "--draft", "D42", "--out", str(out))
    assert result.exit_code == 0
    assert result.stdout == ""
    assert result.stderr == "已导出 3 条审计记录。\n"
    raw = out.read_bytes()
    assert raw.startswith(codecs.BOM_UTF8)
    rows = parse("csv", raw.decode("utf-8-sig"))
    assert [row["seq"] for row in rows] == ["3", "5", "6"]
    assert rows[1]["person"] == "P2" and rows[1]["decision"] == "approve"


@pytest.mark.parametrize(
    "options",
    [
        ["--since", "2026-13-01"],
        ["--until", "昨天"],
        ["--since", "2026-11-02", "--until", "2026-11-01"],
        ["--draft", "X42"],
        ["--person", "P"],
    ],
)
def test_export_bad_input_is_one_chinese_line(r, options):
    """A malformed time or id stops the export with one line in Chinese and exit 1."""
    result = run("audit", "export", *options)
    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("错误:")


# trim


def test_trim_removes_only_records_older_than_retention(r):
    """Trim removes the records older than the retention, records itself, and still verifies."""
    new_start = old_and_new(r, old=3, new=2)
    assert audit.trim(r, OPS, 7, as_of=new_start + timedelta(days=7)) == 3
    rows = entries(r)
    assert seqs(rows) == [4, 5, 6]
    assert rows[-1][1]["action"] == "audit.trim"
    assert json.loads(rows[-1][1]["detail"])["removed"] == 3
    assert audit.verify(r) == audit.Verification(True, 3)
    assert run("audit", "verify").exit_code == 0


def test_trim_again_and_trim_everything_still_verify(r):
    """Successive trims, up to removing every record, leave a chain that verifies."""
    new_start = old_and_new(r, old=3, new=2)
    audit.trim(r, OPS, 7, as_of=new_start + timedelta(days=7))
    assert audit.trim(r, OPS, 7, as_of=datetime.now(UTC) + timedelta(days=8)) == 3
    rows = entries(r)
    assert seqs(rows) == [7]
    assert json.loads(rows[0][1]["detail"])["removed"] == 3
    assert audit.verify(r) == audit.Verification(True, 1)


def test_trim_with_retention_zero_keeps_everything(r):
    """Retention 0 means no policy: nothing is removed, however old."""
    rows = chain(r, 4)
    assert audit.trim(r, OPS, 0, as_of=datetime.now(UTC) + timedelta(days=3650)) == 0
    assert entries(r) == rows


def test_trim_command_applies_retention_from_settings(r, retention, monkeypatch):
    """``qianfa audit trim`` removes what the configured retention says, as of now."""
    new_start = old_and_new(r, old=3, new=2)
    retention(7)
    monkeypatch.setattr(audit, "now", lambda: new_start + timedelta(days=7))
    result = run("audit", "trim")
    assert result.exit_code == 0, result.output
    assert result.stdout == "保留期限 7 天:已删除 3 条更早的审计记录。\n"
    trimmed = entries(r)[-1][1]
    assert (trimmed["action"], trimmed["via"]) == ("audit.trim", "cli")
    assert run("audit", "verify").exit_code == 0


def test_trim_command_with_retention_zero_says_it_keeps_everything(r, retention, monkeypatch):
    """With retention 0 the command removes nothing and says everything is kept."""
    rows = chain(r, 3)
    retention(0)
    monkeypatch.setattr(audit, "now", lambda: datetime.now(UTC) + timedelta(days=3650))
    result = run("audit", "trim")
    assert result.exit_code == 0
    assert "保留全部记录" in result.stdout
    assert entries(r) == rows


def test_trim_job_applies_retention_from_settings(r, retention, monkeypatch):
    """The worker job trim_audit removes the records the configured retention says."""
    new_start = old_and_new(r, old=3, new=2)
    retention(7)
    monkeypatch.setattr(audit, "now", lambda: new_start + timedelta(days=7))
    assert trim_audit() == 3
    assert seqs(entries(r)) == [4, 5, 6]
    trimmed = entries(r)[-1][1]
    assert (trimmed["via"], trimmed["operator"]) == ("system", "worker")
    assert audit.verify(r).ok


def test_trim_job_with_retention_zero_removes_nothing(r, retention, monkeypatch):
    """With retention 0 the worker job removes nothing."""
    rows = chain(r, 3)
    retention(0)
    monkeypatch.setattr(audit, "now", lambda: datetime.now(UTC) + timedelta(days=3650))
    assert trim_audit() == 0
    assert entries(r) == rows


def test_csv_export_defuses_spreadsheet_formulas(r):
    """A reason that looks like a formula is exported as text, so Excel does not run it."""
    reason = '=HYPERLINK("http://evil.example","点我")'
    audit.record(r, OPS, "draft.reject", reason=reason)
    out = io.StringIO()
    audit.write_csv(audit.records(r), out)
    [row] = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert row["reason"] == "'" + reason


def test_csv_export_shows_beijing_time_with_its_offset(r):
    stored = audit.record(r, OPS, "draft.reject", reason="测试")["at"]
    out = io.StringIO()
    audit.write_csv(audit.records(r), out)
    [row] = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert row["at"].endswith("+08:00")
    assert datetime.fromisoformat(row["at"]) == datetime.fromisoformat(stored)
