"""BorrowWidget never borrows twice by accident: holds, reconciling, explicit resends, dry runs.

Real widgets, real HTTP to the test sandbox, the real ledger. An order the exchange may have
executed (a lost answer, retCode 10016 after executing, an interrupt) holds Borrow on its ledger
row until reconciliation settles it; only "Send anyway" sends regardless.
"""

from __future__ import annotations

import inspect
import json
import os
import signal
import threading
import time
from collections.abc import Callable

import ipywidgets
import pytest
from ipywidgets.embed import embed_data
from support import PLANTED_KEY, PLANTED_SECRET, posts

from loan_widgets.client import LoanClient
from loan_widgets.ledger import Ledger
from loan_widgets.sandbox import DEMO_API_KEY, Sandbox, SandboxServer
from loan_widgets.widget import BorrowWidget, FormState

BORROW_PATH = "/v5/crypto-loan/borrow"
INTERNAL_ERROR = json.dumps(
    {"retCode": 10016, "retMsg": "Internal system error", "result": {}, "retExtInfo": {},
     "time": 1}
)
HAS_DUPLICATE_GUARD = "force" in inspect.signature(LoanClient.borrow).parameters


@pytest.fixture
def widget(client: LoanClient) -> BorrowWidget:
    """A widget on the test sandbox, 550 USDT against BTC typed, double-click guard off."""
    w = BorrowWidget(client=client)
    w.rearm_after = 0
    w.loan_amount.value = "550"
    return w


def executed_then_internal_error(exchange: Sandbox) -> None:
    """The next borrow is executed, then answered with retCode 10016 (an ambiguous answer)."""
    exchange.faults.inject(BORROW_PATH, "bad_json", body=INTERNAL_ERROR, execute=True)


def shown(w: BorrowWidget, name: str) -> bool:
    """Whether the sub-widget ``name`` is displayed."""
    return getattr(w, name).layout.display != "none"


class TestMayHaveBeenExecuted:
    """Every 'may have been executed' answer is shown as such and holds Borrow."""

    def test_executed_then_10016_is_not_called_rejected(
        self, widget: BorrowWidget, exchange: Sandbox, ledger: Ledger
    ) -> None:
        """The exchange executes, then answers 10016: unknown, held, never 'Rejected'."""
        executed_then_internal_error(exchange)
        widget.borrow_button.click()
        assert len(exchange.orders) == 1  # the loan exists
        assert widget.state is FormState.UNKNOWN and "10016" in widget.message
        assert "may have been executed" in widget.status_html.value
        assert "Rejected" not in widget.status_html.value
        assert ledger.rows()[-1].status == "unknown"
        assert widget.borrow_button.disabled and widget.hold is not None
        assert widget.hold.rows == (ledger.rows()[-1].id,)

    def test_second_click_after_an_ambiguous_answer_sends_nothing(
        self, widget: BorrowWidget, exchange: Sandbox
    ) -> None:
        """Finding 1: a second Borrow click does not make a second loan."""
        executed_then_internal_error(exchange)
        widget.borrow_button.click()
        widget.borrow_button.click()
        assert len(posts(exchange)) == 1 and len(exchange.orders) == 1
        assert widget.state is FormState.HELD and "may have been executed" in widget.message

    @pytest.mark.parametrize(
        "fault",
        [
            {"kind": "drop"},
            {"kind": "retcode", "code": 10000},
            {"kind": "http", "status": 502},
            {"kind": "bad_json"},
        ],
        ids=["lost answer", "10000", "gateway 502", "broken JSON"],
    )
    def test_every_unknown_outcome_holds(
        self, widget: BorrowWidget, exchange: Sandbox, ledger: Ledger, fault: dict
    ) -> None:
        """Lost answer, 10000, a gateway 5xx, broken JSON: the same hold and wording."""
        exchange.faults.inject(BORROW_PATH, **fault)
        widget.borrow_button.click()
        assert widget.state is FormState.UNKNOWN
        assert "may have been executed" in widget.status_html.value
        assert ledger.rows()[-1].status == "unknown"
        assert widget.borrow_button.disabled
        assert shown(widget, "reconcile_button") and shown(widget, "send_anyway_button")

    def test_changing_the_form_keeps_the_hold(
        self, widget: BorrowWidget, exchange: Sandbox
    ) -> None:
        """Another amount, coin or term does not release Borrow; a click sends nothing."""
        exchange.faults.inject(BORROW_PATH, "drop")
        widget.borrow_button.click()
        for field, value in (("loan_amount", "551"), ("collateral_coin", "ETH")):
            getattr(widget, field).value = value
            assert widget.borrow_button.disabled and widget.state is FormState.HELD
        widget.term.value = "7"
        widget.borrow_button.click()
        assert len(posts(exchange)) == 1
        assert "held" in widget.borrow_button.tooltip

    def test_hold_buttons_show_only_while_held(self, widget: BorrowWidget, exchange) -> None:
        """Check the exchange and Send anyway are hidden until an order is held."""
        assert not shown(widget, "reconcile_button") and not shown(widget, "send_anyway_button")
        widget.borrow_button.click()
        assert widget.state is FormState.ACCEPTED and widget.hold is None
        assert not shown(widget, "reconcile_button") and not shown(widget, "send_anyway_button")

    def test_interrupt_while_waiting_holds_the_order(
        self, widget: BorrowWidget, exchange: Sandbox, ledger: Ledger
    ) -> None:
        """Ctrl-C (SIGINT) while the answer is delayed: re-raised, and Borrow held on the row."""
        exchange.faults.set_latency(1.0, BORROW_PATH)

        def interrupt_once_sent() -> None:
            deadline = time.monotonic() + 10
            while not posts(exchange) and time.monotonic() < deadline:
                time.sleep(0.005)
            os.kill(os.getpid(), signal.SIGINT)

        other = threading.Thread(target=interrupt_once_sent)
        other.start()
        with pytest.raises(KeyboardInterrupt):
            widget.borrow_button.click()
        other.join(timeout=10)
        (row,) = ledger.rows()
        assert row.status in ("pending", "unknown")
        assert widget.hold is not None and widget.hold.rows == (row.id,)
        assert widget.state is FormState.UNKNOWN and "interrupted" in widget.message
        assert widget.borrow_button.disabled and not widget.sending


class TestCheckTheExchange:
    """'Check the exchange' reconciles: the hold ends only when the row is settled."""

    def test_an_executed_order_is_found_and_released(
        self, widget: BorrowWidget, exchange: Sandbox, ledger: Ledger
    ) -> None:
        """Executed-then-10016: reconcile finds the loan; accepted with its id; Borrow back."""
        executed_then_internal_error(exchange)
        widget.borrow_button.click()
        widget.reconcile_button.click()
        (order_id,) = exchange.orders
        (row,) = ledger.rows()
        assert (row.status, row.order_id) == ("accepted", order_id)
        assert (widget.state, widget.message, widget.last_order_id) == (
            FormState.ACCEPTED, order_id, order_id
        )
        assert "executed" in widget.status_html.value and widget.hold is None
        assert not widget.borrow_button.disabled and not shown(widget, "send_anyway_button")
        assert len(posts(exchange)) == 1  # reading the exchange sent no order
        assert order_id in widget.orders_html.value

    def test_an_order_never_executed_is_released(
        self, widget: BorrowWidget, exchange: Sandbox, ledger: Ledger
    ) -> None:
        """A 502 the gateway gave before the exchange: not_executed, and Borrow is back."""
        exchange.faults.inject(BORROW_PATH, "http", status=502)
        widget.borrow_button.click()
        assert widget.hold is not None
        widget.reconcile_button.click()
        assert ledger.rows()[-1].status == "not_executed" and widget.hold is None
        assert widget.state is FormState.READY and "not executed" in widget.status_html.value
        assert not widget.borrow_button.disabled and exchange.orders == {}
        widget.borrow_button.click()
        assert widget.state is FormState.ACCEPTED and len(posts(exchange)) == 2

    def test_reconciled_elsewhere_releases_on_the_next_click(
        self, widget: BorrowWidget, exchange: Sandbox, client: LoanClient
    ) -> None:
        """Settled by %borrow --reconcile elsewhere: the next click releases, sends nothing."""
        executed_then_internal_error(exchange)
        widget.borrow_button.click()
        client.reconcile()
        widget.borrow_button.click()
        assert widget.hold is None and widget.state is FormState.ACCEPTED
        assert len(posts(exchange)) == 1
        widget.borrow_button.click()
        assert len(posts(exchange)) == 2

    def test_an_unreadable_exchange_keeps_the_hold(
        self, widget: BorrowWidget, exchange: Sandbox, ledger: Ledger
    ) -> None:
        """The loan list cannot be read: nothing is decided, so Borrow stays held."""
        exchange.faults.inject(BORROW_PATH, "drop")
        widget.borrow_button.click()
        exchange.faults.inject("/v5/crypto-loan/ongoing-orders", "http", status=503, times=9)
        widget.reconcile_button.click()
        assert ledger.rows()[-1].status == "unknown"
        assert widget.hold is not None and widget.borrow_button.disabled
        assert widget.state is FormState.HELD and "still unsettled" in widget.message
        assert len(posts(exchange)) == 1


class TestSendAnyway:
    """Sending while held is an explicit, visible choice."""

    def test_send_anyway_sends_once_and_the_hold_stays(
        self, widget: BorrowWidget, exchange: Sandbox, ledger: Ledger
    ) -> None:
        """One more POST; the first order is still unsettled, so Borrow stays held."""
        exchange.faults.inject(BORROW_PATH, "drop")
        widget.borrow_button.click()
        widget.send_anyway_button.click()
        assert len(posts(exchange)) == 2
        assert widget.state is FormState.ACCEPTED and widget.last_order_id
        assert [r.status for r in ledger.rows()] == ["unknown", "accepted"]
        assert widget.hold is not None and widget.borrow_button.disabled
        assert "Borrow is held" in widget.status_html.value

    def test_send_anyway_without_a_hold_does_nothing(
        self, widget: BorrowWidget, exchange: Sandbox
    ) -> None:
        """Clicked from code while nothing is held, it is ignored."""
        widget.send_anyway_button.click()
        assert posts(exchange) == [] and widget.ignored_clicks == 1

    def test_on_mainnet_send_anyway_asks_for_confirmation(
        self, sandbox_client: Callable[..., LoanClient], exchange: Sandbox
    ) -> None:
        """Mainnet: Send anyway arms Confirm; only Confirm sends."""
        w = BorrowWidget(client=sandbox_client(network="mainnet"))
        w.rearm_after = 0
        w.loan_amount.value = "550"
        exchange.faults.inject(BORROW_PATH, "drop")
        w.borrow_button.click()
        w.confirm_button.click()
        assert w.hold is not None and len(posts(exchange)) == 1
        w.send_anyway_button.click()
        assert len(posts(exchange)) == 1 and w.state is FormState.CONFIRM
        assert w.message.startswith("send anyway: borrow 550 USDT")
        w.confirm_button.click()
        assert len(posts(exchange)) == 2 and w.state is FormState.ACCEPTED

    @pytest.mark.skipif(not HAS_DUPLICATE_GUARD, reason="needs LoanClient.borrow(force=...)")
    def test_an_identical_unsettled_order_from_elsewhere_holds(
        self, widget: BorrowWidget, exchange: Sandbox, client: LoanClient, ledger: Ledger
    ) -> None:
        """%borrow's order is still unknown: the client refuses the twin, the widget holds it."""
        exchange.faults.inject(BORROW_PATH, "drop")
        with pytest.raises(Exception, match="outcome unknown"):
            client.borrow("USDT", "550", "BTC", source="magic")
        widget.borrow_button.click()
        assert widget.state is FormState.HELD and len(posts(exchange)) == 1
        assert widget.hold is not None and widget.hold.rows == (ledger.rows()[0].id,)
        widget.send_anyway_button.click()
        assert widget.state is FormState.ACCEPTED and len(posts(exchange)) == 2


class TestDryRun:
    """dry_run=True: Borrow shows the exact signed request and sends nothing."""

    def test_shows_the_signed_request_and_sends_nothing(
        self, client: LoanClient, exchange: Sandbox, ledger: Ledger
    ) -> None:
        """Method, URL and exact body; key masked, signature hidden; no POST, no ledger row."""
        w = BorrowWidget(client=client, dry_run=True)
        w.loan_amount.value = "550"
        assert w.borrow_button.description == "Dry run: Borrow 550 USDT"
        assert "DRY RUN" in w.badge.value
        w.borrow_button.click()
        assert w.state is FormState.DRY_RUN
        assert w.message == f"POST {client.base_url}{BORROW_PATH}"
        text = w.status_html.value + w.output.outputs[-1]["text"]
        assert "nothing was sent" in text
        assert "X-BAPI-SIGN: &lt;64 characters, hidden&gt;" in w.status_html.value
        assert "SA***01" in text and DEMO_API_KEY not in text
        assert (
            '{"loanCurrency":"USDT","loanAmount":"550","collateralCurrency":"BTC",'
            '"loanTerm":null,"collateralAmount":null}'
        ) in w.output.outputs[-1]["text"]
        assert posts(exchange) == [] and ledger.rows() == []
        assert not any(r.method == "POST" for r in exchange.requests)

    def test_on_mainnet_nothing_is_armed(
        self, sandbox_client: Callable[..., LoanClient], exchange: Sandbox
    ) -> None:
        """A mainnet dry run needs no confirmation: there is nothing to confirm."""
        w = BorrowWidget(client=sandbox_client(network="mainnet"), dry_run=True)
        w.loan_amount.value = "550"
        w.borrow_button.click()
        assert w.state is FormState.DRY_RUN and w.confirm_button.layout.display == "none"
        assert posts(exchange) == []

    def test_no_secret_in_the_dry_run(
        self, server: SandboxServer, ledger: Ledger, exchange: Sandbox
    ) -> None:
        """With a planted key and secret, neither appears in any widget state or output."""
        with LoanClient(
            network="sandbox", base_url=server.base_url, api_key=PLANTED_KEY,
            api_secret=PLANTED_SECRET, timeout=2.0, ledger=ledger,
        ) as planted:
            w = BorrowWidget(client=planted, dry_run=True)
            w.loan_amount.value = "550"
            w.borrow_button.click()
        assert w.state is FormState.DRY_RUN and "PL***42" in w.status_html.value
        dumps = [json.dumps(embed_data(views=[w]), default=str),
                 json.dumps(ipywidgets.Widget.get_manager_state(), default=str),
                 json.dumps(list(w.output.outputs)), w.status, w.message]
        for text in dumps:
            assert PLANTED_SECRET not in text and PLANTED_KEY not in text


class TestBadge:
    """The badge says which host orders go to, never with user info."""

    def test_badge_names_the_host(self, client: LoanClient, server: SandboxServer) -> None:
        """A client with a base URL: the badge shows its host and port."""
        w = BorrowWidget(client=client)
        host = server.base_url.split("://", 1)[1]
        assert host in w.badge.value and "legacy loan API" in w.badge.value
