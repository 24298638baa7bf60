"""The records of the new API's book: flexible debt, fixed orders and contracts, supply.

Each record knows its own wire form (``to_wire``), with the JSON types the
docs' examples show: ``orderId`` and ``term`` are numbers in
``borrow-order-info`` and ``supply-order-info``, strings in the contract lists.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from . import market
from .wire import RET_MSGS, ApiError, fmt, rounded

__all__ = [
    "FixedContract",
    "FixedOrder",
    "FlexibleDebt",
    "SupplyContract",
    "SupplyOrder",
    "ltv6",
    "parse_term",
    "usd2",
]

ZERO = Decimal(0)
LTV_PLACES = 6
USD_PLACES = 2
STRATEGIES = ("PARTIAL", "FULL")


def usd2(value: Decimal) -> str:
    """A USD figure: 2 decimals, half up, trailing zeros trimmed."""
    return fmt(rounded(value, USD_PLACES, ROUND_HALF_UP))


def ltv6(value: Decimal) -> str:
    """The account LTV: 6 decimals, half up; ``""`` for debt with no collateral left."""
    if not value.is_finite():
        return ""
    return fmt(rounded(value, LTV_PLACES, ROUND_HALF_UP))


def parse_term(value: str) -> int:
    """A fixed term in days: 7, 14, 30, 60, 90 or 180 (else 148015)."""
    if not (value.isascii() and value.isdigit()) or len(value) > 3 or (
            int(value) not in market.NEW_LOAN_TERMS):
        raise ApiError(148015, f"{RET_MSGS[148015]} (7, 14, 30, 60, 90 or 180 days)")
    return int(value)


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
    """A fixed-rate borrow order.

    ``state``: 1 matching, 2 partially filled and cancelled, 3 fully filled,
    4 cancelled, 5 failed. ``strategy`` ``"PARTIAL"`` fills what the market
    has; ``"FULL"`` fills only all at once.
    """

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
    strategy: str = "PARTIAL"

    @property
    def unfilled(self) -> Decimal:
        """What is still to be matched while the order is open."""
        return self.amount - self.filled if self.state == 1 else ZERO

    def to_wire(self) -> dict[str, Any]:
        """The ``borrow-order-info`` item (``orderId``, ``state`` and ``term`` are numbers)."""
        return {
            "annualRate": fmt(self.rate),
            "filledQty": fmt(self.filled),
            "orderCurrency": self.currency,
            "orderId": self.order_id,
            "orderQty": fmt(self.amount),
            "orderTime": str(self.time),
            "repayType": self.repay_type,
            "state": self.state,
            "strategyType": self.strategy,
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
    borrowed: Decimal = ZERO  # principal borrowed in all (the fill plus renewals)

    @property
    def debt(self) -> Decimal:
        """Residual principal plus unpaid penalty interest."""
        return self.principal + self.penalty

    @property
    def repaid(self) -> Decimal:
        """Principal paid back so far: what a renewal borrows again."""
        return self.borrowed - self.principal

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


@dataclass
class SupplyOrder:
    """A fixed-rate supply (lending) order; ``state`` as for :class:`FixedOrder`."""

    order_id: int
    currency: str
    amount: Decimal
    rate: Decimal
    term: int
    time: int
    source: str = "0"
    state: int = 1
    filled: Decimal = ZERO

    def to_wire(self) -> dict[str, Any]:
        """The ``supply-order-info`` item (``orderId``, ``state`` and ``term`` are numbers)."""
        return {
            "annualRate": fmt(self.rate),
            "filledQty": fmt(self.filled),
            "orderCurrency": self.currency,
            "orderId": self.order_id,
            "orderQty": fmt(self.amount),
            "orderTime": str(self.time),
            "state": self.state,
            "term": self.term,
        }


@dataclass
class SupplyContract:
    """A matched lending. ``status`` 1 supplying, 2 redeemed (principal and interest paid)."""

    supply_id: str
    order_id: int
    currency: str
    amount: Decimal
    rate: Decimal
    term: int
    time: int
    redemption: int
    interest: Decimal
    penalty: Decimal = ZERO
    status: int = 1
    extra: dict[str, Any] = field(default_factory=dict)

    def to_wire(self) -> dict[str, Any]:
        """The ``supply-contract-info`` item: the table's ``interestPaid`` and the
        example's ``interest`` both carry the lender's interest for the term."""
        return {
            "actualRedemptionTime": str(self.redemption),
            "annualRate": fmt(self.rate),
            "interest": fmt(self.interest),
            "interestPaid": fmt(self.interest),
            "orderId": str(self.order_id),
            "penaltyInterest": fmt(self.penalty),
            "redemptionTime": str(self.redemption),
            "status": self.status,
            "supplyAmount": fmt(self.amount),
            "supplyCurrency": self.currency,
            "supplyId": self.supply_id,
            "supplyTime": str(self.time),
            "term": str(self.term),
        }
