"""Crypto Loan (New), flexible endpoints (FL1 to FL6 and A1) on a ``NewApiBook``.

Flexible debt is kept per coin: a borrow adds to it, a repayment (from Funding, or
by selling pooled collateral) pays interest first, then principal. Paging:
``borrow-history`` gives the last orderId as its cursor, ``repayment-history`` an
opaque cursor, on a short page too (both as their docs examples do).

**Collateral repayment** (FL3, and FX14 in :mod:`~loan_widgets.sandbox.new_fixed`):
the coins of ``collateralCoin`` are sold in the order given, at the sandbox price,
to raise the amount plus a fee at the higher of the two coins' rates
(:data:`~loan_widgets.sandbox.market.REPAY_FEE_RATES`); one call may repay at most
300,000 USD (148047); collateral that cannot raise it all is 148012 and sells
nothing. The repayment is listed with ``repayType`` 7.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from . import market
from .new_api import FLEX_INTEREST_PLACES, NewApiBook
from .new_common import collateral_list
from .wire import (
    RET_MSGS,
    ApiError,
    check_places,
    digits,
    fmt,
    page,
    params_error,
    required,
    signed_amount,
    single,
    text,
)

__all__ = [
    "available_inventory",
    "borrow",
    "borrow_history",
    "collateral_coins",
    "ongoing_coin",
    "repay",
    "repay_collateral",
    "repay_fees",
    "repayment_history",
]

ZERO = Decimal(0)


def borrow(book: NewApiBook, params: Mapping[str, Any], now: int) -> dict[str, Any]:
    """FL1 ``POST /v5/crypto-loan-flexible/borrow`` -> ``{"orderId": "1363"}``."""
    currency = required(params, "loanCurrency")
    coin = book.loan_coin(currency, "flexible")
    value = signed_amount(params, "loanAmount", 148007)
    check_places(value, coin.flexible_accuracy, 148003, "loanAmount")
    if value < coin.min_flexible:
        raise ApiError(148002, f"{RET_MSGS[148002]} ({fmt(coin.min_flexible)} {currency})")
    if book.owed(currency) + value > coin.max_amount:
        raise ApiError(148010, f"{RET_MSGS[148010]} (max {fmt(coin.max_amount)} {currency})")
    items = collateral_list(book, params, "currency")
    if value > book.pool_available(currency):
        raise ApiError(148011, f"{RET_MSGS[148011]} ({fmt(book.pool_available(currency))} "
                               f"{currency} left)")
    book.check_funding(items)
    book.check_capacity(items, value * book.price(currency))
    book.pledge(items)
    book.flexible_debt(currency, now).principal += value
    wallet = book.sandbox.wallet
    wallet[currency] = wallet.get(currency, ZERO) + value
    order_id = str(book.new_id("flex_order"))
    book.borrow_orders[order_id] = {"borrowTime": now, "initialLoanAmount": fmt(value),
                                    "loanCurrency": currency, "orderId": order_id, "status": 1}
    return {"orderId": order_id}


def _repay_amount(book: NewApiBook, params: Mapping[str, Any], now: int) -> tuple[str, Decimal]:
    currency = required(params, "loanCurrency")
    value = signed_amount(params, "amount", 10001)
    if currency not in book.loan_coins:
        raise ApiError(148014, f"{RET_MSGS[148014]} ({currency})")
    if value <= 0:
        raise params_error("amount must be greater than 0")
    coin = book.loan_coins[currency]
    check_places(value, max(FLEX_INTEREST_PLACES, coin.flexible_accuracy), 148028, "amount")
    debt = book.flexible.get(currency)
    if debt is None:
        raise ApiError(148032, f"{RET_MSGS[148032]} ({currency})")
    book.accrue(debt, now)
    if value > debt.total:
        raise ApiError(148038, f"{RET_MSGS[148038]} ({fmt(debt.total)} {currency})")
    return currency, value


def _pay_down(book: NewApiBook, currency: str, value: Decimal) -> None:
    debt = book.flexible[currency]
    paid = min(value, debt.interest)
    debt.interest -= paid
    debt.principal -= value - paid
    if debt.total == 0:
        del book.flexible[currency]
        book.scheduled.pop(("flex", currency), None)


def _after_repayment(book: NewApiBook) -> None:
    book.release_if_clear()
    if book.ltv() < book.margin_call_ltv:
        book.margin_call = False


def repay(book: NewApiBook, params: Mapping[str, Any], now: int) -> dict[str, Any]:
    """FL2 ``POST /v5/crypto-loan-flexible/repay``: from Funding, interest first."""
    currency, value = _repay_amount(book, params, now)
    wallet = book.sandbox.wallet
    if wallet.get(currency, ZERO) < value:
        raise ApiError(148029, f"{RET_MSGS[148029]} ({currency})")
    wallet[currency] -= value
    _pay_down(book, currency, value)
    repay_id = book.record_flexible_repayment(currency, value, now, 1)
    _after_repayment(book)
    return {"repayId": repay_id}


def collateral_coins(book: NewApiBook, params: Mapping[str, Any]) -> list[str]:
    """``collateralCoin``: one coin or several separated by commas, each in the pool."""
    coins = [c.strip() for c in required(params, "collateralCoin").split(",")]
    if any(not c for c in coins) or len(set(coins)) != len(coins):
        raise params_error("collateralCoin must list distinct coins separated by commas")
    for coin in coins:
        if coin not in book.tiers:
            raise ApiError(148004, f"{RET_MSGS[148004]} ({coin})")
    return coins


def repay_fees(loan_coin: str, coins: Iterable[str]) -> dict[str, Decimal]:
    """Per collateral coin, the higher of its repayment fee rate and the loan coin's."""
    rates = market.REPAY_FEE_RATES
    return {c: max(rates.get(loan_coin, ZERO), rates.get(c, ZERO)) for c in coins}


def check_cap(book: NewApiBook, currency: str, value: Decimal) -> Decimal:
    """The repayment's USD value; 148047 past the per-repayment cap."""
    usd = value * book.price(currency)
    if usd > market.COLLATERAL_REPAY_CAP_USD:
        raise ApiError(148047)
    return usd


def repay_collateral(book: NewApiBook, params: Mapping[str, Any], now: int) -> dict[str, Any]:
    """FL3 ``POST /v5/crypto-loan-flexible/repay-collateral``: sell collateral to repay."""
    currency, value = _repay_amount(book, params, now)
    coins = collateral_coins(book, params)
    usd = check_cap(book, currency, value)
    book.sell(usd, coins, repay_fees(currency, coins), strict=True)
    _pay_down(book, currency, value)
    book.record_flexible_repayment(currency, value, now, 7)
    _after_repayment(book)
    return {}


def ongoing_coin(book: NewApiBook, params: Mapping[str, Any], now: int) -> dict[str, Any]:
    """FL4 ``GET /v5/crypto-loan-flexible/ongoing-coin``: open flexible debt per coin."""
    currency = text(params, "loanCurrency")
    rows = []
    for coin, debt in sorted(book.flexible.items()):
        if currency not in (None, coin):
            continue
        book.accrue(debt, now)
        rows.append({
            "hourlyInterestRate": fmt(book.loan_coins[coin].hourly_rate),
            "loanCurrency": coin,
            "totalDebt": fmt(debt.total),
            "unpaidAmount": fmt(debt.principal),
            "unpaidInterest": fmt(debt.interest),
        })
    return {"list": rows}


def borrow_history(book: NewApiBook, params: Mapping[str, Any], now: int) -> dict[str, Any]:
    """FL5 ``GET /v5/crypto-loan-flexible/borrow-history`` (borrowTime is a number)."""
    order_id = digits(params, "orderId")
    currency = text(params, "loanCurrency")

    def source(below: int | None) -> Iterable[dict[str, Any]]:
        if order_id is None:
            return book.borrow_orders.newest(below)
        return single(book.borrow_orders.get(order_id), order_id, below)

    return page(source, params, dict, lambda r: int(r["orderId"]),
                match=lambda r: currency in (None, r["loanCurrency"]), style="id")


def repayment_history(book: NewApiBook, params: Mapping[str, Any], now: int) -> dict[str, Any]:
    """FL6 ``GET /v5/crypto-loan-flexible/repayment-history`` (repayTime, repayType: numbers)."""
    repay_id = digits(params, "repayId")
    currency = text(params, "loanCurrency")

    def source(below: int | None) -> Iterable[dict[str, Any]]:
        if repay_id is None:
            return book.repayments_by_id.newest(below)
        return single(book.repayments_by_id.get(repay_id), repay_id, below)

    return page(source, params, dict, lambda r: int(r["repayId"]),
                match=lambda r: currency in (None, r["loanCurrency"]), short_page=True)


def available_inventory(book: NewApiBook, params: Mapping[str, Any],
                        now: int) -> dict[str, Any]:
    """A1 ``GET /v5/crypto-loan-flexible/available-inventory?currency=`` (retMsg "OK")."""
    currency = required(params, "currency")
    book.loan_coin(currency, "flexible")
    return {"currency": currency, "availableInventory": fmt(book.pool_available(currency)),
            "updateTime": str(now // 1000)}
