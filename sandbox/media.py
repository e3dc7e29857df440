"""Uploads: which files WeChat takes for which purpose, and the account's material store.

WeChat decides a file's type by its name's extension (a name without one gets 40005) and
refuses content that does not look like that type. Limits are DOC-SUB's: images 10 MB,
voice 2 MB, video 10 MB, thumbnails 64 KB, images for article bodies 1 MB (jpg/png only).
"""

import hashlib
from dataclasses import dataclass

from sandbox.errors import WeChatError
from sandbox.state import Account, World

KB, MB = 1024, 1024 * 1024


@dataclass(frozen=True)
class Rule:
    max_bytes: int
    extensions: tuple[str, ...]
    size_errcode: int


MATERIAL = {
    "image": Rule(10 * MB, ("bmp", "png", "jpeg", "jpg", "gif"), 40009),
    "voice": Rule(2 * MB, ("mp3", "wma", "wav", "amr"), 40010),
    "video": Rule(10 * MB, ("mp4",), 40011),
    "thumb": Rule(64 * KB, ("jpg", "jpeg"), 40012),
}
CONTENT_IMAGE = Rule(1 * MB, ("jpg", "jpeg", "png"), 40009)
MAGIC = {
    "jpg": (b"\xff\xd8\xff",),
    "jpeg": (b"\xff\xd8\xff",),
    "png": (b"\x89PNG\r\n\x1a\n",),
    "gif": (b"GIF87a", b"GIF89a"),
    "bmp": (b"BM",),
    "mp3": (b"ID3", b"\xff\xfb", b"\xff\xf3", b"\xff\xf2"),
    "amr": (b"#!AMR",),
    "wav": (b"RIFF",),
    "wma": (b"\x30\x26\xb2\x75",),
}
URL_FORMAT = {"jpg": "jpeg", "jpeg": "jpeg", "png": "png", "gif": "gif", "bmp": "bmp"}


def _looks_like(extension: str, data: bytes) -> bool:
    if extension == "mp4":
        return data[4:8] == b"ftyp"
    return data.startswith(MAGIC[extension])


def check_file(filename: str, data: bytes, rule: Rule) -> str:
    """The file's extension if WeChat would take it under ``rule``; its errcode otherwise."""
    if not data:
        raise WeChatError(41005)
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if extension not in rule.extensions or not _looks_like(extension, data):
        raise WeChatError(40005)
    if len(data) > rule.max_bytes:
        raise WeChatError(rule.size_errcode)
    return extension


def _image_url(world: World, extension: str, folder: str) -> str:
    fmt = URL_FORMAT.get(extension, "jpeg")
    return f"http://mmbiz.qpic.cn/{folder}_{fmt}/{world.random_text(54)}/0?wx_fmt={fmt}"


def _store(world: World, account: Account, kind: str, filename: str, data: bytes, **extra) -> dict:
    record = {
        "media_id": world.random_text(64),
        "type": kind,
        "filename": filename,
        "size": len(data),
        "sha1": hashlib.sha1(data).hexdigest(),
        "created_at": int(world.now()),
        **extra,
    }
    account.materials[record["media_id"]] = record
    return record


def add_material(world: World, account: Account, kind: str, filename: str, data: bytes) -> dict:
    """``material/add_material``: a permanent MediaID (and a URL for images)."""
    if kind not in MATERIAL:
        raise WeChatError(40004)
    extension = check_file(filename, data, MATERIAL[kind])
    url = _image_url(world, extension, "sz_mmbiz") if kind == "image" else ""
    record = _store(world, account, kind, filename, data, permanent=True, url=url)
    return {"media_id": record["media_id"], "url": url}


def upload_temporary(world: World, account: Account, kind: str, filename: str, data: bytes) -> dict:
    """``media/upload``: a MediaID that lasts three days and cannot be a draft's cover."""
    if kind not in MATERIAL:
        raise WeChatError(40004)
    check_file(filename, data, MATERIAL[kind])
    record = _store(world, account, kind, filename, data, permanent=False, url="")
    return {"type": kind, "media_id": record["media_id"], "created_at": record["created_at"]}


def upload_content_image(world: World, account: Account, filename: str, data: bytes) -> str:
    """``media/uploadimg``: the URL an article body may use for this image."""
    extension = check_file(filename, data, CONTENT_IMAGE)
    url = _image_url(world, extension, "mmbiz")
    _store(world, account, "content_image", filename, data, permanent=True, url=url)
    return url


def permanent(account: Account, media_id: str, kinds=("image", "thumb")) -> dict | None:
    """A permanent material of one of ``kinds``: what a draft's cover must be."""
    record = account.materials.get(media_id)
    if record and record["permanent"] and record["type"] in kinds:
        return record
    return None
