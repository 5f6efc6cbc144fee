"""Property tests: the engine against the reference matcher on random message streams."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from market.config import MarketConfig
from market.engine import Exchange
from protocol.messages import Cancel, CongestionPrice, EscrowUpdate, Order, Replace
from protocol.signing import KeyDirectory
from protocol.tariff import two_rate_tariff
from protocol.topology import CongestionPoint, Topology, transformer_topology
from tests.reference_matcher import ReferenceMarket

S = 1_000_000
T0 = S * 900 - 4 * 3600
HOMES = {"a": "f1", "b": "f1", "c": "f2", "d": "f3"}

# Topologies: one zone; three feeders under a transformer; the same with feeder-head points.
ONE_ZONE = Topology(zones=("f1",), points=())
TRANSFORMER = transformer_topology(("f1", "f2", "f3"))
FEEDERS = Topology(zones=("f1", "f2", "f3"), points=(
    *TRANSFORMER.points,
    CongestionPoint(name="feeder-f1", sensitivity_permille={"f1": -1000}),
    CongestionPoint(name="feeder-f2", sensitivity_permille={"f2": -1000}),
))

# A coarse grid around the tariff's decision points (feed-in 50 k, mid 165 k, retail 280 k at the
# test slot), so equal prices — where time priority and the supplier's rank matter — are common.
PRICES = [40_000, 50_000, 60_000, 150_000, 165_000, 270_000, 280_000, 290_000]
price = st.sampled_from(PRICES)

action = st.one_of(
    st.tuples(st.just("order"), st.sampled_from("abcd"), st.sampled_from(["buy", "sell"]),
              st.integers(0, 1), price,
              st.integers(1, 400), st.sampled_from(["gtc", "gtc", "gtc", "ioc", "fok"]),
              st.one_of(st.none(), st.integers(1, 7200))),
    st.tuples(st.just("cancel"), st.integers(0, 200)),
    st.tuples(st.just("replace"), st.integers(0, 200), st.integers(1, 400),
              st.one_of(st.none(), price)),
    st.tuples(st.just("price"), st.sampled_from(["transformer", "feeder-f1", "feeder-f2"]),
              st.integers(0, 1), st.sampled_from(["import", "export"]),
              st.sampled_from([0, 0, 10_000, 20_000]),
              st.one_of(st.none(), st.integers(0, 600))),
    st.tuples(st.just("wait"), st.integers(1, 1800)),
)


def _run(topology: Topology, actions: list):
    directory = KeyDirectory()
    for h, z in HOMES.items():
        directory.add(h, "00" * 32, "home", z if z in topology.zones else topology.zones[0])
    directory.add("dso", "00" * 32, "dso", "upstream")
    directory.add("operator", "00" * 32, "operator", "upstream")
    config = MarketConfig(tariff=two_rate_tariff(), topology=topology)
    ex = Exchange(config, directory)
    ref = ReferenceMarket(config, directory.zones)
    nonce = {"operator": 0}
    now = T0
    for h in HOMES:
        nonce["operator"] += 1
        assert ex.apply(EscrowUpdate(sender="operator", nonce=nonce["operator"], participant=h,
                                     escrow_ueur=10**15, settled_through_slot=0), now).accepted
    ids: list[tuple[str, str]] = []
    limits: dict[tuple[str, str], int] = {}
    beaten: list[tuple] = []  # trades that beat an order's limit (must stay empty)
    caps: list[tuple[int, str, str, int, int]] = []  # (trade index, point, dir, slot, capacity)

    def nxt(who):
        nonce[who] = nonce.get(who, 0) + 1
        return nonce[who]

    for i, act in enumerate(actions):
        before = len(ex.trades)
        kind = act[0]
        if kind == "wait":
            now += act[1]
            ex.advance(now)
            ref.advance(now)
        elif kind == "order":
            _, who, side, ds, price, qty, tif, exp = act
            oid = f"o{i}"
            expires = None if exp is None else now + exp
            ack = ex.apply(Order(sender=who, nonce=nxt(who), order_id=oid, slot=S + ds,
                                 zone=directory.zones[who], side=side, quantity_wh=qty,
                                 price=price, tif=tif, expires_at=expires), now)
            if ack.accepted:
                ref.order(now, who, oid, side, S + ds, price, qty, tif, expires)
                ids.append((who, oid))
                limits[(who, oid)] = price
            else:
                assert "gate closed" in ack.reason
        elif kind == "cancel" and ids:
            who, oid = ids[act[1] % len(ids)]
            ack = ex.apply(Cancel(sender=who, nonce=nxt(who), order_id=oid), now)
            assert ack.accepted == ref.cancel(now, who, oid)
        elif kind == "replace" and ids:
            who, oid = ids[act[1] % len(ids)]
            price = limits[(who, oid)] if act[3] is None else act[3]  # None: keep the price
            ack = ex.apply(Replace(sender=who, nonce=nxt(who), order_id=oid, quantity_wh=act[2],
                                   price=price), now)
            assert ack.accepted == ref.replace(now, who, oid, act[2], price)
            if ack.accepted:
                limits[(who, oid)] = price
        elif kind == "price":
            _, point, ds, direction, price, capacity = act
            if point not in {p.name for p in topology.points}:
                continue
            ack = ex.apply(CongestionPrice(sender="dso", nonce=nxt("dso"), point=point,
                                           slot=S + ds, direction=direction, price=price,
                                           capacity_wh=capacity), now)
            if ack.accepted:
                ref.post(point, S + ds, direction, price, capacity)
                if capacity is not None:
                    caps.append((len(ex.trades), point, direction, S + ds, capacity))
        for t in ex.trades[before:]:  # against the limits in force when the trade happened
            if t.buyer in HOMES and t.price + t.fee > limits[(t.buyer, t.buy_order_id)]:
                beaten.append(t)
            if t.seller in HOMES and t.price < limits[(t.seller, t.sell_order_id)]:
                beaten.append(t)
    return ex, ref, beaten, caps, topology


def _tape(ex):
    return [(t.slot, (t.buyer, t.buy_order_id), (t.seller, t.sell_order_id), t.buyer_zone,
             t.seller_zone, t.quantity_wh, t.price, t.fee, t.aggressor) for t in ex.trades]


FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(st.lists(action, max_size=60))
def test_same_trades_as_reference_one_zone(actions):
    ex, ref, *_ = _run(ONE_ZONE, actions)
    assert _tape(ex) == ref.trades


@FAST
@given(st.lists(action, max_size=60))
def test_same_trades_as_reference_with_zones_fees_capacities(actions):
    ex, ref, *_ = _run(TRANSFORMER, actions)
    assert _tape(ex) == ref.trades


@FAST
@given(st.lists(action, max_size=60))
def test_same_trades_as_reference_with_feeder_congestion(actions):
    ex, ref, *_ = _run(FEEDERS, actions)
    assert _tape(ex) == ref.trades


@FAST
@given(st.lists(action, max_size=80))
def test_no_trade_crosses_a_capacity_and_none_beats_its_limit(actions):
    ex, _, beaten, caps, topology = _run(FEEDERS, actions)
    assert beaten == []  # buyers pay ≤ limit incl. fee; sellers get ≥ limit after it
    for start, point, direction, slot, capacity in caps:
        later = [c for c in caps if c[0] >= start and c[1:4] == (point, direction, slot)]
        end = later[1][0] if len(later) > 1 else len(ex.trades)
        p = next(p for p in topology.points if p.name == point)
        flow = 0
        for t in ex.trades[start:end]:
            if t.slot != slot:
                continue
            ch = p.flow_change_permille(t.seller_zone, t.buyer_zone)
            if (ch > 0 and direction == "import") or (ch < 0 and direction == "export"):
                flow += -(-t.quantity_wh * abs(ch) // 1000)
        assert flow <= capacity


def _random_stream(seed: int, n: int) -> list:
    import random

    rng = random.Random(seed)
    out = []
    for _ in range(n):
        r = rng.random()
        if r < 0.55:
            out.append(("order", rng.choice("abcd"), rng.choice(["buy", "sell"]), rng.randint(0, 1),
                        rng.choice(PRICES), rng.randint(1, 400),
                        rng.choice(["gtc", "gtc", "gtc", "ioc", "fok"]),
                        rng.choice([None, None, rng.randint(1, 7200)])))
        elif r < 0.75:
            out.append(("cancel", rng.randint(0, 10**6)))
        elif r < 0.87:
            out.append(("replace", rng.randint(0, 10**6), rng.randint(1, 400),
                        rng.choice([None, rng.choice(PRICES)])))
        elif r < 0.95:
            out.append(("price", rng.choice(["transformer", "feeder-f1", "feeder-f2"]),
                        rng.randint(0, 1), rng.choice(["import", "export"]),
                        rng.choice([0, 0, 10_000, 20_000]),
                        rng.choice([None, rng.randint(0, 600)])))
        else:
            out.append(("wait", rng.randint(1, 60)))
    return out


def test_long_streams_match_the_reference_and_really_trade():
    for seed in range(6):
        ex, ref, beaten, _, _ = _run(FEEDERS, _random_stream(seed, 1500))
        assert _tape(ex) == ref.trades
        assert beaten == []
        assert len(ex.trades) > 100
        assert any(t.fee > 0 for t in ex.trades) and any(t.seller == "supplier"
                                                         for t in ex.trades)
