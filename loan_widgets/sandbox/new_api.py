"""Crypto Loan (New) in the sandbox: ``/v5/crypto-loan-{common,flexible,fixed}/...``.

The routes are exactly :data:`loan_widgets.endpoints.NEW_API_ENDPOINTS` and share
the legacy dispatcher (:meth:`Sandbox.handle`): same auth, timestamp window,
rate-limit headers, faults and envelope, but success is ``retMsg "ok"`` and
business errors are 148xxx. State lives in :class:`NewApiBook`, reachable as
``sandbox.new_api``; the Funding wallet (``sandbox.wallet``) and the prices
(``sandbox.prices``, moved with ``sandbox.set_price``) are shared with the
legacy book.

**Routes.** Public: ``GET /v5/crypto-loan-common/loanable-data``,
``GET /v5/crypto-loan-common/collateral-data``,
``GET /v5/crypto-loan-fixed/borrow-order-quote``. Signed:
``GET /v5/crypto-loan-common/position``, ``POST .../max-loan``,
``POST .../adjust-ltv``, ``GET .../max-collateral-amount``,
``GET .../adjustment-history`` (``crypto-loan-common``);
``POST borrow``, ``POST repay``, ``GET ongoing-coin``, ``GET borrow-history``,
``GET repayment-history`` (``crypto-loan-flexible``); ``POST borrow``,
``GET borrow-order-info``, ``GET borrow-contract-info``, ``POST fully-repay``
(``crypto-loan-fixed``).

**Rate limits (the knob).** The documented UID limits are installed in
``sandbox.rate_limits`` per path (:data:`RATE_LIMITS`): 1 request per rolling
second per API key for the state-changing POSTs (both borrows, repay,
fully-repay, adjust-ltv) and 5 for the queries including ``POST max-loan``;
the public paths keep ``Sandbox(rate_limit=...)``. Over a limit: retCode
10006 ``Too many visits!`` with ``X-Bapi-Limit-Reset-Timestamp``. To relax
them for a test that needs bursts::

    sandbox.rate_limits.clear()                             # every path back to rate_limit
    sandbox.rate_limits["/v5/crypto-loan-flexible/borrow"] = 100   # or one path
    Sandbox(new_api_rate_limits=False)                      # or never install them

**Model.**

* *One account, two books.* Legacy orders (``/v5/crypto-loan/...``) and new
  loans never show in each other's endpoints: the docs do not say whether they
  do, so the sandbox keeps them apart. Only the Funding wallet is shared.
* *Pooled collateral.* ``collateralList`` items (and ``adjust-ltv`` additions)
  move coins from the Funding wallet into one pool per account
  (``book.collateral``). A coin counts at its USD value (price in USDT) times
  the tiered ratio of its group (``collateral-data``): each USD band of that
  coin's value counts at its band's ratio. ``ltv`` = total debt in USD /
  tiered collateral in USD (as in the docs' ``position`` example), 6 decimals.
* *Limits.* A borrow, or a collateral reduction, must leave
  ``ltv <= book.initial_ltv`` (0.8), counting unfilled fixed orders as debt;
  otherwise 148012 (borrow) or 148037 (reduce). ``max-loan`` and
  ``max-collateral-amount`` give exactly these bounds. When the account owes
  nothing and has no unfilled fixed order, the whole pool goes back to the
  Funding wallet on its own; ``adjust-ltv`` with nothing borrowed is 148013.
* *Flexible* debt is kept per coin. Interest accrues every whole hour since
  the coin's debt was opened, on its principal, at the coin's current hourly
  rate (``ongoing-coin`` ``hourlyInterestRate``; ``loanable-data`` shows it
  x 8760), rounded up to 8 decimals. A repayment pays interest first, then
  principal.
* *Ids* are short and per kind, increasing by one: flexible orderId
  ``"1363"``, repayId ``"1771"``, adjustId ``27511`` (a JSON number), fixed
  orderId ``"13007"`` (a number in ``borrow-order-info``), loanId ``"570"``
  are the first ones for seed 0 (the docs' example ids); other seeds start
  elsewhere. ``sandbox.next_ids`` overrides them as for the legacy ids.
* *Fixed* orders are matched against the lending market
  (:data:`~loan_widgets.sandbox.market.LENDING_OFFERS`, ``borrow-order-quote``):
  if ``annualRate`` >= the lowest rate on offer for that currency and term the
  order fills in full at once (``state`` 3) and creates one contract
  (``loanId``) at the order's own rate; otherwise it stays ``state`` 1
  (matching), its collateral pledged, until :meth:`NewApiBook.set_offers`
  brings a low enough offer. Offer quantities are shown, not consumed. The
  contract's interest for the whole term, ``principal x annualRate x term /
  365`` rounded up to 18 decimals, is charged from the Funding wallet when it
  fills (``interestPaid``; the docs' contract example obeys this formula), so
  the fixed debt is the residual principal plus any penalty. At
  ``repaymentTime``: ``repayType`` ``"1"`` repays from the Funding wallet if
  it holds enough, ``"2"`` moves the principal into the coin's flexible debt;
  otherwise the contract is overdue (``status`` 3), accrues penalty interest
  at 3x ``annualRate / 8760`` per hour, and is liquidated
  ``book.overdue_liquidation_hours`` (48) after its due time.
* *Risk.* The account is re-evaluated on every price change and whenever
  time passes an hour mark of a flexible debt or an overdue contract: at
  ``ltv >= book.liquidation_ltv`` (0.91) collateral is sold in
  ``liquidationOrder`` at the sandbox prices until all debt is repaid, every
  flexible coin gets a ``repayment-history`` row with ``repayType`` 2, the
  contracts close (``status`` 2), unfilled fixed orders are cancelled
  (``state`` 4) and the remaining collateral returns to the Funding wallet;
  at ``ltv >= book.margin_call_ltv`` (0.85) nothing is sold but
  ``book.margin_call`` turns True and ``sandbox.margin_calls`` gets a
  :class:`~loan_widgets.sandbox.exchange.RiskEvent`. The three levels are
  sandbox choices (the API does not publish them); change them on the book.

**Errors** (besides 10001 for a missing, mistyped or malformed parameter):
148002 amount below the minimum, 148003 too many decimals in a loan amount,
148004 coin cannot be collateral, 148005 too many decimals in a collateral
amount, 148006 collateral above the coin's platform limit, 148007/148008
negative loan/collateral amount, 148010 above ``maxBorrowingAmount`` (the
account's remaining quota), 148012 collateral insufficient, 148013 adjusting
collateral with nothing borrowed, 148014 currency not supported (or not for
that kind of loan), 148015 term not 7/14/30/60/90/180, 148016 annualRate
outside (0, 1], 148017 annualRate with more than 4 decimals, 148023 unknown
``loanId``, 148028 too many decimals in a repayment, 148029 Funding balance
short for a repayment, 148032 nothing owed, 148037 Funding balance short for
collateral or a reduction above the maximum, 148038 repayment above the debt,
148039 the same coin twice in ``collateralList``.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from decimal import ROUND_DOWN, ROUND_HALF_UP, ROUND_UP, Decimal
from typing import TYPE_CHECKING, Any

from .. import endpoints as ep
from . import market
from .exchange import (
    _NUMBER_CHARS,
    _PLAIN,
    _ROUTES,
    DAY_MS,
    HOUR_MS,
    RET_MSGS,
    ROUTES,
    ApiError,
    RiskEvent,
    _exact,
    _limit,
    _page,
    _places,
    _required,
    _round,
    _Route,
    _text,
)
from .market import fmt

if TYPE_CHECKING:
    from .exchange import Sandbox

__all__ = [
    "NEW_RET_MSGS",
    "RATE_LIMITS",
    "FixedContract",
    "FixedOrder",
    "FlexibleDebt",
    "NewApiBook",
]

ZERO = Decimal(0)
MAX_COLLATERAL_ITEMS = 100
RATE_PLACES = 4
RATE_RANGE = (Decimal(0), Decimal(1))  # exclusive low, inclusive high
FLEX_INTEREST_PLACES = 8
FIXED_PLACES = 18
LTV_PLACES = 6
USD_PLACES = 2
_ID_STARTS = {"flex_order": 1363, "repay": 1771, "adjust": 27511, "fixed_order": 13007,
              "loan": 570}  # the first id of each kind for seed 0: the docs' example ids

NEW_RET_MSGS: dict[int, str] = {
    148001: "Currency is not supported for flexible savings.",
    148002: "The amount is below the minimum borrowable amount.",
    148003: "The number of decimal places exceeds the precision of this currency.",
    148004: "This currency cannot be used as collateral.",
    148005: "The number of decimal places exceeds the precision of this collateral currency.",
    148006: "The collateral amount exceeds the platform upper limit.",
    148007: "The borrow amount cannot be negative.",
    148008: "The collateral amount cannot be negative.",
    148009: "The LTV exceeds the risk threshold.",
    148010: "Insufficient available quota.",
    148011: "Insufficient funding pool balance.",
    148012: "Insufficient collateral.",
    148013: "A user with no borrowing cannot adjust collateral.",
    148014: "Currency is not supported.",
    148015: "The loan term is out of range.",
    148016: "The lending rate is not supported.",
    148017: "The interest rate has too many decimal places.",
    148023: "The loan order does not exist.",
    148028: "The repayment amount has too many decimal places.",
    148029: "Insufficient repayment account balance.",
    148032: "There is no outstanding debt to repay.",
    148037: "Insufficient assets, or the adjustment exceeds the maximum.",
    148038: "The repayment amount exceeds the position debt.",
    148039: "Duplicate collateral currencies in the request.",
}
"""The retMsg of each 148xxx retCode the sandbox uses (paraphrased)."""

_HANDLERS: dict[str, str] = {
    ep.NEW_LOANABLE_DATA.name: "loanable_data",
    ep.NEW_COLLATERAL_DATA.name: "collateral_data",
    ep.NEW_POSITION.name: "position",
    ep.NEW_MAX_LOAN.name: "max_loan",
    ep.NEW_ADJUST_COLLATERAL.name: "adjust",
    ep.NEW_MAX_COLLATERAL_REDUCTION.name: "max_collateral",
    ep.NEW_ADJUSTMENT_HISTORY.name: "adjustment_history",
    ep.FLEXIBLE_BORROW.name: "flexible_borrow",
    ep.FLEXIBLE_REPAY.name: "flexible_repay",
    ep.FLEXIBLE_ONGOING.name: "ongoing_coin",
    ep.FLEXIBLE_BORROW_HISTORY.name: "flexible_borrow_history",
    ep.FLEXIBLE_REPAYMENT_HISTORY.name: "flexible_repayment_history",
    ep.FIXED_BORROW.name: "fixed_borrow",
    ep.FIXED_BORROW_ORDER_INFO.name: "borrow_order_info",
    ep.FIXED_BORROW_CONTRACT_INFO.name: "borrow_contract_info",
    ep.FIXED_FULLY_REPAY.name: "fully_repay",
    ep.FIXED_BORROW_ORDER_QUOTE.name: "borrow_order_quote",
}

RATE_LIMITS: dict[str, int] = {
    e.path: 1 if e.writes else 5 for e in ep.NEW_API_ENDPOINTS if e.signed
}
"""The documented UID limits per path: 1/s for state-changing POSTs, 5/s for queries."""


# -- state ----------------------------------------------------------------------------


@dataclass
class FlexibleDebt:
    """The flexible debt of one coin. ``accrued_to`` is the last hour mark charged."""

    currency: str
    principal: Decimal = ZERO
    interest: Decimal = ZERO
    accrued_to: int = 0

    @property
    def total(self) -> Decimal:
        """Principal plus unpaid interest (``totalDebt`` of ``ongoing-coin``)."""
        return self.principal + self.interest


@dataclass
class FixedOrder:
    """A fixed-rate borrow order; ``state`` 1 matching, 3 filled, 4 cancelled."""

    order_id: int
    currency: str
    amount: Decimal
    rate: Decimal
    term: int
    repay_type: str
    time: int
    collateral: dict[str, Decimal]
    state: int = 1
    filled: Decimal = ZERO

    def to_wire(self) -> dict[str, Any]:
        """The ``borrow-order-info`` item (``orderId`` and ``term`` are numbers)."""
        return {
            "annualRate": fmt(self.rate),
            "filledQty": fmt(self.filled),
            "orderCurrency": self.currency,
            "orderId": self.order_id,
            "orderQty": fmt(self.amount),
            "orderTime": str(self.time),
            "repayType": self.repay_type,
            "state": self.state,
            "term": self.term,
        }


@dataclass
class FixedContract:
    """A filled fixed loan. ``status`` 1 unrepaid, 2 fully repaid, 3 overdue."""

    loan_id: str
    order_id: int
    currency: str
    principal: Decimal
    rate: Decimal
    term: int
    repay_type: str
    borrow_time: int
    due: int
    interest_paid: Decimal
    penalty: Decimal = ZERO
    accrued_to: int = 0  # last hour mark of penalty accrual (overdue only)
    status: int = 1

    @property
    def debt(self) -> Decimal:
        """Residual principal plus unpaid penalty interest."""
        return self.principal + self.penalty

    def to_wire(self) -> dict[str, Any]:
        """The ``borrow-contract-info`` item (all strings but ``status``)."""
        return {
            "annualRate": fmt(self.rate),
            "autoRepay": "true" if self.repay_type == "1" else "false",
            "borrowCurrency": self.currency,
            "borrowTime": str(self.borrow_time),
            "interestPaid": fmt(self.interest_paid),
            "loanId": self.loan_id,
            "orderId": str(self.order_id),
            "repayType": self.repay_type,
            "repaymentTime": str(self.due),
            "residualPenaltyInterest": fmt(self.penalty),
            "residualPrincipal": fmt(self.principal),
            "status": self.status,
            "term": str(self.term),
        }


# -- parameter helpers ----------------------------------------------------------------


def _amount(params: Mapping[str, Any], name: str, negative: int) -> Decimal:
    """A required positive-or-zero decimal string; a leading '-' is ``negative``."""
    text = _required(params, name)
    if text.startswith("-") and _PLAIN.fullmatch(text[1:]):
        raise ApiError(negative, f"{RET_MSGS[negative]} ({name})")
    if not _PLAIN.fullmatch(text):
        kind = "a decimal string" if all(c in _NUMBER_CHARS for c in text) else "digits"
        raise ApiError(10001, f"params error: {name} must be {kind}")
    return Decimal(text)


def _check(value: Decimal, places: int, code: int, name: str) -> None:
    if _places(value) > places:
        raise ApiError(code, f"{RET_MSGS[code]} ({name}: at most {places} decimals)")


def _usd_text(value: Decimal) -> str:
    return fmt(_round(value, USD_PLACES, ROUND_HALF_UP))


def _ltv_text(value: Decimal) -> str:
    if not value.is_finite():  # debt with no collateral left: liquidated at the next check
        return ""
    return fmt(_round(value, LTV_PLACES, ROUND_HALF_UP))


def _term(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or int(text) not in market.NEW_LOAN_TERMS:
        raise ApiError(148015, f"{RET_MSGS[148015]} (7, 14, 30, 60, 90 or 180 days)")
    return int(text)


# -- the book -------------------------------------------------------------------------


class NewApiBook:
    """The Crypto Loan (New) state of one sandbox account (see the module docstring).

    Attributes you may change from a test (hold ``sandbox.lock`` while a server runs):
    ``loan_coins``, ``offers`` (or :meth:`set_offers`), ``tiers`` (coin ->
    tiers), ``liquidation_order``, ``initial_ltv``, ``margin_call_ltv``,
    ``liquidation_ltv``, ``overdue_liquidation_hours``.
    """

    def __init__(self, sandbox: Sandbox, seed: int = 0) -> None:
        self.sandbox = sandbox
        self.loan_coins: dict[str, market.NewLoanCoin] = dict(market.NEW_LOAN_COINS)
        self.offers: dict[str, list[market.LendingOffer]] = {
            coin: list(rows) for coin, rows in market.LENDING_OFFERS.items()
        }
        self.groups = market.COLLATERAL_RATIO_GROUPS
        self.tiers: dict[str, tuple[market.CollateralTier, ...]] = {
            coin: tiers for coins, tiers in self.groups for coin in coins
        }
        self.liquidation_order: dict[str, int] = dict(market.LIQUIDATION_ORDER)
        self.initial_ltv = Decimal("0.8")
        """Highest LTV a borrow or a collateral reduction may leave."""
        self.margin_call_ltv = Decimal("0.85")
        """At or above this LTV the account is flagged (``margin_call``)."""
        self.liquidation_ltv = Decimal("0.91")
        """At or above this LTV all collateral needed to repay all debt is sold."""
        self.overdue_liquidation_hours = 48
        """Hours past ``repaymentTime`` after which an overdue contract is liquidated."""
        self.margin_call = False
        """True while the account LTV is at or above ``margin_call_ltv``."""
        self.collateral: dict[str, Decimal] = {}
        """The pooled collateral: coin -> amount."""
        self.flexible: dict[str, FlexibleDebt] = {}
        """Open flexible debt by coin."""
        self.borrow_orders: dict[str, dict[str, Any]] = {}
        """Flexible borrow orders (``borrow-history`` rows) by orderId."""
        self.repayments: list[dict[str, Any]] = []
        """Flexible ``repayment-history`` rows, oldest first."""
        self.fixed_orders: dict[int, FixedOrder] = {}
        self.contracts: dict[str, FixedContract] = {}
        self.fixed_repayments: list[dict[str, Any]] = []
        """Fixed repayments (``repayId``, ``details``...), oldest first; not routed."""
        self.adjustments: list[dict[str, Any]] = []
        self._pending: dict[int, FixedOrder] = {}
        self._open: dict[str, FixedContract] = {}
        self._timeline: list[tuple[int, int, str, str]] = []
        self._scheduled: dict[tuple[str, str], int] = {}
        self._seq = 0
        offset = 0 if seed == 0 else random.Random(f"new-api-{seed}").randrange(1, 10**6)
        self._ids = {kind: start - 1 + offset for kind, start in _ID_STARTS.items()}

    # -- configuration ---------------------------------------------------------------

    def set_offers(self, currency: str, offers: Iterable[tuple[int, Decimal | str,
                                                               Decimal | str]]) -> None:
        """Replace the lending-market offers of ``currency`` with ``(term, rate, qty)``
        rows, then fill every matching order the new offers now cover."""
        rows = [market.LendingOffer(int(t), Decimal(r), Decimal(q)) for t, r, q in offers]
        sandbox = self.sandbox
        with sandbox.lock, _exact():
            now = sandbox.now_ms()
            sandbox._catch_up(now)
            self.offers[currency] = rows
            for order in list(self._pending.values()):
                if order.currency == currency and self._fills(order):
                    self._fill(order, now)

    def set_flexible_rate(self, coin: str, hourly_rate: Decimal, now: int) -> None:
        """Charge the elapsed hours at the old rate, then switch (``Sandbox.set_flexible_rate``)."""
        debt = self.flexible.get(coin)
        if debt is not None:
            self._accrue(debt, now)
        if coin in self.loan_coins:
            self.loan_coins[coin] = replace(self.loan_coins[coin], hourly_rate=hourly_rate)

    # -- ids, prices, values ---------------------------------------------------------

    def _id(self, kind: str) -> int:
        queued = self.sandbox.next_ids
        if queued:
            return int(queued.popleft())
        self._ids[kind] += 1
        return self._ids[kind]

    def _price(self, coin: str) -> Decimal:
        price = self.sandbox.prices.get(coin)
        if price is None:
            raise ApiError(148014, f"{RET_MSGS[148014]} ({coin} has no price)")
        return price

    def _loan_coin(self, coin: str, kind: str) -> market.NewLoanCoin:
        found = self.loan_coins.get(coin)
        if found is None or not (found.flexible_borrowable if kind == "flexible"
                                 else found.fixed_borrowable):
            raise ApiError(148014, f"{RET_MSGS[148014]} ({coin} for {kind} loans)")
        return found

    def _tiered(self, coin: str, amount: Decimal) -> Decimal:
        """USD value of ``amount`` of ``coin`` after the tiered collateral ratio."""
        value = amount * self.sandbox.prices.get(coin, ZERO)
        counted = ZERO
        for tier in self.tiers.get(coin, ()):
            if value <= tier.min_value:
                break
            counted += (min(value, tier.max_value) - tier.min_value) * tier.ratio
        return counted

    def _collateral_usd(self, extra: Mapping[str, Decimal] | None = None) -> Decimal:
        pool = self.collateral
        coins = set(pool) | set(extra or {})
        return sum(
            (self._tiered(c, pool.get(c, ZERO) + (extra or {}).get(c, ZERO)) for c in coins),
            ZERO,
        )

    def _debt_usd(self, pending: bool = False) -> Decimal:
        prices = self.sandbox.prices
        total = sum((d.total * prices.get(c, ZERO) for c, d in self.flexible.items()), ZERO)
        total += sum((k.debt * prices.get(k.currency, ZERO) for k in self._open.values()), ZERO)
        if pending:
            total += sum(((o.amount - o.filled) * prices.get(o.currency, ZERO)
                          for o in self._pending.values()), ZERO)
        return total

    def _ltv(self) -> Decimal:
        debt = self._debt_usd()
        if debt <= 0:
            return ZERO
        collateral = self._collateral_usd()
        return debt / collateral if collateral > 0 else Decimal("Infinity")

    def _owed(self, coin: str) -> Decimal:
        """Everything the account owes or has ordered in ``coin`` (for the quota)."""
        debt = self.flexible.get(coin)
        owed = debt.principal if debt is not None else ZERO
        owed += sum((k.principal for k in self._open.values() if k.currency == coin), ZERO)
        owed += sum((o.amount - o.filled for o in self._pending.values()
                     if o.currency == coin), ZERO)
        return owed

    def _has_borrowing(self) -> bool:
        return bool(self.flexible or self._open or self._pending)

    # -- time: accrual, maturity, penalties ------------------------------------------

    def _schedule(self, kind: str, key: str, at: int) -> None:
        self._seq += 1
        self._scheduled[(kind, key)] = at
        heapq.heappush(self._timeline, (at, self._seq, kind, key))

    def _accrue(self, debt: FlexibleDebt, now: int) -> None:
        hours = (now - debt.accrued_to) // HOUR_MS
        if hours <= 0 or debt.principal <= 0:
            return
        rate = self.loan_coins[debt.currency].hourly_rate
        debt.interest += _round(debt.principal * rate * hours, FLEX_INTEREST_PLACES, ROUND_UP)
        debt.accrued_to += hours * HOUR_MS

    def _accrue_penalty(self, contract: FixedContract, now: int) -> None:
        hours = (now - contract.accrued_to) // HOUR_MS
        if hours <= 0 or contract.status != 3:
            return
        per_hour = contract.principal * contract.rate * 3 / market.HOURS_PER_YEAR
        contract.penalty += _round(per_hour * hours, FIXED_PLACES, ROUND_UP)
        contract.accrued_to += hours * HOUR_MS

    def catch_up(self, now: int) -> None:
        """Process every due event in time order, then re-evaluate the account."""
        timeline = self._timeline
        if not timeline or timeline[0][0] > now:
            return
        while timeline and timeline[0][0] <= now:
            at, _, kind, key = heapq.heappop(timeline)
            if self._scheduled.get((kind, key)) != at:
                continue  # superseded
            del self._scheduled[(kind, key)]
            if kind == "flex":
                debt = self.flexible.get(key)
                if debt is not None:
                    self._accrue(debt, now)
                    self._schedule("flex", key, debt.accrued_to + HOUR_MS)
            elif kind == "due":
                contract = self._open.get(key)
                if contract is not None:
                    self._mature(contract, at)
            elif kind == "penalty":
                contract = self._open.get(key)
                if contract is not None:
                    self._accrue_penalty(contract, now)
                    grace_end = contract.due + self.overdue_liquidation_hours * HOUR_MS
                    if now >= grace_end:
                        self._liquidate_contract(contract, now)
                    else:
                        self._schedule("penalty", key, contract.accrued_to + HOUR_MS)
        self.evaluate(now)

    def _mature(self, contract: FixedContract, at: int) -> None:
        wallet = self.sandbox.wallet
        coin = contract.currency
        if contract.repay_type == "2":
            debt = self._flexible_debt(coin, at)
            debt.principal += contract.principal
            self._close_contract(contract, contract.principal, at, 8)
        elif wallet.get(coin, ZERO) >= contract.principal:
            wallet[coin] -= contract.principal
            self._close_contract(contract, contract.principal, at, 3)
        else:
            contract.status = 3
            contract.accrued_to = at
            self._schedule("penalty", contract.loan_id, at + HOUR_MS)
            return
        self._release_if_clear()

    def _flexible_debt(self, coin: str, now: int) -> FlexibleDebt:
        debt = self.flexible.get(coin)
        if debt is None:
            debt = self.flexible[coin] = FlexibleDebt(coin, accrued_to=now)
            self._schedule("flex", coin, now + HOUR_MS)
        else:
            self._accrue(debt, now)
        return debt

    def _close_contract(self, contract: FixedContract, amount: Decimal, now: int,
                        repay_type: int, repay_id: str | None = None) -> str:
        contract.principal = contract.penalty = ZERO
        contract.status = 2
        del self._open[contract.loan_id]
        repay_id = repay_id or str(self._id("repay"))
        self.fixed_repayments.append({
            "details": [{"loanCurrency": contract.currency, "loanId": contract.loan_id,
                         "repayAmount": fmt(amount)}],
            "loanCurrency": contract.currency,
            "repayAmount": fmt(amount),
            "repayId": repay_id,
            "repayStatus": 1,
            "repayTime": now,
            "repayType": repay_type,
        })
        return repay_id

    # -- risk: margin call and liquidation --------------------------------------------

    def evaluate(self, now: int) -> None:
        """Flag or liquidate the account from its current LTV (after settling)."""
        if not (self.flexible or self._open):
            self.margin_call = False
            return
        for debt in self.flexible.values():
            self._accrue(debt, now)
        ltv = self._ltv()
        if ltv >= self.liquidation_ltv:
            self._liquidate_all(now, ltv)
        elif ltv >= self.margin_call_ltv:
            if not self.margin_call:
                self.margin_call = True
                self.sandbox.margin_calls.append(RiskEvent(now, "margin_call", "new", "", ltv))
        else:
            self.margin_call = False

    def _sell(self, usd: Decimal) -> dict[str, Decimal]:
        """Sell pooled collateral in liquidation order until ``usd`` is raised."""
        sold: dict[str, Decimal] = {}
        coins = sorted(self.collateral, key=lambda c: (self.liquidation_order.get(c, 99), c))
        for coin in coins:
            if usd <= 0:
                break
            price = self.sandbox.prices.get(coin, ZERO)
            held = self.collateral[coin]
            if price <= 0 or held <= 0:
                continue
            coll = self.sandbox.collateral_coins.get(coin)
            places = coll.collateral_accuracy if coll is not None else 8
            take = min(held, _round(usd / price, places, ROUND_UP))
            self.collateral[coin] = held - take
            sold[coin] = take
            usd -= take * price
        return sold

    def _liquidate_all(self, now: int, ltv: Decimal) -> None:
        repaid: dict[str, Decimal] = {}
        sold = self._sell(self._debt_usd())
        for coin, debt in list(self.flexible.items()):
            repaid[coin] = repaid.get(coin, ZERO) + debt.total
            self._record_flexible_repay(coin, debt.total, now, 2)
            del self.flexible[coin]
        for contract in list(self._open.values()):
            repaid[contract.currency] = repaid.get(contract.currency, ZERO) + contract.debt
            self._close_contract(contract, contract.debt, now, 2)
        for order in list(self._pending.values()):
            order.state = 4
            del self._pending[order.order_id]
        returned = dict(self.collateral)
        self._release_if_clear()
        self.margin_call = False
        self.sandbox.liquidations.append(RiskEvent(
            now, "liquidation", "new", "", ltv, "ltv",
            {"sold": sold, "returned": returned, "repaid": repaid},
        ))

    def _liquidate_contract(self, contract: FixedContract, now: int) -> None:
        debt = contract.debt
        sold = self._sell(debt * self.sandbox.prices.get(contract.currency, ZERO))
        self._close_contract(contract, debt, now, 6)
        returned = dict(self.collateral) if not self._has_borrowing() else {}
        self._release_if_clear()
        self.sandbox.liquidations.append(RiskEvent(
            now, "liquidation", "new", contract.loan_id, ZERO, "overdue",
            {"sold": sold, "returned": returned, "repaid": {contract.currency: debt}},
        ))

    def _release_if_clear(self) -> None:
        """With nothing owed and nothing ordered, the pool returns to the Funding wallet."""
        if self._has_borrowing():
            return
        wallet = self.sandbox.wallet
        for coin, amount in self.collateral.items():
            if amount > 0:
                wallet[coin] = wallet.get(coin, ZERO) + amount
        self.collateral.clear()
        self.margin_call = False

    # -- shared validation -----------------------------------------------------------

    def _collateral_list(self, params: Mapping[str, Any], key: str) -> dict[str, Decimal]:
        raw = params.get("collateralList")
        if raw is None or raw == "" or raw == []:
            return {}
        if isinstance(raw, dict):  # the fixed-borrow doc example sends one object
            raw = [raw]
        if not isinstance(raw, list):
            raise ApiError(10001, "params error: collateralList must be an array")
        if len(raw) > MAX_COLLATERAL_ITEMS:
            raise ApiError(10001, "params error: collateralList takes at most 100 items")
        items: dict[str, Decimal] = {}
        for item in raw:
            if not isinstance(item, dict):
                raise ApiError(10001, "params error: collateralList items must be objects")
            coin = _required(item, key)
            amount = _amount(item, "amount", 148008)
            if coin in items:
                raise ApiError(148039, f"{RET_MSGS[148039]} ({coin})")
            coll = self.sandbox.collateral_coins.get(coin)
            if coll is None or coin not in self.tiers:
                raise ApiError(148004, f"{RET_MSGS[148004]} ({coin})")
            if amount <= 0:
                raise ApiError(10001, "params error: collateral amount must be greater than 0")
            _check(amount, coll.collateral_accuracy, 148005, "amount")
            items[coin] = amount
        return items

    def _check_funding(self, items: Mapping[str, Decimal]) -> None:
        wallet = self.sandbox.wallet
        for coin, amount in items.items():
            if wallet.get(coin, ZERO) < amount:
                raise ApiError(148037, f"{RET_MSGS[148037]} ({coin} in the Funding wallet)")
            coll = self.sandbox.collateral_coins[coin]
            if self.collateral.get(coin, ZERO) + amount > coll.max_limit:
                raise ApiError(148006, f"{RET_MSGS[148006]} ({fmt(coll.max_limit)} {coin})")

    def _check_capacity(self, extra: Mapping[str, Decimal], new_debt_usd: Decimal) -> None:
        allowed = self._collateral_usd(extra) * self.initial_ltv
        if self._debt_usd(pending=True) + new_debt_usd > allowed:
            raise ApiError(148012, f"{RET_MSGS[148012]} (the LTV would exceed "
                                   f"{fmt(self.initial_ltv)} of the tiered collateral value)")

    def _loan_amount(self, params: Mapping[str, Any], name: str, coin: market.NewLoanCoin,
                     places: int, minimum: Decimal) -> Decimal:
        amount = _amount(params, name, 148007)
        _check(amount, places, 148003, name)
        if amount < minimum:
            raise ApiError(148002, f"{RET_MSGS[148002]} ({fmt(minimum)} {coin.currency})")
        if self._owed(coin.currency) + amount > coin.max_amount:
            raise ApiError(148010, f"{RET_MSGS[148010]} (max {fmt(coin.max_amount)} "
                                   f"{coin.currency})")
        return amount

    def _pledge(self, items: Mapping[str, Decimal]) -> None:
        wallet = self.sandbox.wallet
        for coin, amount in items.items():
            wallet[coin] -= amount
            self.collateral[coin] = self.collateral.get(coin, ZERO) + amount

    # -- common -----------------------------------------------------------------------

    def loanable_data(self, params: Mapping[str, Any], now: int) -> dict[str, Any]:
        """GET /v5/crypto-loan-common/loanable-data (public; one flat list)."""
        vip = _text(params, "vipLevel")
        if vip is not None and vip not in market.VIP_LEVELS:
            raise ApiError(10001, "params error: vipLevel is invalid")
        currency = _text(params, "currency")
        rows = []
        for name, coin in self.loan_coins.items():
            if currency not in (None, name):
                continue
            row: dict[str, Any] = {
                "currency": name,
                "fixedBorrowable": coin.fixed_borrowable,
                "fixedBorrowingAccuracy": coin.fixed_accuracy,
                "flexibleBorrowable": coin.flexible_borrowable,
                "flexibleBorrowingAccuracy": coin.flexible_accuracy,
                "maxBorrowingAmount": fmt(coin.max_amount),
                "minFixedBorrowingAmount": fmt(coin.min_fixed),
                "minFlexibleBorrowingAmount": fmt(coin.min_flexible),
                "vipLevel": vip or "VIP0",
            }
            lowest: dict[int, Decimal] = {}
            for offer in self.offers.get(name, ()):
                if coin.fixed_borrowable and offer.rate < lowest.get(offer.term, offer.rate + 1):
                    lowest[offer.term] = offer.rate
            for term in ("14", "180", "30", "60", "7", "90"):  # the docs' key order
                rate = lowest.get(int(term))
                row[f"annualizedInterestRate{term}D"] = "" if rate is None else fmt(rate)
            row["flexibleAnnualizedInterestRate"] = (
                fmt(coin.annual_rate) if coin.flexible_borrowable else ""
            )
            rows.append(row)
        return {"list": rows}

    def collateral_data(self, params: Mapping[str, Any], now: int) -> dict[str, Any]:
        """GET /v5/crypto-loan-common/collateral-data (public)."""
        currency = _text(params, "currency")
        groups = [
            {"collateralRatioList": [t.to_wire() for t in tiers], "currencies": ",".join(coins)}
            for coins, tiers in self.groups if currency is None or currency in coins
        ]
        order = sorted(self.liquidation_order.items(), key=lambda kv: kv[1])
        return {
            "collateralRatioConfigList": groups,
            "currencyLiquidationList": [
                {"currency": c, "liquidationOrder": n} for c, n in order
                if currency in (None, c)
            ],
        }

    def position(self, params: Mapping[str, Any], now: int) -> dict[str, Any]:
        """GET /v5/crypto-loan-common/position: the whole account in coins and USD."""
        prices = self.sandbox.prices
        fixed: dict[str, Decimal] = {}
        for contract in self._open.values():
            fixed[contract.currency] = fixed.get(contract.currency, ZERO) + contract.debt
        borrow_list = []
        for coin in sorted(set(self.flexible) | set(fixed)):
            flex = self.flexible[coin].total if coin in self.flexible else ZERO
            fixed_debt = fixed.get(coin, ZERO)
            price = prices.get(coin, ZERO)
            loan_coin = self.loan_coins.get(coin)
            borrow_list.append({
                "fixedTotalDebt": fmt(fixed_debt),
                "fixedTotalDebtUSD": _usd_text(fixed_debt * price),
                "flexibleHourlyInterestRate": fmt(loan_coin.hourly_rate) if loan_coin else "",
                "flexibleTotalDebt": fmt(flex),
                "flexibleTotalDebtUSD": _usd_text(flex * price),
                "loanCurrency": coin,
            })
        collateral_list = []
        total_collateral = ZERO
        for coin, amount in self.collateral.items():
            if amount <= 0:
                continue
            usd = _round(self._tiered(coin, amount), USD_PLACES, ROUND_HALF_UP)
            total_collateral += usd
            collateral_list.append({"amount": fmt(amount), "amountUSD": fmt(usd),
                                    "currency": coin})
        return {
            "borrowList": borrow_list,
            "collateralList": collateral_list,
            "ltv": _ltv_text(self._ltv()),
            "supplyList": [],
            "totalCollateral": fmt(total_collateral),
            "totalDebt": _usd_text(self._debt_usd()),
            "totalSupply": "0",
            "colRes": 0,
        }

    def max_loan(self, params: Mapping[str, Any], now: int) -> dict[str, Any]:
        """POST /v5/crypto-loan-common/max-loan: how much more ``currency`` fits."""
        currency = _required(params, "currency")
        coin = self.loan_coins.get(currency)
        if coin is None:
            raise ApiError(148014, f"{RET_MSGS[148014]} ({currency})")
        extra = self._collateral_list(params, "ccy")
        wallet = self.sandbox.wallet
        for ccy, amount in extra.items():
            if wallet.get(ccy, ZERO) < amount:
                raise ApiError(148037, f"{RET_MSGS[148037]} ({ccy} in the Funding wallet)")
        price = self._price(currency)
        room = self._collateral_usd(extra) * self.initial_ltv - self._debt_usd(pending=True)
        quota = max(ZERO, coin.max_amount - self._owed(currency))
        most = max(ZERO, min(quota, room / price))
        max_loan = _round(most, coin.flexible_accuracy, ROUND_DOWN)
        return {
            "currency": currency,
            "maxLoan": fmt(max_loan),
            "notionalUsd": fmt(_round(max_loan * price, USD_PLACES, ROUND_DOWN)),
            "remainingQuota": fmt(quota),
        }

    def _max_reduction(self, coin: str) -> Decimal:
        """Most of ``coin`` that can leave the pool with the LTV kept at ``initial_ltv``."""
        held = self.collateral.get(coin, ZERO)
        if held <= 0:
            return ZERO
        debt = self._debt_usd(pending=True)
        if debt <= 0:
            return held
        slack = self._collateral_usd() - debt / self.initial_ltv  # tiered USD we may drop
        price = self.sandbox.prices.get(coin, ZERO)
        if slack <= 0 or price <= 0:
            return ZERO
        value = held * price
        removed = ZERO
        for tier in reversed(self.tiers.get(coin, ())):  # the top band goes first
            if value <= tier.min_value or tier.ratio <= 0:
                continue
            band = value - tier.min_value
            if band * tier.ratio <= slack:
                slack -= band * tier.ratio
                removed += band
                value = tier.min_value
            else:
                removed += slack / tier.ratio
                break
        coll = self.sandbox.collateral_coins[coin]
        return min(held, _round(removed / price, coll.collateral_accuracy, ROUND_DOWN))

    def max_collateral(self, params: Mapping[str, Any], now: int) -> dict[str, Any]:
        """GET /v5/crypto-loan-common/max-collateral-amount?currency=: keyed by coin."""
        currency = _required(params, "currency")
        if currency not in self.sandbox.collateral_coins or currency not in self.tiers:
            raise ApiError(148004, f"{RET_MSGS[148004]} ({currency})")
        return {"maxCollateralAmount": fmt(self._max_reduction(currency))}

    def adjust(self, params: Mapping[str, Any], now: int) -> dict[str, Any]:
        """POST /v5/crypto-loan-common/adjust-ltv: add to or take from the pool."""
        currency = _required(params, "currency")
        amount = _amount(params, "amount", 148008)
        direction = _required(params, "direction")
        if direction not in ("0", "1"):
            raise ApiError(10001, "params error: direction must be 0 (add) or 1 (reduce)")
        coll = self.sandbox.collateral_coins.get(currency)
        if coll is None or currency not in self.tiers:
            raise ApiError(148004, f"{RET_MSGS[148004]} ({currency})")
        if amount <= 0:
            raise ApiError(10001, "params error: amount must be greater than 0")
        _check(amount, coll.collateral_accuracy, 148005, "amount")
        if not self._has_borrowing():
            raise ApiError(148013)
        before = self._ltv()
        if direction == "0":
            self._check_funding({currency: amount})
            self._pledge({currency: amount})
        else:
            if amount > self._max_reduction(currency):
                raise ApiError(148037, f"{RET_MSGS[148037]} (max "
                                       f"{fmt(self._max_reduction(currency))} {currency})")
            self.collateral[currency] -= amount
            wallet = self.sandbox.wallet
            wallet[currency] = wallet.get(currency, ZERO) + amount
        adjust_id = self._id("adjust")
        self.adjustments.append({
            "adjustId": adjust_id,
            "adjustTime": now,
            "afterLTV": _ltv_text(self._ltv()),
            "amount": fmt(amount),
            "collateralCurrency": currency,
            "direction": int(direction),
            "preLTV": _ltv_text(before),
            "status": 1,
        })
        if self._ltv() < self.margin_call_ltv:
            self.margin_call = False
        return {"adjustId": adjust_id}

    def adjustment_history(self, params: Mapping[str, Any], now: int) -> dict[str, Any]:
        """GET /v5/crypto-loan-common/adjustment-history (adjustId, adjustTime: numbers)."""
        adjust_id = _text(params, "adjustId")
        currency = _text(params, "collateralCurrency")
        rows = [r for r in self.adjustments
                if (adjust_id is None or str(r["adjustId"]) == adjust_id)
                and currency in (None, r["collateralCurrency"])]
        return _page(rows, "adjustId", params)

    # -- flexible ---------------------------------------------------------------------

    def flexible_borrow(self, params: Mapping[str, Any], now: int) -> dict[str, Any]:
        """POST /v5/crypto-loan-flexible/borrow -> ``{"orderId": "1363"}``."""
        currency = _required(params, "loanCurrency")
        coin = self._loan_coin(currency, "flexible")
        amount = self._loan_amount(params, "loanAmount", coin, coin.flexible_accuracy,
                                   coin.min_flexible)
        items = self._collateral_list(params, "currency")
        price = self._price(currency)
        self._check_funding(items)
        self._check_capacity(items, amount * price)
        self._pledge(items)
        debt = self._flexible_debt(currency, now)
        debt.principal += amount
        wallet = self.sandbox.wallet
        wallet[currency] = wallet.get(currency, ZERO) + amount
        order_id = str(self._id("flex_order"))
        self.borrow_orders[order_id] = {
            "borrowTime": now,
            "initialLoanAmount": fmt(amount),
            "loanCurrency": currency,
            "orderId": order_id,
            "status": 1,
        }
        return {"orderId": order_id}

    def _record_flexible_repay(self, coin: str, amount: Decimal, now: int,
                               repay_type: int) -> str:
        repay_id = str(self._id("repay"))
        self.repayments.append({
            "loanCurrency": coin,
            "repayAmount": fmt(amount),
            "repayId": repay_id,
            "repayStatus": 1,
            "repayTime": now,
            "repayType": repay_type,
        })
        return repay_id

    def flexible_repay(self, params: Mapping[str, Any], now: int) -> dict[str, Any]:
        """POST /v5/crypto-loan-flexible/repay: interest first, then principal."""
        currency = _required(params, "loanCurrency")
        amount = _amount(params, "amount", 10001)
        if currency not in self.loan_coins:
            raise ApiError(148014, f"{RET_MSGS[148014]} ({currency})")
        coin = self.loan_coins[currency]
        if amount <= 0:
            raise ApiError(10001, "params error: amount must be greater than 0")
        _check(amount, max(FLEX_INTEREST_PLACES, coin.flexible_accuracy), 148028, "amount")
        debt = self.flexible.get(currency)
        if debt is None:
            raise ApiError(148032, f"{RET_MSGS[148032]} ({currency})")
        self._accrue(debt, now)
        if amount > debt.total:
            raise ApiError(148038, f"{RET_MSGS[148038]} ({fmt(debt.total)} {currency})")
        wallet = self.sandbox.wallet
        if wallet.get(currency, ZERO) < amount:
            raise ApiError(148029, f"{RET_MSGS[148029]} ({currency})")
        wallet[currency] -= amount
        paid = min(amount, debt.interest)
        debt.interest -= paid
        debt.principal -= amount - paid
        if debt.total == 0:
            del self.flexible[currency]
            self._scheduled.pop(("flex", currency), None)
        repay_id = self._record_flexible_repay(currency, amount, now, 1)
        self._release_if_clear()
        if self._ltv() < self.margin_call_ltv:
            self.margin_call = False
        return {"repayId": repay_id}

    def ongoing_coin(self, params: Mapping[str, Any], now: int) -> dict[str, Any]:
        """GET /v5/crypto-loan-flexible/ongoing-coin: open flexible debt per coin."""
        currency = _text(params, "loanCurrency")
        rows = []
        for coin, debt in sorted(self.flexible.items()):
            if currency not in (None, coin):
                continue
            self._accrue(debt, now)
            rows.append({
                "hourlyInterestRate": fmt(self.loan_coins[coin].hourly_rate),
                "loanCurrency": coin,
                "totalDebt": fmt(debt.total),
                "unpaidAmount": fmt(debt.principal),
                "unpaidInterest": fmt(debt.interest),
            })
        return {"list": rows}

    def flexible_borrow_history(self, params: Mapping[str, Any], now: int) -> dict[str, Any]:
        """GET /v5/crypto-loan-flexible/borrow-history (borrowTime is a number)."""
        order_id = _text(params, "orderId")
        currency = _text(params, "loanCurrency")
        if order_id is not None:
            found = self.borrow_orders.get(order_id)
            source: Iterable[dict[str, Any]] = () if found is None else (found,)
        else:
            source = self.borrow_orders.values()
        rows = [r for r in source if currency in (None, r["loanCurrency"])]
        return _page(rows, "orderId", params)

    def flexible_repayment_history(self, params: Mapping[str, Any],
                                   now: int) -> dict[str, Any]:
        """GET /v5/crypto-loan-flexible/repayment-history (repayTime, repayType: numbers)."""
        repay_id = _text(params, "repayId")
        currency = _text(params, "loanCurrency")
        rows = [r for r in self.repayments
                if repay_id in (None, r["repayId"]) and currency in (None, r["loanCurrency"])]
        return _page(rows, "repayId", params)

    # -- fixed ------------------------------------------------------------------------

    def _lowest_rate(self, currency: str, term: int) -> Decimal | None:
        rates = [o.rate for o in self.offers.get(currency, ()) if o.term == term]
        return min(rates) if rates else None

    def _fills(self, order: FixedOrder) -> bool:
        lowest = self._lowest_rate(order.currency, order.term)
        return lowest is not None and order.rate >= lowest

    def _fill(self, order: FixedOrder, now: int) -> FixedContract:
        amount = order.amount - order.filled
        interest = _round(amount * order.rate * order.term / 365, FIXED_PLACES, ROUND_UP)
        wallet = self.sandbox.wallet
        wallet[order.currency] = wallet.get(order.currency, ZERO) + amount - interest
        order.filled = order.amount
        order.state = 3
        self._pending.pop(order.order_id, None)
        loan_id = str(self._id("loan"))
        contract = FixedContract(
            loan_id=loan_id, order_id=order.order_id, currency=order.currency,
            principal=amount, rate=order.rate, term=order.term, repay_type=order.repay_type,
            borrow_time=now, due=now + order.term * DAY_MS, interest_paid=interest,
        )
        self.contracts[loan_id] = contract
        self._open[loan_id] = contract
        self._schedule("due", loan_id, contract.due)
        return contract

    def fixed_borrow(self, params: Mapping[str, Any], now: int) -> dict[str, Any]:
        """POST /v5/crypto-loan-fixed/borrow: fills at once if the market offers the rate."""
        currency = _required(params, "orderCurrency")
        coin = self._loan_coin(currency, "fixed")
        term = _term(_required(params, "term"))
        rate_text = _required(params, "annualRate")
        if rate_text.startswith("-") and _PLAIN.fullmatch(rate_text[1:]):
            raise ApiError(148016, f"{RET_MSGS[148016]} (annualRate must be in (0, 1])")
        if not _PLAIN.fullmatch(rate_text):
            raise ApiError(10001, "params error: annualRate must be a decimal string")
        rate = Decimal(rate_text)
        _check(rate, RATE_PLACES, 148017, "annualRate")
        if not RATE_RANGE[0] < rate <= RATE_RANGE[1]:
            raise ApiError(148016, f"{RET_MSGS[148016]} (annualRate must be in (0, 1])")
        repay_type = _text(params, "repayType")
        if repay_type is None:
            auto = _text(params, "autoRepay")
            if auto not in (None, "true", "false"):
                raise ApiError(10001, 'params error: autoRepay must be "true" or "false"')
            repay_type = "1"
        if repay_type not in ("1", "2"):
            raise ApiError(10001, "params error: repayType must be 1 (auto repay) or 2 "
                                  "(transfer to flexible)")
        amount = self._loan_amount(params, "orderAmount", coin, coin.fixed_accuracy,
                                   coin.min_fixed)
        items = self._collateral_list(params, "currency")
        price = self._price(currency)
        self._check_funding(items)
        self._check_capacity(items, amount * price)
        self._pledge(items)
        order = FixedOrder(self._id("fixed_order"), currency, amount, rate, term, repay_type,
                           now, dict(items))
        self.fixed_orders[order.order_id] = order
        self._pending[order.order_id] = order
        if self._fills(order):
            self._fill(order, now)
        return {"orderId": str(order.order_id)}

    def borrow_order_info(self, params: Mapping[str, Any], now: int) -> dict[str, Any]:
        """GET /v5/crypto-loan-fixed/borrow-order-info (orderId, state, term: numbers)."""
        order_id = _text(params, "orderId")
        currency = _text(params, "orderCurrency")
        state = _text(params, "state")
        term = _text(params, "term")
        if order_id is not None:
            found = self.fixed_orders.get(int(order_id)) if order_id.isdigit() else None
            source: Iterable[FixedOrder] = () if found is None else (found,)
        else:
            source = self.fixed_orders.values()
        rows = [o.to_wire() for o in source
                if currency in (None, o.currency) and state in (None, str(o.state))
                and term in (None, str(o.term))]
        return _page(rows, "orderId", params)

    def borrow_contract_info(self, params: Mapping[str, Any], now: int) -> dict[str, Any]:
        """GET /v5/crypto-loan-fixed/borrow-contract-info (status: number)."""
        loan_id = _text(params, "loanId")
        order_id = _text(params, "orderId")
        currency = _text(params, "orderCurrency")
        term = _text(params, "term")
        if loan_id is not None:
            found = self.contracts.get(loan_id)
            source: Iterable[FixedContract] = () if found is None else (found,)
        else:
            source = self.contracts.values()
        rows = []
        for contract in source:
            if (order_id in (None, str(contract.order_id)) and currency in (None, contract.currency)
                    and term in (None, str(contract.term))):
                self._accrue_penalty(contract, now)
                rows.append(contract.to_wire())
        return _page(rows, "loanId", params)

    def fully_repay(self, params: Mapping[str, Any], now: int) -> dict[str, Any]:
        """POST /v5/crypto-loan-fixed/fully-repay by ``loanId`` or all of ``loanCurrency``."""
        loan_id = _text(params, "loanId")
        currency = _text(params, "loanCurrency")
        if loan_id is None and currency is None:
            raise ApiError(10001, "params error: loanId or loanCurrency is required")
        if loan_id is not None:
            found = self.contracts.get(loan_id)
            if found is None or currency not in (None, found.currency):
                raise ApiError(148023, f"{RET_MSGS[148023]} (loanId {loan_id})")
            if found.status == 2:
                raise ApiError(148032, f"{RET_MSGS[148032]} (loanId {loan_id})")
            targets = [found]
        else:
            targets = [k for k in self._open.values() if k.currency == currency]
            if not targets:
                raise ApiError(148032, f"{RET_MSGS[148032]} ({currency})")
        for contract in targets:
            self._accrue_penalty(contract, now)
        coin = targets[0].currency
        total = sum((k.debt for k in targets), ZERO)
        wallet = self.sandbox.wallet
        if wallet.get(coin, ZERO) < total:
            raise ApiError(148029, f"{RET_MSGS[148029]} ({fmt(total)} {coin} needed)")
        wallet[coin] -= total
        repay_id = str(self._id("repay"))
        details = []
        for contract in targets:
            details.append({"loanCurrency": coin, "loanId": contract.loan_id,
                            "repayAmount": fmt(contract.debt)})
            contract.principal = contract.penalty = ZERO
            contract.status = 2
            del self._open[contract.loan_id]
        self.fixed_repayments.append({
            "details": details, "loanCurrency": coin, "repayAmount": fmt(total),
            "repayId": repay_id, "repayStatus": 1, "repayTime": now, "repayType": 1,
        })
        self._release_if_clear()
        return {"repayId": repay_id}

    def borrow_order_quote(self, params: Mapping[str, Any], now: int) -> dict[str, Any]:
        """GET /v5/crypto-loan-fixed/borrow-order-quote (public): supply on offer."""
        currency = _required(params, "orderCurrency")
        order_by = _required(params, "orderBy")
        keys: dict[str, Callable[[market.LendingOffer], Any]] = {
            "apy": lambda o: (o.rate, o.term), "term": lambda o: (o.term, o.rate),
            "quantity": lambda o: (o.qty, o.rate),
        }
        if order_by not in keys:
            raise ApiError(10001, "params error: orderBy must be apy, term or quantity")
        term = _text(params, "term")
        if term is not None:
            _term(term)
        sort = _text(params, "sort") or "0"
        if sort not in ("0", "1"):
            raise ApiError(10001, "params error: sort must be 0 (ascending) or 1 (descending)")
        limit = _limit(params)
        offers = [o for o in self.offers.get(currency, ()) if term in (None, str(o.term))]
        offers.sort(key=keys[order_by], reverse=sort == "1")
        return {"list": [
            {"annualRate": fmt(o.rate), "orderCurrency": currency, "qty": fmt(o.qty),
             "term": o.term}
            for o in offers[:limit]
        ]}


# -- route registration ---------------------------------------------------------------


def _on_book(name: str) -> Callable[[Sandbox, dict[str, Any], int], dict[str, Any]]:
    def handler(sandbox: Sandbox, params: dict[str, Any], now: int) -> dict[str, Any]:
        result: dict[str, Any] = getattr(sandbox.new_api, name)(params, now)
        return result

    handler.__name__ = name
    return handler


_NEW_ROUTES: dict[str, _Route] = {
    e.path: _Route(e.method, e.signed, _on_book(_HANDLERS[e.name]), "ok")
    for e in ep.NEW_API_ENDPOINTS
    if e.name in _HANDLERS
}
RET_MSGS.update(NEW_RET_MSGS)
_ROUTES.update(_NEW_ROUTES)
ROUTES.update({path: (r.method, r.signed) for path, r in _NEW_ROUTES.items()})
