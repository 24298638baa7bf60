"""The magics' lines for Bybit's new loan API (``--api new``, or ``%config BorrowMagics.api``).

Each function turns a parsed line into a :class:`Plan` (what it will do, its dry
run, its send) through ``client.new``'s typed methods, or a one-line
``ValidationError`` before anything is read or sent:

=========================================================  ==================================
line (``--api new``)                                       does
=========================================================  ==================================
``%repay USDT 100``                                        repay flexible USDT debt (FL2)
``%repay USDT --all``                                      all of it, as owed now
``%repay --loan-id 570``                                   fixed contract 570 in full (FX13)
``%repay USDT --fixed``                                    every fixed USDT contract in full
``%repay USDT 100 --collateral BTC``                       flexible debt, selling BTC (FL3)
``%repay USDT 100 --collateral BTC,ETH --fixed``           fixed debt, selling collateral (FX14)
``%repay USDT 100 --collateral BTC --loan-id 570``         contract 570, selling BTC (FX14)
``%collateral add BTC 0.1``                                pledge 0.1 BTC to the pool (C4)
``%collateral reduce BTC 0.05``                            take it back, at most the allowed max
``%collateral reduce BTC``                                 show the allowed max (C3)
``%borrow --cancel 13010``                                 cancel a matching fixed order (FX6)
=========================================================  ==================================

The new API's request types load on first use, so ``%load_ext`` does not pay for them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import ValidationError
from ..orders import parse_coin

__all__ = ["NEW_ONLY", "Plan", "cancel_plan", "collateral_plan", "repay_plan"]

NEW_ONLY = {"loan_id": "--loan-id", "fixed": "--fixed", "collateral": "--collateral",
            "cancel": "--cancel", "strategy": "--strategy", "repay_type": "--repay-type"}
"""Options that only the new loan API has (argparse dest -> flag)."""


@dataclass(frozen=True)
class Plan:
    """One write a magic line asks for: shown by ``--dry-run``, else confirmed and sent."""

    verb: str
    what: str
    prepare: Callable[[Any], Any]
    send: Callable[[Any], Any]


def new_only_given(args: Any) -> list[str]:
    """The new-API-only flags on the line."""
    return [flag for dest, flag in NEW_ONLY.items() if getattr(args, dest, None) not in (
        None, False)]


def _coin(word: str, what: str, hint: str) -> str:
    text = word.strip()
    if text.isascii() and text.isdigit():
        raise ValidationError(f"{what} {text[:30]} is an id: {hint}")
    return parse_coin(word, what)


def repay_plan(args: Any, client: Any) -> Plan:
    """``%repay`` on the new API (see the module docstring)."""
    from ..new_orders import CollateralRepayRequest, FixedRepayRequest, FlexibleRepayRequest

    word, amount, loan_id = args.order_id, args.amount, args.loan_id
    force = args.force
    hint = ("a new-API repayment names the loan coin (e.g. USDT), or --loan-id ID for a fixed "
            "contract")
    if loan_id is not None and args.collateral is None:
        if word is not None or amount is not None or args.all or args.fixed:
            raise ValidationError(
                "--loan-id ID repays that fixed contract in full: drop COIN, AMOUNT, --all and "
                "--fixed (or add --collateral COINS to repay COIN AMOUNT of it with collateral)")
        fixed = FixedRepayRequest(loan_id=loan_id)
        return Plan("Repay", fixed.describe(), lambda c: c.new.prepare(fixed),
                    lambda c: c.new.fixed_fully_repay(loan_id=fixed.loan_id, source="magic",
                                                      force=force))
    if word is None:
        raise ValidationError("expected COIN AMOUNT, COIN --all or --loan-id ID (with "
                              "--api new), see %repay?")
    coin = _coin(word, "loan coin", hint)
    if args.collateral is not None:
        if amount is None or args.all:
            raise ValidationError("--collateral repays AMOUNT by selling collateral: give "
                                  "COIN AMOUNT (no --all)")
        book = "fixed" if args.fixed or loan_id is not None else "flexible"
        sold = CollateralRepayRequest(coin, amount, args.collateral, book, loan_id)
        if book == "flexible":
            def send(c: Any) -> Any:
                return c.new.flexible_repay_collateral(
                    sold.loan_currency, sold.amount, sold.collateral_coins, source="magic",
                    force=force)
        else:
            def send(c: Any) -> Any:
                return c.new.fixed_repay_collateral(
                    sold.loan_currency, sold.amount, sold.collateral_coins, sold.loan_id,
                    source="magic", force=force)
        return Plan("Repay", sold.describe(), lambda c: c.new.prepare(sold), send)
    if args.fixed:
        if amount is not None or args.all:
            raise ValidationError(f"--fixed repays every fixed {coin} contract in full: give "
                                  "no AMOUNT or --all")
        every = FixedRepayRequest(loan_currency=coin)
        return Plan("Repay", every.describe(), lambda c: c.new.prepare(every),
                    lambda c: c.new.fixed_fully_repay(loan_currency=coin, source="magic",
                                                      force=force))
    if args.all == (amount is not None):
        raise ValidationError("give either AMOUNT or --all, not both or neither")
    if args.all:
        owed = [d for d in client.new.flexible_loans(coin) if d.get("loanCurrency") == coin]
        if not owed or not owed[0].get("totalDebt"):
            raise ValidationError(f"no flexible {coin} debt is open on {client.network}")
        amount = owed[0]["totalDebt"]
    flexible = FlexibleRepayRequest(coin, amount)
    return Plan("Repay", flexible.describe(), lambda c: c.new.prepare(flexible),
                lambda c: c.new.flexible_repay(flexible.loan_currency, flexible.amount,
                                               source="magic", force=force))


def collateral_plan(args: Any, client: Any) -> Plan | Any:
    """``%collateral add|reduce COIN [AMOUNT]`` on the pool; without AMOUNT, ``reduce``
    returns the allowed maximum (a read) instead of a plan."""
    from ..new_orders import PoolAdjustRequest

    coin = _coin(args.order_id, "collateral coin",
                 "the new API's collateral is pooled: name the coin, e.g. BTC")
    if args.amount is None:
        if args.direction == "add":
            raise ValidationError("how much collateral to add? give AMOUNT")
        return client.new.pool_reduction_limit(coin)
    request = PoolAdjustRequest(coin, args.amount, args.direction)
    return Plan(
        "Adjust collateral", request.describe(), lambda c: c.new.prepare(request),
        lambda c: c.new.adjust_collateral(request.currency, request.amount, request.direction,
                                          source="magic", force=args.force))


def cancel_plan(args: Any) -> Plan:
    """``%borrow --cancel ORDER_ID``: cancel a fixed borrow order still matching."""
    from ..new_orders import CancelOrderRequest

    request = CancelOrderRequest(args.cancel)
    return Plan("Cancel", request.describe(), lambda c: c.new.prepare(request),
                lambda c: c.new.cancel_borrow_order(request.order_id, source="magic",
                                                    force=args.force))
