"""The 12 smart-grid presets, and a preset market run with MILP-planned homes."""

from __future__ import annotations

import numpy as np
import pytest

from sim.kpi import check_invariants
from sim.presets import PRESETS, table
from sim.profiles import synthetic_profiles
from sim.runner import run_simulation
from sim.scenario import preset_scenario


def test_twelve_presets_rising_in_penetration():
    assert len(PRESETS) == 12
    for year in ("2020", "2030"):
        for path in ("bau", "green"):
            low, mid, high = (PRESETS[f"{year}-{path}-{lvl}"] for lvl in ("low", "medium", "high"))
            for field in ("pv", "battery", "ev", "heat_pump", "smart_appliances"):
                assert getattr(low, field) <= getattr(mid, field) <= getattr(high, field)
    assert PRESETS["2030-green-high"].ev > PRESETS["2020-bau-low"].ev
    assert table().count("\n") == 13


def test_preset_assigns_assets_by_its_shares():
    sc = preset_scenario("2030-green-high", homes=100, seed=4)
    p = PRESETS["2030-green-high"]
    assert sum(h.ev is not None for h in sc.homes) == round(p.ev * 100)
    assert sum(h.heat_pump is not None for h in sc.homes) == round(p.heat_pump * 100)
    assert sum(bool(h.appliances) for h in sc.homes) == round(p.smart_appliances * 100)
    assert sum(h.pv_kwp > 0 for h in sc.homes) == round(p.pv * 100)
    assert sc.planner == "milp"
    with pytest.raises(ValueError, match="unknown preset"):
        preset_scenario("2040-utopia-max")


def test_preset_market_run_keeps_every_invariant_and_serves_every_asset():
    sc = preset_scenario("2030-green-high", homes=12, days=2, seed=2, transformer_kva=30.0)
    result = run_simulation(sc, synthetic_profiles(2))
    inv = check_invariants(result, audit_replay=True)
    assert inv.all_hold()
    assert result.rejected_messages == []
    for day in result.days:
        for h in sc.homes:
            plan = day.plans[h.home_id]
            assert np.array_equal(day.actual_load_wh[h.home_id] >= 0,
                                  np.ones(96, bool))
            if h.ev is not None:  # tonight's charging and what is left to the morning cover it
                ev = day.ev_wh[h.home_id] * h.ev.efficiency  # rounded to Wh per slot: ±0.5 each
                assert ev[h.ev.arrival:].sum() + day.ev_carry_wh[h.home_id] >= h.ev.energy_wh - 96
                k = result.days.index(day)
                if k:  # and each morning charges what the night before left to it
                    owed = result.days[k - 1].ev_carry_wh[h.home_id]
                    assert ev[:h.ev.stays_until].sum() >= owed - h.ev.stays_until
                    assert owed > 0  # the night tariff makes every EV leave some to 00:00–07:00
            assert plan.net_wh.shape == (96,)
    # the no-market bill counts each day's capacity charge on the counterfactual's own peak
    from protocol.tariff import capacity_charge_ueur
    from sim.kpi import no_market_bill_ueur

    for h in sc.homes:
        charge = sum(capacity_charge_ueur(int(max(d.own_net_wh.get(
            h.home_id, d.actual_net_wh[h.home_id]).max(), 0)), sc.tariff) for d in result.days)
        assert charge > 0
        assert (no_market_bill_ueur(result, h.home_id, with_fees=False, with_capacity=True)
                - no_market_bill_ueur(result, h.home_id, with_fees=False)) == charge
    # what the counterfactual would have left at a day's end differently is valued: 1 kWh more
    # in its battery lowers its bill by that kWh sold back tomorrow; 500 Wh less EV energy left
    # to the morning by that energy bought at the morning's cheapest retail
    from protocol.tariff import cheapest_retail
    from sim.kpi import end_state_credit_ueur, stored_value_ueur

    day = result.days[0]
    tomorrow = day.first_slot + 96
    home = next(h for h in sc.homes if h.battery is not None and h.home_id in day.own_soc_end_wh)
    bill, credit = no_market_bill_ueur(result, home.home_id), end_state_credit_ueur(
        result, home.home_id)
    extra = day.own_soc_end_wh[home.home_id] - day.soc_start_wh[home.home_id]
    day.own_soc_end_wh[home.home_id] += 1_000
    more = (stored_value_ueur(home.battery, extra + 1_000, sc.tariff, tomorrow)
            - stored_value_ueur(home.battery, extra, sc.tariff, tomorrow))
    assert more > 0
    assert end_state_credit_ueur(result, home.home_id) - credit == pytest.approx(more, abs=1)
    assert no_market_bill_ueur(result, home.home_id) == bill - (
        end_state_credit_ueur(result, home.home_id) - credit)
    ev_home = next(h for h in sc.homes if h.ev is not None and h.home_id in day.own_ev_carry_wh)
    credit = end_state_credit_ueur(result, ev_home.home_id)
    day.own_ev_carry_wh[ev_home.home_id] -= 500
    assert end_state_credit_ueur(result, ev_home.home_id) - credit == pytest.approx(
        500 / ev_home.ev.efficiency * cheapest_retail(sc.tariff, tomorrow, 28) / 1000, abs=1)


def test_perfect_forecasts_are_the_day_itself_and_an_unknown_forecast_is_refused():
    from sim.scenario import home_day_wh

    sc = preset_scenario("2030-green-high", homes=6, seed=3, transformer_kva=30.0)
    sc.forecast = "perfect"
    profiles = synthetic_profiles(3)
    result = run_simulation(sc, profiles)
    day = result.days[0]
    assert day.load_mae_wh == 0 and day.pv_mae_wh == 0
    for h in sc.homes:  # the plans rest on the real day: load and PV as they came
        load, pv = home_day_wh(h, profiles, sc.start_day)
        assert np.array_equal(day.plans[h.home_id].load_wh[:8], load[:8])  # before any re-plan
        assert np.array_equal(day.actual_pv_wh[h.home_id], pv)
    sc.forecast = "tea-leaves"
    with pytest.raises(ValueError, match="unknown forecast"):
        run_simulation(sc, synthetic_profiles(3))
