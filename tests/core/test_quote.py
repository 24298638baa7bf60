"""quote.py: pure Decimal arithmetic on coin tables, no network and no clock.

The coin tables are Bybit wire items recorded in ``tests/fixtures/coin-data.json``; every
expected number is worked out in the test's docstring or table.
"""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from support import FIXTURES

from loan_widgets.errors import LoanWidgetsError, ValidationError
from loan_widgets.orders import BorrowRequest
from loan_widgets.quote import (
    CollateralCoinInfo,
    Limits,
    LoanCoinInfo,
    MarketData,
    Quote,
    quote,
    terms_for,
)

COINS = json.loads((FIXTURES / "coin-data.json").read_text())
PRICES = {coin: Decimal(price) for coin, price in COINS["prices"].items()}
FETCHED_AT = 1_800_000_000.0
ACCOUNT = Limits(
    min_loan=Decimal(20), max_loan=Decimal(520000), min_collateral=None,
    max_collateral=Decimal(10), fetched_at=FETCHED_AT,
)
WALLET_ONLY = Limits(None, None, None, Decimal(10), FETCHED_AT)


@pytest.fixture(scope="module")
def market() -> MarketData:
    """The recorded coin tables and prices."""
    return MarketData.from_wire(COINS["loanable"], COINS["collateral"], PRICES, FETCHED_AT)


def typed(market: MarketData, loan: str = "", collateral: str = "", **kwargs: object) -> Quote:
    """The quote for USDT against BTC (unless given) with one field typed."""
    args = {"loan_coin": "USDT", "collateral_coin": "BTC", "term": "flexible", **kwargs}
    driver = "loan" if loan else ("collateral" if collateral else None)
    return quote(market, args.pop("loan_coin"), args.pop("collateral_coin"), args.pop("term"),
                 loan, collateral, driver, **args)  # type: ignore[arg-type]


class TestCoinData:
    """Wire items become typed coin data; malformed rows are left out."""

    def test_loan_coin_rates_per_term(self) -> None:
        """Empty rate strings mean 'term not offered' (None); the step follows the accuracy."""
        usdt = LoanCoinInfo.from_wire(COINS["loanable"][0])
        assert usdt.rates == {
            "flexible": Decimal("0.0000090346"), "7": Decimal("0.0000180692"),
            "14": Decimal("0.0000207796"), "30": Decimal("0.00002349"), "90": None, "180": None,
        }
        assert (usdt.accuracy, usdt.step, usdt.min_amount) == (4, Decimal("0.0001"), Decimal(20))
        assert usdt.max_amount == Decimal(8000000)

    def test_no_maximum_is_none(self) -> None:
        """An empty maxBorrowingAmount is no maximum."""
        assert LoanCoinInfo.from_wire(COINS["loanable"][2]).max_amount is None

    def test_collateral_without_initial_ltv_is_refused(self) -> None:
        """initialLTV is what every estimate divides by: a row without it is an error."""
        with pytest.raises(ValueError, match="no initialLTV"):
            CollateralCoinInfo.from_wire(COINS["collateral"][-1])

    def test_market_data_leaves_malformed_rows_out(self, market: MarketData) -> None:
        """BROKEN is dropped; the rest is kept, with the fetch time given."""
        assert sorted(market.loan_coins) == ["ETH", "NOFLEX", "USDT"]
        assert sorted(market.collateral_coins) == ["BTC", "ETH", "SOL"]
        assert market.fetched_at == FETCHED_AT and market.age(FETCHED_AT + 12.5) == 12.5

    def test_empty_tables_are_an_error(self) -> None:
        """No collateral coin at all: nothing can be quoted, one-line error."""
        with pytest.raises(LoanWidgetsError, match="no loan coins or no collateral coins"):
            MarketData.from_wire(COINS["loanable"], [COINS["collateral"][-1]], PRICES, 0.0)

    def test_limits_from_wire(self) -> None:
        """The account's limits keep their Decimal text; absent fields are None."""
        limits = Limits.from_wire({"maxLoanAmount": "520000", "minLoanAmount": "20"}, 5.0)
        assert (limits.max_loan, limits.min_loan, limits.max_collateral) == (
            Decimal(520000), Decimal(20), None
        )


class TestLinkedAmounts:
    """The field typed last drives; the other is estimated and rounded the safe way."""

    def test_loan_amount_estimates_collateral_rounded_up(self, market: MarketData) -> None:
        """550 USDT needs 550 / (0.8 × 65000) = 0.010576923… BTC, rounded up: 0.01057693."""
        q = typed(market, loan="550")
        assert (q.driver, q.loan_amount, q.collateral_amount) == (
            "loan", Decimal(550), Decimal("0.01057693")
        )
        assert q.request == BorrowRequest("USDT", "BTC", Decimal(550))

    def test_collateral_estimates_loan_rounded_down(self, market: MarketData) -> None:
        """0.00123457 BTC supports 0.00123457 × 65000 × 0.8 = 64.19764 USDT: 64.1976."""
        q = typed(market, collateral="0.00123457")
        assert (q.loan_amount, q.collateral_amount) == (Decimal("64.1976"), Decimal("0.00123457"))
        assert q.request == BorrowRequest("USDT", "BTC", None, Decimal("0.00123457"))

    def test_other_coins_use_their_ltv_and_accuracy(self, market: MarketData) -> None:
        """1 ETH against SOL (LTV 0.6, 6 decimals): 2500 / (0.6 × 150) = 27.777778 SOL."""
        q = typed(market, loan="1", loan_coin="ETH", collateral_coin="SOL")
        assert q.collateral_amount == Decimal("27.777778")

    def test_trailing_zeros_are_not_extra_precision(self, market: MarketData) -> None:
        """550.10000 USDT is 550.1: four decimals allowed, sent as 550.1."""
        q = typed(market, loan="550.10000")
        assert q.problems == () and q.request.to_params()["loanAmount"] == "550.1"

    def test_ltv_and_liquidation_price(self, market: MarketData) -> None:
        """LTV = 550 / (0.01057693 × 65000); liquidation when BTC = 550 / (0.01057693 × 0.95)."""
        q = typed(market, loan="550")
        assert q.ltv == Decimal("0.7999994763639791072136752783")
        assert q.liquidation_price == Decimal("54736.80627753541259883041378")

    def test_no_price_no_estimate(self, market: MarketData) -> None:
        """Without a USDT price for the collateral, no estimate: a warning, not a guess."""
        unpriced = MarketData(market.loan_coins, market.collateral_coins, {"USDT": Decimal(1)}, 0)
        q = typed(unpriced, loan="550")
        assert q.collateral_amount is None and q.ltv is None
        assert q.warnings == ("no USDT price for BTC: amounts cannot be estimated",)


class TestBounds:
    """Coin bounds, the collateral limit and the account's limits, with the reason."""

    @pytest.mark.parametrize(
        ("loan", "collateral", "limits", "problem"),
        [
            ("10", "", None, "10 USDT is below the minimum loan of 20"),
            ("9000000", "", None, "9,000,000 USDT is above the maximum loan of 8,000,000"),
            ("1000000", "", ACCOUNT,
             "1,000,000 USDT is more than this account can borrow now (520,000 USDT)"),
            ("700000", "", WALLET_ONLY,
             "≈ 13.46153847 BTC is more than this account can pledge (10 BTC available)"),
            ("", "20", ACCOUNT, "20 BTC is more than this account can pledge (10 BTC available)"),
            ("", "1001", None, "1,001 BTC is above the collateral limit of 1,000"),
            ("", "0.0001", None, "≈ 5.2 USDT is below the minimum loan of 20"),
        ],
    )
    def test_bounds(
        self, market: MarketData, loan: str, collateral: str, limits: Limits | None, problem: str
    ) -> None:
        """The first problem is the one the user is told; no request is built."""
        q = typed(market, loan=loan, collateral=collateral, limits=limits)
        assert q.problems[0] == problem and q.request is None
        assert problem in (q.loan_problem, q.collateral_problem)

    @pytest.mark.parametrize(
        ("loan", "collateral", "problem"),
        [
            ("550.12345", "", "USDT allows at most 4 decimal places"),
            ("", "0.123456789", "BTC allows at most 8 decimal places"),
            ("5e2", "", "loan amount 5e2 is not a plain decimal number (write e.g. 550 or 0.05)"),
            ("1,000", "",
             "loan amount 1,000 is not a plain decimal number (write e.g. 550 or 0.05)"),
            ("0", "", "loan amount must be greater than zero, not 0"),
        ],
    )
    def test_precision_and_syntax(
        self, market: MarketData, loan: str, collateral: str, problem: str
    ) -> None:
        """Too many decimals or anything but plain digits: refused, no estimate."""
        q = typed(market, loan=loan, collateral=collateral)
        assert q.problems[0] == problem and q.request is None

    def test_same_coin_on_both_sides(self, market: MarketData) -> None:
        """Borrowing ETH against ETH is refused; a coin missing from a table is named."""
        q = quote(market, "ETH", "ETH", "flexible", "1", "", "loan")
        assert q.problems[0] == "loan and collateral are both ETH: pledge another coin"
        q = quote(market, "USDT", "USDT", "flexible", "550", "", "loan")
        assert q.problems == ("USDT is not offered here",)

    def test_nothing_typed_and_nothing_loaded(self, market: MarketData) -> None:
        """No amount: one problem asking for one; no data: 'coin data is not loaded'."""
        assert typed(market).problems == ("enter a loan amount or a collateral amount",)
        assert quote(None, "USDT", "BTC", "flexible", "550", "", "loan").problems == (
            "coin data is not loaded",
        )
        assert typed(market, loan="5", loan_coin="DOGE").problems == ("DOGE is not offered here",)


class TestLegacyTerms:
    """Each legacy term has its own hourly rate; interest is rounded up."""

    def test_rate_and_interest_for_a_fixed_term(self, market: MarketData) -> None:
        """30 days: 550 × 0.00002349 × 24 × 30 = 9.30204, rounded up to 9.3021 USDT."""
        q = typed(market, loan="550", term="30")
        assert (q.hourly_rate, q.interest) == (Decimal("0.00002349"), Decimal("9.3021"))
        assert q.annual_rate == Decimal("0.00002349") * 24 * 365
        assert q.request.term == "30" and q.request.annual_rate is None

    def test_flexible_interest_is_one_day(self, market: MarketData) -> None:
        """Flexible: 550 × 0.0000090346 × 24 = 0.11925672, rounded up to 0.1193."""
        assert typed(market, loan="550").interest == Decimal("0.1193")

    @pytest.mark.parametrize(
        ("coin", "term", "problem"),
        [
            ("USDT", "90", "USDT offers no 90-day term: pick another"),
            ("NOFLEX", "flexible", "NOFLEX cannot be borrowed flexibly: pick a fixed term"),
            ("USDT", "60", "the legacy loan API offers no 60-day term: pick another"),
        ],
    )
    def test_terms_not_offered(
        self, market: MarketData, coin: str, term: str, problem: str
    ) -> None:
        """A term the coin (or the API) lacks is the form's problem, with the way out."""
        q = typed(market, loan="550", loan_coin=coin, term=term)
        assert problem in q.problems and q.term_problem == problem and q.request is None


class TestNewApi:
    """api='new': its own terms, a loan amount always, and a rate for fixed terms."""

    def test_terms_per_api(self) -> None:
        """60 days exists on the new API only; an unknown API is refused."""
        assert terms_for("legacy") == ("flexible", "7", "14", "30", "90", "180")
        assert terms_for("new") == ("flexible", "7", "14", "30", "60", "90", "180")
        with pytest.raises(ValidationError, match="api 'v6' is not known"):
            terms_for("v6")

    def test_flexible_has_the_exchanges_rate(self, market: MarketData) -> None:
        """No local rate for new-API flexible loans: no interest estimate, and no problem."""
        q = typed(market, loan="550", api="new")
        assert q.problems == () and (q.hourly_rate, q.interest) == (None, None)
        assert q.request == BorrowRequest("USDT", "BTC", Decimal(550)) and q.api == "new"

    def test_fixed_term_needs_a_rate(self, market: MarketData) -> None:
        """60 days without a rate: refused with an example of the format."""
        q = typed(market, loan="550", api="new", term="60")
        assert q.problems == (
            "a fixed term on the new loan API needs the annual rate you offer (e.g. 0.05 = 5 %)",
        )

    def test_sixty_days_at_five_percent(self, market: MarketData) -> None:
        """550 × 0.05 × 60 / 365 = 4.52054…, rounded up to 4.5206 USDT of interest."""
        q = typed(market, loan="550", api="new", term="60", rate_text=" 0.05 ")
        assert q.problems == () and q.offered_rate == Decimal("0.05")
        assert q.annual_rate == Decimal("0.05") and q.interest == Decimal("4.5206")
        assert q.request == BorrowRequest("USDT", "BTC", Decimal(550), term="60",
                                          annual_rate=Decimal("0.05"))

    @pytest.mark.parametrize(
        ("text", "problem"),
        [
            ("5", "annual rate 5 is a fraction of 1 (0.05 is 5 %), not a percentage"),
            ("5%", "annual rate 5% is not a plain decimal number (write e.g. 550 or 0.05)"),
            ("0", "annual rate must be greater than zero, not 0"),
        ],
    )
    def test_bad_rates(self, market: MarketData, text: str, problem: str) -> None:
        """A rate that is not a fraction of 1 is refused in words."""
        q = typed(market, loan="550", api="new", term="30", rate_text=text)
        assert q.term_problem == problem and q.request is None

    def test_collateral_driven_is_legacy_only(self, market: MarketData) -> None:
        """The new API always needs a loan amount; the collateral estimate is still shown."""
        q = typed(market, collateral="0.1", api="new")
        assert q.request is None and q.loan_amount == Decimal(5200)
        assert "the new loan API needs a loan amount" in q.problems[0]

    def test_a_rate_typed_for_the_legacy_api_is_ignored(self, market: MarketData) -> None:
        """On the legacy API the rate is the coin's: a typed rate is not sent."""
        q = typed(market, loan="550", term="30", rate_text="0.05")
        assert q.offered_rate is None and q.request.annual_rate is None
