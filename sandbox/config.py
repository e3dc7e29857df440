"""What a sandbox run may tune: WeChat's constants and the delays that make tests fast."""

import time
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime, timedelta

BEIJING = timedelta(hours=8)
# The least each number may be; the seed may be any integer.
MINIMUM = {"callback_timeout": 0.001, "callback_attempts": 1, "token_ttl": 1}


@dataclass
class SandboxConfig:
    """WeChat's numbers by default; tests shorten the real-time delays.

    Times that WeChat counts in hours (token lifetime, the 48-hour window, de-duplication)
    run on the sandbox ``Clock``, which a test advances instead of sleeping. The delays
    below are real seconds: how long a job stays "in progress" before it finishes.
    """

    seed: int = 0
    token_ttl: int = 7200
    token_grace: int = 300
    stable_refresh_margin: int = 300
    publish_delay: float = 3.0
    mass_delay: float = 2.0
    template_delay: float = 0.5
    callback_timeout: float = 5.0
    callback_attempts: int = 3
    fault_hang: float = 30.0
    publish_id_type: str = "number"

    def update(self, changes: dict) -> None:
        """Apply ``changes`` after checking each name and type; all or nothing."""
        known = {field.name: field.type for field in fields(self)}
        checked = {}
        for name, value in changes.items():
            if name not in known:
                raise ValueError(f"未知配置项 {name}")
            kind = known[name]
            accepted = (int, float) if kind is float else (kind,)
            if isinstance(value, bool) or not isinstance(value, accepted):
                raise ValueError(f"配置项 {name} 的类型应为 {kind.__name__}")
            if kind in (int, float) and name != "seed" and value < MINIMUM.get(name, 0):
                raise ValueError(f"配置项 {name} 不能小于 {MINIMUM.get(name, 0)}")
            checked[name] = kind(value)
        if checked.get("publish_id_type", self.publish_id_type) not in ("number", "string"):
            raise ValueError("publish_id_type 只能是 number 或 string")
        for name, value in checked.items():
            setattr(self, name, value)

    def to_dict(self) -> dict:
        return asdict(self)


class Clock:
    """Wall-clock time plus an offset that tests move forward."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("时钟只能向前拨")
        self.offset += seconds
        return self.now()


def beijing_day(timestamp: float) -> str:
    """The calendar day in China, which is when WeChat's daily quotas reset."""
    return (datetime.fromtimestamp(timestamp, UTC) + BEIJING).strftime("%Y-%m-%d")
