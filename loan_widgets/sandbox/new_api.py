"""The new API's book: Crypto Loan (New) state of one sandbox account, transport-free.

The endpoints that read and change it are in :mod:`~loan_widgets.sandbox.new_common`,
:mod:`~loan_widgets.sandbox.new_flexible`, :mod:`~loan_widgets.sandbox.new_fixed` and
:mod:`~loan_widgets.sandbox.new_supply`; they answer ``retMsg "ok"`` (``"OK"`` for the
two ``available-inventory`` pages, as their examples show) and 148xxx errors. The
Funding wallet and the prices are the account's, shared with the legacy book.

**Model.**

* *One account, two books.* Legacy orders and new loans never show in each other's
  endpoints (the docs do not say whether they do). Only the Funding wallet is shared.
* *Pooled collateral.* ``collateralList`` items (and ``adjust-ltv`` additions) move
  coins from Funding into one pool (``book.collateral``). A coin counts at its USD
  value times the tiered ratio of its group (``collateral-data``), band by band.
  ``ltv`` = total debt in USD / tiered collateral in USD, 6 decimals.
* *Limits.* A borrow, or a collateral reduction, must leave ``ltv <= initial_ltv``
  (0.8), counting unfilled fixed orders as debt; otherwise 148012 (borrow) or 148037
  (reduce). With nothing owed and nothing ordered the pool returns to Funding.
* *Flexible* debt is kept per coin and draws on the lending pool
  (:data:`~loan_widgets.sandbox.market.FLEXIBLE_INVENTORY`, 148011 past it). Interest
  is charged per hour of server time since the debt was opened, one hour at a time:
  ``principal x hourly rate`` rounded up to 8 decimals (the docs' ``ongoing-coin``
  example: 0.1 ETH at 0.0000018847396 owes ``0.00000019`` after one hour).
* *Fixed* borrow orders match the lending market (``offers``, ``borrow-order-quote``):
  the offers of their term priced at most their ``annualRate``, cheapest first, each
  becoming one contract (``loanId``) at the order's rate and losing that quantity.
  ``strategyType`` ``PARTIAL`` (default) takes what there is and waits for the rest;
  ``FULL`` waits until all of it can fill. A waiting order stays ``state`` 1
  (matching) with its collateral in the pool until it fills (:meth:`set_offers`) or is
  cancelled. The whole term's interest, ``principal x annualRate x term / 365``
  rounded up to 18 decimals, is charged from Funding when a contract is made (the docs'
  contract example obeys this). At ``repaymentTime`` ``repayType`` ``"1"`` repays from
  Funding if it can, ``"2"`` moves the principal into flexible debt; otherwise the
  contract is overdue (``status`` 3), accrues penalty at 3x ``annualRate / 8760`` per
  hour and is liquidated ``overdue_liquidation_hours`` (48) after its due time.
* *Supply* orders lend from Funding and match the borrow demand (``demand``,
  ``supply-order-quote``) priced at least their rate, dearest first; a supply contract
  pays back principal plus ``amount x annualRate x term / 365 x 0.85`` at redemption
  (the docs' supply example: 800 USDT, 7 days at 0.01, interest 0.13041095890410959).
* *Risk.* The account is re-evaluated on every price change and at the hour marks of
  flexible debt and overdue contracts: at ``liquidation_ltv`` (0.91) collateral is sold
  in ``liquidationOrder`` until all debt is repaid (``repayType`` 2); at
  ``margin_call_ltv`` (0.85) ``margin_call`` turns True and ``margin_calls`` gets a
  :class:`~loan_widgets.sandbox.legacy.RiskEvent`. These levels are sandbox choices.
* *Ids* are short and per kind, increasing by one; seed 0 starts at the docs' example
  ids (flexible orderId ``"1363"``, repayId ``"1771"``, adjustId ``27511``, fixed
  orderId ``"13007"``, loanId ``"570"``, supply orderId ``13564``, supplyId ``"567"``).
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterable, Mapping
from dataclasses import replace
from decimal import ROUND_UP, Decimal
from typing import Any

from .. import endpoints as ep
from . import market
from .new_records import FixedContract, FixedOrder, FlexibleDebt, SupplyContract, SupplyOrder
from .new_risk import PoolAccount, PoolRisk
from .wire import DAY_MS, HOUR_MS, RET_MSGS, ApiError, ById, fmt, rounded

__all__ = ["RATE_LIMITS", "NewApiBook"]

ZERO = Decimal(0)
FLEX_INTEREST_PLACES = 8
FIXED_PLACES = 18
_ID_STARTS = {"flex_order": 1363, "repay": 1771, "adjust": 27511, "fixed_order": 13007,
              "loan": 570, "supply_order": 13564, "supply": 567}


RATE_LIMITS: dict[str, int] = {
    e.path: 1 if e.writes else 5 for e in ep.NEW_API_ENDPOINTS if e.signed}
"""The documented UID limits per path: 1/s for state-changing POSTs, 5/s for queries."""


class NewApiBook(PoolRisk):
    """The Crypto Loan (New) state of one account (see the module docstring).

    Attributes you may change from a test (hold the account's ``lock`` while a server
    runs): ``loan_coins``, ``offers``/``demand`` (or :meth:`set_offers`/:meth:`set_demand`),
    ``tiers``, ``liquidation_order``, ``initial_ltv``, ``margin_call_ltv``,
    ``liquidation_ltv``, ``overdue_liquidation_hours``, ``inventory``.
    """

    def __init__(self, account: PoolAccount, seed: int = 0) -> None:
        self.sandbox = account
        self.loan_coins: dict[str, market.NewLoanCoin] = dict(market.NEW_LOAN_COINS)
        self.offers: dict[str, list[market.LendingOffer]] = {
            coin: list(rows) for coin, rows in market.LENDING_OFFERS.items()}
        self.demand: dict[str, list[market.LendingOffer]] = {
            coin: list(rows) for coin, rows in market.BORROW_DEMAND.items()}
        self.inventory: dict[str, Decimal] = dict(market.FLEXIBLE_INVENTORY)
        self.groups = market.COLLATERAL_RATIO_GROUPS
        self.tiers: dict[str, tuple[market.CollateralTier, ...]] = {
            coin: tiers for coins, tiers in self.groups for coin in coins}
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
        """The pledged pool: coin -> amount."""
        self.flexible: dict[str, FlexibleDebt] = {}
        """Open flexible debt by loan coin."""
        self.borrow_orders: ById = ById()
        """Flexible ``borrow-history`` rows by orderId."""
        self.repayments: list[dict[str, Any]] = []
        """Flexible ``repayment-history`` rows, oldest first."""
        self.repayments_by_id: ById = ById()
        self.fixed_orders: ById = ById()
        self.contracts: ById = ById()
        self.fixed_repayments: list[dict[str, Any]] = []
        """Fixed ``repayment-history`` rows (with ``details``), oldest first."""
        self.fixed_repayments_by_id: ById = ById()
        self.renewals: ById = ById()
        self.supply_orders: ById = ById()
        self.supply_contracts: ById = ById()
        self.adjustments: list[dict[str, Any]] = []
        self.adjustments_by_id: ById = ById()
        self.pending: dict[int, FixedOrder] = {}
        self.open: dict[str, FixedContract] = {}
        self.pending_supply: dict[int, SupplyOrder] = {}
        self.timeline: list[tuple[int, int, str, str]] = []
        self.scheduled: dict[tuple[str, str], int] = {}
        self.seq = 0
        offset = 0 if seed == 0 else random.Random(f"new-api-{seed}").randrange(1, 10**6)
        self.ids = {kind: start - 1 + offset for kind, start in _ID_STARTS.items()}

    # -- configuration ---------------------------------------------------------------

    def set_offers(self, currency: str,
                   offers: Iterable[tuple[int, Decimal | str, Decimal | str]]) -> None:
        """Replace the lending offers of ``currency`` with ``(term, rate, qty)`` rows,
        then fill the waiting borrow orders they now cover."""
        rows = [market.LendingOffer(int(t), Decimal(r), Decimal(q)) for t, r, q in offers]
        with self.sandbox.lock:
            now = self.sandbox.now_ms()
            self.sandbox.catch_up(now)
            self.offers[currency] = rows
            for order in list(self.pending.values()):
                if order.currency == currency:
                    self.match_borrow(order, now)

    def set_demand(self, currency: str,
                   rows: Iterable[tuple[int, Decimal | str, Decimal | str]]) -> None:
        """Replace the borrow demand of ``currency`` with ``(term, rate, qty)`` rows,
        then fill the waiting supply orders it now covers."""
        demand = [market.LendingOffer(int(t), Decimal(r), Decimal(q)) for t, r, q in rows]
        with self.sandbox.lock:
            now = self.sandbox.now_ms()
            self.demand[currency] = demand
            for order in list(self.pending_supply.values()):
                if order.currency == currency:
                    self.match_supply(order, now)

    def set_flexible_rate(self, coin: str, hourly_rate: Decimal, now: int) -> None:
        """Charge the elapsed hours at the old rate, then switch."""
        debt = self.flexible.get(coin)
        if debt is not None:
            self.accrue(debt, now)
        if coin in self.loan_coins:
            self.loan_coins[coin] = replace(self.loan_coins[coin], hourly_rate=hourly_rate)

    # -- ids, prices, values ---------------------------------------------------------

    def new_id(self, kind: str) -> int:
        """The next id of ``kind`` (queued ``next_ids`` of the account first)."""
        queued = self.sandbox.next_ids
        if queued:
            return int(queued.popleft())
        self.ids[kind] += 1
        return self.ids[kind]

    def price(self, coin: str) -> Decimal:
        """The spot price of ``coin`` (148014 when it has none)."""
        found = self.sandbox.prices.get(coin)
        if found is None:
            raise ApiError(148014, f"{RET_MSGS[148014]} ({coin} has no price)")
        return found

    def loan_coin(self, coin: str, kind: str) -> market.NewLoanCoin:
        """A coin borrowable as ``kind`` (``flexible`` or ``fixed``), or 148014."""
        found = self.loan_coins.get(coin)
        if found is None or not (found.flexible_borrowable if kind == "flexible"
                                 else found.fixed_borrowable):
            raise ApiError(148014, f"{RET_MSGS[148014]} ({coin} for {kind} loans)")
        return found

    def tiered(self, coin: str, amount: Decimal) -> Decimal:
        """USD value of ``amount`` of ``coin`` after the tiered collateral ratio."""
        value = amount * self.sandbox.prices.get(coin, ZERO)
        counted = ZERO
        for tier in self.tiers.get(coin, ()):
            if value <= tier.min_value:
                break
            counted += (min(value, tier.max_value) - tier.min_value) * tier.ratio
        return counted

    def collateral_usd(self, extra: Mapping[str, Decimal] | None = None) -> Decimal:
        """Tiered USD value of the pool (plus ``extra`` coins)."""
        extra = extra or {}
        coins = set(self.collateral) | set(extra)
        return sum((self.tiered(c, self.collateral.get(c, ZERO) + extra.get(c, ZERO))
                    for c in coins), ZERO)

    def debt_usd(self, pending: bool = False) -> Decimal:
        """All debt in USD (with ``pending``: unfilled borrow orders too)."""
        prices = self.sandbox.prices
        total = sum((d.total * prices.get(c, ZERO) for c, d in self.flexible.items()), ZERO)
        total += sum((k.debt * prices.get(k.currency, ZERO) for k in self.open.values()), ZERO)
        if pending:
            total += sum((o.unfilled * prices.get(o.currency, ZERO)
                          for o in self.pending.values()), ZERO)
        return total

    def ltv(self) -> Decimal:
        """Account LTV (0 without debt, infinite with debt and no collateral)."""
        debt = self.debt_usd()
        if debt <= 0:
            return ZERO
        collateral = self.collateral_usd()
        return debt / collateral if collateral > 0 else Decimal("Infinity")

    def owed(self, coin: str) -> Decimal:
        """Everything the account owes or has ordered in ``coin`` (for the quota)."""
        debt = self.flexible.get(coin)
        owed = debt.principal if debt is not None else ZERO
        owed += sum((k.principal for k in self.open.values() if k.currency == coin), ZERO)
        owed += sum((o.unfilled for o in self.pending.values() if o.currency == coin), ZERO)
        return owed

    def has_borrowing(self) -> bool:
        """Any flexible debt, open contract or waiting borrow order."""
        return bool(self.flexible or self.open or self.pending)

    def pool_available(self, coin: str) -> Decimal:
        """What the flexible lending pool can still lend in ``coin``."""
        debt = self.flexible.get(coin)
        used = debt.principal if debt is not None else ZERO
        return max(ZERO, self.inventory.get(coin, ZERO) - used)

    # -- collateral ------------------------------------------------------------------

    def check_funding(self, items: Mapping[str, Decimal]) -> None:
        """148037 when Funding lacks an item, 148006 past a coin's platform limit."""
        wallet = self.sandbox.wallet
        for coin, amount in items.items():
            if wallet.get(coin, ZERO) < amount:
                raise ApiError(148037, f"{RET_MSGS[148037]} ({coin} in the Funding wallet)")
            coll = self.sandbox.collateral_coins[coin]
            if self.collateral.get(coin, ZERO) + amount > coll.max_limit:
                raise ApiError(148006, f"{RET_MSGS[148006]} ({fmt(coll.max_limit)} {coin})")

    def check_capacity(self, extra: Mapping[str, Decimal], new_debt_usd: Decimal) -> None:
        """148012 when the new debt would take the LTV past ``initial_ltv``."""
        allowed = self.collateral_usd(extra) * self.initial_ltv
        if self.debt_usd(pending=True) + new_debt_usd > allowed:
            raise ApiError(148012, f"{RET_MSGS[148012]} (the LTV would exceed "
                                   f"{fmt(self.initial_ltv)} of the tiered collateral value)")

    def pledge(self, items: Mapping[str, Decimal]) -> None:
        """Move ``items`` from Funding into the pool."""
        wallet = self.sandbox.wallet
        for coin, amount in items.items():
            wallet[coin] -= amount
            self.collateral[coin] = self.collateral.get(coin, ZERO) + amount

    def release_if_clear(self) -> None:
        """With nothing owed and nothing ordered, the pool returns to the Funding wallet."""
        if self.has_borrowing():
            return
        wallet = self.sandbox.wallet
        for coin, amount in self.collateral.items():
            if amount > 0:
                wallet[coin] = wallet.get(coin, ZERO) + amount
        self.collateral.clear()
        self.margin_call = False

    # -- time: accrual, maturity, penalties, redemption ------------------------------

    def schedule(self, kind: str, key: str, at: int) -> None:
        """Run event ``kind`` for ``key`` when server time reaches ``at``."""
        self.seq += 1
        self.scheduled[(kind, key)] = at
        heapq.heappush(self.timeline, (at, self.seq, kind, key))

    def accrue(self, debt: FlexibleDebt, now: int) -> None:
        """Charge the whole hours since the last mark, each rounded up to 8 decimals."""
        hours = (now - debt.accrued_to) // HOUR_MS
        if hours <= 0:
            return
        if debt.principal > 0:
            rate = self.loan_coins[debt.currency].hourly_rate
            per_hour = rounded(debt.principal * rate, FLEX_INTEREST_PLACES, ROUND_UP)
            debt.interest += per_hour * hours
        debt.accrued_to += hours * HOUR_MS

    def accrue_penalty(self, contract: FixedContract, now: int) -> None:
        """Penalty interest of an overdue contract, hour by hour."""
        hours = (now - contract.accrued_to) // HOUR_MS
        if hours <= 0 or contract.status != 3:
            return
        per_hour = contract.principal * contract.rate * 3 / market.HOURS_PER_YEAR
        contract.penalty += rounded(per_hour * hours, FIXED_PLACES, ROUND_UP)
        contract.accrued_to += hours * HOUR_MS

    def flexible_debt(self, coin: str, now: int) -> FlexibleDebt:
        """The coin's flexible debt (opened at ``now`` if there is none), settled."""
        debt = self.flexible.get(coin)
        if debt is None:
            debt = self.flexible[coin] = FlexibleDebt(coin, accrued_to=now)
            self.schedule("flex", coin, now + HOUR_MS)
        else:
            self.accrue(debt, now)
        return debt

    def catch_up(self, now: int) -> None:
        """Process every due event in time order, then re-evaluate the account."""
        timeline = self.timeline
        if not timeline or timeline[0][0] > now:
            return
        while timeline and timeline[0][0] <= now:
            at, _, kind, key = heapq.heappop(timeline)
            if self.scheduled.get((kind, key)) != at:
                continue  # superseded
            del self.scheduled[(kind, key)]
            if kind == "flex":
                debt = self.flexible.get(key)
                if debt is not None:
                    self.accrue(debt, at)
                    self.schedule("flex", key, debt.accrued_to + HOUR_MS)
                    self.evaluate(at)
            elif kind == "due":
                contract = self.open.get(key)
                if contract is not None:
                    self.mature(contract, at)
            elif kind == "penalty":
                contract = self.open.get(key)
                if contract is not None:
                    self.accrue_penalty(contract, at)
                    if at >= contract.due + self.overdue_liquidation_hours * HOUR_MS:
                        self.liquidate_contract(contract, at)
                    else:
                        self.schedule("penalty", key, contract.accrued_to + HOUR_MS)
            elif kind == "redeem":
                self.redeem(self.supply_contracts[key], at)
        self.evaluate(now)

    def mature(self, contract: FixedContract, at: int) -> None:
        """At ``repaymentTime``: auto repay, roll into flexible debt, or go overdue."""
        wallet = self.sandbox.wallet
        coin = contract.currency
        if contract.repay_type == "2":
            self.flexible_debt(coin, at).principal += contract.principal
            self.close_contract(contract, contract.principal, at, 8)
        elif wallet.get(coin, ZERO) >= contract.principal:
            wallet[coin] -= contract.principal
            self.close_contract(contract, contract.principal, at, 3)
        else:
            contract.status = 3
            contract.accrued_to = at
            self.schedule("penalty", contract.loan_id, at + HOUR_MS)
            return
        self.release_if_clear()

    def redeem(self, contract: SupplyContract, at: int) -> None:
        """At ``redemptionTime`` the lender gets principal plus interest back in Funding."""
        if contract.status != 1:
            return
        wallet = self.sandbox.wallet
        wallet[contract.currency] = (wallet.get(contract.currency, ZERO) + contract.amount
                                     + contract.interest)
        contract.status = 2

    def record_fixed_repayment(self, coin: str, details: list[tuple[str, Decimal]], now: int,
                               repay_type: int, repay_id: str | None = None) -> str:
        """Append a fixed ``repayment-history`` row split per contract; returns its repayId."""
        repay_id = repay_id or str(self.new_id("repay"))
        row = {
            "details": [{"loanCurrency": coin, "loanId": loan_id, "repayAmount": fmt(amount)}
                        for loan_id, amount in details],
            "loanCurrency": coin,
            "repayAmount": fmt(sum((amount for _, amount in details), ZERO)),
            "repayId": repay_id,
            "repayStatus": 1,
            "repayTime": now,
            "repayType": repay_type,
        }
        self.fixed_repayments.append(row)
        self.fixed_repayments_by_id[repay_id] = row
        return repay_id

    def close_contract(self, contract: FixedContract, amount: Decimal, now: int,
                       repay_type: int) -> str:
        """Mark a contract fully repaid and record the repayment."""
        contract.principal = contract.penalty = ZERO
        contract.status = 2
        self.open.pop(contract.loan_id, None)
        return self.record_fixed_repayment(contract.currency, [(contract.loan_id, amount)], now,
                                           repay_type)

    def record_flexible_repayment(self, coin: str, amount: Decimal, now: int,
                                  repay_type: int) -> str:
        """Append a flexible ``repayment-history`` row; returns its repayId."""
        repay_id = str(self.new_id("repay"))
        row = {"loanCurrency": coin, "repayAmount": fmt(amount), "repayId": repay_id,
               "repayStatus": 1, "repayTime": now, "repayType": repay_type}
        self.repayments.append(row)
        self.repayments_by_id[repay_id] = row
        return repay_id

    # -- the fixed-rate market ---------------------------------------------------------

    def match_borrow(self, order: FixedOrder, now: int) -> None:
        """Fill ``order`` from the cheapest offers it covers (see the module docstring)."""
        book = self.offers.get(order.currency, [])
        usable = sorted((i for i, o in enumerate(book)
                         if o.term == order.term and o.rate <= order.rate and o.qty > 0),
                        key=lambda i: (book[i].rate, i))
        wanted = order.amount - order.filled
        if order.strategy == "FULL" and sum((book[i].qty for i in usable), ZERO) < wanted:
            return
        wallet = self.sandbox.wallet
        for index in usable:
            if wanted <= 0:
                break
            take = min(book[index].qty, wanted)
            book[index] = replace(book[index], qty=book[index].qty - take)
            wanted -= take
            interest = rounded(take * order.rate * order.term / 365, FIXED_PLACES, ROUND_UP)
            wallet[order.currency] = wallet.get(order.currency, ZERO) + take - interest
            loan_id = str(self.new_id("loan"))
            contract = FixedContract(
                loan_id=loan_id, order_id=order.order_id, currency=order.currency,
                principal=take, rate=order.rate, term=order.term, repay_type=order.repay_type,
                borrow_time=now, due=now + order.term * DAY_MS, interest_paid=interest,
                borrowed=take)
            self.contracts[loan_id] = contract
            self.open[loan_id] = contract
            self.schedule("due", loan_id, contract.due)
            order.filled += take
        self.offers[order.currency] = [o for o in book if o.qty > 0]
        if order.filled == order.amount:
            order.state = 3
            self.pending.pop(order.order_id, None)

    def match_supply(self, order: SupplyOrder, now: int) -> None:
        """Lend ``order`` to the dearest borrow demand at or above its rate."""
        book = self.demand.get(order.currency, [])
        usable = sorted((i for i, o in enumerate(book)
                         if o.term == order.term and o.rate >= order.rate and o.qty > 0),
                        key=lambda i: (-book[i].rate, i))
        wanted = order.amount - order.filled
        for index in usable:
            if wanted <= 0:
                break
            take = min(book[index].qty, wanted)
            book[index] = replace(book[index], qty=book[index].qty - take)
            wanted -= take
            interest = rounded(take * order.rate * order.term / 365 * market.LENDER_SHARE,
                               FIXED_PLACES, ROUND_UP)
            supply_id = str(self.new_id("supply"))
            contract = SupplyContract(
                supply_id=supply_id, order_id=order.order_id, currency=order.currency,
                amount=take, rate=order.rate, term=order.term, time=now,
                redemption=now + order.term * DAY_MS, interest=interest)
            self.supply_contracts[supply_id] = contract
            self.schedule("redeem", supply_id, contract.redemption)
            order.filled += take
        self.demand[order.currency] = [o for o in book if o.qty > 0]
        if order.filled == order.amount:
            order.state = 3
            self.pending_supply.pop(order.order_id, None)

    def cancel_pending(self, order: FixedOrder) -> None:
        """Stop a waiting borrow order: ``state`` 4, or 2 when partly filled."""
        order.state = 2 if order.filled > 0 else 4
        self.pending.pop(order.order_id, None)
