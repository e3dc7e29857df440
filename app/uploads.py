"""Uploaded images (上传图片): article covers sent through the API, kept in Redis by content.

An upload is stored under the SHA-256 of its bytes, so the same picture sent twice is
stored once, and its reference ``upload:<sha256>`` names exactly those bytes: a draft's
content hash, which covers the reference, covers the cover image too. The publishing
worker reads the bytes back with ``get`` to hand them to WeChat's material API.
"""

import hashlib
import re
from dataclasses import dataclass, field

import redis

from app import audit, keys
from app.errors import InvalidInput, NotFound, TooLarge, UnsupportedType
from app.store import Tx, atomically, timestamp

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


def check(data: bytes, declared: str = "") -> str:
    """Refuse an empty, oversized, non-JPEG/PNG or mislabelled file; return its real type."""
    if len(data) > MAX_BYTES:
        raise TooLarge(
            f"图片过大:最多 {MAX_BYTES // (1024 * 1024)} MB,实际 {len(data)} 字节", field="file"
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
    return kind


def save(r: redis.Redis, actor: audit.Actor, data: bytes, declared: str = "") -> Upload:
    """Keep an image durably under its content hash; the same bytes again change nothing."""
    kind = check(data, declared)
    sha = hashlib.sha256(data).hexdigest()
    key = keys.upload(sha)

    def change(tx: Tx) -> Upload:
        if tx.read.exists(key):
            return get(tx.read, REF_PREFIX + sha)
        upload = Upload(REF_PREFIX + sha, sha, kind, len(data), actor.person, timestamp(), data)
        tx.write.hset(
            key,
            mapping={
                "content_type": kind,
                "size": len(data),
                "person": actor.person,
                "created_at": upload.created_at,
                "data": data,
            },
        )
        audit.append(
            tx, actor, "upload.create", detail={"sha256": sha, "type": kind, "size": len(data)}
        )
        return upload

    return atomically(r, [key], change)


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
