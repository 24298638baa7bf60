"""Bybit's new loan API (``/v5/crypto-loan-{common,flexible,fixed}``), as ``client.new``.

Bybit deprecated the legacy Borrow endpoint on 2025-11-17; new loans go
through these endpoints. How they differ from the legacy ones:

* collateral is pooled per account and may span several coins
  (``collateralList``); operations on it are keyed by coin, not by order;
* flexible debt is kept per coin (repay by coin), fixed debt per contract
  (``loanId``), created when a fixed borrow order at a chosen ``annualRate``
  matches lenders;
* ids are short and sometimes JSON numbers; success is ``retMsg "ok"``;
  errors are the 148xxx family; writes are limited to 1 request a second
  and queries to 5.

Every write goes through the client's one write path
(:func:`loan_widgets.writes.submit`): a ledger row (api ``new``) before
sending, never resent on a lost answer, refused while an identical one is
unsettled unless forced. This module depends on what it uses of the client
(:class:`LoanSession`), not on the client module, so the two never import
each other.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from . import endpoints as ep
from .clock import utc_now as _utc_now
from .errors import ValidationError
from .numbers import compact_json as _body
from .numbers import plain as _plain
from .orders import ActionResult, BorrowRequest, BorrowResult, parse_amount, parse_coin
from .writes import Write, Written

__all__ = [
    "FixedRepayRequest",
    "FlexibleRepayRequest",
    "LoanSession",
    "NewLoanApi",
    "PoolAdjustRequest",
]


class LoanSession(Protocol):
    """What the new API uses of a :class:`~loan_widgets.client.LoanClient`."""

    network: str
    source: str

    def call(
        self, endpoint: ep.Endpoint, params: Mapping[str, Any] | None = None, *,
        body: str | None = None,
    ) -> dict[str, Any]: ...

    def iter_pages(
        self, endpoint: ep.Endpoint, params: Mapping[str, Any] | None = None
    ) -> Iterator[dict[str, Any]]: ...

    def prices(self, coins: list[str] | None = None) -> dict[str, Decimal]: ...

    def collateral_data(
        self, currency: str | None = None, vip_level: str | None = None
    ) -> list[dict[str, Any]]: ...

    def borrow(self, *args: Any, **kwargs: Any) -> BorrowResult: ...

    def write(self, write: Write) -> Written: ...


@dataclass(frozen=True)
class FlexibleRepayRequest:
    """Repay ``amount`` of the account's flexible debt in ``loan_currency`` (interest first)."""

    loan_currency: str
    amount: Decimal

    def __post_init__(self) -> None:
        object.__setattr__(self, "loan_currency", parse_coin(self.loan_currency, "loan coin"))
        object.__setattr__(self, "amount", parse_amount(self.amount, "repay amount"))

    def to_body(self) -> str:
        """``{"loanCurrency":"USDT","amount":"100"}``."""
        return _body({"loanCurrency": self.loan_currency, "amount": _plain(self.amount)})

    def describe(self) -> str:
        """One line for people."""
        return f"repay {_plain(self.amount)} {self.loan_currency} of flexible debt"


@dataclass(frozen=True)
class FixedRepayRequest:
    """Repay fixed contract ``loan_id`` in full, or every fixed contract in ``loan_currency``."""

    loan_id: str | None = None
    loan_currency: str | None = None

    def __post_init__(self) -> None:
        if (self.loan_id is None) == (self.loan_currency is None):
            raise ValidationError("give either a loan id or a loan coin to repay in full")
        if self.loan_id is not None:
            text = str(self.loan_id).strip()
            if not text.isascii() or not text.isdigit():
                raise ValidationError(f"loan id {self.loan_id!r} is not an id (digits only)")
            object.__setattr__(self, "loan_id", text)
        else:
            object.__setattr__(self, "loan_currency", parse_coin(self.loan_currency, "loan coin"))

    def to_body(self) -> str:
        """``{"loanId":"570"}`` or ``{"loanCurrency":"USDT"}``."""
        if self.loan_id is not None:
            return _body({"loanId": self.loan_id})
        return _body({"loanCurrency": self.loan_currency})

    def describe(self) -> str:
        """One line for people."""
        what = f"contract {self.loan_id}" if self.loan_id else f"{self.loan_currency} contracts"
        return f"fully repay fixed {what}"


@dataclass(frozen=True)
class PoolAdjustRequest:
    """Add ``currency`` to the collateral pool or take it back (``add`` / ``reduce``)."""

    currency: str
    amount: Decimal
    direction: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "currency", parse_coin(self.currency, "collateral coin"))
        object.__setattr__(self, "amount", parse_amount(self.amount, "collateral amount"))
        direction = str(self.direction).strip().lower()
        if direction not in ("add", "reduce"):
            raise ValidationError(f"direction {self.direction!r} must be add or reduce")
        object.__setattr__(self, "direction", direction)

    def to_body(self) -> str:
        """``direction`` is ``"0"`` to add and ``"1"`` to reduce, as in the legacy API."""
        wire = "0" if self.direction == "add" else "1"
        return _body(
            {"currency": self.currency, "amount": _plain(self.amount), "direction": wire}
        )

    def describe(self) -> str:
        """One line for people."""
        return f"{self.direction} {_plain(self.amount)} {self.currency} collateral (pool)"


class NewLoanApi:
    """The new loan API on a :class:`~loan_widgets.client.LoanClient` (``client.new``)."""

    def __init__(self, client: LoanSession) -> None:
        self._client = client

    # -- public market data ---------------------------------------------------------------

    def loanable_data(
        self, currency: str | None = None, vip_level: str | None = None
    ) -> list[dict[str, Any]]:
        """Borrowable coins: flexible and fixed availability, precision, annual rates."""
        result = self._client.call(
            ep.NEW_LOANABLE_DATA, {"currency": currency, "vipLevel": vip_level}
        )
        return list(result.get("list", []))

    def collateral_data(self, currency: str | None = None) -> dict[str, Any]:
        """Tiered collateral ratios by USD band, and the liquidation order of coins."""
        return self._client.call(ep.NEW_COLLATERAL_DATA, {"currency": currency})

    def borrow_order_quote(
        self,
        order_currency: str,
        order_by: str = "apy",
        term: int | None = None,
        sort: int | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """The fixed-rate lending market: supply a borrower can take, by term and rate."""
        result = self._client.call(
            ep.FIXED_BORROW_ORDER_QUOTE,
            {"orderCurrency": order_currency, "orderBy": order_by, "term": term,
             "sort": sort, "limit": limit},
        )
        return list(result.get("list", []))

    # -- signed reads -----------------------------------------------------------------------

    def position(self) -> dict[str, Any]:
        """The whole account: debts, pooled collateral, supply, account LTV (in USD)."""
        return self._client.call(ep.NEW_POSITION, {})

    def max_loan(
        self, currency: str, collateral: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """The most ``currency`` the account could borrow, optionally with extra collateral."""
        params: dict[str, Any] = {"currency": parse_coin(currency, "loan coin")}
        if collateral:
            params["collateralList"] = [
                {"ccy": parse_coin(c, "collateral coin"), "amount": _plain(parse_amount(a))}
                for c, a in collateral.items()
            ]
        return self._client.call(ep.NEW_MAX_LOAN, body=_body(params))

    def required_collateral(
        self, loan_currency: str, loan_amount: Any, collateral_currency: str
    ) -> Decimal:
        """The collateral to pledge with a borrow of ``loan_amount``, asked of the exchange.

        Bybit does not publish the new API's LTV limit, so this asks
        ``max-loan`` (a read): how much the account could borrow now, and with
        a probe amount of collateral added; the loan needs the pledge that
        closes the gap, rounded up to the coin's precision and checked once
        more. ``0`` when the pool already covers the loan.
        """
        amount = parse_amount(loan_amount, "loan amount")
        base = Decimal(str(self.max_loan(loan_currency)["maxLoan"]))
        if base >= amount:
            return Decimal(0)
        prices = self._client.prices([loan_currency, collateral_currency])
        if collateral_currency not in prices or loan_currency not in prices:
            raise ValidationError(f"no price for {collateral_currency} or {loan_currency}")
        accuracy = next(
            (int(c["collateralAccuracy"]) for c in self._client.collateral_data(collateral_currency)
             if c.get("currency") == collateral_currency),
            8,
        )
        step = Decimal(1).scaleb(-accuracy)
        gap = amount - base
        probe = (gap * prices[loan_currency] / prices[collateral_currency]).quantize(
            step, rounding="ROUND_UP"
        )
        with_probe = self.max_loan(loan_currency, {collateral_currency: probe})
        gained = Decimal(str(with_probe["maxLoan"]))
        if gained <= base:
            raise ValidationError(f"{collateral_currency} adds nothing to what can be borrowed")
        need = (probe * gap / (gained - base)).quantize(step, rounding="ROUND_UP")
        for _ in range(3):  # tiers are piecewise linear: nudge up until it covers the loan
            with_need = self.max_loan(loan_currency, {collateral_currency: need})
            covered = Decimal(str(with_need["maxLoan"]))
            if covered >= amount:
                return need
            need = (need * Decimal("1.002")).quantize(step, rounding="ROUND_UP") + step
        return need

    def max_collateral_reduction(self, currency: str) -> Decimal:
        """The most of ``currency`` that can be taken out of the collateral pool now."""
        result = self._client.call(
            ep.NEW_MAX_COLLATERAL_REDUCTION, {"currency": parse_coin(currency, "collateral coin")}
        )
        return Decimal(str(result["maxCollateralAmount"]))

    def adjustment_history(self, **params: Any) -> list[dict[str, Any]]:
        """Collateral pool adjustments (all pages)."""
        return list(self._client.iter_pages(ep.NEW_ADJUSTMENT_HISTORY, params))

    def flexible_loans(self, loan_currency: str | None = None) -> list[dict[str, Any]]:
        """Flexible debt per coin: principal, interest, total, hourly rate."""
        result = self._client.call(ep.FLEXIBLE_ONGOING, {"loanCurrency": loan_currency})
        return list(result.get("list", []))

    def flexible_borrow_history(self, **params: Any) -> list[dict[str, Any]]:
        """Flexible borrow orders (all pages)."""
        return list(self._client.iter_pages(ep.FLEXIBLE_BORROW_HISTORY, params))

    def flexible_repayment_history(self, **params: Any) -> list[dict[str, Any]]:
        """Flexible repayments (all pages)."""
        return list(self._client.iter_pages(ep.FLEXIBLE_REPAYMENT_HISTORY, params))

    def fixed_orders(self, **params: Any) -> list[dict[str, Any]]:
        """Fixed borrow orders and their matching state (all pages)."""
        return list(self._client.iter_pages(ep.FIXED_BORROW_ORDER_INFO, params))

    def fixed_contracts(self, **params: Any) -> list[dict[str, Any]]:
        """Fixed loan contracts (``loanId``) created by matched orders (all pages)."""
        return list(self._client.iter_pages(ep.FIXED_BORROW_CONTRACT_INFO, params))

    # -- writes -----------------------------------------------------------------------------

    def borrow(
        self,
        loan_currency: str,
        loan_amount: Any,
        collateral_currency: str,
        collateral_amount: Any = None,
        *,
        term: Any = None,
        annual_rate: Any = None,
        source: str | None = None,
        force: bool = False,
    ) -> BorrowResult:
        """A flexible borrow, or a fixed one with ``term`` and ``annual_rate``.

        ``collateral_amount`` of ``collateral_currency`` goes into the pool with
        the loan; without it, what the exchange needs is asked of ``max-loan``.
        """
        request = BorrowRequest(
            loan_currency, collateral_currency, loan_amount, collateral_amount, term, annual_rate
        )
        return self._client.borrow(request=request, api="new", source=source, force=force)

    def flexible_repay(
        self, loan_currency: str, amount: Any, *, source: str | None = None, force: bool = False
    ) -> ActionResult:
        """Repay flexible debt in ``loan_currency`` (interest first)."""
        request = FlexibleRepayRequest(loan_currency, amount)
        return self._write(
            ep.FLEXIBLE_REPAY, request, "repay", "repayId", source, force,
            loan_currency=request.loan_currency, loan_amount=request.amount,
            coin=request.loan_currency,
        )

    def fixed_fully_repay(
        self,
        loan_id: Any = None,
        loan_currency: str | None = None,
        *,
        source: str | None = None,
        force: bool = False,
    ) -> ActionResult:
        """Repay a fixed contract (or all of a coin's) in full."""
        request = FixedRepayRequest(
            None if loan_id is None else str(loan_id), loan_currency
        )
        return self._write(
            ep.FIXED_FULLY_REPAY, request, "repay", "repayId", source, force,
            loan_currency=request.loan_currency, ref_id=request.loan_id,
            coin=request.loan_currency,
        )

    def adjust_collateral(
        self, currency: str, amount: Any, direction: str, *, source: str | None = None,
        force: bool = False,
    ) -> ActionResult:
        """Add a coin to the collateral pool, or take some back."""
        request = PoolAdjustRequest(currency, amount, direction)
        return self._write(
            ep.NEW_ADJUST_COLLATERAL, request, "adjust", "adjustId", source, force,
            collateral_currency=request.currency, collateral_amount=request.amount,
            direction=request.direction, coin=request.currency,
        )

    def _write(
        self, endpoint: ep.Endpoint, request: Any, action: str, id_key: str,
        source: str | None, force: bool, **fields: Any,
    ) -> ActionResult:
        client = self._client
        done = client.write(Write(
            endpoint, request.to_body(), action, id_key, "new", source or client.source, force,
            fields,
        ))
        return ActionResult(
            action, done.order_id, request, client.network, _utc_now(), done.latency_ms,
            done.ledger_id,
        )
