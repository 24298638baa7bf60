"""The public API is itself under test."""

from __future__ import annotations

import loan_widgets
from loan_widgets import endpoints


class TestExports:
    """`__all__` lists exactly the public names, sorted."""

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
        }
        got = {n: (e.method, e.path, e.signed) for n, e in endpoints.ENDPOINTS.items()}
        assert got == expected
