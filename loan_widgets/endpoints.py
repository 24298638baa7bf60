"""Bybit endpoints as data: one table, one call path (``LoanClient.call``).

Each :class:`Endpoint` says its method, path, whether it is signed and
whether it changes state. State-changing endpoints are never resent unless
the exchange's answer proves the first attempt was not executed.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ENDPOINTS", "NEW_API_ENDPOINTS", "Endpoint"]


@dataclass(frozen=True)
class Endpoint:
    """One REST endpoint of the Bybit V5 API."""

    name: str
    method: str
    path: str
    signed: bool = True
    doc: str = ""
    read_only: bool = False
    proof: str | None = None
    """For a write: the answer field holding the id of what it did (``orderId``...), or
    ``""`` where the docs give the answer no field (``result: {}``), so that retCode 0
    alone proves it was executed (the ledger then records the id it acted on, if any).
    The write protocol (:mod:`loan_widgets.writes`) settles every write by this."""

    @property
    def has_body(self) -> bool:
        """True when parameters travel as a JSON body (POST), not a query string."""
        return self.method == "POST"

    @property
    def writes(self) -> bool:
        """True for endpoints that change state: every POST but the read-only ones."""
        return self.method == "POST" and not self.read_only

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


_DOCS = "https://bybit-exchange.github.io/docs/v5/"

SERVER_TIME = Endpoint("server_time", "GET", "/v5/market/time", False, _DOCS + "market/time")
TICKERS = Endpoint("tickers", "GET", "/v5/market/tickers", False, _DOCS + "market/tickers")

# Crypto Loan (legacy), L1..L11 of the API reference.
COLLATERAL_DATA = Endpoint(
    "collateral_data",
    "GET",
    "/v5/crypto-loan/collateral-data",
    False,
    _DOCS + "crypto-loan/collateral-coin",
)
LOANABLE_DATA = Endpoint(
    "loanable_data",
    "GET",
    "/v5/crypto-loan/loanable-data",
    False,
    _DOCS + "crypto-loan/loan-coin",
)
BORROW_LIMITS = Endpoint(
    "borrow_limits",
    "GET",
    "/v5/crypto-loan/borrowable-collateralisable-number",
    True,
    _DOCS + "crypto-loan/acct-borrow-collateral",
)
BORROW = Endpoint("borrow", "POST", "/v5/crypto-loan/borrow", True, _DOCS + "abandon/borrow",
                  proof="orderId")
REPAY = Endpoint("repay", "POST", "/v5/crypto-loan/repay", True, _DOCS + "crypto-loan/repay",
                 proof="repayId")
ONGOING_ORDERS = Endpoint(
    "ongoing_orders",
    "GET",
    "/v5/crypto-loan/ongoing-orders",
    True,
    _DOCS + "crypto-loan/unpaid-loan-order",
)
REPAYMENT_HISTORY = Endpoint(
    "repayment_history",
    "GET",
    "/v5/crypto-loan/repayment-history",
    True,
    _DOCS + "crypto-loan/repay-transaction",
)
BORROW_HISTORY = Endpoint(
    "borrow_history",
    "GET",
    "/v5/crypto-loan/borrow-history",
    True,
    _DOCS + "crypto-loan/completed-loan-order",
)
MAX_COLLATERAL_REDUCTION = Endpoint(
    "max_collateral_reduction",
    "GET",
    "/v5/crypto-loan/max-collateral-amount",
    True,
    _DOCS + "crypto-loan/reduce-max-collateral-amt",
)
ADJUST_COLLATERAL = Endpoint(
    "adjust_collateral",
    "POST",
    "/v5/crypto-loan/adjust-ltv",
    True,
    _DOCS + "crypto-loan/adjust-collateral", proof="adjustId",
)
ADJUSTMENT_HISTORY = Endpoint(
    "adjustment_history",
    "GET",
    "/v5/crypto-loan/adjustment-history",
    True,
    _DOCS + "crypto-loan/ltv-adjust-history",
)

# Crypto Loan (New), section 7 of the API reference: common, flexible and fixed.
NEW_LOANABLE_DATA = Endpoint(
    "new_loanable_data", "GET", "/v5/crypto-loan-common/loanable-data", False,
    _DOCS + "new-crypto-loan/loan-coin",
)
NEW_COLLATERAL_DATA = Endpoint(
    "new_collateral_data", "GET", "/v5/crypto-loan-common/collateral-data", False,
    _DOCS + "new-crypto-loan/collateral-coin",
)
NEW_POSITION = Endpoint(
    "new_position", "GET", "/v5/crypto-loan-common/position", True,
    _DOCS + "new-crypto-loan/crypto-loan-position",
)
NEW_MAX_LOAN = Endpoint(
    "new_max_loan", "POST", "/v5/crypto-loan-common/max-loan", True,
    _DOCS + "new-crypto-loan/max-loan-amt", read_only=True,
)
NEW_ADJUST_COLLATERAL = Endpoint(
    "new_adjust_collateral", "POST", "/v5/crypto-loan-common/adjust-ltv", True,
    _DOCS + "new-crypto-loan/adjust-collateral", proof="adjustId",
)
NEW_MAX_COLLATERAL_REDUCTION = Endpoint(
    "new_max_collateral_reduction", "GET", "/v5/crypto-loan-common/max-collateral-amount",
    True, _DOCS + "new-crypto-loan/reduce-max-collateral-amt",
)
NEW_ADJUSTMENT_HISTORY = Endpoint(
    "new_adjustment_history", "GET", "/v5/crypto-loan-common/adjustment-history", True,
    _DOCS + "new-crypto-loan/ltv-adjust-history",
)
FLEXIBLE_BORROW = Endpoint(
    "flexible_borrow", "POST", "/v5/crypto-loan-flexible/borrow", True,
    _DOCS + "new-crypto-loan/flexible/borrow", proof="orderId",
)
FLEXIBLE_REPAY = Endpoint(
    "flexible_repay", "POST", "/v5/crypto-loan-flexible/repay", True,
    _DOCS + "new-crypto-loan/flexible/repay", proof="repayId",
)
FLEXIBLE_REPAY_COLLATERAL = Endpoint(
    "flexible_repay_collateral", "POST", "/v5/crypto-loan-flexible/repay-collateral", True,
    _DOCS + "new-crypto-loan/flexible/repay-collateral", proof="",
)
FLEXIBLE_ONGOING = Endpoint(
    "flexible_ongoing", "GET", "/v5/crypto-loan-flexible/ongoing-coin", True,
    _DOCS + "new-crypto-loan/flexible/unpaid-loan-order",
)
FLEXIBLE_BORROW_HISTORY = Endpoint(
    "flexible_borrow_history", "GET", "/v5/crypto-loan-flexible/borrow-history", True,
    _DOCS + "new-crypto-loan/flexible/loan-orders",
)
FLEXIBLE_REPAYMENT_HISTORY = Endpoint(
    "flexible_repayment_history", "GET", "/v5/crypto-loan-flexible/repayment-history", True,
    _DOCS + "new-crypto-loan/flexible/repay-orders",
)
FLEXIBLE_AVAILABLE_INVENTORY = Endpoint(
    "flexible_available_inventory", "GET", "/v5/crypto-loan-flexible/available-inventory",
    True, _DOCS + "new-crypto-loan/flexible/available-inventory",
)
FIXED_SUPPLY_ORDER_QUOTE = Endpoint(
    "fixed_supply_order_quote", "GET", "/v5/crypto-loan-fixed/supply-order-quote", False,
    _DOCS + "new-crypto-loan/fixed/supply-market",
)
FIXED_BORROW = Endpoint(
    "fixed_borrow", "POST", "/v5/crypto-loan-fixed/borrow", True,
    _DOCS + "new-crypto-loan/fixed/borrow", proof="orderId",
)
"""Body: orderCurrency, orderAmount, annualRate, term; optional repayType, autoRepay
(deprecated), collateralList and strategyType (``PARTIAL``, the default, or ``FULL``)."""
FIXED_RENEW = Endpoint(
    "fixed_renew", "POST", "/v5/crypto-loan-fixed/renew", True,
    _DOCS + "new-crypto-loan/fixed/renew", proof="orderId",
)
FIXED_SUPPLY = Endpoint(
    "fixed_supply", "POST", "/v5/crypto-loan-fixed/supply", True,
    _DOCS + "new-crypto-loan/fixed/supply", proof="orderId",
)
FIXED_BORROW_ORDER_CANCEL = Endpoint(
    "fixed_borrow_order_cancel", "POST", "/v5/crypto-loan-fixed/borrow-order-cancel", True,
    _DOCS + "new-crypto-loan/fixed/cancel-borrow", proof="",
)
FIXED_SUPPLY_ORDER_CANCEL = Endpoint(
    "fixed_supply_order_cancel", "POST", "/v5/crypto-loan-fixed/supply-order-cancel", True,
    _DOCS + "new-crypto-loan/fixed/cancel-supply", proof="",
)
FIXED_SUPPLY_CONTRACT_INFO = Endpoint(
    "fixed_supply_contract_info", "GET", "/v5/crypto-loan-fixed/supply-contract-info", True,
    _DOCS + "new-crypto-loan/fixed/supply-contract%20copy",  # the page's file is "... copy"
)
FIXED_RENEW_INFO = Endpoint(
    "fixed_renew_info", "GET", "/v5/crypto-loan-fixed/renew-info", True,
    _DOCS + "new-crypto-loan/fixed/renew-order",
)
FIXED_SUPPLY_ORDER_INFO = Endpoint(
    "fixed_supply_order_info", "GET", "/v5/crypto-loan-fixed/supply-order-info", True,
    _DOCS + "new-crypto-loan/fixed/supply-order",
)
FIXED_REPAY_COLLATERAL = Endpoint(
    "fixed_repay_collateral", "POST", "/v5/crypto-loan-fixed/repay-collateral", True,
    _DOCS + "new-crypto-loan/fixed/repay-collateral", proof="",
)
FIXED_REPAYMENT_HISTORY = Endpoint(
    "fixed_repayment_history", "GET", "/v5/crypto-loan-fixed/repayment-history", True,
    _DOCS + "new-crypto-loan/fixed/repay-history",
)
FIXED_AVAILABLE_INVENTORY = Endpoint(
    "fixed_available_inventory", "GET", "/v5/crypto-loan-fixed/available-inventory", True,
    _DOCS + "new-crypto-loan/fixed/available-inventory",
)
FIXED_BORROW_ORDER_INFO = Endpoint(
    "fixed_borrow_order_info", "GET", "/v5/crypto-loan-fixed/borrow-order-info", True,
    _DOCS + "new-crypto-loan/fixed/borrow-order",
)
FIXED_BORROW_CONTRACT_INFO = Endpoint(
    "fixed_borrow_contract_info", "GET", "/v5/crypto-loan-fixed/borrow-contract-info", True,
    _DOCS + "new-crypto-loan/fixed/borrow-contract",
)
FIXED_FULLY_REPAY = Endpoint(
    "fixed_fully_repay", "POST", "/v5/crypto-loan-fixed/fully-repay", True,
    _DOCS + "new-crypto-loan/fixed/repay", proof="repayId",
)
FIXED_BORROW_ORDER_QUOTE = Endpoint(
    "fixed_borrow_order_quote", "GET", "/v5/crypto-loan-fixed/borrow-order-quote", False,
    _DOCS + "new-crypto-loan/fixed/borrow-market",
)

NEW_API_ENDPOINTS = (
    NEW_LOANABLE_DATA,
    NEW_COLLATERAL_DATA,
    NEW_POSITION,
    NEW_MAX_LOAN,
    NEW_ADJUST_COLLATERAL,
    NEW_MAX_COLLATERAL_REDUCTION,
    NEW_ADJUSTMENT_HISTORY,
    FLEXIBLE_BORROW,
    FLEXIBLE_REPAY,
    FLEXIBLE_REPAY_COLLATERAL,
    FLEXIBLE_ONGOING,
    FLEXIBLE_BORROW_HISTORY,
    FLEXIBLE_REPAYMENT_HISTORY,
    FLEXIBLE_AVAILABLE_INVENTORY,
    FIXED_SUPPLY_ORDER_QUOTE,
    FIXED_BORROW_ORDER_QUOTE,
    FIXED_BORROW,
    FIXED_RENEW,
    FIXED_SUPPLY,
    FIXED_BORROW_ORDER_CANCEL,
    FIXED_SUPPLY_ORDER_CANCEL,
    FIXED_BORROW_CONTRACT_INFO,
    FIXED_SUPPLY_CONTRACT_INFO,
    FIXED_BORROW_ORDER_INFO,
    FIXED_RENEW_INFO,
    FIXED_SUPPLY_ORDER_INFO,
    FIXED_FULLY_REPAY,
    FIXED_REPAY_COLLATERAL,
    FIXED_REPAYMENT_HISTORY,
    FIXED_AVAILABLE_INVENTORY,
)
"""Every Crypto Loan (New) endpoint: the 28 pages of the docs plus the two
``available-inventory`` pages added later, in the docs' order."""

ENDPOINTS: dict[str, Endpoint] = {
    e.name: e
    for e in (
        SERVER_TIME,
        TICKERS,
        COLLATERAL_DATA,
        LOANABLE_DATA,
        BORROW_LIMITS,
        BORROW,
        REPAY,
        ONGOING_ORDERS,
        REPAYMENT_HISTORY,
        BORROW_HISTORY,
        MAX_COLLATERAL_REDUCTION,
        ADJUST_COLLATERAL,
        ADJUSTMENT_HISTORY,
        *NEW_API_ENDPOINTS,
    )
}
