"""Times as people read them: Beijing time, and saying so.

Records store UTC ISO 8601 (``store.timestamp``), which is what machines compare; the
college reads Beijing time. Every time a person sees (console, CLI, chat, exports) goes
through ``beijing`` so that it is the same clock everywhere and labelled as such.
"""

from datetime import UTC, datetime, timedelta, timezone

BEIJING = timezone(timedelta(hours=8))
LABEL = "北京时间"


def _moment(value: str | datetime) -> datetime | None:
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(value)
        except (TypeError, ValueError):
            return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def beijing(value: str | datetime, *, seconds: bool = False) -> str:
    """``2026-05-01 14:03 北京时间``; an empty or unreadable value is shown as it is."""
    moment = _moment(value)
    if moment is None:
        return str(value or "")
    shape = "%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M"
    return f"{moment.astimezone(BEIJING).strftime(shape)} {LABEL}"


def iso_beijing(value: str) -> str:
    """The ISO form with its +08:00 offset, for exports that machines read back too."""
    moment = _moment(value)
    return moment.astimezone(BEIJING).isoformat(timespec="seconds") if moment else value


def age(value: str | datetime, now: datetime | None = None) -> str:
    """How long ago, as people say it: 刚刚, 5 分钟前, 3 小时前, 2 天前."""
    moment = _moment(value)
    if moment is None:
        return ""
    minutes = int(((now or datetime.now(UTC)) - moment).total_seconds() // 60)
    if minutes < 1:
        return "刚刚"
    if minutes < 60:
        return f"{minutes} 分钟前"
    if minutes < 48 * 60:
        return f"{minutes // 60} 小时前"
    return f"{minutes // 1440} 天前"
