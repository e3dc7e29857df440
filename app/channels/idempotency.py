"""Idempotency keys: a client's retry of a request gets the first answer, not a second effect.

A key is scoped to the API token that sent it and kept for 24 hours together with a
fingerprint of the request and, once answered, the response. The same key with the same
request replays the stored response; with another request it is refused (422), and
while the first request still runs, a retry is told to wait (409), as the IETF draft
"The Idempotency-Key HTTP Header Field" describes.
"""

import hashlib
import json
from dataclasses import dataclass

import redis

from app.core import keys
from app.core.errors import Conflict, InvalidInput, Unprocessable

KEEP_SECONDS = 24 * 3600
# A request that died half-way must not block its key for a day; its marker expires first.
PENDING_SECONDS = 60
KEY_MAX = 255
ATTEMPTS = 3
HEADER = "Idempotency-Key"


@dataclass(frozen=True)
class Stored:
    status: int
    body: dict


def check_key(raw) -> str:
    """1–255 visible ASCII characters, such as a UUID."""
    if not isinstance(raw, str) or not raw:
        raise InvalidInput(f"缺少 {HEADER} 请求头:创建稿件须带一个唯一的键(如 UUID)", field=HEADER)
    if len(raw) > KEY_MAX or not all("!" <= ch <= "~" for ch in raw):
        raise InvalidInput(f"{HEADER} 须为 1–{KEY_MAX} 个可见 ASCII 字符", field=HEADER)
    return raw


def fingerprint(request: dict) -> str:
    canonical = json.dumps(request, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _key(token_id: str, key: str) -> str:
    return keys.api_idempotency(token_id, hashlib.sha256(key.encode()).hexdigest())


def begin(r: redis.Redis, token_id: str, key: str, request: dict) -> Stored | None:
    """Claim the key for this request (``None``: go ahead), or return the stored answer."""
    name, print_ = _key(token_id, key), fingerprint(request)
    pending = json.dumps({"fingerprint": print_})
    for _ in range(ATTEMPTS):
        if r.set(name, pending, nx=True, ex=PENDING_SECONDS):
            return None
        raw = r.get(name)
        if raw is None:  # expired between the two calls
            continue
        stored = json.loads(raw)
        if stored["fingerprint"] != print_:
            raise Unprocessable(
                f"{HEADER} 已用于另一个内容不同的请求;新请求请换一个键",
                code="idempotency_key_reused",
                field=HEADER,
            )
        if "status" not in stored:
            raise Conflict(
                f"使用同一 {HEADER} 的请求正在处理,请稍后重试", code="idempotency_in_progress"
            )
        return Stored(stored["status"], stored["body"])
    raise Conflict("操作冲突过多,请稍后重试", code="busy")


def finish(r: redis.Redis, token_id: str, key: str, request: dict, status: int, body: dict):
    """Keep the answer for 24 hours, for the retries to come."""
    stored = {"fingerprint": fingerprint(request), "status": status, "body": body}
    r.set(_key(token_id, key), json.dumps(stored, ensure_ascii=False), ex=KEEP_SECONDS)


def abandon(r: redis.Redis, token_id: str, key: str) -> None:
    """Free the key of a request that changed nothing, so a corrected retry may use it."""
    r.delete(_key(token_id, key))
