"""Canonical byte encoding: the bytes that are signed, hashed and journaled.

Sorted keys, no whitespace, UTF-8, integers only (messages carry no floats), prefixed with a
domain tag so a signature over one message type can never verify as another.
"""

from __future__ import annotations

import hashlib
import json

from pydantic import BaseModel

DOMAIN = b"flexmarket/v1/"


_PLAIN = (int, str, bool, type(None))


def canonical_json(model: BaseModel) -> bytes:
    """The model's fields as canonical JSON bytes."""
    fields = model.__dict__
    if not all(type(v) in _PLAIN for v in fields.values()):
        fields = model.model_dump(mode="json")  # nested models, tuples: serialise them first
    return _dumps(fields).encode()


def _dumps(obj: object) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def signing_bytes(model: BaseModel) -> bytes:
    """Domain tag + type name + canonical JSON: what a signature covers."""
    return DOMAIN + type(model).__name__.encode() + b"\n" + canonical_json(model)


def sha256_hex(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


ZERO_HASH = "0" * 64
