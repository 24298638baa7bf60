"""BorrowWidget on either loan API, and fresh balances after every order.

Real widgets, real HTTP to the test sandbox: which endpoint a widget borrow reaches is read
from what the sandbox received (``exchange.requests``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal

import pytest
from IPython.utils.capture import capture_output
from support import posts

from loan_widgets.client import LoanClient
from loan_widgets.errors import ValidationError
from loan_widgets.ledger import Ledger
from loan_widgets.orders import BorrowRequest
from loan_widgets.sandbox import Sandbox
from loan_widgets.widget import BorrowWidget, FormState

LEGACY_BORROW = "/v5/crypto-loan/borrow"
FLEXIBLE_BORROW = "/v5/crypto-loan-flexible/borrow"
FIXED_BORROW = "/v5/crypto-loan-fixed/borrow"
LIMITS = "/v5/crypto-loan/borrowable-collateralisable-number"


def borrow_posts(exchange: Sandbox) -> list[str]:
    """Paths of every borrow POST the sandbox received, in order."""
    return [
        r.path for r in exchange.requests
        if r.method == "POST" and r.path in (LEGACY_BORROW, FLEXIBLE_BORROW, FIXED_BORROW)
    ]


def limit_reads(exchange: Sandbox) -> int:
    """How many account-limit GETs the sandbox answered."""
    return sum(1 for r in exchange.requests if r.method == "GET" and r.path == LIMITS)


def widget_from(captured: object) -> BorrowWidget:
    """The BorrowWidget a captured ``display()`` showed."""
    from ipywidgets.widgets.widget import _instances

    for output in captured.outputs:  # type: ignore[attr-defined]
        view = output.data.get("application/vnd.jupyter.widget-view+json")
        if view and isinstance(_instances[view["model_id"]], BorrowWidget):
            return _instances[view["model_id"]]
    raise AssertionError("no BorrowWidget was displayed")


class TestApiChoice:
    """The API comes from the argument, the magic's config, or the visible switch."""

    def test_default_is_legacy(self, client: LoanClient) -> None:
        """No choice anywhere: the legacy API, legacy terms, no 60 days."""
        w = BorrowWidget(client=client)
        assert w.api == "legacy" and w.api_switch.value == "legacy"
        assert w.term.terms == ("flexible", "7", "14", "30", "90", "180")
        assert w.term.buttons["60"].layout.display == "none"

    def test_argument_picks_the_new_api(self, client: LoanClient) -> None:
        """api='new': the switch shows it, the terms include 60 days, the badge says so."""
        w = BorrowWidget(client=client, api="new")
        assert w.api_switch.value == "new" and "new loan API" in w.badge.value
        assert w.term.terms == ("flexible", "7", "14", "30", "60", "90", "180")
        assert w.term.buttons["60"].layout.display != "none"
        assert "60" in w.term.offered

    def test_unknown_api_is_refused(self, client: LoanClient) -> None:
        """A misspelt API is a one-line error at construction."""
        with pytest.raises(ValidationError, match="api 'neu' is not known: use legacy or new"):
            BorrowWidget(client=client, api="neu")

    def test_switch_changes_terms_and_keeps_a_shared_term(self, client: LoanClient) -> None:
        """Switching keeps 30 days; leaving the new API with 60 days picked falls back."""
        w = BorrowWidget(client=client)
        w.term.value = "30"
        w.api_switch.value = "new"
        assert w.term.value == "30" and w.api == "new"
        w.term.value = "60"
        w.api_switch.value = "legacy"
        assert w.term.value == "flexible" and "offers no 60-day term" in w.output.outputs[-1][
            "text"]

    def test_the_magics_config_is_the_default(self, ip, exchange: Sandbox) -> None:
        """%config BorrowMagics.api = "new", then %borrow: the widget borrows on the new API."""
        ip.run_line_magic("config", 'BorrowMagics.api = "new"')
        with capture_output() as captured:
            ip.run_line_magic("borrow", "")
        w = widget_from(captured)
        assert w.api == "new"
        w.loan_amount.value = "550"
        w.borrow_button.click()
        assert w.state is FormState.ACCEPTED
        assert borrow_posts(exchange) == [FLEXIBLE_BORROW]

    def test_the_magics_api_flag_reaches_the_widget(self, ip, exchange: Sandbox) -> None:
        """%borrow --widget USDT 550 BTC --api new: the prefilled widget borrows on the new API."""
        with capture_output() as captured:
            ip.run_line_magic("borrow", "--widget USDT 550 BTC --api new")
        w = widget_from(captured)
        assert w.api == "new"
        assert w.loan_amount.value == "550"
        w.borrow_button.click()
        assert w.state is FormState.ACCEPTED
        assert borrow_posts(exchange) == [FLEXIBLE_BORROW]

    def test_the_magics_api_flag_alone_opens_the_widget(self, ip, exchange: Sandbox) -> None:
        """%borrow --widget --api new opens an empty widget on the new API, sending nothing."""
        with capture_output() as captured:
            ip.run_line_magic("borrow", "--widget --api new")
        w = widget_from(captured)
        assert w.api == "new"
        assert borrow_posts(exchange) == []


class TestNewApiBorrow:
    """A widget borrow on the new API reaches the new API's endpoints."""

    @pytest.fixture
    def new_widget(self, client: LoanClient) -> BorrowWidget:
        """A widget on the new API, 550 USDT against BTC typed."""
        w = BorrowWidget(client=client, api="new")
        w.loan_amount.value = "550"
        return w

    def test_flexible_reaches_the_flexible_endpoint(
        self, new_widget: BorrowWidget, exchange: Sandbox, ledger: Ledger
    ) -> None:
        """Flexible on the new API: POST /v5/crypto-loan-flexible/borrow, ledger api 'new'."""
        assert new_widget.state is FormState.READY
        assert new_widget.new_api_row.layout.display == "none"  # no rate for flexible
        new_widget.borrow_button.click()
        assert new_widget.state is FormState.ACCEPTED
        assert borrow_posts(exchange) == [FLEXIBLE_BORROW]
        body = json.loads(posts(exchange, FLEXIBLE_BORROW)[0].body)
        assert (body["loanCurrency"], body["loanAmount"]) == ("USDT", "550")
        (row,) = ledger.rows()
        assert (row.api, row.source, row.status) == ("new", "widget", "accepted")

    def test_sixty_day_fixed_reaches_the_fixed_endpoint(
        self, new_widget: BorrowWidget, exchange: Sandbox, ledger: Ledger
    ) -> None:
        """60 days at 5 % a year: POST /v5/crypto-loan-fixed/borrow with term and rate."""
        new_widget.term.value = "60"
        assert new_widget.new_api_row.layout.display != "none"
        assert new_widget.state is FormState.INVALID and "annual rate" in new_widget.message
        new_widget.annual_rate.value = "0.05"
        assert new_widget.state is FormState.READY
        assert "5 % a year" in new_widget.preview.value
        new_widget.borrow_button.click()
        assert new_widget.state is FormState.ACCEPTED
        assert borrow_posts(exchange) == [FIXED_BORROW]
        body = json.loads(posts(exchange, FIXED_BORROW)[0].body)
        assert (body["orderAmount"], body["term"], body["annualRate"]) == ("550", "60", "0.05")
        assert (ledger.rows()[0].api, ledger.rows()[0].term) == ("new", "60")

    def test_bad_rate_is_refused_by_the_field(
        self, new_widget: BorrowWidget, exchange: Sandbox
    ) -> None:
        """A rate of 5 (meant as 5 %) is refused next to the field; nothing is sent."""
        new_widget.term.value = "30"
        new_widget.annual_rate.value = "5"
        assert new_widget.state is FormState.INVALID and "fraction of 1" in new_widget.message
        assert "fraction of 1" in new_widget.rate_hint.value
        new_widget.borrow_button.click()
        assert borrow_posts(exchange) == []

    def test_collateral_driven_is_legacy_only(
        self, new_widget: BorrowWidget, exchange: Sandbox
    ) -> None:
        """The new API needs a loan amount: typing collateral alone is refused."""
        new_widget.loan_amount.value = ""  # the new API keeps both fields: clear the loan
        new_widget.collateral_amount.value = "0.1"
        assert new_widget.state is FormState.INVALID and "needs a loan amount" in new_widget.message
        new_widget.borrow_button.click()
        assert borrow_posts(exchange) == []

    def test_mainnet_confirms_first(
        self, sandbox_client: Callable[..., LoanClient], exchange: Sandbox
    ) -> None:
        """Mainnet on the new API: Borrow arms Confirm; Confirm sends to the flexible endpoint."""
        w = BorrowWidget(client=sandbox_client(network="mainnet"), api="new")
        w.loan_amount.value = "550"
        w.borrow_button.click()
        assert w.state is FormState.CONFIRM and borrow_posts(exchange) == []
        w.confirm_button.click()
        assert w.state is FormState.ACCEPTED and borrow_posts(exchange) == [FLEXIBLE_BORROW]

    def test_prefill_with_a_rate(self, client: LoanClient, exchange: Sandbox) -> None:
        """prefill() of a fixed new-API request fills the term and the rate."""
        w = BorrowWidget(client=client, api="new")
        w.prefill(BorrowRequest("USDT", "BTC", Decimal(550), term="60", annual_rate="0.05"))
        assert (w.term.value, w.annual_rate.value, w.state) == ("60", "0.05", FormState.READY)
        assert borrow_posts(exchange) == []

    def test_prefill_of_a_term_the_api_lacks(self, client: LoanClient) -> None:
        """A 60-day request on the legacy API is reported, not raised."""
        w = BorrowWidget(client=client)
        w.prefill(BorrowRequest("USDT", "BTC", Decimal(550), term="60"))
        assert w.state is FormState.INVALID
        assert w.message == "the legacy loan API offers no 60-day term"


class TestBalancesAfterSubmit:
    """Limits and balances are read again after every submit, whatever its outcome."""

    @pytest.fixture
    def widget(self, client: LoanClient) -> BorrowWidget:
        """A widget, 550 USDT against BTC typed, double-click guard off."""
        w = BorrowWidget(client=client)
        w.rearm_after = 0
        w.loan_amount.value = "550"
        return w

    def test_accepted_order_updates_available_collateral(
        self, widget: BorrowWidget, exchange: Sandbox
    ) -> None:
        """10 BTC available before; 10 - 0.01057693 pledged after, with no Refresh."""
        widget.loan_amount.value = ""
        assert "up to 10 BTC available" in widget.collateral_hint.value
        widget.loan_amount.value = "550"
        reads = limit_reads(exchange)
        widget.borrow_button.click()
        assert widget.state is FormState.ACCEPTED and limit_reads(exchange) == reads + 1
        widget.loan_amount.value = ""
        assert "up to 9.98942307 BTC available" in widget.collateral_hint.value

    @pytest.mark.parametrize(
        ("fault", "state"),
        [
            ({"kind": "retcode", "code": 177012}, FormState.REJECTED),
            ({"kind": "drop"}, FormState.UNKNOWN),
        ],
        ids=["rejected", "unknown"],
    )
    def test_limits_are_read_again_whatever_the_outcome(
        self, widget: BorrowWidget, exchange: Sandbox, fault: dict, state: FormState
    ) -> None:
        """A rejected or unknown order reads the account's limits again too."""
        exchange.faults.inject(LEGACY_BORROW, **fault)
        reads = limit_reads(exchange)
        widget.borrow_button.click()
        assert widget.state is state and limit_reads(exchange) == reads + 1

    def test_executed_order_of_unknown_outcome_shows_in_the_balance(
        self, widget: BorrowWidget, exchange: Sandbox
    ) -> None:
        """The exchange executed a lost order: the available collateral already shows it."""
        exchange.faults.inject(LEGACY_BORROW, "drop")
        widget.borrow_button.click()
        widget.loan_amount.value = ""
        assert "up to 9.98942307 BTC available" in widget.collateral_hint.value
