"""Expression rules (规范表述): a wrong form, the correct one and why, optionally within dates.

What gets college accounts into trouble is less a prohibited word than a wrong expression
(错敏): a wrong political term, a formulation outdated since a date, a common typo. The
propaganda department keeps one file per kind in the screening directory,
``<kind>.rules.txt`` (``political_expression``, ``outdated_expression``, ``typo``), one
rule a line::

    错误表述 | 规范表述 | 说明 | 起始日期 | 截止日期

The note and the dates (``YYYY-MM-DD``) are optional: a rule with a start date applies to
posts from that day on (a formulation outdated since then). The wrong form is matched like
a lexicon term (same automaton, same normalisation); a hit carries the correct form as its
suggestion. A malformed line is skipped and named with its file and line.
"""

from dataclasses import dataclass
from datetime import date

RULE_SUFFIX = ".rules.txt"
RULE_KINDS = ("political_expression", "outdated_expression", "typo")
SEPARATOR = "|"
MAX_NOTE = 100


@dataclass(frozen=True)
class Rule:
    """One expression rule; ``since``/``until`` bound the posts it applies to (inclusive)."""

    category: str
    wrong: str
    right: str
    note: str = ""
    since: date | None = None
    until: date | None = None

    def applies(self, on: date) -> bool:
        return (self.since is None or self.since <= on) and (self.until is None or on <= self.until)


@dataclass(frozen=True)
class Finding:
    """A place to correct, in folded-text positions: what is wrong, what to write instead."""

    category: str
    term: str
    start: int
    end: int
    suggestion: str
    note: str = ""


def kind_of(name: str) -> str:
    """The rule kind a file holds, or '' when it is not a rule file."""
    return name.removesuffix(RULE_SUFFIX) if name.endswith(RULE_SUFFIX) else ""


def parse(name: str, data: bytes, problems: list[str]) -> list[tuple[int, Rule]]:
    """The rules of one file with their line numbers; malformed lines are named and skipped."""
    category = kind_of(name)
    if category not in RULE_KINDS:
        problems.append(f"{name}: 没有「{category}」这种规范表述,文件已忽略")
        return []
    text = data.decode("utf-8", errors="replace").removeprefix("\ufeff")
    rules = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            rules.append((number, parse_rule(category, line)))
        except ValueError as exc:
            problems.append(f"{name} 第 {number} 行: {exc},已跳过")
    return rules


def parse_rule(category: str, line: str) -> Rule:
    """One rule line of a kind; ValueError saying what is wrong with it."""
    fields = [f.strip() for f in line.split(SEPARATOR)]
    if not 2 <= len(fields) <= 5:
        raise ValueError("格式应为「错误表述 | 规范表述 | 说明 | 起始日期 | 截止日期」")
    wrong, right, note, since, until = (fields + [""] * 5)[:5]
    if not wrong or not right:
        raise ValueError("错误表述和规范表述都不能为空")
    if wrong == right:
        raise ValueError(f"「{wrong}」的规范表述与它相同")
    if "\ufffd" in line:
        raise ValueError("不是有效的 UTF-8")
    if len(note) > MAX_NOTE:
        raise ValueError(f"说明超过 {MAX_NOTE} 字")
    rule = Rule(category, wrong, right, note, parse_date(since), parse_date(until))
    if rule.since and rule.until and rule.until < rule.since:
        raise ValueError("截止日期早于起始日期")
    return rule


def parse_date(raw: str) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ValueError(f"日期「{raw}」应写成 YYYY-MM-DD") from None


def findings(matches, on: date) -> list[Finding]:
    """The expression rules among automaton matches that apply to a post of day ``on``."""
    return [
        Finding(rule.category, rule.wrong, start, end, rule.right, rule.note)
        for rule, start, end in matches
        if isinstance(rule, Rule) and rule.applies(on)
    ]
