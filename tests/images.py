"""Small image files for upload tests: PNGs built byte by byte, a JPEG encoded by Pillow."""

import io
import struct
import zlib

from PIL import Image


def png(extra: int = 0) -> bytes:
    """A real 1×1 PNG, padded with an ancillary chunk to the size wanted."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
    pad = chunk(b"tEXt", b"c\x00" + b"x" * extra) if extra else b""
    idat = chunk(b"IDAT", zlib.compress(b"\x00\x00\x00\x00"))
    return b"\x89PNG\r\n\x1a\n" + ihdr + pad + idat + chunk(b"IEND", b"")


def png_of_size(size: int) -> bytes:
    """A real PNG of exactly ``size`` bytes."""
    return png(size - len(png()) - 14)


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (2, 2), (200, 30, 30)).save(out, "JPEG")
    return out.getvalue()


JPEG = _jpeg()
# A PNG signature and header chunk, then noise: what a file-type sniffer accepts.
FAKE_PNG = png()[:33] + bytes(range(256)) * 4
GIF = b"GIF89a\x01\x00\x01\x00" + b"\x00" * 30
