"""Signatures of the audit chain: HMAC-SHA256 under a key derived from the master key.

The master key lives outside Redis, so someone with only Redis access can rewrite
records and recompute their SHA-256 hashes, but cannot sign them. A record's ``sig``
holds ``kid:hmac`` for every master key loaded (two during a rotation), so a chain stays
checkable once the old key is gone: records under an old key are vouched for by the hash
chain up to the first record signed under a key this process has.

A ``Checkpoint`` is a signed (seq, hash, stream id, time): an anchor in the anchor file,
the trim base, or the console's last verified point.
"""

import hashlib
import hmac
import json
from dataclasses import asdict, dataclass, field

from app.core.masterkey import audit_keys, key_id
from app.core.settings import get_settings
from app.core.store import timestamp

VERSION = "2"  # records without ``v`` are version 1: hashed, not signed


@dataclass(frozen=True)
class Signer:
    """The audit keys of this process by key id, the primary's first.

    Each key's HMAC is keyed once (``primed``) and copied per digest: keying costs more than
    the MAC itself, and ``audit verify`` checks a million signatures.
    """

    keys: dict[str, bytes]
    primed: dict[str, tuple] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        for kid, key in self.keys.items():
            self.primed[kid] = _keyed(key)

    @classmethod
    def of(cls, keys: list[bytes]) -> "Signer":
        return cls({key_id(key): key for key in keys})

    def sign(self, digest: str) -> str:
        return " ".join([f"{kid}:{_mac(primed, digest)}" for kid, primed in self.primed.items()])

    def seals(self, digests: list[bytes]) -> list[bytes]:
        """``sign`` of each hex digest, as bytes as Redis returns them: the batch ``audit
        verify`` checks, one key (the usual case) spelled out, since a call per record costs
        as much."""
        if len(self.primed) != 1:
            return [self.sign(digest.decode()).encode() for digest in digests]
        ((kid, (inner, outer)),) = self.primed.items()
        prefix, sealed = f"{kid}:".encode(), []
        for digest in digests:
            mac = inner.copy()
            mac.update(digest)
            around = outer.copy()
            around.update(mac.digest())
            sealed.append(prefix + around.hexdigest().encode())
        return sealed

    def check(self, digest: str, sig: str) -> bool | None:
        """True when a known key signed ``digest``; None when no known key signed anything.

        A signature by a known key that does not match is False even beside a good one.
        """
        verdict = None
        for part in sig.split():
            kid, _, mac = part.partition(":")
            if kid in self.primed:
                if not hmac.compare_digest(mac, _mac(self.primed[kid], digest)):
                    return False
                verdict = True
        return verdict


def _keyed(key: bytes) -> tuple:
    """HMAC-SHA256's inner and outer hash states after the key (RFC 2104), as ``hmac`` keys them."""
    key = (hashlib.sha256(key).digest() if len(key) > 64 else key).ljust(64, b"\0")
    inner, outer = key.translate(hmac.trans_36), key.translate(hmac.trans_5C)
    return hashlib.sha256(inner), hashlib.sha256(outer)


def _mac(primed: tuple, digest: str) -> str:
    inner, outer = primed[0].copy(), primed[1].copy()
    inner.update(digest.encode())
    outer.update(inner.digest())
    return outer.hexdigest()


def signer() -> Signer:
    """This process's signer; cheap after the first call (``masterkey.audit_keys`` caches)."""
    global _cached
    keys = audit_keys(get_settings())
    if _cached is None or _cached[0] is not keys:
        _cached = (keys, Signer.of(keys))
    return _cached[1]


_cached: tuple[list[bytes], Signer] | None = None


@dataclass(frozen=True)
class Checkpoint:
    """The chain as it stood: record ``seq`` with ``hash`` at stream id ``entry``, signed."""

    seq: int
    hash: str
    entry: str
    at: str
    sig: str = ""

    def digest(self) -> str:
        body = {"seq": self.seq, "hash": self.hash, "entry": self.entry, "at": self.at}
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()

    def trusted(self, by: Signer) -> bool | None:
        """Signed by a known key (True), forged (False), or under no key we have (None)."""
        return by.check(self.digest(), self.sig)

    def fields(self) -> dict[str, str]:
        return {k: str(v) for k, v in asdict(self).items()}

    @classmethod
    def parse(cls, fields: dict) -> "Checkpoint | None":
        """From stored fields; None when they are not a checkpoint at all."""
        try:
            return cls(
                int(fields["seq"]), fields["hash"], fields["entry"], fields["at"], fields["sig"]
            )
        except (KeyError, TypeError, ValueError):
            return None


def checkpoint(seq: int, digest: str, entry: str, by: Signer | None = None) -> Checkpoint:
    """A checkpoint of (seq, digest, entry) signed now."""
    unsigned = Checkpoint(seq, digest, entry, timestamp())
    return Checkpoint(seq, digest, entry, unsigned.at, (by or signer()).sign(unsigned.digest()))
