"""Crypto Loan (New), common endpoints (C1 to C7): tables, position, max-loan, collateral.

Each handler takes ``(book, params, now)`` with a
:class:`~loan_widgets.sandbox.new_api.NewApiBook` and returns the ``result``.
``adjustment-history`` pages with the last ``adjustId`` as its cursor, as its
docs example does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import Any

from . import market
from .new_api import NewApiBook
from .new_records import ltv6, usd2
from .wire import (
    RET_MSGS,
    ApiError,
    check_places,
    digits,
    fmt,
    page,
    params_error,
    required,
    rounded,
    signed_amount,
    single,
    text,
)

__all__ = [
    "adjust",
    "adjustment_history",
    "collateral_data",
    "collateral_list",
    "loanable_data",
    "max_collateral",
    "max_loan",
    "position",
]

ZERO = Decimal(0)
MAX_COLLATERAL_ITEMS = 100


def collateral_list(book: NewApiBook, params: Mapping[str, Any], key: str) -> dict[str, Decimal]:
    """``collateralList`` as ``{coin: amount}`` (items keyed ``key``: ``currency`` or ``ccy``)."""
    raw = params.get("collateralList")
    if raw is None or raw == "" or raw == []:
        return {}
    if isinstance(raw, dict):  # the fixed-borrow doc example sends one object
        raw = [raw]
    if not isinstance(raw, list):
        raise params_error("collateralList must be an array")
    if len(raw) > MAX_COLLATERAL_ITEMS:
        raise params_error("collateralList takes at most 100 items")
    items: dict[str, Decimal] = {}
    for item in raw:
        if not isinstance(item, dict):
            raise params_error("collateralList items must be objects")
        coin = required(item, key)
        value = signed_amount(item, "amount", 148008)
        if coin in items:
            raise ApiError(148039, f"{RET_MSGS[148039]} ({coin})")
        coll = book.sandbox.collateral_coins.get(coin)
        if coll is None or coin not in book.tiers:
            raise ApiError(148004, f"{RET_MSGS[148004]} ({coin})")
        if value <= 0:
            raise params_error("collateral amount must be greater than 0")
        check_places(value, coll.collateral_accuracy, 148005, "amount")
        items[coin] = value
    return items


def loanable_data(book: NewApiBook, params: Mapping[str, Any], now: int) -> dict[str, Any]:
    """C1 ``GET /v5/crypto-loan-common/loanable-data`` (public; one flat list)."""
    vip = text(params, "vipLevel")
    if vip is not None and vip not in market.VIP_LEVELS:
        raise params_error("vipLevel is invalid")
    currency = text(params, "currency")
    rows = []
    for name, coin in book.loan_coins.items():
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
        for offer in book.offers.get(name, ()):
            if coin.fixed_borrowable and offer.rate < lowest.get(offer.term, offer.rate + 1):
                lowest[offer.term] = offer.rate
        for term in ("14", "180", "30", "60", "7", "90"):  # the docs' key order
            rate = lowest.get(int(term))
            row[f"annualizedInterestRate{term}D"] = "" if rate is None else fmt(rate)
        row["flexibleAnnualizedInterestRate"] = (
            fmt(coin.annual_rate) if coin.flexible_borrowable else "")
        rows.append(row)
    return {"list": rows}


def collateral_data(book: NewApiBook, params: Mapping[str, Any], now: int) -> dict[str, Any]:
    """C2 ``GET /v5/crypto-loan-common/collateral-data`` (public)."""
    currency = text(params, "currency")
    groups = [
        {"collateralRatioList": [t.to_wire() for t in tiers], "currencies": ",".join(coins)}
        for coins, tiers in book.groups if currency is None or currency in coins
    ]
    order = sorted(book.liquidation_order.items(), key=lambda kv: kv[1])
    return {
        "collateralRatioConfigList": groups,
        "currencyLiquidationList": [{"currency": c, "liquidationOrder": n}
                                    for c, n in order if currency in (None, c)],
    }


def position(book: NewApiBook, params: Mapping[str, Any], now: int) -> dict[str, Any]:
    """C6 ``GET /v5/crypto-loan-common/position``: the whole account in coins and USD."""
    prices = book.sandbox.prices
    fixed: dict[str, Decimal] = {}
    for contract in book.open.values():
        fixed[contract.currency] = fixed.get(contract.currency, ZERO) + contract.debt
    borrow_list = []
    for coin in sorted(set(book.flexible) | set(fixed)):
        flex = book.flexible[coin].total if coin in book.flexible else ZERO
        fixed_debt = fixed.get(coin, ZERO)
        price = prices.get(coin, ZERO)
        loan_coin = book.loan_coins.get(coin)
        borrow_list.append({
            "fixedTotalDebt": fmt(fixed_debt),
            "fixedTotalDebtUSD": usd2(fixed_debt * price),
            "flexibleHourlyInterestRate": fmt(loan_coin.hourly_rate) if loan_coin else "",
            "flexibleTotalDebt": fmt(flex),
            "flexibleTotalDebtUSD": usd2(flex * price),
            "loanCurrency": coin,
        })
    collateral_rows = []
    total_collateral = ZERO
    for coin, held in book.collateral.items():
        if held <= 0:
            continue
        usd = rounded(book.tiered(coin, held), 2, ROUND_HALF_UP)
        total_collateral += usd
        collateral_rows.append({"amount": fmt(held), "amountUSD": fmt(usd), "currency": coin})
    supplied: dict[str, Decimal] = {}
    for contract in book.supply_contracts.values():
        if contract.status == 1:
            supplied[contract.currency] = (supplied.get(contract.currency, ZERO)
                                           + contract.amount + contract.interest)
    supply_rows = []
    total_supply = ZERO
    for coin, lent in sorted(supplied.items()):
        usd = rounded(lent * prices.get(coin, ZERO), 2, ROUND_HALF_UP)
        total_supply += usd
        supply_rows.append({"amount": fmt(lent), "amountUSD": fmt(usd), "currency": coin})
    return {
        "borrowList": borrow_list,
        "collateralList": collateral_rows,
        "ltv": ltv6(book.ltv()),
        "supplyList": supply_rows,
        "totalCollateral": fmt(total_collateral),
        "totalDebt": usd2(book.debt_usd()),
        "totalSupply": fmt(total_supply),
        "colRes": "0",
    }


def max_loan(book: NewApiBook, params: Mapping[str, Any], now: int) -> dict[str, Any]:
    """C7 ``POST /v5/crypto-loan-common/max-loan``: how much more ``currency`` fits."""
    currency = required(params, "currency")
    coin = book.loan_coins.get(currency)
    if coin is None:
        raise ApiError(148014, f"{RET_MSGS[148014]} ({currency})")
    extra = collateral_list(book, params, "ccy")
    wallet = book.sandbox.wallet
    for ccy, held in extra.items():
        if wallet.get(ccy, ZERO) < held:
            raise ApiError(148037, f"{RET_MSGS[148037]} ({ccy} in the Funding wallet)")
    price = book.price(currency)
    room = book.collateral_usd(extra) * book.initial_ltv - book.debt_usd(pending=True)
    quota = max(ZERO, coin.max_amount - book.owed(currency))
    most = max(ZERO, min(quota, room / price))
    best = rounded(most, coin.flexible_accuracy, ROUND_DOWN)
    return {
        "currency": currency,
        "maxLoan": fmt(best),
        "notionalUsd": fmt(rounded(best * price, 2, ROUND_DOWN)),
        "remainingQuota": fmt(quota),
    }


def max_reduction(book: NewApiBook, coin: str) -> Decimal:
    """Most of ``coin`` that can leave the pool with the LTV kept at ``initial_ltv``."""
    held = book.collateral.get(coin, ZERO)
    if held <= 0:
        return ZERO
    debt = book.debt_usd(pending=True)
    if debt <= 0:
        return held
    slack = book.collateral_usd() - debt / book.initial_ltv  # tiered USD we may drop
    price = book.sandbox.prices.get(coin, ZERO)
    if slack <= 0 or price <= 0:
        return ZERO
    value = held * price
    removed = ZERO
    for tier in reversed(book.tiers.get(coin, ())):  # the top band goes first
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
    coll = book.sandbox.collateral_coins[coin]
    return min(held, rounded(removed / price, coll.collateral_accuracy, ROUND_DOWN))


def max_collateral(book: NewApiBook, params: Mapping[str, Any], now: int) -> dict[str, Any]:
    """C3 ``GET /v5/crypto-loan-common/max-collateral-amount?currency=``: keyed by coin."""
    currency = required(params, "currency")
    if currency not in book.sandbox.collateral_coins or currency not in book.tiers:
        raise ApiError(148004, f"{RET_MSGS[148004]} ({currency})")
    return {"maxCollateralAmount": fmt(max_reduction(book, currency))}


def adjust(book: NewApiBook, params: Mapping[str, Any], now: int) -> dict[str, Any]:
    """C4 ``POST /v5/crypto-loan-common/adjust-ltv``: add to or take from the pool."""
    currency = required(params, "currency")
    value = signed_amount(params, "amount", 148008)
    direction = required(params, "direction")
    if direction not in ("0", "1"):
        raise params_error("direction must be 0 (add) or 1 (reduce)")
    coll = book.sandbox.collateral_coins.get(currency)
    if coll is None or currency not in book.tiers:
        raise ApiError(148004, f"{RET_MSGS[148004]} ({currency})")
    if value <= 0:
        raise params_error("amount must be greater than 0")
    check_places(value, coll.collateral_accuracy, 148005, "amount")
    if not book.has_borrowing():
        raise ApiError(148013)
    before = book.ltv()
    if direction == "0":
        book.check_funding({currency: value})
        book.pledge({currency: value})
    else:
        most = max_reduction(book, currency)
        if value > most:
            raise ApiError(148037, f"{RET_MSGS[148037]} (max {fmt(most)} {currency})")
        book.collateral[currency] -= value
        wallet = book.sandbox.wallet
        wallet[currency] = wallet.get(currency, ZERO) + value
    adjust_id = book.new_id("adjust")
    row = {
        "adjustId": adjust_id,
        "adjustTime": now,
        "afterLTV": ltv6(book.ltv()),
        "amount": fmt(value),
        "collateralCurrency": currency,
        "direction": int(direction),
        "preLTV": ltv6(before),
        "status": 1,
    }
    book.adjustments.append(row)
    book.adjustments_by_id[adjust_id] = row
    if book.ltv() < book.margin_call_ltv:
        book.margin_call = False
    return {"adjustId": adjust_id}


def adjustment_history(book: NewApiBook, params: Mapping[str, Any], now: int) -> dict[str, Any]:
    """C5 ``GET /v5/crypto-loan-common/adjustment-history`` (adjustId, adjustTime: numbers)."""
    adjust_id = digits(params, "adjustId")
    currency = text(params, "collateralCurrency")

    def source(below: int | None) -> Iterable[dict[str, Any]]:
        if adjust_id is None:
            return book.adjustments_by_id.newest(below)
        return single(book.adjustments_by_id.get(int(adjust_id)), adjust_id, below)

    return page(source, params, dict, lambda r: int(r["adjustId"]),
                match=lambda r: currency in (None, r["collateralCurrency"]), style="id")
