"""The aggregator speaking UFTP 3 (Shapeshifter) to a DSO, through the shapeshifter-uftp library.

The library signs and seals every outgoing message with our Ed25519 key and opens every incoming
one with the sender's public key from ``key_lookup`` before a handler sees it: a message with a
bad signature is refused over HTTP and never reaches the portfolio.

- FlexRequest → FlexRequestResponse (Accepted, or Rejected with the reason) and, if the homes
  can help, a FlexOffer with one option: per ISP the change of the homes' power (W, + = more
  consumption) and its price (EUR), all or nothing (min activation factor 1).
- FlexOrder → checked against the offer it names (option, price, ISPs), executed in the
  portfolio, answered by a FlexOrderResponse; ``on_execute`` gets the new plans and posts the
  homes' orders on the exchange.
- ``send_metering``: the homes' metered power per ISP, from verified signed readings.
- FlexSettlement → each order's delivered flexibility is compared with our own metering
  (delivered = metered − the prognosis before the order); Accepted or Disputed per order.
- ``send_d_prognosis``: the homes' planned power per ISP; DPrognosisResponse is recorded.

ISPs are the 15-minute slots of the period (a date in the message's time zone), numbered from 1.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from decimal import Decimal

import numpy as np
from shapeshifter_uftp import ShapeshifterAgrService
from shapeshifter_uftp.uftp import (
    AcceptedDisputed,
    AcceptedRejected,
    AvailableRequested,
    DPrognosis,
    DPrognosisISP,
    DPrognosisResponse,
    FlexOffer,
    FlexOfferOption,
    FlexOfferOptionISP,
    FlexOfferResponse,
    FlexOrder,
    FlexOrderResponse,
    FlexRequest,
    FlexRequestResponse,
    FlexSettlement,
    FlexSettlementResponse,
    Metering,
    MeteringISP,
    MeteringProfile,
    MeteringProfileEnum,
    MeteringResponse,
    MeteringUnit,
)
from shapeshifter_uftp.uftp.messages.flex_settlement import FlexOrderSettlementStatus
from xsdata.models.datatype import XmlDate

from aggregator.portfolio import MilpPortfolio, PortfolioOffer
from protocol.isp import isp_of_slot, slot_of_isp
from protocol.messages import Reading
from protocol.units import UEUR_PER_EUR

ISP = "PT15M"
#: delivered flexibility within this many watts (or 2 %) of our own metering is accepted
SETTLEMENT_TOLERANCE_W = 100


class UftpAggregator(ShapeshifterAgrService):
    """The flexmarket aggregator of one congestion point as a UFTP service; see the docstring."""

    def __init__(self, portfolio: MilpPortfolio, congestion_point: str,
                 on_execute: Callable[[dict[str, np.ndarray]], None] | None = None,
                 **service) -> None:
        super().__init__(**service)
        self.portfolio = portfolio
        self.congestion_point = congestion_point
        self.on_execute = on_execute
        self.lock = threading.Lock()  # handlers run on the library's worker threads
        self.offer_of_message: dict[str, tuple[PortfolioOffer, FlexOffer, np.ndarray]] = {}
        # order reference → (offer, prognosis before it, time zone of its ISPs)
        self.orders: dict[str, tuple[PortfolioOffer, np.ndarray, str]] = {}
        self.metering: np.ndarray | None = None
        self.received: list = []  # every message handled, in order (for audit and tests)
        self.sent: list = []
        self.errors: list[str] = []

    # ---- ISPs ↔ slots -----------------------------------------------------------------------
    def _index(self, period: XmlDate, time_zone: str, isp: int) -> int:
        """Portfolio slot index of ``isp`` (1-based) of ``period``; ValueError if outside."""
        k = slot_of_isp(period.to_date(), time_zone, isp) - self.portfolio.first_slot
        if not 0 <= k < self.portfolio.slots:
            raise ValueError(f"ISP {isp} of {period} is outside the portfolio's day")
        return k

    def _isp(self, k: int, period: XmlDate, time_zone: str) -> int:
        return isp_of_slot(period.to_date(), time_zone, self.portfolio.first_slot + k)

    # ---- D-prognosis -------------------------------------------------------------------------
    def send_d_prognosis(self, dso_domain: str, period: XmlDate, time_zone: str = "UTC") -> None:
        prognosis = self.portfolio.prognosis_wh()
        message = DPrognosis(
            isp_duration=ISP, time_zone=time_zone, period=period,
            congestion_point=self.congestion_point, revision=1,
            isps=[DPrognosisISP(power=int(p) * 4, start=self._isp(k, period, time_zone),
                                duration=1) for k, p in enumerate(prognosis)])
        self._send(dso_domain, "send_d_prognosis", message)

    def process_d_prognosis_response(self, message: DPrognosisResponse) -> None:
        self.received.append(message)

    # ---- FlexRequest → FlexOffer -------------------------------------------------------------
    def process_flex_request(self, message: FlexRequest) -> None:
        with self.lock:
            self.received.append(message)
            try:
                requested, allowed = self._read_request(message)
            except ValueError as exc:
                self._answer_request(message, AcceptedRejected.REJECTED, str(exc))
                return
            self._answer_request(message, AcceptedRejected.ACCEPTED)
            base = self.portfolio.prognosis_wh()
            offer = self.portfolio.offer(requested, allowed)
            if offer is None:
                return
            changed = [k for k in range(len(offer.change_wh)) if offer.change_wh[k]]
            flex_offer = FlexOffer(
                flex_request_message_id=message.message_id,
                conversation_id=message.conversation_id, isp_duration=ISP,
                time_zone=message.time_zone, period=message.period,
                congestion_point=self.congestion_point, currency="EUR",
                expiration_date_time=message.expiration_date_time,
                offer_options=[FlexOfferOption(
                    option_reference=offer.reference,
                    price=Decimal(offer.price_ueur) / UEUR_PER_EUR,
                    min_activation_factor=Decimal(1),
                    isps=[FlexOfferOptionISP(
                        power=int(offer.change_wh[k]) * 4, duration=1,
                        start=self._isp(k, message.period, message.time_zone))
                        for k in changed])])
            if self._send(message.sender_domain, "send_flex_offer", flex_offer):
                self.offer_of_message[flex_offer.message_id] = (offer, flex_offer, base)

    def _read_request(self, message: FlexRequest) -> tuple[np.ndarray, np.ndarray]:
        if message.congestion_point != self.congestion_point:
            raise ValueError(f"unknown congestion point {message.congestion_point!r}")
        if str(message.isp_duration) != ISP:
            raise ValueError(f"ISP duration {message.isp_duration} is not {ISP}")
        requested = np.full(self.portfolio.slots, np.nan)
        allowed = np.zeros(self.portfolio.slots)
        for isp in message.isps:
            for j in range(isp.duration):
                k = self._index(message.period, message.time_zone, isp.start + j)
                if isp.disposition == AvailableRequested.REQUESTED:
                    # the smallest change that satisfies [min_power, max_power], in Wh per slot
                    change_w = isp.max_power if isp.max_power < 0 else max(isp.min_power, 0)
                    requested[k] = change_w / 4
                else:
                    allowed[k] = max(abs(isp.min_power), abs(isp.max_power)) / 4
        if np.isnan(requested).all():
            raise ValueError("the request names no ISP with requested flexibility")
        return requested, allowed

    def _answer_request(self, message: FlexRequest, result: AcceptedRejected,
                        reason: str | None = None) -> None:
        self._send(message.sender_domain, "send_flex_request_response", FlexRequestResponse(
            flex_request_message_id=message.message_id, conversation_id=message.conversation_id,
            result=result, rejection_reason=reason))

    def process_flex_offer_response(self, message: FlexOfferResponse) -> None:
        self.received.append(message)

    def process_flex_offer_revocation_response(self, message) -> None:
        self.received.append(message)

    # ---- FlexOrder ---------------------------------------------------------------------------
    def process_flex_order(self, message: FlexOrder) -> None:
        with self.lock:
            self.received.append(message)
            reason = self._check_order(message)
            if reason is None:
                offer, _, base = self.offer_of_message.pop(message.flex_offer_message_id)
                plans = self.portfolio.execute(offer.reference)
                self.orders[message.order_reference] = (offer, base, message.time_zone)
                if self.on_execute is not None:
                    self.on_execute(plans)
            self._send(message.sender_domain, "send_flex_order_response", FlexOrderResponse(
                flex_order_message_id=message.message_id,
                conversation_id=message.conversation_id,
                result=AcceptedRejected.ACCEPTED if reason is None else AcceptedRejected.REJECTED,
                rejection_reason=reason))

    def _check_order(self, message: FlexOrder) -> str | None:
        """Why the order cannot be executed, or None."""
        entry = self.offer_of_message.get(message.flex_offer_message_id or "")
        if entry is None:
            return "no open offer with that message id"
        offer, flex_offer, _ = entry
        if offer.reference not in self.portfolio.offers:
            return "the offer has lapsed"
        option = flex_offer.offer_options[0]
        if message.option_reference not in (None, option.option_reference):
            return f"unknown option {message.option_reference!r}"
        if Decimal(message.price) != option.price:
            return f"price {message.price} is not the offered {option.price}"
        if Decimal(message.activation_factor) != 1:
            return "the offer is all or nothing (activation factor 1)"
        ordered = sorted((i.start, i.duration, i.power) for i in message.isps)
        offered = sorted((i.start, i.duration, i.power) for i in option.isps)
        if ordered != offered:
            return "the ordered ISPs are not the offered ones"
        return None

    def process_flex_reservation_update(self, message) -> None:
        self.received.append(message)

    def process_agr_portfolio_query_response(self, message) -> None:
        self.received.append(message)  # the CRO's answers: recorded (no CRO in this market)

    def process_agr_portfolio_update_response(self, message) -> None:
        self.received.append(message)

    # ---- metering and settlement -------------------------------------------------------------
    def metered_wh(self, readings: Iterable[Reading]) -> np.ndarray:
        """The portfolio homes' metered net import per slot of its day (Wh)."""
        out = np.zeros(self.portfolio.slots, dtype=np.int64)
        for r in readings:
            k = r.slot - self.portfolio.first_slot
            if r.meter_id in self.portfolio.homes and 0 <= k < self.portfolio.slots:
                out[k] += r.import_wh - r.export_wh
        return out

    def send_metering(self, dso_domain: str, readings: Iterable[Reading], ean: str,
                      period: XmlDate, time_zone: str = "UTC") -> None:
        """The homes' metered power (kW) per ISP, from readings verified by the oracle."""
        self.metering = self.metered_wh(readings)
        message = Metering(
            revision=1, isp_duration=ISP, time_zone=time_zone, period=period, ean=ean,
            profiles=[MeteringProfile(
                profile_type=MeteringProfileEnum.POWER, unit=MeteringUnit.K_W,
                isps=[MeteringISP(start=self._isp(k, period, time_zone),
                                  value=Decimal(int(wh) * 4) / 1000)
                      for k, wh in enumerate(self.metering)])])
        self._send(dso_domain, "send_metering", message)

    def process_metering_response(self, message: MeteringResponse) -> None:
        self.received.append(message)

    def process_flex_settlement(self, message: FlexSettlement) -> None:
        with self.lock:
            self.received.append(message)
            statuses = []
            for s in message.flex_order_settlements:
                reason = self._check_settlement(s)
                statuses.append(FlexOrderSettlementStatus(
                    order_reference=s.order_reference,
                    disposition=AcceptedDisputed.ACCEPTED if reason is None
                    else AcceptedDisputed.DISPUTED, dispute_reason=reason))
            self._send(message.sender_domain, "send_flex_settlement_response",
                       FlexSettlementResponse(
                           flex_settlement_message_id=message.message_id,
                           conversation_id=message.conversation_id,
                           result=AcceptedRejected.ACCEPTED,
                           flex_order_settlement_statuses=statuses))

    def _check_settlement(self, s) -> str | None:
        if s.order_reference not in self.orders:
            return "unknown order"
        if self.metering is None:
            return "no metering sent for the period yet"
        _, base, time_zone = self.orders[s.order_reference]
        for isp in s.isps:
            k = self._index(s.period, time_zone, isp.start)
            ours_w = int(self.metering[k] - base[k]) * 4
            if abs(ours_w - isp.delivered_flex_power) > max(SETTLEMENT_TOLERANCE_W,
                                                             0.02 * abs(ours_w)):
                return (f"ISP {isp.start}: delivered {isp.delivered_flex_power} W, our meters "
                        f"say {ours_w} W")
        return None

    # ---- sending -----------------------------------------------------------------------------
    def _send(self, dso_domain: str, method: str, message) -> bool:
        try:
            getattr(self.dso_client(dso_domain), method)(message)
        except Exception as exc:
            self.errors.append(f"{method}: {exc}")
            return False
        self.sent.append(message)
        return True
