"""Encrypted Ethereum keystore files (the standard scrypt/AES format of eth-account)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount

from protocol.errors import FlexmarketError


class KeystoreError(FlexmarketError):
    """Missing, unreadable or wrongly unlocked keystore."""


def create(path: Path, password: str) -> LocalAccount:
    """Create a new account and write its encrypted keystore to ``path`` (mode 600)."""
    if path.exists():
        raise KeystoreError(f"{path} exists; refusing to overwrite a key")
    if len(password) < 8:
        raise KeystoreError("password must have at least 8 characters")
    account = Account.create()
    data = Account.encrypt(account.key, password)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f)
    return account


def unlock(path: Path, password: str) -> LocalAccount:
    """Decrypt the keystore at ``path``."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise KeystoreError(f"cannot read keystore {path}: {exc}") from exc
    try:
        return Account.from_key(Account.decrypt(data, password))
    except ValueError as exc:
        raise KeystoreError("wrong password or corrupt keystore") from exc


def address_of(path: Path) -> str:
    """The address stored in a keystore, without unlocking it."""
    try:
        return "0x" + json.loads(path.read_text())["address"].removeprefix("0x")
    except (OSError, ValueError, KeyError) as exc:
        raise KeystoreError(f"cannot read keystore {path}: {exc}") from exc
