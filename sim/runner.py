"""One simulated market run: all roles wired in-process on a virtual clock.

Every role's steps are scheduled on one :class:`VirtualClock`, so days overlap as they do in
reality (day D+1 is planned while day D trades). Per simulated day D, in virtual time:
  D-1 12:00  homes forecast and plan (A-plans); the exchange aggregates them into the DSO's
             prognosis; the DSO posts signed congestion prices; the operator states escrow.
  D-1 13:00  homes send their opening orders for all 96 slots of D.
  each slot  one minute before its gate, homes cancel what is left and send the remainder at
             their reservation price (it fills with neighbours or the supplier).
  slot end   +30 s: delivery — the homes' real load and PV against their plans' schedules;
             where the flow still overloads, the DSO's operate phase defers EV charging, runs
             batteries (discharges them, charges them back where there is room) or curtails
             PV; the meters' registers give each gateway's oracle its signed, hash-chained
             reading, which the gateway sends (with any not yet acknowledged) and
             the verifier checks; with prices, the DSO re-posts the later slots' prices from the
             readings so far and a seeded third of the MILP homes they touch re-plan the rest
             of their day.
  D+1 00:01  the settlement batch of D is built and sent to the ledger.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from dso.allotment import cheapest_cuts
from dso.congestion_model import congestion_model
from dso.flex import FlexPurchase, procure
from dso.intraday import IntradayPricer
from dso.operate import BatterySlot, ChargingWindow, FeederPoint, OperatePhase
from dso.pricing import CongestionPricer, PricingRule
from dso.usef import validate
from ledger.settlement_batch import SettlementResult, build_batch
from market.config import MarketConfig
from market.indicative import coordinate, local_price
from market.journal import JournaledExchange
from meter_oracle.intervals import IntervalBuilder
from meter_oracle.oracle import MeterOracle, ReadingVerifier, SignedReading
from meter_oracle.simulated import SimulatedMeter
from node.balancing import (
    BalancingBattery,
    answer_street,
    storage_needed_slots,
    stored_after,
)
from node.bidder import Bidder
from node.control import feasible_schedule, lendable_wh, reachable_soc, track_plan
from node.forecast import (
    intraday_update,
    mean_absolute_error,
    same_slot_mean,
    same_slot_spread,
)
from node.home import self_consumption
from node.milp import HomeAssets, MilpPlan, PlanInfeasible, plan_cost_ueur
from node.planner import Plan, plan_day
from node.standing import plan_stands
from node.strategy import quoting_strategy
from protocol.messages import EscrowUpdate, Trade
from protocol.signing import Signed
from protocol.tariff import cheapest_retail
from protocol.units import DAY_SECONDS, SLOTS_PER_DAY, slot_of, slot_start
from sim.chain_setup import ChainContext, bring_up
from sim.clock import VirtualClock
from sim.participants import DSO, OPERATOR, SUPPLIER, Participants, make_participants
from sim.plan_pool import COUNTERFACTUAL, PlanCall, PlanPool
from sim.profiles import Profiles
from sim.scenario import Scenario, home_day_wh, outdoor_temperature_c

Progress = Callable[[str, int, int], None]
#: Test hook: sees a day's signed readings before verification and returns what is delivered.
ReadingTap = Callable[[int, list[SignedReading]], list[SignedReading]]
HISTORY_DAYS = 7
#: a planned battery may fall this share of its capacity below its planned SoC absorbing
#: forecast error (node.control.track_plan). 0: it spends only what it holds above the plan.
#: Measured on 2030-green-high, 160 kVA, flexibility mode, day 2: 10 % leaves 19 overloaded
#: morning slots (batteries drained the evening before), 0 leaves 6
SOC_TOLERANCE = 0.0
#: what a re-plan during the day pays per Wh it moves a home's net from the plan it traded
#: (µ€/Wh; node.milp.plan_home ``anchor_ueur_per_wh``). Re-planned with the information they
#: had, homes swapped up to 10 kWh of their net for plans of the same cost; the street then
#: re-traded it (benchmarks/welfare.py, 2030-green-medium: ratio 0.897 → 0.916 at 1, 5 or 20).
#: The same anchor holds a home to its plan in the local offers' later sweeps and as the DSO's
#: validation mover: it moves for what the offers or fees pay, and its plan no longer hangs on
#: which of equally cheap optima HiGHS returns (node.milp.PRESOLVE_ANCHORED)
REPLAN_ANCHOR_UEUR_PER_WH = 5.0
#: sweeps of the exchange's sequential local offers (market.indicative.coordinate): each MILP
#: home plans once more, in a seeded order, against what the others' latest plans leave.
#: Measured (benchmarks/welfare.py, pooled over the default street and the 12 presets): equal
#: shares with one reallocation of the unused volume 0.871, these sweeps 0.895; 2 sweeps of
#: blocks of 4: 0.950 against 0.953
SWEEPS = 3
#: homes that plan side by side at the local offers, splitting what nobody has taken yet
#: (market.indicative.coordinate's ``block``): a number of the mechanism's, not of the
#: machine's workers, so the plans do not depend on them. Measured (benchmarks/welfare.py,
#: pooled / default street / presets / the lowest preset): one at a time 0.951 / 0.960 / 0.950
#: / 0.886, blocks of 4 0.953 / 0.969 / 0.950 / 0.895, of 8 0.949 / 0.974 / 0.944 / 0.889 (on
#: the presets' 60 homes 8 split the surplus among too many at once). A 2030-green-high day
#: (184 homes, benchmarks/planner.py, two workers): the stage 3.4 → 2.2 s, and the homes
#: herd less — the DSO's validation re-plans 371 → 168, intraday re-plans 1 024 → 608
LOCAL_OFFER_BLOCK = 4
#: A periodic re-plan (``replan_every``) is made where it has something to answer: the home's
#: revised forecast moves the net its plan expects over the next ``REPLAN_LOOKAHEAD`` slots by
#: ``REPLAN_FORECAST_WH`` or more (Wh, summed), or its battery has run ``REPLAN_BATTERY_WH`` or
#: more from its plan. Measured (2030-green-high, 184 homes): 765 → 340 periodic re-plans, those
#: skipped having moved 91 of the 428 kWh all of them moved; benchmarks/welfare.py 0.9529 pooled
#: against 0.9528 re-planning every home, the AC congestion runs as before (160 kVA: 43 → 0
#: overloaded slots at 11.53 €/day)
REPLAN_LOOKAHEAD = 16
REPLAN_FORECAST_WH = 200.0
REPLAN_BATTERY_WH = 100.0


@dataclass(frozen=True)
class _PlanRequest:
    """A flexible home's plan to make: ``plan_home``'s call, and what its A-plan (``Plan``) is
    built from once the MILP's plan is back."""

    first: int
    load_fc: np.ndarray
    pv_fc: np.ndarray
    spread: np.ndarray
    heat_pump: bool
    battery: bool
    priced: bool  # with marginal values, which a quoting strategy bids within
    call: PlanCall

    def plan(self, mp: MilpPlan) -> Plan:
        """The A-plan of ``mp``: its net in whole Wh, and the firm part, net shrunk by the
        forecast's spread."""
        net = np.rint(mp.net_wh).astype(np.int64)
        firm = np.sign(net) * np.maximum(np.abs(net) - self.spread, 0)
        end_indoor = float(mp.indoor_c[-1]) if self.heat_pump else None
        return Plan(self.first, self.load_fc, self.pv_fc, np.rint(mp.battery_wh).astype(np.int64),
                    net, firm, float(mp.soc_wh[-1]) if self.battery else 0.0, end_indoor,
                    mp.marginal_value if self.priced else None)


@dataclass(frozen=True)
class _Replan:
    """A MILP home's re-plan during the day: from its revised ``forecasts`` (load, PV,
    spread), slots before ``keep_until`` kept as planned (those before ``delivered`` as they
    really ran), at the DSO's fees in force (µ€/kWh per slot); ``own``: its no-market
    counterfactual's plan instead."""

    home: str
    forecasts: tuple
    keep_until: int
    delivered: int
    import_fee: np.ndarray | None
    export_fee: np.ndarray | None
    own: bool = False


@dataclass
class DayRecord:
    """What one simulated day produced."""

    day: int
    first_slot: int
    plans: dict[str, Plan]
    actual_net_wh: dict[str, np.ndarray]
    actual_load_wh: dict[str, np.ndarray]
    actual_pv_wh: dict[str, np.ndarray]
    prognosis_wh: np.ndarray
    transformer_flow_wh: np.ndarray
    metered_flow_wh: np.ndarray
    posted_prices: list
    settlement: SettlementResult
    settle_gas: int
    load_mae_wh: float
    pv_mae_wh: float
    flex_orders: list[FlexPurchase] = field(default_factory=list)  # what the DSO bought, paid
    # nets before the operate phase changed them (activated homes only): the no-market baseline
    unactivated_net_wh: dict[str, np.ndarray] = field(default_factory=dict)
    ev_wh: dict[str, np.ndarray] = field(default_factory=dict)  # EV charging delivered (grid)
    ev_carry_wh: dict[str, int] = field(default_factory=dict)  # EV energy left to the morning
    # the operate phase: each activated home's change of net (Wh per slot, settled as an
    # energy-transfer correction) and the energy it deferred or curtailed (Wh)
    correction_wh: dict[str, np.ndarray] = field(default_factory=dict)
    activated_wh: dict[str, int] = field(default_factory=dict)
    # MILP homes: the net their own optimisation at the supply contract and the DSO's posted
    # prices (no market: no local offers, no flexibility sold) would have given against the
    # same load and PV — the no-market baseline
    own_net_wh: dict[str, np.ndarray] = field(default_factory=dict)
    # operate-phase prices re-posted from the readings, and the home plans they re-made
    intraday_prices: list = field(default_factory=list)
    intraday_replans: int = 0
    # MILP homes' batteries as the controller ran them (Wh per slot, + = charging) and their
    # real state of charge at the day's start (Wh)
    battery_wh: dict[str, np.ndarray] = field(default_factory=dict)
    soc_start_wh: dict[str, float] = field(default_factory=dict)
    # the day's end state (Wh): MILP homes' batteries as they really ended it, and as their
    # no-market counterfactual would have (it restarts each day from the real state, so what
    # it would have stored or left to the morning differently is valued by sim.kpi)
    soc_end_wh: dict[str, float] = field(default_factory=dict)
    own_soc_end_wh: dict[str, float] = field(default_factory=dict)
    own_ev_carry_wh: dict[str, int] = field(default_factory=dict)
    # stored energy the DSO's operate phase took from batteries and had not restored by the
    # day's end (Wh): restored on later days, the homes' settlement corrected until then
    battery_owed_wh: dict[str, float] = field(default_factory=dict)
    battery_discharged_wh: dict[str, int] = field(default_factory=dict)  # by the DSO, grid side
    # what the DSO paid homes for capping the EV energy they leave to tomorrow morning (µ€):
    # part of ``flex_orders``; the DSO's, market or not, so the no-market bill counts it too
    allotment_ueur: dict[str, int] = field(default_factory=dict)
    # AC congestion points (Scenario.grid_model "ac"), points × slots, Wh-equivalent of kVA ×
    # 15 min, + = import: each one's exact flow from the metered nets, and the price loop's
    # final day-ahead prognosis of it (None where the DSO did not run the loop)
    point_flow_wh: np.ndarray | None = None
    point_prognosis_wh: np.ndarray | None = None
    # PV the homes' own schedules left unused over the day (Wh): curtailment their plan chose
    # (e.g. against a posted export price) or a DSO flex order's export cap; what the operate
    # phase curtailed is in ``activated_wh``
    pv_curtailed_wh: dict[str, int] = field(default_factory=dict)


@dataclass
class RunResult:
    """The whole run: scenario, per-day records, trades, journal, chain context."""

    scenario: Scenario
    participants: Participants
    days: list[DayRecord]
    trades: list[Trade]
    exchange: JournaledExchange
    chain: ChainContext
    verifier: ReadingVerifier
    accepted_messages: int = 0
    rejected_messages: list[str] = field(default_factory=list)
    validation_rounds: list[list[int]] = field(default_factory=list)  # overloaded slots/round
    readings: list[SignedReading] = field(default_factory=list)
    # the DSO's AC congestion points (Scenario.grid_model "ac"): names and limits (Wh-equivalent)
    point_names: tuple[str, ...] = ()
    point_limits_wh: np.ndarray | None = None
    # the homes' MILP plans over the run (day-ahead, re-plans and the no-market
    # counterfactual's), and the wall time spent making them (s): a measurement, not a result
    plans: int = 0
    planning_s: float = 0.0
    counterfactual_plans: int = 0  # of them, the no-market counterfactual's (no agent's work)
    counterfactual_planning_s: float = 0.0
    # per stage of planning (day-ahead, validation, local offers, allotment, intraday and
    # periodic re-plans, the counterfactual's): (plans, wall time s)
    planning_stages: dict[str, tuple[int, float]] = field(default_factory=dict)
    # re-plans (the validation movers', during the day, the counterfactual's) that the plan the
    # home had answers, proven optimal at the new prices without solving (node.standing)
    plans_stood: int = 0


class Simulation:
    """Holds the state of all roles across days."""

    def __init__(self, scenario: Scenario, profiles: Profiles, ledger_url: str | None = None,
                 progress: Progress | None = None, reading_tap: ReadingTap | None = None,
                 plan_workers: int = 1) -> None:
        if scenario.forecast not in ("own", "perfect"):
            raise ValueError(f"unknown forecast {scenario.forecast!r}: 'own' or 'perfect'")
        self.sc = scenario
        self.reading_tap = reading_tap
        self.planner = PlanPool(plan_workers)  # the homes of one round plan side by side
        self.profiles = profiles
        self.progress = progress or (lambda phase, done, total: None)
        self.parts = make_participants(scenario)
        # the DSO's congestion points: what the price loop prognoses and the market checks
        self.model = congestion_model(scenario.grid, scenario.grid_model, scenario.network)
        self.limit_wh = self.model.transformer_limit_wh  # for the lossless transformer sum
        topo = self.model.topology
        self.config = MarketConfig(
            gate_closure_s=scenario.gate_closure_s, tariff=scenario.tariff, topology=topo
        )
        self.exchange = JournaledExchange(self.config, self.parts.directory())
        self.chain = bring_up(scenario, self.parts, ledger_url)
        self.addresses = self.parts.address_of()
        self.verifier = ReadingVerifier.from_registry(  # meter keys as registered on chain
            self.chain.client, {h.home_id: self.addresses[h.home_id] for h in scenario.homes}
        )
        self.rng = np.random.default_rng(scenario.seed + 1)
        # with the operate phase as its backstop, the DSO never prices export above what
        # curtailing costs it there: the feed-in price it pays for each curtailed kWh
        self.export_cap = scenario.tariff.feed_in if scenario.dso_operates else None
        self.pricer = CongestionPricer(DSO, self.parts.message_keys[DSO],
                                       rule=PricingRule(export_cap=self.export_cap))
        self.operator_nonce = 0
        self.bidders = {
            h.home_id: Bidder(h.home_id, h.zone, self.parts.message_keys[h.home_id],
                              scenario.tariff, upstream=topo.upstream,
                              strategy=quoting_strategy(scenario.strategy, scenario.tariff,
                                                        scenario.seed, n))
            for n, h in enumerate(scenario.homes)
        }
        self.last_trade: dict[int, int] = {}  # slot → last trade price (the public tape)
        self.meters = {h.home_id: SimulatedMeter() for h in scenario.homes}
        self.builders = {h.home_id: IntervalBuilder() for h in scenario.homes}
        self.oracles = {h.home_id: MeterOracle(h.home_id, self.parts.meter_keys[h.home_id])
                        for h in scenario.homes}
        self.soc = {h.home_id: (h.battery.capacity_wh * h.battery.initial_soc if h.battery else 0.0)
                    for h in scenario.homes}
        self.own_soc = dict(self.soc)  # the batteries of the no-market counterfactual
        # MILP batteries answer the street's net in real time (not where the DSO buys
        # flexibility: its orders rely on the flexible load staying put)
        self.balancing = scenario.community_balancing and not scenario.dso_buys_flexibility
        # batteries the DSO ran today in its operate phase: the SoC each would have had without
        self.shadow_soc: dict[str, float] = {}
        self.ev_owed = {h.home_id: 0 for h in scenario.homes}  # EV energy left to the morning
        self.carry_cap: dict[str, float] = {}  # the DSO's allotment of tomorrow morning's room
        # Each gateway has logged its own load and PV for the week before the run.
        self.history: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {
            h.home_id: [home_day_wh(h, profiles, scenario.start_day - k)
                        for k in range(HISTORY_DAYS, 0, -1)]
            for h in scenario.homes
        }
        for h in scenario.homes:  # meters start their registers at the first slot's start
            self.builders[h.home_id].add(self.meters[h.home_id].sample_now(
                slot_start(scenario.first_slot)))
        self.result = RunResult(scenario, self.parts, [], [], self.exchange, self.chain,
                                self.verifier)
        if self.model.flows is not None:
            self.result.point_names = self.model.names
            self.result.point_limits_wh = self.model.point_limits_wh
        self.clock = VirtualClock(slot_start(scenario.first_slot) - DAY_SECONDS)
        self.pending: dict[int, dict] = {}
        self.indoor: dict[str, float] = {}
        self.homes_by_id = {h.home_id: h for h in scenario.homes}
        # the homes below each congestion point: all (None: the transformer), or a feeder's
        self.homes_below: dict[str | None, list[str]] = {
            zone: [h.home_id for h in scenario.homes if zone is None or h.zone == zone]
            for zone, _ in self.model.lossless_limits()}
        self.unacknowledged: list[SignedReading] = []
        self.settled_trades = 0
        self._fee_cache: dict[tuple[str, int, str], int] = {}
        self.settled_readings = 0
        self.settled_through_slot = scenario.first_slot - 1
        self.priced_readings = 0  # verified readings the DSO's intraday pricer has seen
        # per day (first slot): the indicative local offers each MILP home plans with
        self.indicative: dict[int, dict[str, tuple]] = {}  # … per MILP home
        self.local_price: dict[int, np.ndarray] = {}  # … the published local price per slot
        # per day (first slot), AC points only: the price loop's final prognosis per point (Wh)
        self.point_prognosis: dict[int, np.ndarray] = {}

    # ---- messaging --------------------------------------------------------------------------
    def _send(self, envelope: Signed, now: int) -> None:
        ack = self.exchange.submit(envelope, now)
        if not ack.accepted:
            self.result.rejected_messages.append(ack.reason)
            return
        self.result.accepted_messages += 1
        for t in ack.trades:
            self.result.trades.append(t)
            self.last_trade[t.slot] = t.price
            if t.buyer in self.bidders:
                self.bidders[t.buyer].on_fill(t.buy_order_id, t.slot, "buy", t.quantity_wh)
            if t.seller in self.bidders:
                self.bidders[t.seller].on_fill(t.sell_order_id, t.slot, "sell", t.quantity_wh)

    def _supply_fee(self, participant: str, slot: int, direction: str) -> int:
        """Posted congestion fee on supplier energy to (import) or from (export) a home.

        Asked only after the slot's gate has closed, when its prices can no longer change.
        """
        zone = self.parts.zones[participant]
        key = (zone, slot, direction)
        fee = self._fee_cache.get(key)
        if fee is None:
            upstream = self.config.topology.upstream
            src, dst = (upstream, zone) if direction == "import" else (zone, upstream)
            fee = self._fee_cache[key] = self.exchange.exchange.fee(src, dst, slot)
        return fee

    # ---- one day, in scheduled steps ---------------------------------------------------------
    def schedule_day(self, index: int) -> None:
        """Put day ``index``'s steps on the clock (planning happens the day before)."""
        first = (self.sc.start_day + index) * SLOTS_PER_DAY
        t_plan = slot_start(first) - 12 * 3600
        self.clock.at(t_plan, self._plan, index)
        self.clock.at(t_plan + 3600, self._open, index)
        for i in range(SLOTS_PER_DAY):
            t_gate = slot_start(first + i) - self.sc.gate_closure_s - 60
            self.clock.at(t_gate, self._gate, index, i)
        for i in range(SLOTS_PER_DAY):  # just after each slot ends
            self.clock.at(slot_start(first + i + 1) + 30, self._deliver_slot, index, i)
        self.clock.at(slot_start(first + SLOTS_PER_DAY) + 60, self._settle, index)

    def _plan(self, index: int) -> None:
        """Day ahead: forecasts, A-plans, the DSO's prognosis and prices, escrow statements."""
        sc, now = self.sc, self.clock.now
        day = sc.start_day + index
        first = day * SLOTS_PER_DAY
        plans: dict[str, Plan] = {}
        milp_plans: dict[str, MilpPlan] = {}
        forecasts: dict[str, tuple] = {}
        starts: dict[str, tuple] = {}
        actual: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        load_err, pv_err = [], []
        # Day D is planned while D−1 is still to be delivered: start from D−1's planned end.
        self.carry_cap = {}  # tonight's allotment is made after today's A-plans
        previous = self.pending.get(index - 1, {}).get("plans", {})
        previous_milp = self.pending.get(index - 1, {}).get("milp", {})
        requests: dict[str, _PlanRequest] = {}  # the flexible homes' plans, made side by side
        for h in sc.homes:
            before = previous.get(h.home_id)
            owed = (self.ev_owed[h.home_id] if h.home_id not in previous_milp
                    else round(previous_milp[h.home_id].ev_carry_wh))
            soc = self.soc[h.home_id] if before is None else before.end_soc_wh
            if h.home_id in previous_milp and h.battery is not None:
                soc = self._expected_end_soc(index - 1, h.home_id)
            indoor = self.indoor.get(h.home_id) if before is None else before.end_indoor_c
            actual[h.home_id] = home_day_wh(h, self.profiles, day)
            if sc.forecast == "perfect":  # the oracle of studies: the day as it will be
                load_fc, pv_fc = actual[h.home_id]
                spread = np.zeros(SLOTS_PER_DAY, np.int64)
            else:
                past_load = np.stack([d[0] for d in self.history[h.home_id]])
                past_pv = np.stack([d[1] for d in self.history[h.home_id]])
                load_fc, pv_fc = same_slot_mean(past_load), same_slot_mean(past_pv)
                spread = same_slot_spread(past_load) + same_slot_spread(past_pv)
            if sc.planner == "milp" and (h.flexible or h.battery is not None):
                forecasts[h.home_id] = (load_fc, pv_fc, spread)
                starts[h.home_id] = (soc, indoor, owed)
                plans[h.home_id] = None  # (the street's order)
                requests[h.home_id] = self._plan_request(h, first, load_fc, pv_fc, spread, day,
                                                         soc, indoor, owed)
            else:
                plans[h.home_id] = plan_day(h, first, load_fc, pv_fc, soc, spread)
            load_err.append(mean_absolute_error(load_fc, actual[h.home_id][0]))
            pv_err.append(mean_absolute_error(pv_fc, actual[h.home_id][1]))
        for hid, planned in zip(requests, self._planned(requests.values(), stage="day-ahead"),
                                strict=True):
            plans[hid], milp_plans[hid] = planned
        prognosis = sc.grid.transformer_flow_wh({k: p.net_wh for k, p in plans.items()})
        own = dict(milp_plans)  # each home's own optimisation at its contract: no market
        # the exchange's local offers; not where the DSO buys flexibility: there they move the
        # flexible load its orders rely on (benchmarks/congestion.py, 2030-green-high, day 2
        # on 160 kVA: 17 metered overloads with them, 1 without; 200 kVA: 1 and 0)
        if milp_plans and sc.indicative_prices and not sc.dso_buys_flexibility:
            self._local_offers(first, day, plans, milp_plans, forecasts, starts)
            prognosis = sc.grid.transformer_flow_wh({k: p.net_wh for k, p in plans.items()})
        fees = (np.zeros(SLOTS_PER_DAY, np.int64), np.zeros(SLOTS_PER_DAY, np.int64))
        if milp_plans:  # USEF validate: the DSO prices, flexible homes re-plan, until it fits
            points = self.model.flows is not None  # AC congestion points, else the lossless sum

            # the fees each home's plan answers: those of the last round it moved in
            seen: dict[str, tuple[np.ndarray, np.ndarray]] = {}

            def replan(import_price: np.ndarray, export_price: np.ndarray) -> np.ndarray:
                # Homes update at different times: a seeded third re-plans each round, so the
                # flexible load moves gradually instead of herding into the same cheap slot.
                ids = sorted(milp_plans)
                movers = [ids[i] for i in self.rng.permutation(len(ids))[: max(1, len(ids) // 3)]]
                requests = {}
                for hid in movers:
                    h = self.homes_by_id[hid]
                    import_fee, export_fee = self.model.home_fees(h.zone, import_price,
                                                                  export_price)
                    requests[hid] = self._plan_request(
                        h, first, *forecasts[hid], day, *starts[hid], import_fee=import_fee,
                        export_fee=export_fee, keep=milp_plans[hid])  # anchored to it
                    seen[hid] = (import_fee, export_fee)
                # a plan the new fees leave optimal stands (node.standing)
                planned = self._planned(requests.values(), "validation",
                                        [milp_plans[hid] for hid in requests])
                for hid, (plan, mp) in zip(requests, planned, strict=True):
                    plans[hid], milp_plans[hid] = plan, mp
                nets = {k: p.net_wh for k, p in plans.items()}
                return (self.model.point_flows_wh(nets) if points
                        else sc.grid.transformer_flow_wh(nets))

            export_caps: dict[str, np.ndarray] = {}
            allotted: list[FlexPurchase] = []
            if sc.dso_buys_flexibility or sc.validation_rounds:
                # tomorrow morning's room for tonight's EV top-ups: no price of today's moves
                # energy the EVs must have by 07:00, so the DSO allots it, paying for the cap
                prognosis = self._allot_morning(first, day, prognosis, plans, milp_plans,
                                                forecasts, starts, allotted)
                # the allotment is the DSO's, market or not: the no-market baseline has the
                # capped plan too, and its payment (DayRecord.allotment_ueur)
                own.update({o.home: milp_plans[o.home] for o in allotted})
            if sc.dso_buys_flexibility:
                flex = self._buy_flexibility(first, day, prognosis, plans, milp_plans,
                                             forecasts, starts)
                # in the slots requested for export, an ordered home's inverter holds its
                # export to the ordered plan: PV beyond the forecast is curtailed on the spot
                exporting = prognosis < -flex.target_wh
                export_caps = {o.home: np.where(exporting, np.maximum(-o.net_wh, 0), np.inf)
                               for o in flex.orders}
                prognosis = flex.prognosis_wh
                postings = []  # the DSO pays for flexibility instead of charging fees
                self.result.validation_rounds.append(flex.overloaded_per_round)
            else:
                first_prognosis = (self.model.point_flows_wh(
                    {k: p.net_wh for k, p in plans.items()}) if points else prognosis)
                validation = validate(first_prognosis,
                                      self.model.point_limits_wh if points else self.limit_wh,
                                      replan, max_rounds=sc.validation_rounds,
                                      export_cap=self.export_cap)
                # Without the market the DSO's prices are still its tariff: each home's own
                # optimisation answers them. Planned at contract + fees, the market's plans are
                # that optimisation (the CDA only nets their positions), and so stay through
                # intraday re-plans; planned with local offers, it is one more plan without them,
                # at the fees the home's plan answers — those of the last round it moved in (none
                # if it did not), as in the same loop without the market: the final ones would
                # give the baseline prices its plan never saw (on the default street, home-170's
                # plan recharged in slot 93 at a price the last round posted; its baseline,
                # planned at it, did not, and the home ended 0.12 ct worse off)
                ids = sorted(milp_plans)
                no_fees = np.zeros(SLOTS_PER_DAY, np.int64)
                # (its plan at its contract stands where those fees leave it optimal:
                # node.standing)
                at_contract = own
                own = milp_plans if not sc.indicative_prices else {
                    hid: mp for hid, (_, mp) in zip(ids, self._planned([self._plan_request(
                        self.homes_by_id[hid], first, *forecasts[hid], day, *starts[hid],
                        *seen.get(hid, (no_fees, no_fees)), local=False)
                        for hid in ids], f"{COUNTERFACTUAL} day-ahead",
                        [at_contract.get(hid) for hid in ids]), strict=True)}
                fees = (validation.import_price, validation.export_price)
                if points:  # per point; the rest of the day checks the lossless sum
                    prognosis = sc.grid.transformer_flow_wh(
                        {k: p.net_wh for k, p in plans.items()})
                    postings = [env for k, name in enumerate(self.model.names)
                                for env in self.pricer.post_prices(
                                    first, fees[0][k], fees[1][k], point=name)]
                    self.point_prognosis[first] = validation.prognosis_wh
                else:
                    prognosis = validation.prognosis_wh
                    postings = self.pricer.post_prices(first, *fees)
                self.result.validation_rounds.append(validation.overloaded_per_round)
            flex_orders = allotted + (flex.orders if sc.dso_buys_flexibility else [])
        else:  # no home plans with the MILP: prices, or (buying flexibility) the operate phase
            postings = []
            if not sc.dso_buys_flexibility and sc.validation_rounds:
                if self.model.flows is None:
                    postings = self.pricer.post(first, prognosis, self.limit_wh)
                else:  # each AC point's prognosis against its rating
                    flows = self.model.point_flows_wh({k: p.net_wh for k, p in plans.items()})
                    self.point_prognosis[first] = flows
                    postings = [env for k, name in enumerate(self.model.names)
                                for env in self.pricer.post(
                                    first, flows[k], self.model.point_limits_wh[k], name)]
            flex_orders, export_caps = [], {}
        for env in postings:
            self._send(env, now)
        op_key = self.parts.message_keys[OPERATOR]
        for h in sc.homes:
            self.operator_nonce += 1
            escrow = self.chain.client.escrow_of(self.addresses[h.home_id])
            self._send(op_key.sign(EscrowUpdate(
                sender=OPERATOR, nonce=self.operator_nonce, participant=h.home_id,
                escrow_ueur=escrow, settled_through_slot=self.settled_through_slot)), now)
        intraday = None
        # intraday prices where homes can answer them: MILP homes that re-plan (as the price
        # loop day ahead); on a street of rule-planned homes they would only tax
        if (not sc.dso_buys_flexibility and sc.validation_rounds and sc.intraday_prices
                and milp_plans):
            intraday = []  # (zone or None for all homes, its point's pricer) per point
            for (zone, limit), name in zip(self.model.lossless_limits(), self.model.names,
                                           strict=True):
                homes = self.homes_below[zone]
                flow = prognosis if zone is None else sum(plans[hid].net_wh for hid in homes)
                pricer = IntradayPricer(self.pricer, first, np.asarray(flow), limit,
                                        frozenset(homes), point=name)
                pricer.record_day_ahead(postings)
                intraday.append((zone, pricer))
        self.pending[index] = {
            "intraday": intraday, "intraday_postings": [], "replans": 0, "day": day,
            "forecasts": forecasts, "starts": starts, "carry_cap": dict(self.carry_cap),
            "first": first, "plans": plans, "milp": milp_plans, "actual": actual, "own": own,
            "prognosis": prognosis, "flow": np.asarray(prognosis, float).copy(),
            "storage_needed": self._storage_needed(prognosis, milp_plans),
            # the exchange's published local price per slot (µ€/kWh), where agents quote
            "local_price": (self.local_price[first].tolist() if first in self.local_price
                            else None),
            "flex_orders": flex_orders, "export_caps": export_caps,
            "allotment": {o.home: o.price_ueur for o in allotted} if milp_plans else {},
            "postings": postings, "fees": fees, "load_mae": float(np.mean(load_err)),
            "pv_mae": float(np.mean(pv_err)),
        }
        self.progress("plan", index, sc.days)

    def _local_offers(self, first: int, day: int, plans: dict, milp_plans: dict, forecasts: dict,
                      starts: dict) -> None:
        """The exchange's local offers (market/indicative.py) from the street's A-plans: the
        local price per slot from the plans at the contract; then, in a seeded order, each MILP
        home plans once more against the surplus or demand the others' latest plans leave, by
        their firm parts (what they are sure of; ``coordinate``) — free appliance starts in the
        first sweep; after it, the starts kept and the plan anchored to the last — for up to
        ``SWEEPS`` sweeps; ``LOCAL_OFFER_BLOCK`` homes at a time, side by side on the plan pool,
        splitting what nobody has taken yet."""
        sc = self.sc
        retail = np.array([sc.tariff.retail(first + t) for t in range(SLOTS_PER_DAY)])
        feed = np.array([sc.tariff.feed_in_price(first + t) for t in range(SLOTS_PER_DAY)])
        price = local_price(sum(p.net_wh for p in plans.values()), retail, feed)
        ids = sorted(milp_plans)
        self.local_price[first] = price
        self.indicative[first] = {}
        rest = sum((p.firm_wh for hid, p in plans.items() if hid not in milp_plans),
                   np.zeros(SLOTS_PER_DAY))

        def replan(todo: list[tuple[str, np.ndarray, np.ndarray]], sweep: int
                   ) -> list[np.ndarray]:
            requests = []
            for hid, buy, sell in todo:
                self.indicative[first][hid] = ((price, buy), (price, sell))
                # after the first sweep, anchored to the plan it has (REPLAN_ANCHOR_UEUR_PER_WH)
                last = milp_plans[hid] if sweep else None
                requests.append(self._plan_request(
                    self.homes_by_id[hid], first, *forecasts[hid], day, *starts[hid],
                    appliance_starts=last.appliance_starts if last else None, keep=last))
            for (hid, _, _), planned in zip(todo, self._planned(requests, "local offers"),
                                            strict=True):
                plans[hid], milp_plans[hid] = planned
            return [plans[hid].firm_wh for hid, _, _ in todo]

        orders = [[ids[i] for i in self.rng.permutation(len(ids))] for _ in range(SWEEPS)]
        coordinate({hid: plans[hid].firm_wh.astype(float) for hid in ids}, rest, replan,
                   orders, block=LOCAL_OFFER_BLOCK)

    def _expected_end_soc(self, index: int, hid: str) -> float:
        """Where MILP home ``hid``'s battery will end day ``index``, which is being delivered:
        its real SoC now, moved as the rest of its plan moves it (Wh) — but not from above its
        planned SoC now, since what it holds above the plan absorbs the rest of the day's
        forecast error (node.control.track_plan) and is spent by its end."""
        day = self.pending[index]
        mp = day["milp"][hid]
        done = day["delivery"]["done"] if "delivery" in day else 0
        if not done:
            return float(mp.soc_wh[-1])
        capacity = self.homes_by_id[hid].battery.capacity_wh
        now = min(self.soc[hid], float(mp.soc_wh[done - 1]))
        return float(np.clip(now + mp.soc_wh[-1] - mp.soc_wh[done - 1], 0, capacity))

    def _allot_morning(self, first, day, prognosis, plans, milp_plans, forecasts, starts,
                       allotted: list[FlexPurchase]):
        """Keep tonight's EV top-ups left to tomorrow morning within the morning's room.

        Tomorrow's plans see only tomorrow: if the energy the EVs leave to 00:00–07:00 is more
        than the morning can take under the target (today's morning flow without today's
        top-ups and battery discharges, as its forecast), the DSO buys the difference back,
        cheapest first (dso/allotment.py): each carrier quotes what charging as much as it
        can tonight instead costs it (its plan with the least carry its window allows); each
        home taken re-plans with its cap and is paid its extra cost (appended to
        ``allotted``). With AC congestion points each feeder cable's morning is checked over
        its own homes too. Returns the new prognosis.
        """
        sc = self.sc
        carriers = {hid: mp.ev_carry_wh / self.homes_by_id[hid].ev.efficiency
                    for hid, mp in milp_plans.items() if mp.ev_carry_wh > 0.5}
        if not carriers:
            return prognosis
        until = max(self.homes_by_id[hid].ev.stays_until for hid in carriers)
        needs: list[tuple[list[str], float]] = []  # per point: its carriers, the kWh over
        # the feeder cables first: a cut there helps the transformer too, not the other way
        for zone, limit in reversed(self.model.lossless_limits()):
            target = limit * (1 - sc.flex_margin)
            inside = self.homes_below[zone]
            flow = sum((plans[hid].net_wh for hid in inside), np.zeros(SLOTS_PER_DAY))
            # the morning's own load is today's, without the EV top-ups and without the
            # batteries' discharges: tonight's re-plans and forecast errors decide what they
            # hold at midnight
            movable = sum((milp_plans[hid].ev_wh[:until] + milp_plans[hid].battery_wh[:until]
                           for hid in inside if hid in milp_plans), np.zeros(until))
            room = float(np.maximum(target - (flow[:until] - movable), 0).sum())
            mine = sorted(hid for hid in inside if hid in carriers)
            total = sum(carriers[hid] for hid in mine)
            if total > room:
                needs.append((mine, total - room))
        if not needs:
            return prognosis
        before = {hid: (plans[hid], milp_plans[hid]) for hid in carriers}
        quotes: dict[str, tuple[Plan, MilpPlan, float, float]] = {}  # plan, moved, € per Wh
        asked = sorted({hid for mine, _ in needs for hid in mine})
        requests = []  # each carrier's plan with the least carry its window allows
        for hid in asked:
            h = self.homes_by_id[hid]
            ev = h.ev
            tonight = ev.efficiency * ev.charger_w / 4 * (SLOTS_PER_DAY - ev.arrival)
            requests.append(self._plan_request(
                h, first, *forecasts[hid], day, *starts[hid],
                carry_cap={hid: max(float(ev.energy_wh) - tonight, 0.0)}))
        for hid, (plan, mp) in zip(asked, self._planned(requests, stage="allotment"),
                                   strict=True):
            h = self.homes_by_id[hid]
            moved = before[hid][1].ev_carry_wh - mp.ev_carry_wh  # EV side (Wh)
            extra = self._plan_cost(h, mp, first) - self._plan_cost(h, before[hid][1], first)
            if moved > 0.5:
                quotes[hid] = (plan, mp, moved, max(extra, 0.0) / moved)
        cut = cheapest_cuts(needs, {hid: q[2:] for hid, q in quotes.items()},
                            {hid: self.homes_by_id[hid].ev.efficiency for hid in carriers})
        for hid in sorted(cut):
            self.carry_cap[hid] = before[hid][1].ev_carry_wh - cut[hid]
        partial = [hid for hid in sorted(cut) if cut[hid] < quotes[hid][2] - 0.5]
        replanned = dict(zip(partial, self._planned(  # the last ones taken, in part
            (self._plan_request(self.homes_by_id[hid], first, *forecasts[hid], day,
                                *starts[hid]) for hid in partial), stage="allotment"),
            strict=True))
        for hid in sorted(cut):
            h, old = self.homes_by_id[hid], before[hid][1]
            plan, mp = replanned.get(hid, quotes[hid][:2])
            plans[hid], milp_plans[hid] = plan, mp
            # a FlexOrder like any other: the DSO pays the home what the cap costs it
            extra = self._plan_cost(h, mp, first) - self._plan_cost(h, old, first)
            relief = round(old.ev_carry_wh - mp.ev_carry_wh)
            if relief > 0:
                allotted.append(FlexPurchase(hid, plan.net_wh, relief, max(round(extra), 0)))
        return sc.grid.transformer_flow_wh({k: p.net_wh for k, p in plans.items()})

    def _buy_flexibility(self, first, day, prognosis, plans, milp_plans, forecasts, starts):
        """USEF flexibility trading, day ahead: the DSO's requests, the homes' offers from
        their MILP re-planned within their room, the DSO's orders (see dso/flex.py). Ordered
        homes take their new plans."""
        sc = self.sc
        offered: dict[str, tuple[Plan, MilpPlan]] = {}

        def replan(hid: str, import_room: np.ndarray, export_room: np.ndarray):
            h = self.homes_by_id[hid]
            # energy beyond the room costs more where the street is further over: the home
            # leaves the worst slots first and never piles into one
            excess = np.maximum(np.maximum(-import_room, -export_room), 0)
            penalty = sc.flex_value_ueur_per_kwh * (1 + excess / self.limit_wh)
            offered[hid] = self._milp_plan(
                h, first, *forecasts[hid], day, *starts[hid], import_limit=import_room,
                export_limit=export_room, limit_penalty=penalty, stage="flexibility offers")
            extra = (self._plan_cost(h, offered[hid][1], first)
                     - self._plan_cost(h, milp_plans[hid], first))
            return offered[hid][0].net_wh, round(extra)

        flex = procure(prognosis, {k: plans[k].net_wh for k in sorted(milp_plans)},
                       self.limit_wh, replan, margin=sc.flex_margin,
                       max_price=sc.flex_value_ueur_per_kwh)
        for order in flex.orders:
            plans[order.home], milp_plans[order.home] = offered[order.home]
        return flex

    def _carry_price(self, h, first: int) -> int | None:
        """Tomorrow morning's cheapest retail (µ€/kWh), at which an overnight EV's energy left
        to the morning is bought; None for a home without one."""
        if h.ev is None or not h.ev.stays_until:
            return None
        return cheapest_retail(self.sc.tariff, first + SLOTS_PER_DAY, h.ev.stays_until)

    def _plan_cost(self, h, mp: MilpPlan, first: int) -> float:
        """A planned day's cost (µ€) at the supply contract, with the EV energy it leaves to
        tomorrow morning at the morning's price."""
        carry = self._carry_price(h, first)
        later = 0.0 if carry is None else mp.ev_carry_wh / h.ev.efficiency * carry / 1000
        return plan_cost_ueur(mp, self.sc.tariff, first) + later

    def _milp_plan(self, *args, stage: str = "other", **kwargs) -> tuple[Plan, MilpPlan]:
        """One flexible home's plan now (see ``_plan_request``) for ``stage`` (counted by it);
        PlanInfeasible if none."""
        outcome, = self._milp_plans([self._plan_request(*args, **kwargs)], stage=stage)
        if isinstance(outcome, PlanInfeasible):
            raise outcome
        return outcome

    def _milp_plans(self, requests: list[_PlanRequest], stage: str = "other",
                    current: list[MilpPlan | None] | None = None
                    ) -> list[tuple[Plan, MilpPlan] | PlanInfeasible]:
        """The plans of ``requests``, homes that plan independently of one another, side by
        side on the plan pool; in order, a PlanInfeasible where a home has none.
        ``stage``: what they are planned for (``RunResult.planning_stages``; the no-market
        counterfactual's start with ``sim.plan_pool.COUNTERFACTUAL``). ``current``: per
        request, the plan the home has, if any: where the request would find it optimal
        again (node.standing.plan_stands) it stands, unsolved (``RunResult.plans_stood``)."""
        current = current or [None] * len(requests)
        stand = [mp is not None and plan_stands(mp, *r.call)
                 for r, mp in zip(requests, current, strict=True)]
        self.result.plans_stood += sum(stand)
        solved = iter(self.planner.map(
            [r.call for r, stood in zip(requests, stand, strict=True) if not stood], stage))
        outcomes = [mp if stood else next(solved)
                    for mp, stood in zip(current, stand, strict=True)]
        return [outcome if isinstance(outcome, PlanInfeasible) else (r.plan(outcome), outcome)
                for r, outcome in zip(requests, outcomes, strict=True)]

    def _planned(self, requests, stage: str = "other",
                 current: list[MilpPlan | None] | None = None) -> list[tuple[Plan, MilpPlan]]:
        """``_milp_plans`` of homes that must each have a plan: PlanInfeasible if one has not."""
        outcomes = self._milp_plans(list(requests), stage, current)
        for outcome in outcomes:
            if isinstance(outcome, PlanInfeasible):
                raise outcome
        return outcomes

    def _plan_request(self, h, first: int, load_fc, pv_fc, spread, day: int, soc: float,
                      indoor: float | None, ev_owed: int = 0,
                      import_fee: np.ndarray | None = None,
                      export_fee: np.ndarray | None = None,
                      import_limit: np.ndarray | None = None,
                      export_limit: np.ndarray | None = None,
                      limit_penalty: np.ndarray | float = 0.0, keep: MilpPlan | None = None,
                      keep_until: int = 0, carry_cap: dict[str, float] | None = None,
                      local: bool = True, appliance_starts: dict[str, int] | None = None,
                      end_soc_min: float | None = None) -> _PlanRequest:
        """The request for a flexible home's day from the MILP planner (``_milp_plans`` makes
        it), at its supply-contract prices plus the DSO's posted congestion fees (public
        data), within the room the DSO allots it if any.
        ``keep``/``keep_until``: re-planned during the day, the slots before stay as planned.
        ``local``: with the exchange's local offers, if it published any. The appliances start
        at ``appliance_starts`` if given (node.milp.plan_home). ``end_soc_min``: the SoC
        (Wh) the battery must end the day with at least."""
        tariff = self.sc.tariff
        buy = np.array([tariff.retail(first + t) for t in range(SLOTS_PER_DAY)], float)
        sell = np.array([tariff.feed_in_price(first + t) for t in range(SLOTS_PER_DAY)], float)
        if import_fee is not None:
            buy = buy + import_fee
        if export_fee is not None:
            sell = sell - export_fee
        carry_price = self._carry_price(h, first)
        priced = self.sc.strategy != "local"  # a quoting strategy bids within marginal values
        assets = HomeAssets(battery=h.battery, ev=h.ev, heat_pump=h.heat_pump,
                            appliances=h.appliances, ev_owed_wh=ev_owed,
                            ev_carry_price=carry_price,
                            ev_carry_max_wh=(self.carry_cap if carry_cap is None
                                             else carry_cap).get(h.home_id),
                            battery_end_min_wh=end_soc_min)
        local_import, local_export = (self.indicative.get(first, {}).get(h.home_id, (None, None))
                                      if local else (None, None))
        kwargs = dict(
            soc_wh=soc, peak_price_per_kw=tariff.capacity_per_kw_day,
            peak_floor_wh=tariff.capacity_min_peak_wh,
            outdoor_c=outdoor_temperature_c(day), indoor_c=indoor,
            import_limit_wh=import_limit, export_limit_wh=export_limit,
            limit_penalty=limit_penalty, keep=keep, keep_until=keep_until,
            local_import=local_import, local_export=local_export,
            appliance_starts=appliance_starts,
            anchor_ueur_per_wh=REPLAN_ANCHOR_UEUR_PER_WH if keep is not None else 0.0,
            marginal_values=priced)
        return _PlanRequest(first, load_fc, pv_fc, spread, h.heat_pump is not None,
                            h.battery is not None, priced,
                            ((load_fc, pv_fc, assets, buy, sell), kwargs))

    def _open(self, index: int) -> None:
        """Opening orders for all slots of the day, homes in a seeded random order."""
        day = self.pending[index]
        homes = self.sc.homes
        for j in self.rng.permutation(len(homes)):
            hid = homes[j].home_id
            plan = day["plans"][hid]
            values = (None if plan.marginal_value is None
                      else [plan.value(i) for i in range(SLOTS_PER_DAY)])
            for env in self.bidders[hid].opening_orders(day["first"], plan.firm_wh.tolist(),
                                                        day["local_price"], values):
                self._send(env, self.clock.now)
        # The operator locks on chain what open bids and unsettled purchases commit.
        ex = self.exchange.exchange
        self.chain.client.set_commitments(self.chain.operator, {
            self.addresses[h.home_id]: ex.exposure(h.home_id) for h in homes})
        self.progress("open", index, self.sc.days)

    def _gate(self, index: int, i: int) -> None:
        """One minute before slot i's gate: every home re-quotes what is left of its position
        at the midpoint, then every home sends what is still left at its reservation price."""
        day = self.pending[index]
        homes = self.sc.homes
        fee = self.exchange.exchange.fee
        for j in self.rng.permutation(len(homes)):
            hid = homes[j].home_id
            plan = day["plans"][hid]
            price = None if day["local_price"] is None else day["local_price"][i]
            for env in self.bidders[hid].requote(day["first"] + i, int(plan.firm_wh[i]), price,
                                                 self.last_trade.get(day["first"] + i),
                                                 plan.value(i)):
                self._send(env, self.clock.now)
        for j in self.rng.permutation(len(homes)):
            hid = homes[j].home_id
            plan = day["plans"][hid]
            for env in self.bidders[hid].gate_orders(day["first"] + i, int(plan.firm_wh[i]), fee,
                                                     plan.value(i)):
                self._send(env, self.clock.now)

    def _start_delivery(self, index: int) -> dict:
        """The day's delivery state: what every home's meter sees, slot by slot (Wh)."""
        sc, day = self.sc, self.pending[index]
        ids = [h.home_id for h in sc.homes]

        def zeros():
            return {hid: np.zeros(SLOTS_PER_DAY, np.int64) for hid in ids}

        ev_homes = [hid for hid in ids if hid in day["milp"] and self.homes_by_id[hid].ev]
        phase = None
        if sc.dso_operates:  # operate: the DSO activates flexibility slot by slot
            evs = {hid: self.homes_by_id[hid].ev for hid in ev_homes}
            feeders = []  # AC points: each feeder cable, by its homes' lossless sum
            for zone, limit in self.model.lossless_limits()[1:]:
                homes = frozenset(self.homes_below[zone])
                feeders.append(FeederPoint(
                    homes, sum((day["plans"][hid].net_wh for hid in homes),
                               np.zeros(SLOTS_PER_DAY, np.int64)),
                    limit, int(limit * (1 - sc.flex_margin))))
            phase = OperatePhase(
                {hid: np.rint(day["milp"][hid].ev_wh).astype(np.int64) for hid in ev_homes},
                {hid: ChargingWindow(ev.arrival, ev.departure, ev.charger_w // 4,
                                     ev.stays_until) for hid, ev in evs.items()},
                day["prognosis"], self.limit_wh,
                restore_below_wh=int(self.limit_wh * (1 - sc.flex_margin)),
                feeders=tuple(feeders))
        day["delivery"] = {
            "net": zeros(), "unactivated": zeros(), "consumption": zeros(),
            "own": {hid: np.zeros(SLOTS_PER_DAY, np.int64) for hid in day["own"]},
            "pv_used": {hid: np.zeros(SLOTS_PER_DAY, np.int64) for hid in ids
                        if hid in day["milp"] or self.homes_by_id[hid].pv_kwp > 0},
            "ev": {hid: np.zeros(SLOTS_PER_DAY, np.int64) for hid in ev_homes},
            "phase": phase,
            # MILP homes' batteries as delivered, and their real SoC at the day's start (Wh)
            "battery": {hid: np.zeros(SLOTS_PER_DAY, np.int64) for hid in day["milp"]},
            "own_battery": {hid: np.zeros(SLOTS_PER_DAY, np.int64) for hid in day["own"]},
            "done": 0,  # slots delivered so far
            "soc0": {hid: self.soc[hid] for hid in day["milp"]},
        }
        for hid in day["own"]:  # the no-market counterfactual starts each day where we are
            self.own_soc[hid] = self.soc[hid]
        return day["delivery"]

    def _home_slot(self, index: int, hid: str, k: int, own: bool = False, shadow: bool = False
                   ) -> tuple[int, int, int, int]:
        """Home ``hid`` in slot index ``k`` as its plan runs it against its real load and PV:
        (net import, consumption, PV used, EV charging), Wh, before any DSO activation.
        ``own``: as its own optimisation at its supply contract would have run it instead;
        ``shadow``: with the battery the DSO ran today as it would have been without it."""
        day = self.pending[index]
        h = self.homes_by_id[hid]
        load, pv = (int(v[k]) for v in day["actual"][hid])
        mp = (day["own"] if own else day["milp"]).get(hid)
        if mp is None:
            base = load - pv
            bat = 0
            if h.battery is not None:
                out, self.soc[hid] = self_consumption(np.array([base]), h.battery, self.soc[hid])
                bat = int(out[0])
            return base + bat, load, pv, 0
        # the planned schedules run; load and PV are what they are
        used = pv
        if mp.pv_used_wh[k] < day["plans"][hid].pv_wh[k] - 0.5:  # planned curtailment
            used = min(pv, int(np.rint(mp.pv_used_wh[k])))
        assets = int(np.rint(mp.ev_wh[k] + mp.heat_pump_wh[k] + mp.appliance_wh[k]))
        bat = 0
        if h.battery is not None:  # the battery holds the planned net against forecast error
            soc = self.own_soc if own else self.shadow_soc if shadow else self.soc
            floor = mp.soc_wh[k] - SOC_TOLERANCE * h.battery.capacity_wh
            cap, lendable = None, 0.0
            if self.sc.tariff.capacity_per_kw_day:  # the peak guard: the day's billed peak
                billed = day["delivery"]["own" if own else "unactivated"][hid][:k]
                cap = max(mp.peak_wh, float(billed.max()) if k else 0.0)
                lendable = lendable_wh(mp.battery_wh[k + 1:], mp.net_wh[k + 1:], cap)
            bat, soc[hid] = track_plan(int(np.rint(mp.net_wh[k])), load + assets - used,
                                       h.battery, soc[hid], floor, float(mp.battery_wh[k]),
                                       import_cap_wh=cap, guard_floor_wh=floor - lendable
                                       / h.battery.one_way_efficiency,
                                       ceiling_wh=mp.soc_wh[k] + SOC_TOLERANCE
                                       * h.battery.capacity_wh,
                                       export_cap_wh=self._worthless_export_cap(
                                           hid, day["first"] + k, own))
            if not shadow:
                day["delivery"]["own_battery" if own else "battery"][hid][k] = bat
        cap = None if own else day["export_caps"].get(hid)
        if cap is not None:  # a flex order's export cap: curtail what would exceed it
            beyond = max(-(load + assets + bat - used) - cap[k], 0)
            used -= int(min(beyond, used))
        return load + assets + bat - used, load + assets, used, int(np.rint(mp.ev_wh[k]))

    def _worthless_export_cap(self, hid: str, slot: int, own: bool) -> int | None:
        """Where home ``hid``'s export beyond its trades earns nothing in ``slot`` (the DSO's
        export price takes the whole feed-in price), the export it sold there (Wh; none in the
        no-market counterfactual, ``own``): its battery discharges no further
        (``track_plan``'s ``export_cap_wh``); elsewhere None."""
        if self.sc.tariff.feed_in_price(slot) > self._supply_fee(hid, slot, "export"):
            return None
        return 0 if own else max(-self.bidders[hid].filled_wh.get(slot, 0), 0)

    def _deliver_slot(self, index: int, k: int) -> None:
        """Slot index ``k`` of day ``index`` has just ended: its physics, the DSO's operate
        phase, the meters' signed readings, sent by each gateway and verified on arrival."""
        sc, now = self.sc, self.clock.now
        day = self.pending[index]
        dv = day.get("delivery") or self._start_delivery(index)
        first, phase = day["first"], dv["phase"]
        nets: dict[str, int] = {}
        soc_before = {hid: self.soc[hid] for hid in day["milp"]  # the batteries' SoC before it
                      if self.homes_by_id[hid].battery is not None}
        # the batteries the DSO may run this slot, at their SoC before it
        soc_start = soc_before if phase is not None and sc.dso_runs_batteries else {}
        for h in sc.homes:
            hid = h.home_id
            net, cons, used, ev = self._home_slot(index, hid, k)
            if hid in day["own"]:  # the no-market counterfactual, for bills
                dv["own"][hid][k] = self._home_slot(index, hid, k, own=True)[0]
            # the net without the DSO: where it ran the battery, as the battery would have run
            dv["unactivated"][hid][k] = (self._home_slot(index, hid, k, shadow=True)[0]
                                         if hid in self.shadow_soc else net)
            if phase is not None:  # EV charging deferred into this slot earlier
                shift = phase.shift_wh(hid, k)
                net, cons, ev = net + shift, cons + shift, ev + shift
            nets[hid], dv["consumption"][hid][k] = net, cons
            if hid in dv["pv_used"]:
                dv["pv_used"][hid][k] = used
            if hid in dv["ev"]:
                dv["ev"][hid][k] = ev
        if self.balancing:
            self._balance(index, k, nets, soc_before, dv)
        if phase is not None:
            batteries = {hid: self._battery_slot(hid, soc, int(dv["battery"][hid][k]))
                         for hid, soc in soc_start.items()}
            change = phase.step(k, nets, {hid: int(v[k]) for hid, v in dv["pv_used"].items()},
                                batteries)
            for hid, delta in change.net_wh.items():
                nets[hid] += delta
            for hid, delta in change.ev_wh.items():  # EV charging deferred or brought forward
                dv["consumption"][hid][k] += delta
                dv["ev"][hid][k] += delta
            for hid, delta in change.battery_wh.items():  # the DSO ran the battery
                b = batteries[hid]
                energy = b.energy_wh + delta
                self.shadow_soc.setdefault(hid, self.soc[hid])  # where it would be without
                self.soc[hid] = min(max(b.soc_wh + b.stored(energy), 0.0), float(b.capacity_wh))
                dv["battery"][hid][k] = energy
        for hid in [h for h, soc in self.shadow_soc.items() if soc - self.soc[h] <= 1.0]:
            del self.shadow_soc[hid]  # restored: the battery is as it would have been
        dv["done"] = k + 1
        readings: list[SignedReading] = []
        for h in sc.homes:
            hid = h.home_id
            net = dv["net"][hid][k] = nets[hid]
            meter, builder, oracle = self.meters[hid], self.builders[hid], self.oracles[hid]
            imp, exp = (net, 0) if net > 0 else (0, -net)
            for sample in meter.run_slot(first + k, imp, exp):
                readings += [oracle.sign(iv) for iv in builder.add(sample)]
            readings += [oracle.sign(iv) for iv in builder.add(
                meter.sample_now(slot_start(first + k + 1)))]
        # Each gateway sends its outbox: this slot's reading and any not yet acknowledged.
        outbox = self.unacknowledged + readings
        delivered = outbox if self.reading_tap is None else self.reading_tap(index, outbox)
        for r in delivered:
            self.verifier.submit(r, now)
        self.unacknowledged = [r for r in outbox if not self.verifier.acknowledged(r)]
        self.result.readings.extend(readings)
        accepted = self.verifier.accepted_envelopes
        if day["intraday"] is not None:
            for env in accepted[self.priced_readings:]:
                for _, pricer in day["intraday"]:
                    pricer.add(env.message)
            self._reprice(index)
        self.priced_readings = len(accepted)
        if sc.replan_every:
            self._replan_turn(index, k)

    def _balance(self, index: int, k: int, nets: dict[str, int], soc_before: dict[str, float],
                 dv: dict) -> None:
        """Community balancing (node/balancing.py) in slot index ``k``: the MILP homes'
        batteries answer the street's metered net — charging more from its surplus; discharging
        into its demand where no later slot of the day costs more at retail (stored energy is
        spent where it saves the most), below the plan's SoC only while the published local
        prices still expect a surplus later in the day — each within what its own slot left
        it, and, with a capacity tariff, charging no higher than the import the day already
        bills. Where the DSO prices export in a later slot, a battery's room is worth more
        there (surplus the grid cannot take) than for a surplus it could: the batteries then
        take only what this slot exports beyond the transformer's rating. Changes ``nets``,
        the delivered battery energies and the real SoCs in place."""
        day, tariff = self.pending[index], self.sc.tariff
        first = day["first"]
        price = day["local_price"]  # published: where the street expects a surplus
        street = sum(nets.values())  # each rule's data only where its direction needs it
        priced_later = street < 0 and any(t > k for t in self._export_congested(day))
        export_later = priced_later or (street < 0 and any(
            t > k for t in day["storage_needed"]))
        batteries = {}
        for hid, soc in soc_before.items():
            if self._held(dv["phase"], hid):
                continue
            mp, cap = day["milp"][hid], None
            if tariff.capacity_per_kw_day:  # not above the peak the day already bills
                billed = dv["unactivated"][hid][:k]
                cap = int(max(mp.peak_wh, float(billed.max()) if k else 0.0)) - nets[hid]
            batteries[hid] = BalancingBattery(
                self.homes_by_id[hid].battery, soc, int(dv["battery"][hid][k]),
                float(mp.soc_wh[k]), cap,
                # where the DSO prices the later export, the home's own room is kept: its own
                # PV there would go out at the capped price (node.balancing.kept_room_wh)
                float(mp.soc_wh[k:].max()) if priced_later else None)
        change = answer_street(
            street, batteries,
            spend_now=street > 0 and tariff.retail(first + k) >= max(
                tariff.retail(first + t) for t in range(k, SLOTS_PER_DAY)),
            surplus_ahead=street > 0 and price is not None and any(
                price[t] < (tariff.retail(first + t) + tariff.feed_in_price(first + t)) // 2
                for t in range(k + 1, SLOTS_PER_DAY)),
            export_rating_wh=self.limit_wh if export_later else None)
        for hid, x in change.items():
            e = int(dv["battery"][hid][k]) + x
            self.soc[hid] = stored_after(self.homes_by_id[hid].battery, soc_before[hid], e)
            dv["battery"][hid][k] = e
            nets[hid] += x
            dv["unactivated"][hid][k] += x

    def _storage_needed(self, prognosis, milp_plans: dict) -> set[int]:
        """The day's slots (index) where the A-plans need their batteries' charging to keep
        the street's export within the rating (node.balancing.storage_needed_slots)."""
        charging = np.zeros(SLOTS_PER_DAY)
        for mp in milp_plans.values():
            if mp.battery_wh is not None:
                charging += np.maximum(mp.battery_wh, 0.0)
        return storage_needed_slots(prognosis, charging, self.limit_wh)

    @staticmethod
    def _export_congested(day: dict) -> set[int]:
        """The day's slots (index) whose export the DSO prices in its latest posting."""
        latest: dict[tuple[str, int], tuple[int, int]] = {}
        for env in day["postings"]:
            m = env.message
            if m.direction == "export":
                key = (m.point, m.slot)
                if key not in latest or m.version >= latest[key][0]:
                    latest[key] = (m.version, m.price)
        return {slot - day["first"] for (_, slot), (_, price) in latest.items() if price > 0}

    def _realised_pool_price(self, slot: int, short_wh: int) -> int:
        """The community pool's price (µ€/kWh) by the direction ``slot`` really had: near
        retail where the street's deviations left it short (``short_wh`` > 0), near feed-in
        where they left it long (market.indicative.local_price's rule, on what was metered)."""
        tariff = self.sc.tariff
        return int(local_price(np.array([short_wh]), np.array([tariff.retail(slot)]),
                               np.array([tariff.feed_in_price(slot)]))[0])

    def _held(self, phase: OperatePhase | None, hid: str) -> bool:
        """Whether the DSO runs part of the home's schedule: its EV today, or its battery
        until it has restored what it took."""
        return hid in self.shadow_soc or (phase is not None and phase.holds(hid))

    def _battery_slot(self, hid: str, soc_start_wh: float, energy_wh: int) -> BatterySlot:
        """Home ``hid``'s battery in the slot being metered, for the DSO's operate phase."""
        b = self.homes_by_id[hid].battery
        owed = self.shadow_soc[hid] - self.soc[hid] if hid in self.shadow_soc else 0.0
        return BatterySlot(b.capacity_wh, b.max_slot_wh, b.one_way_efficiency, soc_start_wh,
                           energy_wh, owed)

    def _replan_turn(self, index: int, k: int) -> None:
        """Every ``replan_every`` slots every MILP home revises its forecast of the rest of the
        day from its own meter (node.forecast.intraday_update) and re-plans from its real
        state, at the prices in force, where the revision or its battery gives it something
        to answer (``_forecast_moved``, ``_battery_off_plan``); all in the same slot, side by
        side on the plan pool (in turn, a sixteenth of them after each slot, a round of 8–11
        plans was too small to share between workers), as the centralised comparator of
        benchmarks/welfare.py re-plans. Homes whose schedule the DSO has bought or activated
        keep it."""
        sc, day = self.sc, self.pending[index]
        keep_until = slot_of(self.clock.now + sc.gate_closure_s) + 1 - day["first"]
        if (k + 1) % sc.replan_every or keep_until >= SLOTS_PER_DAY:
            return
        phase = day["delivery"]["phase"]
        ordered = {o.home for o in day["flex_orders"]}
        fees = self._prices_in_force(day)
        replans = []
        for hid in sorted(day["milp"]):
            if hid in ordered or self._held(phase, hid):
                continue
            load_fc, pv_fc, spread = day["forecasts"][hid]
            load, pv = day["actual"][hid]  # what its own meter has seen up to now
            forecasts = (intraday_update(load_fc, load, k + 1),
                         intraday_update(pv_fc, pv, k + 1, scale=True), spread)
            revised = self._forecast_moved(day["plans"][hid], forecasts, keep_until)
            home_fees = self.model.home_fees(self.homes_by_id[hid].zone, *fees)
            if revised or self._battery_off_plan(day, hid, k + 1):
                replans.append(_Replan(hid, forecasts, keep_until, k + 1, *home_fees))
            if (day["own"] is not day["milp"] and hid in day["own"]
                    and (revised or self._battery_off_plan(day, hid, k + 1, own=True))):
                # the no-market counterfactual revises its plan alike, without local offers
                replans.append(_Replan(hid, forecasts, keep_until, k + 1, *home_fees, own=True))
        self._replan_homes(day, replans, "periodic re-plans")

    @staticmethod
    def _forecast_moved(plan: Plan, forecasts: tuple, keep_until: int) -> bool:
        """Whether the revised ``forecasts`` (load, PV, spread) move the net the home's plan
        expects over the next ``REPLAN_LOOKAHEAD`` slots from ``keep_until`` by
        ``REPLAN_FORECAST_WH`` or more (Wh, summed)."""
        ahead = slice(keep_until, keep_until + REPLAN_LOOKAHEAD)
        load, pv = forecasts[0][ahead], forecasts[1][ahead]
        moved = np.abs((load - pv) - (plan.load_wh[ahead] - plan.pv_wh[ahead])).sum()
        return bool(moved >= REPLAN_FORECAST_WH)

    def _battery_off_plan(self, day: dict, hid: str, delivered: int, own: bool = False
                          ) -> bool:
        """Whether home ``hid``'s battery (``own``: in its no-market counterfactual) has run
        ``REPLAN_BATTERY_WH`` or more (Wh) from its plan over the ``delivered`` slots."""
        if self.homes_by_id[hid].battery is None:
            return False
        ran = day["delivery"]["own_battery" if own else "battery"][hid][:delivered]
        planned = (day["own"] if own else day["milp"])[hid].battery_wh[:delivered]
        return bool(abs(float(ran.sum()) - float(planned.sum())) >= REPLAN_BATTERY_WH)

    def _prices_in_force(self, day: dict) -> tuple[np.ndarray, np.ndarray]:
        """The DSO's import and export prices for the day's slots (µ€/kWh): per slot of the
        transformer, or per point and slot; each point's intraday prices where it has them."""
        imp, exp = day["fees"]
        if day["intraday"] is None:
            return imp, exp
        if np.ndim(imp) == 1:
            (_, pricer), = day["intraday"]
            return pricer.fees("import"), pricer.fees("export")
        imp, exp = imp.copy(), exp.copy()
        for k, (_, pricer) in enumerate(day["intraday"]):
            imp[k], exp[k] = pricer.fees("import"), pricer.fees("export")
        return imp, exp

    def _replan_homes(self, day: dict, replans: list[_Replan], stage: str) -> list[bool]:
        """Re-plan MILP homes during the day, side by side (the homes' own re-plans, then their
        no-market counterfactuals'), then take their updates in order (``_take_replan``). Per
        re-plan, whether it was taken. ``stage``: what they re-plan for (counted by it)."""
        taken = {}
        for counterfactual in (False, True):
            batch = [r for r in replans if r.own == counterfactual]
            outcomes = self._milp_plans(
                [self._replan_request(day, r) for r in batch],
                f"{COUNTERFACTUAL} {stage}" if counterfactual else stage,
                [(day["own"] if r.own else day["milp"])[r.home] for r in batch])
            taken.update({id(r): self._take_replan(day, r, outcome)
                          for r, outcome in zip(batch, outcomes, strict=True)})
        return [taken[id(r)] for r in replans]

    def _replan_request(self, day: dict, r: _Replan) -> _PlanRequest:
        """The plan request of re-plan ``r`` (see ``_Replan``)."""
        hid, forecasts, keep_until, own = r.home, r.forecasts, r.keep_until, r.own
        keep, start = self._as_delivered(day, hid, r.delivered, own)
        # the kept slots' PV stays what their plan expected: PV used below it is curtailment
        # (delivery caps the PV there), so a kept schedule set against the revised forecast
        # would curtail every Wh the revision adds (measured: 14.8 kWh on 2030-green-high)
        load_fc, pv_fc, spread = forecasts
        pv_fc = np.concatenate([day["plans"][hid].pv_wh[:keep_until], pv_fc[keep_until:]])
        forecasts = (load_fc, pv_fc, spread)
        # once tomorrow is planned, its morning charges what tonight was to leave it: tonight
        # may leave less (the EV then has more), never more
        carry_cap = dict(day["carry_cap"])
        tomorrow = next((d for d in self.pending.values()
                         if d["first"] == day["first"] + SLOTS_PER_DAY), None)
        end_soc = None
        if tomorrow is not None and hid in tomorrow["starts"]:
            carry_cap[hid] = min(carry_cap.get(hid, np.inf), tomorrow["starts"][hid][2])
            # and the battery ends tonight where tomorrow's plan starts it, as far as it can
            battery = self.homes_by_id[hid].battery
            if battery is not None:
                end_soc = reachable_soc(battery, keep.battery_wh[:keep_until], start[0],
                                        SLOTS_PER_DAY - keep_until, tomorrow["starts"][hid][0])
        return self._plan_request(
            self.homes_by_id[hid], day["first"], *forecasts, day["day"], *start,
            import_fee=r.import_fee, export_fee=r.export_fee, keep=keep, keep_until=keep_until,
            carry_cap=carry_cap, end_soc_min=end_soc, local=not own,
            # at the local offers the appliances keep their planned starts: the search over
            # starts under the offers' volume caps is slow (node.milp.plan_home); the no-market
            # counterfactual re-plans by the same rule, around its own starts (re-searching
            # them gave the baseline a freedom the home's agent does not have, and made its
            # re-plans MIPs: 5.9 s of a 2030-green-high day's 25.8 s of planning)
            appliance_starts=(day["own"] if own else day["milp"])[hid].appliance_starts)

    def _take_replan(self, day: dict, r: _Replan,
                     outcome: tuple[Plan, MilpPlan] | PlanInfeasible) -> bool:
        """Take re-plan ``r``'s outcome into the day. False where the home has no plan or the
        DSO refuses it: the old one stands."""
        if isinstance(outcome, PlanInfeasible):
            return False
        hid, keep_until = r.home, r.keep_until
        plan, mp = outcome
        # the DSO validates the updated A-plan: one that would take the street's prognosis
        # over its target where it was not is refused, and the home keeps its plan; the
        # no-market counterfactual's alike (the DSO is there without the market), against
        # the same street
        before = day["own"][hid].net_wh if r.own else day["plans"][hid].net_wh
        change = np.rint(mp.net_wh - before) if r.own else plan.net_wh - before
        flow = day["flow"] + change
        target = self.limit_wh * (1 - self.sc.flex_margin)
        if (keep_until < SLOTS_PER_DAY
                and ((np.abs(flow) > target) & (np.abs(flow) > np.abs(day["flow"])))[
                    keep_until:].any()):
            return False
        if r.own:
            day["own"][hid] = mp
            return True
        day["flow"] = flow
        day["plans"][hid], day["milp"][hid] = plan, mp
        day["replans"] += 1
        phase = day["delivery"]["phase"]
        if phase is not None:
            phase.replan(hid, np.rint(mp.ev_wh), keep_until)
        return True

    def _reprice(self, index: int) -> None:
        """Operate-phase prices: the DSO re-posts the later slots' prices from the readings so
        far (dso/intraday.py); every MILP home re-plans the rest of its day at the new prices."""
        sc, now, day = self.sc, self.clock.now, self.pending[index]
        from_slot = slot_of(now + sc.gate_closure_s) + 1  # the first whose gate is still open
        postings = []
        # per point (all homes, or a feeder's): the slots whose prices rose, and any lifted
        changed: list[tuple[str | None, dict[str, list[int]], bool]] = []
        for zone, pricer in day["intraday"]:
            posted = pricer.update(from_slot)
            postings += posted
            if posted:
                raised: dict[str, list[int]] = {"import": [], "export": []}
                for slot, direction, _price in pricer.last_changes:
                    raised[direction].append(slot - day["first"])
                changed.append((zone, raised, any(p == 0 for *_, p in pricer.last_changes)))
        for env in postings:
            self._send(env, now)
        day["intraday_postings"] += postings
        keep_until = from_slot - day["first"]
        if not postings or keep_until >= SLOTS_PER_DAY:
            return
        prices = self._prices_in_force(day)
        phase = day["delivery"]["phase"]
        responders = day.setdefault("responders", set())
        affected = []
        for hid in sorted(day["milp"]):
            if self._held(phase, hid):
                continue  # its EV's or battery's schedule is the DSO's today
            mp = day["milp"][hid]
            zone = self.homes_by_id[hid].zone
            # a home re-plans if a new price at one of its points falls on energy it plans to
            # move that way, or a price it answered before is lifted
            if any((lifted and hid in responders) or (mp.import_wh[raised["import"]] > 0.5).any()
                   or (mp.export_wh[raised["export"]] > 0.5).any()
                   for where, raised, lifted in changed if where in (None, zone)):
                affected.append(hid)
        # homes react at different times: a seeded third of them now, the rest at later
        # postings, so the flexible load does not herd into the next cheapest slot at once
        rng = np.random.default_rng((sc.seed, index, keep_until))
        movers = sorted(affected[i] for i in rng.permutation(len(affected))[
            : -(-len(affected) // sc.intraday_share)])
        delivered = slot_of(now) - day["first"]  # slots before this one are metered
        replans = []
        for hid in movers:
            current = day["plans"][hid]  # with its latest revised forecast, if any
            forecasts = (current.load_wh, current.pv_wh, day["forecasts"][hid][2])
            replans.append(_Replan(hid, forecasts, keep_until, delivered,
                                   *self.model.home_fees(self.homes_by_id[hid].zone, *prices)))
        for hid, taken in zip(movers, self._replan_homes(day, replans, "intraday re-plans"),
                              strict=True):
            if taken:
                responders.add(hid)

    def _as_delivered(self, day: dict, hid: str, delivered: int, own: bool = False
                      ) -> tuple[MilpPlan, tuple]:
        """A MILP home's plan (``own``: its no-market counterfactual's) and day-start state for
        a re-plan during the day: its battery as it really ran in the ``delivered`` slots, from
        its real SoC at the day's start, and as planned after them (clipped to what that SoC
        allows)."""
        mp, start = (day["own"] if own else day["milp"])[hid], day["starts"][hid]
        battery = self.homes_by_id[hid].battery
        if battery is None:
            return mp, start
        dv = day["delivery"]
        ran = dv["own_battery" if own else "battery"][hid]
        schedule = np.concatenate([ran[:delivered], mp.battery_wh[delivered:]])
        soc0 = dv["soc0"][hid]
        return (replace(mp, battery_wh=feasible_schedule(schedule, battery, soc0)),
                (soc0, *start[1:]))

    def _settle(self, index: int) -> None:
        """The day is delivered: its records, and its settlement batch on the ledger."""
        sc = self.sc
        day = self.pending.pop(index)
        self.indicative.pop(day["first"], None)
        self.local_price.pop(day["first"], None)
        dv = day["delivery"]
        first = day["first"]
        actual_net, consumption = dv["net"], dv["consumption"]
        for h in sc.homes:
            mp = day["milp"].get(h.home_id)
            if mp is not None:
                self.ev_owed[h.home_id] = round(mp.ev_carry_wh)
                if h.heat_pump is not None:
                    self.indoor[h.home_id] = float(mp.indoor_c[-1])
            self.history[h.home_id] = [*self.history[h.home_id][1:], day["actual"][h.home_id]]
        phase = dv["phase"]
        # the homes the DSO activated today, and those whose battery it still owes from before
        activated = sorted(set([] if phase is None else phase.activated) | {
            hid for hid in dv["unactivated"]
            if not np.array_equal(dv["unactivated"][hid], actual_net[hid])})
        unactivated = {hid: dv["unactivated"][hid] for hid in activated}
        corrections = {hid: actual_net[hid] - unactivated[hid] for hid in activated}
        flow = sc.grid.transformer_flow_wh(actual_net)
        # AC points: each one's exact flow from what the meters measured (Wh-equivalent)
        point_flow = (None if self.model.flows is None
                      else self.model.point_flows_wh(actual_net))
        metered = np.zeros(SLOTS_PER_DAY, dtype=np.int64)
        for (_, slot), r in self.verifier.accepted.items():
            if first <= slot < first + SLOTS_PER_DAY:
                metered[slot - first] += r.import_wh - r.export_wh
        self.progress("deliver", index, sc.days)

        last = first + SLOTS_PER_DAY - 1
        settlement = build_batch(
            period=first // SLOTS_PER_DAY,
            first_slot=first,
            last_slot=last,
            trades=self.result.trades[self.settled_trades:],
            readings=self.verifier.accepted_envelopes[self.settled_readings:],
            metered_participants=[h.home_id for h in sc.homes],
            tariff=sc.tariff,
            supplier=SUPPLIER,
            journal_hash=self.exchange.journal.head,
            supply_fee=self._supply_fee,
            corrections=corrections,
            dso=DSO,
            pool_price=(None if day["local_price"] is None
                        else lambda slot: day["local_price"][slot - first]),
            pool_price_realised=self._realised_pool_price if self.balancing else None,
        )
        receipts = self.chain.client.settle(
            self.chain.operator, settlement.batch, slot_start(last + 1), self.addresses
        )
        self.settled_through_slot = last
        for order in day["flex_orders"]:  # FlexSettlement: the DSO pays what it ordered
            if order.price_ueur > 0:
                self.chain.client.transfer(self.chain.dso, self.addresses[order.home],
                                           order.price_ueur)
        # Everything up to here is in a batch: the next day looks only at what came after
        # (trades and readings of later slots stay: they are past ``last`` and filtered in).
        self.settled_trades = _first_index_after(self.result.trades, last, lambda t: t.slot)
        self.settled_readings = _first_index_after(self.verifier.accepted_envelopes, last,
                                                   lambda r: r.message.slot)
        self.result.days.append(DayRecord(
            day=first // SLOTS_PER_DAY, first_slot=first, plans=day["plans"],
            actual_net_wh=actual_net,
            actual_load_wh=consumption,
            actual_pv_wh={k: v[1] for k, v in day["actual"].items()},
            prognosis_wh=day["prognosis"], transformer_flow_wh=flow, metered_flow_wh=metered,
            point_flow_wh=point_flow, point_prognosis_wh=self.point_prognosis.pop(first, None),
            posted_prices=[e.message for e in day["postings"]], settlement=settlement,
            intraday_prices=[e.message for e in day["intraday_postings"]],
            intraday_replans=day["replans"],
            battery_wh={hid: v for hid, v in dv["battery"].items()
                        if self.homes_by_id[hid].battery is not None},
            soc_start_wh={hid: v for hid, v in dv["soc0"].items()
                          if self.homes_by_id[hid].battery is not None},
            soc_end_wh={hid: self.shadow_soc.get(hid, self.soc[hid]) for hid in dv["soc0"]
                        if self.homes_by_id[hid].battery is not None},
            own_soc_end_wh={hid: self.own_soc[hid] for hid in day["own"]
                            if self.homes_by_id[hid].battery is not None},
            own_ev_carry_wh={hid: round(mp.ev_carry_wh) for hid, mp in day["own"].items()
                             if hid in dv["ev"]},
            settle_gas=sum(int(r["gasUsed"]) for r in receipts), load_mae_wh=day["load_mae"],
            pv_mae_wh=day["pv_mae"], flex_orders=day["flex_orders"],
            unactivated_net_wh=unactivated,
            correction_wh=corrections,
            own_net_wh=dv["own"],
            activated_wh={hid: phase.deferred_wh.get(hid, 0) + phase.curtailed_wh.get(hid, 0)
                          + phase.discharged_wh.get(hid, 0) + phase.advanced_wh.get(hid, 0)
                          for hid in ([] if phase is None else phase.activated)},
            battery_owed_wh={hid: soc - self.soc[hid] for hid, soc in self.shadow_soc.items()},
            battery_discharged_wh={} if phase is None else dict(phase.discharged_wh),
            allotment_ueur=day["allotment"],
            ev_wh=dv["ev"],
            ev_carry_wh={hid: self.ev_owed[hid] for hid in dv["ev"]},
            pv_curtailed_wh={hid: int((day["actual"][hid][1] - used).sum())
                             for hid, used in dv["pv_used"].items()},
        ))
        self.progress("settle", index + 1, sc.days)

    def run(self) -> RunResult:
        for index in range(self.sc.days):
            self.schedule_day(index)
        self.clock.run()
        p, r = self.planner, self.result
        r.plans, r.planning_s = p.totals()
        r.counterfactual_plans, r.counterfactual_planning_s = p.totals(counterfactual_only=True)
        r.planning_stages = {name: (n, spent) for name, (n, spent) in p.stages.items()}
        return self.result


def _first_index_after(items: list, last_slot: int, slot_of: Callable) -> int:
    """Index of the first item of a slot after ``last_slot``.

    Every item before it belongs to a settled slot; after it, items of any slot may follow
    (``build_batch`` filters by slot), so nothing unsettled is ever skipped.
    """
    for i, item in enumerate(items):
        if slot_of(item) > last_slot:
            return i
    return len(items)


def run_simulation(scenario: Scenario, profiles: Profiles, out: Path | None = None,
                   ledger_url: str | None = None, progress: Progress | None = None,
                   reading_tap: ReadingTap | None = None, plan_workers: int = 1) -> RunResult:
    """Run ``scenario`` end to end; write the journal to ``out`` if given. ``plan_workers``:
    processes the homes of one planning round share (sim/plan_pool.py; the same result on
    any number)."""
    result = Simulation(scenario, profiles, ledger_url, progress, reading_tap,
                        plan_workers).run()
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        result.exchange.journal.dump(out / "journal.jsonl")
        d = result.chain.client.deployment
        (out / "deployment.json").write_text(json.dumps({
            "ledger_url": ledger_url, "chain_id": result.chain.client.w3.eth.chain_id,
            "contracts": {"token": d.token, "registry": d.registry, "settlement": d.settlement},
            "participants": result.participants.address_of(),
        }, indent=1))
    return result
