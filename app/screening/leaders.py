"""The leaders' table (领导名单): names, titles and protocol order, checked in every text.

Art. 10.2 forbids "破坏领导人形象"; in practice that is a leader named with a title that is
not theirs (or no longer theirs) or a list of leaders out of protocol order. The
propaganda department keeps ``leaders.txt`` in the screening directory, one leader a line::

    姓名 | 职务 | 排序 | 任职起 | 任职止

(``排序``: 1 first; dates ``YYYY-MM-DD``, optional). Names and titles are matched by the
lexicons' automaton, so full width, traditional characters and separators hide nothing.
A title directly before a name (only spaces between) is that name's, else one directly
after it; names separated only by 、, commas, 和/与/及 or 同志 (with their titles) form a list.
"""

import re
from dataclasses import dataclass
from datetime import date

from app.core.errors import InvalidInput
from app.screening.expressions import SEPARATOR, Finding, parse_date

LEADERS_FILE = "leaders.txt"
SPACE = re.compile(r"[\s\u200b-\u200f\u2060\ufeff]")
LIST_GAP = re.compile(r"(?:[\s\u200b-\u200f\u2060\ufeff、,和与及]|同志)*")
FORMER = "原"


@dataclass(frozen=True)
class Leader:
    name: str
    title: str
    order: int
    since: date | None = None
    until: date | None = None

    def started(self, on: date) -> bool:
        return self.since is None or self.since <= on

    def retired(self, on: date) -> bool:
        return self.until is not None and self.until < on

    def overlaps(self, other: "Leader") -> bool:
        """Whether both held office on some day (so they cannot share a place in the order)."""
        starts = max(self.since or date.min, other.since or date.min)
        ends = min(self.until or date.max, other.until or date.max)
        return starts <= ends


@dataclass(frozen=True)
class Title:
    """An automaton entry's marker: this pattern is a title some leader holds."""

    title: str


def parse(data: bytes, problems: list[str], *, strict: bool = False) -> list[Leader]:
    """The table's leaders; a bad line is named and skipped, or with ``strict`` refused."""
    text = data.decode("utf-8", errors="replace").removeprefix("\ufeff")
    leaders: list[Leader] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            leader = parse_leader(line)
            check_against(leader, leaders)
        except ValueError as exc:
            if strict:
                raise InvalidInput(f"领导名单第 {number} 行:{exc}") from None
            problems.append(f"{LEADERS_FILE} 第 {number} 行: {exc},已跳过")
            continue
        leaders.append(leader)
    return leaders


def parse_leader(line: str) -> Leader:
    """One line of the table; ValueError saying what is wrong with it."""
    fields = [f.strip() for f in line.split(SEPARATOR)]
    if not 3 <= len(fields) <= 5:
        raise ValueError("格式应为「姓名 | 职务 | 排序 | 任职起 | 任职止」")
    name, title, order, since, until = (fields + [""] * 5)[:5]
    if len(name) < 2 or not title:
        raise ValueError("姓名至少两个字,职务不能为空")
    if "\ufffd" in line:
        raise ValueError("不是有效的 UTF-8")
    if not order.isdigit() or int(order) < 1:
        raise ValueError(f"排序「{order}」应为正整数")
    leader = Leader(name, title, int(order), parse_date(since), parse_date(until))
    if leader.since and leader.until and leader.until < leader.since:
        raise ValueError("任职止早于任职起")
    return leader


def check_against(leader: Leader, earlier: list[Leader]) -> None:
    """Refuse a second leader of the same name, or of the same order in overlapping terms."""
    for other in earlier:
        if other.name == leader.name:
            raise ValueError(f"姓名「{leader.name}」重复")
        if other.order == leader.order and other.overlaps(leader):
            raise ValueError(f"排序 {leader.order} 与「{other.name}」冲突(任职时间重叠)")


def check(text: str, folded: str, matches, on: date) -> list[Finding]:
    """Wrong titles and lists out of order among automaton matches, for a post of day ``on``."""
    names = _outermost(
        [(m, s, e) for m, s, e in matches if isinstance(m, Leader) and m.started(on)]
    )
    if not names:
        return []
    titles_at = _longest_titles([(m.title, s, e) for m, s, e in matches if isinstance(m, Title)])
    name_starts = {s for _, s, _ in names}
    found, items = [], []
    for leader, start, end in names:
        title = _title_of(folded, start, end, titles_at, name_starts)
        if title:
            found += _title_finding(text, folded, leader, title, on)
        if not leader.retired(on):
            span = [start, end] if not title else [min(start, title[1]), max(end, title[2])]
            items.append((leader, *span))
    return found + _order_findings(text, folded, items)


def _outermost(spans: list[tuple]) -> list[tuple]:
    kept: list[tuple] = []
    for item in sorted(spans, key=lambda x: (x[1], -x[2])):
        if not kept or item[1] >= kept[-1][2]:
            kept.append(item)
    return kept


def _longest_titles(titles: list[tuple[str, int, int]]) -> tuple[dict, dict]:
    """The longest title ending at and starting at each position: 副校长 over 校长."""
    by_end: dict[int, tuple] = {}
    by_start: dict[int, tuple] = {}
    for title in titles:
        _, start, end = title
        if end not in by_end or start < by_end[end][1]:
            by_end[end] = title
        if start not in by_start or end > by_start[start][2]:
            by_start[start] = title
    return by_end, by_start


def _title_of(folded: str, start: int, end: int, titles_at, name_starts) -> tuple | None:
    by_end, by_start = titles_at
    before = start
    while before > 0 and SPACE.match(folded[before - 1]):
        before -= 1
    if before in by_end:
        return by_end[before]
    after = end
    while after < len(folded) and SPACE.match(folded[after]):
        after += 1
    title = by_start.get(after)
    if title is None:
        return None
    following = title[2]
    while following < len(folded) and SPACE.match(folded[following]):
        following += 1
    return None if following in name_starts else title  # 张三、校长李四: 李四's title


def _title_finding(text, folded, leader: Leader, title: tuple, on: date) -> list[Finding]:
    found_title, start, end = title
    if leader.retired(on):
        if found_title == leader.title and folded[max(start - 1, 0) : start] == FORMER:
            return []
        note = f"{leader.name}已于 {leader.until.isoformat()} 卸任{leader.title}"
        suggestion = FORMER + leader.title
    elif found_title == leader.title:
        return []
    else:
        note, suggestion = f"{leader.name}的现任职务是{leader.title}", leader.title
    return [Finding("leader_title", text[start:end], start, end, suggestion, note)]


def _order_findings(text: str, folded: str, items: list[tuple]) -> list[Finding]:
    found = []
    for group in _lists(folded, items):
        leaders = [leader for leader, _, _ in group]
        orders = [leader.order for leader in leaders]
        if orders == sorted(orders) or len(set(orders)) < len(orders):
            continue
        start, end = group[0][1], group[-1][2]
        gaps = [text[a[2] : b[1]] for a, b in zip(group, group[1:], strict=False)]
        ordered = sorted(group, key=lambda item: item[0].order)
        pieces = [text[s:e] for _, s, e in ordered]
        suggestion = pieces[0] + "".join(g + p for g, p in zip(gaps, pieces[1:], strict=True))
        note = "按排序应为:" + "、".join(leader.name for leader, _, _ in ordered)
        found.append(Finding("leader_order", text[start:end], start, end, suggestion, note))
    return found


def _lists(folded: str, items: list[tuple]) -> list[list[tuple]]:
    """Runs of leaders separated only by list separators: 张三、李四和王五."""
    groups: list[list[tuple]] = []
    for item in items:
        if groups and LIST_GAP.fullmatch(folded[groups[-1][-1][2] : item[1]]):
            groups[-1].append(item)
        else:
            groups.append([item])
    return [g for g in groups if len(g) > 1]
