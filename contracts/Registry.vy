# pragma version ~=0.4.3
# @title Registry
# @notice Participants of one local market: Ethereum account, role, Ed25519 message key,
#         meter key and zone. Only the aggregator (admin) registers and revokes.
# @license Apache-2.0

ROLE_HOME: constant(uint8) = 1
ROLE_SUPPLIER: constant(uint8) = 2
ROLE_DSO: constant(uint8) = 3
ROLE_OPERATOR: constant(uint8) = 4
ROLE_AGGREGATOR: constant(uint8) = 5
MAX_BATCH: constant(uint256) = 256

struct Participant:
    account: address
    role: uint8
    message_key: bytes32
    meter_key: bytes32
    zone: uint8

event Registered:
    account: indexed(address)
    role: uint8
    message_key: bytes32
    meter_key: bytes32
    zone: uint8

event Revoked:
    account: indexed(address)

admin: public(address)
participants: public(HashMap[address, Participant])
active: public(HashMap[address, bool])
count: public(uint256)


@deploy
def __init__():
    self.admin = msg.sender


@internal
def _register(p: Participant):
    assert p.account != empty(address), "zero account"
    assert p.role >= ROLE_HOME and p.role <= ROLE_AGGREGATOR, "unknown role"
    assert not self.active[p.account], "already registered"
    self.participants[p.account] = p
    self.active[p.account] = True
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


@external
def revoke(account: address):
    assert msg.sender == self.admin, "only the admin revokes"
    assert self.active[account], "unknown participant"
    self.active[account] = False
    self.count -= 1
    log Revoked(account=account)


@view
@external
def role_of(account: address) -> uint8:
    if not self.active[account]:
        return 0
    return self.participants[account].role


@view
@external
def meter_key_of(account: address) -> bytes32:
    assert self.active[account], "unknown participant"
    return self.participants[account].meter_key
