"""Parsers of the new loan API's request fields: one-line errors, exact text out.

Used by the request types (:mod:`loan_widgets.new_orders`) and the reads' filters
(:mod:`loan_widgets.new_reads`); amounts, coins and rates are
:mod:`loan_widgets.orders`'s parsers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from .errors import ValidationError
from .orders import parse_amount, parse_coin
from .terms import FLEXIBLE, parse_term

__all__ = [
    "AVAILABLE_SOURCES",
    "REFUND_ACCOUNTS",
    "REPAY_TYPES",
    "STRATEGIES",
    "choice",
    "coins",
    "collateral_pairs",
    "parse_fixed_term",
    "parse_loan_id",
    "shown",
]

REPAY_TYPES = {"1": "1", "auto": "1", "2": "2", "flexible": "2"}
"""``repayType`` at maturity: ``1`` (``auto``) repays from Funding, ``2`` (``flexible``)
turns what is owed into a flexible loan."""
STRATEGIES = ("PARTIAL", "FULL")
"""``strategyType``: ``PARTIAL`` fills what lenders offer (the default), ``FULL`` only all."""
AVAILABLE_SOURCES = {"0": "0", "funding": "0", "1": "1", "earn": "1", "2": "2", "all": "2"}
"""``availableSource`` of a supply order: Funding (default), Earn Flexible, or all."""
REFUND_ACCOUNTS = {"0": "0", "funding": "0", "1": "1", "easyearn": "1"}
"""``refundedAccount`` of a cancelled supply order: Funding (default) or EasyEarn."""

_MAX_COLLATERAL_ITEMS = 100


def shown(value: object) -> str:
    """A short, single-line rendering of user input for error messages."""
    text = value if isinstance(value, str) else repr(value)
    text = text.encode("unicode_escape").decode("ascii")
    return text if len(text) <= 40 else text[:37] + "..."


def parse_loan_id(value: object, what: str = "loan id") -> str:
    """A new-API id (a contract's ``loanId``, an ``orderId``): 1-30 ASCII digits, above 0."""
    text = str(value).strip() if isinstance(value, (str, int)) and not isinstance(
        value, bool) else ""
    if not (text.isascii() and text.isdigit()) or len(text) > 30 or int(text) == 0:
        raise ValidationError(f"{what} {shown(value)} is not an id (digits only)")
    return text


def parse_fixed_term(value: object) -> str:
    """A fixed term of the new API in days: 7, 14, 30, 60, 90 or 180."""
    term = parse_term(value, "new")
    if term == FLEXIBLE:
        raise ValidationError("a fixed term is needed here: 7, 14, 30, 60, 90 or 180 (days)")
    return term


def choice(value: object, choices: Mapping[str, str], what: str) -> str:
    """The wire code of ``value``: a code or its name (case-insensitive), else one line."""
    key = str(value).strip().lower() if isinstance(value, (str, int)) else ""
    if isinstance(value, bool) or key not in choices:
        names = ", ".join(k for k in choices if not k.isdigit())
        raise ValidationError(f"{what} {shown(value)} is not known: use {names}")
    return choices[key]


def coins(value: object, what: str) -> tuple[str, ...]:
    """One coin, ``"BTC,ETH"`` or a sequence of coins; distinct, in the order given."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, Iterable) or isinstance(items, (bytes, Mapping)):
        raise ValidationError(f"{what} must be a coin or a list of coins")
    coins = tuple(parse_coin(c, what) for c in items)
    if not coins:
        raise ValidationError(f"{what} is missing")
    if len(set(coins)) != len(coins):
        raise ValidationError(f"{what} lists a coin twice")
    return coins


def collateral_pairs(value: Mapping[str, Any] | None) -> tuple[tuple[str, Decimal], ...]:
    """``{coin: amount}`` as validated pairs (at most 100 coins, as the docs allow)."""
    if not value:
        return ()
    if not isinstance(value, Mapping):
        raise ValidationError("collateral must be a mapping of coin to amount")
    if len(value) > _MAX_COLLATERAL_ITEMS:
        raise ValidationError(f"collateral takes at most {_MAX_COLLATERAL_ITEMS} coins")
    pairs = tuple((parse_coin(c, "collateral coin"), parse_amount(a, "collateral amount"))
                  for c, a in value.items())
    if len({c for c, _ in pairs}) != len(pairs):
        raise ValidationError("collateral lists a coin twice")
    return pairs
