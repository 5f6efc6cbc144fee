# pragma version ~=0.4.3
# @title Settlement
# @notice Escrow of EnergyCredit and per-period batch settlement of a local market.
#         Participants' money sits in escrow; each settlement period, the settlement operator
#         submits one batch of net transfers between registered participants, the congestion
#         fees paid to the DSO, the number of participant-slots held for want of a valid meter
#         reading (a flagged period has held > 0), and the Merkle roots of the period's trades and signed readings
#         plus the market journal hash. A period settles once, only after it has ended.
# @license Apache-2.0

from ethereum.ercs import IERC20

interface Registry:
    def active(account: address) -> bool: view
    def role_of(account: address) -> uint8: view

MAX_ENTRIES: constant(uint256) = 512
ROLE_DSO: constant(uint8) = 3

struct Entry:
    account: address
    delta: int256

struct Credit:
    account: address
    amount: uint256

struct PeriodRecord:
    end_time: uint256
    entries: uint256
    fees: uint256
    held: uint256
    trades_root: bytes32
    readings_root: bytes32
    journal_hash: bytes32

event Deposited:
    account: indexed(address)
    amount: uint256

event Withdrawn:
    account: indexed(address)
    amount: uint256

event Settled:
    period: indexed(uint256)
    account: indexed(address)
    delta: int256

event PeriodSettled:
    period: indexed(uint256)
    entries: uint256
    fees: uint256
    held: uint256
    trades_root: bytes32
    readings_root: bytes32
    journal_hash: bytes32

token: public(IERC20)
registry: public(Registry)
operator: public(address)
dso: public(address)
escrow: public(HashMap[address, uint256])
total_escrow: public(uint256)
fees_paid: public(uint256)
periods: public(HashMap[uint256, PeriodRecord])
settled: public(HashMap[uint256, bool])


@deploy
def __init__(token: IERC20, registry: Registry, operator: address, dso: address):
    self.token = token
    self.registry = registry
    self.operator = operator
    self.dso = dso


@external
def deposit(amount: uint256):
    assert staticcall self.registry.active(msg.sender), "unknown participant"
    assert extcall self.token.transferFrom(msg.sender, self, amount), "transfer failed"
    self.escrow[msg.sender] += amount
    self.total_escrow += amount
    log Deposited(account=msg.sender, amount=amount)


@external
def deposit_for(credits: DynArray[Credit, MAX_ENTRIES]):
    total: uint256 = 0
    for c: Credit in credits:
        assert staticcall self.registry.active(c.account), "unknown participant"
        self.escrow[c.account] += c.amount
        total += c.amount
        log Deposited(account=c.account, amount=c.amount)
    self.total_escrow += total
    assert extcall self.token.transferFrom(msg.sender, self, total), "transfer failed"


@external
def withdraw(amount: uint256):
    assert self.escrow[msg.sender] >= amount, "overdraft"
    self.escrow[msg.sender] -= amount
    self.total_escrow -= amount
    assert extcall self.token.transfer(msg.sender, amount), "transfer failed"
    log Withdrawn(account=msg.sender, amount=amount)


@external
def settle(
    period: uint256,
    end_time: uint256,
    entries: DynArray[Entry, MAX_ENTRIES],
    fees: uint256,
    held: uint256,
    trades_root: bytes32,
    readings_root: bytes32,
    journal_hash: bytes32,
):
    assert msg.sender == self.operator, "only the settlement operator"
    assert not self.settled[period], "period already settled"
    assert block.timestamp >= end_time, "period has not ended"
    total: int256 = 0
    for e: Entry in entries:
        assert staticcall self.registry.active(e.account), "unknown participant"
        if e.delta < 0:
            debit: uint256 = convert(-e.delta, uint256)
            assert self.escrow[e.account] >= debit, "overdraft"
            self.escrow[e.account] -= debit
        else:
            self.escrow[e.account] += convert(e.delta, uint256)
        total += e.delta
        log Settled(period=period, account=e.account, delta=e.delta)
    assert total + convert(fees, int256) == 0, "unbalanced batch"
    self.settled[period] = True
    self.periods[period] = PeriodRecord(
        end_time=end_time, entries=len(entries), fees=fees, held=held, trades_root=trades_root,
        readings_root=readings_root, journal_hash=journal_hash
    )
    if fees > 0:
        self.total_escrow -= fees
        self.fees_paid += fees
        assert extcall self.token.transfer(self.dso, fees), "fee transfer failed"
    log PeriodSettled(
        period=period, entries=len(entries), fees=fees, held=held, trades_root=trades_root,
        readings_root=readings_root, journal_hash=journal_hash
    )
