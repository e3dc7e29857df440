"""Small image files for upload tests, built byte by byte."""

import struct
import zlib


def png(extra: int = 0) -> bytes:
    """A real 1×1 PNG, padded with an ancillary chunk to the size wanted."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
    pad = chunk(b"tEXt", b"c\x00" + b"x" * extra) if extra else b""
    idat = chunk(b"IDAT", zlib.compress(b"\x00\x00\x00\x00"))
    return b"\x89PNG\r\n\x1a\n" + ihdr + pad + idat + chunk(b"IEND", b"")


JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 100 + b"\xff\xd9"
GIF = b"GIF89a\x01\x00\x01\x00" + b"\x00" * 30
