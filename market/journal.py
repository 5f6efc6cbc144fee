"""The market journal: every accepted message with its receive time, hash-chained.

The header (market config and key directory) plus the entries fully determine the trade tape:
:func:`replay` rebuilds an exchange from them and must reproduce the tape exactly. Each entry's
hash chains over the previous one; the final hash is committed on chain with each settlement batch.
A file journal appends one JSON line per entry and fsyncs before the message is acknowledged.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import TypeAdapter

from market.config import MarketConfig
from market.engine import Ack, Exchange
from protocol.canonical import ZERO_HASH
from protocol.errors import InvalidMessage
from protocol.messages import SentMessage, Trade
from protocol.signing import KeyDirectory, Signed

_ENVELOPE = TypeAdapter(Signed[SentMessage])


def parse_envelope(raw: bytes | str) -> Signed:
    """Parse a signed message from JSON; raise :class:`InvalidMessage` with the reason."""
    try:
        return _ENVELOPE.validate_json(raw)
    except ValueError as exc:
        first = exc.errors()[0] if hasattr(exc, "errors") else {"msg": str(exc)}
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise InvalidMessage(f"invalid message at {where or 'top'}: {first['msg']}") from exc


@dataclass
class Journal:
    """Header + accepted (now, envelope) entries, with the running chained hash."""

    config: MarketConfig
    directory: KeyDirectory
    entries: list[tuple[int, bytes]] = field(default_factory=list)
    head: str = ZERO_HASH
    path: Path | None = None

    def header(self) -> dict:
        return {
            "config": self.config.model_dump(mode="json"),
            "directory": {
                p: {"key": k, "role": self.directory.roles[p], "zone": self.directory.zones[p]}
                for p, k in sorted(self.directory.keys.items())
            },
        }

    def __post_init__(self) -> None:
        header = json.dumps(self.header(), sort_keys=True, separators=(",", ":")).encode()
        self.head = _chain(ZERO_HASH, header)
        if self.path is not None:
            with open(self.path, "wb") as f:
                f.write(header + b"\n")
                f.flush()
                os.fsync(f.fileno())
            self._file = open(self.path, "ab")  # noqa: SIM115 - kept open for appends

    def append(self, now: int, envelope: Signed) -> None:
        """Record an accepted message (durably, if file-backed) and advance the hash."""
        line = json.dumps({"t": now}, separators=(",", ":")).encode()[:-1] + b',"m":'
        line += envelope.to_json() + b"}"
        self.entries.append((now, line))
        self.head = _chain(self.head, line)
        if self.path is not None:
            self._file.write(line + b"\n")
            self._file.flush()
            os.fsync(self._file.fileno())

    def attach(self, path: Path) -> None:
        """Append from now on to the existing journal file at ``path`` (its header is kept)."""
        self.path = path
        self._file = open(path, "ab")  # noqa: SIM115 - kept open for appends

    def envelopes(self) -> list[tuple[int, Signed]]:
        """The entries parsed back from their journaled bytes (what an auditor would read)."""
        parse = _ENVELOPE.validate_python
        return [(now, parse(json.loads(line)["m"])) for now, line in self.entries]

    def dump(self, path: Path) -> None:
        """Write header and all entries to ``path`` (one JSON object per line)."""
        header = json.dumps(self.header(), sort_keys=True, separators=(",", ":")).encode()
        with open(path, "wb") as f:
            f.write(header + b"\n")
            for _, line in self.entries:
                f.write(line + b"\n")

    def close(self) -> None:
        if self.path is not None:
            self._file.close()


def _chain(prev: str, data: bytes) -> str:
    return hashlib.sha256(bytes.fromhex(prev) + data).hexdigest()


class JournaledExchange:
    """An exchange whose accepted messages all go to a journal before they are acknowledged."""

    def __init__(self, config: MarketConfig, directory: KeyDirectory, path: Path | None = None):
        self.exchange = Exchange(config, directory)
        self.journal = Journal(config, directory, path=path)

    @classmethod
    def recover(cls, path: Path) -> JournaledExchange:
        """Rebuild every book from the journal at ``path`` and keep appending to it.

        A torn last line (a crash in the middle of a write, never acknowledged) is cut off.
        """
        _truncate_torn_tail(path)
        config, directory, entries = load_journal(path)
        self = cls(config, directory)
        for now, envelope in entries:
            ack = self.exchange.apply(envelope.message, now)  # our own fsynced, verified record
            if not ack.accepted:
                raise InvalidMessage(f"journal entry rejected on recovery: {ack.reason}")
            self.journal.append(now, envelope)
        self.journal.attach(path)
        return self

    def submit(self, envelope: Signed, now: int) -> Ack:
        ack = self.exchange.submit(envelope, now)
        if ack.accepted:
            self.journal.append(now, envelope)
        return ack


def _truncate_torn_tail(path: Path) -> None:
    with open(path, "rb+") as f:
        data = f.read()
        end = data.rfind(b"\n") + 1
        if end != len(data):
            f.truncate(end)
            f.flush()
            os.fsync(f.fileno())


def load_journal(path: Path) -> tuple[MarketConfig, KeyDirectory, list[tuple[int, Signed]]]:
    """Read a journal file back into its header and entries."""
    with open(path, "rb") as f:
        header = json.loads(f.readline())
        entries = []
        for line in f:
            if line.strip():
                obj = json.loads(line)
                entries.append((obj["t"], _ENVELOPE.validate_python(obj["m"])))
    config = MarketConfig.model_validate(header["config"])
    directory = KeyDirectory()
    for p, d in header["directory"].items():
        directory.add(p, d["key"], d["role"], d["zone"])
    return config, directory, entries


def replay(
    config: MarketConfig, directory: KeyDirectory, entries: list[tuple[int, Signed]]
) -> list[Trade]:
    """Re-run the journal's messages through a fresh exchange; returns its trade tape."""
    exchange = Exchange(config, directory)
    for now, envelope in entries:
        ack = exchange.submit(envelope, now)
        if not ack.accepted:
            raise InvalidMessage(f"journal entry rejected on replay: {ack.reason}")
    return exchange.trades
