"""Sealed platform credentials (the college's measures, art. 16).

Art. 16 names the back office's user name and password: each platform may hold its
back-office login (mp.weixin.qq.com, Weibo, the website's CMS) as ``login_name`` and
``login_password``, sealed exactly like the API secrets, and the sealed archive
(密封存档) can be exported college-wide or for one unit, whose administrators seal it.

A platform's secrets live in Redis only as AES-GCM ciphertext bound to the platform and
the secret's name, under a master key kept outside Redis (``QIANFA_MASTER_KEY`` or the
key file). Decrypted values travel as ``Sealed``, so
logs and tracebacks show ``<sealed>``; every write and every read is audited by name,
never by value. ``keys.master_key_check()`` names the master key the stored ciphertexts
are under, so a wrong or regenerated key is refused instead of mixing two keys.

Stored text: ``v1:<key id>:<nonce>:<ciphertext>`` (url-safe base64, no padding), where
the key id is the first 8 hex digits of the key's SHA-256.
"""

import base64
import binascii
import json
import os
import re
from pathlib import Path

import redis
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from app.core import keys, validate
from app.core.audit import Actor, append
from app.core.errors import InvalidInput, NotFound, QianfaError
from app.core.masterkey import (
    KEY_BYTES,
    Keyring,
    install_key,
    key_id,
    load_keyring,
    read_key_file,
    rotation_lock,
    stage_key,
    staged,
)
from app.core.settings import Settings
from app.core.store import Tx, atomically, decode, decode_set, timestamp
from app.registry import access, platforms, units

VERSION = "v1"
PURPOSE_MAX = 200
NONCE_BYTES = 12

SECRETS = {
    "app_secret": (re.compile(r"[0-9a-fA-F]{32}"), "32 位十六进制字符"),
    "token": (re.compile(r"[A-Za-z0-9]{3,32}"), "3–32 位英文字母或数字"),
    "encoding_aes_key": (re.compile(r"[A-Za-z0-9+/]{43}"), "43 位英文字母、数字、+ 或 /"),
    # The Token of the callback URL the account used before Qianfa (``qianfa webhook set``).
    "forward_token": (re.compile(r"[A-Za-z0-9]{3,32}"), "3–32 位英文字母或数字"),
    # Art. 16: the back office's user name and password (公众平台、微博或网站管理后台).
    "login_name": (re.compile(r"[^\s\x00-\x1f\x7f]{1,128}"), "1–128 个字符,不含空白"),
    "login_password": (re.compile(r"[^\x00-\x1f\x7f]{6,128}"), "6–128 个字符,不含控制字符"),
}
NAMES = tuple(SECRETS)

ARCHIVE_FORMAT = "qianfa-sealed-credentials"
ARCHIVE_VERSION = 1
ARCHIVE_HEADER = ("format", "version", "cipher", "kdf")
MIN_PASSPHRASE = 12
SCRYPT_COST = {"n": 2**15, "r": 8, "p": 1}
SCRYPT_MAX_N = 2**20


class Sealed:
    """A decrypted secret that prints as ``<sealed>``; ``reveal()`` is the one way in."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "<sealed>"

    __str__ = __repr__


# --- sealing one value --------------------------------------------------------------


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _aad(platform_id: str, name: str) -> bytes:
    """Bind a ciphertext to its platform and name, so a copied one fails to decrypt."""
    return json.dumps(["qianfa-credential", VERSION, platform_id, name]).encode()


def seal(keyring: Keyring, kid: str, platform_id: str, name: str, value: str) -> str:
    nonce = os.urandom(NONCE_BYTES)
    data = keyring.cipher(kid).encrypt(nonce, value.encode(), _aad(platform_id, name))
    return ":".join((VERSION, kid, _b64(nonce), _b64(data)))


def unseal(keyring: Keyring, platform_id: str, name: str, stored: str) -> Sealed:
    """Decrypt stored text; a wrong key or a damaged or moved ciphertext is one clear error."""
    parts = stored.split(":")
    if len(parts) != 4 or parts[0] != VERSION:
        raise _unreadable(platform_id, name)
    _, kid, nonce, data = parts
    cipher = keyring.cipher(kid)
    try:
        plain = cipher.decrypt(_unb64(nonce), _unb64(data), _aad(platform_id, name))
        return Sealed(plain.decode())
    except (InvalidTag, ValueError, binascii.Error):
        raise _unreadable(platform_id, name) from None


def _unreadable(platform_id: str, name: str) -> QianfaError:
    return QianfaError(
        f"平台 {platform_id} 的 {name} 无法解密:密文已损坏,或不属于此平台/此项",
        code="credentials_unreadable",
    )


# --- validation ---------------------------------------------------------------------


def check_name(name: str) -> None:
    if name not in SECRETS:
        raise InvalidInput(f"未知的密钥名称:应为 {'、'.join(NAMES)} 之一")


def check_value(name: str, value: str) -> None:
    """Refuse a malformed value; the message names the field and never echoes the value."""
    check_name(name)
    pattern, rule = SECRETS[name]
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise InvalidInput(f"{name} 格式不正确:应为{rule}")


def _require_platform(r, platform_id: str) -> None:
    if not platforms.exists(r, platform_id):
        raise NotFound(f"平台 {platform_id} 不存在")


# --- one platform -------------------------------------------------------------------


def _sealing_key(tx: Tx, keyring: Keyring) -> str:
    """The master key the stored ciphertexts are under, so one installation never mixes two."""
    current = tx.read.get(keys.master_key_check())
    kid = current.decode() if current else keyring.primary
    keyring.cipher(kid)  # a keyring without it is the wrong key: refuse before writing
    return kid


def set_secret(
    r: redis.Redis, keyring: Keyring, actor: Actor, platform_id: str, name: str, value: str
) -> None:
    """Seal ``value`` as the platform's ``name``; the write and its audit record land together."""
    platform_id = platforms.platform_id(platform_id)
    access.authorize(r, actor, (access.PROPAGANDA,), "设置平台密钥")
    check_value(name, value)

    def change(tx: Tx) -> None:
        _require_platform(tx.read, platform_id)
        kid = _sealing_key(tx, keyring)
        tx.write.hset(
            keys.platform_secrets(platform_id),
            mapping={
                name: seal(keyring, kid, platform_id, name, value),
                f"{name}:changed_at": timestamp(),
            },
        )
        tx.write.set(keys.master_key_check(), kid)
        append(tx, actor, "credentials.set", platform=platform_id, detail={"name": name})

    atomically(r, [keys.platforms(), keys.master_key_check()], change)


def reveal(
    r: redis.Redis, keyring: Keyring, actor: Actor, platform_id: str, name: str, *, purpose: str
) -> Sealed:
    """Decrypt one secret; the read is audited with who asked and why."""
    access.authorize(r, actor, (access.PROPAGANDA,), "读取平台密钥")
    platform_id = platforms.platform_id(platform_id)
    check_name(name)
    purpose = validate.text(purpose, "读取密钥的用途(purpose)", max_len=PURPOSE_MAX)

    def change(tx: Tx) -> Sealed:
        _require_platform(tx.read, platform_id)
        stored = tx.read.hget(keys.platform_secrets(platform_id), name)
        if stored is None:
            raise NotFound(f"平台 {platform_id} 未设置 {name}")
        value = unseal(keyring, platform_id, name, stored.decode())
        detail = {"name": name, "purpose": purpose}
        append(tx, actor, "credentials.read", platform=platform_id, detail=detail)
        return value

    return atomically(r, [keys.platforms(), keys.platform_secrets(platform_id)], change)


def status(r: redis.Redis, platform_id: str) -> dict[str, dict]:
    """Which secrets are set and when they changed; never a value."""
    platform_id = platforms.platform_id(platform_id)
    _require_platform(r, platform_id)
    stored = decode(r.hgetall(keys.platform_secrets(platform_id)))
    return {
        name: {
            "set": name in stored,
            "changed_at": stored.get(f"{name}:changed_at") if name in stored else None,
        }
        for name in NAMES
    }


# --- every platform: rotation -------------------------------------------------------


def _read_all(tx: Tx, unit: str = "") -> dict[str, dict[str, str]]:
    """Every platform's (or one unit's) stored ciphertexts, WATCHed, so a bulk change sees
    one state."""
    tx.watch(keys.platforms())
    result = {}
    for platform_id in sorted(decode_set(tx.read.smembers(keys.platforms()))):
        if unit and (tx.read.hget(keys.platform(platform_id), "unit") or b"").decode() != unit:
            continue
        tx.watch(keys.platform_secrets(platform_id))
        stored = decode(tx.read.hgetall(keys.platform_secrets(platform_id)))
        result[platform_id] = {n: stored[n] for n in NAMES if n in stored}
    return result


def _unseal_all(keyring: Keyring, stored: dict[str, dict[str, str]]) -> dict[str, dict]:
    return {
        platform_id: {n: unseal(keyring, platform_id, n, text) for n, text in secrets.items()}
        for platform_id, secrets in stored.items()
    }


def reseal_all(r: redis.Redis, keyring: Keyring, key: bytes, actor: Actor) -> int:
    """Re-encrypt every stored secret under ``key`` in one transaction; return how many."""
    new = Keyring([key])

    def change(tx: Tx) -> int:
        opened = _unseal_all(keyring, _read_all(tx))
        count = 0
        for platform_id, secrets in opened.items():
            if secrets:
                mapping = {
                    n: seal(new, new.primary, platform_id, n, v.reveal())
                    for n, v in secrets.items()
                }
                tx.write.hset(keys.platform_secrets(platform_id), mapping=mapping)
                count += len(mapping)
        tx.write.set(keys.master_key_check(), new.primary)
        detail = {"count": count, "key_id": new.primary}
        append(tx, actor, "credentials.rotate_master_key", detail=detail)
        return count

    return atomically(r, [keys.master_key_check()], change)


def _rotation_target(settings: Settings, new_key_file: Path | None) -> Path:
    if new_key_file is None:
        if settings.master_key:
            raise InvalidInput(
                "主密钥来自环境变量 QIANFA_MASTER_KEY:轮换须指定新密钥文件(--new-key-file),"
                "完成后把 QIANFA_MASTER_KEY_FILE 指向该文件并删除 QIANFA_MASTER_KEY"
            )
        return settings.master_key_file
    target = Path(new_key_file).expanduser().absolute()
    if not settings.master_key and target == settings.master_key_file:
        return target
    for existing in (target, staged(target)):
        if existing.exists():
            raise InvalidInput(f"{existing} 已存在,不覆盖")
    return target


def _settle_leftover(r: redis.Redis, path: Path) -> None:
    """Finish or discard a rotation that stopped between its transaction and its rename."""
    leftover = read_key_file(staged(path))
    if leftover is None:
        return
    current = r.get(keys.master_key_check())
    if not path.exists() or (current and current.decode() == key_id(leftover)):
        install_key(path)  # Redis already uses it: finish the rename
    else:
        staged(path).unlink()  # its transaction never committed: nothing uses it


def rotate_master_key(
    r: redis.Redis, settings: Settings, actor: Actor, *, new_key_file: Path | None = None
) -> int:
    """Re-encrypt every secret under a fresh master key; return how many were re-encrypted.

    The new key is on disk (``.new``) before the transaction and renamed into place
    after it, and the loader reads ``.new`` too, so no crash loses a key.
    """
    access.authorize(r, actor, (access.PROPAGANDA,), "轮换主密钥")
    target = _rotation_target(settings, new_key_file)
    with rotation_lock(target):
        if target == settings.master_key_file and not settings.master_key:
            _settle_leftover(r, target)
        keyring = load_keyring(settings)
        key = stage_key(target)
        try:
            count = reseal_all(r, keyring, key, actor)
        except QianfaError:
            staged(target).unlink(missing_ok=True)  # refused before commit: nothing uses it
            raise
        install_key(target)
    return count


# --- every platform: the sealed archive (密封存档) ----------------------------------


def _check_passphrase(passphrase: str) -> None:
    if not isinstance(passphrase, str) or len(passphrase) < MIN_PASSPHRASE:
        raise InvalidInput(f"口令至少 {MIN_PASSPHRASE} 个字符")


def _canonical(header: dict) -> bytes:
    return json.dumps(header, sort_keys=True, separators=(",", ":")).encode()


def _derive(passphrase: str, kdf: dict) -> bytes:
    """The archive key from the passphrase; cost parameters from a file are bounded."""
    try:
        n, r_, p = int(kdf["n"]), int(kdf["r"]), int(kdf["p"])
        if kdf["name"] != "scrypt" or not (
            2 <= n <= SCRYPT_MAX_N and 1 <= r_ <= 32 and 1 <= p <= 16
        ):
            raise ValueError("cost out of bounds")
        scrypt = Scrypt(salt=_unb64(kdf["salt"]), length=KEY_BYTES, n=n, r=r_, p=p)
        return scrypt.derive(passphrase.encode())
    except (KeyError, TypeError, ValueError, binascii.Error):
        raise InvalidInput("密封存档的密钥派生参数无效:文件已损坏") from None


def seal_archive(body: dict, passphrase: str) -> bytes:
    """Encrypt ``body`` under a key derived from the passphrase, as a JSON envelope."""
    kdf = {"name": "scrypt", "salt": _b64(os.urandom(16)), **SCRYPT_COST}
    header = {"format": ARCHIVE_FORMAT, "version": ARCHIVE_VERSION, "cipher": "AES-256-GCM"}
    header["kdf"] = kdf
    nonce = os.urandom(NONCE_BYTES)
    plain = json.dumps(body, ensure_ascii=False).encode()
    data = AESGCM(_derive(passphrase, kdf)).encrypt(nonce, plain, _canonical(header))
    envelope = {**header, "nonce": _b64(nonce), "ciphertext": _b64(data)}
    return (json.dumps(envelope, indent=2) + "\n").encode()


def _parse_envelope(data: bytes) -> dict:
    try:
        envelope = json.loads(data)
    except (ValueError, TypeError):
        envelope = None
    if not isinstance(envelope, dict) or envelope.get("format") != ARCHIVE_FORMAT:
        raise InvalidInput("不是签发的密封存档")
    if envelope.get("version") != ARCHIVE_VERSION:
        raise InvalidInput(f"不支持的密封存档版本 {envelope.get('version')!r}")
    if not all(isinstance(envelope.get(k), str) for k in ("nonce", "ciphertext")):
        raise InvalidInput("密封存档不完整:文件已损坏")
    return envelope


def open_sealed(data: bytes, passphrase: str) -> dict:
    """Decrypt a sealed archive: ``{"exported_at": ..., "platforms": {id: {name: Sealed}}}``."""
    envelope = _parse_envelope(data)
    header = {k: envelope.get(k) for k in ARCHIVE_HEADER}
    key = _derive(passphrase, header["kdf"])
    try:
        nonce, ciphertext = _unb64(envelope["nonce"]), _unb64(envelope["ciphertext"])
        body = json.loads(AESGCM(key).decrypt(nonce, ciphertext, _canonical(header)))
        found = body["platforms"].items()
        platforms_ = {pid: {n: Sealed(v) for n, v in secrets.items()} for pid, secrets in found}
        opened = {"exported_at": body["exported_at"], "platforms": platforms_}
        return {**opened, "unit": body.get("unit", "")}
    except (InvalidTag, ValueError, binascii.Error, KeyError, TypeError, AttributeError):
        raise InvalidInput("无法打开密封存档:口令错误或文件已损坏") from None


def export_sealed(
    r: redis.Redis, keyring: Keyring, actor: Actor, passphrase: str, *, unit: str = ""
) -> bytes:
    """Build the measures' 密封存档: every platform's secrets, readable only with the passphrase.

    With ``unit``, only that unit's platforms: the archive its administrators seal (art. 16).
    """
    access.authorize(r, actor, (access.PROPAGANDA,), "导出密封存档")
    _check_passphrase(passphrase)
    unit = units.get(r, unit).id if unit else ""

    def change(tx: Tx) -> dict:
        opened = _unseal_all(keyring, _read_all(tx, unit))
        if unit and not opened:
            raise InvalidInput(f"单位 {unit} 没有平台,没有可导出的密钥")
        detail = {"platforms": len(opened), **({"unit": unit} if unit else {})}
        append(tx, actor, "credentials.export_sealed", detail=detail)
        return opened

    opened = atomically(r, [], change)
    values = {pid: {n: v.reveal() for n, v in s.items()} for pid, s in opened.items()}
    body = {"exported_at": timestamp(), "platforms": values, **({"unit": unit} if unit else {})}
    return seal_archive(body, passphrase)


def import_sealed(
    r: redis.Redis, keyring: Keyring, actor: Actor, data: bytes, passphrase: str
) -> int:
    """Restore the archived secrets of platforms that exist, under the current master key."""
    access.authorize(r, actor, (access.PROPAGANDA,), "导入密封存档")
    archived = open_sealed(data, passphrase)["platforms"]
    for secrets in archived.values():
        for name, value in secrets.items():
            check_value(name, value.reveal())

    def change(tx: Tx) -> int:
        kid = _sealing_key(tx, keyring)
        restored = [pid for pid in sorted(archived) if platforms.exists(tx.read, pid)]
        for pid in restored:
            _write_restored(tx, keyring, kid, pid, archived[pid])
        tx.write.set(keys.master_key_check(), kid)
        skipped = sorted(set(archived) - set(restored))
        detail = {"platforms": len(restored), "restored": restored, "skipped": skipped}
        append(tx, actor, "credentials.import_sealed", detail=detail)
        return len(restored)

    return atomically(r, [keys.platforms(), keys.master_key_check()], change)


def _write_restored(tx: Tx, keyring: Keyring, kid: str, platform_id: str, secrets: dict) -> None:
    changed_at = timestamp()
    mapping = {}
    for name, value in secrets.items():
        mapping[name] = seal(keyring, kid, platform_id, name, value.reveal())
        mapping[f"{name}:changed_at"] = changed_at
    if mapping:
        tx.write.hset(keys.platform_secrets(platform_id), mapping=mapping)
