# pragma version ~=0.4.3
# @title Registry
# @notice Participants of one local market: Ethereum account, role, zone, and versioned keys
#         (Ed25519 message key, meter key), each version effective from a slot. Only the
#         aggregator (admin) registers and revokes; keys rotate by the admin or the participant.
# @license Apache-2.0

ROLE_HOME: constant(uint8) = 1
ROLE_SUPPLIER: constant(uint8) = 2
ROLE_DSO: constant(uint8) = 3
ROLE_OPERATOR: constant(uint8) = 4
ROLE_AGGREGATOR: constant(uint8) = 5
KIND_MESSAGE: constant(uint8) = 0
KIND_METER: constant(uint8) = 1
MAX_BATCH: constant(uint256) = 256
MAX_VERSIONS: constant(uint256) = 32
SLOT_SECONDS: constant(uint256) = 900

struct Participant:
    account: address
    role: uint8
    message_key: bytes32
    meter_key: bytes32
    zone: uint8

struct KeyVersion:
    key: bytes32
    from_slot: uint256

event Registered:
    account: indexed(address)
    role: uint8
    message_key: bytes32
    meter_key: bytes32
    zone: uint8

event KeyRotated:
    account: indexed(address)
    kind: uint8
    key: bytes32
    from_slot: uint256

event Revoked:
    account: indexed(address)
    from_slot: uint256

admin: public(address)
# role | zone << 8 | (revoked from slot + 1) << 16, in one word so a check costs one read
status: public(HashMap[address, uint256])
keys: HashMap[address, HashMap[uint8, DynArray[KeyVersion, MAX_VERSIONS]]]
count: public(uint256)


@deploy
def __init__():
    self.admin = msg.sender


@internal
def _register(p: Participant):
    assert p.account != empty(address), "zero account"
    assert p.role >= ROLE_HOME and p.role <= ROLE_AGGREGATOR, "unknown role"
    assert self.status[p.account] == 0, "already registered"
    self.status[p.account] = convert(p.role, uint256) | (convert(p.zone, uint256) << 8)
    self.keys[p.account][KIND_MESSAGE].append(KeyVersion(key=p.message_key, from_slot=0))
    self.keys[p.account][KIND_METER].append(KeyVersion(key=p.meter_key, from_slot=0))
    self.count += 1
    log Registered(
        account=p.account, role=p.role, message_key=p.message_key, meter_key=p.meter_key,
        zone=p.zone
    )


@external
def register(p: Participant):
    assert msg.sender == self.admin, "only the admin registers"
    self._register(p)


@external
def register_many(ps: DynArray[Participant, MAX_BATCH]):
    assert msg.sender == self.admin, "only the admin registers"
    for p: Participant in ps:
        self._register(p)


@view
@internal
def _active_at(account: address, slot: uint256) -> bool:
    s: uint256 = self.status[account]
    if s == 0:
        return False
    revoked_plus_one: uint256 = s >> 16
    return revoked_plus_one == 0 or slot + 1 < revoked_plus_one


@external
def rotate_key(account: address, kind: uint8, key: bytes32, from_slot: uint256):
    assert msg.sender == self.admin or msg.sender == account, "only the admin or the owner"
    assert kind <= KIND_METER, "unknown key kind"
    assert self._active_at(account, from_slot), "unknown participant"
    versions: DynArray[KeyVersion, MAX_VERSIONS] = self.keys[account][kind]
    assert from_slot > versions[len(versions) - 1].from_slot, "rotation must move forward"
    self.keys[account][kind].append(KeyVersion(key=key, from_slot=from_slot))
    log KeyRotated(account=account, kind=kind, key=key, from_slot=from_slot)


@external
def revoke(account: address, from_slot: uint256):
    assert msg.sender == self.admin, "only the admin revokes"
    s: uint256 = self.status[account]
    assert s != 0 and (s >> 16) == 0, "unknown participant"
    self.status[account] = s | ((from_slot + 1) << 16)
    log Revoked(account=account, from_slot=from_slot)


@view
@external
def active_at(account: address, slot: uint256) -> bool:
    return self._active_at(account, slot)


@view
@external
def active(account: address) -> bool:
    return self._active_at(account, block.timestamp // SLOT_SECONDS)


@view
@external
def role_of(account: address) -> uint8:
    if not self._active_at(account, block.timestamp // SLOT_SECONDS):
        return 0
    return convert(self.status[account] & 255, uint8)


@view
@external
def zone_of(account: address) -> uint8:
    return convert((self.status[account] >> 8) & 255, uint8)


@view
@external
def key_at(account: address, kind: uint8, slot: uint256) -> bytes32:
    """The key of ``kind`` valid at ``slot``; zero if none or the participant is revoked then."""
    if not self._active_at(account, slot):
        return empty(bytes32)
    found: bytes32 = empty(bytes32)
    for v: KeyVersion in self.keys[account][kind]:
        if v.from_slot <= slot:
            found = v.key
    return found


@view
@external
def key_history(account: address, kind: uint8) -> DynArray[KeyVersion, MAX_VERSIONS]:
    """Every version of a key, oldest first (verifiers cache it instead of asking per slot)."""
    return self.keys[account][kind]


@view
@external
def revoked_from(account: address) -> uint256:
    """First slot at which ``account`` is revoked; max_value(uint256) if it is not."""
    revoked_plus_one: uint256 = self.status[account] >> 16
    if revoked_plus_one == 0:
        return max_value(uint256)
    return revoked_plus_one - 1


@view
@external
def meter_key_of(account: address) -> bytes32:
    assert self.status[account] != 0, "unknown participant"
    versions: DynArray[KeyVersion, MAX_VERSIONS] = self.keys[account][KIND_METER]
    return versions[len(versions) - 1].key
