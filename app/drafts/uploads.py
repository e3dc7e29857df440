"""Uploaded images (上传图片): article covers sent through the API, kept in Redis by content.

An upload is stored under the SHA-256 of its bytes, so the same picture sent twice is
stored once, and its reference ``upload:<sha256>`` names exactly those bytes: a draft's
content hash, which covers the reference, covers the cover image too. The publishing
worker reads the bytes back with ``get`` to hand them to WeChat's material API.

A file is kept only if it decodes fully as the JPEG or PNG its first bytes claim. Until a
draft uses it (``claim``), an upload expires and counts against its person's quota, so
uploading without drafting cannot fill Redis.
"""

import hashlib
import io
import re
import time
from dataclasses import dataclass, field

import redis
from PIL import Image

from app.core import audit, keys
from app.core.errors import InvalidInput, NotFound, QianfaError, TooLarge, UnsupportedType
from app.core.settings import Settings
from app.core.store import Tx, atomically, timestamp

# WeChat's permanent image material takes up to 10 MB today, but older documents and the
# summary line of the same page say 2 MB; a cover within 2 MB is accepted by both.
MAX_BYTES = 2 * 1024 * 1024
MAGIC = {"image/jpeg": b"\xff\xd8\xff", "image/png": b"\x89PNG\r\n\x1a\n"}
TYPE_NAMES = {"image/jpeg": "JPEG", "image/png": "PNG"}
ALIASES = {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg", "image/x-png": "image/png"}
# What a client may declare without naming the type: we go by the bytes then.
UNDECLARED = ("", "application/octet-stream")
REF_PREFIX = "upload:"
REF = re.compile(r"upload:([0-9a-f]{64})")
PIL_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG"}
# Pixels a file may decode to: a 2 MB JPEG can claim far more and take gigabytes to load.
MAX_PIXELS = 40_000_000


@dataclass(frozen=True)
class Quota:
    """What one person may keep uploaded and unused by any draft, and for how long."""

    count: int
    bytes: int
    ttl: int

    @classmethod
    def of(cls, settings: Settings) -> "Quota":
        return cls(
            settings.upload_quota_count, settings.upload_quota_bytes, settings.upload_unused_ttl
        )


@dataclass(frozen=True)
class Upload:
    ref: str
    sha256: str
    content_type: str
    size: int
    person: str
    created_at: str
    data: bytes = field(repr=False)


def is_ref(value) -> bool:
    return isinstance(value, str) and REF.fullmatch(value) is not None


def sniff(data: bytes) -> str | None:
    """The image type the bytes themselves show, whatever the client declared."""
    return next((kind for kind, magic in MAGIC.items() if data.startswith(magic)), None)


def check(data: bytes, declared: str = "", *, max_bytes: int = MAX_BYTES) -> str:
    """Refuse an empty, oversized, non-JPEG/PNG, broken or mislabelled file; return its type."""
    if len(data) > max_bytes:
        raise TooLarge(
            f"图片过大:最多 {max_bytes // (1024 * 1024)} MB,实际 {len(data)} 字节", field="file"
        )
    if not data:
        raise InvalidInput("图片文件是空的", field="file")
    kind = sniff(data)
    if kind is None:
        raise UnsupportedType("只接受 JPEG 或 PNG 图片(按文件内容判断)", field="file")
    declared = (declared or "").split(";")[0].strip().lower()
    declared = ALIASES.get(declared, declared)
    if declared not in UNDECLARED and declared != kind:
        raise UnsupportedType(
            f"文件声明的类型 {declared[:40]} 与内容({TYPE_NAMES[kind]})不符", field="file"
        )
    decode(data, kind)
    return kind


def decode(data: bytes, kind: str) -> None:
    """Decode the whole file as ``kind``: a valid header before other bytes is not an image."""
    try:
        with Image.open(io.BytesIO(data), formats=[PIL_FORMATS[kind]]) as probe:
            if probe.width * probe.height > MAX_PIXELS:
                raise TooLarge(
                    f"图片像素过多:最多 {MAX_PIXELS // 1_000_000} 百万像素", field="file"
                )
            probe.verify()
        with Image.open(io.BytesIO(data), formats=[PIL_FORMATS[kind]]) as image:
            image.load()
    except QianfaError:
        raise
    except Exception:  # Pillow's decoders raise many types for a broken file
        raise UnsupportedType(
            f"文件不是完整的 {TYPE_NAMES[kind]} 图片:无法解码", field="file"
        ) from None


def save(r: redis.Redis, actor: audit.Actor, data: bytes, declared: str, quota: Quota) -> Upload:
    """Keep an image under its content hash until ``quota.ttl`` unless a draft claims it.

    The same bytes again change nothing; a new file over the person's quota is refused.
    """
    kind = check(data, declared)
    sha = hashlib.sha256(data).hexdigest()
    key, pending = keys.upload(sha), keys.pending_uploads(actor.person)

    def change(tx: Tx) -> Upload:
        if tx.read.exists(key):
            return get(tx.read, REF_PREFIX + sha)
        _check_quota(tx, pending, len(data), quota)
        upload = Upload(REF_PREFIX + sha, sha, kind, len(data), actor.person, timestamp(), data)
        fields = {"content_type": kind, "size": len(data), "person": actor.person}
        tx.write.hset(key, mapping={**fields, "created_at": upload.created_at, "data": data})
        tx.write.expire(key, quota.ttl)
        tx.write.zremrangebyscore(pending, "-inf", time.time())
        tx.write.zadd(pending, {sha: time.time() + quota.ttl})
        tx.write.expire(pending, quota.ttl)
        audit.append(
            tx, actor, "upload.create", detail={"sha256": sha, "type": kind, "size": len(data)}
        )
        return upload

    return atomically(r, [key, pending], change)


def _check_quota(tx: Tx, pending: str, size: int, quota: Quota) -> None:
    """Refuse a file that would take the person's unused uploads over the count or bytes."""
    shas = [m.decode() for m in tx.read.zrangebyscore(pending, time.time(), "+inf")]
    sizes = [int(tx.read.hget(keys.upload(sha), "size") or 0) for sha in shas]
    if len(shas) + 1 > quota.count or sum(sizes) + size > quota.bytes:
        raise TooLarge(
            f"未用于稿件的上传图片已达上限(最多 {quota.count} 张、"
            f"共 {quota.bytes // (1024 * 1024)} MB):请先在稿件中使用它们,或等待其过期",
            code="upload_quota",
            field="file",
        )


def claim(r: redis.Redis, ref: str) -> None:
    """Keep an upload a draft uses for good and take it off its person's quota."""
    match = REF.fullmatch(ref)
    key = keys.upload(match.group(1))
    with r.pipeline() as pipe:
        pipe.persist(key)
        pipe.hget(key, "person")
        _, person = pipe.execute()
    if person is None:
        raise InvalidInput(f"图片 {ref} 不存在或已过期:请先上传")
    r.zrem(keys.pending_uploads(person.decode()), match.group(1))


def get(r: redis.Redis, ref: str) -> Upload:
    """The upload a reference names, bytes included; ``NotFound`` when there is none."""
    match = REF.fullmatch(ref) if isinstance(ref, str) else None
    if match is None:
        raise InvalidInput(f"图片引用格式不对:{str(ref)[:80]!r},应如 upload:<64 位十六进制>")
    raw = r.hgetall(keys.upload(match.group(1)))
    if not raw:
        raise NotFound(f"没有图片 {ref}:请先上传")
    fields = {k.decode(): v for k, v in raw.items()}
    return Upload(
        ref=ref,
        sha256=match.group(1),
        content_type=fields["content_type"].decode(),
        size=int(fields["size"]),
        person=fields["person"].decode(),
        created_at=fields["created_at"].decode(),
        data=fields["data"],
    )


def exists(r: redis.Redis, ref: str) -> bool:
    match = REF.fullmatch(ref) if isinstance(ref, str) else None
    return bool(match and r.exists(keys.upload(match.group(1))))
