"""WeChat's message signature and AES scheme, written from the published description.

signature     = sha1(sorted([token, timestamp, nonce]) joined)            (every callback)
msg_signature = sha1(sorted([token, timestamp, nonce, Encrypt]) joined)   (compatible/safe)
Encrypt       = base64(AES-256-CBC(key, iv=key[:16],
                  PKCS7_32(random16 + len(msg) as 4 bytes big-endian + msg + appid)))
key           = base64decode(EncodingAESKey + "=")

Every comparison of a signature or an AppID is constant-time (``hmac.compare_digest``).
"""

import base64
import binascii
import hashlib
import hmac
import os
import struct
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BLOCK = 32  # WeChat pads to 32 bytes, not AES's 16


class CryptoError(Exception):
    """A signature, key, padding or AppID that does not check out."""


def sign(*parts: str) -> str:
    """WeChat's signature: the SHA-1 hex of the parts sorted and concatenated."""
    return hashlib.sha1("".join(sorted(parts)).encode("utf-8")).hexdigest()


def same(expected: str, given: str | None) -> bool:
    """Compare two strings in constant time; a missing value never matches."""
    return hmac.compare_digest(expected.encode("utf-8"), (given or "").encode("utf-8"))


def aes_key(encoding_aes_key: str) -> bytes:
    """Turn the 43-character EncodingAESKey into the 32-byte AES key."""
    text = encoding_aes_key
    if len(text) != 43 or not (text.isascii() and text.isalnum()):
        raise CryptoError("EncodingAESKey must be 43 ASCII letters or digits")
    return base64.b64decode(text + "=")


def pkcs7_pad(data: bytes) -> bytes:
    count = BLOCK - len(data) % BLOCK
    return data + bytes([count]) * count


def pkcs7_unpad(data: bytes) -> bytes:
    count = data[-1] if data else 0
    if not 1 <= count <= BLOCK or data[-count:] != bytes([count]) * count:
        raise CryptoError("bad padding")
    return data[:-count]


def _cipher(key: bytes) -> Cipher:
    return Cipher(algorithms.AES(key), modes.CBC(key[:16]))


def encrypt(key: bytes, message: bytes, receive_id: str, prefix: bytes | None = None) -> str:
    """Encrypt one message; ``prefix`` (16 bytes) is random unless a test vector fixes it."""
    prefix = os.urandom(16) if prefix is None else prefix
    plain = prefix + struct.pack(">I", len(message)) + message + receive_id.encode("utf-8")
    encryptor = _cipher(key).encryptor()
    sealed = encryptor.update(pkcs7_pad(plain)) + encryptor.finalize()
    return base64.b64encode(sealed).decode("ascii")


def decrypt(key: bytes, encrypted: str, receive_id: str) -> bytes:
    """Decrypt one message and check that it was sealed for ``receive_id``."""
    try:
        sealed = base64.b64decode(encrypted, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise CryptoError("not base64") from exc
    if not sealed or len(sealed) % 16:
        raise CryptoError("not a whole number of AES blocks")
    decryptor = _cipher(key).decryptor()
    plain = pkcs7_unpad(decryptor.update(sealed) + decryptor.finalize())
    if len(plain) < 20:
        raise CryptoError("too short")
    (length,) = struct.unpack(">I", plain[16:20])
    message, tail = plain[20 : 20 + length], plain[20 + length :]
    if len(message) != length or not hmac.compare_digest(receive_id.encode("utf-8"), tail):
        raise CryptoError("sealed for another AppID")
    return message


@dataclass(frozen=True)
class MessageCrypto:
    """One account's token, key and AppID: what both sides of a callback share."""

    token: str
    key: bytes
    appid: str

    @classmethod
    def for_account(cls, token: str, encoding_aes_key: str, appid: str) -> "MessageCrypto":
        return cls(token, aes_key(encoding_aes_key), appid)

    def seal(self, xml: str, timestamp: str, nonce: str, prefix: bytes | None = None):
        """Encrypt ``xml``; return the Encrypt text and its msg_signature."""
        encrypted = encrypt(self.key, xml.encode("utf-8"), self.appid, prefix)
        return encrypted, sign(self.token, timestamp, nonce, encrypted)

    def open(self, encrypted: str, msg_signature: str, timestamp: str, nonce: str) -> str:
        """Check the msg_signature, then decrypt; raise CryptoError on any mismatch."""
        if not same(sign(self.token, timestamp, nonce, encrypted), msg_signature):
            raise CryptoError("msg_signature does not match")
        try:
            return decrypt(self.key, encrypted, self.appid).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CryptoError("not UTF-8") from exc
