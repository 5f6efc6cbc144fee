"""Typed errors every receiver raises instead of crashing."""

from __future__ import annotations


class FlexmarketError(Exception):
    """Base of all flexmarket errors; ``reason`` is short and human-readable."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class InvalidMessage(FlexmarketError):
    """A message that does not parse or violates its schema."""


class VerificationError(FlexmarketError):
    """A message whose signature, signer or sequence cannot be trusted."""


class UnknownSigner(VerificationError):
    """The claimed sender has no registered key."""


class BadSignature(VerificationError):
    """The signature does not match the message and the sender's key."""


class Rejected(FlexmarketError):
    """A valid, authentic message that the receiver refuses (closed gate, replayed nonce, …)."""
