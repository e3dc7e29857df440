"""Small image files for tests: PNGs built byte by byte, a JPEG encoded by Pillow, and
pictures with Chinese text drawn in the CJK font the Makefile installs (for OCR)."""

import io
import struct
import zlib

from PIL import Image, ImageDraw, ImageFont

CJK_FONT = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"


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


def text_picture(text: str, *, size: int = 28, kind: str = "PNG") -> bytes:
    """A small poster-like picture with ``text`` on it, as a reader would photograph it."""
    font = ImageFont.truetype(CJK_FONT, size)
    left, top, right, bottom = font.getbbox(text)
    image = Image.new("RGB", (right - left + 2 * size, bottom - top + 2 * size), "white")
    ImageDraw.Draw(image).text((size - left, size - top), text, font=font, fill=(20, 20, 20))
    out = io.BytesIO()
    image.save(out, kind)
    return out.getvalue()
