"""Pictures simulated users send: a few samples, and files uploaded on the sandbox page.

WeChat hands an account a picture message's ``PicUrl`` on its own media host; offline,
the sandbox serves the picture itself from ``/pictures/<name>`` on loopback, so Qianfa
can fetch it for an image post or an article's cover without leaving the machine.
Uploaded pictures are kept in memory, or in ``World.picture_dir`` when the sandbox keeps
its state on disk (``persist``), so a restart does not break a draft that uses one.
The samples are drawn here (plain PNG gradients), so no binary files ship with the code.
"""

import hashlib
import re
import struct
import zlib
from pathlib import Path

from sandbox.errors import WeChatError
from sandbox.media import MATERIAL, check_file
from sandbox.state import StateError, World

MIMETYPES = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "gif": "image/gif"}
NAME = re.compile(r"^(sample-[1-9]|[0-9a-f]{40})\.(png|jpg|jpeg|gif)$")
# Sample name -> (label shown on the page, top colour, bottom colour).
SAMPLES = {
    "sample-1.png": ("校园风景", (52, 120, 200), (180, 220, 250)),
    "sample-2.png": ("运动会", (40, 150, 80), (200, 240, 160)),
    "sample-3.png": ("图书馆", (200, 110, 40), (250, 220, 170)),
}
WIDTH, HEIGHT = 480, 270


def _png(top: tuple[int, int, int], bottom: tuple[int, int, int]) -> bytes:
    """A vertical gradient as a PNG, built with zlib alone."""
    rows = []
    for y in range(HEIGHT):
        mix = y / (HEIGHT - 1)
        pixel = bytes(round(a + (b - a) * mix) for a, b in zip(top, bottom, strict=True))
        rows.append(b"\0" + pixel * WIDTH)

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", WIDTH, HEIGHT, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"".join(rows), 9))
        + chunk(b"IEND", b"")
    )


_DRAWN: dict[str, bytes] = {}


def sample(name: str) -> bytes:
    if name not in _DRAWN:
        _, top, bottom = SAMPLES[name]
        _DRAWN[name] = _png(top, bottom)
    return _DRAWN[name]


def store(world: World, filename: str, data: bytes) -> str:
    """Keep an uploaded picture under a name from its content; refuse what WeChat would."""
    try:
        extension = check_file(filename or "", data, MATERIAL["image"])
    except WeChatError as exc:
        raise StateError("只能发送 10 MB 以内的 JPG、PNG 或 GIF 图片") from exc
    if extension not in MIMETYPES:
        raise StateError("只能发送 10 MB 以内的 JPG、PNG 或 GIF 图片")
    name = f"{hashlib.sha1(data).hexdigest()}.{extension}"
    with world.lock:
        if world.picture_dir is None:
            world.pictures[name] = data
        else:
            world.picture_dir.mkdir(parents=True, exist_ok=True)
            (world.picture_dir / name).write_bytes(data)
    return name


def read(world: World, name: str) -> tuple[bytes, str] | None:
    """The picture's bytes and type, or None for a name the sandbox never gave out."""
    match = NAME.match(name)
    if match is None:
        return None
    if name in SAMPLES:
        return sample(name), MIMETYPES["png"]
    with world.lock:
        data = world.pictures.get(name)
        if data is None and world.picture_dir is not None:
            path: Path = world.picture_dir / name
            data = path.read_bytes() if path.is_file() else None
    return (data, MIMETYPES[match.group(2)]) if data is not None else None
