"""WeChat's callback signatures and message encryption, checked in constant time.

signature     = sha1(sorted([token, timestamp, nonce]) joined)            (every callback)
msg_signature = sha1(sorted([token, timestamp, nonce, Encrypt]) joined)   (compatible/safe)
Encrypt       = base64(AES-256-CBC(key, iv=key[:16],
                  PKCS7_32(random16 + len(msg) as 4 bytes big-endian + msg + appid)))
key           = base64decode(EncodingAESKey + "=")

wechatpy 1.8.18 compares signatures with ``!=`` and lets a bad padding surface as an
arbitrary exception, so Qianfa does both here: every failure is one ``CryptoError``.
"""

import base64
import binascii
import functools
import hashlib
import hmac
import os
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BLOCK = 32  # WeChat pads to 32 bytes, not AES's 16


class CryptoError(ValueError):
    """A signature, key, padding or AppID that does not check out."""


def sign(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode("utf-8")).hexdigest()


def same(expected: str, given: str | None) -> bool:
    """Compare in constant time; a missing value never matches."""
    return hmac.compare_digest(expected.encode("utf-8"), (given or "").encode("utf-8"))


def aes_key(encoding_aes_key: str) -> bytes:
    return base64.b64decode(encoding_aes_key + "=")


@functools.lru_cache(maxsize=256)
def _cipher(key: bytes) -> Cipher:
    """AES-CBC with WeChat's fixed IV; a ``Cipher`` is immutable, so one per key is reused."""
    return Cipher(algorithms.AES(key), modes.CBC(key[:16]))


def encrypt(key: bytes, message: bytes, appid: str) -> str:
    plain = os.urandom(16) + struct.pack(">I", len(message)) + message + appid.encode()
    count = BLOCK - len(plain) % BLOCK
    encryptor = _cipher(key).encryptor()
    sealed = encryptor.update(plain + bytes([count]) * count) + encryptor.finalize()
    return base64.b64encode(sealed).decode("ascii")


def decrypt(key: bytes, encrypted: str, appid: str) -> bytes:
    """Decrypt one message; refuse bad base64, blocks, padding, length and AppID alike."""
    try:
        sealed = base64.b64decode(encrypted, validate=True)
    except (binascii.Error, ValueError):
        raise CryptoError("Encrypt 不是 base64") from None
    if not sealed or len(sealed) % 16:
        raise CryptoError("密文不是完整的 AES 分组")
    decryptor = _cipher(key).decryptor()
    plain = decryptor.update(sealed) + decryptor.finalize()
    count = plain[-1]
    if not 1 <= count <= BLOCK or plain[-count:] != bytes([count]) * count:
        raise CryptoError("密文填充错误")
    plain = plain[:-count]
    if len(plain) < 20:
        raise CryptoError("密文过短")
    (length,) = struct.unpack(">I", plain[16:20])
    message, tail = plain[20 : 20 + length], plain[20 + length :]
    if len(message) != length:
        raise CryptoError("密文长度字段错误")
    if not hmac.compare_digest(appid.encode(), tail):
        raise AppIdMismatch("解密后的 AppID 与平台不符")
    return message


class AppIdMismatch(CryptoError):
    """The message decrypts, but was sealed for another AppID."""
