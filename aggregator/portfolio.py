"""The aggregator's homes behind one congestion point for one day: plans, offers, orders.

Pure and deterministic. Each home's A-plan comes from its MILP (:mod:`node.milp`) on its own
forecasts at its supply prices. An offer answers the DSO's need per slot: the change of the
homes' total import it requests (Wh, − = less import, + = more import / less export) and
where it allows the flow to grow. It is built the way the DSO buys flexibility in the
simulator (:func:`dso.flex.procure`): homes re-plan one by one within the room left to them, so
they do not herd. The offer's price is the sum of the homes' extra costs at their own prices.
Executing an offer makes its plans the homes' plans; the bidders then trade them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dso.flex import procure
from node.home import HomeConfig
from node.milp import HomeAssets, MilpPlan, plan_cost_ueur, plan_home
from protocol.errors import Rejected
from protocol.tariff import Tariff


@dataclass(frozen=True)
class PortfolioHome:
    """A home the aggregator represents, with its own day-ahead forecasts (Wh per slot)."""

    config: HomeConfig
    load_wh: np.ndarray
    pv_wh: np.ndarray
    outdoor_c: np.ndarray | None = None  # for a heat pump


@dataclass(frozen=True)
class PortfolioOffer:
    """Flexibility the homes can deliver together: per slot change (Wh), price (µ€), plans."""

    reference: str
    change_wh: np.ndarray
    price_ueur: int
    plans: dict[str, np.ndarray]  # home → new net plan, Wh per slot


class MilpPortfolio:
    """A day of the aggregator's homes; see the module docstring."""

    def __init__(self, homes: list[PortfolioHome], tariff: Tariff, first_slot: int,
                 flex_value_ueur_per_kwh: int = 1_000_000) -> None:
        self.tariff = tariff
        self.first_slot = first_slot
        self.flex_value = flex_value_ueur_per_kwh
        self.homes = {h.config.home_id: h for h in homes}
        self._plans: dict[str, MilpPlan] = {hid: self._plan(h) for hid, h in self.homes.items()}
        self.offers: dict[str, PortfolioOffer] = {}
        self._candidates: dict[str, dict[str, MilpPlan]] = {}  # offer → its homes' plans
        self.executed: list[str] = []

    @property
    def slots(self) -> int:
        return len(next(iter(self.homes.values())).load_wh)

    def plan_wh(self, home: str) -> np.ndarray:
        """The home's current net plan (Wh per slot, + = import)."""
        return np.rint(self._plans[home].net_wh).astype(np.int64)

    def prognosis_wh(self) -> np.ndarray:
        """The homes' total planned net import per slot (Wh): the aggregator's D-prognosis."""
        return np.sum([self.plan_wh(h) for h in sorted(self.homes)], axis=0)

    def offer(self, requested_wh: np.ndarray, allowed_wh: np.ndarray) -> PortfolioOffer | None:
        """The homes' best answer to a request, or None if they can do nothing for it.

        ``requested_wh``: per slot the change of total import the DSO asks for (NaN = none).
        ``allowed_wh``: per slot how far |flow| may grow (0 where the DSO said nothing).
        """
        prognosis = self.prognosis_wh().astype(float)
        wanted = np.where(np.isnan(requested_wh), prognosis, prognosis + np.nan_to_num(
            requested_wh))
        flips = np.sign(wanted) * np.sign(prognosis) < 0
        limit = np.where(np.isnan(requested_wh), np.abs(prognosis) + allowed_wh,
                         np.where(flips, 0, np.abs(wanted)))
        candidates: dict[str, MilpPlan] = {}

        def replan(hid: str, import_room: np.ndarray, export_room: np.ndarray):
            excess = np.maximum(np.maximum(-import_room, -export_room), 0)
            penalty = self.flex_value * (1 + excess / max(float(np.abs(prognosis).max()), 1.0))
            candidates[hid] = self._plan(self.homes[hid], import_room, export_room, penalty)
            extra = (plan_cost_ueur(candidates[hid], self.tariff, self.first_slot)
                     - plan_cost_ueur(self._plans[hid], self.tariff, self.first_slot))
            return np.rint(candidates[hid].net_wh), round(extra)

        flexible = {hid: self.plan_wh(hid) for hid, h in self.homes.items()
                    if _assets(h.config) != HomeAssets()}
        result = procure(prognosis, flexible, limit, replan, margin=0.0,
                         max_price=self.flex_value)
        if not result.orders:
            return None
        plans = {o.home: o.net_wh for o in result.orders}
        reference = f"offer-{len(self.offers) + 1}"
        offer = PortfolioOffer(reference, np.rint(result.prognosis_wh - prognosis).astype(
            np.int64), result.cost_ueur, plans)
        self.offers[reference] = offer
        self._candidates[reference] = {o.home: candidates[o.home] for o in result.orders}
        return offer

    def execute(self, reference: str) -> dict[str, np.ndarray]:
        """Make an offer's plans the homes' plans; returns them. Other open offers lapse."""
        if reference not in self.offers:
            raise Rejected(f"no open offer {reference!r}")
        offer = self.offers.pop(reference)
        self._plans.update(self._candidates.pop(reference))
        self.offers.clear()  # built on the old plans: no longer valid
        self._candidates.clear()
        self.executed.append(reference)
        return offer.plans

    def _plan(self, h: PortfolioHome, import_limit=None, export_limit=None,
              penalty: np.ndarray | float = 0.0) -> MilpPlan:
        slots = range(self.first_slot, self.first_slot + len(h.load_wh))
        buy = np.array([self.tariff.retail(s) for s in slots], float)
        sell = np.array([self.tariff.feed_in_price(s) for s in slots], float)
        return plan_home(h.load_wh, h.pv_wh, _assets(h.config), buy, sell,
                         peak_price_per_kw=self.tariff.capacity_per_kw_day,
                         peak_floor_wh=self.tariff.capacity_min_peak_wh,
                         outdoor_c=h.outdoor_c, import_limit_wh=import_limit,
                         export_limit_wh=export_limit, limit_penalty=penalty)


def _assets(h: HomeConfig) -> HomeAssets:
    return HomeAssets(battery=h.battery, ev=h.ev, heat_pump=h.heat_pump, appliances=h.appliances)
