"""The run's report: summary.json, PNG plots and a printed KPI table."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from rich.console import Console
from rich.table import Table

from protocol.units import SLOTS_PER_DAY, slot_start, wh_to_kw
from sim.participants import SUPPLIER
from sim.runner import RunResult


def _times(result: RunResult) -> list[dt.datetime]:
    first = result.days[0].first_slot
    n = len(result.days) * SLOTS_PER_DAY
    return [dt.datetime.fromtimestamp(slot_start(first + i), dt.UTC) for i in range(n)]


def plot_prices(result: RunResult, path: Path) -> None:
    """Retail, feed-in, local trade VWAP and posted congestion prices per slot (€/kWh)."""
    times = _times(result)
    first = result.days[0].first_slot
    n = len(times)
    qty, val = np.zeros(n), np.zeros(n)
    for t in result.trades:
        if t.buyer != SUPPLIER and t.seller != SUPPLIER:
            qty[t.slot - first] += t.quantity_wh
            val[t.slot - first] += t.quantity_wh * t.price
    vwap = np.where(qty > 0, val / np.maximum(qty, 1), np.nan) / 1e6
    tariff = result.scenario.tariff
    retail = [tariff.retail(first + i) / 1e6 for i in range(n)]
    feed = [tariff.feed_in_price(first + i) / 1e6 for i in range(n)]
    cong = np.zeros(n)
    for d in result.days:
        for p in d.posted_prices:
            cong[p.slot - first] = max(cong[p.slot - first], p.price / 1e6)
    fig = Figure(figsize=(11, 4.5))
    ax = fig.subplots()
    ax.step(times, retail, where="post", label="retail (supplier ask)", color="tab:red")
    ax.step(times, feed, where="post", label="feed-in (supplier bid)", color="tab:green")
    ax.plot(times, vwap, ".", label="local trades, volume-weighted price", color="tab:blue")
    ax.bar(times, cong, width=1 / 96 * 0.9, align="edge", alpha=0.4, color="tab:purple",
           label="DSO congestion price")
    ax.set_ylabel("€/kWh")
    ax.set_title("Prices per 15-minute slot (UTC)")
    ax.legend(loc="upper left", fontsize=8)
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def plot_transformer(result: RunResult, path: Path) -> None:
    """Transformer flow (kW, + = import) against its rating: prognosis and metered."""
    times = _times(result)
    flow = wh_to_kw(np.concatenate([d.transformer_flow_wh for d in result.days]))
    prog = wh_to_kw(np.concatenate([d.prognosis_wh for d in result.days]))
    rating = result.scenario.grid.transformer_kva
    fig = Figure(figsize=(11, 4.5))
    ax = fig.subplots()
    ax.plot(times, flow, label="metered flow", color="tab:blue")
    ax.plot(times, prog, "--", label="day-ahead prognosis (A-plans)", color="tab:orange")
    ax.axhline(rating, color="tab:red", lw=1, label=f"rating ±{rating:g} kVA")
    ax.axhline(-rating, color="tab:red", lw=1)
    ax.fill_between(times, flow, rating, where=flow > rating, color="tab:red", alpha=0.3)
    ax.fill_between(times, flow, -rating, where=flow < -rating, color="tab:red", alpha=0.3)
    ax.set_ylabel("kW (+ import from upstream)")
    ax.set_title("Transformer flow vs rating")
    ax.legend(loc="lower left", fontsize=8)
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def plot_congestion_points(result: RunResult, path: Path) -> None:
    """AC congestion points (grid model "ac"): each one's loading from the metered nets by the
    AC power flow (% of its rating, signed: − = export), against ±100 %."""
    times = _times(result)
    flow = np.concatenate([d.point_flow_wh for d in result.days], axis=1)
    loading = flow / result.point_limits_wh[:, None] * 100
    fig = Figure(figsize=(11, 4.5))
    ax = fig.subplots()
    for name, row in zip(result.point_names, loading, strict=True):
        ax.plot(times, row, label=name, lw=1.6 if name == "transformer" else 1.0)
    ax.axhline(100, color="black", ls="--", lw=1, label="rating")
    ax.axhline(-100, color="black", ls="--", lw=1)
    ax.set_ylabel("loading, % of rating (+ import)")
    ax.set_title("Congestion points by the AC power flow of the metered nets")
    ax.legend(loc="lower left", fontsize=8, ncol=3)
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def plot_bills(summary: dict, path: Path) -> None:
    """Each home's bill with the market against its bill with the supply contract and the
    DSO's tariff alone."""
    per_home = summary["bills"]["per_home"]
    base = np.array([b["no_market_bill_eur"] for b in per_home.values()])
    market = np.array([b["bill_eur"] for b in per_home.values()])
    order = np.argsort(base - market)
    fig = Figure(figsize=(11, 4.5))
    ax1, ax2 = fig.subplots(1, 2)
    lim = [min(base.min(), market.min()), max(base.max(), market.max())]
    ax1.scatter(base, market, s=10)
    ax1.plot(lim, lim, color="grey", lw=1)
    ax1.set_xlabel("bill without market (€)")
    ax1.set_ylabel("bill with market (€)")
    ax1.set_title("Bills per home (below the line = saves)")
    savings = (base - market)[order]
    ax2.bar(range(len(savings)), savings, color=np.where(savings >= 0, "tab:green", "tab:red"))
    ax2.set_xlabel("homes, sorted")
    ax2.set_ylabel("saving (€)")
    ax2.set_title("Saving per home")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def write_report(result: RunResult, summary: dict, out: Path) -> list[Path]:
    """summary.json and the plots into ``out``; returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    files = [out / "summary.json", out / "prices.png", out / "transformer.png", out / "bills.png"]
    files[0].write_text(json.dumps(summary, indent=2, sort_keys=False))
    plot_prices(result, files[1])
    plot_transformer(result, files[2])
    plot_bills(summary, files[3])
    if result.point_limits_wh is not None and result.days:
        files.append(out / "congestion_points.png")
        plot_congestion_points(result, files[-1])
    return files


def print_summary(summary: dict, console: Console | None = None) -> None:
    """The KPI table on the terminal."""
    console = console or Console()
    e, t, m, b, s = (summary[k] for k in ("energy", "transformer", "market", "bills",
                                          "settlement"))
    table = Table(title=f"flexmarket — {summary['scenario']['name']}, "
                        f"{summary['scenario']['days']} day(s)", show_header=False)
    table.add_column("KPI", style="bold")
    table.add_column("value", justify="right")
    rows = [
        ("energy traded locally", f"{e['traded_locally_kwh']:,.1f} kWh"),
        ("bought from / sold to supplier",
         f"{e['bought_from_supplier_kwh']:,.1f} / {e['sold_to_supplier_kwh']:,.1f} kWh"),
        ("self-sufficiency", f"{e['self_sufficiency']:.1%}"),
        ("PV self-consumption (community)", f"{e['pv_self_consumption']:.1%}"),
        ("transformer peak import / export",
         f"{t['peak_import_kw']:.1f} / {t['peak_export_kw']:.1f} kW"),
        ("transformer rating", f"{t['rating_kva']:g} kVA"),
        ("overloaded slots (metered / prognosed)",
         f"{t['overloaded_slots']} / {t['prognosed_overloaded_slots']}"),
        *((f"{name} (AC): peak, overloads met./progn.",
           f"{c['peak_loading_percent']:.1f} % of {c['rating_kva']:g} kVA, "
           f"{c['overloaded_slots']} / {c['prognosed_overloaded_slots']}")
          for name, c in summary.get("congestion_points", {}).items()),
        ("congestion prices posted (day ahead / intraday)",
         f"{m['congestion_prices_posted']} / {m['intraday_prices_posted']}"),
        ("congestion fees to DSO", f"{m['congestion_fees_eur']:,.2f} €"),
        ("DSO: flexibility bought / operate phase",
         f"{m['flex_bought_kwh']:,.1f} / {m['operate_activated_kwh']:,.1f} kWh "
         f"in {m['operate_activated_homes']} homes"),
        ("DSO: batteries discharged in operation / still owed",
         f"{m['operate_battery_discharged_kwh']:,.1f} / {m['operate_battery_owed_kwh']:,.1f} kWh"),
        ("DSO: cost / reinforcement annuity, per day",
         f"{m['dso_cost_eur_per_day']:,.2f} / {m['reinforcement_annuity_eur_per_day']:,.2f} €"),
        ("DSO: paid for flexibility / corrections",
         f"{m['flex_paid_by_dso_eur']:,.2f} / {m['operate_corrections_paid_by_dso_eur']:,.2f} €"),
        ("local market: allocative efficiency per slot (mean / min)",
         "—" if m["slot_efficiency_mean"] is None
         else f"{m['slot_efficiency_mean']:.3f} / {m['slot_efficiency_min']:.3f}"),
        ("trades / accepted messages", f"{m['trades']:,} / {m['accepted_messages']:,}"),
        ("bills: total with / without market",
         f"{b['total_eur']:,.2f} / {b['total_no_market_eur']:,.2f} €"),
        ("saving per home: min / mean / max",
         f"{b['saving_min_eur']:.2f} / {b['saving_mean_eur']:.2f} / {b['saving_max_eur']:.2f} €"),
        ("homes better / worse off", f"{b['homes_better_off']} / {b['homes_worse_off']}"),
        ("homes paying congestion fees (in both bills)",
         f"{b['homes_paying_congestion_fees']} "
         f"(bore {b['congestion_fees_borne_by_homes_eur']:,.2f} € with the market)"),
        ("settlement gas (per entry)", f"{s['gas_total']:,} ({s['gas_per_entry']:,.0f})"),
        ("readings accepted / rejected", f"{s['readings_accepted']:,} / {s['readings_rejected']}"),
    ]
    for k, v in rows:
        table.add_row(k, v)
    inv = summary["invariants"]
    status = {True: "ok", False: "FAIL", None: "skipped"}
    table.add_row("invariants", ", ".join(f"{k}={status[v]}" for k, v in inv.items()))
    per_home = summary["bills"]["per_home"]
    wallets = Table(title="each home: bill and closing wallet balance (read from the chain)")
    for col in ("home", "bill €", "no-market bill €", "saving €", "congestion fees €",
                "balance €"):
        wallets.add_column(col, justify="right")
    for h, row in per_home.items():
        wallets.add_row(h, f"{row['bill_eur']:.2f}", f"{row['no_market_bill_eur']:.2f}",
                        f"{row['saving_eur']:.2f}", f"{row['congestion_fees_eur']:.2f}",
                        f"{row['closing_balance_eur']:.2f}")
    console.print(wallets)
    console.print(table)
