"""Lexicons (词库): one editable word list per category, and the policy of a deployment.

The screening directory holds ``<category>.txt`` (terms), ``<category>.allow.txt``
(whitelisted phrases: a term inside one of them is not a hit) and ``policy.toml``
(verdict per category, allowed link domains), and the rule files of ``expressions``
(``<kind>.rules.txt``) and ``leaders`` (``leaders.txt``), whose patterns join the same
automaton so that one pass finds both. Its version is a hash of all of them, so
a result says which lists judged it. The directory is checked on every use and
reloaded when a file changed: no restart. Each version gets one automaton, built once
and shared by every caller in the process.
"""

import hashlib
import logging
import threading
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import ahocorasick_rs

from app.core.errors import ConfigError
from app.screening import expressions, leaders
from app.screening.categories import ALL_KINDS, CATEGORIES, OFF, VERDICTS
from app.screening.normalize import CJK_RANGES, normalize_term

log = logging.getLogger(__name__)

POLICY = "policy.toml"
ALLOW_SUFFIX = ".allow.txt"
MAX_TERM = 64
MAX_FILE_BYTES = 64 * 1024 * 1024
# Bump when the detectors change, so that ``recheck`` screens again after an upgrade.
ENGINE = "2"
DEFAULT_DOMAINS = ("weixin.qq.com",)


@dataclass(frozen=True)
class Entry:
    """What one automaton pattern stands for: a term or an allowed phrase of a category.

    ``rule`` marks a pattern of the rule files instead: an ``expressions.Rule``, a
    ``leaders.Leader`` (a name) or a ``leaders.Title``.
    """

    category: str
    term: str
    allow: bool
    rule: object = None


@dataclass
class Rules:
    """One version of the lexicons and policy, with its automaton."""

    version: str
    verdicts: dict[str, str]
    allowed_domains: tuple[str, ...]
    entries: list[list[Entry]]
    problems: list[str] = field(default_factory=list)
    automaton: ahocorasick_rs.AhoCorasick | None = None
    corrections: int = 0  # expression rules and leaders loaded from the rule files

    def verdict(self, category: str) -> str:
        return self.verdicts.get(category, OFF)

    def terms(self, category: str, *, allow: bool = False) -> list[str]:
        return [
            e.term for es in self.entries for e in es if e.category == category and e.allow == allow
        ]


def _files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        raise ConfigError(f"找不到内容检查的词库目录:{directory}")
    return sorted(p for p in directory.iterdir() if p.is_file() and p.suffix in (".txt", ".toml"))


def _read(path: Path, problems: list[str]) -> bytes:
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        problems.append(f"{path.name}: 文件过大({size} 字节),已忽略")
        return b""
    return path.read_bytes()


def read(directory: Path) -> tuple[str, dict[str, bytes], list[str]]:
    """The directory's version hash and the bytes of each of its files."""
    problems: list[str] = []
    raw = {path.name: _read(path, problems) for path in _files(directory)}
    digest = hashlib.sha256(ENGINE.encode())
    for name, data in sorted(raw.items()):
        digest.update(b"\0%s\0%d\0" % (name.encode(), len(data)) + data)
    return digest.hexdigest()[:16], raw, problems


def build(version: str, raw: dict[str, bytes], problems: list[str]) -> Rules:
    """Check and compile the files of one version; bad lines are skipped and named."""
    raw = dict(raw)
    verdicts, domains = _policy(raw.pop(POLICY, None), problems)
    patterns: dict[str, list[Entry]] = {}
    corrections = 0
    for name, data in sorted(raw.items()):
        if expressions.kind_of(name) or name == leaders.LEADERS_FILE:
            corrections += _add_rules(name, data, verdicts, patterns, problems)
            continue
        category, allow = _category_of(name, problems)
        if category and verdicts[category] != OFF:
            _add_terms(name, data, category, allow, patterns, problems)
    rules = Rules(version, verdicts, domains, list(patterns.values()), problems)
    rules.corrections = corrections
    if patterns:
        rules.automaton = ahocorasick_rs.AhoCorasick(list(patterns))
    for problem in problems:
        log.warning("screening lexicon %s: %s", version, problem)
    return rules


def _category_of(name: str, problems: list[str]) -> tuple[str, bool]:
    allow = name.endswith(ALLOW_SUFFIX)
    category = name.removesuffix(ALLOW_SUFFIX if allow else ".txt")
    if category not in CATEGORIES:
        problems.append(f"{name}: 没有「{category}」这个类别,文件已忽略")
        return "", False
    return category, allow


def _policy(data: bytes | None, problems: list[str]) -> tuple[dict[str, str], tuple[str, ...]]:
    verdicts = {cid: c.default for cid, c in ALL_KINDS.items()}
    if data is None:
        return verdicts, DEFAULT_DOMAINS
    try:
        policy = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        problems.append(f"{POLICY}: 无法解析({exc}),全部类别按默认处理")
        return verdicts, DEFAULT_DOMAINS
    for category, verdict in _table(policy, "verdicts", problems).items():
        if category not in ALL_KINDS:
            problems.append(f"{POLICY}: 没有「{category}」这个类别")
        elif verdict not in VERDICTS:
            problems.append(f"{POLICY}: {category} 的处理方式 {verdict!r} 无效,按默认处理")
        else:
            verdicts[category] = verdict
    domains = _table(policy, "links", problems).get("allowed_domains", list(DEFAULT_DOMAINS))
    if not isinstance(domains, list) or not all(isinstance(d, str) for d in domains):
        problems.append(f"{POLICY}: links.allowed_domains 应为文字列表")
        domains = list(DEFAULT_DOMAINS)
    return verdicts, tuple(d.strip().lower().strip(".") for d in domains if d.strip())


def _table(policy: dict, name: str, problems: list[str]) -> dict:
    value = policy.get(name, {})
    if not isinstance(value, dict):
        problems.append(f"{POLICY}: {name} 应为一个表([{name}]),已忽略")
        return {}
    return value


def _add_terms(name, data, category, allow, patterns, problems) -> None:
    text = data.decode("utf-8", errors="replace").removeprefix("\ufeff")
    seen: set[str] = set()
    for number, line in enumerate(text.splitlines(), start=1):
        term = line.strip()
        if not term or term.startswith("#"):
            continue
        key = _checked(term, problems, f"{name} 第 {number} 行")
        if not key:
            continue
        if key in seen:
            problems.append(f"{name} 第 {number} 行: 「{term}」重复,已忽略")
            continue
        seen.add(key)
        patterns.setdefault(key, []).append(Entry(category, term, allow))


def _add_rules(name, data, verdicts, patterns, problems) -> int:
    """Add a rule file's patterns (wrong forms, or leaders' names and titles); their count."""
    if name == leaders.LEADERS_FILE:
        if all(verdicts[c] == OFF for c in ("leader_title", "leader_order")):
            return 0
        table = leaders.parse(data, problems)
        entries = [(f"{name} 「{x.name}」", Entry("leader_title", x.name, False, x)) for x in table]
        titles = sorted({x.title for x in table})
        entries += [
            (f"{name} 「{t}」", Entry("leader_title", t, False, leaders.Title(t))) for t in titles
        ]
    else:
        found = expressions.parse(name, data, problems)
        entries = [
            (f"{name} 第 {number} 行", Entry(rule.category, rule.wrong, False, rule))
            for number, rule in found
            if verdicts[rule.category] != OFF
        ]
    count = 0
    for where, entry in entries:
        key = _checked(entry.term, problems, where)
        if key:
            patterns.setdefault(key, []).append(entry)
            count += not isinstance(entry.rule, leaders.Title)
    return count


def _checked(term: str, problems: list[str], where: str) -> str:
    """The normalised term, or '' (with the reason noted) when the line cannot be a term."""
    try:
        return term_key(term)
    except ValueError as exc:
        problems.append(f"{where}: {exc},已跳过")
        return ""


def term_key(term: str) -> str:
    """The normalised term as the automaton holds it; ValueError saying why it cannot be one."""
    if "\ufffd" in term:
        raise ValueError("不是有效的 UTF-8")
    if any(ord(c) < 32 or 0x7F <= ord(c) < 0xA0 for c in term):
        raise ValueError("含控制字符")
    key = normalize_term(term)
    if not key:
        raise ValueError(f"「{term}」只有标点或空白")
    if len(key) > MAX_TERM:
        raise ValueError(f"词条超过 {MAX_TERM} 字")
    if len(key) < 2 and not _is_cjk(key):
        raise ValueError(f"「{term}」太短,会到处误报")
    return key


def _is_cjk(text: str) -> bool:
    return all(any(lo <= ord(c) < hi for lo, hi in CJK_RANGES) for c in text)


class _Cache:
    """The rules of each directory, read again when a file's size or modification time changes.

    A version already compiled is reused, so touching a file rebuilds nothing.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._loaded: dict[Path, tuple[tuple, Rules]] = {}
        self._by_version: dict[str, Rules] = {}

    def get(self, directory: Path) -> Rules:
        stamp = _stamp(directory)
        with self._lock:
            cached = self._loaded.get(directory)
            if cached and cached[0] == stamp:
                return cached[1]
            version, raw, problems = read(directory)
            rules = self._by_version.get(version) or build(version, raw, problems)
            self._by_version[version] = rules
            if len(self._by_version) > 4:  # keep the automata of the last few versions only
                self._by_version.pop(next(iter(self._by_version)))
            self._loaded[directory] = (stamp, rules)
            return rules


def _stamp(directory: Path) -> tuple:
    stamp = []
    for path in _files(directory):
        try:
            info = path.stat()
        except OSError:  # removed since listed: read again
            return ()
        stamp.append((path.name, info.st_mtime_ns, info.st_size))
    return tuple(stamp)


_cache = _Cache()


def load(directory: Path | str | None = None) -> Rules:
    """The current rules of ``directory`` (default: the configured screening directory)."""
    if directory is None:
        from app.core.settings import get_settings

        directory = get_settings().screening_dir
    return _cache.get(Path(directory).resolve())
