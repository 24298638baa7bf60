"""Orders are validated completely before anything is sent, and written exactly."""

from __future__ import annotations

from decimal import Decimal

import pytest

from loan_widgets.errors import ValidationError
from loan_widgets.orders import BorrowRequest, parse_amount

DOC_BODY = (
    '{"loanCurrency":"USDT","loanAmount":"550","collateralCurrency":"BTC",'
    '"loanTerm":null,"collateralAmount":null}'
)


class TestBody:
    """The JSON body is the Borrow doc's example, byte for byte."""

    def test_doc_example_body(self) -> None:
        """%borrow USDT 550 BTC gives the documented body in compact form."""
        assert BorrowRequest("USDT", "BTC", "550").to_body() == DOC_BODY

    def test_fixed_term_collateral_only(self) -> None:
        """A collateral-driven 30-day loan sends loanAmount null and loanTerm "30"."""
        body = BorrowRequest("USDT", "BTC", collateral_amount="0.1", term="30").to_body()
        assert body == (
            '{"loanCurrency":"USDT","loanAmount":null,"collateralCurrency":"BTC",'
            '"loanTerm":"30","collateralAmount":"0.1"}'
        )

    @pytest.mark.parametrize(
        ("given", "wire"),
        [
            ("550", "550"),
            ("550.00", "550.00"),
            ("0.00000001", "0.00000001"),
            ("12345678901234567890", "12345678901234567890"),
            (Decimal("1E+3"), "1000"),
            (Decimal("1.5E-7"), "0.00000015"),
            (20, "20"),
        ],
    )
    def test_amounts_are_plain_decimal(self, given: object, wire: str) -> None:
        """Amounts go out exactly as given, never as floats or exponents."""
        assert BorrowRequest("USDT", "BTC", given).to_params()["loanAmount"] == wire

    def test_lower_case_coins_are_upper_cased(self) -> None:
        """usdt/btc are accepted and sent as USDT/BTC."""
        assert BorrowRequest("usdt", " btc ", "550").to_body() == DOC_BODY

    @pytest.mark.parametrize("term", [None, "flexible", "FLEXIBLE", 7, "7", "7d", "180"])
    def test_terms(self, term: object) -> None:
        """Flexible is null on the wire; fixed terms are day counts as text."""
        expected = None if term in (None, "flexible", "FLEXIBLE") else str(term).rstrip("d")
        assert BorrowRequest("USDT", "BTC", "1", term=term).loan_term == expected


class TestRejected:
    """Each bad input raises a one-line ValidationError naming the problem."""

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({}, "give a loan amount or a collateral amount"),
            ({"loan_amount": "0"}, "greater than zero"),
            ({"loan_amount": "0.000"}, "greater than zero"),
            ({"loan_amount": "-5"}, "greater than zero, not -5"),
            ({"loan_amount": Decimal("-5")}, "greater than zero"),
            ({"loan_amount": "NaN"}, "not a plain decimal"),
            ({"loan_amount": Decimal("NaN")}, "finite"),
            ({"loan_amount": "inf"}, "not a plain decimal"),
            ({"loan_amount": Decimal("Infinity")}, "finite"),
            ({"loan_amount": "1e999999999"}, "not a plain decimal"),
            ({"loan_amount": Decimal("1e999999999")}, "too large"),
            ({"loan_amount": Decimal("1e-30")}, "decimal places"),
            ({"loan_amount": "abc"}, "not a plain decimal"),
            ({"loan_amount": "1,000"}, "not a plain decimal"),
            ({"loan_amount": "５５０"}, "not a plain decimal"),
            ({"loan_amount": "5 5"}, "not a plain decimal"),
            ({"loan_amount": ""}, "empty"),
            ({"loan_amount": 550.0}, "not float"),
            ({"loan_amount": True}, "not bool"),
            ({"collateral_amount": "-0.1"}, "collateral amount"),
            ({"loan_amount": "1", "term": "45"}, "term"),
            ({"loan_amount": "1", "term": 7.0}, "term"),
        ],
    )
    def test_bad_amounts_and_terms(self, kwargs: dict[str, object], message: str) -> None:
        """Zero, negative, NaN, infinite, huge, non-numeric, float and unknown terms fail."""
        with pytest.raises(ValidationError, match=message) as info:
            BorrowRequest("USDT", "BTC", **kwargs)  # type: ignore[arg-type]
        assert "\n" not in str(info.value)

    @pytest.mark.parametrize(
        ("loan", "collateral", "message"),
        [
            ("USDT", "USDT", "both USDT"),
            ("usdt", "USDT", "both USDT"),
            ("US DT", "BTC", "not a coin code"),
            ("U", "BTC", "not a coin code"),
            ("USDT;rm", "BTC", "not a coin code"),
            ("ＵＳＤＴ", "BTC", "not a coin code"),
            ("123", "BTC", "not a coin code"),
            ("", "BTC", "missing"),
        ],
    )
    def test_bad_coins(self, loan: str, collateral: str, message: str) -> None:
        """Malformed coin codes and equal loan/collateral coins fail."""
        with pytest.raises(ValidationError, match=message) as info:
            BorrowRequest(loan, collateral, "550")
        assert "\n" not in str(info.value)

    def test_parse_amount_returns_decimal(self) -> None:
        """Parsed amounts are Decimal, keeping every digit given."""
        value = parse_amount("0.10")
        assert isinstance(value, Decimal) and str(value) == "0.10"


class TestDescribe:
    """Requests describe themselves in one line."""

    def test_describe(self) -> None:
        """Amount, coins and term in words."""
        assert BorrowRequest("USDT", "BTC", "550").describe() == "550 USDT against BTC, flexible"
        assert (
            BorrowRequest("USDT", "BTC", collateral_amount="0.1", term=30).describe()
            == "USDT against 0.1 BTC, 30 days"
        )


class TestTermsPerApi:
    """Each loan API is checked against its own terms."""

    def test_sixty_days_is_a_new_api_term_only(self) -> None:
        """60 days goes out on the new API's fixed borrow and is refused for the legacy one."""
        from loan_widgets.client import LoanClient
        from loan_widgets.endpoints import FIXED_BORROW

        request = BorrowRequest("USDT", "BTC", "100", term="60", annual_rate="0.05")
        endpoint, body = LoanClient.borrow_endpoint(request, "new")
        assert endpoint is FIXED_BORROW
        assert '"term":"60"' in body
        legacy = BorrowRequest("USDT", "BTC", "100", term="60")
        with pytest.raises(ValidationError, match="term 60 is not offered"):
            LoanClient.borrow_endpoint(legacy, "legacy")
