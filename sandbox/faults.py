"""Faults on demand: make chosen API calls fail the way WeChat fails, reproducibly.

A rule matches calls by AppID and endpoint (``fnmatch`` patterns, ``*`` for all) and says
what happens to them:

    {"action": {"errcode": -1}, "times": 3}              the next 3 calls answer -1
    {"action": {"http_status": 502}, "rate": 0.2}        1 call in 5, on average, gets a 502
    {"action": {"latency": 1.5}}                         every call is answered 1.5 s late
    {"action": {"timeout": true}}                        the call hangs (no answer in time)
    {"action": {"quota": true}}                          45009, as if the daily quota ran out
    {"sequence": [{"errcode": -1}, null, {"errcode": 45009}]}   one step per call, null = pass

Random draws come from one generator per rule seeded with (seed, rule id), so the same
calls in the same order fail the same way on every run.
"""

import fnmatch
import itertools
import random
from dataclasses import dataclass, field

ACTION_KINDS = ("errcode", "http_status", "latency", "timeout", "quota")


class FaultSpecError(ValueError):
    """A rule the control API cannot accept; the message is shown to the user."""


@dataclass(frozen=True)
class Action:
    kind: str
    value: float | int | bool

    def to_dict(self) -> dict:
        return {self.kind: self.value}


def parse_action(spec) -> Action | None:
    """Turn ``{"errcode": -1}`` into an Action; ``None`` is a step that lets the call pass."""
    if spec is None:
        return None
    if not isinstance(spec, dict) or len(spec) != 1:
        raise FaultSpecError('每个动作必须是只有一个键的对象,例如 {"errcode": -1}')
    kind, value = next(iter(spec.items()))
    if kind not in ACTION_KINDS:
        raise FaultSpecError(f"未知的故障动作 {kind},可选:{', '.join(ACTION_KINDS)}")
    if kind in ("errcode", "http_status") and (
        isinstance(value, bool) or not isinstance(value, int)
    ):
        raise FaultSpecError(f"{kind} 必须是整数")
    if kind == "http_status" and not 400 <= value <= 599:
        raise FaultSpecError("http_status 必须在 400 到 599 之间")
    if kind == "latency" and (not isinstance(value, int | float) or value < 0):
        raise FaultSpecError("latency 必须是非负秒数")
    return Action(kind, value)


@dataclass
class Rule:
    id: int
    appid: str = "*"
    endpoint: str = "*"
    action: Action | None = None
    rate: float = 1.0
    times: int | None = None
    sequence: list[Action | None] | None = None
    fired: int = 0
    rng: random.Random = field(default_factory=random.Random, repr=False)

    def matches(self, appid: str, endpoint: str) -> bool:
        return fnmatch.fnmatchcase(appid or "", self.appid) and fnmatch.fnmatchcase(
            endpoint, self.endpoint
        )

    @property
    def spent(self) -> bool:
        if self.sequence is not None:
            return not self.sequence
        return self.times is not None and self.times <= 0

    def draw(self) -> tuple[bool, Action | None]:
        """Consume this call's step; return (decided, action). A passing step decides too."""
        if self.sequence is not None:
            self.fired += 1
            return True, self.sequence.pop(0)
        if self.rng.random() >= self.rate:
            return False, None
        self.fired += 1
        if self.times is not None:
            self.times -= 1
        return True, self.action

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "appid": self.appid,
            "endpoint": self.endpoint,
            "action": self.action.to_dict() if self.action else None,
            "rate": self.rate,
            "times": self.times,
            "sequence": None
            if self.sequence is None
            else [step.to_dict() if step else None for step in self.sequence],
            "fired": self.fired,
        }


def _rate(spec: dict) -> float:
    rate = spec.get("rate", 1.0)
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate <= 1:
        raise FaultSpecError("rate 必须在 0 到 1 之间")
    return float(rate)


def _times(spec: dict) -> int | None:
    times = spec.get("times")
    if times is not None and (isinstance(times, bool) or not isinstance(times, int) or times < 1):
        raise FaultSpecError("times 必须是正整数")
    return times


def _pattern(spec: dict, name: str) -> str:
    value = spec.get(name, "*")
    if not isinstance(value, str) or not value:
        raise FaultSpecError(f"{name} 必须是非空字符串(可用 * 通配)")
    return value.removeprefix("/cgi-bin/") if name == "endpoint" else value


class Faults:
    """The rules in force, checked in the order they were added."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.rules: list[Rule] = []
        self._ids = itertools.count(1)

    def add(self, spec: dict) -> Rule:
        if not isinstance(spec, dict):
            raise FaultSpecError("故障规则必须是 JSON 对象")
        rule = Rule(
            id=next(self._ids), appid=_pattern(spec, "appid"), endpoint=_pattern(spec, "endpoint")
        )
        if "sequence" in spec:
            if not isinstance(spec["sequence"], list) or not spec["sequence"]:
                raise FaultSpecError("sequence 必须是非空数组")
            rule.sequence = [parse_action(step) for step in spec["sequence"]]
        else:
            rule.action = parse_action(spec.get("action"))
            if rule.action is None:
                raise FaultSpecError("缺少 action(或 sequence)")
            rule.rate, rule.times = _rate(spec), _times(spec)
        rule.rng.seed(f"{self.seed}:{rule.id}")
        self.rules.append(rule)
        return rule

    def remove(self, rule_id: int) -> bool:
        before = len(self.rules)
        self.rules = [rule for rule in self.rules if rule.id != rule_id]
        return len(self.rules) != before

    def clear(self, seed: int | None = None) -> None:
        """Drop every rule; with a seed, also restart rule ids so a run can be replayed."""
        self.rules = []
        if seed is not None:
            self.seed = seed
            self._ids = itertools.count(1)

    def pick(self, appid: str, endpoint: str) -> Action | None:
        """The action for this call, or None to answer it normally."""
        for rule in self.rules:
            if rule.spent or not rule.matches(appid, endpoint):
                continue
            decided, action = rule.draw()
            if decided:
                return action
        return None
