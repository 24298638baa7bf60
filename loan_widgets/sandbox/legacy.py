"""The legacy book: Bybit's legacy crypto-loan orders (``/v5/crypto-loan/...``), transport-free.

One loan order has one collateral coin. :class:`LegacyBook` keeps the open
orders, the closed ones, repayments and adjustments, and the rules that run
on them as server time passes; the endpoints that read and change it are in
:mod:`loan_widgets.sandbox.legacy_endpoints`.

* **Interest** is charged per hour of server time, on the unpaid principal,
  one hour at a time: each hour's charge is ``principal x hourly rate``
  rounded up to 8 decimals (the docs' completed-loan example: 1 ETH at
  0.0000010241 for 5 hours repaid ``0.00000515`` = 5 x 0.00000103). Hour
  marks fall every whole hour after the borrow time and are processed when
  server time passes them, whether or not anyone reads the loan. A flexible
  loan runs at the coin's *current* flexible rate (``set_flexible_rate``
  settles the hours before a change at the old rate), a fixed loan at the rate
  locked when it was opened.
* **Maturity**: ``expirationTime`` is the start of the borrow hour plus the
  term minus one second (the docs' example: borrowed 1728546174028 for 7
  days, due 1729148399000). An hour that starts before it is charged at the
  rate; every later hour as penalty interest at 3x the rate.
* A repayment settles **penalty interest first, then interest, then
  principal**. A partial repayment releases no collateral; the one that
  clears the debt returns all of it (``collateralReturn``) and moves the loan
  to ``borrow-history`` with ``status`` 1. More than the debt is 177010.
* Collateral can be reduced by at most ``max-collateral-amount``: what keeps
  the debt at or under ``initialLTV`` (177013 beyond it).
* LTV is ``debt x loan price / (collateral x collateral price)``, debt =
  principal + interest + penalty, re-evaluated on every price change and at
  every hour mark: at ``liquidationLTV`` the loan is **liquidated** (just
  enough collateral, rounded up to ``collateralAccuracy``, is sold at the
  sandbox price to repay everything, the rest returns to Funding,
  ``borrow-history`` ``status`` 2, a ``repayment-history`` row with
  ``repayType`` ``"2"``); at ``marginCallLTV`` it is flagged
  (``Loan.margin_call``, a :class:`RiskEvent` in ``margin_calls``, once per
  crossing); a fixed loan unpaid 48 h past its due time is liquidated too.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import ROUND_UP, Decimal
from typing import Any, Protocol

from . import market
from .wire import DAY_MS, HOUR_MS, RET_MSGS, ApiError, ById, fmt, required, rounded

__all__ = ["LEGACY_BORROW_DEPRECATED", "LegacyBook", "Loan", "RiskEvent"]

INTEREST_PLACES = 8
OVERDUE_LIQUIDATION_MS = 48 * HOUR_MS
LEGACY_BORROW_DEPRECATED = (
    "The legacy crypto loan borrow API is deprecated. Please use "
    "/v5/crypto-loan-flexible/borrow or /v5/crypto-loan-fixed/borrow."
)
"""The retMsg of a legacy Borrow refused under ``legacy_borrow="reject"``."""


class Account(Protocol):
    """What a book needs from the account it belongs to."""

    wallet: dict[str, Decimal]
    prices: dict[str, Decimal]
    margin_calls: list[Any]
    liquidations: list[Any]

    def new_id(self) -> str: ...


@dataclass(frozen=True)
class RiskEvent:
    """A margin call or a liquidation, as recorded in ``margin_calls`` / ``liquidations``.

    ``book`` is ``"legacy"`` (``ref`` = the loan's orderId) or ``"new"`` (``ref`` =
    ``""`` for the whole account, or the loanId of an overdue fixed contract);
    ``ltv`` is the LTV that triggered it (0 for an overdue liquidation);
    ``reason`` is ``"ltv"`` or ``"overdue"``; for liquidations ``detail`` holds
    ``sold``, ``returned`` and ``repaid``: Decimals for a legacy loan (in its
    collateral, collateral and loan coin), ``{coin: Decimal}`` dicts for the new book.
    """

    time: int
    kind: str  # "margin_call" or "liquidation"
    book: str
    ref: str
    ltv: Decimal
    reason: str = "ltv"
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class Loan:
    """One loan order. Amounts are Decimal; times are server ms."""

    order_id: str
    loan_currency: str
    collateral_currency: str
    principal: Decimal
    collateral: Decimal
    term: str  # "" for flexible
    locked_rate: Decimal | None  # fixed loans keep their rate; flexible follow the table
    borrow_time: int
    initial_loan: Decimal
    initial_collateral: Decimal
    interest: Decimal = Decimal(0)
    penalty: Decimal = Decimal(0)
    repaid_interest: Decimal = Decimal(0)
    repaid_penalty: Decimal = Decimal(0)
    accrued_to: int = 0
    status: int = 0  # 0 ongoing, 1 fully repaid by the user, 2 fully repaid by liquidation
    margin_call: bool = False  # LTV is at or above marginCallLTV (and below liquidationLTV)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def expiration(self) -> int | None:
        """Maturity in ms: start of the borrow hour + term - 1 s; ``None`` when flexible."""
        if not self.term:
            return None
        return self.borrow_time // HOUR_MS * HOUR_MS + int(self.term) * DAY_MS - 1000

    @property
    def debt(self) -> Decimal:
        """Principal plus interest plus penalty interest still owed."""
        return self.principal + self.interest + self.penalty


class LegacyBook:
    """The legacy loan orders of one account (see the module docstring).

    ``orders`` (open) and ``completed`` map orderId -> :class:`Loan`, sorted by
    id; ``repayments`` and ``adjustments`` are the history rows, oldest first.
    """

    def __init__(self, account: Account) -> None:
        self.account = account
        self.loan_coins: dict[str, market.LoanCoin] = dict(market.LOAN_COINS)
        self.collateral_coins: dict[str, market.CollateralCoin] = dict(market.COLLATERAL_COINS)
        self.orders: ById = ById()
        """Ongoing (not fully repaid) loans by orderId."""
        self.completed: ById = ById()
        """Fully repaid loans by orderId."""
        self.repayments: list[dict[str, Any]] = []
        self.adjustments: list[dict[str, Any]] = []
        self.repayments_by_id: ById = ById()
        self.adjustments_by_id: ById = ById()
        self.repayments_by_order: dict[str, list[dict[str, Any]]] = {}
        self.adjustments_by_order: dict[str, list[dict[str, Any]]] = {}
        self.pledged_by_coin: dict[str, Decimal] = {}
        self.timeline: list[tuple[int, str]] = []  # (next hour mark, orderId), a heap

    # -- lookups ---------------------------------------------------------------------

    def price(self, coin: str, code: int) -> Decimal:
        """The spot price of ``coin``, or retCode ``code`` when it has none."""
        found = self.account.prices.get(coin)
        if found is None:
            raise ApiError(code)
        return found

    def loan_coin(self, coin: str) -> market.LoanCoin:
        """A borrowable coin, or 177006."""
        found = self.loan_coins.get(coin)
        if found is None:
            raise ApiError(177006, f"{RET_MSGS[177006]} ({coin})")
        return found

    def collateral_coin(self, coin: str) -> market.CollateralCoin:
        """A collateral coin, or 177017."""
        found = self.collateral_coins.get(coin)
        if found is None:
            raise ApiError(177017, f"{RET_MSGS[177017]} ({coin})")
        return found

    def pledged(self, coin: str) -> Decimal:
        """Collateral of ``coin`` locked in open loans (kept as a running total)."""
        return self.pledged_by_coin.get(coin, Decimal(0))

    def pledge(self, coin: str, delta: Decimal) -> None:
        """Add ``delta`` (negative: release) to the running total of ``coin`` pledged."""
        self.pledged_by_coin[coin] = self.pledged(coin) + delta

    def rate_of(self, loan: Loan) -> Decimal:
        """The loan's hourly rate: locked (fixed) or the coin's current flexible rate."""
        if loan.locked_rate is not None:
            return loan.locked_rate
        coin = self.loan_coins.get(loan.loan_currency)
        rate = coin.flexible_rate if coin is not None else None
        return rate if rate is not None else Decimal(0)

    def ltv(self, loan: Loan) -> Decimal:
        """Debt value over collateral value (0 when the collateral is worth nothing)."""
        prices = self.account.prices
        value = loan.collateral * prices.get(loan.collateral_currency, Decimal(0))
        if value <= 0:
            return Decimal(0)
        return loan.debt * prices.get(loan.loan_currency, Decimal(0)) / value

    def min_collateral(self, loan: Loan) -> Decimal:
        """The collateral that keeps the debt at ``initialLTV``, rounded up."""
        coin = self.collateral_coins[loan.collateral_currency]
        need = (loan.debt * self.price(loan.loan_currency, 177006)
                / (coin.initial_ltv * self.price(loan.collateral_currency, 177017)))
        return rounded(need, coin.collateral_accuracy, ROUND_UP)

    def max_reduction(self, loan: Loan) -> Decimal:
        """``max-collateral-amount`` of one loan."""
        return max(Decimal(0), loan.collateral - self.min_collateral(loan))

    def order(self, params: Mapping[str, Any], now: int) -> Loan:
        """The open loan named by ``orderId`` (settled to ``now``), or 177005."""
        order_id = required(params, "orderId")
        loan = self.orders.get(order_id) if order_id.isascii() and order_id.isdigit() else None
        if loan is None:
            raise ApiError(177005)
        self.settle(loan, now)
        return loan

    # -- opening, interest, time -----------------------------------------------------

    def open(self, loan: Loan) -> None:
        """Add a new loan and schedule its first hour mark."""
        self.orders[loan.order_id] = loan
        self.pledge(loan.collateral_currency, loan.collateral)
        heapq.heappush(self.timeline, (loan.accrued_to + HOUR_MS, loan.order_id))

    def settle(self, loan: Loan, now: int) -> None:
        """Charge every whole hour since the last settlement, one rounded hour at a time."""
        hours = (now - loan.accrued_to) // HOUR_MS
        if hours <= 0:
            return
        rate = self.rate_of(loan)
        per_hour = rounded(loan.principal * rate, INTEREST_PLACES, ROUND_UP)
        normal = hours
        due = loan.expiration
        if due is not None:
            ahead = due - loan.accrued_to  # hours starting before the due time are normal
            normal = 0 if ahead <= 0 else min(hours, -(-ahead // HOUR_MS))
        if normal:
            loan.interest += per_hour * normal
        if hours > normal:
            penalty = rounded(loan.principal * rate * 3, INTEREST_PLACES, ROUND_UP)
            loan.penalty += penalty * (hours - normal)
        loan.accrued_to += hours * HOUR_MS

    def catch_up(self, now: int) -> None:
        """Process every loan whose next hour mark is due (O(1) when none is)."""
        timeline = self.timeline
        while timeline and timeline[0][0] <= now:
            _, order_id = heapq.heappop(timeline)
            loan = self.orders.get(order_id)
            if loan is None:
                continue  # repaid or liquidated since it was scheduled
            self.settle(loan, now)
            self.check(loan, now)
            if loan.status == 0:
                heapq.heappush(timeline, (loan.accrued_to + HOUR_MS, order_id))

    def set_flexible_rate(self, coin: str, hourly_rate: Decimal, now: int) -> None:
        """Settle the flexible loans in ``coin`` at the old rate, then switch."""
        for loan in self.orders.values():
            if loan.loan_currency == coin and not loan.term:
                self.settle(loan, now)
        if coin in self.loan_coins:
            self.loan_coins[coin] = replace(self.loan_coins[coin], flexible_rate=hourly_rate)

    def price_moved(self, coin: str, now: int) -> None:
        """Re-evaluate every open loan on ``coin``."""
        for loan in list(self.orders.values()):
            if coin in (loan.loan_currency, loan.collateral_currency):
                self.check(loan, now)

    # -- risk ------------------------------------------------------------------------

    def check(self, loan: Loan, now: int) -> None:
        """Liquidate, flag or clear the margin call of one open loan (settled by the caller)."""
        coll = self.collateral_coins.get(loan.collateral_currency)
        due = loan.expiration
        if due is not None and now >= due + OVERDUE_LIQUIDATION_MS and loan.debt > 0:
            self.liquidate(loan, now, Decimal(0), "overdue")
            return
        if coll is None:
            return
        ltv = self.ltv(loan)
        if ltv >= coll.liquidation_ltv:
            self.liquidate(loan, now, ltv, "ltv")
        elif ltv >= coll.margin_call_ltv:
            if not loan.margin_call:
                loan.margin_call = True
                self.account.margin_calls.append(
                    RiskEvent(now, "margin_call", "legacy", loan.order_id, ltv))
        else:
            loan.margin_call = False

    def clear_margin_call(self, loan: Loan) -> None:
        """End a margin call once LTV is back under ``marginCallLTV``."""
        coll = self.collateral_coins.get(loan.collateral_currency)
        if loan.margin_call and coll is not None and self.ltv(loan) < coll.margin_call_ltv:
            loan.margin_call = False

    def close(self, loan: Loan, status: int, now: int) -> None:
        """Move an order from the open book to the completed one."""
        loan.status = status
        loan.margin_call = False
        loan.extra["closed_time"] = now
        del self.orders[loan.order_id]
        self.completed[loan.order_id] = loan

    def liquidate(self, loan: Loan, now: int, ltv: Decimal, reason: str) -> None:
        """Sell just enough collateral to repay the whole debt; return the rest."""
        wallet = self.account.wallet
        coll_ccy = loan.collateral_currency
        coll = self.collateral_coins.get(coll_ccy)
        places = coll.collateral_accuracy if coll is not None else 8
        debt = loan.debt
        prices = self.account.prices
        coll_price = prices.get(coll_ccy, Decimal(0))
        if coll_price > 0:
            need = rounded(debt * prices.get(loan.loan_currency, Decimal(0)) / coll_price,
                           places, ROUND_UP)
        else:
            need = loan.collateral
        sold = min(need, loan.collateral)
        returned = loan.collateral - sold
        wallet[coll_ccy] = wallet.get(coll_ccy, Decimal(0)) + returned
        self.pledge(coll_ccy, -loan.collateral)
        loan.repaid_interest += loan.interest
        loan.repaid_penalty += loan.penalty
        loan.interest = loan.penalty = loan.principal = Decimal(0)
        loan.extra.update(liquidated_collateral=sold, collateral_before=loan.collateral)
        loan.collateral = Decimal(0)
        self.close(loan, 2, now)
        self.record_repayment(loan, debt, returned, now, "2")
        self.account.liquidations.append(RiskEvent(
            now, "liquidation", "legacy", loan.order_id, ltv, reason,
            {"sold": sold, "returned": returned, "repaid": debt},
        ))

    def record_repayment(self, loan: Loan, amount: Decimal, returned: Decimal, now: int,
                         repay_type: str) -> str:
        """Append a ``repayment-history`` row; returns its repayId."""
        repay_id = self.account.new_id()
        row = {
            "collateralCurrency": loan.collateral_currency,
            "collateralReturn": fmt(returned),
            "loanCurrency": loan.loan_currency,
            "loanTerm": loan.term,
            "orderId": loan.order_id,
            "repayAmount": fmt(amount),
            "repayId": repay_id,
            "repayStatus": 1,
            "repayTime": str(now),
            "repayType": repay_type,
        }
        self.repayments.append(row)
        self.repayments_by_id[repay_id] = row
        self.repayments_by_order.setdefault(loan.order_id, []).append(row)
        return repay_id

    def record_adjustment(self, row: dict[str, Any]) -> None:
        """Append an ``adjustment-history`` row."""
        self.adjustments.append(row)
        self.adjustments_by_id[row["adjustId"]] = row
        self.adjustments_by_order.setdefault(row["orderId"], []).append(row)
