"""Input checks shared by every entry point; each failure is an ``InvalidInput`` in Chinese."""

import re
import unicodedata
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import urlparse

from app.core.errors import InvalidInput

PHONE = re.compile(r"^(\+?\d[\d-]{5,19})$")
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s]{2,}$")
QQ = re.compile(r"^[1-9]\d{4,11}$")
LINE_BREAKS = re.compile(r"[\r\n\t]+")
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
OPENID = re.compile(r"[A-Za-z0-9_-]{1,64}")
REASON_MAX = 500
CHINA_TIME = timezone(timedelta(hours=8))


def normalize(raw: str) -> str:
    """Full-width to half-width (NFKC) and trimmed, as users type on phones."""
    return unicodedata.normalize("NFKC", raw or "").strip()


def text(value, label: str, *, max_len: int, required: bool = True, multiline: bool = False) -> str:
    """Trimmed text within ``max_len``; line breaks only where ``multiline``, no control codes.

    A single-line field gets its line breaks and tabs turned into spaces, as a phone's
    keyboard may add them; other control characters are refused.
    """
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise InvalidInput(f"{label}必须是文字")
    if not multiline:
        value = LINE_BREAKS.sub(" ", value)
    value = value.strip()
    if CONTROL.search(value):
        raise InvalidInput(f"{label}含有不可见的控制字符")
    if required and not value:
        raise InvalidInput(f"{label}不能为空")
    if len(value) > max_len:
        raise InvalidInput(f"{label}过长:最多 {max_len} 字,实际 {len(value)} 字")
    return value


def openid(raw) -> str:
    """A WeChat OpenID: letters, digits, ``_`` and ``-``, as WeChat issues them."""
    if not isinstance(raw, str) or not OPENID.fullmatch(raw):
        raise InvalidInput("OpenID 格式不对")
    return raw


def short_id(raw, prefix: str, label: str) -> str:
    """Accept ``D42``, ``d42`` or ``Ｄ４２`` for prefix ``D``; refuse anything else."""
    value = normalize(raw if isinstance(raw, str) else "").upper()
    if not re.fullmatch(rf"{prefix}[1-9]\d{{0,8}}", value):
        raise InvalidInput(f"{label}编号格式不对:{str(raw)[:20]!r},应如 {prefix}12")
    return value


def choice(raw, choices: dict[str, str], label: str) -> str:
    """``choices`` maps each accepted value to its Chinese name; both are accepted."""
    value = normalize(raw if isinstance(raw, str) else "")
    by_name = {name: key for key, name in choices.items()}
    if value.lower() in choices:
        return value.lower()
    if value in by_name:
        return by_name[value]
    options = "、".join(f"{key}({name})" for key, name in choices.items())
    raise InvalidInput(f"{label}无效:{str(raw)[:20]!r};可选:{options}")


def optional_pattern(value, pattern: re.Pattern, label: str) -> str:
    value = normalize(value or "")
    if value and not pattern.fullmatch(value):
        raise InvalidInput(f"{label}格式不对:{value[:40]!r}")
    return value


def url(value, label: str, *, required: bool = False, max_bytes: int = 1024) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise InvalidInput(f"{label}必须是文字")
    value = value.strip()
    if not value:
        if required:
            raise InvalidInput(f"{label}不能为空")
        return ""
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise InvalidInput(f"{label}必须是 http(s):// 开头的网址")
    if len(value.encode()) > max_bytes:
        raise InvalidInput(f"{label}过长:最多 {max_bytes} 字节")
    return value


def moment(value, label: str) -> datetime | None:
    """An ISO 8601 time; without a zone it is taken as China time (UTC+8), as users mean it."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        parsed = value
    else:
        try:
            parsed = datetime.fromisoformat(normalize(str(value)))
        except ValueError:
            raise InvalidInput(
                f"{label}格式不对:{str(value)[:30]!r},应如 2026-12-01T08:00"
            ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=CHINA_TIME)
    return parsed.astimezone(UTC)
