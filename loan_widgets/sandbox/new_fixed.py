"""Crypto Loan (New), fixed borrowing (FX2 to FX4, FX6, FX8, FX10, FX11, FX13 to FX15, A2).

Handlers take ``(book, params, now)`` with a ``NewApiBook``. Matching, contracts
and maturity are the book's (:mod:`loan_widgets.sandbox.new_api`). Paging:
``borrow-contract-info`` and ``repayment-history`` give an opaque cursor, on a short
page too; ``borrow-order-info`` and ``renew-info`` give one only when more rows follow
(as their docs examples show).

* A waiting borrow order (``state`` 1) is cancelled by ``borrow-order-cancel``:
  ``state`` 4, or 2 when partly filled; its collateral stays in the pool, which
  returns to Funding once nothing is owed or ordered. Anything else is 148024.
* ``repay-collateral`` without ``loanId`` pays the coin's contracts soonest maturity
  first, then the higher rate, then the lower loanId; each one's penalty interest
  before its principal (the interest for the term was paid when it was made).
* ``renew`` borrows again, on an open contract before its maturity, the principal
  already repaid on it: the contract's principal grows by that amount, whose interest
  to ``repaymentTime`` is charged as when it was made; it is listed in ``renew-info``
  and ``borrow-order-info`` (a filled order) under a new orderId, returned as a number
  as in the docs' example.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from decimal import ROUND_UP, Decimal
from typing import Any

from . import market
from .new_api import FIXED_PLACES, NewApiBook
from .new_common import collateral_list
from .new_flexible import check_cap, collateral_coins, repay_fees
from .new_records import STRATEGIES, FixedContract, FixedOrder, parse_term
from .wire import (
    DAY_MS,
    PLAIN,
    RET_MSGS,
    ApiError,
    check_places,
    digits,
    fmt,
    limit,
    page,
    params_error,
    required,
    rounded,
    signed_amount,
    single,
    text,
)

__all__ = [
    "annual_rate",
    "available_inventory",
    "borrow",
    "borrow_contract_info",
    "borrow_order_cancel",
    "borrow_order_info",
    "borrow_order_quote",
    "fully_repay",
    "quote",
    "renew",
    "renew_info",
    "repay_collateral",
    "repayment_history",
]

ZERO = Decimal(0)
RATE_PLACES = 4
RATE_RANGE = (Decimal(0), Decimal(1))  # exclusive low, inclusive high


def annual_rate(params: Mapping[str, Any]) -> Decimal:
    """``annualRate``: a fraction in (0, 1] with at most 4 decimals (148016, 148017)."""
    value = required(params, "annualRate")
    if len(value) > 64:
        raise params_error("annualRate is too long")
    if value.startswith("-") and PLAIN.fullmatch(value[1:]):
        raise ApiError(148016, f"{RET_MSGS[148016]} (annualRate must be in (0, 1])")
    if not PLAIN.fullmatch(value):
        raise params_error("annualRate must be a decimal string")
    rate = Decimal(value)
    check_places(rate, RATE_PLACES, 148017, "annualRate")
    if not RATE_RANGE[0] < rate <= RATE_RANGE[1]:
        raise ApiError(148016, f"{RET_MSGS[148016]} (annualRate must be in (0, 1])")
    return rate


def quote(rows: Iterable[market.LendingOffer], params: Mapping[str, Any]) -> dict[str, Any]:
    """A market list (FX1, FX2): ``orderBy`` apy/term/quantity, ``sort``, ``term``, ``limit``."""
    currency = required(params, "orderCurrency")
    order_by = required(params, "orderBy")
    keys: dict[str, Callable[[market.LendingOffer], Any]] = {
        "apy": lambda o: (o.rate, o.term), "term": lambda o: (o.term, o.rate),
        "quantity": lambda o: (o.qty, o.rate),
    }
    if order_by not in keys:
        raise params_error("orderBy must be apy, term or quantity")
    term = text(params, "term")
    if term is not None:
        parse_term(term)
    sort = text(params, "sort") or "0"
    if sort not in ("0", "1"):
        raise params_error("sort must be 0 (ascending) or 1 (descending)")
    size = limit(params)
    chosen = [o for o in rows if term in (None, str(o.term)) and o.qty > 0]
    chosen.sort(key=keys[order_by], reverse=sort == "1")
    return {"list": [{"annualRate": fmt(o.rate), "orderCurrency": currency, "qty": fmt(o.qty),
                      "term": o.term} for o in chosen[:size]]}


def borrow_order_quote(book: NewApiBook, params: Mapping[str, Any], now: int) -> dict[str, Any]:
    """FX2 ``GET /v5/crypto-loan-fixed/borrow-order-quote`` (public): supply on offer."""
    return quote(book.offers.get(required(params, "orderCurrency"), ()), params)


def _repay_type(params: Mapping[str, Any]) -> str:
    repay_type = text(params, "repayType")
    if repay_type is None:
        auto = text(params, "autoRepay")
        if auto not in (None, "true", "false"):
            raise params_error('autoRepay must be "true" or "false"')
        repay_type = "1"
    if repay_type not in ("1", "2"):
        raise params_error("repayType must be 1 (auto repay) or 2 (transfer to flexible)")
    return repay_type


def borrow(book: NewApiBook, params: Mapping[str, Any], now: int) -> dict[str, Any]:
    """FX3 ``POST /v5/crypto-loan-fixed/borrow``: fills from the offers it covers."""
    currency = required(params, "orderCurrency")
    coin = book.loan_coin(currency, "fixed")
    term = parse_term(required(params, "term"))
    rate = annual_rate(params)
    repay_type = _repay_type(params)
    strategy = text(params, "strategyType") or "PARTIAL"
    if strategy not in STRATEGIES:
        raise params_error("strategyType must be PARTIAL or FULL")
    value = signed_amount(params, "orderAmount", 148007)
    check_places(value, coin.fixed_accuracy, 148003, "orderAmount")
    if value < coin.min_fixed:
        raise ApiError(148002, f"{RET_MSGS[148002]} ({fmt(coin.min_fixed)} {currency})")
    if book.owed(currency) + value > coin.max_amount:
        raise ApiError(148010, f"{RET_MSGS[148010]} (max {fmt(coin.max_amount)} {currency})")
    items = collateral_list(book, params, "currency")
    book.check_funding(items)
    book.check_capacity(items, value * book.price(currency))
    book.pledge(items)
    order = FixedOrder(book.new_id("fixed_order"), currency, value, rate, term, repay_type, now,
                       dict(items), strategy=strategy)
    book.fixed_orders[order.order_id] = order
    book.pending[order.order_id] = order
    book.match_borrow(order, now)
    return {"orderId": str(order.order_id)}


def _contract(book: NewApiBook, loan_id: str) -> FixedContract:
    found = book.contracts.get(loan_id) if loan_id.isascii() and loan_id.isdigit() else None
    if found is None:
        raise ApiError(148023, f"{RET_MSGS[148023]} (loanId {loan_id})")
    return found


def renew(book: NewApiBook, params: Mapping[str, Any], now: int) -> dict[str, Any]:
    """FX4 ``POST /v5/crypto-loan-fixed/renew``: borrow again what was repaid on a contract."""
    contract = _contract(book, required(params, "loanId"))
    if contract.status == 3 or now >= contract.due:
        raise ApiError(148033, f"{RET_MSGS[148033]} (loanId {contract.loan_id} is past its "
                               "maturity)")
    value = contract.repaid
    coin = book.loan_coin(contract.currency, "fixed")
    if value <= 0:
        raise ApiError(148002, f"{RET_MSGS[148002]} (nothing has been repaid on loanId "
                               f"{contract.loan_id})")
    if book.owed(contract.currency) + value > coin.max_amount:
        raise ApiError(148010)
    items = collateral_list(book, params, "currency")
    book.check_funding(items)
    book.check_capacity(items, value * book.price(contract.currency))
    book.pledge(items)
    interest = rounded(value * contract.rate * (contract.due - now) / (365 * DAY_MS),
                       FIXED_PLACES, ROUND_UP)
    wallet = book.sandbox.wallet
    wallet[contract.currency] = wallet.get(contract.currency, ZERO) + value - interest
    if contract.status == 2:
        book.open[contract.loan_id] = contract
        contract.status = 1
        book.schedule("due", contract.loan_id, contract.due)
    contract.principal += value
    contract.interest_paid += interest
    order_id = book.new_id("fixed_order")
    order = FixedOrder(order_id, contract.currency, value, contract.rate, contract.term,
                       contract.repay_type, now, dict(items), state=3, filled=value)
    book.fixed_orders[order_id] = order
    legacy_ids = book.sandbox.new_id
    book.renewals[order_id] = {
        "amount": fmt(value), "autoRepay": int(contract.repay_type),
        "borrowCurrency": contract.currency, "contractNo": legacy_ids(),
        "dueTime": str(contract.due), "loanId": contract.loan_id, "orderId": order_id,
        "renewLoanNo": legacy_ids(), "time": str(now)}
    return {"orderId": order_id}


def borrow_order_cancel(book: NewApiBook, params: Mapping[str, Any], now: int) -> dict[str, Any]:
    """FX6 ``POST /v5/crypto-loan-fixed/borrow-order-cancel``: stop a waiting order."""
    order_id = digits(params, "orderId")
    if order_id is None:
        raise params_error("orderId is required")
    order = book.fixed_orders.get(int(order_id))
    if order is None:
        raise ApiError(148023, f"{RET_MSGS[148023]} (orderId {order_id})")
    if order.state != 1:
        raise ApiError(148024)
    book.cancel_pending(order)
    book.release_if_clear()
    return {}


def fully_repay(book: NewApiBook, params: Mapping[str, Any], now: int) -> dict[str, Any]:
    """FX13 ``POST /v5/crypto-loan-fixed/fully-repay`` by ``loanId`` or all of ``loanCurrency``."""
    loan_id = text(params, "loanId")
    currency = text(params, "loanCurrency")
    if loan_id is None and currency is None:
        raise params_error("loanId or loanCurrency is required")
    if loan_id is not None:
        found = _contract(book, loan_id)
        if currency not in (None, found.currency):
            raise ApiError(148023, f"{RET_MSGS[148023]} (loanId {loan_id})")
        if found.status == 2:
            raise ApiError(148032, f"{RET_MSGS[148032]} (loanId {loan_id})")
        targets = [found]
    else:
        targets = [k for k in book.open.values() if k.currency == currency]
        if not targets:
            raise ApiError(148032, f"{RET_MSGS[148032]} ({currency})")
    for contract in targets:
        book.accrue_penalty(contract, now)
    coin = targets[0].currency
    total = sum((k.debt for k in targets), ZERO)
    wallet = book.sandbox.wallet
    if wallet.get(coin, ZERO) < total:
        raise ApiError(148029, f"{RET_MSGS[148029]} ({fmt(total)} {coin} needed)")
    wallet[coin] -= total
    details = [(k.loan_id, k.debt) for k in targets]
    for contract in targets:
        contract.principal = contract.penalty = ZERO
        contract.status = 2
        book.open.pop(contract.loan_id, None)
    repay_id = book.record_fixed_repayment(coin, details, now, 1)
    book.release_if_clear()
    return {"repayId": repay_id}


def repay_collateral(book: NewApiBook, params: Mapping[str, Any], now: int) -> dict[str, Any]:
    """FX14 ``POST /v5/crypto-loan-fixed/repay-collateral``: sell collateral to repay."""
    loan_id = text(params, "loanId")
    currency = required(params, "loanCurrency")
    coins = collateral_coins(book, params)
    value = signed_amount(params, "amount", 10001)
    if value <= 0:
        raise params_error("amount must be greater than 0")
    if currency not in book.loan_coins:
        raise ApiError(148014, f"{RET_MSGS[148014]} ({currency})")
    check_places(value, FIXED_PLACES, 148028, "amount")
    if loan_id is not None:
        found = _contract(book, loan_id)
        if found.currency != currency:
            raise ApiError(148023, f"{RET_MSGS[148023]} (loanId {loan_id})")
        targets = [found] if found.loan_id in book.open else []
    else:
        targets = sorted((k for k in book.open.values() if k.currency == currency),
                         key=lambda k: (k.due, -k.rate, int(k.loan_id)))
    if not targets:
        raise ApiError(148032, f"{RET_MSGS[148032]} ({currency})")
    for contract in targets:
        book.accrue_penalty(contract, now)
    if value > sum((k.debt for k in targets), ZERO):
        raise ApiError(148038)
    usd = check_cap(book, currency, value)
    book.sell(usd, coins, repay_fees(currency, coins), strict=True)
    left = value
    details = []
    for contract in targets:
        if left <= 0:
            break
        paid = min(left, contract.debt)
        penalty = min(paid, contract.penalty)
        contract.penalty -= penalty
        contract.principal -= paid - penalty
        left -= paid
        details.append((contract.loan_id, paid))
        if contract.debt == 0:
            contract.status = 2
            book.open.pop(contract.loan_id, None)
    book.record_fixed_repayment(currency, details, now, 7)
    book.release_if_clear()
    return {}


def orders_info(orders: Any, to_wire: Callable[[Any], dict[str, Any]],
                params: Mapping[str, Any]) -> dict[str, Any]:
    """A fixed borrow or supply order list (FX10, FX12): filters orderId, orderCurrency,
    state (1-4) and term; newest first, paged."""
    order_id = digits(params, "orderId")
    currency = text(params, "orderCurrency")
    state = text(params, "state")
    term = text(params, "term")
    if state not in (None, "1", "2", "3", "4"):
        raise params_error("state must be 1, 2, 3 or 4")

    def source(below: int | None) -> Iterable[Any]:
        if order_id is None:
            return orders.newest(below)
        return single(orders.get(int(order_id)), int(order_id), below)

    def match(o: Any) -> bool:
        return (currency in (None, o.currency) and state in (None, str(o.state))
                and term in (None, str(o.term)))

    return page(source, params, to_wire, lambda o: o.order_id, match=match)


def borrow_order_info(book: NewApiBook, params: Mapping[str, Any], now: int) -> dict[str, Any]:
    """FX10 ``GET /v5/crypto-loan-fixed/borrow-order-info`` (orderId, state, term: numbers)."""
    return orders_info(book.fixed_orders, FixedOrder.to_wire, params)


def borrow_contract_info(book: NewApiBook, params: Mapping[str, Any],
                         now: int) -> dict[str, Any]:
    """FX8 ``GET /v5/crypto-loan-fixed/borrow-contract-info`` (status: a number)."""
    loan_id = digits(params, "loanId")
    order_id = digits(params, "orderId")
    currency = text(params, "orderCurrency")
    term = text(params, "term")

    def source(below: int | None) -> Iterable[FixedContract]:
        if loan_id is None:
            return book.contracts.newest(below)
        return single(book.contracts.get(loan_id), int(loan_id), below)

    def match(k: FixedContract) -> bool:
        return (order_id in (None, str(k.order_id)) and currency in (None, k.currency)
                and term in (None, str(k.term)))

    def row(k: FixedContract) -> dict[str, Any]:
        book.accrue_penalty(k, now)
        return k.to_wire()

    return page(source, params, row, lambda k: int(k.loan_id), match=match, short_page=True)


def renew_info(book: NewApiBook, params: Mapping[str, Any], now: int) -> dict[str, Any]:
    """FX11 ``GET /v5/crypto-loan-fixed/renew-info`` (orderId and autoRepay: numbers)."""
    order_id = digits(params, "orderId")
    currency = text(params, "orderCurrency")

    def source(below: int | None) -> Iterable[dict[str, Any]]:
        if order_id is None:
            return book.renewals.newest(below)
        return single(book.renewals.get(int(order_id)), int(order_id), below)

    return page(source, params, dict, lambda r: int(r["orderId"]),
                match=lambda r: currency in (None, r["borrowCurrency"]))


def repayment_history(book: NewApiBook, params: Mapping[str, Any], now: int) -> dict[str, Any]:
    """FX15 ``GET /v5/crypto-loan-fixed/repayment-history``: repayments split per contract."""
    repay_id = digits(params, "repayId")
    currency = text(params, "loanCurrency")

    def source(below: int | None) -> Iterable[dict[str, Any]]:
        if repay_id is None:
            return book.fixed_repayments_by_id.newest(below)
        return single(book.fixed_repayments_by_id.get(repay_id), int(repay_id), below)

    return page(source, params, dict, lambda r: int(r["repayId"]),
                match=lambda r: currency in (None, r["loanCurrency"]), short_page=True)


def available_inventory(book: NewApiBook, params: Mapping[str, Any],
                        now: int) -> dict[str, Any]:
    """A2 ``GET /v5/crypto-loan-fixed/available-inventory``: offers of a term at or under a
    rate (retMsg "OK")."""
    currency = required(params, "currency")
    term_text = required(params, "term")
    term = parse_term(term_text)
    rate = annual_rate(params)
    book.loan_coin(currency, "fixed")
    total = sum((o.qty for o in book.offers.get(currency, ())
                 if o.term == term and o.rate <= rate), ZERO)
    return {"currency": currency, "term": term_text, "annualRate": fmt(rate),
            "availableInventory": fmt(total), "updateTime": str(now // 1000)}
