"""BorrowWidget, headless: real widgets, real HTTP to the test sandbox, the real ledger.

Clicks are ``button.click()`` and typing is ``text.value = ...``; the assertions are on the
widget's traits and sub-widgets, on what the sandbox received and on the ledger.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import asdict
from decimal import Decimal

import ipywidgets
import pytest
from IPython.utils.capture import capture_output
from ipywidgets.embed import embed_data
from support import PLANTED_KEY, PLANTED_SECRET, REPO, posts, wait_until
from support.scan import widget_tree

from loan_widgets.client import LoanClient
from loan_widgets.ledger import Ledger
from loan_widgets.orders import BorrowRequest
from loan_widgets.sandbox import DEMO_API_KEY, Sandbox, SandboxServer
from loan_widgets.widget import BorrowWidget, FormState, TermPicker

BORROW_PATH = "/v5/crypto-loan/borrow"
VOLATILE = {"id", "submitted_at_ms", "updated_at_ms", "source", "latency_ms", "order_id"}


@pytest.fixture
def widget(client: LoanClient) -> BorrowWidget:
    """A widget on the test sandbox with the demo key."""
    return BorrowWidget(client=client)


@pytest.fixture
def mainnet_client(sandbox_client: Callable[..., LoanClient]) -> LoanClient:
    """A client that believes it is on mainnet, pointed at the sandbox."""
    return sandbox_client(network="mainnet")



def displayed_widget(captured: object) -> ipywidgets.Widget:
    """The widget a captured ``display()`` showed."""
    from ipywidgets.widgets.widget import _instances

    for output in captured.outputs:  # type: ignore[attr-defined]
        view = output.data.get("application/vnd.jupyter.widget-view+json")
        if view:
            return _instances[view["model_id"]]
    raise AssertionError(f"no widget was displayed: {captured.outputs!r}")  # type: ignore[attr-defined]


def gets(exchange: Sandbox, path: str) -> int:
    """How many GETs to ``path`` the exchange received."""
    return sum(1 for r in exchange.requests if r.method == "GET" and r.path == path)


class TestLayout:
    """What the user sees before typing anything."""

    def test_coins_are_loaded_sorted_with_defaults(self, widget: BorrowWidget) -> None:
        """The dropdowns list the exchange's coins, sorted, USDT against BTC by default."""
        assert widget.loan_coin.options == ("BTC", "ETH", "SOL", "USDC", "USDT", "XRP")
        assert widget.collateral_coin.options == ("BTC", "ETH", "SOL", "USDC", "USDT", "XRP")
        assert (widget.loan_coin.value, widget.collateral_coin.value) == ("USDT", "BTC")
        assert widget.state is FormState.IDLE and widget.last_order_id == ""

    def test_coin_data_comes_from_public_endpoints(self, widget: BorrowWidget, exchange) -> None:
        """loanable-data, collateral-data and tickers are fetched once each, without a key."""
        for path in (
            "/v5/crypto-loan/loanable-data",
            "/v5/crypto-loan/collateral-data",
            "/v5/market/tickers",
        ):
            requests = [r for r in exchange.requests if r.path == path]
            assert len(requests) == 1
            assert not any(k.lower().startswith("x-bapi") for k in requests[0].headers)

    def test_badge_names_network_and_masked_account(self, widget: BorrowWidget) -> None:
        """The badge says SANDBOX in green and shows the key masked, never whole."""
        assert "SANDBOX" in widget.badge.value and "#2e7d32" in widget.badge.value
        assert "SA***01" in widget.badge.value and DEMO_API_KEY not in widget.badge.value

    def test_sub_widgets_are_in_the_tree(self, widget: BorrowWidget) -> None:
        """Every documented sub-widget is an attribute and part of the displayed tree."""
        tree = {w.model_id for w in widget_tree(widget)}
        for name in (
            "badge", "loan_coin", "collateral_coin", "loan_amount", "collateral_amount",
            "term", "borrow_button", "confirm_button", "preview", "status_html",
            "orders_html", "output", "retry_button",
        ):
            assert getattr(widget, name).model_id in tree, name
        assert isinstance(widget.term, TermPicker)
        assert isinstance(widget.loan_amount, ipywidgets.Text)
        assert isinstance(widget.collateral_amount, ipywidgets.Text)

    def test_borrow_is_disabled_until_the_form_is_valid(self, widget: BorrowWidget) -> None:
        """No amount: Borrow is disabled; a valid amount enables it, a bad one disables it."""
        assert widget.borrow_button.disabled
        widget.loan_amount.value = "550"
        assert not widget.borrow_button.disabled and widget.state is FormState.READY
        assert widget.borrow_button.description == "Borrow 550 USDT"
        widget.loan_amount.value = "abc"
        assert widget.borrow_button.disabled and widget.state is FormState.INVALID

    def test_default_client_is_the_sandbox(self) -> None:
        """BorrowWidget() with no client runs on the embedded sandbox."""
        w = BorrowWidget()
        assert w.network == "sandbox" and "SANDBOX" in w.badge.value
        assert w.state is FormState.IDLE and w.loan_coin.value == "USDT"


class TestLinkedAmounts:
    """The field typed last drives; the other shows an estimate from cached data."""

    def test_loan_amount_estimates_collateral_rounded_up(self, widget: BorrowWidget) -> None:
        """550 USDT needs 550 / (0.8 × 65000) = 0.010576923… BTC, shown as ≈ 0.01057693."""
        widget.loan_amount.value = "550"
        assert widget.quote.collateral_amount == Decimal("0.01057693")
        assert widget.collateral_amount.value == ""  # an estimate never becomes input
        assert widget.collateral_amount.placeholder == "≈ 0.01057693"
        assert "≈ estimate" in widget.collateral_hint.value
        request = widget.quote.request
        assert request is not None
        assert (request.loan_amount, request.collateral_amount) == (Decimal(550), None)

    def test_collateral_amount_estimates_loan_rounded_down(self, widget: BorrowWidget) -> None:
        """0.00123457 BTC supports 0.00123457 × 65000 × 0.8 = 64.19764 USDT, shown as ≈ 64.1976."""
        widget.collateral_amount.value = "0.00123457"
        assert widget.quote.loan_amount == Decimal("64.1976")
        assert widget.loan_amount.value == ""
        assert widget.loan_amount.placeholder == "≈ 64.1976"
        assert "≈ estimate" in widget.loan_hint.value
        assert widget.borrow_button.description == "Borrow ≈ 64.1976 USDT"

    def test_last_typed_field_drives(self, widget: BorrowWidget) -> None:
        """Typing collateral after a loan amount makes collateral drive and clears the loan."""
        widget.loan_amount.value = "550"
        widget.collateral_amount.value = "0.1"
        assert widget.quote.driver == "collateral" and widget.loan_amount.value == ""
        assert widget.quote.request.collateral_amount == Decimal("0.1")
        assert widget.quote.request.loan_amount is None
        widget.loan_amount.value = "700"
        assert widget.quote.driver == "loan" and widget.collateral_amount.value == ""

    def test_clearing_the_driving_field_goes_idle(self, widget: BorrowWidget) -> None:
        """An empty form is idle, with Borrow disabled."""
        widget.loan_amount.value = "550"
        widget.loan_amount.value = ""
        assert widget.state is FormState.IDLE and widget.borrow_button.disabled
        assert widget.collateral_amount.placeholder == "or collateral to pledge"

    @pytest.mark.parametrize(
        ("field", "text", "message"),
        [
            ("loan_amount", "10", "10 USDT is below the minimum loan of 20"),
            ("loan_amount", "9000000", "above the maximum loan of 8,000,000"),
            ("loan_amount", "1000000", "more than this account can borrow now (520,000 USDT)"),
            ("loan_amount", "700000", "more than this account can pledge (10 BTC available)"),
            ("collateral_amount", "20", "20 BTC is more than this account can pledge"),
            ("collateral_amount", "1001", "above the collateral limit of 1,000"),
            ("collateral_amount", "0.0001", "≈ 5.2 USDT is below the minimum loan of 20"),
        ],
    )
    def test_bounds_are_checked_as_you_type(
        self, widget: BorrowWidget, field: str, text: str, message: str
    ) -> None:
        """Coin min/max, maxLimit and the account's limits, with the reason by the field."""
        getattr(widget, field).value = text
        assert widget.state is FormState.INVALID
        assert message in widget.loan_hint.value + widget.collateral_hint.value
        assert widget.borrow_button.disabled

    @pytest.mark.parametrize(
        ("field", "text", "message"),
        [
            ("loan_amount", "550.12345", "USDT allows at most 4 decimal places"),
            ("collateral_amount", "0.123456789", "BTC allows at most 8 decimal places"),
            ("loan_amount", "5e2", "is not a plain decimal number"),
            ("loan_amount", "-5", "must be greater than zero, not -5"),
            ("loan_amount", "1,000", "is not a plain decimal number"),
            ("loan_amount", "0", "must be greater than zero"),
        ],
    )
    def test_precision_and_syntax(
        self, widget: BorrowWidget, field: str, text: str, message: str
    ) -> None:
        """Too many decimals or anything but plain digits is refused next to the field."""
        getattr(widget, field).value = text
        assert widget.state is FormState.INVALID and message in widget.message
        assert message in widget.loan_hint.value + widget.collateral_hint.value

    def test_trailing_zeros_are_not_extra_precision(self, widget: BorrowWidget) -> None:
        """550.10000 USDT is 550.1: valid, and sent as 550.1."""
        widget.loan_amount.value = "550.10000"
        assert widget.state is FormState.READY
        assert widget.quote.request.to_params()["loanAmount"] == "550.1"

    def test_same_coin_on_both_sides_is_refused(self, widget: BorrowWidget) -> None:
        """Borrowing USDT against USDT is invalid."""
        widget.loan_amount.value = "550"
        widget.collateral_coin.value = "USDT"
        assert widget.state is FormState.INVALID
        assert widget.message.startswith("loan and collateral are both USDT")

    def test_other_coins_use_their_ltv_and_accuracy(self, widget: BorrowWidget) -> None:
        """1 ETH against SOL (LTV 0.6, 6 decimals): 2500 / (0.6 × 150) = 27.777778 SOL."""
        widget.loan_coin.value = "ETH"
        widget.collateral_coin.value = "SOL"
        widget.loan_amount.value = "1"
        assert widget.quote.collateral_amount == Decimal("27.777778")

    def test_typing_never_calls_the_network(self, widget: BorrowWidget, exchange) -> None:
        """Even with an expired cache, typing only recomputes from cached data."""
        widget.cache_ttl = 0
        before = len(exchange.requests)
        for text in ("5", "55", "550", "550.5", "abc", ""):
            widget.loan_amount.value = text
        widget.collateral_amount.value = "0.5"
        widget.term.value = "30"
        assert len(exchange.requests) == before

    def test_linked_update_benchmark_runs(self) -> None:
        """benchmarks/widget_timing.py measures linked updates; typing sent nothing."""
        out = subprocess.run(
            [sys.executable, str(REPO / "benchmarks" / "widget_timing.py"), "--updates", "40",
             "--json"],
            capture_output=True, text=True, timeout=120, check=True,
        )
        result = json.loads(out.stdout)
        assert result["updates"] == 40 and result["median_ms"] > 0
        assert result["network_calls_while_typing"] == 0


class TestTermsAndPreview:
    """The term row and the preview line."""

    def test_terms_not_offered_are_disabled_with_a_tooltip(self, widget: BorrowWidget) -> None:
        """USDT offers flexible, 7, 14 and 30 days; 90 and 180 are disabled buttons."""
        assert widget.term.offered == ("flexible", "7", "14", "30")
        assert widget.term.buttons["90"].disabled
        assert widget.term.buttons["90"].tooltip == "USDT offers no 90-day term"
        widget.loan_coin.value = "SOL"
        assert widget.term.offered == ("flexible",)
        widget.loan_coin.value = "USDC"
        assert widget.term.offered == ("flexible", "7", "14", "30", "90", "180")

    def test_a_disabled_term_cannot_be_pressed(self, widget: BorrowWidget) -> None:
        """Pressing a disabled term's button is undone; the selection stays."""
        widget.term.buttons["90"].value = True
        assert widget.term.value == "flexible" and not widget.term.buttons["90"].value
        widget.term.buttons["30"].value = True
        assert widget.term.value == "30" and not widget.term.buttons["flexible"].value
        widget.term.buttons["30"].value = False  # the selected term cannot be un-pressed
        assert widget.term.value == "30" and widget.term.buttons["30"].value

    def test_a_term_the_new_coin_lacks_blocks_the_form(self, widget: BorrowWidget) -> None:
        """30 days picked, then SOL (flexible only): invalid with the reason, not switched."""
        widget.loan_amount.value = "1"
        widget.term.value = "30"
        widget.loan_coin.value = "SOL"
        assert widget.term.value == "30"
        assert widget.state is FormState.INVALID
        assert widget.message == "SOL offers no 30-day term: pick another"
        assert widget.borrow_button.disabled

    def test_preview_shows_ltv_rate_interest_and_price(self, widget: BorrowWidget) -> None:
        """LTV against margin call and liquidation, hourly and annual rate, interest, price."""
        widget.loan_amount.value = "550"
        widget.term.value = "30"
        text = widget.preview.value
        assert "80.00 %" in text and "margin call at 87 %" in text
        assert "liquidation at 95 %" in text
        assert "0.002349 % per hour" in text and "20.58 % a year" in text
        assert "hourly × 24 × 365" in text
        assert "≈ 9.3021 USDT over 30 days" in text  # 550 × 0.00002349 × 24 × 30, rounded up
        assert "BTC 65,000 USDT" in text and "s ago" in text
        assert widget.quote.annual_rate == widget.quote.hourly_rate * 24 * 365

    def test_flexible_interest_is_per_day(self, widget: BorrowWidget) -> None:
        """Flexible loans show interest per day."""
        widget.loan_amount.value = "550"
        assert "≈ 0.1193 USDT per day" in widget.preview.value  # 550 × 0.0000090346 × 24

    def test_stale_prices_are_refetched_on_a_coin_change(
        self, widget: BorrowWidget, exchange
    ) -> None:
        """After the cache's TTL a coin change refetches prices and coin data."""
        widget.cache_ttl = 0
        exchange.set_price("BTC", "60000")
        widget.loan_amount.value = "600"
        assert widget.quote.collateral_amount == Decimal("0.01153847")  # old price 65000
        widget.collateral_coin.value = "ETH"
        widget.collateral_coin.value = "BTC"
        assert gets(exchange, "/v5/market/tickers") >= 2
        assert widget.quote.collateral_amount == Decimal("0.0125")  # 600 / (0.8 × 60000)

    def test_refresh_button_reloads(self, widget: BorrowWidget, exchange) -> None:
        """Refresh refetches coin data and prices now."""
        widget.refresh_button.click()
        assert gets(exchange, "/v5/market/tickers") == 2


class TestBorrow:
    """A click sends one order and shows what came of it."""

    def test_click_borrows_and_records_the_order(
        self, widget: BorrowWidget, exchange: Sandbox, ledger: Ledger
    ) -> None:
        """One POST with the exact body; order id in the traits, status, log, table, ledger."""
        widget.loan_amount.value = "550"
        widget.term.value = "30"
        widget.borrow_button.click()
        assert [p.body for p in posts(exchange)] == [
            b'{"loanCurrency":"USDT","loanAmount":"550","collateralCurrency":"BTC",'
            b'"loanTerm":"30","collateralAmount":null}'
        ]
        order_id = widget.last_order_id
        assert len(order_id) == 19 and widget.state is FormState.ACCEPTED
        assert widget.message == order_id
        assert order_id in widget.status_html.value
        assert order_id in widget.output.outputs[-1]["text"]
        assert order_id in widget.orders_html.value
        (row,) = ledger.rows()
        assert (row.source, row.status, row.order_id, row.term) == (
            "widget", "accepted", order_id, "30",
        )
        assert not widget.borrow_button.disabled and widget.borrow_button.icon == ""

    def test_inputs_are_disabled_while_sending_and_back_after(
        self, widget: BorrowWidget, exchange: Sandbox
    ) -> None:
        """During the request every input and term is off; afterwards the offered terms are on."""
        exchange.faults.set_latency(0.3, BORROW_PATH)
        widget.loan_amount.value = "550"
        seen: dict[str, object] = {}

        def look() -> None:
            wait_until(lambda: posts(exchange))
            seen["terms"], seen["amount"] = widget.term.offered, widget.loan_amount.disabled

        other = threading.Thread(target=look)
        other.start()
        widget.borrow_button.click()
        other.join(timeout=10)
        assert seen == {"terms": (), "amount": True}
        assert widget.term.offered == ("flexible", "7", "14", "30")
        assert not widget.loan_amount.disabled and not widget.api_switch.disabled

    def test_collateral_driven_order(self, widget: BorrowWidget, exchange: Sandbox) -> None:
        """Typing collateral sends collateralAmount only; the exchange sizes the loan."""
        widget.collateral_amount.value = "0.1"
        widget.borrow_button.click()
        assert posts(exchange)[0].body == (
            b'{"loanCurrency":"USDT","loanAmount":null,"collateralCurrency":"BTC",'
            b'"loanTerm":null,"collateralAmount":"0.1"}'
        )
        assert widget.state is FormState.ACCEPTED
        assert exchange.wallet["USDT"] == Decimal(100000 + 5200)

    def test_invalid_form_click_sends_nothing(self, widget: BorrowWidget, exchange) -> None:
        """button.click() ignores `disabled`; the handler still refuses an invalid form."""
        widget.loan_amount.value = "10"
        widget.borrow_button.click()
        assert posts(exchange) == [] and widget.state is FormState.INVALID

    def test_rejection_shows_retcode_and_hint(
        self, widget: BorrowWidget, exchange: Sandbox, ledger: Ledger
    ) -> None:
        """A retCode answer shows as rejected, with the exchange's message and the hint."""
        exchange.faults.inject(BORROW_PATH, "retcode", code=177012)
        widget.loan_amount.value = "550"
        widget.borrow_button.click()
        assert widget.state is FormState.REJECTED and widget.message.startswith("177012 ")
        assert "not have enough of this coin" in widget.status_html.value
        assert widget.last_order_id == ""
        assert ledger.rows()[-1].status == "rejected"

    def test_unknown_outcome_is_shown_and_holds_the_button(
        self, widget: BorrowWidget, exchange: Sandbox, ledger: Ledger
    ) -> None:
        """A lost answer is 'unknown'; Borrow stays held even when the form changes."""
        exchange.faults.inject(BORROW_PATH, "drop")
        widget.loan_amount.value = "550"
        widget.borrow_button.click()
        assert widget.state is FormState.UNKNOWN
        assert "Outcome unknown" in widget.status_html.value
        assert "held until the order is settled" in widget.status_html.value
        assert ledger.rows()[-1].status == "unknown"
        assert widget.borrow_button.disabled
        widget.rearm_after = 0
        widget.borrow_button.click()
        assert len(posts(exchange)) == 1
        widget.loan_amount.value = "551"
        assert widget.borrow_button.disabled and widget.state is FormState.HELD

    def test_unexpected_exception_lands_in_the_widget(
        self, widget: BorrowWidget, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A bug in the call path is not swallowed: status 'error: ...' and a traceback."""

        def broken(**kwargs: object) -> None:
            raise RuntimeError("boom")

        monkeypatch.setattr(widget.client, "borrow", broken)
        widget.loan_amount.value = "550"
        widget.borrow_button.click()
        assert (widget.state, widget.message) == (FormState.ERROR, "RuntimeError: boom")
        assert "Traceback" in widget.output.outputs[-1]["text"]
        assert not widget.borrow_button.disabled and not widget.sending

    def test_orders_table_shows_the_last_five(
        self, widget: BorrowWidget, client: LoanClient
    ) -> None:
        """The table holds the ledger's five newest rows, newest first."""
        for amount in ("21", "22", "23", "24", "25", "26"):
            client.borrow("USDT", amount, "BTC")
        widget.loan_amount.value = "550"
        widget.borrow_button.click()
        table = widget.orders_html.value
        assert table.count("<tr>") == 6  # header + 5 rows
        assert table.index(widget.last_order_id) < table.index("26 USDT")
        assert "21 USDT" not in table and "22 USDT" not in table


class TestNeverTwice:
    """A second click while (or just after) an order is sent does nothing."""

    def test_second_click_during_a_slow_answer(
        self, widget: BorrowWidget, exchange: Sandbox, ledger: Ledger
    ) -> None:
        """With a 0.5 s answer, a click from another thread mid-flight sends no second POST."""
        exchange.faults.set_latency(0.5, BORROW_PATH)
        widget.loan_amount.value = "550"
        seen: dict[str, object] = {}

        def second_click() -> None:
            wait_until(lambda: posts(exchange))  # the first POST is at the exchange
            seen["state"], seen["disabled"] = widget.state, widget.borrow_button.disabled
            widget.borrow_button.click()

        other = threading.Thread(target=second_click)
        other.start()
        widget.borrow_button.click()
        other.join(timeout=10)
        assert seen == {"state": FormState.SENDING, "disabled": True}
        assert len(posts(exchange)) == 1 and widget.ignored_clicks == 1
        assert (widget.state, widget.message) == (FormState.ACCEPTED, widget.last_order_id)
        assert [r.source for r in ledger.rows()] == ["widget"]

    def test_click_queued_right_behind_the_answer_is_ignored(
        self, widget: BorrowWidget, exchange: Sandbox
    ) -> None:
        """A double click queued behind the first is ignored; a later deliberate click sends."""
        widget.loan_amount.value = "550"
        widget.borrow_button.click()
        widget.borrow_button.click()
        assert len(posts(exchange)) == 1 and widget.ignored_clicks == 1
        widget.rearm_after = 0
        widget.borrow_button.click()
        assert len(posts(exchange)) == 2


class TestMainnet:
    """On mainnet the first click arms a confirmation; only the confirm click sends."""

    @pytest.fixture
    def armed(self, mainnet_client: LoanClient) -> BorrowWidget:
        """A mainnet widget with 550 USDT typed and Borrow pressed once."""
        w = BorrowWidget(client=mainnet_client)
        w.loan_amount.value = "550"
        w.borrow_button.click()
        return w

    def test_badge_is_red_and_warns(self, mainnet_client: LoanClient) -> None:
        """The badge says MAINNET in red and 'real funds'."""
        w = BorrowWidget(client=mainnet_client)
        assert "MAINNET" in w.badge.value and "#c62828" in w.badge.value
        assert "real funds" in w.badge.value

    def test_first_click_sends_nothing(self, armed: BorrowWidget, exchange: Sandbox) -> None:
        """The first click shows a confirm button naming amount, coin and network."""
        assert posts(exchange) == []
        assert armed.confirm_button.layout.display != "none"
        assert armed.confirm_button.description == "Confirm: borrow 550 USDT on MAINNET"
        assert armed.state is FormState.CONFIRM
        assert armed.message == (
            "borrow 550 USDT against ≈ 0.01057693 BTC, flexible, on MAINNET with real funds?"
        )
        assert armed.borrow_button.disabled

    def test_confirm_sends_exactly_once(
        self, armed: BorrowWidget, exchange: Sandbox, ledger: Ledger
    ) -> None:
        """Confirm sends one POST; a second confirm click does nothing."""
        armed.confirm_button.click()
        armed.confirm_button.click()
        assert len(posts(exchange)) == 1
        assert (armed.state, armed.message) == (FormState.ACCEPTED, armed.last_order_id)
        assert armed.confirm_button.layout.display == "none"
        assert [(r.network, r.source) for r in ledger.rows()] == [("mainnet", "widget")]

    def test_cancel_sends_nothing(self, armed: BorrowWidget, exchange: Sandbox) -> None:
        """Cancel hides the confirmation and re-enables Borrow."""
        armed.cancel_button.click()
        armed.confirm_button.click()
        assert posts(exchange) == [] and not armed.borrow_button.disabled
        assert armed.confirm_button.layout.display == "none"
        assert armed.state is FormState.READY

    def test_collateral_driven_confirmation_names_the_estimate(
        self, mainnet_client: LoanClient, exchange: Sandbox
    ) -> None:
        """Borrowing against 0.1 BTC: the confirm button names ≈ 5,200 USDT and MAINNET."""
        w = BorrowWidget(client=mainnet_client)
        w.collateral_amount.value = "0.1"
        assert w.borrow_button.description == "Borrow ≈ 5,200 USDT on MAINNET…"
        w.borrow_button.click()
        assert w.confirm_button.description == (
            "Confirm: borrow ≈ 5,200 USDT against 0.1 BTC on MAINNET"
        )
        w.confirm_button.click()
        assert len(posts(exchange)) == 1 and b'"collateralAmount":"0.1"' in posts(exchange)[0].body

    def test_changing_the_form_disarms(self, armed: BorrowWidget, exchange: Sandbox) -> None:
        """A change after arming withdraws the confirmation: confirm sends nothing."""
        armed.loan_amount.value = "5500"
        assert armed.confirm_button.layout.display == "none"
        armed.confirm_button.click()
        assert posts(exchange) == []

    def test_confirmation_expires(self, armed: BorrowWidget, exchange: Sandbox) -> None:
        """A stale confirmation sends nothing and asks for Borrow again."""
        armed.confirm_window = 0
        armed.confirm_button.click()
        assert posts(exchange) == [] and armed.state is FormState.INVALID
        assert "expired" in armed.message


class TestDataLoad:
    """When coin data cannot be loaded the widget says so and offers a retry."""

    def test_failure_shows_message_and_retry_works(
        self, client: LoanClient, exchange: Sandbox
    ) -> None:
        """HTTP 503 on loanable-data: a message and Retry, no traceback; Retry then loads."""
        exchange.faults.inject("/v5/crypto-loan/loanable-data", "http", status=503, times=3)
        w = BorrowWidget(client=client)
        assert w.state is FormState.ERROR
        assert w.message.startswith("could not load coin data: HTTP 503")
        assert "Could not load" in w.notice.value and "503" in w.notice.value
        assert w.retry_button.layout.display != "none"
        assert w.loan_coin.options == () and w.borrow_button.disabled
        assert w.loan_amount.disabled and not any(w.term.offered)
        assert "Traceback" not in json.dumps(w.output.outputs)
        w.retry_button.click()
        assert w.state is FormState.IDLE and w.loan_coin.value == "USDT"
        assert w.notice.value == "" and w.retry_button.layout.display == "none"
        assert not w.loan_amount.disabled and w.term.offered == ("flexible", "7", "14", "30")

    def test_prefill_before_load_is_applied_after_retry(
        self, client: LoanClient, exchange: Sandbox
    ) -> None:
        """A prefill that arrives while the data is missing waits for the retry."""
        exchange.faults.inject("/v5/crypto-loan/loanable-data", "http", status=503, times=3)
        w = BorrowWidget(client=client)
        w.prefill(BorrowRequest("USDT", "BTC", Decimal(550), term="7"))
        w.retry_button.click()
        assert (w.loan_amount.value, w.term.value, w.state) == ("550", "7", FormState.READY)

    def test_failed_refresh_keeps_the_form_working(
        self, widget: BorrowWidget, exchange: Sandbox
    ) -> None:
        """A failed refresh keeps the old data, says so, and the form still works."""
        exchange.faults.inject("/v5/market/tickers", "http", status=502, times=3)
        widget.refresh_button.click()
        assert "could not be refreshed" in widget.notice.value
        widget.loan_amount.value = "550"
        assert widget.state is FormState.READY


class TestPrefill:
    """prefill(request) fills the form without sending."""

    def test_loan_driven(self, widget: BorrowWidget, exchange: Sandbox) -> None:
        """Coins, amount and term come from the request; the loan amount drives."""
        widget.prefill(BorrowRequest("ETH", "USDC", Decimal("2"), term="14"))
        assert (widget.loan_coin.value, widget.collateral_coin.value) == ("ETH", "USDC")
        assert (widget.loan_amount.value, widget.term.value) == ("2", "14")
        assert widget.state is FormState.READY and posts(exchange) == []

    def test_collateral_driven(self, widget: BorrowWidget) -> None:
        """Without a loan amount the collateral amount drives."""
        widget.prefill(BorrowRequest("USDT", "BTC", None, Decimal("0.1"), "30"))
        assert widget.collateral_amount.value == "0.1" and widget.quote.driver == "collateral"
        assert widget.quote.loan_amount == Decimal(5200)

    def test_unknown_coin_is_reported(self, widget: BorrowWidget) -> None:
        """A coin the exchange does not offer is reported in the widget, not raised."""
        widget.prefill(BorrowRequest("DOGE", "BTC", Decimal(550)))
        assert widget.state is FormState.INVALID
        assert widget.message == "DOGE is not offered as a loan coin"


class TestEntryPoints:
    """The API, the magic and the widget write the same ledger rows for the same order."""

    def test_same_rows_from_api_magic_and_widget(
        self, client: LoanClient, ip, exchange: Sandbox, ledger: Ledger
    ) -> None:
        """550 USDT against BTC for 30 days, three ways: identical rows and bodies."""
        client.borrow(request=BorrowRequest("USDT", "BTC", Decimal(550), term="30"))
        ip.run_line_magic("borrow", "USDT 550 BTC --term 30")
        w = BorrowWidget(client=client)
        w.loan_amount.value = "550"
        w.term.value = "30"
        w.borrow_button.click()
        rows = ledger.rows()
        assert [r.source for r in rows] == ["api", "magic", "widget"]
        same = [{k: v for k, v in asdict(r).items() if k not in VOLATILE} for r in rows]
        assert same[0] == same[1] == same[2]
        assert same[0]["status"] == "accepted"
        assert len({p.body for p in posts(exchange)}) == 1


class TestMagic:
    """%borrow shows the widget."""

    def test_bare_borrow_displays_the_widget(self, ip, exchange: Sandbox) -> None:
        """`%borrow` with no arguments displays an idle BorrowWidget and returns None."""
        with capture_output() as captured:
            result = ip.run_line_magic("borrow", "")
        assert result is None
        w = displayed_widget(captured)
        assert isinstance(w, BorrowWidget)
        assert w.state is FormState.IDLE and w.source == "widget" and w.network == "sandbox"
        w.loan_amount.value = "550"
        w.borrow_button.click()
        assert w.state is FormState.ACCEPTED and len(posts(exchange)) == 1

    def test_widget_flag_prefills(self, ip, exchange: Sandbox) -> None:
        """`%borrow --widget USDT 550 BTC` displays the widget filled in, and sends nothing."""
        with capture_output() as captured:
            ip.run_line_magic("borrow", "--widget USDT 550 BTC")
        w = displayed_widget(captured)
        assert isinstance(w, BorrowWidget)
        assert (w.loan_coin.value, w.loan_amount.value, w.collateral_coin.value) == (
            "USDT", "550", "BTC",
        )
        assert w.collateral_amount.placeholder == "≈ 0.01057693"
        assert w.state is FormState.READY and posts(exchange) == []


class TestNoSecrets:
    """No widget and no trait holds the API secret or the unmasked key."""

    def test_state_never_holds_credentials(
        self, server: SandboxServer, ledger: Ledger, exchange: Sandbox
    ) -> None:
        """After a borrow with a planted key, no saved widget state contains it."""
        with LoanClient(
            network="sandbox",
            base_url=server.base_url,
            api_key=PLANTED_KEY,
            api_secret=PLANTED_SECRET,
            timeout=2.0,
            ledger=ledger,
        ) as planted:
            w = BorrowWidget(client=planted)
            w.loan_amount.value = "550"
            w.borrow_button.click()
        assert w.state is FormState.ACCEPTED
        assert posts(exchange)[0].headers["x-bapi-api-key"] == PLANTED_KEY
        assert "PL***42" in w.badge.value
        tree = widget_tree(w)
        assert not any(isinstance(d, ipywidgets.Password) for d in tree)
        dumps = [json.dumps(d.get_state(), default=str) for d in tree]
        dumps.append(json.dumps(ipywidgets.Widget.get_manager_state(), default=str))
        dumps.append(json.dumps(embed_data(views=[w]), default=str))
        dumps += [repr(getattr(d, name)) for d in tree for name in d.trait_names()]
        for text in dumps:
            assert PLANTED_SECRET not in text and PLANTED_KEY not in text
        for d in tree:
            for name in d.trait_names():
                assert not isinstance(getattr(d, name), LoanClient), name
