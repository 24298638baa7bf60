"""BorrowWidget on the new loan API, headless: the pooled-collateral form against the sandbox.

Real widgets, real HTTP to the test sandbox: what the form shows comes from the sandbox's
new-API tables, market and account; what a click sends is read from what the sandbox received
(``exchange.requests``); the preview's pool figures are checked against the sandbox's own
``position`` after the borrow.
"""

from __future__ import annotations

import dataclasses
import html
import json
import re
from collections.abc import Callable
from decimal import Decimal

import pytest
from support import posts

from loan_widgets.client import LoanClient
from loan_widgets.ledger import Ledger
from loan_widgets.pool_quote import PoolQuote
from loan_widgets.sandbox import Sandbox
from loan_widgets.widget import BorrowWidget, FormState
from loan_widgets.widget.render import percent

D = Decimal
FLEXIBLE_BORROW = "/v5/crypto-loan-flexible/borrow"
FIXED_BORROW = "/v5/crypto-loan-fixed/borrow"
POSITION = "/v5/crypto-loan-common/position"


@pytest.fixture
def widget(client: LoanClient) -> BorrowWidget:
    """A widget on the new API, double-click guard off."""
    w = BorrowWidget(client=client, api="new")
    w.rearm_after = 0
    return w


def text(markup: str) -> str:
    """Markup as the words a person reads."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", markup)).split())


def position(client: LoanClient) -> dict:
    """The sandbox's own account position, read with the client."""
    return client.new.position()


def pool_quote(w: BorrowWidget) -> PoolQuote:
    """The widget's last quote, a new-API one."""
    assert isinstance(w.quote, PoolQuote)
    return w.quote


class TestExchangeData:
    """Terms, limits and precision come from the new API's loanable-data."""

    def test_terms_and_bounds_per_kind(self, widget: BorrowWidget) -> None:
        """USDT: flexible and every fixed term; min 20 flexible, 100 fixed; 4 decimals."""
        assert widget.term.offered == ("flexible", "7", "14", "30", "60", "90", "180")
        assert "min 20 · max 8,000,000 · account max now 0 USDT · 4 decimals (flexible)" in (
            text(widget.loan_hint.value))
        assert widget.term.buttons["30"].tooltip == "30 days: lenders offer from 5 % a year"
        assert widget.term.buttons["180"].tooltip.startswith("180 days: no lender offers")
        widget.term.value = "30"
        assert "min 100 · max 8,000,000" in text(widget.loan_hint.value)
        widget.annual_rate.value = "0.05"
        widget.loan_amount.value = "50"
        assert widget.state is FormState.INVALID
        assert widget.message == "50 USDT is below the minimum fixed loan of 100"
        widget.term.value = "flexible"
        assert widget.state is FormState.READY

    def test_a_coin_without_fixed_loans(self, widget: BorrowWidget) -> None:
        """SOL is lent flexibly only: its fixed terms are disabled, with the reason."""
        widget.loan_coin.value = "SOL"
        assert widget.term.offered == ("flexible",)
        assert widget.term.buttons["30"].tooltip == "SOL has no fixed loans on the new loan API"

    def test_the_form_follows_the_exchanges_tables(
        self, widget: BorrowWidget, exchange: Sandbox
    ) -> None:
        """The sandbox raises USDT's flexible minimum to 25: after Refresh the form says so."""
        book = exchange.new_api
        with exchange.lock:
            book.loan_coins["USDT"] = dataclasses.replace(book.loan_coins["USDT"],
                                                          min_flexible=D(25))
        widget.loan_amount.value = "21"
        assert widget.state is FormState.READY  # the tables loaded before the change
        widget.refresh_button.click()
        assert widget.message == "21 USDT is below the minimum flexible loan of 25"

    def test_the_pools_coins(self, widget: BorrowWidget, exchange: Sandbox) -> None:
        """The collateral dropdown lists the coins collateral-data gives bands to."""
        assert widget.collateral_coin.options == ("BTC", "ETH", "SOL", "USDC", "USDT", "XRP")
        assert widget.loan_coin.options == ("BTC", "ETH", "SOL", "USDC", "USDT", "XRP")

    def test_typing_never_calls_the_network(
        self, widget: BorrowWidget, exchange: Sandbox
    ) -> None:
        """Amounts, pledge, terms and rates: no request while typing."""
        before = len(exchange.requests)
        for value in ("5", "55", "550", "550.5"):
            widget.loan_amount.value = value
        widget.collateral_amount.value = "0.02"
        widget.term.value = "14"
        for value in ("0.0", "0.04", "0.042"):
            widget.annual_rate.value = value
        widget.term.value = "flexible"
        assert len(exchange.requests) == before
        assert widget.state is FormState.READY


class TestPreview:
    """The pool before and after, checked against the sandbox's position after the borrow."""

    def test_pledged_borrow_matches_the_position_after(
        self, widget: BorrowWidget, client: LoanClient, exchange: Sandbox
    ) -> None:
        """550 USDT with 0.02 BTC pledged: the preview's LTV, debt and collateral are the
        exchange's after the borrow (550 / 1300 = 42.31 %)."""
        widget.loan_amount.value = "550"
        widget.collateral_amount.value = "0.02"
        q = pool_quote(widget)
        shown = text(widget.preview.value)
        assert "before 0 % (no debt) → after 42.31 %" in shown
        assert "0.02 BTC (≈ 1,300.00 USDT, counts 1,300.00 USD in the pool)" in shown
        assert "≈ 1,040 with this pledge" in shown
        widget.borrow_button.click()
        assert widget.state is FormState.ACCEPTED
        body = json.loads(posts(exchange, FLEXIBLE_BORROW)[0].body)
        assert body == {"loanCurrency": "USDT", "loanAmount": "550",
                        "collateralList": [{"currency": "BTC", "amount": "0.02"}]}
        after = position(client)
        assert q.pool.ltv_after is not None
        assert abs(q.pool.ltv_after - D(after["ltv"])) <= D("0.000001")
        assert q.pool.debt_usd_after == D(after["totalDebt"])
        assert q.pool.collateral_usd_after == D(after["totalCollateral"])
        assert percent(D(after["ltv"])) == "42.31"

    def test_the_exchange_sizes_a_blank_pledge(
        self, widget: BorrowWidget, client: LoanClient, exchange: Sandbox
    ) -> None:
        """A second borrow with the pledge left blank: the form's estimate is what the client
        pledged (asked of max-loan), and its LTV after is the exchange's."""
        widget.loan_amount.value = "550"
        widget.collateral_amount.value = "0.02"
        widget.borrow_button.click()
        widget.collateral_amount.value = ""
        widget.loan_amount.value = "1000"
        q = pool_quote(widget)
        assert q.pool.ltv_before == D("0.423077") and q.pool.max_now == D(490)
        assert q.pool.limit_source == "exchange"  # read back from max-loan: (490 + 550) / 1300
        assert widget.collateral_amount.placeholder == "≈ 0.0098077"
        assert "read from max-loan" in text(widget.collateral_hint.value)
        widget.borrow_button.click()
        assert widget.state is FormState.ACCEPTED
        (sent,) = json.loads(posts(exchange, FLEXIBLE_BORROW)[1].body)["collateralList"]
        assert sent["currency"] == "BTC" and D(sent["amount"]) == q.pool.pledge
        after = position(client)
        assert abs(q.pool.ltv_after - D(after["ltv"])) <= D("0.000001")
        assert q.pool.debt_usd_after == D(after["totalDebt"]) == D(1550)

    def test_the_pool_is_read_again_after_the_order(
        self, widget: BorrowWidget, exchange: Sandbox
    ) -> None:
        """After a borrow the preview starts from the new pool: before is the last after."""
        reads = sum(1 for r in exchange.requests if r.path == POSITION)
        widget.loan_amount.value = "550"
        widget.collateral_amount.value = "0.02"
        widget.borrow_button.click()
        assert sum(1 for r in exchange.requests if r.path == POSITION) == reads + 1
        widget.loan_amount.value = "100"
        widget.collateral_amount.value = ""
        assert "before 42.31 % → after" in text(widget.preview.value)
        assert "490 USDT now (max-loan)" in text(widget.preview.value)

    def test_fixed_rate_that_fills_now(
        self, widget: BorrowWidget, client: LoanClient, exchange: Sandbox
    ) -> None:
        """14 days, 1,000 USDT: 0.04 covers 988.78 only, 0.042 all of it. *Use 4.2 %* puts it
        in; the order fills at once into a contract, and the pool's LTV is as shown."""
        widget.loan_amount.value = "1000"
        widget.collateral_amount.value = "0.03"
        widget.term.value = "14"
        assert widget.state is FormState.INVALID and "annual rate" in widget.message
        assert text(widget.rate_hint.value).endswith("4.2 % a year fills 1,000 USDT now")
        assert widget.use_rate_button.description == "Use 4.2 %"
        widget.annual_rate.value = "0.04"
        assert "988.78 fills now, 11.22 waits for lenders" in text(widget.preview.value)
        widget.use_rate_button.click()
        assert widget.annual_rate.value == "0.042" and widget.state is FormState.READY
        assert widget.use_rate_button.layout.display == "none"
        q = pool_quote(widget)
        assert "fills now" in text(widget.preview.value)
        widget.borrow_button.click()
        assert widget.state is FormState.ACCEPTED
        body = json.loads(posts(exchange, FIXED_BORROW)[0].body)
        assert (body["orderAmount"], body["term"], body["annualRate"]) == ("1000", "14", "0.042")
        contracts = client.new.fixed_contracts()
        assert sum(D(c["residualPrincipal"]) for c in contracts) == D(1000)
        after = position(client)
        assert abs(q.pool.ltv_after - D(after["ltv"])) <= D("0.000001")  # 1000 / 1950

    def test_a_waiting_order_is_said(self, widget: BorrowWidget) -> None:
        """Below every offer the order waits, its pledge locked: the form says it, and lets
        it be sent (the rate is the borrower's choice)."""
        widget.loan_amount.value = "550"
        widget.term.value = "30"
        widget.annual_rate.value = "0.03"
        assert widget.state is FormState.READY
        assert "waits for lenders" in text(widget.preview.value)
        assert "the whole amount fills now at 5 %" in text(widget.preview.value)

    def test_without_a_key_the_pool_is_not_shown(
        self, sandbox_client: Callable[..., LoanClient], server: object
    ) -> None:
        """A testnet client with no key: no pool figures, a note saying why; the form works."""
        w = BorrowWidget(client=LoanClient(network="testnet", base_url=server.base_url,  # type: ignore[attr-defined]
                                           timeout=2.0), api="new")
        w.loan_amount.value = "550"
        assert w.state is FormState.READY
        assert "need an API key" in text(w.preview.value)
        assert "Pool LTV" not in text(w.preview.value)


class TestSafety:
    """Hold, force, confirmation and dry run behave as on the legacy form."""

    def test_dry_run_shows_the_signed_request(
        self, client: LoanClient, exchange: Sandbox, ledger: Ledger
    ) -> None:
        """Dry run on the new API: the flexible endpoint and its body, nothing sent."""
        w = BorrowWidget(client=client, api="new", dry_run=True)
        w.loan_amount.value = "550"
        w.collateral_amount.value = "0.02"
        w.borrow_button.click()
        assert w.state is FormState.DRY_RUN and FLEXIBLE_BORROW in w.message
        assert '"collateralList":[{"currency":"BTC","amount":"0.02"}]' in html.unescape(
            w.status_html.value)
        assert posts(exchange, FLEXIBLE_BORROW) == [] and ledger.rows() == []

    def test_dry_run_without_a_pledge_says_it_will_be_sized(
        self, client: LoanClient, exchange: Sandbox, ledger: Ledger
    ) -> None:
        """Dry run with the pledge left blank: the body has no collateralList and the panel
        says sending adds the pledge max-loan sizes; nothing is sent, not even max-loan."""
        w = BorrowWidget(client=client, api="new", dry_run=True)
        w.loan_amount.value = "550"
        w.collateral_amount.value = ""
        before = len(exchange.requests)
        w.borrow_button.click()
        shown = html.unescape(w.status_html.value)
        assert w.state is FormState.DRY_RUN and "collateralList" not in shown.split("Note:")[0]
        assert "Note: when sent, the client first asks max-loan" in shown
        assert [r for r in list(exchange.requests)[before:] if r.method == "POST"] == []
        assert ledger.rows() == []

    def test_a_lost_answer_holds_and_send_anyway_forces(
        self, widget: BorrowWidget, exchange: Sandbox, ledger: Ledger
    ) -> None:
        """Executed but unanswered: held whatever the form says; Send anyway sends once more."""
        exchange.faults.inject(FLEXIBLE_BORROW, "drop", execute=True)
        widget.loan_amount.value = "550"
        widget.collateral_amount.value = "0.02"
        widget.borrow_button.click()
        assert widget.state is FormState.UNKNOWN and widget.hold is not None
        assert [r.status for r in ledger.rows()] == ["unknown"]
        widget.loan_amount.value = "560"
        widget.borrow_button.click()
        assert widget.state is FormState.HELD and len(posts(exchange, FLEXIBLE_BORROW)) == 1
        widget.send_anyway_button.click()
        assert widget.state is FormState.ACCEPTED
        taken = [json.loads(r.body)["loanAmount"] for r in posts(exchange, FLEXIBLE_BORROW)
                 if r.ret_code != 10006]  # 10006: the 1/s write limit, waited out, not executed
        assert taken == ["550", "560"]
        assert [r.status for r in ledger.rows()] == ["unknown", "accepted"]

    def test_mainnet_fixed_confirms_first(
        self, sandbox_client: Callable[..., LoanClient], exchange: Sandbox
    ) -> None:
        """Mainnet, 30 days at 5 %: Borrow arms a confirmation naming it; Confirm sends once."""
        w = BorrowWidget(client=sandbox_client(network="mainnet"), api="new")
        w.loan_amount.value = "550"
        w.collateral_amount.value = "0.02"
        w.term.value = "30"
        w.annual_rate.value = "0.05"
        w.borrow_button.click()
        assert w.state is FormState.CONFIRM and posts(exchange, FIXED_BORROW) == []
        assert w.message == ("borrow 550 USDT against 0.02 BTC, 30 days at 5 % a year, "
                             "on MAINNET with real funds?")
        w.annual_rate.value = "0.055"  # a change withdraws the confirmation
        w.confirm_button.click()
        assert posts(exchange, FIXED_BORROW) == []
        w.borrow_button.click()
        w.confirm_button.click()
        assert w.state is FormState.ACCEPTED and len(posts(exchange, FIXED_BORROW)) == 1

    def test_switching_apis_keeps_what_applies(self, client: LoanClient) -> None:
        """Legacy to new keeps the loan amount; back to legacy keeps the field typed last."""
        w = BorrowWidget(client=client)
        w.loan_amount.value = "550"
        w.api_switch.value = "new"
        w.collateral_amount.value = "0.02"
        assert (w.loan_amount.value, w.collateral_amount.value) == ("550", "0.02")
        assert w.state is FormState.READY and "Pool LTV" in text(w.preview.value)
        w.api_switch.value = "legacy"
        assert (w.loan_amount.value, w.collateral_amount.value) == ("", "0.02")
        assert w.state is FormState.READY and "Pool LTV" not in text(w.preview.value)
