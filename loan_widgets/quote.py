"""Loan quotes: what a borrow will lock, cost and risk, from coin data already at hand.

Pure ``Decimal`` arithmetic, no clock and no network: the coin tables
(``loanable-data``, ``collateral-data``), prices and the account's limits are
parsed here from what :mod:`loan_widgets.marketdata` fetched and keeps, so the
widget can recompute a quote on every keystroke:

* a loan amount gives the collateral it needs at the collateral coin's
  ``initialLTV`` and the current price, rounded **up** to ``collateralAccuracy``;
* a collateral amount gives the largest loan it supports, rounded **down**
  to the loan coin's ``borrowingAccuracy``;
* both are checked against the coin's and the account's bounds and precision,
  and priced: resulting LTV against margin-call and liquidation LTV, hourly and
  annualised rate for the term (annualised = hourly x 24 x 365), interest.

``api="new"`` quotes for Bybit's new loan API: its own terms (60 days
included), a loan amount always (the exchange sizes the pooled collateral),
and for a fixed term the annual rate the borrower offers.

UI-free: no IPython, no ipywidgets.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, ROUND_UP, Decimal
from typing import Any

from .errors import LoanWidgetsError, ValidationError
from .numbers import grouped, places, trim, wire_decimal
from .orders import BorrowRequest, parse_amount, parse_rate
from .terms import FLEXIBLE, LEGACY_TERMS, NEW_API_TERMS

__all__ = [
    "APIS",
    "HOURS_PER_YEAR",
    "CollateralCoinInfo",
    "Limits",
    "LoanCoinInfo",
    "MarketData",
    "Quote",
    "quote",
    "terms_for",
]

HOURS_PER_YEAR = 24 * 365
APIS = ("legacy", "new")
"""The loan APIs a quote can be for."""

_ONE = Decimal(1)


# --------------------------------------------------------------------------- market data


def _step(digits: int) -> Decimal:
    return _ONE.scaleb(-digits)


@dataclass(frozen=True)
class LoanCoinInfo:
    """A borrowable coin as ``loanable-data`` describes it (``None`` rate: term not offered)."""

    currency: str
    accuracy: int
    min_amount: Decimal
    max_amount: Decimal | None
    rates: Mapping[str, Decimal | None]  # "flexible", "7" ... "180" -> hourly rate
    step: Decimal = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "step", _step(self.accuracy))

    @classmethod
    def from_wire(cls, item: Mapping[str, Any]) -> LoanCoinInfo:
        """Parse one ``loanable-data`` list item."""
        rates = {"flexible": wire_decimal(item.get("flexibleHourlyInterestRate"))}
        for term in LEGACY_TERMS:
            rates[term] = wire_decimal(item.get(f"hourlyInterestRate{term}D"))
        return cls(
            currency=str(item["currency"]),
            accuracy=int(item.get("borrowingAccuracy", 8)),
            min_amount=wire_decimal(item.get("minBorrowingAmount")) or Decimal(0),
            max_amount=wire_decimal(item.get("maxBorrowingAmount")),
            rates=rates,
        )


@dataclass(frozen=True)
class CollateralCoinInfo:
    """A collateral coin as ``collateral-data`` describes it."""

    currency: str
    accuracy: int
    initial_ltv: Decimal
    margin_call_ltv: Decimal | None
    liquidation_ltv: Decimal | None
    max_limit: Decimal | None
    step: Decimal = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "step", _step(self.accuracy))

    @classmethod
    def from_wire(cls, item: Mapping[str, Any]) -> CollateralCoinInfo:
        """Parse one ``collateral-data`` list item."""
        initial = wire_decimal(item.get("initialLTV"))
        if initial is None or initial <= 0:
            raise ValueError(f"collateral {item.get('currency')!r} has no initialLTV")
        return cls(
            currency=str(item["currency"]),
            accuracy=int(item.get("collateralAccuracy", 8)),
            initial_ltv=initial,
            margin_call_ltv=wire_decimal(item.get("marginCallLTV")),
            liquidation_ltv=wire_decimal(item.get("liquidationLTV")),
            max_limit=wire_decimal(item.get("maxLimit")),
        )


@dataclass(frozen=True)
class Limits:
    """This account's limits for one coin pair (``borrowable-collateralisable-number``)."""

    min_loan: Decimal | None
    max_loan: Decimal | None
    min_collateral: Decimal | None
    max_collateral: Decimal | None
    fetched_at: float

    @classmethod
    def from_wire(cls, result: Mapping[str, Any], fetched_at: float) -> Limits:
        """Parse the endpoint's ``result``."""
        return cls(
            min_loan=wire_decimal(result.get("minLoanAmount")),
            max_loan=wire_decimal(result.get("maxLoanAmount")),
            min_collateral=wire_decimal(result.get("minCollateralAmount")),
            max_collateral=wire_decimal(result.get("maxCollateralAmount")),
            fetched_at=fetched_at,
        )


@dataclass(frozen=True)
class MarketData:
    """Coin tables and spot prices (USDT), as fetched together at ``fetched_at`` (epoch s)."""

    loan_coins: Mapping[str, LoanCoinInfo]
    collateral_coins: Mapping[str, CollateralCoinInfo]
    prices: Mapping[str, Decimal]
    fetched_at: float

    @classmethod
    def from_wire(
        cls,
        loan_items: Iterable[Mapping[str, Any]],
        collateral_items: Iterable[Mapping[str, Any]],
        prices: Mapping[str, Decimal],
        fetched_at: float,
    ) -> MarketData:
        """Parse ``loanable-data`` and ``collateral-data`` items; malformed rows are left out.

        Raises :class:`~loan_widgets.errors.LoanWidgetsError` when either table
        ends up empty: there is nothing to quote with.
        """
        loan_coins = {}
        for item in loan_items:
            with contextlib.suppress(KeyError, TypeError, ValueError, ArithmeticError):
                info = LoanCoinInfo.from_wire(item)
                loan_coins[info.currency] = info
        collateral_coins = {}
        for item in collateral_items:
            with contextlib.suppress(KeyError, TypeError, ValueError, ArithmeticError):
                cinfo = CollateralCoinInfo.from_wire(item)
                collateral_coins[cinfo.currency] = cinfo
        if not loan_coins or not collateral_coins:
            raise LoanWidgetsError("the exchange listed no loan coins or no collateral coins")
        return cls(loan_coins, collateral_coins, dict(prices), fetched_at)

    def age(self, now: float) -> float:
        """Seconds between the fetch and ``now`` (epoch s)."""
        return now - self.fetched_at


def terms_for(api: str) -> tuple[str, ...]:
    """The terms a loan API can carry, flexible first (``legacy``: no 60 days)."""
    if api not in APIS:
        raise ValidationError(f"api {api!r} is not known: use legacy or new")
    return (FLEXIBLE, *(NEW_API_TERMS if api == "new" else LEGACY_TERMS))


# --------------------------------------------------------------------------- the quote


@dataclass(frozen=True)
class Quote:
    """What the form would send and what it would cost, computed without the network.

    ``driver`` is the field typed last (``"loan"``, ``"collateral"`` or ``None``);
    the other amount is an estimate. ``problems`` lists every reason the form
    cannot be sent, first the most important; ``request`` is set only when
    there is none. ``offered_rate`` is the annual rate a fixed new-API order
    offers (``None`` otherwise); ``term_problem`` says why the term (or, on
    the new API, a fixed order's rate) cannot be used.
    """

    driver: str | None
    loan_amount: Decimal | None = None
    collateral_amount: Decimal | None = None
    loan_problem: str = ""
    collateral_problem: str = ""
    problems: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    request: BorrowRequest | None = None
    ltv: Decimal | None = None
    hourly_rate: Decimal | None = None
    interest: Decimal | None = None
    liquidation_price: Decimal | None = None
    api: str = "legacy"
    offered_rate: Decimal | None = None
    term_problem: str = ""

    @property
    def valid(self) -> bool:
        """True when the form can be sent."""
        return self.request is not None

    @property
    def annual_rate(self) -> Decimal | None:
        """Hourly rate × 24 × 365 (simple, not compounded); the offered rate when there is one."""
        if self.offered_rate is not None:
            return self.offered_rate
        return None if self.hourly_rate is None else self.hourly_rate * HOURS_PER_YEAR


def _amount(text: str, what: str) -> tuple[Decimal | None, str]:
    try:
        return trim(parse_amount(text, what)), ""
    except ValidationError as error:
        return None, str(error)


def _rate(
    loan: LoanCoinInfo, term: str, api: str, rate_text: str
) -> tuple[Decimal | None, Decimal | None, str]:
    """(hourly rate, annual rate offered, problem) for ``term`` on ``api``."""
    if term not in terms_for(api):
        return None, None, f"the {api} loan API offers no {term}-day term: pick another"
    if api == "legacy":
        rate = loan.rates.get(term)
        if rate is None:
            return None, None, (
                f"{loan.currency} cannot be borrowed flexibly: pick a fixed term"
                if term == FLEXIBLE
                else f"{loan.currency} offers no {term}-day term: pick another"
            )
        return rate, None, ""
    if term == FLEXIBLE:  # the new API's flexible rate is the exchange's, set when borrowed
        return None, None, ""
    if not rate_text.strip():
        return None, None, (
            "a fixed term on the new loan API needs the annual rate you offer (e.g. 0.05 = 5 %)"
        )
    try:
        annual = parse_rate(rate_text.strip())
    except ValidationError as error:
        return None, None, str(error)
    return annual / HOURS_PER_YEAR, annual, ""


def quote(
    market: MarketData | None,
    loan_coin: str | None,
    collateral_coin: str | None,
    term: str,
    loan_text: str,
    collateral_text: str,
    driver: str | None,
    limits: Limits | None = None,
    *,
    api: str = "legacy",
    rate_text: str = "",
) -> Quote:
    """The linked-amount arithmetic: pure ``Decimal`` work on data at hand.

    Typing a loan amount estimates the collateral it needs at the collateral
    coin's ``initialLTV`` and the current prices, rounded up to
    ``collateralAccuracy``; typing a collateral amount estimates the largest
    loan it supports, rounded down to ``borrowingAccuracy``. Bounds (coin
    min/max, ``maxLimit``, the account's limits) and precision are checked.

    ``api="new"`` checks the term against the new API's terms and, for a
    fixed term, reads the annual rate offered from ``rate_text``; the new
    API needs a loan amount (the exchange sizes the pooled collateral).
    """
    if market is None:
        return Quote(driver, problems=("coin data is not loaded",))
    loan = market.loan_coins.get(loan_coin or "")
    coll = market.collateral_coins.get(collateral_coin or "")
    if loan is None or coll is None:
        missing = loan_coin if loan is None else collateral_coin
        return Quote(driver, problems=(f"{missing or 'no coin'} is not offered here",))
    problems: list[str] = []
    warnings: list[str] = []
    if loan.currency == coll.currency:
        problems.append(f"loan and collateral are both {loan.currency}: pledge another coin")
    rate, annual_rate, term_problem = _rate(loan, term, api, rate_text)
    if term_problem:
        problems.append(term_problem)
    if api == "new" and driver == "collateral":
        problems.append(
            "the new loan API needs a loan amount: type how much to borrow "
            "(the exchange sizes the pooled collateral)"
        )
    loan_price = market.prices.get(loan.currency)
    coll_price = market.prices.get(coll.currency)
    priced = bool(loan_price and coll_price)
    if not priced:
        unpriced = loan.currency if not loan_price else coll.currency
        warnings.append(f"no USDT price for {unpriced}: amounts cannot be estimated")

    loan_amount = collateral_amount = None
    loan_problem = collateral_problem = ""
    if driver == "loan":
        loan_amount, loan_problem = _amount(loan_text, "loan amount")
        if loan_amount is not None and places(loan_amount) > loan.accuracy:
            loan_problem = f"{loan.currency} allows at most {loan.accuracy} decimal places"
        if loan_amount is not None and priced:
            assert loan_price is not None and coll_price is not None
            need = loan_amount * loan_price / (coll.initial_ltv * coll_price)
            collateral_amount = need.quantize(coll.step, rounding=ROUND_UP)
    elif driver == "collateral":
        collateral_amount, collateral_problem = _amount(collateral_text, "collateral amount")
        if collateral_amount is not None and places(collateral_amount) > coll.accuracy:
            collateral_problem = (
                f"{coll.currency} allows at most {coll.accuracy} decimal places"
            )
        if collateral_amount is not None and priced:
            assert loan_price is not None and coll_price is not None
            supports = collateral_amount * coll_price * coll.initial_ltv / loan_price
            loan_amount = supports.quantize(loan.step, rounding=ROUND_DOWN)

    estimate = "≈ " if driver == "collateral" else ""
    if loan_amount is not None and not loan_problem:
        shown = f"{estimate}{grouped(loan_amount)} {loan.currency}"
        if loan_amount < loan.min_amount:
            loan_problem = f"{shown} is below the minimum loan of {grouped(loan.min_amount)}"
        elif loan.max_amount is not None and loan_amount > loan.max_amount:
            loan_problem = f"{shown} is above the maximum loan of {grouped(loan.max_amount)}"
        elif limits is not None and limits.max_loan is not None and loan_amount > limits.max_loan:
            loan_problem = (
                f"{shown} is more than this account can borrow now "
                f"({grouped(limits.max_loan)} {loan.currency})"
            )
        elif limits is not None and limits.min_loan is not None and loan_amount < limits.min_loan:
            loan_problem = (
                f"{shown} is below this account's minimum ({grouped(limits.min_loan)})"
            )
    estimate = "≈ " if driver == "loan" else ""
    if collateral_amount is not None and not collateral_problem:
        shown = f"{estimate}{grouped(collateral_amount)} {coll.currency}"
        if coll.max_limit is not None and collateral_amount > coll.max_limit:
            collateral_problem = (
                f"{shown} is above the collateral limit of {grouped(coll.max_limit)}"
            )
        elif (
            limits is not None
            and limits.max_collateral is not None
            and collateral_amount > limits.max_collateral
        ):
            collateral_problem = (
                f"{shown} is more than this account can pledge "
                f"({grouped(trim(limits.max_collateral.quantize(coll.step, ROUND_DOWN)))}"
                f" {coll.currency} available)"
            )
    # The driving field's own problem first: it is what the user just typed.
    ordered = (
        (loan_problem, collateral_problem)
        if driver != "collateral"
        else (collateral_problem, loan_problem)
    )
    problems[:0] = [p for p in ordered if p]
    if driver is None:
        problems.append("enter a loan amount or a collateral amount")

    ltv = interest = liquidation_price = None
    if loan_amount and collateral_amount and priced:
        assert loan_price is not None and coll_price is not None
        debt_value = loan_amount * loan_price
        ltv = debt_value / (collateral_amount * coll_price)
        if coll.liquidation_ltv:
            liquidation_price = debt_value / (collateral_amount * coll.liquidation_ltv)
    if loan_amount and rate is not None:
        days = 1 if term == FLEXIBLE else int(term)
        interest = (loan_amount * rate * 24 * days).quantize(loan.step, rounding=ROUND_UP)

    request = None
    if not problems:
        try:
            request = BorrowRequest(
                loan.currency,
                coll.currency,
                loan_amount if driver == "loan" else None,
                collateral_amount if driver == "collateral" else None,
                term,
                annual_rate,
            )
        except ValidationError as error:
            problems.append(str(error))
    return Quote(
        driver=driver,
        loan_amount=loan_amount,
        collateral_amount=collateral_amount,
        loan_problem=loan_problem,
        collateral_problem=collateral_problem,
        problems=tuple(problems),
        warnings=tuple(warnings),
        request=request,
        ltv=ltv,
        hourly_rate=rate,
        interest=interest,
        liquidation_price=liquidation_price,
        api=api,
        offered_rate=annual_rate,
        term_problem=term_problem,
    )
