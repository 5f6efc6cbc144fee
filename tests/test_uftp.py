"""UFTP 3 interoperability: our aggregator against shapeshifter-uftp's DSO service on 127.0.0.1.

A full round over real HTTP with signed and sealed messages both ways: D-prognosis, FlexRequest
→ FlexOffer (built from the homes' MILP plans) → FlexOrder → the homes' orders on the exchange →
delivery → signed meter readings → Metering → FlexSettlement, accepted; a tampered settlement is
disputed; a message signed with the wrong key reaches no handler.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import socket
import threading
import time
from decimal import Decimal

import numpy as np
import pytest
from nacl.signing import SigningKey
from shapeshifter_uftp import ShapeshifterDsoService
from shapeshifter_uftp.uftp import (
    AcceptedDisputed,
    AcceptedRejected,
    AvailableRequested,
    DPrognosisResponse,
    FlexOfferResponse,
    FlexOrder,
    FlexOrderISP,
    FlexRequest,
    FlexRequestISP,
    FlexSettlement,
    MeteringResponse,
)
from shapeshifter_uftp.uftp.messages.flex_settlement import (
    ContractSettlement,
    ContractSettlementISP,
    ContractSettlementPeriod,
    FlexOrderSettlement,
    FlexOrderSettlementISP,
)
from xsdata.models.datatype import XmlDate

from aggregator.portfolio import MilpPortfolio, PortfolioHome
from aggregator.uftp import UftpAggregator
from market.config import MarketConfig
from market.engine import Exchange
from meter_oracle.intervals import Interval
from meter_oracle.oracle import MeterOracle, ReadingVerifier
from node.assets import ElectricVehicle
from node.bidder import Bidder
from node.home import HomeConfig
from protocol.messages import EscrowUpdate
from protocol.signing import KeyDirectory, KeyPair
from protocol.tariff import two_rate_tariff
from protocol.topology import transformer_topology
from protocol.units import slot_start

DAY = dt.date(2016, 5, 26)
FIRST = (DAY - dt.date(1970, 1, 1)).days * 96
PERIOD = XmlDate(DAY.year, DAY.month, DAY.day)
POINT = "ean.871685900000000001"
AGR, DSO = "agr.flexmarket.test", "dso.flexmarket.test"
HOMES = [f"home-{k}" for k in range(4)]


def distinct_ports(n: int) -> list[int]:
    """n free loopback ports, all different (each socket is held until all are chosen)."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(n)]
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]


@contextlib.contextmanager
def running(*services, timeout: float = 30.0):
    """Start UFTP services, failing (not hanging) if one cannot bind; stop them all after."""
    started = []
    try:
        for service in services:
            service.server_thread = threading.Thread(target=service.run, daemon=True)
            service.server_thread.start()
            started.append(service)
            deadline = time.monotonic() + timeout
            while not service.server.started:
                if not service.server_thread.is_alive() or time.monotonic() > deadline:
                    raise RuntimeError(f"{type(service).__name__} did not start")
                time.sleep(0.05)
        yield services
    finally:
        for service in started:
            service.stop()


def uftp_keys() -> tuple[str, str]:
    """(private, public) in the library's format: base64 of libsodium's 64- and 32-byte keys."""
    sk = SigningKey.generate()
    return (base64.b64encode(bytes(sk) + bytes(sk.verify_key)).decode(),
            base64.b64encode(bytes(sk.verify_key)).decode())


class Dso(ShapeshifterDsoService):
    """The other party: shapeshifter-uftp's DSO service, ordering what it is offered."""

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.got: dict[str, list] = {}
        self.arrived = threading.Condition()

    def _got(self, name: str, message) -> None:
        with self.arrived:
            self.got.setdefault(name, []).append(message)
            self.arrived.notify_all()

    def wait(self, name: str, count: int = 1, timeout: float = 60.0) -> list:
        with self.arrived:
            assert self.arrived.wait_for(lambda: len(self.got.get(name, [])) >= count, timeout), (
                f"no {name} within {timeout} s; got {sorted(self.got)}")
            return self.got[name]

    def process_d_prognosis(self, message) -> None:
        self._got("d_prognosis", message)
        self.agr_client(message.sender_domain).send_d_prognosis_response(DPrognosisResponse(
            d_prognosis_message_id=message.message_id, conversation_id=message.conversation_id,
            result=AcceptedRejected.ACCEPTED))

    def process_flex_request_response(self, message) -> None:
        self._got("flex_request_response", message)

    def process_flex_offer(self, message) -> None:
        self._got("flex_offer", message)
        client = self.agr_client(message.sender_domain)
        client.send_flex_offer_response(FlexOfferResponse(
            flex_offer_message_id=message.message_id, conversation_id=message.conversation_id,
            result=AcceptedRejected.ACCEPTED))
        option = message.offer_options[0]
        client.send_flex_order(FlexOrder(
            flex_offer_message_id=message.message_id, conversation_id=message.conversation_id,
            isp_duration="PT15M", time_zone=message.time_zone, period=message.period,
            congestion_point=message.congestion_point, currency="EUR",
            order_reference="order-1", option_reference=option.option_reference,
            price=option.price, activation_factor=Decimal(1),
            isps=[FlexOrderISP(power=i.power, start=i.start, duration=i.duration)
                  for i in option.isps]))

    def process_flex_order_response(self, message) -> None:
        self._got("flex_order_response", message)

    def process_metering(self, message) -> None:
        self._got("metering", message)
        self.agr_client(message.sender_domain).send_metering_response(MeteringResponse(
            metering_message_id=message.message_id, conversation_id=message.conversation_id,
            result=AcceptedRejected.ACCEPTED))

    def process_flex_settlement_response(self, message) -> None:
        self._got("flex_settlement_response", message)

    def process_flex_offer_revocation(self, message) -> None:
        self._got("flex_offer_revocation", message)

    def process_flex_reservation_update_response(self, message) -> None:
        self._got("flex_reservation_update_response", message)

    def process_dso_portfolio_query_response(self, message) -> None:
        self._got("dso_portfolio_query_response", message)

    def process_dso_portfolio_update_response(self, message) -> None:
        self._got("dso_portfolio_update_response", message)


@pytest.fixture(scope="module")
def portfolio():
    homes = [PortfolioHome(HomeConfig(h, "f1", 3500.0, "H0", ev=ElectricVehicle(
        arrival=68 + 2 * k, departure=96, energy_wh=12_000)), np.full(96, 120.0), np.zeros(96))
        for k, h in enumerate(HOMES)]
    return MilpPortfolio(homes, two_rate_tariff(), FIRST)


@pytest.fixture(scope="module")
def parties(portfolio):
    agr_private, agr_public = uftp_keys()
    dso_private, dso_public = uftp_keys()
    agr_port, dso_port = distinct_ports(2)
    keys = {(AGR, "AGR"): agr_public, (DSO, "DSO"): dso_public}
    ends = {(AGR, "AGR"): f"http://127.0.0.1:{agr_port}/shapeshifter/api/v3/message",
            (DSO, "DSO"): f"http://127.0.0.1:{dso_port}/shapeshifter/api/v3/message"}
    market = Market()
    agr = UftpAggregator(portfolio, POINT, on_execute=market.post_plans, sender_domain=AGR,
                         signing_key=agr_private, key_lookup_function=lambda d, r: keys.get((d, r)),
                         endpoint_lookup_function=lambda d, r: ends.get((d, r)),
                         host="127.0.0.1", port=agr_port)
    dso = Dso(sender_domain=DSO, signing_key=dso_private,
              key_lookup_function=lambda d, r: keys.get((d, r)),
              endpoint_lookup_function=lambda d, r: ends.get((d, r)),
              host="127.0.0.1", port=dso_port)
    with running(agr, dso):
        yield agr, dso, market, keys


class Market:
    """The exchange the homes trade on; the aggregator's executed plans become their orders."""

    def __init__(self) -> None:
        self.keys = {h: KeyPair.from_seed(h.encode()) for h in [*HOMES, "operator"]}
        directory = KeyDirectory()
        for h in HOMES:
            directory.add(h, self.keys[h].public_hex, "home", "f1")
        directory.add("operator", self.keys["operator"].public_hex, "operator", "upstream")
        tariff = two_rate_tariff()
        self.exchange = Exchange(MarketConfig(tariff=tariff,
                                              topology=transformer_topology(("f1",))), directory)
        self.now = slot_start(FIRST) - 6 * 3600
        for n, h in enumerate(HOMES, start=1):
            self.exchange.submit(self.keys["operator"].sign(EscrowUpdate(
                sender="operator", nonce=n, participant=h, escrow_ueur=10**10,
                settled_through_slot=0)), self.now)
        self.bidders = {h: Bidder(h, "f1", self.keys[h], tariff) for h in HOMES}
        self.acks = []

    def post_plans(self, plans: dict[str, np.ndarray]) -> None:
        for home, net in plans.items():
            for env in self.bidders[home].opening_orders(FIRST, [int(x) for x in net]):
                self.acks.append((home, env.message, self.exchange.submit(env, self.now)))


def test_full_flex_round_with_shapeshifter_dso(parties, portfolio):
    agr, dso, market, _ = parties
    agr.send_d_prognosis(DSO, PERIOD)
    prognosis = dso.wait("d_prognosis")[0]
    before = portfolio.prognosis_wh()
    assert [i.power for i in prognosis.isps] == [int(p) * 4 for p in before]
    assert dso_wait_for(agr, "DPrognosisResponse")[0].result == AcceptedRejected.ACCEPTED

    # the DSO needs 3 kW less in the four most loaded ISPs and allows more in the evening's others
    top = sorted(np.argsort(before)[-4:].tolist())
    isps = [FlexRequestISP(disposition=AvailableRequested.REQUESTED, min_power=-50_000,
                           max_power=-3_000, start=k + 1, duration=1) for k in top]
    isps += [FlexRequestISP(disposition=AvailableRequested.AVAILABLE, min_power=0,
                            max_power=20_000, start=k + 1, duration=1)
             for k in range(64, 96) if k not in top]
    dso.agr_client(AGR).send_flex_request(FlexRequest(
        isp_duration="PT15M", time_zone="UTC", period=PERIOD, congestion_point=POINT,
        revision=1, expiration_date_time="2016-05-25T20:00:00+00:00", isps=isps))

    assert dso.wait("flex_request_response")[0].result == AcceptedRejected.ACCEPTED
    offer = dso.wait("flex_offer")[0]
    option = offer.offer_options[0]
    offered = {i.start: i.power for i in option.isps}
    assert all(offered.get(k + 1, 0) <= -3_000 for k in top)  # every requested ISP is met
    assert sum(offered.values()) == 0  # energy moves, the EVs still charge in full
    assert option.price >= 0

    response = dso.wait("flex_order_response")[0]
    assert response.result == AcceptedRejected.ACCEPTED, response.rejection_reason
    after = portfolio.prognosis_wh()
    assert all(after[k] - before[k] == offered.get(k + 1, 0) // 4 for k in range(96))
    # the homes' orders now follow the executed plans, and the exchange took them all
    assert market.acks and all(ack.accepted for _, _, ack in market.acks)
    moved = {h for h, _, _ in market.acks}  # the homes in the offer, and only they
    assert moved and moved <= set(HOMES)
    for h in moved:
        by_slot = {m.slot - FIRST: m.quantity_wh if m.side == "buy" else -m.quantity_wh
                   for hh, m, _ in market.acks if hh == h}
        plan = portfolio.plan_wh(h)
        assert by_slot == {k: int(plan[k]) for k in range(96) if plan[k]}
    assert "FlexOrder" in [type(m).__name__ for m in agr.received]

    # delivery: every home follows its plan; its meter signs the 15-minute readings
    verifier, readings = deliver(portfolio)
    agr.send_metering(DSO, readings, POINT, PERIOD)
    metering = dso.wait("metering")[0]
    metered_w = {i.start: float(i.value) * 1000 for i in metering.profiles[0].isps}
    assert metered_w[top[0] + 1] == pytest.approx(after[top[0]] * 4)

    # the DSO settles the order on its D-prognosis baseline; the aggregator checks it
    def settlement(tamper_w: int) -> FlexSettlement:
        rows = [FlexOrderSettlementISP(
            start=k + 1, duration=1, baseline_power=int(before[k]) * 4,
            ordered_flex_power=offered.get(k + 1, 0), actual_power=round(metered_w[k + 1]),
            delivered_flex_power=round(metered_w[k + 1]) - int(before[k]) * 4 + tamper_w,
            power_deficiency=0) for k in top]
        return FlexSettlement(
            period_start=PERIOD, period_end=PERIOD, currency="EUR",
            contract_settlements=[ContractSettlement(periods=[ContractSettlementPeriod(
                period=PERIOD, isps=[ContractSettlementISP(start=1, duration=96,
                                                           reserved_power=0)])])],
            flex_order_settlements=[FlexOrderSettlement(
                order_reference="order-1", period=PERIOD, congestion_point=POINT,
                price=option.price, penalty=Decimal(0), net_settlement=option.price,
                isps=rows)])

    dso.agr_client(AGR).send_flex_settlement(settlement(0))
    status = dso.wait("flex_settlement_response")[0].flex_order_settlement_statuses[0]
    assert status.disposition == AcceptedDisputed.ACCEPTED, status.dispute_reason
    dso.agr_client(AGR).send_flex_settlement(settlement(2_000))
    status = dso.wait("flex_settlement_response", 2)[1].flex_order_settlement_statuses[0]
    assert status.disposition == AcceptedDisputed.DISPUTED
    assert "our meters say" in status.dispute_reason
    assert agr.errors == []
    assert len(verifier.accepted) == 96 * len(HOMES)


def test_an_order_for_another_price_is_rejected(parties):
    agr, dso, _, _ = parties
    dso.agr_client(AGR).send_flex_order(FlexOrder(
        flex_offer_message_id="never-offered", isp_duration="PT15M", time_zone="UTC",
        period=PERIOD, congestion_point=POINT, currency="EUR", order_reference="order-x",
        price=Decimal("1.00"), activation_factor=Decimal(1),
        isps=[FlexOrderISP(power=-1000, start=80, duration=1)]))
    response = dso.wait("flex_order_response", 2)[-1]
    assert response.result == AcceptedRejected.REJECTED
    assert "no open offer" in response.rejection_reason
    assert "order-x" not in agr.orders


def test_a_request_signed_with_another_key_reaches_no_handler(parties):
    agr, _, _, keys = parties
    impostor_private, _ = uftp_keys()  # not the key the aggregator knows for the DSO
    from shapeshifter_uftp import ShapeshifterDsoAgrClient

    client = ShapeshifterDsoAgrClient(
        sender_domain=DSO, signing_key=impostor_private, recipient_domain=AGR,
        recipient_endpoint=agr.endpoint_lookup_function(AGR, "AGR"),
        recipient_signing_key=keys[(AGR, "AGR")])
    handled = len(agr.received)
    with pytest.raises(Exception, match="HTTP 4"):
        client.send_flex_request(FlexRequest(
            isp_duration="PT15M", time_zone="UTC", period=PERIOD, congestion_point=POINT,
            revision=1, expiration_date_time="2016-05-25T20:00:00+00:00",
            isps=[FlexRequestISP(disposition=AvailableRequested.REQUESTED, min_power=-9000,
                                 max_power=-1000, start=80, duration=1)]))
    assert len(agr.received) == handled


def dso_wait_for(agr: UftpAggregator, name: str, timeout: float = 30.0) -> list:
    """Messages of type ``name`` the aggregator has handled, waiting for the first."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [m for m in agr.received if type(m).__name__ == name]
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"the aggregator got no {name}")


def deliver(portfolio: MilpPortfolio):
    """Each home's meter signs its planned day; the oracle's verifier checks every reading."""
    keys = {h: KeyPair.from_seed(f"meter-{h}".encode()) for h in HOMES}
    verifier = ReadingVerifier({h: keys[h].public_hex for h in HOMES})
    readings = []
    for h in HOMES:
        oracle = MeterOracle(h, keys[h])
        imp_reg = exp_reg = 0
        for k, net in enumerate(portfolio.plan_wh(h)):
            imp, exp = (int(net), 0) if net > 0 else (0, int(-net))
            imp_reg, exp_reg = imp_reg + imp, exp_reg + exp
            env = oracle.sign(Interval(FIRST + k, imp, exp, imp_reg, exp_reg, False))
            assert verifier.submit(env, slot_start(FIRST + 96))
            readings.append(env.message)
    return verifier, readings


def test_a_request_for_another_congestion_point_is_rejected_with_its_reason(parties, portfolio):
    _, dso, _, _ = parties
    offers_before = dict(portfolio.offers)
    dso.agr_client(AGR).send_flex_request(FlexRequest(
        isp_duration="PT15M", time_zone="UTC", period=PERIOD, congestion_point="ean.other",
        revision=1, expiration_date_time="2016-05-25T20:00:00+00:00",
        isps=[FlexRequestISP(disposition=AvailableRequested.REQUESTED, min_power=-9000,
                             max_power=-1000, start=80, duration=1)]))
    responses = dso.wait("flex_request_response", 2)
    assert responses[-1].result == AcceptedRejected.REJECTED
    assert "unknown congestion point" in responses[-1].rejection_reason
    assert portfolio.offers == offers_before  # nothing was offered
