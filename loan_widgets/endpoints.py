"""Bybit endpoints as data: one table, one call path (``LoanClient.call``).

Each :class:`Endpoint` says its method, path, whether it is signed and
whether it changes state. State-changing endpoints are never resent unless
the exchange's answer proves the first attempt was not executed.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ENDPOINTS", "Endpoint"]


@dataclass(frozen=True)
class Endpoint:
    """One REST endpoint of the Bybit V5 API."""

    name: str
    method: str
    path: str
    signed: bool = True
    doc: str = ""

    @property
    def writes(self) -> bool:
        """True for endpoints that change state (every POST here)."""
        return self.method == "POST"

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
BORROW = Endpoint("borrow", "POST", "/v5/crypto-loan/borrow", True, _DOCS + "abandon/borrow")
REPAY = Endpoint("repay", "POST", "/v5/crypto-loan/repay", True, _DOCS + "crypto-loan/repay")
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
    _DOCS + "crypto-loan/adjust-collateral",
)
ADJUSTMENT_HISTORY = Endpoint(
    "adjustment_history",
    "GET",
    "/v5/crypto-loan/adjustment-history",
    True,
    _DOCS + "crypto-loan/ltv-adjust-history",
)

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
    )
}
