"""Signing readings on the gateway and verifying them anywhere.

Each meter signs its readings with its own Ed25519 key and chains them: a reading carries the
hash of the meter's previous signed reading. The verifier rejects a bad signature, an unregistered
or revoked meter, a duplicate slot and a slot that has not ended yet. A reading whose predecessor
it has not seen is refused for now but kept: when the gateway re-sends the missing one, the chain
closes and the kept readings are accepted in order. Re-delivery of an accepted reading is an
acknowledgement, not an error (gateways send at least once).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from meter_oracle.intervals import Interval
from protocol.canonical import ZERO_HASH
from protocol.errors import Rejected, UnknownSigner, VerificationError
from protocol.messages import Reading
from protocol.signing import KeyPair, Signed, verify_with_key
from protocol.units import slot_start

SignedReading = Signed[Reading]


class BrokenChain(Rejected):
    """The reading does not follow the meter's last accepted reading."""


class MeterOracle:
    """Signs one meter's intervals into a hash chain of readings."""

    def __init__(self, meter_id: str, key: KeyPair, prev_hash: str = ZERO_HASH) -> None:
        self.meter_id = meter_id
        self.key = key
        self.prev_hash = prev_hash

    def sign(self, interval: Interval) -> SignedReading:
        reading = Reading(
            meter_id=self.meter_id,
            slot=interval.slot,
            import_wh=interval.import_wh,
            export_wh=interval.export_wh,
            import_register_wh=interval.import_register_wh,
            export_register_wh=interval.export_register_wh,
            estimated=interval.estimated,
            prev_hash=self.prev_hash,
        )
        signed, self.prev_hash = self.key.sign_with_digest(reading)
        return signed


@dataclass
class ReadingVerifier:
    """Accepts readings of registered meters in chain order; remembers what it accepted."""

    meter_keys: dict[str, str]
    revoked: set[str] = field(default_factory=set)
    # From the Registry: key versions (from_slot, key hex) and the slot a meter is revoked from.
    key_versions: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    revoked_from: dict[str, int] = field(default_factory=dict)
    heads: dict[str, str] = field(default_factory=dict)
    accepted: dict[tuple[str, int], Reading] = field(default_factory=dict)
    accepted_envelopes: list[SignedReading] = field(default_factory=list)
    rejections: list[tuple[str, int, str]] = field(default_factory=list)
    pending: dict[str, list[SignedReading]] = field(default_factory=dict)  # by prev_hash
    _digests: set[str] = field(default_factory=set)

    @classmethod
    def from_registry(cls, client, meters: dict[str, str]) -> ReadingVerifier:
        """Meter keys as the on-chain Registry holds them (``meters``: meter id → account).

        Each reading is checked with the key version valid at its slot; readings of slots from
        a meter's revocation on are refused.
        """
        versions, revoked_from, latest = {}, {}, {}
        for meter_id, address in meters.items():
            versions[meter_id] = client.key_history(address, "meter")
            latest[meter_id] = versions[meter_id][-1][1]
            slot = client.revoked_from(address)
            if slot is not None:
                revoked_from[meter_id] = slot
        return cls(latest, key_versions=versions, revoked_from=revoked_from)

    def key_for(self, meter_id: str, slot: int) -> str | None:
        """The meter's public key (hex) valid at ``slot``."""
        versions = self.key_versions.get(meter_id)
        if versions is None:
            return self.meter_keys.get(meter_id)
        found = None
        for from_slot, key in versions:
            if from_slot <= slot:
                found = key
        return found

    def check(self, envelope: SignedReading, now: int) -> Reading:
        """Verify ``envelope`` at time ``now``; raise a VerificationError or Rejected, or accept."""
        r = envelope.message
        key = self.key_for(r.meter_id, r.slot)
        if key is None:
            raise UnknownSigner(f"unregistered meter {r.meter_id!r}")
        if r.meter_id in self.revoked or r.slot >= self.revoked_from.get(r.meter_id, r.slot + 1):
            raise UnknownSigner(f"revoked meter {r.meter_id!r}")
        verify_with_key(envelope, key)
        if slot_start(r.slot + 1) > now:
            raise Rejected(f"reading for slot {r.slot} is in the future")
        if (r.meter_id, r.slot) in self.accepted:
            raise Rejected(f"duplicate reading for {r.meter_id} slot {r.slot}")
        if r.prev_hash != self.heads.get(r.meter_id, ZERO_HASH):
            raise BrokenChain(f"broken hash chain for {r.meter_id} at slot {r.slot}")
        return r

    def submit(self, envelope: SignedReading, now: int) -> bool:
        """Check and record; True once accepted (now or before).

        A refused reading is logged in ``rejections`` and changes no accepted state; one that only
        lacks its predecessor is also kept until the predecessor arrives.
        """
        digest = envelope.digest()
        if digest in self._digests:
            return True  # re-delivery of an accepted reading: an acknowledgement
        try:
            r = self.check(envelope, now)
        except BrokenChain as exc:
            m = envelope.message
            self.rejections.append((m.meter_id, m.slot, exc.reason))
            waiting = self.pending.setdefault(m.prev_hash, [])
            if all(w.digest() != digest for w in waiting):
                waiting.append(envelope)
            return False
        except (VerificationError, Rejected) as exc:
            m = envelope.message
            self.rejections.append((m.meter_id, m.slot, exc.reason))
            return False
        self._accept(r, envelope, digest)
        for follower in self.pending.pop(digest, []):  # the chain closes: accept what waited
            self.submit(follower, now)
        return True

    def acknowledged(self, envelope: SignedReading) -> bool:
        """Has this exact reading been accepted? (What a gateway asks before it re-sends.)"""
        return envelope.digest() in self._digests

    def _accept(self, r: Reading, envelope: SignedReading, digest: str) -> None:
        self.accepted[(r.meter_id, r.slot)] = r
        self.accepted_envelopes.append(envelope)
        self.heads[r.meter_id] = digest
        self._digests.add(digest)
