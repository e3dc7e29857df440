"""Known-answer tests of the sandbox's own WeChat crypto, and round trips with wechatpy."""

import base64

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from wechatpy.crypto import WeChatCrypto

from sandbox import wirexml
from sandbox.crypto import CryptoError, MessageCrypto, aes_key, decrypt, encrypt, sign
from tests.sandbox_helpers import SAMPLE_AES_KEY, SAMPLE_APPID, SAMPLE_TOKEN

# Tencent's WXBizMsgCrypt sample: a POST with these query parameters and this Encrypt.
SAMPLE_MSG_SIGNATURE = "477715d11cdb4164915debcba66cb864d751f3e6"
SAMPLE_TIMESTAMP = "1409659813"
SAMPLE_NONCE = "1372623149"
SAMPLE_ENCRYPT = (
    "RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3Qczc"
    "dCUpj911L3vg3W/sYYvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLj"
    "vd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMn"
    "vw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQUax5wLVMNS0+rUPA3k"
    "22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2Yoy"
    "yH2uyPIGHBZZIs2pDBS8R07+qN+E7Q=="
)
# The same sample's URL verification: signature over the echostr, which decrypts to a number.
SAMPLE_ECHO_SIGNATURE = "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3"
SAMPLE_ECHOSTR = (
    "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ=="
)


@pytest.fixture
def sample() -> MessageCrypto:
    return MessageCrypto.for_account(SAMPLE_TOKEN, SAMPLE_AES_KEY, SAMPLE_APPID)


def test_tencent_sample_message_opens(sample):
    """Tencent's sample callback passes the msg_signature check and decrypts to its text."""
    xml = sample.open(SAMPLE_ENCRYPT, SAMPLE_MSG_SIGNATURE, SAMPLE_TIMESTAMP, SAMPLE_NONCE)
    message = wirexml.parse(xml)
    assert message["Content"] == "hello"
    assert message["MsgId"] == "4561255354251345929"
    assert message["ToUserName"] == SAMPLE_APPID


def test_tencent_sample_reencrypts_to_the_same_bytes(sample):
    """Sealing the sample's plaintext with its random prefix reproduces Tencent's ciphertext."""
    raw = base64.b64decode(SAMPLE_ENCRYPT)
    decryptor = Cipher(algorithms.AES(sample.key), modes.CBC(sample.key[:16])).decryptor()
    prefix = (decryptor.update(raw) + decryptor.finalize())[:16]
    plain = decrypt(sample.key, SAMPLE_ENCRYPT, SAMPLE_APPID)
    assert encrypt(sample.key, plain, SAMPLE_APPID, prefix) == SAMPLE_ENCRYPT


def test_tencent_sample_echostr():
    """The sample's echostr signature and plaintext match the published values."""
    signature = sign(SAMPLE_TOKEN, "1409659589", "263014780", SAMPLE_ECHOSTR)
    assert signature == SAMPLE_ECHO_SIGNATURE
    plain = decrypt(aes_key(SAMPLE_AES_KEY), SAMPLE_ECHOSTR, SAMPLE_APPID)
    assert plain == b"1616140317555161061"


def test_official_python_sample_vector_a():
    """With the random prefix fixed, encryption gives the official sample's exact output."""
    key = aes_key("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG")
    sealed = encrypt(key, "我是中文abcd123".encode(), "wxb11529c136998cb6", b"aaaabbbbccccdddd")
    assert sealed == (
        "jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZGMhkP72vVOfg=="
    )


def test_url_verification_signature_example():
    """The 3-field signature matches WeChat's worked example for URL verification."""
    assert sign("AAAAA", "1714036504", "1514711492") == "f464b24fc39322e44b38aa78f5edd27bd1441696"


def test_sandbox_sealed_message_opens_with_wechatpy(sample):
    """A message the sandbox encrypts is accepted by wechatpy's WeChatCrypto."""
    xml = wirexml.render({"ToUserName": "gh_1", "MsgType": "text", "Content": "你好 ]]> <b>"})
    encrypted, msg_signature = sample.seal(xml, "1700000000", "42")
    body = wirexml.render({"ToUserName": "gh_1", "Encrypt": encrypted})
    theirs = WeChatCrypto(SAMPLE_TOKEN, SAMPLE_AES_KEY, SAMPLE_APPID)
    assert theirs.decrypt_message(body, msg_signature, "1700000000", "42") == xml


def test_wechatpy_reply_opens_in_sandbox(sample):
    """A reply wechatpy encrypts is verified and decrypted by the sandbox."""
    reply = "<xml><Content><![CDATA[回复]]></Content></xml>"
    envelope = WeChatCrypto(SAMPLE_TOKEN, SAMPLE_AES_KEY, SAMPLE_APPID).encrypt_message(
        reply, "7", "1700000001"
    )
    doc = wirexml.parse(envelope)
    assert sample.open(doc["Encrypt"], doc["MsgSignature"], doc["TimeStamp"], doc["Nonce"]) == reply


def test_tampering_is_refused(sample):
    """A wrong msg_signature, another AppID or a damaged ciphertext raise CryptoError."""
    with pytest.raises(CryptoError):
        sample.open(SAMPLE_ENCRYPT, "0" * 40, SAMPLE_TIMESTAMP, SAMPLE_NONCE)
    with pytest.raises(CryptoError):
        decrypt(sample.key, SAMPLE_ENCRYPT, "wx0000000000000000")
    with pytest.raises(CryptoError):
        decrypt(sample.key, SAMPLE_ENCRYPT[:-8] + "AAAAAAA=", SAMPLE_APPID)
    with pytest.raises(CryptoError):
        aes_key("too-short")
    with pytest.raises(CryptoError):
        aes_key("密" * 43)  # letters to str.isalnum, but not base64
