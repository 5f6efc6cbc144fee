"""Our DSO as a UFTP party: against shapeshifter-uftp's aggregator service, and against ours.

Real HTTP on 127.0.0.1, every message signed and sealed both ways.
"""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal

import numpy as np
from shapeshifter_uftp import ShapeshifterAgrService
from shapeshifter_uftp.uftp import (
    AcceptedRejected,
    AvailableRequested,
    DPrognosis,
    DPrognosisISP,
    FlexOffer,
    FlexOfferOption,
    FlexOfferOptionISP,
    FlexOrderResponse,
    FlexRequestResponse,
    FlexSettlementResponse,
    Metering,
    MeteringISP,
    MeteringProfile,
    MeteringProfileEnum,
    MeteringUnit,
)
from shapeshifter_uftp.uftp.messages.flex_settlement import FlexOrderSettlementStatus
from xsdata.models.datatype import XmlDate

from aggregator.portfolio import MilpPortfolio, PortfolioHome
from aggregator.uftp import UftpAggregator
from dso.uftp import UftpDso
from node.assets import ElectricVehicle
from node.home import HomeConfig
from protocol.tariff import two_rate_tariff
from tests.test_uftp import distinct_ports, running, uftp_keys

DAY = dt.date(2016, 5, 26)
FIRST = (DAY - dt.date(1970, 1, 1)).days * 96
PERIOD = XmlDate(DAY.year, DAY.month, DAY.day)
POINT = "ean.871685900000000002"
LIMIT_WH = 10_000  # 40 kW on |flow|


class ExternalAggregator(ShapeshifterAgrService):
    """shapeshifter-uftp's aggregator: offers to move the overload into the next slots."""

    def __init__(self, price: Decimal, **kw) -> None:
        super().__init__(**kw)
        self.price = price
        self.got: dict[str, list] = {}
        self.arrived = threading.Condition()
        self.prognosis_w = np.array([30_000] * 72 + [52_000] * 8 + [20_000] * 16)

    def wait(self, name: str, count: int = 1, timeout: float = 60.0) -> list:
        with self.arrived:
            assert self.arrived.wait_for(lambda: len(self.got.get(name, [])) >= count, timeout), (
                f"no {name}; got {sorted(self.got)}")
            return self.got[name]

    def _got(self, name, message) -> None:
        with self.arrived:
            self.got.setdefault(name, []).append(message)
            self.arrived.notify_all()

    def send_prognosis(self, dso: str) -> None:
        self.dso_client(dso).send_d_prognosis(DPrognosis(
            isp_duration="PT15M", time_zone="UTC", period=PERIOD, congestion_point=POINT,
            revision=1, isps=[DPrognosisISP(power=int(p), start=k + 1, duration=1)
                              for k, p in enumerate(self.prognosis_w)]))

    def process_d_prognosis_response(self, message) -> None:
        self._got("d_prognosis_response", message)

    def process_flex_request(self, message) -> None:
        self._got("flex_request", message)
        client = self.dso_client(message.sender_domain)
        client.send_flex_request_response(FlexRequestResponse(
            flex_request_message_id=message.message_id, conversation_id=message.conversation_id,
            result=AcceptedRejected.ACCEPTED))
        requested = [i for i in message.isps if i.disposition == AvailableRequested.REQUESTED]
        moved = -sum(i.max_power for i in requested)
        # shift it all into the first 8 slots after the evening peak
        isps = [FlexOfferOptionISP(power=i.max_power, start=i.start, duration=1)
                for i in requested]
        isps += [FlexOfferOptionISP(power=moved // 8, start=k, duration=1) for k in range(81, 89)]
        client.send_flex_offer(FlexOffer(
            flex_request_message_id=message.message_id, conversation_id=message.conversation_id,
            isp_duration="PT15M", time_zone="UTC", period=PERIOD, congestion_point=POINT,
            currency="EUR", expiration_date_time=message.expiration_date_time,
            offer_options=[FlexOfferOption(isps=isps, option_reference="shift",
                                           price=self.price, min_activation_factor=1)]))

    def process_flex_order(self, message) -> None:
        for i in message.isps:  # it will be delivered
            self.prognosis_w[i.start - 1] += i.power
        self.dso_client(message.sender_domain).send_flex_order_response(FlexOrderResponse(
            flex_order_message_id=message.message_id, conversation_id=message.conversation_id,
            result=AcceptedRejected.ACCEPTED))
        self._got("flex_order", message)

    def send_metering(self, dso: str, extra_w: int = 0) -> None:
        self.dso_client(dso).send_metering(Metering(
            revision=1, isp_duration="PT15M", time_zone="UTC", period=PERIOD, ean=POINT,
            profiles=[MeteringProfile(
                profile_type=MeteringProfileEnum.POWER, unit=MeteringUnit.K_W,
                isps=[MeteringISP(start=k + 1, value=Decimal(int(p) + extra_w) / 1000)
                      for k, p in enumerate(self.prognosis_w)])]))

    def process_flex_settlement(self, message) -> None:
        self._got("flex_settlement", message)
        self.dso_client(message.sender_domain).send_flex_settlement_response(
            FlexSettlementResponse(
                flex_settlement_message_id=message.message_id,
                conversation_id=message.conversation_id, result=AcceptedRejected.ACCEPTED,
                flex_order_settlement_statuses=[FlexOrderSettlementStatus(
                    order_reference=s.order_reference, disposition="Accepted")
                    for s in message.flex_order_settlements]))

    def process_flex_offer_response(self, message) -> None:
        self._got("flex_offer_response", message)

    def process_flex_request_response(self, message) -> None:  # pragma: no cover - DSO only
        self._got("flex_request_response", message)

    def process_metering_response(self, message) -> None:
        self._got("metering_response", message)

    def process_flex_offer_revocation_response(self, message) -> None:
        self._got("revocation_response", message)

    def process_flex_reservation_update(self, message) -> None:
        self._got("reservation_update", message)

    def process_agr_portfolio_query_response(self, message) -> None:
        self._got("portfolio_query_response", message)

    def process_agr_portfolio_update_response(self, message) -> None:
        self._got("portfolio_update_response", message)


def pair(agr_factory, price_limit: int = 1_000_000):
    """Our DSO and an aggregator service, keys and endpoints known to each other."""
    agr_private, agr_public = uftp_keys()
    dso_private, dso_public = uftp_keys()
    agr_port, dso_port = distinct_ports(2)
    keys = {("agr.test", "AGR"): agr_public, ("dso.test", "DSO"): dso_public}
    ends = {("agr.test", "AGR"): f"http://127.0.0.1:{agr_port}/shapeshifter/api/v3/message",
            ("dso.test", "DSO"): f"http://127.0.0.1:{dso_port}/shapeshifter/api/v3/message"}

    def lookup(table):
        return lambda d, r: table.get((d, r))

    dso = UftpDso(POINT, LIMIT_WH, margin=0.0, max_price_ueur_per_kwh=price_limit,
                  sender_domain="dso.test", signing_key=dso_private,
                  key_lookup_function=lookup(keys), endpoint_lookup_function=lookup(ends),
                  host="127.0.0.1", port=dso_port)
    agr = agr_factory(sender_domain="agr.test", signing_key=agr_private,
                      key_lookup_function=lookup(keys), endpoint_lookup_function=lookup(ends),
                      host="127.0.0.1", port=agr_port)
    return dso, agr


def test_our_dso_requests_orders_and_settles_with_shapeshifter_aggregator():
    dso, agr = pair(lambda **kw: ExternalAggregator(Decimal("3.00"), **kw))
    with running(dso, agr):
        agr.send_prognosis("dso.test")
        agr.wait("d_prognosis_response")
        assert dso.wait_for(lambda d: len(d.prognosis) == 96)
        assert dso.request_flexibility("agr.test", PERIOD)
        request = agr.wait("flex_request")[0]
        requested = [i for i in request.isps if i.disposition == AvailableRequested.REQUESTED]
        # 52 kW against a 40 kW limit in slots 72–79: at least 12 kW less in each
        assert [(i.start, i.max_power) for i in requested] == [(k, -12_000) for k in range(73, 81)]
        order = agr.wait("flex_order")[0]
        assert order.price == Decimal("3.00") and order.order_reference == "order-1"
        assert sorted(i.start for i in order.isps) == list(range(73, 89))
        assert dso.wait_for(lambda d: any(type(m).__name__ == "FlexOrderResponse"
                                          for m in d.received))
        agr.send_metering("dso.test")
        settlement = agr.wait("flex_settlement")[0].flex_order_settlements[0]
        assert settlement.penalty == 0 and settlement.net_settlement == Decimal("3.00")
        assert all(i.delivered_flex_power == i.ordered_flex_power for i in settlement.isps)
        assert dso.wait_for(lambda d: d.settled.get("order-1") == "Accepted")
    assert dso.errors == []


def test_our_dso_declines_an_offer_dearer_than_the_flexibility_is_worth():
    # 96 kWh of overload removed for 300 €: 3.1 €/kWh against a value of 1 €/kWh
    dso, agr = pair(lambda **kw: ExternalAggregator(Decimal("300.00"), **kw))
    with running(dso, agr):
        agr.send_prognosis("dso.test")
        assert dso.wait_for(lambda d: len(d.prognosis) == 96)
        dso.request_flexibility("agr.test", PERIOD)
        agr.wait("flex_offer_response")
        assert dso.wait_for(lambda d: any(type(m).__name__ == "FlexOffer" for m in d.received))
        assert dso.orders == {} and "flex_order" not in agr.got


def test_our_dso_and_our_aggregator_over_uftp():
    homes = [PortfolioHome(HomeConfig(f"h{k}", "f1", 3500.0, "H0", ev=ElectricVehicle(
        arrival=68, departure=96, energy_wh=14_000)), np.full(96, 100.0), np.zeros(96))
        for k in range(3)]
    portfolio = MilpPortfolio(homes, two_rate_tariff(), FIRST)
    peak = int(portfolio.prognosis_wh().max())
    energy = int(portfolio.prognosis_wh().sum())

    def make_agr(**kw):
        return UftpAggregator(portfolio, POINT, **kw)

    dso, agr = pair(make_agr)
    dso.target_wh = int(peak * 0.7)  # the EVs' night charging overloads the point
    with running(dso, agr):
        agr.send_d_prognosis("dso.test", PERIOD)
        assert dso.wait_for(lambda d: len(d.prognosis) == 96)
        assert dso.request_flexibility("agr.test", PERIOD)
        assert dso.wait_for(lambda d: any(type(m).__name__ == "FlexOrderResponse"
                                          for m in d.received))
        assert portfolio.executed == ["offer-1"]
        assert portfolio.prognosis_wh().max() <= dso.target_wh
        assert abs(portfolio.prognosis_wh().sum() - energy) <= 3  # moved, not dropped (Wh)
    assert dso.errors == [] and agr.errors == []


def test_a_shortfall_is_settled_with_a_proportional_penalty():
    dso, agr = pair(lambda **kw: ExternalAggregator(Decimal("3.00"), **kw))
    with running(dso, agr):
        agr.send_prognosis("dso.test")
        assert dso.wait_for(lambda d: len(d.prognosis) == 96)
        dso.request_flexibility("agr.test", PERIOD)
        agr.wait("flex_order")
        assert dso.wait_for(lambda d: any(type(m).__name__ == "FlexOrderResponse"
                                          for m in d.received))
        agr.send_metering("dso.test", extra_w=6_000)  # 6 kW more everywhere than ordered
        settlement = agr.wait("flex_settlement")[0].flex_order_settlements[0]
        short = [i for i in settlement.isps if i.power_deficiency]
        # only the 8 requested ISPs fell short, by 6 kW each: 48 of 192 kW ordered → 25 %
        assert [(i.start, i.delivered_flex_power, i.power_deficiency) for i in short] == [
            (k, -6_000, 6_000) for k in range(73, 81)]
        assert settlement.penalty == Decimal("0.75")
        assert settlement.net_settlement == Decimal("2.25")
