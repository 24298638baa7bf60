"""The new API's risk rules: selling pooled collateral, margin calls and liquidation.

:class:`PoolRisk` is the part of :class:`~loan_widgets.sandbox.new_api.NewApiBook` that
judges the whole account from its LTV (see that module's docstring, *Risk*): the pool is
sold in ``liquidationOrder`` at the sandbox prices, and collateral repayments sell the
coins the caller names, with their fee.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager
from decimal import ROUND_UP, Decimal
from typing import TYPE_CHECKING, Any, Protocol

from . import market
from .legacy import Account, RiskEvent
from .new_records import FixedContract, FixedOrder, FlexibleDebt
from .wire import RET_MSGS, ApiError, rounded

__all__ = ["PoolAccount", "PoolRisk"]

ZERO = Decimal(0)


class PoolAccount(Account, Protocol):
    """What the new API's book needs from the account it belongs to."""

    next_ids: deque[str]

    @property
    def lock(self) -> AbstractContextManager[object]: ...

    @property
    def collateral_coins(self) -> dict[str, market.CollateralCoin]: ...

    def now_ms(self) -> int: ...

    def catch_up(self, now: int) -> None: ...


class PoolRisk:
    """Selling collateral and liquidating the pooled account (a part of ``NewApiBook``)."""

    sandbox: PoolAccount
    collateral: dict[str, Decimal]
    flexible: dict[str, Any]
    open: dict[str, Any]
    pending: dict[int, Any]
    liquidation_order: dict[str, int]
    liquidation_ltv: Decimal
    margin_call_ltv: Decimal
    margin_call: bool

    if TYPE_CHECKING:  # the rest of the book, defined by NewApiBook
        def accrue(self, debt: FlexibleDebt, now: int) -> None: ...
        def ltv(self) -> Decimal: ...
        def debt_usd(self, pending: bool = False) -> Decimal: ...
        def has_borrowing(self) -> bool: ...
        def release_if_clear(self) -> None: ...
        def cancel_pending(self, order: FixedOrder) -> None: ...
        def close_contract(self, contract: FixedContract, amount: Decimal, now: int,
                           repay_type: int) -> str: ...
        def record_flexible_repayment(self, coin: str, amount: Decimal, now: int,
                                      repay_type: int) -> str: ...

    def sell(self, usd: Decimal, coins: Iterable[str], fee_for: Mapping[str, Decimal] | None = None,
             strict: bool = False) -> dict[str, Decimal]:
        """Sell pool collateral in the order of ``coins`` until ``usd`` is raised.

        ``fee_for[coin]`` adds a fee on top; ``strict`` refuses (148012) when the
        listed coins cannot raise it all, and then sells nothing.
        """
        plan: dict[str, Decimal] = {}
        left = usd
        prices = self.sandbox.prices
        for coin in coins:
            if left <= 0:
                break
            price = prices.get(coin, ZERO)
            held = self.collateral.get(coin, ZERO) - plan.get(coin, ZERO)
            if price <= 0 or held <= 0:
                continue
            fee = (fee_for or {}).get(coin, ZERO)
            coll = self.sandbox.collateral_coins.get(coin)
            places = coll.collateral_accuracy if coll is not None else 8
            take = min(held, rounded(left * (1 + fee) / price, places, ROUND_UP))
            plan[coin] = plan.get(coin, ZERO) + take
            left -= take * price / (1 + fee)
        if strict and left > 0:
            raise ApiError(148012, f"{RET_MSGS[148012]} (the collateral listed cannot cover "
                                   "the repayment and its fee)")
        for coin, amount in plan.items():
            self.collateral[coin] -= amount
        return plan

    def evaluate(self, now: int) -> None:
        """Flag or liquidate the account from its current LTV."""
        if not (self.flexible or self.open):
            self.margin_call = False
            return
        for debt in self.flexible.values():
            self.accrue(debt, now)
        ltv = self.ltv()
        if ltv >= self.liquidation_ltv:
            self.liquidate_all(now, ltv)
        elif ltv >= self.margin_call_ltv:
            if not self.margin_call:
                self.margin_call = True
                self.sandbox.margin_calls.append(RiskEvent(now, "margin_call", "new", "", ltv))
        else:
            self.margin_call = False

    def _by_liquidation_order(self) -> list[str]:
        return sorted(self.collateral, key=lambda c: (self.liquidation_order.get(c, 99), c))

    def liquidate_all(self, now: int, ltv: Decimal) -> None:
        """Sell collateral until every debt is repaid; cancel waiting orders."""
        repaid: dict[str, Decimal] = {}
        sold = self.sell(self.debt_usd(), self._by_liquidation_order())
        for coin, debt in list(self.flexible.items()):
            repaid[coin] = repaid.get(coin, ZERO) + debt.total
            self.record_flexible_repayment(coin, debt.total, now, 2)
            del self.flexible[coin]
        for contract in list(self.open.values()):
            repaid[contract.currency] = repaid.get(contract.currency, ZERO) + contract.debt
            self.close_contract(contract, contract.debt, now, 2)
        for order in list(self.pending.values()):
            self.cancel_pending(order)
        returned = dict(self.collateral)
        self.release_if_clear()
        self.margin_call = False
        self.sandbox.liquidations.append(RiskEvent(
            now, "liquidation", "new", "", ltv, "ltv",
            {"sold": sold, "returned": returned, "repaid": repaid}))

    def liquidate_contract(self, contract: FixedContract, now: int) -> None:
        """Sell collateral to repay one overdue contract."""
        debt = contract.debt
        sold = self.sell(debt * self.sandbox.prices.get(contract.currency, ZERO),
                         self._by_liquidation_order())
        self.close_contract(contract, debt, now, 6)
        returned = dict(self.collateral) if not self.has_borrowing() else {}
        self.release_if_clear()
        self.sandbox.liquidations.append(RiskEvent(
            now, "liquidation", "new", contract.loan_id, ZERO, "overdue",
            {"sold": sold, "returned": returned, "repaid": {contract.currency: debt}}))
