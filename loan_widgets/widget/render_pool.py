"""What the BorrowWidget shows on the new loan API: pure functions from a pool quote to HTML.

The new API's counterpart of :mod:`loan_widgets.widget.render`: every function
takes plain values (a :class:`~loan_widgets.pool_quote.PoolQuote`, a
:class:`~loan_widgets.new_market.NewLoanCoin`, prices, numbers) and returns a
string; none reads a widget, a clock or the network. Amounts are ``Decimal``,
written by :mod:`loan_widgets.numbers`; what the exchange or the user typed
(coin names included) is escaped before it goes into markup.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from decimal import Decimal

from ..new_market import NewLoanCoin
from ..numbers import grouped
from ..pool_quote import PoolPreview, PoolQuote
from ..terms import FLEXIBLE, term_label
from .render import estimate, money, muted, percent, preview_box, problem

__all__ = [
    "collateral_hint",
    "loan_hint",
    "placeholders",
    "preview",
    "rate_hint",
    "term_tooltip",
]

_MUTED = "#57606a"


def term_tooltip(term: str, annual: Decimal | None, coin: str, *, offered: bool) -> str:
    """A term button's tooltip on the new API: the rate lenders offer, or why it is off."""
    if not offered:
        if term == FLEXIBLE:
            return f"{coin} cannot be borrowed flexibly on the new loan API"
        return f"{coin} has no fixed loans on the new loan API"
    if term == FLEXIBLE:
        if annual is None:
            return "Flexible: the exchange's flexible rate"
        return f"Flexible: {percent(annual)} % a year now (the exchange's rate: it floats)"
    if annual is None:
        return f"{term_label(term)}: no lender offers this term now: an order waits for one"
    return f"{term_label(term)}: lenders offer from {percent(annual)} % a year"


def placeholders(q: PoolQuote) -> tuple[str, str]:
    """(loan, collateral) placeholders: the pledge the exchange will need, when not typed."""
    pledge = q.pool.pledge
    if q.pool.pledge_typed or pledge is None:
        return "amount to borrow", "optional: pledge with the loan"
    if pledge == 0:
        return "amount to borrow", "none needed: the pool covers it"
    return "amount to borrow", f"≈ {grouped(pledge)}"


def loan_hint(q: PoolQuote, coin: NewLoanCoin, term: str) -> str:
    """The note right of the loan amount: its problem, or the bounds of this kind of loan."""
    if q.loan_problem:
        return problem(q.loan_problem)
    kind = "flexible" if term == FLEXIBLE else "fixed"
    bounds = f"min {grouped(coin.minimum(term))}"
    if coin.max_amount is not None:
        bounds += f" · max {grouped(coin.max_amount)}"
    if q.pool.max_now is not None:
        bounds += f" · account max now {grouped(q.pool.max_now)}"
    return muted(f"{bounds} {coin.currency} · {coin.accuracy(term)} decimals ({kind})")


def collateral_hint(q: PoolQuote, coin: str) -> str:
    """The note right of the pledge: its problem, what it counts for, or the estimate's basis."""
    if q.collateral_problem:
        return problem(q.collateral_problem)
    pool = q.pool
    if pool.pledge_typed:
        counted = (f": counts {money(pool.pledge_counted)} USD in the pool"
                   if pool.pledge_counted is not None else "")
        return muted(f"pledged into the pool with the loan{counted}")
    if pool.pledge is None:
        return muted("optional: pledged into the pool with the loan; left blank, the exchange "
                     "sizes it when the order is sent")
    if pool.pledge == 0:
        return muted("the pool already covers this loan: nothing more is pledged")
    return estimate(
        f"{coin} needed on top of the pool at a {percent(pool.limit_ltv)} % limit "
        f"({_limit_source(pool)}); the exchange sizes it when the order is sent"
    )


def _limit_source(pool: PoolPreview) -> str:
    return "read from max-loan" if pool.limit_source == "exchange" else "assumed"


def rate_hint(q: PoolQuote, coin: NewLoanCoin, term: str) -> str:
    """The note beside a fixed order's rate: its problem, and what the market fills now."""
    pool = q.pool
    amount = q.loan_amount
    if amount is None or pool.on_offer is None:
        lowest = coin.fixed_rates.get(term)
        market = (f"no lender offers {term} days now: an order waits for one" if lowest is None
                  else f"lenders offer {term} days from {percent(lowest)} % a year")
    elif pool.match_rate is not None:
        market = (f"{percent(pool.match_rate)} % a year fills {grouped(amount)} "
                  f"{coin.currency} now")
    elif pool.on_offer > 0:
        market = (f"lenders offer only {grouped(pool.on_offer)} {coin.currency} for {term} "
                  "days now: the rest waits")
    else:
        market = f"no lender offers {term} days now: an order waits for one"
    return (problem(q.term_problem) if q.term_problem else "") + muted(market)


def _ltv(value: Decimal | None, pool: PoolPreview) -> str:
    if value is None:
        return "<b style='color:#c62828'>beyond any level</b> (debt and no collateral)"
    colour = "#2e7d32"
    if pool.levels.margin_call is not None and value >= pool.levels.margin_call:
        colour = "#c62828"
    elif value > pool.limit_ltv:
        colour = "#ef6c00"
    return f"<b style='color:{colour}'>{percent(value)} %</b>"


def _order_row(q: PoolQuote, coin: NewLoanCoin, term: str) -> tuple[str, str]:
    amount = f"<b>{grouped(q.loan_amount or Decimal(0))} {html.escape(coin.currency)}</b>"
    if term == FLEXIBLE:
        flexible = f"<span style='color:{_MUTED}'>(flexible: repay any time)</span>"
        return "You receive", f"{amount} {flexible}"
    pool = q.pool
    text = f"{amount} for {term} days"
    if q.offered_rate is not None:
        text += f" at {percent(q.offered_rate)} % a year"
    if pool.fills_now is not None and q.loan_amount:
        if pool.fills_now >= q.loan_amount:
            text += " · <span style='color:#2e7d32'>fills now</span>"
        elif pool.fills_now > 0:
            text += (f" · {grouped(pool.fills_now)} fills now, "
                     f"{grouped(q.loan_amount - pool.fills_now)} waits for lenders")
        else:
            text += " · <span style='color:#ef6c00'>waits for lenders</span>"
    return "Order", text


def _pledge_row(q: PoolQuote, coll: str, price: Decimal | None) -> tuple[str, str]:
    pool = q.pool
    if pool.pledge is None:
        return "Pledge", f"<span style='color:{_MUTED}'>sized by the exchange when sent</span>"
    if pool.pledge == 0 and not pool.pledge_typed:
        return "Pledge", "nothing more: the pool covers this loan"
    verb = "" if pool.pledge_typed else "≈ "
    extras = []
    if price is not None:
        extras.append(f"≈ {money(pool.pledge * price)} USDT")
    if pool.pledge_counted is not None:
        extras.append(f"counts {money(pool.pledge_counted)} USD in the pool")
    value = f" ({', '.join(extras)})" if extras else ""
    note = "" if pool.pledge_typed else (
        f" <span style='color:{_MUTED}'>on top of the pool: the exchange sizes it when "
        "sent</span>")
    return "Pledge", f"<b>{verb}{grouped(pool.pledge)} {html.escape(coll)}</b>{value}{note}"


def _levels(pool: PoolPreview) -> str:
    parts = [f"borrow limit {percent(pool.limit_ltv)} % ({_limit_source(pool)})"]
    if pool.levels.margin_call is not None:
        parts.append(f"margin call {percent(pool.levels.margin_call)} %")
    if pool.levels.liquidation is not None:
        parts.append(f"liquidation {percent(pool.levels.liquidation)} %")
    return (" · ".join(parts)
            + f" <span style='color:{_MUTED}'>(Bybit publishes no levels for the new API: "
            "these are assumed)</span>")


def preview(
    q: PoolQuote,
    prices: Mapping[str, Decimal],
    coin: NewLoanCoin,
    coll: str,
    term: str,
    *,
    fetched_at: float,
    age: float,
    stale: bool,
    notes: Iterable[str] = (),
) -> str:
    """The new API's preview: order, pledge, pool LTV before and after, room, rate, interest."""
    pool = q.pool
    rows: list[tuple[str, str]] = []
    if q.loan_amount is not None:
        rows.append(_order_row(q, coin, term))
    rows.append(_pledge_row(q, coll, prices.get(coll)))
    if pool.ltv_before is not None:
        after = f" → after {_ltv(pool.ltv_after, pool)}" if q.loan_amount is not None else ""
        before = f"{percent(pool.ltv_before)} %" if pool.ltv_before else "0 % (no debt)"
        rows.append(("Pool LTV", f"before {before}{after} · {_levels(pool)}"))
    room = []
    if pool.max_now is not None:
        room.append(f"{grouped(pool.max_now)} {html.escape(coin.currency)} now (max-loan)")
    if pool.max_with_pledge is not None and pool.pledge:
        room.append(f"≈ {grouped(pool.max_with_pledge)} with this pledge")
    if pool.quota is not None:
        room.append(f"quota left {grouped(pool.quota)}")
    if room:
        rows.append(("Can borrow", " · ".join(room)))
    if pool.annual_rate is not None:
        if term == FLEXIBLE:
            rate = (f"<b>{percent(pool.annual_rate)} % a year</b> <span style='color:{_MUTED}'>"
                    "(the exchange's flexible rate now: it floats)</span>")
        else:
            rate = f"<b>{percent(pool.annual_rate)} % a year</b> offered"
            if pool.match_rate is not None:
                rate += f" · the whole amount fills now at {percent(pool.match_rate)} %"
        rows.append((f"Rate ({term_label(term).lower()})", rate))
    if q.interest is not None:
        span = "per day while open" if term == FLEXIBLE else f"over {term} days"
        rows.append(("Interest", f"≈ {grouped(q.interest)} {html.escape(coin.currency)} {span}"))
    used = [f"{html.escape(c)} {grouped(p)} USDT" for c in (coll, coin.currency)
            if (p := prices.get(c)) is not None and c != "USDT"]
    return preview_box(rows, used, fetched_at, age, stale, [*q.warnings, *notes],
                       css_class="lw-pool-preview")
