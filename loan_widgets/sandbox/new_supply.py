"""Crypto Loan (New), fixed lending (FX1, FX5, FX7, FX9, FX12) on a ``NewApiBook``.

A supply order takes its coins from the Funding wallet (148022 when it lacks them;
``availableSource`` ``1`` Earn Flexible and ``2`` all are accepted and also draw on
Funding, the sandbox's only account) and lends them to the borrow demand
(``supply-order-quote``) priced at least its ``annualRate``. What is not matched
waits (``state`` 1) until ``supply-order-cancel`` returns it (``state`` 4, or 2 when
partly filled; ``refundedAccount`` ``1`` EasyEarn also refunds to Funding). Paging:
``supply-contract-info`` gives the last supplyId as its cursor, on a short page too;
``supply-order-info`` an opaque one when more rows follow (as the docs examples show).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from .new_api import NewApiBook
from .new_fixed import annual_rate, orders_info, quote
from .new_records import SupplyContract, SupplyOrder, parse_term
from .wire import (
    RET_MSGS,
    ApiError,
    check_places,
    digits,
    page,
    params_error,
    required,
    signed_amount,
    single,
    text,
)

__all__ = ["supply", "supply_contract_info", "supply_order_cancel", "supply_order_info",
           "supply_order_quote"]

ZERO = Decimal(0)


def supply_order_quote(book: NewApiBook, params: Mapping[str, Any], now: int) -> dict[str, Any]:
    """FX1 ``GET /v5/crypto-loan-fixed/supply-order-quote`` (public): borrow demand."""
    return quote(book.demand.get(required(params, "orderCurrency"), ()), params)


def supply(book: NewApiBook, params: Mapping[str, Any], now: int) -> dict[str, Any]:
    """FX5 ``POST /v5/crypto-loan-fixed/supply``: lend from Funding at a chosen rate."""
    currency = required(params, "orderCurrency")
    coin = book.loan_coin(currency, "fixed")
    term = parse_term(required(params, "term"))
    rate = annual_rate(params)
    source = text(params, "availableSource") or "0"
    if source not in ("0", "1", "2"):
        raise params_error("availableSource must be 0 (Funding), 1 (Earn Flexible) or 2 (all)")
    value = signed_amount(params, "orderAmount", 10001)
    if value <= 0:
        raise params_error("orderAmount must be greater than 0")
    check_places(value, coin.fixed_accuracy, 148003, "orderAmount")
    wallet = book.sandbox.wallet
    if wallet.get(currency, ZERO) < value:
        raise ApiError(148022, f"{RET_MSGS[148022]} ({currency} in the Funding wallet)")
    wallet[currency] -= value
    order = SupplyOrder(book.new_id("supply_order"), currency, value, rate, term, now, source)
    book.supply_orders[order.order_id] = order
    book.pending_supply[order.order_id] = order
    book.match_supply(order, now)
    return {"orderId": str(order.order_id)}


def supply_order_cancel(book: NewApiBook, params: Mapping[str, Any], now: int) -> dict[str, Any]:
    """FX7 ``POST /v5/crypto-loan-fixed/supply-order-cancel``: refund what is unmatched."""
    order_id = digits(params, "orderId")
    if order_id is None:
        raise params_error("orderId is required")
    refund_to = text(params, "refundedAccount") or "0"
    if refund_to not in ("0", "1"):
        raise params_error("refundedAccount must be 0 (Funding) or 1 (EasyEarn)")
    order = book.supply_orders.get(int(order_id))
    if order is None:
        raise ApiError(148030, f"{RET_MSGS[148030]} (orderId {order_id})")
    if order.state != 1:
        raise ApiError(148025)
    wallet = book.sandbox.wallet
    wallet[order.currency] = wallet.get(order.currency, ZERO) + order.amount - order.filled
    order.state = 2 if order.filled > 0 else 4
    book.pending_supply.pop(order.order_id, None)
    return {}


def supply_contract_info(book: NewApiBook, params: Mapping[str, Any],
                         now: int) -> dict[str, Any]:
    """FX9 ``GET /v5/crypto-loan-fixed/supply-contract-info``."""
    supply_id = digits(params, "supplyId")
    order_id = digits(params, "orderId")
    currency = text(params, "supplyCurrency")
    term = text(params, "term")

    def source(below: int | None) -> Iterable[SupplyContract]:
        if supply_id is None:
            return book.supply_contracts.newest(below)
        return single(book.supply_contracts.get(supply_id), int(supply_id), below)

    def match(k: SupplyContract) -> bool:
        return (order_id in (None, str(k.order_id)) and currency in (None, k.currency)
                and term in (None, str(k.term)))

    return page(source, params, SupplyContract.to_wire, lambda k: int(k.supply_id),
                match=match, style="id", short_page=True)


def supply_order_info(book: NewApiBook, params: Mapping[str, Any], now: int) -> dict[str, Any]:
    """FX12 ``GET /v5/crypto-loan-fixed/supply-order-info`` (orderId, state, term: numbers)."""
    return orders_info(book.supply_orders, SupplyOrder.to_wire, params)
