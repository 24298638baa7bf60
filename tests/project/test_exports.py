"""The public API is itself under test."""

from __future__ import annotations

import loan_widgets
from loan_widgets import endpoints

# The public API, written out: a name added or dropped must change this list too.
PUBLIC = [
    "ActionResult",
    "AdjustRequest",
    "AmbiguousAnswer",
    "AnswerLost",
    "BadResponse",
    "BorrowRequest",
    "BorrowResult",
    "BorrowWidget",
    "ConfigurationError",
    "ConnectError",
    "Credentials",
    "CredentialsError",
    "DuplicateOrderError",
    "ExchangeError",
    "Ledger",
    "LedgerError",
    "LoanClient",
    "LoanDesk",
    "LoanWidgetsError",
    "OutcomeUnknown",
    "PreparedRequest",
    "RateLimitError",
    "RepayRequest",
    "Settings",
    "TimestampError",
    "TransportError",
    "ValidationError",
    "load_ipython_extension",
    "loans",
    "orders",
    "reconcile",
    "unload_ipython_extension",
]


class TestExports:
    """`__all__` lists exactly the public names, sorted."""

    def test_all_is_the_public_list(self) -> None:
        """__all__ is exactly the written-out public API (a name added or dropped shows)."""
        assert loan_widgets.__all__ == PUBLIC

    def test_all_is_sorted_and_resolvable(self) -> None:
        """Every name in __all__ resolves, and the list is sorted."""
        assert loan_widgets.__all__ == sorted(loan_widgets.__all__)
        for name in loan_widgets.__all__:
            assert getattr(loan_widgets, name) is not None

    def test_unknown_attribute(self) -> None:
        """A missing name raises AttributeError."""
        try:
            loan_widgets.nothing_here  # noqa: B018
        except AttributeError as error:
            assert "nothing_here" in str(error)
        else:  # pragma: no cover
            raise AssertionError("expected AttributeError")


class TestEndpointTable:
    """The endpoint table matches the API reference (catches drifted paths)."""

    def test_paths(self) -> None:
        """Every legacy crypto-loan path, method and auth flag is as documented."""
        expected = {
            "collateral_data": ("GET", "/v5/crypto-loan/collateral-data", False),
            "loanable_data": ("GET", "/v5/crypto-loan/loanable-data", False),
            "borrow_limits": ("GET", "/v5/crypto-loan/borrowable-collateralisable-number", True),
            "borrow": ("POST", "/v5/crypto-loan/borrow", True),
            "repay": ("POST", "/v5/crypto-loan/repay", True),
            "ongoing_orders": ("GET", "/v5/crypto-loan/ongoing-orders", True),
            "repayment_history": ("GET", "/v5/crypto-loan/repayment-history", True),
            "borrow_history": ("GET", "/v5/crypto-loan/borrow-history", True),
            "max_collateral_reduction": ("GET", "/v5/crypto-loan/max-collateral-amount", True),
            "adjust_collateral": ("POST", "/v5/crypto-loan/adjust-ltv", True),
            "adjustment_history": ("GET", "/v5/crypto-loan/adjustment-history", True),
            "server_time": ("GET", "/v5/market/time", False),
            "tickers": ("GET", "/v5/market/tickers", False),
            "new_loanable_data": ("GET", "/v5/crypto-loan-common/loanable-data", False),
            "new_collateral_data": ("GET", "/v5/crypto-loan-common/collateral-data", False),
            "new_position": ("GET", "/v5/crypto-loan-common/position", True),
            "new_max_loan": ("POST", "/v5/crypto-loan-common/max-loan", True),
            "new_adjust_collateral": ("POST", "/v5/crypto-loan-common/adjust-ltv", True),
            "new_max_collateral_reduction": (
                "GET", "/v5/crypto-loan-common/max-collateral-amount", True
            ),
            "new_adjustment_history": (
                "GET", "/v5/crypto-loan-common/adjustment-history", True
            ),
            "flexible_borrow": ("POST", "/v5/crypto-loan-flexible/borrow", True),
            "flexible_repay": ("POST", "/v5/crypto-loan-flexible/repay", True),
            "flexible_ongoing": ("GET", "/v5/crypto-loan-flexible/ongoing-coin", True),
            "flexible_borrow_history": ("GET", "/v5/crypto-loan-flexible/borrow-history", True),
            "flexible_repayment_history": (
                "GET", "/v5/crypto-loan-flexible/repayment-history", True
            ),
            "fixed_borrow": ("POST", "/v5/crypto-loan-fixed/borrow", True),
            "fixed_borrow_order_info": ("GET", "/v5/crypto-loan-fixed/borrow-order-info", True),
            "fixed_borrow_contract_info": (
                "GET", "/v5/crypto-loan-fixed/borrow-contract-info", True
            ),
            "fixed_fully_repay": ("POST", "/v5/crypto-loan-fixed/fully-repay", True),
            "fixed_borrow_order_quote": (
                "GET", "/v5/crypto-loan-fixed/borrow-order-quote", False
            ),
            "flexible_repay_collateral": (
                "POST", "/v5/crypto-loan-flexible/repay-collateral", True
            ),
            "flexible_available_inventory": (
                "GET", "/v5/crypto-loan-flexible/available-inventory", True
            ),
            "fixed_supply_order_quote": (
                "GET", "/v5/crypto-loan-fixed/supply-order-quote", False
            ),
            "fixed_renew": ("POST", "/v5/crypto-loan-fixed/renew", True),
            "fixed_supply": ("POST", "/v5/crypto-loan-fixed/supply", True),
            "fixed_borrow_order_cancel": (
                "POST", "/v5/crypto-loan-fixed/borrow-order-cancel", True
            ),
            "fixed_supply_order_cancel": (
                "POST", "/v5/crypto-loan-fixed/supply-order-cancel", True
            ),
            "fixed_supply_contract_info": (
                "GET", "/v5/crypto-loan-fixed/supply-contract-info", True
            ),
            "fixed_renew_info": ("GET", "/v5/crypto-loan-fixed/renew-info", True),
            "fixed_supply_order_info": ("GET", "/v5/crypto-loan-fixed/supply-order-info", True),
            "fixed_repay_collateral": ("POST", "/v5/crypto-loan-fixed/repay-collateral", True),
            "fixed_repayment_history": (
                "GET", "/v5/crypto-loan-fixed/repayment-history", True
            ),
            "fixed_available_inventory": (
                "GET", "/v5/crypto-loan-fixed/available-inventory", True
            ),
        }
        got = {n: (e.method, e.path, e.signed) for n, e in endpoints.ENDPOINTS.items()}
        assert got == expected

    def test_only_max_loan_is_a_read_only_post(self) -> None:
        """Every POST changes state except max-loan, which may be retried like a GET."""
        read_only = {e.name for e in endpoints.ENDPOINTS.values() if e.has_body and not e.writes}
        assert read_only == {"new_max_loan"}
