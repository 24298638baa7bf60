"""What the BorrowWidget shows: pure functions from quotes, coin data and ledger rows to HTML.

Every function here takes plain values (a :class:`~loan_widgets.quote.Quote`,
coin infos, prices, :class:`~loan_widgets.ledger.LedgerRow` s, numbers) and
returns a string; none reads a widget, a clock or the network, so each is
tested with a table of inputs and expected texts. Amounts are ``Decimal`` and
are written by :mod:`loan_widgets.numbers`, never through a float.

Everything a user or the exchange typed is escaped (``html.escape``) before
it goes into markup.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from urllib.parse import urlsplit

from ..ledger import LedgerRow
from ..numbers import grouped, trim, trimmed
from ..orders import BorrowRequest
from ..quote import HOURS_PER_YEAR, CollateralCoinInfo, Limits, LoanCoinInfo, MarketData, Quote
from ..terms import FLEXIBLE, term_label
from .state import COLOURS, FormState

__all__ = [
    "NETWORK_COLOURS",
    "STATUS_COLOURS",
    "acting_for",
    "age_text",
    "badge",
    "borrow_label",
    "collateral_hint",
    "confirm_label",
    "crashed",
    "describe",
    "dry_run",
    "estimate",
    "host_label",
    "loan_hint",
    "money",
    "muted",
    "notice_load_failed",
    "notice_stale",
    "orders_table",
    "percent",
    "placeholders",
    "preview",
    "preview_box",
    "problem",
    "status_line",
    "term_tooltip",
    "utc_clock",
]

NETWORK_COLOURS = {"sandbox": "#2e7d32", "testnet": "#ef6c00", "mainnet": "#c62828"}
"""Badge colour per network."""
STATUS_COLOURS = {
    "accepted": "#2e7d32",
    "rejected": "#c62828",
    "failed": "#c62828",
    "unknown": "#ef6c00",
    "pending": "#1565c0",
    "not_executed": "#616161",
}
"""Colour of a ledger status in the orders table."""

_HUNDRED = Decimal(100)
_CENT = Decimal("0.01")
_MUTED = "#57606a"
ORDER_COLUMNS = (
    "#", "time (UTC)", "network", "source", "loan", "collateral", "term", "status",
    "order id / message",
)


# --------------------------------------------------------------------------- numbers


def percent(ratio: Decimal, places: str = "0.01") -> str:
    """``0.8`` -> ``80`` (a ratio as a percentage, rounded half up to ``places``)."""
    return trimmed((ratio * _HUNDRED).quantize(Decimal(places), rounding=ROUND_HALF_UP))


def money(value: Decimal) -> str:
    """A USDT value with two decimals and thousands separators: ``1,234.50``."""
    return format(value.quantize(_CENT, rounding=ROUND_HALF_UP), ",f")


def utc_clock(epoch: float) -> str:
    """``HH:MM:SS`` in UTC."""
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%H:%M:%S")


def age_text(seconds: float) -> str:
    """``12 s`` under a minute and a half, else whole minutes."""
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min"


# --------------------------------------------------------------------------- small blocks


def muted(text: str) -> str:
    """A grey note."""
    return f"<div style='color:{_MUTED};font-size:12px;line-height:1.35'>{html.escape(text)}</div>"


def problem(text: str) -> str:
    """A red note with a warning sign, next to the field it is about."""
    return (
        "<div style='color:#c62828;font-size:12px;line-height:1.35'>"
        f"⚠ {html.escape(text)}</div>"
    )


def estimate(text: str) -> str:
    """A note marked ``≈ estimate``."""
    return (
        "<div style='font-size:12px;line-height:1.35'><span style='background:#fff3cd;"
        "color:#7a5d00;border-radius:3px;padding:0 4px'>≈ estimate</span> "
        f"<span style='color:{_MUTED}'>{html.escape(text)}</span></div>"
    )


def status_line(state: FormState, text: str, extra: str = "") -> str:
    """The status line: ``text`` (escaped) in the state's colour, then ``extra`` markup."""
    return (
        f"<div style='color:{COLOURS[state]};line-height:1.35'>{html.escape(text)}{extra}</div>"
    )


def crashed(where: str, message: str) -> str:
    """An internal error, pointing at the traceback in the log below."""
    return (
        f"<span style='color:#c62828'>Internal error in {html.escape(where)}: "
        f"{html.escape(message)} (details below)</span>"
    )


def notice_load_failed(message: str) -> str:
    """The coin list and prices could not be loaded at all."""
    return (
        "<div style='line-height:1.35'><b>Could not load the coin list and "
        f"prices</b> from the exchange: {html.escape(message)}</div>"
    )


def notice_stale(message: str, fetched_at: float) -> str:
    """A refresh failed; the form keeps working on older data."""
    return (
        "<div style='line-height:1.35'>Prices could not be refreshed "
        f"({html.escape(message)}); showing data from {utc_clock(fetched_at)} UTC.</div>"
    )


# --------------------------------------------------------------------------- badge


def host_label(url: str) -> str:
    """``host[:port]`` of a URL, never its user info: ``http://u:pw@h:1/x`` -> ``h:1``."""
    return urlsplit(url.strip()).netloc.rpartition("@")[2]


def acting_for(account: str, profile: str | None = None) -> str:
    """Who a widget acts for: ``account SA***01``, or ``profile main · key MA***01``."""
    if profile:
        return f"profile <b>{html.escape(profile)}</b> · key <code>{html.escape(account)}</code>"
    return f"account <code>{html.escape(account)}</code>"


def badge(
    network: str, account: str, host: str, *, api: str, dry_run: bool = False,
    profile: str | None = None,
) -> str:
    """The header: network in its colour, profile, masked account, host, API, and warnings."""
    colour = NETWORK_COLOURS.get(network, "#455a64")
    who = acting_for(account, profile)
    where = f" · <span style='color:{_MUTED}'>{html.escape(host)}</span>" if host else ""
    api_text = "new loan API" if api == "new" else "legacy loan API"
    warning = " · <b style='color:#c62828'>real funds</b>" if network == "mainnet" else ""
    if dry_run:
        warning += (
            " · <b style='color:#1565c0'>DRY RUN</b> <span style='color:#57606a'>"
            "(Borrow shows the signed request, sends nothing)</span>"
        )
    return (
        f"<span style='background:{colour};color:#fff;border-radius:4px;padding:2px 8px;"
        f"font-weight:700;letter-spacing:.06em;font-size:12px'>{html.escape(network.upper())}"
        f"</span>&nbsp; <b>Crypto loan</b> · {who}{where}"
        f" · <span style='color:{_MUTED}'>{api_text}</span>{warning}"
    )


# --------------------------------------------------------------------------- the fields


def term_tooltip(term: str, hourly_rate: Decimal | None, coin: str, *, offered: bool) -> str:
    """A term button's tooltip: its rate, or why it cannot be picked."""
    if not offered:
        if term == FLEXIBLE:
            return f"{coin} cannot be borrowed flexibly"
        return f"{coin} offers no {term}-day term"
    if hourly_rate is None:  # the new API: the rate is the exchange's (flexible) or yours
        return (
            f"{term_label(term)}: the exchange's flexible rate"
            if term == FLEXIBLE
            else f"{term_label(term)}: at the annual rate you offer"
        )
    return (
        f"{term_label(term)}: {trimmed(hourly_rate * _HUNDRED)} % per hour "
        f"(≈ {percent(hourly_rate * HOURS_PER_YEAR)} % a year)"
    )


def placeholders(q: Quote) -> tuple[str, str]:
    """(loan, collateral) placeholders: the estimate of the field that is not driving."""
    loan = (
        f"≈ {trimmed(q.loan_amount)}"
        if q.driver == "collateral" and q.loan_amount is not None
        else "amount to borrow"
    )
    collateral = (
        f"≈ {trimmed(q.collateral_amount)}"
        if q.driver == "loan" and q.collateral_amount is not None
        else "or collateral to pledge"
    )
    return loan, collateral


def loan_hint(q: Quote, loan: LoanCoinInfo, coll: CollateralCoinInfo, limits: Limits | None) -> str:
    """The note right of the loan amount: its problem, the estimate's basis, or the bounds."""
    if q.loan_problem:
        return problem(q.loan_problem)
    if q.driver == "collateral" and q.loan_amount is not None:
        return estimate(
            f"the most this collateral supports at {percent(coll.initial_ltv, '1')} % LTV, "
            f"rounded down to {loan.accuracy} decimals"
        )
    bounds = f"min {grouped(loan.min_amount)}"
    if loan.max_amount is not None:
        bounds += f" · max {grouped(loan.max_amount)}"
    if limits is not None and limits.max_loan is not None:
        bounds += f" · account max {grouped(limits.max_loan)}"
    return muted(f"{bounds} {loan.currency} · {loan.accuracy} decimals")


def collateral_hint(
    q: Quote, loan: LoanCoinInfo, coll: CollateralCoinInfo, limits: Limits | None
) -> str:
    """The note right of the collateral amount: problem, estimate basis, or what is available."""
    if q.collateral_problem:
        return problem(q.collateral_problem)
    if q.driver == "loan" and q.collateral_amount is not None:
        if q.api == "new":
            return estimate(
                f"at initial LTV {percent(coll.initial_ltv, '1')} %; the exchange sizes the "
                "pledge to its pool when the order is sent"
            )
        return estimate(
            f"needed at initial LTV {percent(coll.initial_ltv, '1')} %, "
            f"rounded up to {coll.accuracy} decimals"
        )
    info = f"{coll.accuracy} decimals"
    if limits is not None and limits.max_collateral is not None:
        available = trim(limits.max_collateral.quantize(coll.step, ROUND_DOWN))
        info = f"up to {grouped(available)} {coll.currency} available · {info}"
    elif coll.max_limit is not None:
        info = f"limit {grouped(coll.max_limit)} {coll.currency} · {info}"
    return muted(info)


# --------------------------------------------------------------------------- the preview


def _rate_row(q: Quote, term: str) -> tuple[str, str] | None:
    label = f"Rate ({term_label(term).lower()})"
    if q.offered_rate is not None:
        return (
            label,
            f"<b>{percent(q.offered_rate)} % a year</b> offered "
            f"<span style='color:{_MUTED}'>(a fixed order matches lenders at this rate or "
            "waits)</span>",
        )
    if q.hourly_rate is None:
        if q.api == "new" and term == FLEXIBLE:
            return (label, f"<span style='color:{_MUTED}'>the exchange's flexible rate</span>")
        return None
    return (
        label,
        f"{trimmed(q.hourly_rate * _HUNDRED)} % per hour = "
        f"<b>{percent(q.hourly_rate * HOURS_PER_YEAR)} % a year</b> "
        f"<span style='color:{_MUTED}'>(annualised: hourly × 24 × 365)</span>",
    )


def preview(
    q: Quote,
    market: MarketData,
    loan: LoanCoinInfo,
    coll: CollateralCoinInfo,
    term: str,
    *,
    age: float,
    stale: bool,
    notes: Iterable[str] = (),
) -> str:
    """The preview table: collateral, amount received, LTV, rate, interest, prices used."""
    rows: list[tuple[str, str]] = []
    loan_price = market.prices.get(loan.currency)
    coll_price = market.prices.get(coll.currency)
    if q.collateral_amount is not None:
        value = (
            f" (≈ {money(q.collateral_amount * coll_price)} USDT)" if coll_price is not None else ""
        )
        verb = "≈ " if q.driver == "loan" else ""
        locked = f"<b>{verb}{grouped(q.collateral_amount)} {coll.currency}</b>{value}"
        rows.append(("Collateral locked", locked))
    if q.loan_amount is not None:
        verb = "≈ " if q.driver == "collateral" else ""
        rows.append(("You receive", f"<b>{verb}{grouped(q.loan_amount)} {loan.currency}</b>"))
    thresholds = []
    if coll.margin_call_ltv is not None:
        thresholds.append(f"margin call at {percent(coll.margin_call_ltv)} %")
    if coll.liquidation_ltv is not None:
        thresholds.append(f"liquidation at {percent(coll.liquidation_ltv)} %")
    if q.ltv is not None:
        colour = "#2e7d32"
        if coll.margin_call_ltv is not None and q.ltv >= coll.margin_call_ltv:
            colour = "#c62828"
        ltv = (q.ltv * _HUNDRED).quantize(_CENT, rounding=ROUND_HALF_UP)
        ltv_text = f"<b style='color:{colour}'>{ltv} %</b>"
        if q.liquidation_price is not None and coll_price:
            drop = trimmed(
                ((1 - q.liquidation_price / coll_price) * _HUNDRED).quantize(Decimal("0.1"))
            )
            thresholds.append(
                f"liquidated if {coll.currency} falls {drop} % to {money(q.liquidation_price)} USDT"
            )
    else:
        ltv_text = f"{percent(coll.initial_ltv)} % at start (initial LTV)"
    rows.append(("LTV", f"{ltv_text} · " + " · ".join(thresholds)))
    rate = _rate_row(q, term)
    if rate is not None:
        rows.append(rate)
    if q.interest is not None:
        span = "per day while open" if term == FLEXIBLE else f"over {term} days"
        rows.append(("Interest", f"≈ {grouped(q.interest)} {loan.currency} {span}"))
    price_parts = [
        f"{c} {grouped(p)} USDT"
        for c, p in ((coll.currency, coll_price), (loan.currency, loan_price))
        if p is not None and c != "USDT"
    ]
    return preview_box(rows, price_parts, market.fetched_at, age, stale, [*q.warnings, *notes])


def preview_box(rows: list[tuple[str, str]], prices: list[str], fetched_at: float, age: float,
                stale: bool, notes: list[str], css_class: str = "") -> str:
    """The preview's grey box: ``rows`` (label, HTML), then the prices used with their age
    (orange when ``stale``), then ``notes``."""
    when = f"as of {utc_clock(fetched_at)} UTC ({age_text(age)} ago)"
    if stale:
        when = f"<span style='color:#ef6c00'>{when}: stale, press Refresh</span>"
    rows = [*rows, ("Price used", " · ".join([*prices, when]))]
    if notes:
        rows.append(("Note", muted("; ".join(notes))))
    body = "".join(
        f"<tr><td style='color:{_MUTED};padding:1px 12px 1px 0;white-space:nowrap;"
        f"vertical-align:top'>{html.escape(k)}</td><td style='padding:1px 0'>{v}</td></tr>"
        for k, v in rows
    )
    klass = f"class='{css_class}' " if css_class else ""
    return (
        f"<div {klass}style='background:#f6f8fa;border:1px solid #d0d7de;border-radius:6px;"
        "padding:6px 10px;margin:4px 0;font-size:12.5px;line-height:1.45'>"
        f"<table style='border-collapse:collapse'>{body}</table></div>"
    )


# --------------------------------------------------------------------------- buttons and words


def describe(request: BorrowRequest, q: Quote) -> str:
    """``550 USDT against ≈ 0.01057693 BTC, 30 days``: the request with the quote's estimate."""
    if request.loan_amount is not None:
        loan = f"{grouped(request.loan_amount)} {request.loan_currency}"
    elif q.loan_amount is not None:
        loan = f"≈ {grouped(q.loan_amount)} {request.loan_currency}"
    else:
        loan = request.loan_currency
    if request.collateral_amount is not None:
        coll = f"{grouped(request.collateral_amount)} {request.collateral_currency}"
    elif q.api == "new" and q.collateral_amount == 0:
        coll = "the pool"  # the pool already covers the loan: nothing more is pledged
    elif q.collateral_amount is not None:
        coll = f"≈ {grouped(q.collateral_amount)} {request.collateral_currency}"
    else:
        coll = request.collateral_currency
    term = "flexible" if request.term == FLEXIBLE else f"{request.term} days"
    if request.annual_rate is not None:
        term += f" at {percent(request.annual_rate)} % a year"
    return f"{loan} against {coll}, {term}"


def borrow_label(q: Quote, network: str) -> str:
    """The Borrow button's text: what the click would borrow."""
    request = q.request
    if request is None:
        return "Borrow"
    if request.loan_amount is not None:
        label = f"Borrow {grouped(request.loan_amount)} {request.loan_currency}"
    elif q.loan_amount is not None:
        label = f"Borrow ≈ {grouped(q.loan_amount)} {request.loan_currency}"
    else:
        label = f"Borrow {request.loan_currency}"
    return label + (" on MAINNET…" if network == "mainnet" else "")


def confirm_label(request: BorrowRequest, q: Quote) -> str:
    """The mainnet Confirm button's text, naming amount, coin and network."""
    if request.loan_amount is not None:
        what = f"{grouped(request.loan_amount)} {request.loan_currency}"
    else:
        assert request.collateral_amount is not None
        what = (
            (f"≈ {grouped(q.loan_amount)} " if q.loan_amount is not None else "")
            + f"{request.loan_currency} against "
            f"{grouped(request.collateral_amount)} {request.collateral_currency}"
        )
    return f"Confirm: borrow {what} on MAINNET"


def dry_run(method: str, url: str, headers: Mapping[str, str], body: str, note: str = "") -> str:
    """A signed request that was not sent: method, URL, redacted headers, exact body, and
    what sending would add (``note``)."""
    lines = [f"{method} {url}", *(f"{k}: {v}" for k, v in headers.items())]
    if body:
        lines += ["", body]
    if note:
        lines += ["", f"Note: {note}"]
    return (
        "<pre class='lw-dry-run' style='font-size:11.5px;background:#f6f8fa;border:1px solid "
        "#d0d7de;border-radius:6px;padding:4px 8px;margin:4px 0;white-space:pre-wrap'>"
        f"{html.escape(chr(10).join(lines))}</pre>"
    )


# --------------------------------------------------------------------------- orders table


def orders_table(rows: list[LedgerRow]) -> str:
    """The ledger's last rows, newest first, with status colours."""
    if not rows:
        return muted("No orders yet. Orders sent here, by %borrow or LoanClient show up here.")
    head = "".join(
        f"<th style='text-align:left;padding:2px 8px;border-bottom:1px solid #d0d7de'>{h}</th>"
        for h in ORDER_COLUMNS
    )
    body = []
    for row in reversed(rows):
        when = datetime.fromtimestamp(row.submitted_at_ms / 1000, tz=timezone.utc)
        loan = (
            f"{trimmed(row.loan_amount)} {row.loan_currency}"
            if row.loan_amount is not None
            else f"{row.loan_currency}"
        )
        coll = (
            f"{trimmed(row.collateral_amount)} {row.collateral_currency}"
            if row.collateral_amount is not None
            else f"{row.collateral_currency}"
        )
        term = "flexible" if row.term in (None, FLEXIBLE) else f"{row.term} d"
        detail = row.order_id or (
            f"{row.ret_code} {row.ret_msg}" if row.ret_code else row.ret_msg or ""
        )
        colour = STATUS_COLOURS.get(row.status, "#24292f")
        plain_cells = (
            str(row.id), f"{when:%Y-%m-%d %H:%M:%S}", row.network, row.source, loan, coll, term,
        )
        cells = [html.escape(c) for c in plain_cells]
        cells.append(f"<b style='color:{colour}'>{html.escape(row.status)}</b>")
        cells.append(html.escape(detail[:80]))
        body.append("<tr>" + "".join(f"<td style='padding:1px 8px'>{c}</td>" for c in cells)
                    + "</tr>")
    return (
        "<div style='font-size:12px;line-height:1.5;margin-top:4px'><b>Recent orders</b> "
        f"<span style='color:{_MUTED}'>(ledger, newest first)</span>"
        "<table class='lw-orders-table' style='border-collapse:collapse;margin-top:2px'>"
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
    )
