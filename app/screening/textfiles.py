"""Imported word lists as text: UTF-8 (with or without BOM), GBK or GB18030, found out.

Lists kept on Windows by Chinese offices are often GBK; decoded as UTF-8 with
replacement, such a file yields nothing but skipped lines. So an import is decoded
strictly, trying each encoding of ``ENCODINGS`` in turn (GBK before its superset
GB18030, to name the one a person chose); a file none decodes cleanly, or that holds
binary bytes, is refused whole. The lists themselves are always written as UTF-8.
"""

import codecs

from app.core.errors import InvalidInput, TooLarge

MAX_IMPORT_BYTES = 8 * 1024 * 1024
# (codec, the name a person knows it by), tried in this order.
ENCODINGS = (("utf-8", "UTF-8"), ("gbk", "GBK"), ("gb18030", "GB18030"))
ALLOWED_CONTROLS = "\t\n\r\f"
PRIVATE_USE = (0xE000, 0xF8FF)  # where GB18030 puts user-defined codes: mis-decoded bytes


def decode(data: bytes, source: str) -> tuple[str, str]:
    """The file's text and the name of its encoding; refused when it is not such a text."""
    if len(data) > MAX_IMPORT_BYTES:
        raise TooLarge(f"{source} 超过 {MAX_IMPORT_BYTES // (1024 * 1024)} MB,未导入")
    if data.startswith(codecs.BOM_UTF8):
        text, name = _strict(data[len(codecs.BOM_UTF8) :], "utf-8", source), "UTF-8(带 BOM)"
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise _unknown(source)  # UTF-16, as Windows Notepad once saved "Unicode"
    elif b"\0" in data:
        raise _binary(source)
    else:
        text, name = _first_that_decodes(data, source)
    if any(ord(c) < 32 and c not in ALLOWED_CONTROLS or 0x7F <= ord(c) < 0xA0 for c in text):
        raise _binary(source)
    if any(PRIVATE_USE[0] <= ord(c) <= PRIVATE_USE[1] for c in text):
        raise _unknown(source)
    return text, name


def _first_that_decodes(data: bytes, source: str) -> tuple[str, str]:
    for codec, name in ENCODINGS:
        try:
            return data.decode(codec), name
        except UnicodeDecodeError:
            continue
    raise _unknown(source)


def _strict(data: bytes, codec: str, source: str) -> str:
    try:
        return data.decode(codec)
    except UnicodeDecodeError:
        raise _unknown(source) from None


def _unknown(source: str) -> InvalidInput:
    return InvalidInput(
        f"{source} 的编码无法识别(支持 UTF-8、GBK、GB18030),未导入", code="encoding"
    )


def _binary(source: str) -> InvalidInput:
    return InvalidInput(f"{source} 不是文本文件(含二进制内容),未导入", code="encoding")
