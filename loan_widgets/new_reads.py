"""The new loan API's reads (``client.new``): checked filters, every page, typed fields.

Every read of :class:`NewApiReads`:

* takes only the filters its docs page documents (:data:`FILTERS`); a misspelt or
  unknown one is a one-line ``ValidationError`` before anything is sent (a filter the
  exchange ignored would match everything), and each value is checked by its kind
  (coins, ids, ``state``, ``term``, ``limit``);
* follows ``nextPageCursor`` through every page (:func:`loan_widgets.paging.iter_pages`:
  opaque cursors passed back untouched, a repeated cursor or a runaway list stopped);
* returns the documented fields typed (:func:`typed`): amounts, rates and LTVs as
  ``Decimal`` (``""`` as ``None``), ids as ``str`` (the docs print some as numbers),
  times as ``int`` milliseconds (``updateTime`` of the inventory pages is in seconds, as
  documented), enum codes as ``int``, ``term`` as days in text (``"30"``, as the ledger
  keeps it). Other fields are passed on as they came.

A field that should be a number and is not makes the read a one-line ``BadResponse``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from . import endpoints as ep
from .errors import BadResponse, ExchangeError, RequestInfo, ValidationError
from .loan_rows import NewPositions
from .new_fields import parse_fixed_term, parse_loan_id
from .numbers import compact_json as _body
from .numbers import plain as _plain
from .orders import parse_amount, parse_coin, parse_rate
from .paging import check_filters

__all__ = ["DECIMAL_FIELDS", "FILTERS", "NewApiReads", "NewSession", "typed"]

DECIMAL_FIELDS = frozenset({
    "afterLTV", "amount", "amountUSD", "annualRate", "availableInventory", "collateralRatio",
    "filledQty", "fixedTotalDebt", "fixedTotalDebtUSD", "flexibleAnnualizedInterestRate",
    "flexibleHourlyInterestRate", "flexibleTotalDebt", "flexibleTotalDebtUSD",
    "hourlyInterestRate", "initialLoanAmount", "interest", "interestPaid", "ltv",
    "maxBorrowingAmount", "maxCollateralAmount", "maxLoan", "maxValue",
    "minFixedBorrowingAmount", "minFlexibleBorrowingAmount", "minValue", "notionalUsd",
    "orderQty", "penaltyInterest", "preLTV", "qty", "remainingQuota", "repayAmount",
    "residualPenaltyInterest", "residualPrincipal", "supplyAmount", "totalCollateral",
    "totalDebt", "totalSupply", "unpaidAmount", "unpaidInterest",
    *(f"annualizedInterestRate{d}D" for d in (7, 14, 30, 60, 90, 180)),
})
"""Fields that are amounts, rates or LTVs (``Decimal``)."""
_IDS = frozenset({"orderId", "loanId", "repayId", "adjustId", "supplyId", "contractNo",
                  "renewLoanNo"})
_TIMES = frozenset({"borrowTime", "repayTime", "adjustTime", "orderTime", "repaymentTime",
                    "supplyTime", "redemptionTime", "actualRedemptionTime", "dueTime", "time",
                    "updateTime"})
_CODES = frozenset({"state", "status", "repayStatus", "repayType", "direction",
                    "liquidationOrder", "colRes", "fixedBorrowingAccuracy",
                    "flexibleBorrowingAccuracy"})

FILTERS: dict[str, tuple[str, ...]] = {  # method -> the filters its docs page documents
    "adjustment_history": ("adjustId", "collateralCurrency", "limit"),
    "flexible_borrow_history": ("orderId", "loanCurrency", "limit"),
    "flexible_repayment_history": ("repayId", "loanCurrency", "limit"),
    "fixed_orders": ("orderId", "orderCurrency", "state", "term", "limit"),
    "fixed_contracts": ("orderId", "loanId", "orderCurrency", "term", "limit"),
    "supply_contracts": ("orderId", "supplyId", "supplyCurrency", "term", "limit"),
    "renewals": ("orderId", "orderCurrency", "limit"),
    "supply_orders": ("orderId", "orderCurrency", "state", "term", "limit"),
    "fixed_repayment_history": ("repayId", "loanCurrency", "limit"),
}
"""The documented filters of each paged list (C5, FL5, FL6, FX8 to FX12, FX15)."""


def _limit(value: object) -> str:
    text = str(value).strip() if isinstance(value, (str, int)) and not isinstance(
        value, bool) else ""
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 100:
        raise ValidationError(f"limit {value!r} must be a whole number from 1 to 100")
    return str(int(text))


def _state(value: object) -> str:
    text = str(value).strip() if isinstance(value, (str, int)) else ""
    if isinstance(value, bool) or text not in ("1", "2", "3", "4"):
        raise ValidationError(
            f"state {value!r} is not a filter: use 1 (matching), 2 (partially filled and "
            "cancelled), 3 (fully filled) or 4 (cancelled)")
    return text


_FILTER_KINDS = {
    "orderId": lambda v: parse_loan_id(v, "order id"), "loanId": parse_loan_id,
    "repayId": lambda v: parse_loan_id(v, "repay id"),
    "adjustId": lambda v: parse_loan_id(v, "adjust id"),
    "supplyId": lambda v: parse_loan_id(v, "supply id"),
    "loanCurrency": parse_coin, "orderCurrency": parse_coin, "collateralCurrency": parse_coin,
    "supplyCurrency": parse_coin, "state": _state, "term": parse_fixed_term, "limit": _limit,
}


def _filters(name: str, params: Mapping[str, Any]) -> dict[str, str]:
    check_filters(name, params, FILTERS[name])
    return {k: _FILTER_KINDS[k](v) for k, v in params.items() if v is not None}


def _field(key: str, value: Any) -> Any:
    if key in DECIMAL_FIELDS:
        if value is None or value == "":
            return None
        if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
            raise ValueError
        number = Decimal(str(value))
        if not number.is_finite():
            raise ValueError
        return number
    if key in _IDS:
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise ValueError
        return str(value)
    if key in _TIMES or key in _CODES:
        if value is None or value == "":
            return None
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise ValueError
        return int(str(value).strip())
    if key == "term" and isinstance(value, (str, int)) and not isinstance(value, bool):
        return str(value)
    return value


def typed(value: Any, info: RequestInfo) -> Any:
    """``value`` (a result, an item, a list) with its documented fields typed (see above)."""
    if isinstance(value, list):
        return [typed(v, info) for v in value]
    if not isinstance(value, Mapping):
        return value
    out: dict[str, Any] = {}
    for key, item in value.items():
        if isinstance(item, (list, Mapping)):
            out[key] = typed(item, info)
            continue
        try:
            out[key] = _field(key, item)
        except (ValueError, InvalidOperation, ArithmeticError):
            shown = repr(item) if len(repr(item)) <= 40 else repr(item)[:37] + "..."
            raise BadResponse(f"the answer from {info} has {key} {shown}, not a number",
                              request=info) from None
    return out


class NewSession(Protocol):
    """What the reads use of a :class:`~loan_widgets.client.LoanClient`."""

    @property
    def base_url(self) -> str: ...

    def call(
        self, endpoint: ep.Endpoint, params: Mapping[str, Any] | None = None, *,
        body: str | None = None,
    ) -> dict[str, Any]: ...

    def iter_pages(
        self, endpoint: ep.Endpoint, params: Mapping[str, Any] | None = None
    ) -> Iterator[dict[str, Any]]: ...


class NewApiReads:
    """Reads of the new loan API; :class:`~loan_widgets.new_api.NewLoanApi` adds the writes."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def _info(self, endpoint: ep.Endpoint) -> RequestInfo:
        return RequestInfo(endpoint.method, self._client.base_url + endpoint.path)

    def _get(self, endpoint: ep.Endpoint, params: Mapping[str, Any] | None = None, *,
             body: str | None = None) -> Any:
        result = self._client.call(endpoint, params or {}, body=body)
        return typed(result, self._info(endpoint))

    def _list(self, name: str, endpoint: ep.Endpoint,
              params: Mapping[str, Any]) -> list[dict[str, Any]]:
        query = _filters(name, params)
        info = self._info(endpoint)
        return [typed(item, info) for item in self._client.iter_pages(endpoint, query)]

    # -- public market data (no key needed) ---------------------------------------------------

    def loanable_data(
        self, currency: str | None = None, vip_level: str | None = None
    ) -> list[dict[str, Any]]:
        """C1: borrowable coins: flexible and fixed availability, precision, limits, annual
        rates (``flexibleAnnualizedInterestRate``, ``annualizedInterestRate7D``...``180D``)."""
        coin = None if currency is None else parse_coin(currency)
        return list(self._get(ep.NEW_LOANABLE_DATA, {"currency": coin,
                                                     "vipLevel": vip_level}).get("list", []))

    def collateral_data(self, currency: str | None = None) -> dict[str, Any]:
        """C2: tiered collateral ratios by USD band (``collateralRatioConfigList``) and the
        coins' liquidation order (``currencyLiquidationList``)."""
        coin = None if currency is None else parse_coin(currency)
        return dict(self._get(ep.NEW_COLLATERAL_DATA, {"currency": coin}))

    def _quote(self, endpoint: ep.Endpoint, order_currency: str, order_by: str,
               term: Any, sort: Any, limit: Any) -> list[dict[str, Any]]:
        if order_by not in ("apy", "term", "quantity"):
            raise ValidationError(f"order_by {order_by!r} must be apy, term or quantity")
        if sort is not None and str(sort) not in ("0", "1"):
            raise ValidationError(f"sort {sort!r} must be 0 (ascending) or 1 (descending)")
        params = {"orderCurrency": parse_coin(order_currency), "orderBy": order_by,
                  "term": None if term is None else parse_fixed_term(term),
                  "sort": None if sort is None else str(sort),
                  "limit": None if limit is None else _limit(limit)}
        return list(self._get(endpoint, params).get("list", []))

    def supply_order_quote(self, order_currency: str, order_by: str = "apy", term: Any = None,
                           sort: Any = None, limit: Any = None) -> list[dict[str, Any]]:
        """FX1, the lending market: borrow orders a lender could fill (``annualRate``,
        ``qty``, ``term``), sorted by ``apy``, ``term`` or ``quantity``."""
        return self._quote(ep.FIXED_SUPPLY_ORDER_QUOTE, order_currency, order_by, term, sort,
                           limit)

    def borrow_order_quote(self, order_currency: str, order_by: str = "apy", term: Any = None,
                           sort: Any = None, limit: Any = None) -> list[dict[str, Any]]:
        """FX2, the borrowing market: supply a borrower can take, by term and rate."""
        return self._quote(ep.FIXED_BORROW_ORDER_QUOTE, order_currency, order_by, term, sort,
                           limit)

    # -- the account -----------------------------------------------------------------------

    def position(self) -> dict[str, Any]:
        """C6, the whole account: ``borrowList`` (fixed and flexible debt per coin),
        ``collateralList`` (the pool), ``supplyList``, ``ltv``, totals in USD, ``colRes``."""
        return dict(self._get(ep.NEW_POSITION))

    def open_positions(self) -> NewPositions:
        """Everything open on the new API, for ``%loans``: the position, and when the pool
        holds anything, the flexible debts, open fixed contracts and matching fixed orders
        (a fixed few reads). A host that does not serve the new API gives a note instead."""
        try:
            position = self.position()
        except (ExchangeError, BadResponse) as error:
            if getattr(error, "ret_code", None) == 10017 or error.http_status == 404:
                return NewPositions(note="this host does not serve the new loan API")
            raise
        if not (position.get("borrowList") or position.get("collateralList")):
            return NewPositions(position)
        return NewPositions(
            position, self.flexible_loans(),
            [c for c in self.fixed_contracts() if c.get("status") in (1, 3)],
            self.fixed_orders(state="1"),
        )

    def max_loan(
        self, currency: str, collateral: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """C7: ``maxLoan`` of ``currency`` with the pool as it is, plus ``collateral``
        (``{coin: amount}``) if given; ``notionalUsd``, ``remainingQuota``. A read."""
        params: dict[str, Any] = {"currency": parse_coin(currency, "loan coin")}
        if collateral:
            params["collateralList"] = [
                {"ccy": parse_coin(c, "collateral coin"), "amount": _plain(parse_amount(a))}
                for c, a in collateral.items()
            ]
        return dict(self._get(ep.NEW_MAX_LOAN, body=_body(params)))

    def max_collateral_reduction(self, currency: str) -> Decimal:
        """C3: the most of ``currency`` that can be taken out of the collateral pool now."""
        result = self._get(ep.NEW_MAX_COLLATERAL_REDUCTION,
                           {"currency": parse_coin(currency, "collateral coin")})
        found = result.get("maxCollateralAmount")
        if found is None:
            raise BadResponse(f"the answer from {self._info(ep.NEW_MAX_COLLATERAL_REDUCTION)} "
                              "has no maxCollateralAmount")
        return Decimal(found)

    def adjustment_history(self, **filters: Any) -> list[dict[str, Any]]:
        """C5: collateral pool adjustments (``adjustId``, ``adjustTime``, ``amount``,
        ``direction`` 0 add / 1 reduce, ``preLTV``, ``afterLTV``, ``status``), all pages.
        Filters: ``adjustId``, ``collateralCurrency``, ``limit`` (page size)."""
        return self._list("adjustment_history", ep.NEW_ADJUSTMENT_HISTORY, filters)

    # -- flexible loans ----------------------------------------------------------------------

    def flexible_loans(self, loan_currency: str | None = None) -> list[dict[str, Any]]:
        """FL4: open flexible debt per coin (``totalDebt``, ``unpaidAmount``,
        ``unpaidInterest``, ``hourlyInterestRate``)."""
        coin = None if loan_currency is None else parse_coin(loan_currency, "loan coin")
        return list(self._get(ep.FLEXIBLE_ONGOING, {"loanCurrency": coin}).get("list", []))

    def flexible_borrow_history(self, **filters: Any) -> list[dict[str, Any]]:
        """FL5: flexible borrow orders (``orderId``, ``borrowTime``, ``initialLoanAmount``,
        ``status``), all pages. Filters: ``orderId``, ``loanCurrency``, ``limit``."""
        return self._list("flexible_borrow_history", ep.FLEXIBLE_BORROW_HISTORY, filters)

    def flexible_repayment_history(self, **filters: Any) -> list[dict[str, Any]]:
        """FL6: flexible repayments (``repayId``, ``repayTime``, ``repayAmount``,
        ``repayStatus``, ``repayType``), all pages. Filters: ``repayId``, ``loanCurrency``,
        ``limit``."""
        return self._list("flexible_repayment_history", ep.FLEXIBLE_REPAYMENT_HISTORY, filters)

    def flexible_available_inventory(self, currency: str) -> dict[str, Any]:
        """A1: what the lending pool can still lend of ``currency`` (``availableInventory``;
        ``updateTime`` in seconds, as documented)."""
        return dict(self._get(ep.FLEXIBLE_AVAILABLE_INVENTORY,
                              {"currency": parse_coin(currency)}))

    # -- fixed loans -------------------------------------------------------------------------

    def fixed_orders(self, **filters: Any) -> list[dict[str, Any]]:
        """FX10: fixed borrow orders (``orderId``, ``orderTime``, ``orderQty``,
        ``filledQty``, ``annualRate``, ``term``, ``state`` 1 matching / 2 partially filled
        and cancelled / 3 filled / 4 cancelled / 5 failed, ``repayType``,
        ``strategyType``), all pages. Filters: ``orderId``, ``orderCurrency``, ``state``,
        ``term``, ``limit``."""
        return self._list("fixed_orders", ep.FIXED_BORROW_ORDER_INFO, filters)

    def fixed_contracts(self, **filters: Any) -> list[dict[str, Any]]:
        """FX8: fixed loan contracts (``loanId``, ``orderId``, ``residualPrincipal``,
        ``residualPenaltyInterest``, ``interestPaid``, ``repaymentTime``, ``status`` 1
        unrepaid / 2 repaid / 3 overdue), all pages. Filters: ``orderId``, ``loanId``,
        ``orderCurrency``, ``term``, ``limit``."""
        return self._list("fixed_contracts", ep.FIXED_BORROW_CONTRACT_INFO, filters)

    def renewals(self, **filters: Any) -> list[dict[str, Any]]:
        """FX11: renewals (``orderId``, ``loanId``, ``amount``, ``time``, ``dueTime``), all
        pages. Filters: ``orderId``, ``orderCurrency``, ``limit``."""
        return self._list("renewals", ep.FIXED_RENEW_INFO, filters)

    def fixed_repayment_history(self, **filters: Any) -> list[dict[str, Any]]:
        """FX15: fixed repayments (``repayId``, ``repayTime``, ``repayAmount``, ``details``
        per contract, ``repayStatus``, ``repayType``), all pages. Filters: ``repayId``,
        ``loanCurrency``, ``limit``."""
        return self._list("fixed_repayment_history", ep.FIXED_REPAYMENT_HISTORY, filters)

    def fixed_available_inventory(self, currency: str, term: Any,
                                  annual_rate: Any) -> dict[str, Any]:
        """A2: what lenders still offer of ``currency`` for ``term`` days at ``annual_rate``
        or less (``availableInventory``; ``updateTime`` in seconds, as documented)."""
        params = {"currency": parse_coin(currency), "term": parse_fixed_term(term),
                  "annualRate": _plain(parse_rate(annual_rate))}
        return dict(self._get(ep.FIXED_AVAILABLE_INVENTORY, params))

    # -- fixed lending -----------------------------------------------------------------------

    def supply_orders(self, **filters: Any) -> list[dict[str, Any]]:
        """FX12: fixed supply (lending) orders and their fill state, all pages. Filters:
        ``orderId``, ``orderCurrency``, ``state``, ``term``, ``limit``."""
        return self._list("supply_orders", ep.FIXED_SUPPLY_ORDER_INFO, filters)

    def supply_contracts(self, **filters: Any) -> list[dict[str, Any]]:
        """FX9: fixed supply contracts (``supplyId``, ``supplyAmount``, ``interest``,
        ``redemptionTime``, ``status`` 1 supplying / 2 redeemed), all pages. Filters:
        ``orderId``, ``supplyId``, ``supplyCurrency``, ``term``, ``limit``."""
        return self._list("supply_contracts", ep.FIXED_SUPPLY_CONTRACT_INFO, filters)
