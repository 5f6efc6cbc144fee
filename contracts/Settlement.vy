# pragma version ~=0.4.3
# @title Settlement
# @notice Escrow of EnergyCredit and per-period batch settlement of a local market.
#         Participants' money sits in escrow; the settlement operator states how much of each
#         escrow open bids commit (that part cannot be withdrawn) and, once a period has ended,
#         settles it exactly once: net transfers between participants registered at the period's
#         start, congestion fees paid to the DSO, imbalance total, the number of participant-slots
#         held for want of a valid meter reading (held > 0 flags the period), and the Merkle roots
#         of the period's trades and readings with the market journal hash. A batch larger than
#         one call's bound arrives in parts, in order; the period is settled with the last part.
# @license Apache-2.0

from ethereum.ercs import IERC20

interface Registry:
    def active_at(account: address, slot: uint256) -> bool: view
    def active(account: address) -> bool: view

MAX_ENTRIES: constant(uint256) = 512

struct Entry:
    account: address
    delta: int256

struct Credit:
    account: address
    amount: uint256

event Deposited:
    account: indexed(address)
    amount: uint256

event Withdrawn:
    account: indexed(address)
    amount: uint256

event Committed:
    account: indexed(address)
    amount: uint256

event Settled:
    period: indexed(uint256)
    account: indexed(address)
    delta: int256

event PeriodSettled:
    period: indexed(uint256)
    first_slot: uint256
    end_time: uint256
    parts: uint256
    fees: uint256
    imbalance: uint256
    held: uint256
    trades_root: bytes32
    readings_root: bytes32
    journal_hash: bytes32
    record: bytes32

token: public(IERC20)
registry: public(Registry)
operator: public(address)
dso: public(address)
escrow: public(HashMap[address, uint256])
committed: public(HashMap[address, uint256])
total_escrow: public(uint256)
fees_paid: public(uint256)
# keccak of the period's record (see PeriodSettled); non-zero once the period is settled
settled: public(HashMap[uint256, bytes32])
next_part: public(HashMap[uint256, uint256])
running_total: HashMap[uint256, int256]


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
    balance: uint256 = self.escrow[msg.sender]
    assert balance >= amount, "overdraft"
    assert balance - amount >= self.committed[msg.sender], "funds committed to open bids"
    self.escrow[msg.sender] = balance - amount
    self.total_escrow -= amount
    assert extcall self.token.transfer(msg.sender, amount), "transfer failed"
    log Withdrawn(account=msg.sender, amount=amount)


@external
def set_commitments(commitments: DynArray[Credit, MAX_ENTRIES]):
    assert msg.sender == self.operator, "only the settlement operator"
    for c: Credit in commitments:
        assert c.amount <= self.escrow[c.account], "commitment exceeds escrow"
        self.committed[c.account] = c.amount
        log Committed(account=c.account, amount=c.amount)


@external
def settle(
    period: uint256,
    first_slot: uint256,
    end_time: uint256,
    part: uint256,
    parts: uint256,
    entries: DynArray[Entry, MAX_ENTRIES],
    fees: uint256,
    imbalance: uint256,
    held: uint256,
    trades_root: bytes32,
    readings_root: bytes32,
    journal_hash: bytes32,
):
    assert msg.sender == self.operator, "only the settlement operator"
    assert self.settled[period] == empty(bytes32), "period already settled"
    assert part == self.next_part[period] and part < parts, "batch part out of order"
    assert block.timestamp >= end_time, "period has not ended"
    total: int256 = 0
    for e: Entry in entries:
        assert staticcall self.registry.active_at(e.account, first_slot), "unknown participant"
        if e.delta < 0:
            debit: uint256 = convert(-e.delta, uint256)
            assert self.escrow[e.account] >= debit, "overdraft"
            self.escrow[e.account] -= debit
        else:
            self.escrow[e.account] += convert(e.delta, uint256)
        total += e.delta
        log Settled(period=period, account=e.account, delta=e.delta)
    if part + 1 < parts:
        self.running_total[period] += total
        self.next_part[period] = part + 1
        return
    assert self.running_total[period] + total + convert(fees, int256) == 0, "unbalanced batch"
    record: bytes32 = keccak256(abi_encode(
        period, first_slot, end_time, parts, fees, imbalance, held, trades_root, readings_root,
        journal_hash
    ))
    self.settled[period] = record
    if fees > 0:
        self.total_escrow -= fees
        self.fees_paid += fees
        assert extcall self.token.transfer(self.dso, fees), "fee transfer failed"
    log PeriodSettled(
        period=period, first_slot=first_slot, end_time=end_time, parts=parts, fees=fees,
        imbalance=imbalance, held=held, trades_root=trades_root, readings_root=readings_root,
        journal_hash=journal_hash, record=record
    )
