"""Lexicon upkeep (词库维护): the lists of the screening directory changed by people, audited.

The files stay the one store of the lexicons: every process reads them on each use and
reloads a changed one (``lexicons.load``), so a change written here is what the next
screening in any process uses, and it survives a restart. A list is written whole to a
temporary file and renamed over the old one, so a reader sees the old list or the new one.
Its audit record and its entry in the version history (``keys.lexicon_history``: the new
version hash, when, who, what changed) follow in one transaction, and the old file is put
back if that fails. One lease lets one change run at a time, from the console or the CLI.
Only the propaganda department (or the operator at the server's shell) changes a list.
"""

import dataclasses
import json
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import redis

from app.core import audit, keys
from app.core.errors import Conflict, InvalidInput, Unavailable
from app.core.lease import Lease
from app.core.store import Tx, atomically, timestamp
from app.registry import access
from app.screening import expressions, leaders, lexicons, textfiles
from app.screening.categories import CATEGORIES, CORRECTIONS
from app.screening.normalize import normalize_term

TERMS, RULES, LEADERS = "terms", "rules", "leaders"
LEASE_SECONDS = 30
IN_RECORD = 20  # entries named in an audit record; the counts are always complete
MAX_ENTRY = 300  # characters of one line (a rule with its note)
HISTORY_SHOWN = 50


@dataclass(frozen=True)
class Target:
    """One list: a category's terms or its whitelist, a rule file, or the leaders' table."""

    name: str
    allow: bool = False

    @property
    def kind(self) -> str:
        if self.name == LEADERS:
            return LEADERS
        return RULES if self.name in expressions.RULE_KINDS else TERMS

    @property
    def filename(self) -> str:
        if self.kind == LEADERS:
            return leaders.LEADERS_FILE
        if self.kind == RULES:
            return self.name + expressions.RULE_SUFFIX
        return self.name + (lexicons.ALLOW_SUFFIX if self.allow else ".txt")

    @property
    def title_zh(self) -> str:
        if self.kind == LEADERS:
            return "领导名单"
        if self.kind == RULES:
            return CORRECTIONS[self.name].name_zh
        return CATEGORIES[self.name].name_zh + ("白名单" if self.allow else "词库")


def target(name: str, *, allow: bool = False) -> Target:
    """The list called ``name`` (a category, a rule kind or ``leaders``); refused if none."""
    name = (name or "").strip()
    if name not in CATEGORIES and name not in expressions.RULE_KINDS and name != LEADERS:
        raise InvalidInput(f"没有「{name[:40]}」这个词库(可用类别、规范表述种类或 leaders)")
    if allow and name not in CATEGORIES:
        raise InvalidInput("只有类别的词库有白名单")
    return Target(name, allow)


def all_targets() -> list[Target]:
    """Every list a deployment may keep, in the order the console shows them."""
    found = [Target(c, allow) for c in CATEGORIES for allow in (False, True)]
    return found + [Target(k) for k in expressions.RULE_KINDS] + [Target(LEADERS)]


@dataclass(frozen=True)
class Line:
    """One entry of a list (comments and blank lines aside), with its line number."""

    number: int
    text: str


@dataclass(frozen=True)
class Change:
    """What one change did: the directory's versions around it, entries added and removed."""

    target: Target
    before: str
    after: str
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    encoding: str = ""

    @property
    def changed(self) -> bool:
        return self.before != self.after

    def summary_zh(self) -> str:
        said = f"{self.target.title_zh}:新增 {len(self.added)} 条,删除 {len(self.removed)} 条"
        if self.skipped:
            said += f",跳过 {len(self.skipped)} 行"
        return said + (f",词库版本 {self.after}" if self.changed else ",没有变化")


def directory() -> Path:
    from app.core.settings import get_settings

    return get_settings().screening_dir


def entries(tgt: Target) -> list[Line]:
    """The list's entries as stored."""
    return [line for line in _lines(_text_of(directory() / tgt.filename)) if _is_entry(line.text)]


def search(tgt: Target, query: str) -> list[Line]:
    """Entries containing ``query`` as screening sees text (full width, traditional folded)."""
    wanted = normalize_term(query or "")
    found = entries(tgt)
    return [line for line in found if wanted in normalize_term(line.text)] if wanted else found


def export(tgt: Target) -> bytes:
    """The list's file as stored (UTF-8), comments included; empty when there is none."""
    path = directory() / tgt.filename
    return path.read_bytes() if path.exists() else b""


def edit(
    r: redis.Redis,
    actor: audit.Actor,
    tgt: Target,
    *,
    add: Iterable[str] = (),
    remove: Iterable[str] = (),
) -> Change:
    """Add and remove entries of one list: the one way a person changes a term or a whitelist.

    A line to add that cannot be an entry, or is already there, and one to remove that
    is not there, refuse the whole change with the reason.
    """
    add = [a.strip() for a in add if a.strip()]
    remove = [x.strip() for x in remove if x.strip()]
    if not add and not remove:
        raise InvalidInput("请填写要添加或删除的词条", field="entry")

    def compute(old: list[str]) -> tuple[list[str], list[str], list[str]]:
        kept, removed = _without(tgt, old, remove)
        checker = _Checker(tgt, kept)
        for text in add:
            try:
                checker.check(text)
            except ValueError as exc:
                raise InvalidInput(f"不能添加:{exc}", field="entry") from None
        return kept + add, add, removed

    return _change(r, actor, tgt, "lexicon.edit", compute)


def import_file(
    r: redis.Redis,
    actor: audit.Actor,
    tgt: Target,
    data: bytes,
    source: str,
    *,
    replace: bool = False,
) -> Change:
    """Import a file into a list: its new entries added, or with ``replace`` the list replaced.

    The encoding is found out (``textfiles``); a line that cannot be an entry is skipped
    and named by file and line, except in the leaders' table, which is imported whole
    (always replacing) or refused with the reason.
    """
    source = Path(source or "file").name[:80]
    text, encoding = textfiles.decode(data, source)
    replace = replace or tgt.kind == LEADERS
    incoming, skipped = _checked_file(tgt, text, source)
    if not any(_is_entry(line) for line in incoming):
        reason = f"({skipped[0]})" if skipped else ""
        raise InvalidInput(f"{source} 中没有可导入的条目,未导入{reason}", field="file")

    def compute(old: list[str]) -> tuple[list[str], list[str], list[str]]:
        if replace:
            new_entries = [x for x in incoming if _is_entry(x)]
            old_entries = [x for x in old if _is_entry(x)]
            added = [x for x in new_entries if x not in old_entries]
            return incoming, added, [x for x in old_entries if x not in new_entries]
        checker = _Checker(tgt, old)
        added = [x for x in incoming if _is_entry(x) and _fits(checker, x)]
        return old + added, added, []

    extra = {"source": source, "encoding": encoding, "replace": replace, "skipped": skipped}
    change = _change(r, actor, tgt, "lexicon.import", compute, extra)
    return dataclasses.replace(change, skipped=skipped, encoding=encoding)


def history(r: redis.Redis, limit: int = HISTORY_SHOWN) -> list[dict]:
    """The newest lexicon versions made through Qianfa: version, time, who, what changed."""
    return [json.loads(raw) for raw in r.lrange(keys.lexicon_history(), 0, limit - 1)]


class _Checker:
    """Whether a line can join a list that already holds ``lines``; ValueError says why not."""

    def __init__(self, tgt: Target, lines: list[str], duplicate: str = "已在词库中"):
        self.tgt, self.keys, self.leaders, self.duplicate = tgt, set(), [], duplicate
        for line in lines:
            if _is_entry(line):
                try:
                    self.check(line)
                except ValueError:
                    pass  # a bad line already in the file: the loader names it and skips it

    def check(self, line: str) -> None:
        if len(line) > MAX_ENTRY:
            raise ValueError(f"超过 {MAX_ENTRY} 字")
        if self.tgt.kind == LEADERS:
            leader = leaders.parse_leader(line)
            leaders.check_against(leader, self.leaders)
            self.leaders.append(leader)
            return
        shown = line.strip()
        if self.tgt.kind == RULES:
            shown = expressions.parse_rule(self.tgt.name, line).wrong
        key = lexicons.term_key(shown)
        if key in self.keys:
            raise ValueError(f"「{shown}」{self.duplicate}")
        self.keys.add(key)


def _fits(checker: _Checker, line: str) -> bool:
    try:
        checker.check(line)
    except ValueError:
        return False  # already in the list (bad lines were skipped before)
    return True


def _checked_file(tgt: Target, text: str, source: str) -> tuple[list[str], list[str]]:
    """The file's lines without those that cannot be entries, and why each was skipped."""
    checker, kept, skipped = _Checker(tgt, [], duplicate="重复"), [], []
    for line in _lines(text):
        if not _is_entry(line.text):
            kept.append(line.text.rstrip())
            continue
        try:
            checker.check(line.text)
        except ValueError as exc:
            if tgt.kind == LEADERS:
                raise InvalidInput(f"{source} 第 {line.number} 行:{exc},未导入") from None
            skipped.append(f"{source} 第 {line.number} 行: {exc},已跳过")
            continue
        kept.append(line.text.strip())
    return kept, skipped


def _without(tgt: Target, lines: list[str], remove: list[str]) -> tuple[list[str], list[str]]:
    """The lines without the entries named (by term, wrong form or leader's name)."""
    wanted = {_name_of(tgt, x): x for x in remove}
    kept, removed = [], []
    for line in lines:
        name = _name_of(tgt, line) if _is_entry(line) else None
        if name in wanted:
            removed.append(line.strip())
            wanted.pop(name)
        else:
            kept.append(line)
    if wanted:
        missing = "、".join(f"「{x[:40]}」" for x in wanted.values())
        raise InvalidInput(f"{tgt.title_zh}中没有{missing},未删除", field="entry")
    return kept, removed


def _name_of(tgt: Target, line: str) -> str:
    """What names an entry: the normalised term or wrong form, or the leader's name."""
    head = line.split(expressions.SEPARATOR, 1)[0].strip() if tgt.kind != TERMS else line.strip()
    return head if tgt.kind == LEADERS else normalize_term(head)


def _change(r, actor, tgt: Target, action: str, compute: Callable, extra=None) -> Change:
    """Compute a list's new lines from its old ones and write them, all under the lease."""
    access.authorize(r, actor, (access.PROPAGANDA,), "维护词库")
    held = Lease(r, keys.lexicon_edit(), LEASE_SECONDS)
    if not held.acquire():
        raise Conflict("另一项词库修改正在进行,请稍后再试")
    try:
        path = directory() / tgt.filename
        old_bytes = path.read_bytes() if path.exists() else None
        old = [line.text.rstrip() for line in _lines((old_bytes or b"").decode("utf-8", "replace"))]
        lines, added, removed = compute(old)
        new_bytes = ("\n".join(lines) + "\n").encode() if lines else b""
        before = lexicons.read(directory())[0]
        if new_bytes == (old_bytes or b""):
            return Change(tgt, before, before)
        _write(path, new_bytes)
        change = Change(tgt, before, lexicons.read(directory())[0], added, removed)
        try:
            atomically(r, [], lambda tx: _record_in(tx, actor, action, change, extra or {}))
        except BaseException:
            _restore(path, old_bytes)
            raise
        return change
    finally:
        held.release()


def _record_in(tx: Tx, actor: audit.Actor, action: str, change: Change, extra: dict) -> None:
    detail = {
        "list": change.target.name,
        "allow": change.target.allow,
        "from": change.before,
        "added": change.added[:IN_RECORD],
        "added_count": len(change.added),
        "removed": change.removed[:IN_RECORD],
        "removed_count": len(change.removed),
        **{k: v for k, v in extra.items() if k != "skipped"},
        "skipped_count": len(extra.get("skipped", [])),
    }
    audit.append(
        tx, actor, action, subject=change.target.filename, decision=change.after, detail=detail
    )
    entry = {
        "version": change.after,
        "at": timestamp(),
        "via": actor.via,
        "person": actor.person,
        "operator": actor.operator,
        "action": action,
        "file": change.target.filename,
        "title": change.target.title_zh,
        **detail,
    }
    tx.write.lpush(keys.lexicon_history(), json.dumps(entry, ensure_ascii=False))


def _write(path: Path, data: bytes) -> None:
    """Replace the file at once, with a newer modification time than it had (see below)."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # not .txt: never loaded
    try:
        previous = path.stat().st_mtime_ns if path.exists() else 0
        with open(temporary, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        # The loader notices a change by size and modification time: one edit replacing a
        # word by another of the same length in the same clock tick must still be seen.
        moment = max(time.time_ns(), previous + 1000)
        os.utime(temporary, ns=(moment, moment))
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise Unavailable(f"无法写入词库目录 {path.parent}:{exc.strerror or exc}") from exc


def _restore(path: Path, data: bytes | None) -> None:
    if data is None:
        path.unlink(missing_ok=True)
    else:
        _write(path, data)


def _text_of(path: Path) -> str:
    return path.read_bytes().decode("utf-8", "replace") if path.exists() else ""


def _lines(text: str) -> list[Line]:
    return [Line(n, t) for n, t in enumerate(text.removeprefix("\ufeff").splitlines(), start=1)]


def _is_entry(text: str) -> bool:
    return bool(text.strip()) and not text.lstrip().startswith("#")
