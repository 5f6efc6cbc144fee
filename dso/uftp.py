"""The DSO speaking UFTP 3 (Shapeshifter) to an external aggregator, via shapeshifter-uftp.

For one congestion point with a limit (Wh per slot on |flow|) and a margin:

- DPrognosis in → recorded as the aggregator's planned flow, answered Accepted.
- ``request_flexibility``: a FlexRequest with a Requested ISP (at least the overload, as a
  negative change for import and a positive one for export) for each slot whose prognosis is
  over ``limit × (1 − margin)``, and an Available ISP (the room left) for each other slot.
- FlexOffer in → answered Accepted; its option is ordered (FlexOrder) if it removes overload
  at no more than ``max_price`` µ€ per kWh removed, judged on the prognosis (the same rule as
  :mod:`dso.flex`).
- Metering in → answered; a FlexSettlement follows for every order of the period: delivered
  flexibility = metered − prognosis per ordered ISP; any shortfall against the order is a
  deficiency, and the order's price is cut in proportion.
- FlexSettlementResponse → each order's Accepted or Disputed is recorded.
"""

from __future__ import annotations

import threading
from decimal import Decimal

import numpy as np
from shapeshifter_uftp import ShapeshifterDsoService
from shapeshifter_uftp.uftp import (
    AcceptedRejected,
    AvailableRequested,
    DPrognosis,
    DPrognosisResponse,
    FlexOffer,
    FlexOfferResponse,
    FlexOrder,
    FlexOrderISP,
    FlexRequest,
    FlexRequestISP,
    FlexSettlement,
    Metering,
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

from dso.flex import overload_wh
from protocol.isp import isp_of_slot, slot_of_isp
from protocol.units import UEUR_PER_EUR

ISP = "PT15M"
MAX_REQUEST_W = 10**9


class UftpDso(ShapeshifterDsoService):
    """The flexmarket DSO of one congestion point as a UFTP service; see the docstring."""

    def __init__(self, congestion_point: str, limit_wh: int, margin: float = 0.05,
                 max_price_ueur_per_kwh: int = 1_000_000, **service) -> None:
        super().__init__(**service)
        self.congestion_point = congestion_point
        self.target_wh = int(limit_wh * (1 - margin))
        self.max_price = max_price_ueur_per_kwh
        self.lock = threading.Condition()
        self.prognosis: dict[tuple[str, int], int] = {}  # (aggregator, slot) → Wh, + = import
        self.orders: dict[str, tuple[FlexOrder, str]] = {}  # order reference → order, agr
        self.settled: dict[str, str] = {}  # order reference → Accepted / Disputed (+ reason)
        self.received: list = []
        self.errors: list[str] = []

    def wait_for(self, predicate, timeout: float = 60.0) -> bool:
        """Block until ``predicate(self)`` holds (handlers run on the library's threads)."""
        with self.lock:
            return self.lock.wait_for(lambda: predicate(self), timeout)

    def _record(self, message) -> None:
        with self.lock:
            self.received.append(message)
            self.lock.notify_all()

    # ---- D-prognosis -------------------------------------------------------------------------
    def process_d_prognosis(self, message: DPrognosis) -> None:
        period = message.period.to_date()
        with self.lock:
            for isp in message.isps:
                for j in range(isp.duration):
                    slot = slot_of_isp(period, message.time_zone, isp.start + j)
                    self.prognosis[(message.sender_domain, slot)] = isp.power // 4
        self._send(message.sender_domain, "send_d_prognosis_response", DPrognosisResponse(
            d_prognosis_message_id=message.message_id, conversation_id=message.conversation_id,
            result=AcceptedRejected.ACCEPTED))
        self._record(message)

    def _flow(self, agr: str, slots: range) -> np.ndarray:
        return np.array([self.prognosis.get((agr, s), 0) for s in slots], dtype=float)

    # ---- FlexRequest -------------------------------------------------------------------------
    def request_flexibility(self, agr: str, period: XmlDate, time_zone: str = "UTC",
                            expires: str = "") -> bool:
        """Send a FlexRequest for the overloaded slots of the aggregator's prognosis."""
        first = slot_of_isp(period.to_date(), time_zone, 1)
        slots = range(first, first + 96)
        flow = self._flow(agr, slots)
        over = overload_wh(flow, self.target_wh)
        if not over.any():
            return False
        isps = []
        for k, s in enumerate(slots):
            isp = isp_of_slot(period.to_date(), time_zone, s)
            if over[k]:
                need_w = int(over[k]) * 4 * (-1 if flow[k] > 0 else 1)
                lo, hi = (-MAX_REQUEST_W, need_w) if need_w < 0 else (need_w, MAX_REQUEST_W)
                isps.append(FlexRequestISP(disposition=AvailableRequested.REQUESTED,
                                           min_power=lo, max_power=hi, start=isp, duration=1))
            else:
                room_w = int(self.target_wh - abs(flow[k])) * 4
                isps.append(FlexRequestISP(disposition=AvailableRequested.AVAILABLE,
                                           min_power=-room_w, max_power=room_w, start=isp,
                                           duration=1))
        return self._send(agr, "send_flex_request", FlexRequest(
            isp_duration=ISP, time_zone=time_zone, period=period,
            congestion_point=self.congestion_point, revision=1,
            expiration_date_time=expires or f"{period.to_date().isoformat()}T00:00:00+00:00",
            isps=isps))

    def process_flex_request_response(self, message) -> None:
        self._record(message)

    # ---- FlexOffer → FlexOrder ---------------------------------------------------------------
    def process_flex_offer(self, message: FlexOffer) -> None:
        agr = message.sender_domain
        self._send(agr, "send_flex_offer_response", FlexOfferResponse(
            flex_offer_message_id=message.message_id, conversation_id=message.conversation_id,
            result=AcceptedRejected.ACCEPTED))
        period = message.period.to_date()
        first = slot_of_isp(period, message.time_zone, 1)
        slots = range(first, first + 96)
        with self.lock:
            flow = self._flow(agr, slots)
        for option in message.offer_options:
            change = np.zeros(96)
            for i in option.isps:
                for j in range(i.duration):
                    change[i.start + j - 1] += i.power / 4
            relief = float(overload_wh(flow, self.target_wh).sum()
                           - overload_wh(flow + change, self.target_wh).sum())
            price_ueur = Decimal(option.price) * UEUR_PER_EUR
            if relief <= 0 or price_ueur > Decimal(self.max_price) * Decimal(relief) / 1000:
                continue
            reference = f"order-{len(self.orders) + 1}"
            order = FlexOrder(
                flex_offer_message_id=message.message_id,
                conversation_id=message.conversation_id, isp_duration=ISP,
                time_zone=message.time_zone, period=message.period,
                congestion_point=message.congestion_point, currency=message.currency,
                order_reference=reference, option_reference=option.option_reference,
                price=option.price, activation_factor=Decimal(1),
                isps=[FlexOrderISP(power=i.power, start=i.start, duration=i.duration)
                      for i in option.isps])
            if self._send(agr, "send_flex_order", order):
                with self.lock:
                    self.orders[reference] = (order, agr)
                    for k in range(96):  # the ordered change is now the expected flow
                        self.prognosis[(agr, slots[k])] = int(flow[k] + change[k])
            break  # one option per offer
        self._record(message)

    def process_flex_order_response(self, message) -> None:
        self._record(message)

    def process_flex_offer_revocation(self, message) -> None:
        self._record(message)

    def process_flex_reservation_update_response(self, message) -> None:
        self._record(message)

    def process_dso_portfolio_query_response(self, message) -> None:
        self._record(message)  # the CRO's answers: recorded (no CRO in this market)

    def process_dso_portfolio_update_response(self, message) -> None:
        self._record(message)

    # ---- Metering → FlexSettlement -----------------------------------------------------------
    def process_metering(self, message: Metering) -> None:
        agr = message.sender_domain
        self._send(agr, "send_metering_response", MeteringResponse(
            metering_message_id=message.message_id, conversation_id=message.conversation_id,
            result=AcceptedRejected.ACCEPTED))
        power = next((p for p in message.profiles if p.profile_type.value == "Power"), None)
        if power is None:
            self._record(message)
            return
        actual_w = {i.start: int(Decimal(i.value) * 1000) for i in power.isps}
        settlements = []
        with self.lock:
            orders = [(ref, o) for ref, (o, a) in self.orders.items()
                      if a == agr and o.period == message.period and ref not in self.settled]
        for reference, order in orders:
            rows, short = [], 0
            for i in order.isps:
                slot = slot_of_isp(order.period.to_date(), order.time_zone, i.start)
                base_w = (self.prognosis.get((agr, slot), 0) * 4) - i.power  # before the order
                delivered = actual_w.get(i.start, base_w) - base_w
                deficiency = max(0, delivered - i.power) if i.power < 0 else max(
                    0, i.power - delivered)
                short += deficiency
                rows.append(FlexOrderSettlementISP(
                    start=i.start, duration=i.duration, baseline_power=base_w,
                    ordered_flex_power=i.power, actual_power=actual_w.get(i.start, base_w),
                    delivered_flex_power=delivered, power_deficiency=deficiency))
            ordered = sum(abs(i.power) for i in order.isps) or 1
            penalty = (Decimal(order.price) * Decimal(min(short, ordered)) / Decimal(ordered)
                       ).quantize(Decimal("0.0001"))
            settlements.append(FlexOrderSettlement(
                order_reference=reference, period=order.period,
                congestion_point=order.congestion_point, price=order.price, penalty=penalty,
                net_settlement=Decimal(order.price) - penalty, isps=rows))
        if settlements:
            self._send(agr, "send_flex_settlement", FlexSettlement(
                period_start=message.period, period_end=message.period, currency="EUR",
                flex_order_settlements=settlements,
                contract_settlements=[ContractSettlement(periods=[ContractSettlementPeriod(
                    period=message.period,
                    isps=[ContractSettlementISP(start=1, duration=96, reserved_power=0)])])]))
        self._record(message)

    def process_flex_settlement_response(self, message) -> None:
        with self.lock:
            for status in message.flex_order_settlement_statuses:
                self.settled[status.order_reference] = (
                    str(status.disposition) + (f": {status.dispute_reason}"
                                               if status.dispute_reason else ""))
        self._record(message)

    # ---- sending -----------------------------------------------------------------------------
    def _send(self, agr: str, method: str, message) -> bool:
        try:
            getattr(self.agr_client(agr), method)(message)
        except Exception as exc:  # transport errors are recorded, not raised into the library
            self.errors.append(f"{method}: {exc}")
            return False
        return True
