"""What a prosumer sees of its money: token balance, escrow and history, from the chain alone.

History is rebuilt from the Settlement contract's events, indexed incrementally by block range so
a long chain is scanned once, never from genesis on every look.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ledger.client import LedgerClient


@dataclass(frozen=True)
class HistoryItem:
    """One money movement of the wallet's account (µ€, + = into escrow)."""

    block: int
    kind: str  # "deposit", "withdraw", "settlement"
    amount_ueur: int
    period: int | None = None


@dataclass
class WalletView:
    """Read-only view of one account on one market deployment."""

    client: LedgerClient
    address: str
    history: list[HistoryItem] = field(default_factory=list)
    indexed_to_block: int = -1

    def balance_ueur(self) -> int:
        """Tokens held outside escrow."""
        return self.client.balance_of(self.address)

    def escrow_ueur(self) -> int:
        """Tokens held in the Settlement contract's escrow."""
        return self.client.escrow_of(self.address)

    def total_ueur(self) -> int:
        return self.balance_ueur() + self.escrow_ueur()

    def refresh(self, chunk: int = 5_000) -> list[HistoryItem]:
        """Index new blocks since the last refresh; returns the new history items."""
        head = self.client.w3.eth.block_number
        events = self.client.settlement.events
        new: list[HistoryItem] = []
        start = self.indexed_to_block + 1
        while start <= head:
            end = min(start + chunk - 1, head)
            for ev in events.Deposited().get_logs(from_block=start, to_block=end,
                                                  argument_filters={"account": self.address}):
                new.append(HistoryItem(ev["blockNumber"], "deposit", ev["args"]["amount"]))
            for ev in events.Withdrawn().get_logs(from_block=start, to_block=end,
                                                  argument_filters={"account": self.address}):
                new.append(HistoryItem(ev["blockNumber"], "withdraw", -ev["args"]["amount"]))
            for ev in events.Settled().get_logs(from_block=start, to_block=end,
                                                argument_filters={"account": self.address}):
                new.append(HistoryItem(ev["blockNumber"], "settlement", ev["args"]["delta"],
                                       ev["args"]["period"]))
            start = end + 1
        new.sort(key=lambda h: h.block)
        self.history.extend(new)
        self.indexed_to_block = head
        return new
