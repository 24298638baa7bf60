"""Validated requests of Bybit's new loan API: ``Decimal`` in, the exact JSON body out.

One class per kind of write, each checked completely on creation (coins,
amounts, ids, terms, rates and enum codes; floats refused), so bad input is a
one-line :class:`~loan_widgets.errors.ValidationError` before anything is read,
recorded or sent. Each request also says, as data, what the write protocol
(:mod:`loan_widgets.writes`) and reconciliation need:

``endpoint``      where it goes (its ``proof`` says what proves it executed)
``action``        the ledger's action: ``borrow``, ``repay``, ``adjust``, ``renew``,
                  ``supply``, ``cancel`` (a fixed borrow order), ``cancel_supply``
``ledger_fields`` the ledger columns it fills (the duplicate guard compares them)
``same_as``       what the duplicate guard compares instead (a borrow's pledge the
                  client sized is compared as not given: sized again after the first
                  loan, it differs)
``acted_on``      the id recorded when the answer has none (a cancel: the order)
``evidence``      the list read before sending whose ids are kept as the row's
                  evidence: ``(endpoint, filter parameter, filter value, id field)``

* :class:`NewBorrowRequest`: ``crypto-loan-flexible/borrow`` or ``crypto-loan-fixed/borrow``
  (``borrow``);
* :class:`FlexibleRepayRequest`: ``crypto-loan-flexible/repay`` (``repay``);
* :class:`CollateralRepayRequest`: ``crypto-loan-flexible/repay-collateral`` or
  ``crypto-loan-fixed/repay-collateral`` (``repay``);
* :class:`FixedRepayRequest`: ``crypto-loan-fixed/fully-repay`` (``repay``);
* :class:`PoolAdjustRequest`: ``crypto-loan-common/adjust-ltv`` (``adjust``);
* :class:`RenewRequest`: ``crypto-loan-fixed/renew`` (``renew``);
* :class:`SupplyRequest`: ``crypto-loan-fixed/supply`` (``supply``);
* :class:`CancelOrderRequest`: ``crypto-loan-fixed/borrow-order-cancel`` (``cancel``) or
  ``crypto-loan-fixed/supply-order-cancel`` (``cancel_supply``).

A repayment with collateral records its book in the ledger's ``term`` column
(``flexible`` or ``fixed``): its body alone does not say which endpoint it went to.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar

from . import endpoints as ep
from .errors import ValidationError
from .new_fields import (
    AVAILABLE_SOURCES,
    REFUND_ACCOUNTS,
    REPAY_TYPES,
    STRATEGIES,
    choice,
    coins,
    collateral_pairs,
    parse_fixed_term,
    parse_loan_id,
    shown,
)
from .numbers import compact_json as _body
from .numbers import plain as _plain
from .orders import BorrowRequest, parse_amount, parse_coin, parse_rate
from .terms import FLEXIBLE, parse_term

__all__ = [
    "AVAILABLE_SOURCES",
    "REFUND_ACCOUNTS",
    "REPAY_TYPES",
    "STRATEGIES",
    "CancelOrderRequest",
    "CollateralRepayRequest",
    "Evidence",
    "FixedRepayRequest",
    "FlexibleRepayRequest",
    "NewBorrowRequest",
    "NewRequest",
    "PoolAdjustRequest",
    "RenewRequest",
    "SupplyRequest",
    "parse_fixed_term",
    "parse_loan_id",
    "sizing_note",
]

Evidence = tuple[ep.Endpoint, str | None, str | None, str]
"""A list read before sending: (endpoint, filter parameter, its value, the items' id field)."""


class NewRequest:
    """What every new-API write request declares (see the module docstring)."""

    @property
    def action(self) -> str:
        """The ledger's action (a class constant in most requests)."""
        raise NotImplementedError

    @property
    def endpoint(self) -> ep.Endpoint:
        raise NotImplementedError

    def to_body(self) -> str:
        """The exact JSON body that is signed and sent."""
        raise NotImplementedError

    def describe(self) -> str:
        """One line for people."""
        raise NotImplementedError

    def ledger_fields(self) -> dict[str, Any]:
        """The ledger columns this write fills."""
        raise NotImplementedError

    def same_as(self) -> dict[str, Any]:
        """Ledger fields the duplicate guard compares as given here instead."""
        return {}

    @property
    def acted_on(self) -> str | None:
        """The id the ledger records when the answer carries none."""
        return None

    @property
    def evidence(self) -> Evidence | None:
        """The list whose ids are kept before sending (``None``: nothing to read)."""
        return None


@dataclass(frozen=True)
class NewBorrowRequest(NewRequest):
    """A borrow on the new API: flexible (FL1), or a fixed order at a rate (FX3).

    ``repay_type`` (fixed only): ``auto`` (``1``, the exchange's default) or ``flexible``
    (``2``); ``strategy`` (fixed only): ``PARTIAL`` (default) or ``FULL``.
    """

    request: BorrowRequest
    repay_type: str | None = None
    strategy: str | None = None
    sized: bool = False
    """The pledge was sized by the client (``max-loan``), not given."""
    action: ClassVar[str] = "borrow"

    def __post_init__(self) -> None:
        parse_term(self.request.term, "new")
        self.request.to_new_api_body()  # a loan amount; a rate exactly when fixed
        fixed = self.request.term != FLEXIBLE
        if self.repay_type is not None:
            if not fixed:
                raise ValidationError("repayType applies to a fixed-term borrow order only")
            object.__setattr__(self, "repay_type",
                               choice(self.repay_type, REPAY_TYPES, "repay type"))
        if self.strategy is not None:
            if not fixed:
                raise ValidationError("strategyType applies to a fixed-term borrow order only")
            strategy = str(self.strategy).strip().upper()
            if strategy not in STRATEGIES:
                raise ValidationError(
                    f"strategy {shown(self.strategy)} is not known: use PARTIAL or FULL")
            object.__setattr__(self, "strategy", strategy)

    @property
    def endpoint(self) -> ep.Endpoint:
        return ep.FLEXIBLE_BORROW if self.request.term == FLEXIBLE else ep.FIXED_BORROW

    def to_body(self) -> str:
        """FL1's or FX3's body; ``repayType``/``strategyType`` go before ``collateralList``."""
        body = self.request.to_new_api_body()
        if self.repay_type is None and self.strategy is None:
            return body
        params = json.loads(body)
        collateral = params.pop("collateralList", None)
        if self.repay_type is not None:
            params["repayType"] = self.repay_type
        if self.strategy is not None:
            params["strategyType"] = self.strategy
        if collateral is not None:
            params["collateralList"] = collateral
        return _body(params)

    def describe(self) -> str:
        extra = f", {self.strategy} fill" if self.strategy else ""
        return self.request.describe() + extra

    def ledger_fields(self) -> dict[str, Any]:
        r = self.request
        return {"loan_currency": r.loan_currency, "loan_amount": r.loan_amount,
                "collateral_currency": r.collateral_currency,
                "collateral_amount": r.collateral_amount, "term": r.term}

    def same_as(self) -> dict[str, Any]:
        """A sized pledge compares as not given: the same line sized again after the first
        loan went through asks another amount, and is still the same order."""
        return {"collateral_amount": None} if self.sized else {}

    @property
    def evidence(self) -> Evidence:
        if self.request.term == FLEXIBLE:
            return ep.FLEXIBLE_BORROW_HISTORY, "loanCurrency", self.request.loan_currency, "orderId"
        return ep.FIXED_BORROW_ORDER_INFO, "orderCurrency", self.request.loan_currency, "orderId"


@dataclass(frozen=True)
class FlexibleRepayRequest(NewRequest):
    """Repay ``amount`` of the account's flexible debt in ``loan_currency`` (FL2, interest
    first, from the Funding wallet)."""

    loan_currency: str
    amount: Decimal
    action: ClassVar[str] = "repay"
    endpoint: ClassVar[ep.Endpoint] = ep.FLEXIBLE_REPAY

    def __post_init__(self) -> None:
        object.__setattr__(self, "loan_currency", parse_coin(self.loan_currency, "loan coin"))
        object.__setattr__(self, "amount", parse_amount(self.amount, "repay amount"))

    def to_body(self) -> str:
        """``{"loanCurrency":"USDT","amount":"100"}``."""
        return _body({"loanCurrency": self.loan_currency, "amount": _plain(self.amount)})

    def describe(self) -> str:
        return f"repay {_plain(self.amount)} {self.loan_currency} of flexible debt"

    def ledger_fields(self) -> dict[str, Any]:
        return {"loan_currency": self.loan_currency, "loan_amount": self.amount,
                "coin": self.loan_currency}

    @property
    def evidence(self) -> Evidence:
        return ep.FLEXIBLE_REPAYMENT_HISTORY, "loanCurrency", self.loan_currency, "repayId"


@dataclass(frozen=True)
class CollateralRepayRequest(NewRequest):
    """Repay ``amount`` of ``loan_currency`` debt by selling pooled collateral (FL3, FX14).

    ``book`` is ``flexible`` or ``fixed``; a fixed one may name one contract
    (``loan_id``), else the coin's contracts are paid soonest maturity first.
    ``collateral_coins``: the coins to sell, in order (``"BTC"`` or ``"BTC,ETH"``).
    """

    loan_currency: str
    amount: Decimal
    collateral_coins: tuple[str, ...]
    book: str = FLEXIBLE
    loan_id: str | None = None
    action: ClassVar[str] = "repay"

    def __post_init__(self) -> None:
        object.__setattr__(self, "loan_currency", parse_coin(self.loan_currency, "loan coin"))
        object.__setattr__(self, "amount", parse_amount(self.amount, "repay amount"))
        object.__setattr__(self, "collateral_coins",
                           coins(self.collateral_coins, "collateral coin"))
        if self.book not in (FLEXIBLE, "fixed"):
            raise ValidationError(f"book {shown(self.book)} must be flexible or fixed")
        if self.loan_id is not None:
            if self.book != "fixed":
                raise ValidationError("a loan id names a fixed contract: flexible debt is by coin")
            object.__setattr__(self, "loan_id", parse_loan_id(self.loan_id))

    @property
    def endpoint(self) -> ep.Endpoint:
        return ep.FLEXIBLE_REPAY_COLLATERAL if self.book == FLEXIBLE else ep.FIXED_REPAY_COLLATERAL

    def to_body(self) -> str:
        """``{"loanCurrency":"USDT","amount":"500","collateralCoin":"BTC"}`` (and ``loanId``)."""
        params = {} if self.loan_id is None else {"loanId": self.loan_id}
        params.update({"loanCurrency": self.loan_currency, "amount": _plain(self.amount),
                       "collateralCoin": ",".join(self.collateral_coins)})
        return _body(params)

    def describe(self) -> str:
        what = f"fixed contract {self.loan_id}" if self.loan_id else f"{self.book} debt"
        return (f"repay {_plain(self.amount)} {self.loan_currency} of {what} by selling "
                f"{', '.join(self.collateral_coins)} collateral")

    def ledger_fields(self) -> dict[str, Any]:
        return {"loan_currency": self.loan_currency, "loan_amount": self.amount,
                "collateral_currency": ",".join(self.collateral_coins), "coin": self.loan_currency,
                "ref_id": self.loan_id, "term": self.book}

    @property
    def evidence(self) -> Evidence:
        history = (ep.FLEXIBLE_REPAYMENT_HISTORY if self.book == FLEXIBLE
                   else ep.FIXED_REPAYMENT_HISTORY)
        return history, "loanCurrency", self.loan_currency, "repayId"


@dataclass(frozen=True)
class FixedRepayRequest(NewRequest):
    """Repay fixed contract ``loan_id`` in full, or every fixed contract in ``loan_currency``
    (FX13; from the Funding wallet)."""

    loan_id: str | None = None
    loan_currency: str | None = None
    action: ClassVar[str] = "repay"
    endpoint: ClassVar[ep.Endpoint] = ep.FIXED_FULLY_REPAY

    def __post_init__(self) -> None:
        if (self.loan_id is None) == (self.loan_currency is None):
            raise ValidationError("give either a loan id or a loan coin to repay in full")
        if self.loan_id is not None:
            object.__setattr__(self, "loan_id", parse_loan_id(self.loan_id))
        else:
            object.__setattr__(self, "loan_currency", parse_coin(self.loan_currency, "loan coin"))

    def to_body(self) -> str:
        """``{"loanId":"570"}`` or ``{"loanCurrency":"USDT"}``."""
        if self.loan_id is not None:
            return _body({"loanId": self.loan_id})
        return _body({"loanCurrency": self.loan_currency})

    def describe(self) -> str:
        what = f"contract {self.loan_id}" if self.loan_id else f"{self.loan_currency} contracts"
        return f"fully repay fixed {what}"

    def ledger_fields(self) -> dict[str, Any]:
        return {"loan_currency": self.loan_currency, "ref_id": self.loan_id,
                "coin": self.loan_currency}

    @property
    def evidence(self) -> Evidence:
        return ep.FIXED_REPAYMENT_HISTORY, "loanCurrency", self.loan_currency, "repayId"


@dataclass(frozen=True)
class PoolAdjustRequest(NewRequest):
    """Add ``currency`` to the collateral pool or take it back (``add`` / ``reduce``; C4)."""

    currency: str
    amount: Decimal
    direction: str
    action: ClassVar[str] = "adjust"
    endpoint: ClassVar[ep.Endpoint] = ep.NEW_ADJUST_COLLATERAL

    def __post_init__(self) -> None:
        object.__setattr__(self, "currency", parse_coin(self.currency, "collateral coin"))
        object.__setattr__(self, "amount", parse_amount(self.amount, "collateral amount"))
        direction = str(self.direction).strip().lower()
        if direction not in ("add", "reduce"):
            raise ValidationError(f"direction {shown(self.direction)} must be add or reduce")
        object.__setattr__(self, "direction", direction)

    def to_body(self) -> str:
        """``direction`` is ``"0"`` to add and ``"1"`` to reduce, as in the legacy API."""
        wire = "0" if self.direction == "add" else "1"
        return _body({"currency": self.currency, "amount": _plain(self.amount),
                      "direction": wire})

    def describe(self) -> str:
        return f"{self.direction} {_plain(self.amount)} {self.currency} collateral (pool)"

    def ledger_fields(self) -> dict[str, Any]:
        return {"collateral_currency": self.currency, "collateral_amount": self.amount,
                "direction": self.direction, "coin": self.currency}

    @property
    def evidence(self) -> Evidence:
        return ep.NEW_ADJUSTMENT_HISTORY, "collateralCurrency", self.currency, "adjustId"


@dataclass(frozen=True)
class RenewRequest(NewRequest):
    """Borrow again, on fixed contract ``loan_id``, the principal already repaid on it (FX4),
    optionally pledging ``collateral`` (``{coin: amount}``) with it."""

    loan_id: str
    collateral: Any = ()  # {coin: amount}, or (coin, amount) pairs; kept as validated pairs
    action: ClassVar[str] = "renew"
    endpoint: ClassVar[ep.Endpoint] = ep.FIXED_RENEW

    def __post_init__(self) -> None:
        object.__setattr__(self, "loan_id", parse_loan_id(self.loan_id))
        given = self.collateral
        if given and not isinstance(given, Mapping):
            try:
                given = dict(given)
            except (TypeError, ValueError):
                raise ValidationError("collateral must map coins to amounts") from None
        object.__setattr__(self, "collateral", collateral_pairs(given or None))

    def to_body(self) -> str:
        """``{"loanId":"2364","collateralList":[{"currency":"ETH","amount":"1"}]}``."""
        params: dict[str, Any] = {"loanId": self.loan_id}
        if self.collateral:
            params["collateralList"] = [{"currency": c, "amount": _plain(a)}
                                        for c, a in self.collateral]
        return _body(params)

    def describe(self) -> str:
        pledge = ", ".join(f"{_plain(a)} {c}" for c, a in self.collateral)
        return f"renew fixed contract {self.loan_id}" + (f", pledging {pledge}" if pledge else "")

    def ledger_fields(self) -> dict[str, Any]:
        coins = ",".join(c for c, _ in self.collateral) or None
        single = self.collateral[0][1] if len(self.collateral) == 1 else None
        return {"ref_id": self.loan_id, "collateral_currency": coins,
                "collateral_amount": single}

    @property
    def evidence(self) -> Evidence:
        return ep.FIXED_RENEW_INFO, None, None, "orderId"


@dataclass(frozen=True)
class SupplyRequest(NewRequest):
    """Lend ``amount`` of ``currency`` for ``term`` days at ``annual_rate`` or more (FX5).

    ``source``: where the coins come from, ``funding`` (default), ``earn`` or ``all``.
    """

    currency: str
    amount: Decimal
    annual_rate: Decimal
    term: str
    source: str | None = None
    action: ClassVar[str] = "supply"
    endpoint: ClassVar[ep.Endpoint] = ep.FIXED_SUPPLY

    def __post_init__(self) -> None:
        object.__setattr__(self, "currency", parse_coin(self.currency, "supply coin"))
        object.__setattr__(self, "amount", parse_amount(self.amount, "supply amount"))
        object.__setattr__(self, "annual_rate", parse_rate(self.annual_rate))
        object.__setattr__(self, "term", parse_fixed_term(self.term))
        if self.source is not None:
            object.__setattr__(self, "source",
                               choice(self.source, AVAILABLE_SOURCES, "available source"))

    def to_body(self) -> str:
        """``{"orderCurrency":"USDT","orderAmount":"2002.21","annualRate":"0.35","term":"7"}``."""
        params = {"orderCurrency": self.currency, "orderAmount": _plain(self.amount),
                  "annualRate": _plain(self.annual_rate), "term": self.term}
        if self.source is not None:
            params["availableSource"] = self.source
        return _body(params)

    def describe(self) -> str:
        return (f"lend {_plain(self.amount)} {self.currency} for {self.term} days at "
                f"{_plain(self.annual_rate * 100)} % a year or more")

    def ledger_fields(self) -> dict[str, Any]:
        return {"loan_currency": self.currency, "loan_amount": self.amount, "term": self.term,
                "coin": self.currency}

    @property
    def evidence(self) -> Evidence:
        return ep.FIXED_SUPPLY_ORDER_INFO, "orderCurrency", self.currency, "orderId"


@dataclass(frozen=True)
class CancelOrderRequest(NewRequest):
    """Cancel a fixed borrow order (FX6) or supply order (FX7, ``side="supply"``) still matching.

    ``refund_to`` (supply only): ``funding`` (default) or ``easyearn``. ``currency`` and
    ``amount`` are the order's, as read before sending (for the ledger).
    """

    order_id: str
    side: str = "borrow"
    refund_to: str | None = None
    currency: str | None = None
    amount: Decimal | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "order_id", parse_loan_id(self.order_id, "order id"))
        if self.side not in ("borrow", "supply"):
            raise ValidationError(f"side {shown(self.side)} must be borrow or supply")
        if self.refund_to is not None:
            if self.side != "supply":
                raise ValidationError("refundedAccount applies to a supply order only")
            object.__setattr__(self, "refund_to",
                               choice(self.refund_to, REFUND_ACCOUNTS, "refund account"))

    @property
    def action(self) -> str:
        return "cancel" if self.side == "borrow" else "cancel_supply"

    @property
    def endpoint(self) -> ep.Endpoint:
        return ep.FIXED_BORROW_ORDER_CANCEL if self.side == "borrow" else (
            ep.FIXED_SUPPLY_ORDER_CANCEL)

    def to_body(self) -> str:
        """``{"orderId":"13009"}`` (and ``refundedAccount``)."""
        params = {"orderId": self.order_id}
        if self.refund_to is not None:
            params["refundedAccount"] = self.refund_to
        return _body(params)

    def describe(self) -> str:
        return f"cancel fixed {self.side} order {self.order_id}"

    def ledger_fields(self) -> dict[str, Any]:
        return {"ref_id": self.order_id, "loan_currency": self.currency,
                "loan_amount": self.amount, "coin": self.currency}

    @property
    def acted_on(self) -> str:
        return self.order_id


def sizing_note(request: BorrowRequest) -> str:
    """What sending a new-API borrow with no collateral amount adds to the body shown: the
    pledge the client sizes by asking ``max-loan`` first ("" when the amount is given)."""
    if request.collateral_amount is not None:
        return ""
    return (
        f"when sent, the client first asks max-loan (a read) how much {request.collateral_currency}"
        " this loan needs and adds it to the body as collateralList; this body is without it"
    )
