"""Bybit's new loan API (``/v5/crypto-loan-{common,flexible,fixed}``), as ``client.new``.

Bybit deprecated the legacy Borrow endpoint on 2025-11-17; new loans go
through these endpoints. How they differ from the legacy ones:

* collateral is pooled per account and may span several coins
  (``collateralList``); operations on it are keyed by coin, not by order;
* flexible debt is kept per coin (repay by coin), fixed debt per contract
  (``loanId``), created when a fixed borrow order at a chosen ``annualRate``
  matches lenders; an order below the market stays *matching* until it fills
  or is cancelled (:meth:`NewLoanApi.cancel_borrow_order`);
* ids are short and sometimes JSON numbers; errors are the 148xxx family;
  writes are limited to 1 request a second and queries to 5.

Reads are :class:`~loan_widgets.new_reads.NewApiReads` (checked filters, every
page, typed fields); requests are validated by :mod:`loan_widgets.new_orders`.
Every write goes through the client's one write path
(:func:`loan_widgets.writes.submit`): a ledger row (api ``new``) before
sending, with the ids of the records of its kind that already exist as the
row's evidence (one list read); never resent on a lost answer; refused while
an identical one is unsettled unless forced; settled by what its endpoint
declares as proof (``Endpoint.proof``: an id field, or retCode 0 for the
writes whose answer is ``{}``). This module depends on what it uses of the
client (:class:`LoanSession`), not on the client module, so the two never
import each other.

============================================  ======================================
endpoint                                      method
============================================  ======================================
``crypto-loan-flexible/borrow``, ``-fixed/borrow``  :meth:`NewLoanApi.borrow`
``crypto-loan-flexible/repay``                 :meth:`NewLoanApi.flexible_repay`
``crypto-loan-flexible/repay-collateral``      :meth:`NewLoanApi.flexible_repay_collateral`
``crypto-loan-fixed/fully-repay``              :meth:`NewLoanApi.fixed_fully_repay`
``crypto-loan-fixed/repay-collateral``         :meth:`NewLoanApi.fixed_repay_collateral`
``crypto-loan-fixed/renew``                    :meth:`NewLoanApi.renew`
``crypto-loan-fixed/supply``                   :meth:`NewLoanApi.supply`
``crypto-loan-fixed/borrow-order-cancel``      :meth:`NewLoanApi.cancel_borrow_order`
``crypto-loan-fixed/supply-order-cancel``      :meth:`NewLoanApi.cancel_supply_order`
``crypto-loan-common/adjust-ltv``              :meth:`NewLoanApi.adjust_collateral`
============================================  ======================================
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from . import endpoints as ep
from .calls import PreparedRequest
from .clock import utc as _utc
from .clock import utc_now as _utc_now
from .errors import LoanWidgetsError, ValidationError
from .new_fields import parse_loan_id
from .new_orders import (
    CancelOrderRequest,
    CollateralRepayRequest,
    FixedRepayRequest,
    FlexibleRepayRequest,
    NewBorrowRequest,
    NewRequest,
    PoolAdjustRequest,
    RenewRequest,
    SupplyRequest,
    sizing_note,
)
from .new_reads import NewApiReads, NewSession
from .numbers import trimmed
from .orders import ActionResult, BorrowRequest, BorrowResult, parse_amount, parse_coin
from .paging import PAGE_LIMIT
from .writes import Write, Written

__all__ = [
    "ORDER_STATES",
    "CancelOrderRequest",
    "CollateralRepayRequest",
    "FixedRepayRequest",
    "FlexibleRepayRequest",
    "LoanSession",
    "NewLoanApi",
    "PoolAdjustRequest",
    "PoolReduction",
    "RenewRequest",
    "SupplyRequest",
]

ORDER_STATES: dict[object, str] = {
    1: "matching", 2: "partially filled and cancelled", 3: "fully filled", 4: "cancelled",
    5: "failed"}
"""``state`` of a fixed borrow or supply order (FX10, FX12)."""


class LoanSession(NewSession, Protocol):
    """What the new API uses of a :class:`~loan_widgets.client.LoanClient`."""

    source: str

    @property
    def network(self) -> str: ...

    def prices(self, coins: list[str] | None = None) -> dict[str, Decimal]: ...

    def collateral_data(
        self, currency: str | None = None, vip_level: str | None = None
    ) -> list[dict[str, Any]]: ...

    def prepare(
        self, endpoint: ep.Endpoint, params: Mapping[str, Any] | None = None, *,
        body: str | None = None,
    ) -> PreparedRequest: ...

    def write(self, write: Write) -> Written: ...


@dataclass(frozen=True)
class PoolReduction:
    """The most of one coin that can be taken out of the collateral pool now."""

    coin: str
    amount: Decimal

    def __repr__(self) -> str:
        return (f"At most {trimmed(self.amount)} {self.coin} can be taken out of the "
                "collateral pool now.")


class NewLoanApi(NewApiReads):
    """The new loan API on a :class:`~loan_widgets.client.LoanClient` (``client.new``)."""

    _client: LoanSession

    def __init__(self, client: LoanSession) -> None:
        super().__init__(client)

    # -- sizing ------------------------------------------------------------------------------

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
        base: Decimal = self.max_loan(loan_currency)["maxLoan"] or Decimal(0)
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
        gained: Decimal | None = self.max_loan(loan_currency, {collateral_currency: probe})[
            "maxLoan"]
        if gained is None or gained <= base:
            raise ValidationError(f"{collateral_currency} adds nothing to what can be borrowed")
        need = (probe * gap / (gained - base)).quantize(step, rounding="ROUND_UP")
        for _ in range(3):  # tiers are piecewise linear: nudge up until it covers the loan
            covered: Decimal | None = self.max_loan(
                loan_currency, {collateral_currency: need})["maxLoan"]
            if covered is not None and covered >= amount:
                return need
            need = (need * Decimal("1.002")).quantize(step, rounding="ROUND_UP") + step
        return need

    # -- the one write path ----------------------------------------------------------------

    def prepare(self, request: NewRequest) -> PreparedRequest:
        """The signed request a dry run shows: nothing is sent or recorded."""
        prepared = self._client.prepare(request.endpoint, body=request.to_body())
        if isinstance(request, NewBorrowRequest):
            return dataclasses.replace(prepared, note=sizing_note(request.request))
        return prepared

    def submit(self, request: NewRequest, *, source: str | None = None, force: bool = False,
               known: set[str] | None = None) -> Written:
        """Send ``request`` through the write protocol: the ids of its kind known now as
        evidence (``known``, or its evidence list read), a ledger row, one POST, settled."""
        client = self._client
        reader = None
        if known is not None:
            def reader() -> set[str]:
                return set(known)
        elif request.evidence is not None:
            endpoint, key, value, id_key = request.evidence

            def reader() -> set[str]:
                params = {"limit": PAGE_LIMIT, **({key: value} if key and value else {})}
                items = client.call(endpoint, params).get("list") or []
                return {str(i[id_key]) for i in items
                        if isinstance(i, Mapping) and i.get(id_key) not in (None, "")}
        return client.write(Write(
            request.endpoint, request.to_body(), request.action, request.endpoint.proof or "",
            "new", source or client.source, force, request.ledger_fields(),
            acted_on=request.acted_on, evidence=reader, same_as=request.same_as(),
        ))

    def _act(self, request: NewRequest, source: str | None, force: bool, *,
             known: set[str] | None = None, details: Mapping[str, object] | None = None
             ) -> ActionResult:
        done = self.submit(request, source=source, force=force, known=known)
        return ActionResult(request.action, done.order_id, request,
                            self._client.network, _utc_now(), done.latency_ms, done.ledger_id,
                            dict(details or {}))

    # -- borrowing -------------------------------------------------------------------------

    def borrow(
        self,
        loan_currency: str | None = None,
        loan_amount: Any = None,
        collateral_currency: str | None = None,
        collateral_amount: Any = None,
        *,
        term: Any = None,
        annual_rate: Any = None,
        repay_type: Any = None,
        strategy: Any = None,
        request: BorrowRequest | None = None,
        source: str | None = None,
        force: bool = False,
    ) -> BorrowResult:
        """A flexible borrow (FL1), or with a fixed ``term`` a fixed borrow order at
        ``annual_rate`` (FX3) that matches lenders at that rate or below.

        ``collateral_amount`` of ``collateral_currency`` goes into the pool with
        the loan; without it, what the exchange needs is asked of ``max-loan``.
        Fixed orders take ``repay_type`` (``auto``, the default, or ``flexible``:
        what is owed at maturity becomes a flexible loan) and ``strategy``
        (``PARTIAL``, the default, or ``FULL``: fill completely or not at all).
        """
        if request is None:
            request = BorrowRequest(
                parse_coin(loan_currency, "loan coin"),
                parse_coin(collateral_currency, "collateral coin"),
                loan_amount, collateral_amount, term, annual_rate,
            )
        order = NewBorrowRequest(request, repay_type, strategy)  # validates before any read
        if request.collateral_amount is None:
            need = self.required_collateral(
                request.loan_currency, request.loan_amount, request.collateral_currency)
            if need > 0:  # pledge it with the loan, as a collateralList
                order = dataclasses.replace(
                    order, request=dataclasses.replace(request, collateral_amount=need),
                    sized=True)
        source = source or self._client.source
        done = self.submit(order, source=source, force=force)
        assert done.order_id is not None  # the borrow's proof is its orderId
        return BorrowResult(
            order_id=done.order_id, request=order.request, network=self._client.network,
            submitted_at=_utc(done.submitted_at * 1000), answered_at=_utc_now(),
            latency_ms=done.latency_ms, ledger_id=done.ledger_id, source=source, api="new",
        )

    def renew(self, loan_id: Any, collateral: Mapping[str, Any] | None = None, *,
              source: str | None = None, force: bool = False) -> ActionResult:
        """FX4: borrow again, on fixed contract ``loan_id``, the principal already repaid
        on it (the amount is the exchange's), pledging ``collateral`` (``{coin: amount}``).
        The result's ``id`` is the new borrow order."""
        return self._act(RenewRequest(loan_id, collateral or {}), source, force)

    def cancel_borrow_order(self, order_id: Any, *, source: str | None = None,
                            force: bool = False) -> ActionResult:
        """FX6: cancel fixed borrow order ``order_id`` while it is still matching.

        The order is read first: one that does not exist or is no longer matching is
        refused before anything is sent. Its collateral stays in the pool. The answer
        has no field, so retCode 0 proves it: the result's ``id`` is the order.
        """
        request = CancelOrderRequest(order_id)
        return self._cancel(request, self.fixed_orders(orderId=request.order_id), source, force)

    def _cancel(self, request: CancelOrderRequest, found: list[dict[str, Any]],
                source: str | None, force: bool) -> ActionResult:
        order = next((o for o in found if o.get("orderId") == request.order_id), None)
        if order is None:
            raise ValidationError(f"no fixed {request.side} order {request.order_id} on "
                                  f"{self._client.network}")
        state = order.get("state")
        if state != 1:
            raise ValidationError(
                f"fixed {request.side} order {request.order_id} is "
                f"{ORDER_STATES.get(state, f'in state {state}')}: only a matching order can "
                "be cancelled")
        request = dataclasses.replace(request, currency=order.get("orderCurrency"),
                                      amount=order.get("orderQty"))
        return self._act(request, source, force, known={request.order_id})

    # -- repaying --------------------------------------------------------------------------

    def flexible_repay(
        self, loan_currency: str, amount: Any, *, source: str | None = None, force: bool = False
    ) -> ActionResult:
        """FL2: repay ``amount`` of flexible debt in ``loan_currency`` from the Funding
        wallet (interest first). The result's ``id`` is the ``repayId``."""
        return self._act(FlexibleRepayRequest(loan_currency, amount), source, force)

    def flexible_repay_all(self, loan_currency: str, *, source: str | None = None,
                           force: bool = False) -> ActionResult:
        """Repay the flexible debt in ``loan_currency`` in full as owed now (``totalDebt``)."""
        coin = parse_coin(loan_currency, "loan coin")
        owed = [d for d in self.flexible_loans(coin) if d.get("loanCurrency") == coin]
        if not owed or not owed[0].get("totalDebt"):
            raise ValidationError(f"no flexible {coin} debt is open on {self._client.network}")
        return self.flexible_repay(coin, owed[0]["totalDebt"], source=source, force=force)

    def flexible_repay_collateral(
        self, loan_currency: str, amount: Any, collateral_coins: Any, *,
        source: str | None = None, force: bool = False,
    ) -> ActionResult:
        """FL3: repay ``amount`` of flexible ``loan_currency`` debt by selling pooled
        ``collateral_coins`` (``"BTC"`` or ``"BTC,ETH"``, sold in that order; a fee at the
        higher of the two coins' rates). The answer carries no id: the result's ``id``
        is ``None``."""
        return self._act(CollateralRepayRequest(loan_currency, amount, collateral_coins),
                         source, force)

    def fixed_fully_repay(
        self,
        loan_id: Any = None,
        loan_currency: str | None = None,
        *,
        source: str | None = None,
        force: bool = False,
    ) -> ActionResult:
        """FX13: repay fixed contract ``loan_id`` in full, or every fixed contract in
        ``loan_currency`` (give one of them). The result's ``id`` is the ``repayId``."""
        request = FixedRepayRequest(None if loan_id is None else str(loan_id), loan_currency)
        return self._act(request, source, force)

    def fixed_repay_collateral(
        self, loan_currency: str, amount: Any, collateral_coins: Any, loan_id: Any = None, *,
        source: str | None = None, force: bool = False,
    ) -> ActionResult:
        """FX14: repay ``amount`` of fixed ``loan_currency`` debt by selling pooled
        ``collateral_coins``: contract ``loan_id``, or the coin's contracts soonest maturity
        first. The answer carries no id: the result's ``id`` is ``None``."""
        request = CollateralRepayRequest(loan_currency, amount, collateral_coins, "fixed",
                                         None if loan_id is None else str(loan_id))
        return self._act(request, source, force)

    # -- the collateral pool ---------------------------------------------------------------

    def pool_reduction_limit(self, currency: str) -> PoolReduction:
        """The most of ``currency`` that can be taken out of the pool now, as one line."""
        coin = parse_coin(currency, "collateral coin")
        return PoolReduction(coin, self.max_collateral_reduction(coin))

    def adjust_collateral(
        self, currency: str, amount: Any, direction: str, *, source: str | None = None,
        force: bool = False,
    ) -> ActionResult:
        """C4: add a coin to the collateral pool (``add``), or take some back (``reduce``,
        at most :meth:`max_collateral_reduction`, checked before anything is sent). The
        result's ``details`` hold the account LTV before and after (C5)."""
        request = PoolAdjustRequest(currency, amount, direction)
        if request.direction == "reduce":
            most = self.max_collateral_reduction(request.currency)
            if request.amount > most:
                raise ValidationError(
                    f"at most {trimmed(most)} {request.currency} can be taken out of the "
                    "collateral pool now (the exchange's max allowed reduction)")
        done = self.submit(request, source=source, force=force)
        details: dict[str, object] = {}
        try:
            found = self.adjustment_history(adjustId=done.order_id) if done.order_id else []
        except LoanWidgetsError:
            found = []
        if found and found[0].get("preLTV") is not None:
            details = {"ltv_before": found[0]["preLTV"], "ltv_after": found[0]["afterLTV"]}
        return ActionResult("adjust", done.order_id, request,
                            self._client.network, _utc_now(), done.latency_ms, done.ledger_id,
                            details)

    # -- lending ---------------------------------------------------------------------------

    def supply(
        self, currency: str, amount: Any, annual_rate: Any, term: Any, *,
        available_source: Any = None, source: str | None = None, force: bool = False,
    ) -> ActionResult:
        """FX5: lend ``amount`` of ``currency`` for ``term`` days at ``annual_rate`` or more,
        from ``available_source`` (``funding``, the default, ``earn`` or ``all``). The
        result's ``id`` is the supply order."""
        request = SupplyRequest(currency, amount, annual_rate, term, available_source)
        return self._act(request, source, force)

    def cancel_supply_order(self, order_id: Any, refund_to: Any = None, *,
                            source: str | None = None, force: bool = False) -> ActionResult:
        """FX7: cancel supply order ``order_id`` while it is matching; what is unmatched goes
        back to ``refund_to`` (``funding``, the default, or ``easyearn``). Read first, like
        :meth:`cancel_borrow_order`; the result's ``id`` is the order."""
        request = CancelOrderRequest(parse_loan_id(order_id, "order id"), "supply", refund_to)
        return self._cancel(request, self.supply_orders(orderId=request.order_id), source,
                            force)
