"""The master key that seals platform secrets, kept outside Redis.

It comes from ``QIANFA_MASTER_KEY`` or a key file (default ``<instance>/master.key``,
created with mode 0600 on first use). A rotation stages the new key as ``<file>.new``
before Redis needs it and renames it into place afterwards; the loader reads ``.new``
too, so no crash between the two loses a key.
"""

import base64
import contextlib
import fcntl
import hashlib
import os
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from app.core.errors import ConfigError, Conflict, InvalidInput
from app.core.settings import MASTER_KEY_FORMAT, MASTER_KEY_TEXT, Settings

KEY_BYTES = 32
DEFAULT_KEY_FILE = "master.key"
AUDIT_PURPOSE = "audit-chain"  # the HKDF label of the audit chain's HMAC key

_audit_cache: tuple[tuple, list[bytes]] | None = None


class Keyring:
    """The master key(s) this process can decrypt with, by key id; the first is primary."""

    __slots__ = ("_keys", "primary")

    def __init__(self, master_keys: list[bytes]):
        self._keys = {key_id(k): k for k in master_keys}
        self.primary = key_id(master_keys[0])

    def __repr__(self) -> str:
        return f"Keyring(primary={self.primary!r}, ids={sorted(self._keys)!r})"

    @property
    def ids(self) -> list[str]:
        return sorted(self._keys)

    def derive(self, purpose: str) -> bytes:
        """A key of its own for ``purpose`` (HKDF of the primary key): one secret, many uses."""
        return _derive(self._keys[self.primary], purpose)

    def derive_all(self, purpose: str) -> list[bytes]:
        """``derive`` for every key, primary first: what was written under an older key checks."""
        return [_derive(key, purpose) for key in self._keys.values()]

    def cipher(self, kid: str) -> AESGCM:
        if kid not in self._keys:
            raise ConfigError(
                f"库中密钥由主密钥 {kid} 加密,当前主密钥为 {'、'.join(self.ids)}:"
                "请检查 QIANFA_MASTER_KEY / QIANFA_MASTER_KEY_FILE"
            )
        return AESGCM(self._keys[kid])


def _derive(master: bytes, purpose: str) -> bytes:
    hkdf = HKDF(algorithm=SHA256(), length=KEY_BYTES, salt=None, info=f"qianfa:{purpose}".encode())
    return hkdf.derive(master)


def audit_keys(settings: Settings) -> list[bytes]:
    """The audit chain's HMAC keys, one per master key loaded (primary first).

    Every audit record needs them, so they are derived once and kept while the key files
    stay as they are; a rotation (``.new`` appearing, then renamed) reloads them.
    """
    global _audit_cache
    stamp = (settings.master_key, *_file_stamps(settings.master_key_file))
    if _audit_cache is None or _audit_cache[0] != stamp:
        _audit_cache = (stamp, load_keyring(settings).derive_all(AUDIT_PURPOSE))
    return _audit_cache[1]


def _file_stamps(path: Path) -> tuple:
    found = []
    for candidate in (path, staged(path)):
        try:
            info = candidate.stat()
        except FileNotFoundError:
            found.append((str(candidate), None))
            continue
        found.append((str(candidate), info.st_ino, info.st_mtime_ns, info.st_size))
    return tuple(found)


def key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:8]


def new_key() -> bytes:
    return os.urandom(KEY_BYTES)


def parse_key(text: str, source: str) -> bytes:
    """Decode key text; the message names the setting, never the text."""
    text = text.strip()
    if not MASTER_KEY_TEXT.fullmatch(text):
        raise ConfigError(f"{source}: 主密钥格式错误,{MASTER_KEY_FORMAT}")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def staged(path: Path) -> Path:
    """Where a rotation puts the new key before Redis uses it."""
    return path.with_name(path.name + ".new")


def load_keyring(settings: Settings) -> Keyring:
    """Load the master key, generating the default key file on first use.

    A leftover ``<key file>.new`` joins the keyring, so a rotation that stopped between
    its transaction and its rename loses nothing.
    """
    if settings.master_key:
        return Keyring([parse_key(settings.master_key, "QIANFA_MASTER_KEY")])
    path = settings.master_key_file
    # Read ``.new`` first: a rotation renames it over the key file, never the reverse.
    leftover = read_key_file(staged(path))
    found = [k for k in (read_key_file(path), leftover) if k]
    if found:
        return Keyring(found)
    if path != settings.instance_dir / DEFAULT_KEY_FILE:
        raise ConfigError(f"QIANFA_MASTER_KEY_FILE: 找不到主密钥文件 {path}")
    try:
        create_key_file(path, new_key())
    except FileExistsError:
        pass  # another process generated it first
    return Keyring([read_key_file(path)])


def read_key_file(path: Path) -> bytes | None:
    try:
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"QIANFA_MASTER_KEY_FILE: 无法读取 {path}:{exc}") from None
    return parse_key(text, f"QIANFA_MASTER_KEY_FILE({path})")


def create_key_file(path: Path, key: bytes) -> None:
    """Write ``key`` to the new file ``path`` (0600, synced); it appears whole or not at all.

    Raises ``FileExistsError`` rather than overwrite a key.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(base64.urlsafe_b64encode(key).decode() + "\n")
            out.flush()
            os.fsync(out.fileno())
        os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    _sync_dir(path.parent)


def _sync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def stage_key(path: Path) -> bytes:
    """Write a fresh key to ``<path>.new`` before any ciphertext needs it."""
    key = new_key()
    try:
        create_key_file(staged(path), key)
    except FileExistsError:
        raise InvalidInput(f"{staged(path)} 已存在:可能是上次轮换中断留下的,请先处理") from None
    return key


def install_key(path: Path) -> None:
    """Put the staged key in place of the old one, atomically."""
    os.replace(staged(path), path)
    _sync_dir(path.parent)


@contextlib.contextmanager
def rotation_lock(path: Path):
    """Hold ``<path>.lock`` for a whole rotation: a second one would delete the first's key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "w") as lock_file:
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Conflict("另一次主密钥轮换正在进行,请等它完成") from None
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)
