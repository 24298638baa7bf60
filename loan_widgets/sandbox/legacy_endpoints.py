"""The legacy crypto-loan endpoints (L1 to L11 of the API reference) on a :class:`LegacyBook`.

Each handler takes ``(book, params, now)`` and returns the ``result`` object;
:mod:`loan_widgets.sandbox.routes` maps each endpoint of
:mod:`loan_widgets.endpoints` to one of them.

**Borrow rules.** ``loanTerm`` absent, ``null`` or ``""`` is a flexible loan,
otherwise ``"7"``, ``"14"``, ``"30"``, ``"90"`` or ``"180"`` if the coin offers it.
Given only ``loanAmount``, the collateral is ``loan * loanPrice / (initialLTV *
collateralPrice)`` rounded up to ``collateralAccuracy``; given only
``collateralAmount``, the loan is ``collateral * collateralPrice * initialLTV /
loanPrice`` rounded down to ``borrowingAccuracy``; given both, the collateral
must cover the loan at ``initialLTV``. Collateral leaves the Funding wallet and
the loan arrives in it. ``legacy_borrow="reject"`` on the account refuses the
deprecated Borrow after auth with ``legacy_borrow_error``.

**Paging.** ``nextPageCursor`` is opaque (``"<id>%3A<n>%2C<id>%3A<n>"``);
``adjustment-history`` gives one on a short page too, as its docs example does.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from decimal import ROUND_DOWN, ROUND_UP, Decimal
from typing import Any

from . import market
from .legacy import INTEREST_PLACES, LegacyBook, Loan
from .wire import (
    RET_MSGS,
    ApiError,
    amount,
    check_places,
    digits,
    fmt,
    ltv4,
    page,
    params_error,
    required,
    rounded,
    single,
    text,
)

__all__ = [
    "adjust",
    "adjustment_history",
    "borrow",
    "borrow_history",
    "borrow_limits",
    "collateral_data",
    "loanable_data",
    "max_collateral",
    "ongoing_orders",
    "repay",
    "repayment_history",
]

ZERO = Decimal(0)


def _newest(rows: list[dict[str, Any]], key: str, below: int | None) -> Iterator[dict[str, Any]]:
    ordered = sorted(rows, key=lambda r: int(r[key]), reverse=True)
    return (r for r in ordered if below is None or int(r[key]) < below)


def _vip_lists(params: Mapping[str, Any], table: Mapping[str, Any]) -> dict[str, Any]:
    vip = text(params, "vipLevel")
    if vip is not None and vip not in market.VIP_LEVELS:
        raise params_error("vipLevel is invalid")
    currency = text(params, "currency")
    rows = [c.to_wire() for name, c in table.items() if currency in (None, name)]
    levels = market.VIP_LEVELS if vip is None else (vip,)
    return {"vipCoinList": [{"list": rows, "vipLevel": level} for level in levels]}


def collateral_data(book: LegacyBook, params: Mapping[str, Any], now: int) -> dict[str, Any]:
    """L1 ``GET /v5/crypto-loan/collateral-data`` (public)."""
    return _vip_lists(params, book.collateral_coins)


def loanable_data(book: LegacyBook, params: Mapping[str, Any], now: int) -> dict[str, Any]:
    """L2 ``GET /v5/crypto-loan/loanable-data`` (public)."""
    return _vip_lists(params, book.loan_coins)


def borrow_limits(book: LegacyBook, params: Mapping[str, Any], now: int) -> dict[str, Any]:
    """L3 ``GET /v5/crypto-loan/borrowable-collateralisable-number``."""
    loan_ccy = required(params, "loanCurrency")
    coll_ccy = required(params, "collateralCurrency")
    coin = book.loan_coin(loan_ccy)
    coll = book.collateral_coin(coll_ccy)
    if loan_ccy == coll_ccy:
        raise ApiError(177019, f"{RET_MSGS[177019]} (same loan and collateral currency)")
    loan_price = book.price(loan_ccy, 177006)
    coll_value = coll.initial_ltv * book.price(coll_ccy, 177017)  # loan value per coin
    room = max(ZERO, coll.max_limit - book.pledged(coll_ccy))
    max_coll = min(book.account.wallet.get(coll_ccy, ZERO), room,
                   coin.max_amount * loan_price / coll_value)
    max_loan = min(coin.max_amount, rounded(max_coll * coll_value / loan_price,
                                            coin.borrowing_accuracy, ROUND_DOWN))
    min_coll = coin.min_amount * loan_price / coll_value
    return {
        "collateralCurrency": coll_ccy,
        "loanCurrency": loan_ccy,
        "maxCollateralAmount": fmt(rounded(max_coll, 18, ROUND_DOWN)),
        "maxLoanAmount": fmt(max_loan),
        "minCollateralAmount": fmt(rounded(min_coll, 18, ROUND_UP)),
        "minLoanAmount": fmt(coin.min_amount),
    }


def borrow(book: LegacyBook, params: Mapping[str, Any], now: int) -> dict[str, Any]:
    """L4 ``POST /v5/crypto-loan/borrow`` (deprecated by Bybit; see the module docstring)."""
    refusal = getattr(book.account, "legacy_borrow_refusal", None)
    if refusal is not None:
        raise ApiError(*refusal)
    loan_ccy = required(params, "loanCurrency")
    coll_ccy = required(params, "collateralCurrency")
    loan_text = text(params, "loanAmount")
    coll_text = text(params, "collateralAmount")
    if loan_text is None and coll_text is None:
        raise params_error("loanAmount or collateralAmount is required")
    term = text(params, "loanTerm") or ""
    loan_amt = None if loan_text is None else amount("loanAmount", loan_text)
    coll_amt = None if coll_text is None else amount("collateralAmount", coll_text)
    if term and term not in market.LOAN_TERMS:
        raise ApiError(177019, f"{RET_MSGS[177019]} (loanTerm must be 7, 14, 30, 90 or 180)")
    coin = book.loan_coin(loan_ccy)
    coll = book.collateral_coin(coll_ccy)
    if loan_ccy == coll_ccy:
        raise ApiError(177019, f"{RET_MSGS[177019]} (same loan and collateral currency)")
    rate = coin.rate_for(term)
    if rate is None:
        if not term:
            raise ApiError(177008)
        raise ApiError(177019, f"{RET_MSGS[177019]} ({loan_ccy} has no {term}-day term)")
    if loan_amt is not None:
        check_places(loan_amt, coin.borrowing_accuracy, 177004, "loanAmount")
    if coll_amt is not None:
        check_places(coll_amt, coll.collateral_accuracy, 177004, "collateralAmount")
    loan_price = book.price(loan_ccy, 177006)
    coll_price = book.price(coll_ccy, 177017)
    ltv = coll.initial_ltv
    if loan_amt is not None:
        if loan_amt < coin.min_amount:
            raise ApiError(177009, f"{RET_MSGS[177009]} ({fmt(coin.min_amount)} {loan_ccy})")
        if loan_amt > coin.max_amount:
            raise ApiError(177007, f"{RET_MSGS[177007]} ({fmt(coin.max_amount)} {loan_ccy})")
    room = coll.max_limit - book.pledged(coll_ccy)
    if coll_amt is not None and coll_amt > room:
        raise ApiError(177015)
    if loan_amt is None:
        assert coll_amt is not None
        loan_amt = rounded(coll_amt * coll_price * ltv / loan_price, coin.borrowing_accuracy,
                           ROUND_DOWN)
        if loan_amt < coin.min_amount:
            raise ApiError(177016, f"{RET_MSGS[177016]} (the loan would be "
                                   f"{fmt(loan_amt)} {loan_ccy}, below the minimum)")
        if loan_amt > coin.max_amount:
            raise ApiError(177007, f"{RET_MSGS[177007]} ({fmt(coin.max_amount)} {loan_ccy})")
    need = loan_amt * loan_price / (ltv * coll_price)
    if coll_amt is None:
        coll_amt = rounded(need, coll.collateral_accuracy, ROUND_UP)
        if coll_amt > room:
            raise ApiError(177015)
    elif coll_amt < need:
        raise ApiError(177016)
    wallet = book.account.wallet
    if wallet.get(coll_ccy, ZERO) < coll_amt:
        raise ApiError(177011, f"{RET_MSGS[177011]} ({coll_ccy} in the Funding wallet)")
    wallet[coll_ccy] -= coll_amt
    wallet[loan_ccy] = wallet.get(loan_ccy, ZERO) + loan_amt
    order_id = book.account.new_id()
    book.open(Loan(
        order_id=order_id, loan_currency=loan_ccy, collateral_currency=coll_ccy,
        principal=loan_amt, collateral=coll_amt, term=term,
        locked_rate=rate if term else None, borrow_time=now, initial_loan=loan_amt,
        initial_collateral=coll_amt, accrued_to=now,
    ))
    return {"orderId": order_id}


def ongoing_orders(book: LegacyBook, params: Mapping[str, Any], now: int) -> dict[str, Any]:
    """L6 ``GET /v5/crypto-loan/ongoing-orders``: a page of open loans, newest first."""
    order_id = digits(params, "orderId")
    loan_ccy = text(params, "loanCurrency")
    coll_ccy = text(params, "collateralCurrency")
    term_type = text(params, "loanTermType")
    term = text(params, "loanTerm")
    if term_type not in (None, "1", "2"):
        raise params_error("loanTermType must be 1 (fixed) or 2 (flexible)")
    if term_type == "1" and term is None:
        raise params_error("loanTerm is required when loanTermType=1")
    if term is not None and term not in market.LOAN_TERMS:
        raise params_error("loanTerm must be 7, 14, 30, 90 or 180")

    def source(below: int | None) -> Iterable[Loan]:
        if order_id is None:
            return book.orders.newest(below)
        return single(book.orders.get(order_id), order_id, below)

    def match(loan: Loan) -> bool:
        return not (
            (loan_ccy is not None and loan.loan_currency != loan_ccy)
            or (coll_ccy is not None and loan.collateral_currency != coll_ccy)
            or (term_type == "2" and loan.term)
            or (term_type == "1" and not loan.term)
            or (term is not None and term_type != "2" and loan.term != term)
        )

    def row(loan: Loan) -> dict[str, Any]:
        book.settle(loan, now)
        due = loan.expiration
        return {
            "collateralAmount": fmt(loan.collateral),
            "collateralCurrency": loan.collateral_currency,
            "currentLTV": ltv4(book.ltv(loan)),
            "expirationTime": "" if due is None else str(due),
            "hourlyInterestRate": fmt(book.rate_of(loan)),
            "loanCurrency": loan.loan_currency,
            "loanTerm": loan.term,
            "orderId": loan.order_id,
            "residualInterest": fmt(loan.interest),
            "residualPenaltyInterest": fmt(loan.penalty),
            "totalDebt": fmt(loan.principal),
        }

    return page(source, params, row, lambda loan: int(loan.order_id), match=match)


def repay(book: LegacyBook, params: Mapping[str, Any], now: int) -> dict[str, Any]:
    """L5 ``POST /v5/crypto-loan/repay``: penalty, then interest, then principal."""
    loan = book.order(params, now)
    value = amount("amount", required(params, "amount"))
    coin = book.loan_coins.get(loan.loan_currency)
    check_places(value, max(INTEREST_PLACES, coin.borrowing_accuracy if coin else 0), 177004,
                 "amount")
    if value > loan.debt:
        raise ApiError(177010)
    wallet = book.account.wallet
    if wallet.get(loan.loan_currency, ZERO) < value:
        raise ApiError(177011, f"{RET_MSGS[177011]} ({loan.loan_currency})")
    wallet[loan.loan_currency] -= value
    left = value
    paid = min(left, loan.penalty)
    loan.penalty -= paid
    loan.repaid_penalty += paid
    left -= paid
    paid = min(left, loan.interest)
    loan.interest -= paid
    loan.repaid_interest += paid
    left -= paid
    loan.principal -= left
    returned = ZERO
    if loan.debt == 0:
        returned = loan.collateral
        wallet[loan.collateral_currency] = wallet.get(loan.collateral_currency, ZERO) + returned
        book.pledge(loan.collateral_currency, -returned)
        book.close(loan, 1, now)
    else:
        book.clear_margin_call(loan)  # a repayment can end a margin call
    return {"repayId": book.record_repayment(loan, value, returned, now, "1")}


def repayment_history(book: LegacyBook, params: Mapping[str, Any], now: int) -> dict[str, Any]:
    """L7 ``GET /v5/crypto-loan/repayment-history``."""
    order_id = digits(params, "orderId")
    repay_id = digits(params, "repayId")
    currency = text(params, "loanCurrency")

    def source(below: int | None) -> Iterable[dict[str, Any]]:
        if repay_id is not None:
            return single(book.repayments_by_id.get(repay_id), repay_id, below)
        if order_id is not None:
            return _newest(book.repayments_by_order.get(order_id, []), "repayId", below)
        return book.repayments_by_id.newest(below)

    def match(row: dict[str, Any]) -> bool:
        return order_id in (None, row["orderId"]) and currency in (None, row["loanCurrency"])

    return page(source, params, dict, lambda r: int(r["repayId"]), match=match)


def borrow_history(book: LegacyBook, params: Mapping[str, Any], now: int) -> dict[str, Any]:
    """L8 ``GET /v5/crypto-loan/borrow-history``: fully repaid loans."""
    order_id = digits(params, "orderId")
    loan_ccy = text(params, "loanCurrency")
    coll_ccy = text(params, "collateralCurrency")

    def source(below: int | None) -> Iterable[Loan]:
        if order_id is None:
            return book.completed.newest(below)
        return single(book.completed.get(order_id), order_id, below)

    def match(loan: Loan) -> bool:
        return loan_ccy in (None, loan.loan_currency) and coll_ccy in (
            None, loan.collateral_currency)

    def row(loan: Loan) -> dict[str, Any]:
        return {
            "borrowTime": str(loan.borrow_time),
            "collateralCurrency": loan.collateral_currency,
            "expirationTime": "" if loan.expiration is None else str(loan.expiration),
            "hourlyInterestRate": fmt(book.rate_of(loan)),
            "initialCollateralAmount": fmt(loan.initial_collateral),
            "initialLoanAmount": fmt(loan.initial_loan),
            "loanCurrency": loan.loan_currency,
            "loanTerm": loan.term,
            "orderId": loan.order_id,
            "repaidInterest": fmt(loan.repaid_interest),
            "repaidPenaltyInterest": fmt(loan.repaid_penalty),
            "status": loan.status,
        }

    return page(source, params, row, lambda loan: int(loan.order_id), match=match)


def max_collateral(book: LegacyBook, params: Mapping[str, Any], now: int) -> dict[str, Any]:
    """L9 ``GET /v5/crypto-loan/max-collateral-amount?orderId=``."""
    return {"maxCollateralAmount": fmt(book.max_reduction(book.order(params, now)))}


def adjust(book: LegacyBook, params: Mapping[str, Any], now: int) -> dict[str, Any]:
    """L10 ``POST /v5/crypto-loan/adjust-ltv``: direction ``"0"`` add, ``"1"`` reduce."""
    loan = book.order(params, now)
    value = amount("amount", required(params, "amount"))
    direction = required(params, "direction")
    if direction not in ("0", "1"):
        raise params_error("direction must be 0 (add) or 1 (reduce)")
    coll = book.collateral_coins[loan.collateral_currency]
    check_places(value, coll.collateral_accuracy, 177004, "amount")
    ccy = loan.collateral_currency
    wallet = book.account.wallet
    if direction == "0":
        if value > coll.max_limit - book.pledged(ccy):
            raise ApiError(177015)
        if wallet.get(ccy, ZERO) < value:
            raise ApiError(177011, f"{RET_MSGS[177011]} ({ccy} in the Funding wallet)")
        after = loan.collateral + value
        wallet[ccy] -= value
    else:
        if value > book.max_reduction(loan):
            raise ApiError(177013)
        after = loan.collateral - value
        wallet[ccy] = wallet.get(ccy, ZERO) + value
    before_ltv = book.ltv(loan)
    book.pledge(ccy, after - loan.collateral)
    loan.collateral = after
    adjust_id = book.account.new_id()
    book.record_adjustment({
        "adjustId": adjust_id,
        "adjustTime": str(now),
        "afterLTV": ltv4(book.ltv(loan)),
        "amount": fmt(value),
        "collateralCurrency": ccy,
        "direction": int(direction),
        "orderId": loan.order_id,
        "preLTV": ltv4(before_ltv),
    })
    book.clear_margin_call(loan)  # adding collateral can end a margin call
    return {"adjustId": adjust_id}


def adjustment_history(book: LegacyBook, params: Mapping[str, Any], now: int) -> dict[str, Any]:
    """L11 ``GET /v5/crypto-loan/adjustment-history`` (a cursor on short pages too)."""
    order_id = digits(params, "orderId")
    adjust_id = digits(params, "adjustId")
    currency = text(params, "collateralCurrency")

    def source(below: int | None) -> Iterable[dict[str, Any]]:
        if adjust_id is not None:
            return single(book.adjustments_by_id.get(adjust_id), adjust_id, below)
        if order_id is not None:
            return _newest(book.adjustments_by_order.get(order_id, []), "adjustId", below)
        return book.adjustments_by_id.newest(below)

    def match(row: dict[str, Any]) -> bool:
        return order_id in (None, row["orderId"]) and currency in (
            None, row["collateralCurrency"])

    return page(source, params, dict, lambda r: int(r["adjustId"]), match=match,
                short_page=True)
