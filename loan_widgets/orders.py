"""Validated loan orders: ``Decimal`` in, exact JSON strings out.

A :class:`BorrowRequest` is checked completely before anything is sent:
coin codes, amounts (plain decimal text or ``Decimal``; floats refused),
the loan term. Its body is written once, compactly, in the key order of
Bybit's own example, and that exact text is what gets signed and sent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Protocol

from .errors import ValidationError
from .numbers import compact_json, wire_decimal
from .numbers import plain as _plain
from .terms import TERMS, parse_term

__all__ = [
    "TERMS",
    "ActionResult",
    "AdjustRequest",
    "BorrowRequest",
    "BorrowResult",
    "Described",
    "RepayRequest",
    "parse_amount",
    "parse_coin",
    "parse_order_id",
    "parse_term",
    "wire_decimal",
]

MAX_INTEGER_DIGITS = 20
MAX_DECIMAL_PLACES = 18

_AMOUNT = re.compile(r"[0-9]+(?:\.[0-9]+)?", re.ASCII)
_COIN = re.compile(r"[A-Z0-9]{2,12}", re.ASCII)
_ORDER_ID = re.compile(r"[0-9]{1,30}", re.ASCII)


def _shown(value: object) -> str:
    """A short, single-line rendering of user input for error messages."""
    text = value if isinstance(value, str) else repr(value)
    text = text.encode("unicode_escape").decode("ascii")
    return text if len(text) <= 40 else text[:37] + "..."


def parse_amount(value: object, what: str = "amount") -> Decimal:
    """Turn ``value`` into a positive ``Decimal`` or raise a one-line ``ValidationError``.

    Accepted: ``Decimal``, ``int`` and plain decimal text such as ``"550"`` or
    ``"0.05"`` (ASCII digits, at most one point). Refused: floats, exponents,
    signs, separators, NaN/Infinity, zero, negative values and more than
    20 integer digits or 18 decimal places.
    """
    if isinstance(value, (bool, float)):
        raise ValidationError(
            f"{what} must be given as text or Decimal, not {type(value).__name__} "
            f"(floats lose cents: write '{value}' in quotes)"
        )
    if isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, Decimal):
        number = value
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            raise ValidationError(f"{what} is empty")
        if text.startswith("-") and _AMOUNT.fullmatch(text[1:]):  # as 0 is: a number, too small
            raise ValidationError(f"{what} must be greater than zero, not {text}")
        if not _AMOUNT.fullmatch(text):
            raise ValidationError(
                f"{what} {_shown(value)!s} is not a plain decimal number (write e.g. 550 or 0.05)"
            )
        try:
            number = Decimal(text)
        except InvalidOperation:  # pragma: no cover - the pattern already rules this out
            raise ValidationError(f"{what} {_shown(value)} is not a number") from None
    else:
        raise ValidationError(f"{what} must be text or Decimal, not {type(value).__name__}")
    if not number.is_finite():
        raise ValidationError(f"{what} must be a finite number, not {number}")
    if number <= 0:
        raise ValidationError(f"{what} must be greater than zero, not {_plain(number)}")
    _, digits, exponent = number.as_tuple()
    assert isinstance(exponent, int)
    integer_digits = len(digits) + exponent
    if integer_digits > MAX_INTEGER_DIGITS:
        raise ValidationError(f"{what} is too large (more than {MAX_INTEGER_DIGITS} digits)")
    if -exponent > MAX_DECIMAL_PLACES:
        raise ValidationError(f"{what} has more than {MAX_DECIMAL_PLACES} decimal places")
    return number


def parse_coin(value: object, what: str = "coin") -> str:
    """An upper-case coin code such as ``USDT``; lower case input is accepted."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{what} is missing")
    text = value.strip()
    code = text.upper() if text.isascii() else text
    if not _COIN.fullmatch(code) or code.isdigit():
        raise ValidationError(
            f"{what} {_shown(value)} is not a coin code (2-12 letters or digits, e.g. USDT)"
        )
    return code


def parse_order_id(value: object, what: str = "order id") -> str:
    """A loan order id: digits only (legacy ids have 19)."""
    text = str(value).strip() if isinstance(value, (str, int)) else ""
    if isinstance(value, bool) or not _ORDER_ID.fullmatch(text):
        raise ValidationError(f"{what} {_shown(value)} is not an order id (digits only)")
    return text


def parse_rate(value: object) -> Decimal:
    """An annual rate as a fraction: ``0.05`` is 5 % a year."""
    rate = parse_amount(value, "annual rate")
    if rate >= 1:
        raise ValidationError(
            f"annual rate {_plain(rate)} is a fraction of 1 (0.05 is 5 %), not a percentage"
        )
    return rate


@dataclass(frozen=True)
class BorrowRequest:
    """A loan order, validated on creation.

    Give ``loan_amount`` (borrow this much), ``collateral_amount`` (borrow
    as much as this collateral supports) or both.
    """

    loan_currency: str
    collateral_currency: str
    loan_amount: Decimal | None = None
    collateral_amount: Decimal | None = None
    term: str = "flexible"
    annual_rate: Decimal | None = None

    def __post_init__(self) -> None:
        loan = parse_coin(self.loan_currency, "loan coin")
        collateral = parse_coin(self.collateral_currency, "collateral coin")
        if loan == collateral:
            raise ValidationError(
                f"loan coin and collateral coin are both {loan}: pledge a different coin"
            )
        if self.loan_amount is None and self.collateral_amount is None:
            raise ValidationError("give a loan amount or a collateral amount")
        loan_amount = (
            None if self.loan_amount is None else parse_amount(self.loan_amount, "loan amount")
        )
        collateral_amount = (
            None
            if self.collateral_amount is None
            else parse_amount(self.collateral_amount, "collateral amount")
        )
        object.__setattr__(self, "loan_currency", loan)
        object.__setattr__(self, "collateral_currency", collateral)
        object.__setattr__(self, "loan_amount", loan_amount)
        object.__setattr__(self, "collateral_amount", collateral_amount)
        object.__setattr__(self, "term", parse_term(self.term))
        if self.annual_rate is not None:
            object.__setattr__(self, "annual_rate", parse_rate(self.annual_rate))

    @property
    def loan_term(self) -> str | None:
        """The wire value of ``loanTerm``: ``None`` for flexible, else days as text."""
        return None if self.term == "flexible" else self.term

    def to_params(self) -> dict[str, str | None]:
        """The body fields in the order of Bybit's example, absent ones as ``None``."""
        return {
            "loanCurrency": self.loan_currency,
            "loanAmount": None if self.loan_amount is None else _plain(self.loan_amount),
            "collateralCurrency": self.collateral_currency,
            "loanTerm": self.loan_term,
            "collateralAmount": (
                None if self.collateral_amount is None else _plain(self.collateral_amount)
            ),
        }

    def to_body(self) -> str:
        """The exact JSON body that is signed and sent (compact, nulls explicit)."""
        return compact_json(self.to_params())

    def to_new_api_body(self) -> str:
        """The body for Bybit's new loan API: flexible borrow, or fixed with a rate.

        The new API always needs the loan amount; collateral is an optional
        list (here one coin) pledged to the account's pool.
        """
        if self.loan_amount is None:
            raise ValidationError(
                "the new loan API needs a loan amount: collateral-driven sizing is legacy only"
            )
        collateral = (
            []
            if self.collateral_amount is None
            else [{"currency": self.collateral_currency, "amount": _plain(self.collateral_amount)}]
        )
        if self.term == "flexible":
            if self.annual_rate is not None:
                raise ValidationError(
                    "an annual rate applies to fixed terms only: give a term in days"
                )
            params: dict[str, object] = {
                "loanCurrency": self.loan_currency,
                "loanAmount": _plain(self.loan_amount),
            }
        else:
            if self.annual_rate is None:
                raise ValidationError(
                    "a fixed-term loan on the new API needs an annual rate (e.g. --rate 0.05)"
                )
            params = {
                "orderCurrency": self.loan_currency,
                "orderAmount": _plain(self.loan_amount),
                "annualRate": _plain(self.annual_rate),
                "term": self.term,
            }
        if collateral:
            params["collateralList"] = collateral
        return compact_json(params)

    def describe(self) -> str:
        """One line for people: ``550 USDT against BTC, flexible``."""
        if self.loan_amount is not None:
            what = f"{_plain(self.loan_amount)} {self.loan_currency}"
        else:
            what = f"{self.loan_currency}"
        against = self.collateral_currency
        if self.collateral_amount is not None:
            against = f"{_plain(self.collateral_amount)} {self.collateral_currency}"
        term = "flexible" if self.term == "flexible" else f"{self.term} days"
        if self.annual_rate is not None:
            term += f" at {_plain(self.annual_rate * 100)} % a year"
        return f"{what} against {against}, {term}"


@dataclass(frozen=True)
class RepayRequest:
    """Repay ``amount`` of a loan order (interest is settled first)."""

    order_id: str
    amount: Decimal

    def __post_init__(self) -> None:
        object.__setattr__(self, "order_id", parse_order_id(self.order_id))
        object.__setattr__(self, "amount", parse_amount(self.amount, "repay amount"))

    def to_body(self) -> str:
        """The exact JSON body: ``{"orderId":"...","amount":"..."}``."""
        return compact_json({"orderId": self.order_id, "amount": _plain(self.amount)})

    def describe(self) -> str:
        """One line for people."""
        return f"repay {_plain(self.amount)} of loan {self.order_id}"


@dataclass(frozen=True)
class AdjustRequest:
    """Add collateral to (``add``) or take it from (``reduce``) a loan order."""

    order_id: str
    amount: Decimal
    direction: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "order_id", parse_order_id(self.order_id))
        object.__setattr__(self, "amount", parse_amount(self.amount, "collateral amount"))
        direction = str(self.direction).strip().lower()
        if direction not in ("add", "reduce"):
            raise ValidationError(f"direction {_shown(self.direction)} must be add or reduce")
        object.__setattr__(self, "direction", direction)

    def to_body(self) -> str:
        """The exact JSON body; ``direction`` is ``"0"`` to add, ``"1"`` to reduce."""
        wire = "0" if self.direction == "add" else "1"
        return compact_json(
            {"orderId": self.order_id, "amount": _plain(self.amount), "direction": wire}
        )

    def describe(self) -> str:
        """One line for people."""
        return f"{self.direction} {_plain(self.amount)} collateral on loan {self.order_id}"


class Described(Protocol):
    """A request an :class:`ActionResult` keeps: legacy (:class:`RepayRequest`,
    :class:`AdjustRequest`) or the new API's (:mod:`loan_widgets.new_orders`)."""

    def describe(self) -> str:
        """One line for people."""
        ...


@dataclass(frozen=True)
class ActionResult:
    """An accepted repayment or collateral adjustment.

    ``id`` is the exchange's id for it, or ``None`` when the answer carries none (the new
    API's repayments with collateral).
    """

    action: str
    id: str | None
    request: Described
    network: str
    answered_at: datetime
    latency_ms: float
    ledger_id: int | None = None
    details: dict[str, object] = field(default_factory=dict, compare=False)

    def __repr__(self) -> str:
        extra = "".join(f" {k}={v}" for k, v in self.details.items())
        return (
            f"<{self.action.title().replace('_', '')}Result id={self.id} "
            f"{self.request.describe()} "
            f"on {self.network}{extra}>"
        )

    def _repr_html_(self) -> str:
        rows = [(f"{self.action} id", self.id or "none in the answer"),
                ("what", self.request.describe()),
                ("network", self.network)]
        rows += [(k.replace("_", " "), str(v)) for k, v in self.details.items()]
        return _result_table(f"{self.action} accepted", rows)


@dataclass(frozen=True)
class BorrowResult:
    """An accepted loan order: the exchange's ``orderId`` and what was asked."""

    order_id: str
    request: BorrowRequest
    network: str
    submitted_at: datetime
    answered_at: datetime
    latency_ms: float
    ledger_id: int | None = None
    source: str = "api"
    api: str = "legacy"

    def __repr__(self) -> str:
        return (
            f"<BorrowResult order_id={self.order_id} {self.request.describe()} "
            f"on {self.network} at {self.answered_at:%Y-%m-%d %H:%M:%S} UTC "
            f"({self.latency_ms:.0f} ms)>"
        )

    def _repr_html_(self) -> str:
        rows = [
            ("order id", self.order_id),
            ("loan", self.request.describe()),
            ("network", self.network),
            ("submitted", f"{self.submitted_at:%Y-%m-%d %H:%M:%S.%f}"[:-3] + " UTC"),
            ("latency", f"{self.latency_ms:.1f} ms"),
            ("ledger row", "" if self.ledger_id is None else str(self.ledger_id)),
        ]
        return _result_table("Loan accepted", rows)


def _result_table(caption: str, rows: list[tuple[str, str]]) -> str:
    """A result's HTML: a captioned two-column table, every text escaped."""
    import html  # only a notebook front end asks for HTML

    body = "".join(
        f"<tr><th style='text-align:left'>{html.escape(k)}</th>"
        f"<td style='text-align:left'>{html.escape(v)}</td></tr>"
        for k, v in rows
    )
    caption = f"<caption>{html.escape(caption)}</caption>"
    return f"<table class='loan-widgets-result'>{caption}{body}</table>"
