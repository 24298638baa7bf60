"""The new loan API's market and account data, parsed for quotes: pure, no network.

* ``loanable-data`` (new) -> :class:`NewLoanCoin`: whether a coin is lent
  flexibly and for fixed terms, the minimum per kind, the maximum, the decimal
  places per kind, the flexible annual rate and the lowest fixed rate lenders
  offer per term (:class:`NewMarket` holds them with ``collateral-data``'s
  ratio bands, parsed by :func:`loan_widgets.portfolio.tiers_from_wire`);
* ``borrow-order-quote`` -> :class:`Offer` rows: :func:`match_rate` is the
  annual rate at which an amount fills now, :func:`fills_at` what fills at a
  given rate (a fixed order takes the offers of its term priced at most its
  rate, cheapest first; the rest waits for lenders);
* ``position`` + ``max-loan`` -> :class:`PoolAccount`: the pool as a
  :class:`loan_widgets.portfolio.Pool` (parsed by portfolio's own
  :func:`~loan_widgets.portfolio.snapshot`), the exchange's LTV, what
  ``max-loan`` allows now and the quota left.

:mod:`loan_widgets.marketdata` fetches and keeps them;
:mod:`loan_widgets.pool_quote` computes on them. UI-free.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from .errors import LoanWidgetsError
from .numbers import wire_decimal
from .portfolio import Pool, Reads, Tier, snapshot
from .portfolio import tiers_from_wire as _tiers_from_wire
from .terms import FLEXIBLE, NEW_API_TERMS

__all__ = [
    "NewLoanCoin",
    "NewMarket",
    "Offer",
    "PoolAccount",
    "fills_at",
    "match_rate",
    "offers_from_wire",
]

ZERO = Decimal(0)


# --------------------------------------------------------------------------- market data


@dataclass(frozen=True)
class NewLoanCoin:
    """A coin of the new API's ``loanable-data``: kinds, bounds, precision, rates (annual)."""

    currency: str
    flexible: bool
    fixed: bool
    flexible_accuracy: int
    fixed_accuracy: int
    min_flexible: Decimal
    min_fixed: Decimal
    max_amount: Decimal | None
    flexible_rate: Decimal | None = None
    fixed_rates: Mapping[str, Decimal | None] = field(default_factory=dict)
    """The lowest annual rate lenders offer per term (``None``: nobody lends for it now)."""

    @classmethod
    def from_wire(cls, item: Mapping[str, Any]) -> NewLoanCoin:
        """Parse one ``loanable-data`` list item (``flexibleAnnualizedInterestRate`` is
        documented as an integer but sent as a decimal string: both are read)."""
        return cls(
            currency=str(item["currency"]),
            flexible=item.get("flexibleBorrowable") in (True, "true"),
            fixed=item.get("fixedBorrowable") in (True, "true"),
            flexible_accuracy=int(item.get("flexibleBorrowingAccuracy", 8)),
            fixed_accuracy=int(item.get("fixedBorrowingAccuracy", 8)),
            min_flexible=wire_decimal(item.get("minFlexibleBorrowingAmount")) or ZERO,
            min_fixed=wire_decimal(item.get("minFixedBorrowingAmount")) or ZERO,
            max_amount=wire_decimal(item.get("maxBorrowingAmount")),
            flexible_rate=wire_decimal(item.get("flexibleAnnualizedInterestRate")),
            fixed_rates={t: wire_decimal(item.get(f"annualizedInterestRate{t}D"))
                         for t in NEW_API_TERMS},
        )

    @property
    def terms(self) -> tuple[str, ...]:
        """The terms this coin can be borrowed for: flexible and/or every fixed term."""
        return ((FLEXIBLE,) if self.flexible else ()) + (NEW_API_TERMS if self.fixed else ())

    def accuracy(self, term: str) -> int:
        """Decimal places allowed for a loan of ``term``."""
        return self.flexible_accuracy if term == FLEXIBLE else self.fixed_accuracy

    def minimum(self, term: str) -> Decimal:
        """The smallest loan of ``term``."""
        return self.min_flexible if term == FLEXIBLE else self.min_fixed

    def annual_rates(self) -> dict[str, Decimal | None]:
        """Annual rate per term: the flexible rate, the lowest fixed offers."""
        return {FLEXIBLE: self.flexible_rate, **self.fixed_rates}


@dataclass(frozen=True)
class NewMarket:
    """The new API's coin tables: borrowable coins and the collateral bands, at ``fetched_at``."""

    loan_coins: Mapping[str, NewLoanCoin]
    tiers: Mapping[str, tuple[Tier, ...]]
    fetched_at: float

    @classmethod
    def from_wire(
        cls, loan_items: Iterable[Mapping[str, Any]], collateral: Mapping[str, Any],
        fetched_at: float,
    ) -> NewMarket:
        """Parse ``loanable-data``'s list (first row per coin) and ``collateral-data``'s result.

        Malformed rows are left out; :class:`~loan_widgets.errors.LoanWidgetsError`
        when either table ends up empty.
        """
        coins: dict[str, NewLoanCoin] = {}
        for item in loan_items:
            with contextlib.suppress(KeyError, TypeError, ValueError, ArithmeticError):
                coin = NewLoanCoin.from_wire(item)
                coins.setdefault(coin.currency, coin)
        tiers: dict[str, tuple[Tier, ...]] = {}
        with contextlib.suppress(KeyError, TypeError, ValueError, ArithmeticError):
            tiers = _tiers_from_wire(collateral)
        if not coins or not tiers:
            raise LoanWidgetsError(
                "the exchange listed no new-API loan coins or no collateral bands"
            )
        return cls(coins, tiers, fetched_at)


@dataclass(frozen=True)
class Offer:
    """A lender's offer on the fixed-rate market (``borrow-order-quote``)."""

    term: str
    rate: Decimal
    qty: Decimal


def offers_from_wire(items: Iterable[Mapping[str, Any]]) -> tuple[Offer, ...]:
    """``borrow-order-quote`` list items as offers (``term`` is a number there)."""
    found = []
    for item in items:
        with contextlib.suppress(KeyError, TypeError, ValueError, ArithmeticError):
            found.append(Offer(str(int(item["term"])), Decimal(str(item["annualRate"])),
                               Decimal(str(item["qty"]))))
    return tuple(found)


def match_rate(offers: Iterable[Offer], term: str, amount: Decimal) -> tuple[
    Decimal | None, Decimal
]:
    """(the lowest annual rate at which ``amount`` fills now, what is on offer for ``term``).

    The rate is ``None`` when all the offers of the term together fall short.
    """
    rows = sorted((o for o in offers if o.term == term and o.qty > 0), key=lambda o: o.rate)
    total = ZERO
    found = None
    for offer in rows:
        total += offer.qty
        if found is None and total >= amount:
            found = offer.rate
    return found, total


def fills_at(offers: Iterable[Offer], term: str, rate: Decimal) -> Decimal:
    """How much an order for ``term`` at ``rate`` takes from the offers now."""
    return sum((o.qty for o in offers if o.term == term and o.rate <= rate), ZERO)


# --------------------------------------------------------------------------- the account


@dataclass(frozen=True)
class PoolAccount:
    """The account's side of a borrow: its pool (``position``) and ``max-loan`` of one coin."""

    loan_coin: str
    pool: Pool | None
    ltv: Decimal
    max_loan: Decimal | None
    quota: Decimal | None
    fetched_at: float

    @classmethod
    def from_wire(
        cls, loan_coin: str, position: Mapping[str, Any], max_loan: Mapping[str, Any],
        prices: Mapping[str, Decimal], tiers: Mapping[str, tuple[Tier, ...]], fetched_at: float,
    ) -> PoolAccount:
        """Parse ``position`` (through :func:`loan_widgets.portfolio.snapshot`) and ``max-loan``."""
        pool = snapshot(Reads(0, prices, position=position, tiers=tiers)).pool
        return cls(
            loan_coin=loan_coin,
            pool=pool,
            ltv=wire_decimal(position.get("ltv")) or ZERO,
            max_loan=wire_decimal(max_loan.get("maxLoan")),
            quota=wire_decimal(max_loan.get("remainingQuota")),
            fetched_at=fetched_at,
        )
