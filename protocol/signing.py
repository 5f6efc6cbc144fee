"""Ed25519 keys and signed envelopes (PyNaCl).

A :class:`Signed` envelope carries one message and the signature of its sender over
:func:`protocol.canonical.signing_bytes`. Receivers verify against a :class:`KeyDirectory` before
they act; every failure is a :class:`protocol.errors.VerificationError`, never a crash.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Generic, TypeVar

import nacl.exceptions
import nacl.signing
from pydantic import BaseModel, ConfigDict, PrivateAttr, StringConstraints

from protocol.canonical import canonical_json, sha256_hex, signing_bytes
from protocol.errors import BadSignature, UnknownSigner
from protocol.messages import Message

M = TypeVar("M", bound=Message)

SignatureHex = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{128}$")]


class Signed(BaseModel, Generic[M]):
    """A message with its sender's Ed25519 signature (hex)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    message: M
    signature: SignatureHex
    _digest: str | None = PrivateAttr(default=None)

    def digest(self) -> str:
        """SHA-256 (hex) over the signed bytes and the signature: the envelope's identity."""
        private = self.__pydantic_private__  # direct: pydantic's attribute path is slow
        if private["_digest"] is None:
            private["_digest"] = sha256_hex(
                signing_bytes(self.message) + bytes.fromhex(self.signature))
        return private["_digest"]

    def model_copy(self, *, update: dict | None = None, deep: bool = False):  # type: ignore[override]
        """A copy never inherits the cached digest: its message or signature may differ."""
        copy = super().model_copy(update=update, deep=deep)
        copy._digest = None
        return copy

    def to_json(self) -> bytes:
        """Canonical JSON of the whole envelope."""
        return canonical_json(self)


@dataclass(frozen=True)
class KeyPair:
    """An Ed25519 signing key and its public half (hex)."""

    signing_key: nacl.signing.SigningKey

    @classmethod
    def generate(cls) -> KeyPair:
        return cls(nacl.signing.SigningKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> KeyPair:
        """Deterministic key from any seed bytes (hashed to 32 bytes); for simulations and tests."""
        return cls(nacl.signing.SigningKey(hashlib.sha256(seed).digest()))

    def save(self, path: Path) -> None:
        """Write the private seed (hex) to a new file readable by its owner only."""
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(self.signing_key.encode().hex() + "\n")

    @classmethod
    def load(cls, path: Path) -> KeyPair:
        """Read a key written by :meth:`save`."""
        seed = bytes.fromhex(Path(path).read_text().strip())
        if len(seed) != 32:
            raise ValueError(f"{path} does not hold a 32-byte Ed25519 seed")
        return cls(nacl.signing.SigningKey(seed))

    @property
    def public_hex(self) -> str:
        return self.signing_key.verify_key.encode().hex()

    def sign(self, message: M) -> Signed[M]:
        """Sign ``message`` and wrap it in an envelope."""
        return self.sign_with_digest(message)[0]

    def sign_with_digest(self, message: M) -> tuple[Signed[M], str]:
        """Sign ``message``; also return the envelope's :meth:`Signed.digest`, computed once."""
        data = signing_bytes(message)
        signature = self.signing_key.sign(data).signature
        envelope = Signed[type(message)](message=message, signature=signature.hex())
        envelope._digest = sha256_hex(data + signature)
        return envelope, envelope._digest


def verify_with_key(envelope: Signed, public_hex: str) -> None:
    """Raise :class:`BadSignature` unless ``envelope`` is signed by ``public_hex``."""
    try:
        key = nacl.signing.VerifyKey(bytes.fromhex(public_hex))
        key.verify(signing_bytes(envelope.message), bytes.fromhex(envelope.signature))
    except (nacl.exceptions.BadSignatureError, ValueError, TypeError) as exc:
        raise BadSignature(f"bad signature on {type(envelope.message).__name__}") from exc


@dataclass
class KeyDirectory:
    """Participant id → registered Ed25519 public key (hex), role and zone."""

    keys: dict[str, str] = field(default_factory=dict)
    roles: dict[str, str] = field(default_factory=dict)
    zones: dict[str, str] = field(default_factory=dict)

    def add(self, participant: str, public_hex: str, role: str, zone: str = "") -> None:
        self.keys[participant] = public_hex
        self.roles[participant] = role
        self.zones[participant] = zone

    def verify(self, envelope: Signed, signer: str) -> None:
        """Verify that ``signer`` (registered) signed ``envelope``."""
        public_hex = self.keys.get(signer)
        if public_hex is None:
            raise UnknownSigner(f"unknown signer {signer!r}")
        verify_with_key(envelope, public_hex)
