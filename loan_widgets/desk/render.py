"""HTML for the desk: the positions table, the what-if table, and the text bits.

One string per table, built from a :class:`~loan_widgets.portfolio.Snapshot`
in a single pass (a refresh of 100 loans renders in a few milliseconds; see
``benchmarks/desk.py``). Every number is ``Decimal``, shown with
:mod:`loan_widgets.numbers`. Rows carry ``data-key`` and a ``lw-risk-*``
class; a row whose alert fired also has ``lw-alerting``.
"""

from __future__ import annotations

import html
from collections.abc import Collection, Mapping
from datetime import datetime, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING

from ..numbers import grouped
from ..portfolio import Position, Shocked, Snapshot, fall_to, risk

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "label", "maturity", "percent", "positions_frame", "positions_table", "what_if_table",
]

_HUNDRED = Decimal(100)
RISK_COLOURS = {
    "ok": "#2e7d32",
    "alert": "#b26a00",
    "margin call": "#d84315",
    "liquidation": "#b71c1c",
}
ROW_BACKGROUND = {"alert": "#fff8e1", "margin call": "#ffe0b2", "liquidation": "#ffcdd2"}
KIND_NAMES = {
    "legacy": "loan",
    "pool": "collateral pool",
    "flexible": "flexible debt",
    "fixed": "fixed contract",
    "order": "fixed order (matching)",
}


def percent(ratio: Decimal | None, places: str = "0.01") -> str:
    """``Decimal("0.8123")`` -> ``81.23 %``; ``—`` for ``None``."""
    if ratio is None:
        return "—"
    return f"{(ratio * _HUNDRED).quantize(Decimal(places), rounding=ROUND_HALF_UP)} %"


def _money(value: Decimal | None, places: int = 8) -> str:
    if value is None:
        return "—"
    return grouped(value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))


def _short(ref: str) -> str:
    return ref if len(ref) <= 8 else f"…{ref[-6:]}"


def label(position: Position) -> str:
    """A short name for people: ``loan …646144 USDT/BTC``, ``flexible USDT``, ``pool``."""
    p = position
    if p.kind == "legacy":
        return f"loan {_short(p.ref)} {p.loan_coin}/{p.collateral_coin}"
    if p.kind == "pool":
        return "collateral pool (new API)"
    if p.kind == "flexible":
        return f"flexible {p.loan_coin}"
    if p.kind == "fixed":
        return f"fixed {p.loan_coin} #{p.ref} ({p.term} d)"
    return f"fixed order #{p.ref} {p.loan_coin}"


def maturity(due_ms: int | None, now_ms: int) -> str:
    """``12 d 4 h``, ``3 h 10 min``, ``overdue 2 h``; ``—`` when open-ended."""
    if due_ms is None:
        return "—"
    left = (due_ms - now_ms) // 60_000
    text = _span(abs(left))
    return f"overdue {text}" if left < 0 else text


def _span(minutes: int) -> str:
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    return f"{hours} h {mins} min" if hours else f"{mins} min"


def _bar(ltv: Decimal | None, position: Position, colour: str) -> str:
    """A CSS bar: 100 % wide is the liquidation LTV; a tick marks the margin call."""
    levels = position.levels
    top = levels.liquidation or levels.margin_call or Decimal(1)
    if ltv is None or top <= 0:
        return ""
    width = min(Decimal(100), ltv / top * _HUNDRED).quantize(Decimal("0.1"))
    tick = ""
    if levels.margin_call is not None and levels.liquidation:
        at = (levels.margin_call / top * _HUNDRED).quantize(Decimal("0.1"))
        tick = (f"<div style='position:absolute;left:{at}%;top:-2px;bottom:-2px;"
                "border-left:2px solid #d84315'></div>")
    return (
        "<div class='lw-bar' style='position:relative;width:110px;height:8px;background:#eceff1;"
        f"border-radius:4px;margin-top:2px'><div style='width:{width}%;height:100%;"
        f"background:{colour};border-radius:4px'></div>{tick}</div>"
    )


def _fall(position: Position, snap: Snapshot, level: Decimal | None) -> str:
    if level is None or position.ltv is None:
        return "—"
    if position.kind == "pool" and snap.pool is not None:
        fall = snap.pool.fall_to(snap.prices, level)
        where = "all collateral"
        price = None
    else:
        fall = fall_to(position.ltv, level)
        where = position.collateral_coin or ""
        price = position.trigger_price(snap.prices.get(where), level)
    head = f"{percent(level, '0.1')}"
    if fall is None:
        return head
    if fall <= 0:
        return f"{head}<br><b>reached</b>"
    to = f" → {_money(price, 2)}" if price is not None else ""
    return f"{head}<br><span style='color:#57606a'>{where} −{percent(fall, '0.1')}{to}</span>"


def _cells(p: Position, snap: Snapshot, threshold: Decimal | None) -> list[str]:
    now = snap.taken_at_ms
    if p.kind == "order":
        filled = f"{_money(p.filled)} of {_money(p.quantity)} {p.loan_coin} filled"
        return [
            html.escape(label(p)), filled, "—", "waiting for lenders", "—", "—",
            f"{p.term} d at {percent(p.rate)} a year", "—",
        ]
    debt = "—" if p.debt is None else f"<b>{_money(p.debt)}</b> {p.loan_coin}"
    if p.debt is not None and p.interest:
        debt += f"<br><span style='color:#57606a'>incl. {_money(p.interest)} interest</span>"
    if p.pooled:
        collateral = "in the pool"
    else:
        collateral = "<br>".join(f"{_money(a)} {html.escape(c)}" for c, a in p.collateral) or "—"
    outcome = risk(p.ltv, p.levels, threshold)
    colour = RISK_COLOURS[outcome]
    if p.ltv is None:
        ltv = "—"
    else:
        pooled = " <span style='color:#57606a'>(pool)</span>" if p.pooled else ""
        ltv = (f"<b style='color:{colour}'>{percent(p.ltv)}</b>{pooled}"
               f"{_bar(p.ltv, p, colour)}")
    if p.pooled and p.kind != "pool":
        margin = liquidation = "<span style='color:#57606a'>see pool</span>"
    else:
        margin = _fall(p, snap, p.levels.margin_call)
        liquidation = _fall(p, snap, p.levels.liquidation)
    rate = "—"
    if p.rate is not None:
        rate = f"{percent(p.rate, '0.0001')} / {p.rate_per}"
    term = "flexible" if p.term == "flexible" else f"{p.term} d, {maturity(p.due_ms, now)} left"
    if p.due_ms is not None and p.due_ms < now:
        term = f"<b style='color:#b71c1c'>{maturity(p.due_ms, now)}</b>"
    coins = [c for c, _ in p.collateral] + ([p.loan_coin] if p.loan_coin else [])
    priced = [f"{c} {_money(snap.prices[c], 2)}" for c in dict.fromkeys(coins)
              if c != "USDT" and c in snap.prices]
    return [html.escape(label(p)), debt, collateral, ltv, margin, liquidation,
            f"{term}<br><span style='color:#57606a'>{rate}</span>",
            "<br>".join(priced) or "—"]


HEADERS = ("position", "debt", "collateral", "LTV", "margin call at", "liquidation at",
           "term · rate", "price used (USDT)")


def positions_table(snap: Snapshot, thresholds: Mapping[str, Decimal],
                    alerting: Collection[str] = ()) -> str:
    """The desk's table: one row per position, riskiest legacy loans first, then the pool."""
    if not snap.positions:
        return ("<div class='lw-empty' style='color:#57606a;padding:8px 0'>No open loans. "
                "Borrow with %borrow or the BorrowWidget: they show up here.</div>")
    head = "".join(
        f"<th style='text-align:left;padding:3px 8px;border-bottom:1px solid #d0d7de;"
        f"white-space:nowrap'>{h}</th>" for h in HEADERS
    )
    rows = []
    for p in snap.positions:
        threshold = thresholds.get(p.key)
        outcome = risk(p.ltv, p.levels, threshold) if not p.pooled or p.kind == "pool" else "ok"
        alerting_row = p.key in alerting or (p.pooled and "pool" in alerting)
        classes = f"lw-row lw-risk-{outcome.replace(' ', '-')}"
        background = ROW_BACKGROUND.get(outcome, "")
        if alerting_row:
            classes += " lw-alerting"
            background = background or ROW_BACKGROUND["alert"]
        style = f" style='background:{background}'" if background else ""
        cells = "".join(
            f"<td style='padding:3px 8px;vertical-align:top'>{c}</td>"
            for c in _cells(p, snap, threshold)
        )
        rows.append(f"<tr class='{classes}' data-key='{html.escape(p.key)}'{style}>{cells}</tr>")
    stamp = datetime.fromtimestamp(snap.taken_at_ms / 1000, tz=timezone.utc)
    return (
        "<div class='lw-positions' style='font-size:12.5px;line-height:1.35;overflow-x:auto'>"
        "<table style='border-collapse:collapse;width:100%'>"
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
        f"<div style='color:#57606a;font-size:11.5px;margin-top:2px'>Prices and positions as "
        f"of {stamp:%H:%M:%S} UTC. A fall is of the collateral coin's price with the loan "
        "coin's unchanged (for the pool: every collateral coin together).</div></div>"
    )


def what_if_table(snap: Snapshot, shocked: tuple[Shocked, ...],
                  shocks: Mapping[str, Decimal]) -> str:
    """Each position's LTV now and under ``shocks``, and what that would trigger."""
    moved = {c: s for c, s in shocks.items() if s}
    if not moved or not shocked:
        return ("<div style='color:#57606a;font-size:12px'>Move a slider to see each "
                "position's LTV if that coin's price moved.</div>")
    what = ", ".join(f"{c} {'+' if s > 0 else '−'}{percent(abs(s), '1')}"
                     for c, s in sorted(moved.items()))
    counts = {o: sum(1 for s in shocked if s.outcome == o)
              for o in ("margin call", "liquidation")}
    rows = []
    for s in shocked:
        p = snap.get(s.key)
        if p is None:
            continue
        colour = RISK_COLOURS[s.outcome]
        rows.append(
            f"<tr class='lw-whatif-row' data-key='{html.escape(s.key)}'>"
            f"<td style='padding:1px 8px'>{html.escape(label(p))}</td>"
            f"<td style='padding:1px 8px'>{percent(s.ltv)}</td>"
            f"<td style='padding:1px 8px'><b style='color:{colour}'>{percent(s.ltv_after)}</b>"
            f"</td><td style='padding:1px 8px;color:{colour}'>{s.outcome}</td></tr>"
        )
    return (
        "<div class='lw-whatif' style='font-size:12.5px'>"
        f"<b>If {what}:</b> {counts['margin call']} margin call(s), "
        f"{counts['liquidation']} liquidation(s)"
        "<table style='border-collapse:collapse;margin-top:2px'><thead><tr>"
        "<th style='text-align:left;padding:1px 8px'>position</th>"
        "<th style='text-align:left;padding:1px 8px'>LTV now</th>"
        "<th style='text-align:left;padding:1px 8px'>LTV after</th>"
        "<th style='text-align:left;padding:1px 8px'>would be</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


FRAME_COLUMNS = ("position", "kind", "loan_coin", "debt", "collateral", "ltv", "alert_at",
                 "margin_call_ltv", "liquidation_ltv", "fall_to_margin_call",
                 "fall_to_liquidation")


def positions_frame(snap: Snapshot | None, thresholds: Mapping[str, Decimal]) -> pd.DataFrame:
    """The positions as a DataFrame: exact ``Decimal`` amounts, ratios and falls (4 places)."""
    import pandas as pd

    places = Decimal("0.0001")
    rows = []
    for p in snap.positions if snap else ():
        if p.kind == "pool" and snap is not None and snap.pool is not None:
            to_mc = snap.pool.fall_to(snap.prices, p.levels.margin_call)
            to_liq = snap.pool.fall_to(snap.prices, p.levels.liquidation)
        elif p.pooled:
            to_mc = to_liq = None  # the pool's row says it
        else:
            to_mc, to_liq = p.fall_to_margin_call, p.fall_to_liquidation
        rows.append({
            "position": label(p), "kind": p.kind, "loan_coin": p.loan_coin, "debt": p.debt,
            "collateral": ", ".join(f"{a} {c}" for c, a in p.collateral),
            "ltv": p.ltv, "alert_at": thresholds.get(p.key),
            "margin_call_ltv": p.levels.margin_call, "liquidation_ltv": p.levels.liquidation,
            "fall_to_margin_call": None if to_mc is None else to_mc.quantize(places),
            "fall_to_liquidation": None if to_liq is None else to_liq.quantize(places),
        })
    frame = pd.DataFrame(rows, columns=list(FRAME_COLUMNS))
    for column in ("position", "kind", "loan_coin", "collateral"):
        frame[column] = frame[column].astype("string")
    return frame
