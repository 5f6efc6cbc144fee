# pragma version ~=0.4.3
# @title EnergyCredit
# @notice ERC-20 money token of the market: 6 decimals, 1 unit = 1 micro-euro.
#         Minted and burned only by the aggregator, against deposits and withdrawals of euros.
# @license Apache-2.0

from ethereum.ercs import IERC20
from ethereum.ercs import IERC20Detailed

implements: IERC20
implements: IERC20Detailed

event Mint:
    to: indexed(address)
    amount: uint256

event Burn:
    owner: indexed(address)
    amount: uint256

name: public(String[32])
symbol: public(String[8])
decimals: public(uint8)
totalSupply: public(uint256)
balanceOf: public(HashMap[address, uint256])
allowance: public(HashMap[address, HashMap[address, uint256]])
aggregator: public(address)


@deploy
def __init__(aggregator: address):
    self.name = "flexmarket energy credit"
    self.symbol = "FMEC"
    self.decimals = 6
    self.aggregator = aggregator


@internal
def _transfer(sender: address, receiver: address, amount: uint256):
    assert receiver != empty(address), "transfer to zero address"
    assert self.balanceOf[sender] >= amount, "insufficient balance"
    self.balanceOf[sender] -= amount
    self.balanceOf[receiver] += amount
    log IERC20.Transfer(sender=sender, receiver=receiver, value=amount)


@external
def transfer(receiver: address, amount: uint256) -> bool:
    self._transfer(msg.sender, receiver, amount)
    return True


@external
def transferFrom(sender: address, receiver: address, amount: uint256) -> bool:
    allowed: uint256 = self.allowance[sender][msg.sender]
    assert allowed >= amount, "insufficient allowance"
    if allowed != max_value(uint256):
        self.allowance[sender][msg.sender] = allowed - amount
    self._transfer(sender, receiver, amount)
    return True


@external
def approve(spender: address, amount: uint256) -> bool:
    self.allowance[msg.sender][spender] = amount
    log IERC20.Approval(owner=msg.sender, spender=spender, value=amount)
    return True


@external
def mint(receiver: address, amount: uint256):
    assert msg.sender == self.aggregator, "only the aggregator mints"
    assert receiver != empty(address), "mint to zero address"
    self.totalSupply += amount
    self.balanceOf[receiver] += amount
    log IERC20.Transfer(sender=empty(address), receiver=receiver, value=amount)
    log Mint(to=receiver, amount=amount)


@external
def burn(amount: uint256):
    assert msg.sender == self.aggregator, "only the aggregator burns"
    assert self.balanceOf[msg.sender] >= amount, "insufficient balance"
    self.balanceOf[msg.sender] -= amount
    self.totalSupply -= amount
    log IERC20.Transfer(sender=msg.sender, receiver=empty(address), value=amount)
    log Burn(owner=msg.sender, amount=amount)
