"""The profile pickers of the BorrowWidget and the LoanDesk, headless, on real sandboxes.

Profiles are stored in a real file keyring (``keyring_file``) with ``support.store_profile``;
the testnet ones are bound to the two test sandboxes (``server`` knows PLANTED_KEY,
``other_server`` OTHER_KEY), so which key signed what is read from what each sandbox received.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest
from support import (
    OTHER_KEY,
    OTHER_SECRET,
    PLANTED_KEY,
    PLANTED_SECRET,
    posts,
    store_profile,
    wait_until,
)

from loan_widgets import keys
from loan_widgets.client import LoanClient
from loan_widgets.desk import LoanDesk
from loan_widgets.ledger import Ledger
from loan_widgets.sandbox import Sandbox, SandboxServer
from loan_widgets.widget import BorrowWidget, FormState

LOANABLE = "/v5/crypto-loan/loanable-data"
REPAY = "/v5/crypto-loan/repay"



@pytest.fixture
def stored(keyring_file: object, server: SandboxServer, other_server: SandboxServer) -> None:
    """Three profiles: tn (PLANTED_KEY at server), other (OTHER_KEY at other_server), main
    (a mainnet key, bound to no host)."""
    store_profile("tn", "testnet", PLANTED_KEY, PLANTED_SECRET, host=server.base_url)
    store_profile("other", "testnet", OTHER_KEY, OTHER_SECRET, host=other_server.base_url)
    store_profile("main", "mainnet", "MAINKEY0001", "main-secret-never-sent")


@pytest.fixture
def widget(client: LoanClient) -> BorrowWidget:
    """A widget on the test sandbox with the demo key, double-click guard off."""
    w = BorrowWidget(client=client)
    w.rearm_after = 0
    return w


@pytest.fixture
def desk(client: LoanClient) -> Iterator[LoanDesk]:
    """A desk on the test sandbox, refreshed by hand."""
    d = LoanDesk(client, live=False)
    yield d
    d.close()


def signed(exchange: Sandbox, path: str) -> list[str | None]:
    """The API keys of the POSTs to ``path`` the exchange received, in order."""
    return [r.headers.get("x-bapi-api-key") for r in posts(exchange, path)]


class TestWithoutProfiles:
    """No profile configured: no picker, the widgets act for the client they were given."""

    def test_widget_and_desk_hide_the_picker(self, widget: BorrowWidget, desk: LoanDesk) -> None:
        """Hidden, and the badges name the given client's masked key."""
        for w in (widget, desk):
            assert w.profile_picker.layout.display == "none"
            assert "account <code>SA***01</code>" in w.badge.value
        assert widget.profile is None


@pytest.mark.usefixtures("stored")
class TestBorrowWidgetPicker:
    """Picking a profile gives the widget that profile's client, data and badge."""

    def test_lists_names_networks_and_masked_keys(self, widget: BorrowWidget) -> None:
        """The given client first, then each profile by network and name; never a whole key."""
        assert widget.profile_picker.layout.display != "none"
        assert list(widget.profile_picker.options) == [
            ("as given: sandbox · SA***01", ""),
            ("main · mainnet · MA***01", "main"),
            ("other · testnet · OT***77", "other"),
            ("tn · testnet · PL***42", "tn"),
        ]
        assert widget.profile_picker.value == ""

    def test_a_client_built_for_a_profile(self, ledger: Ledger) -> None:
        """LoanClient(profile='tn') given: the picker shows tn, with no separate entry."""
        w = BorrowWidget(client=LoanClient(profile="tn", ledger=ledger))
        assert w.profile_picker.value == "tn" and w.profile is not None
        assert "" not in [v for _, v in w.profile_picker.options]
        assert "profile <b>tn</b> · key <code>PL***42</code>" in w.badge.value
        w.profile_picker.value = "other"
        w.profile_picker.value = "tn"
        assert w.client.profile == "tn" and w.client is w.profile_picker.given

    def test_picking_signs_with_that_profile(
        self, widget: BorrowWidget, client: LoanClient, exchange: Sandbox, ledger: Ledger,
        server: SandboxServer,
    ) -> None:
        """tn: a testnet client with tn's key, the same ledger; data loaded again; the badge
        names the profile, its masked key and its host."""
        loads = sum(1 for r in exchange.requests if r.path == LOANABLE)
        widget.profile_picker.value = "tn"
        assert widget.client is not client and widget.client.profile == "tn"
        assert widget.client.ledger.path == ledger.path and widget.client.source == client.source
        assert widget.network == "testnet" and widget.profile is not None
        assert sum(1 for r in exchange.requests if r.path == LOANABLE) == loads + 1
        badge = widget.badge.value
        assert "TESTNET" in badge and "profile <b>tn</b>" in badge and "PL***42" in badge
        assert server.base_url.removeprefix("http://") in badge and PLANTED_KEY not in badge
        widget.loan_amount.value = "550"
        widget.borrow_button.click()
        assert widget.state is FormState.ACCEPTED
        assert signed(exchange, "/v5/crypto-loan/borrow") == [PLANTED_KEY]
        (row,) = ledger.rows()
        assert (row.network, row.source, row.order_id) == ("testnet", "widget",
                                                           widget.last_order_id)

    def test_another_account_on_another_host(
        self, widget: BorrowWidget, exchange: Sandbox, other_server: SandboxServer
    ) -> None:
        """other: its sandbox serves the data and receives the order, signed with its key."""
        widget.profile_picker.value = "other"
        widget.api_switch.value = "new"
        widget.loan_amount.value = "550"
        widget.borrow_button.click()
        assert widget.state is FormState.ACCEPTED
        assert signed(other_server.sandbox, "/v5/crypto-loan-flexible/borrow") == [OTHER_KEY]
        assert posts(exchange, "/v5/crypto-loan-flexible/borrow") == []
        assert "profile <b>other</b>" in widget.badge.value and "OT***77" in widget.badge.value

    def test_back_to_the_given_client(self, widget: BorrowWidget, client: LoanClient) -> None:
        """Picking 'as given' restores the very client the widget was given."""
        widget.profile_picker.value = "tn"
        widget.profile_picker.value = ""
        assert widget.client is client and widget.profile is None
        assert "SANDBOX" in widget.badge.value and "account <code>SA***01</code>" in (
            widget.badge.value)

    def test_a_mainnet_profile_arms_the_confirmation(
        self, widget: BorrowWidget, exchange: Sandbox, server: SandboxServer,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """main (its data from the test sandbox through LOAN_WIDGETS_BASE_URL): MAINNET, real
        funds, Borrow asks for confirmation; Confirm is refused before anything is sent, as a
        mainnet key never goes to a host that is not Bybit mainnet."""
        monkeypatch.setenv("LOAN_WIDGETS_BASE_URL", server.base_url)
        widget.profile_picker.value = "main"
        assert widget.network == "mainnet" and widget.state is FormState.IDLE
        assert "MAINNET" in widget.badge.value and "real funds" in widget.badge.value
        assert "profile <b>main</b>" in widget.badge.value and "MA***01" in widget.badge.value
        widget.loan_amount.value = "550"
        assert widget.borrow_button.description == "Borrow 550 USDT on MAINNET…"
        widget.borrow_button.click()
        assert widget.state is FormState.CONFIRM and posts(exchange) == []
        widget.confirm_button.click()
        assert "mainnet keys are sent to mainnet hosts only" in widget.message
        assert posts(exchange) == []

    def test_picking_withdraws_a_pending_confirmation(
        self, sandbox_client: Callable[..., LoanClient], exchange: Sandbox
    ) -> None:
        """Armed on mainnet, then tn is picked: Confirm sends nothing, to either host."""
        w = BorrowWidget(client=sandbox_client(network="mainnet"))
        w.loan_amount.value = "550"
        w.borrow_button.click()
        assert w.state is FormState.CONFIRM
        w.profile_picker.value = "tn"
        assert w.confirm_button.layout.display == "none"
        w.confirm_button.click()
        assert posts(exchange) == [] and w.network == "testnet"

    def test_a_profile_gone_meanwhile_is_refused(
        self, widget: BorrowWidget, client: LoanClient
    ) -> None:
        """Removed after the picker was filled: said in the log, the picker goes back."""
        keys.remove("other")
        widget.profile_picker.value = "other"
        assert widget.profile_picker.value == "" and widget.client is client
        assert "profile 'other' cannot be used" in widget.output.outputs[-1]["text"]
        assert "no credentials profile named 'other'" in widget.output.outputs[-1]["text"]

    def test_refresh_reads_the_profiles_again(
        self, widget: BorrowWidget, client: LoanClient, server: SandboxServer
    ) -> None:
        """A profile added after the widget opened appears on Refresh; removing the one in use
        takes the widget back to the client it was given, and says so."""
        store_profile("late", "testnet", PLANTED_KEY, PLANTED_SECRET, host=server.base_url)
        assert "late" not in [v for _, v in widget.profile_picker.options]
        widget.refresh_button.click()
        assert ("late · testnet · PL***42", "late") in widget.profile_picker.options
        widget.profile_picker.value = "late"
        assert widget.client.profile == "late"
        keys.remove("late")
        widget.refresh_button.click()
        assert widget.client is client and widget.profile_picker.value == ""
        logged = "".join(o["text"] for o in widget.output.outputs)
        assert "profile 'late' is no longer configured" in logged
        assert widget.state is FormState.IDLE and "SANDBOX" in widget.badge.value

    def test_the_picker_is_off_while_sending(
        self, widget: BorrowWidget, exchange: Sandbox
    ) -> None:
        """While an order is on its way the profile cannot change."""
        exchange.faults.set_latency(0.3, "/v5/crypto-loan/borrow")
        widget.loan_amount.value = "550"
        seen: dict[str, object] = {}

        def look() -> None:
            wait_until(lambda: posts(exchange))
            seen["disabled"] = widget.profile_picker.disabled

        other = threading.Thread(target=look)
        other.start()
        widget.borrow_button.click()
        other.join(timeout=10)
        assert seen == {"disabled": True} and not widget.profile_picker.disabled


@pytest.mark.usefixtures("stored")
class TestLoanDeskPicker:
    """The desk's header picks the profile; positions, history and actions follow it."""

    @pytest.fixture
    def other_loan(self, other_server: SandboxServer, ledger: Ledger) -> str:
        """A legacy loan on the other sandbox's account; its order id."""
        with LoanClient(network="testnet", base_url=other_server.base_url, api_key=OTHER_KEY,
                        api_secret=OTHER_SECRET, ledger=ledger) as other:
            return other.borrow("USDT", "550", "BTC").order_id

    def test_picking_shows_that_accounts_positions(
        self, desk: LoanDesk, other_loan: str, other_server: SandboxServer
    ) -> None:
        """other: its loan is listed, read with its key; the history starts again."""
        assert desk.snapshot is not None and desk.snapshot.positions == ()
        desk.profile_picker.value = "other"
        assert desk.client.profile == "other" and desk.client.network == "testnet"
        assert desk.snapshot is not None
        assert [p.key for p in desk.snapshot.positions] == [f"legacy:{other_loan}"]
        assert len(desk.history) == 1
        badge = desk.badge.value
        assert "TESTNET" in badge and "profile <b>other</b>" in badge and "OT***77" in badge
        assert other_server.base_url.removeprefix("http://") in badge
        reads = [r for r in other_server.sandbox.requests
                 if r.path == "/v5/crypto-loan/ongoing-orders"]
        assert reads and {r.headers.get("x-bapi-api-key") for r in reads} == {OTHER_KEY}

    def test_actions_go_through_the_picked_profile(
        self, desk: LoanDesk, other_loan: str, other_server: SandboxServer, exchange: Sandbox,
        ledger: Ledger,
    ) -> None:
        """A repayment from the desk after the pick reaches the other sandbox, signed by it."""
        desk.profile_picker.value = "other"
        desk.actions.select(f"legacy:{other_loan}", "repay", "10")
        desk.actions.go.click()
        assert desk.actions.state is FormState.ACCEPTED
        assert signed(other_server.sandbox, REPAY) == [OTHER_KEY]
        assert posts(exchange, REPAY) == []
        assert [r.source for r in ledger.rows()][-1] == "desk"

    def test_a_read_made_before_the_pick_is_not_shown(
        self, desk: LoanDesk, other_loan: str, client: LoanClient, exchange: Sandbox,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """A refresh under way when the profile changes is dropped: the desk keeps showing
        the picked account's positions, not the given one's (which has a loan too)."""
        mine = client.borrow("USDT", "600", "BTC").order_id
        reader = desk.reader
        real_read = reader.read

        def read_then_pick() -> object:
            found = real_read()  # the given account's positions, mine included
            desk.profile_picker.value = "other"  # picked while that answer was on its way
            return found

        monkeypatch.setattr(reader, "read", read_then_pick)
        late = desk._read()  # what the live refresh's worker thread does
        assert [p.key for p in desk.snapshot.positions] == [f"legacy:{other_loan}"]
        desk._apply(late)  # what the live refresh does with it on the kernel's thread
        assert [p.key for p in desk.snapshot.positions] == [f"legacy:{other_loan}"]
        assert mine not in desk.table.value

    def test_refresh_reads_the_profiles_again(self, desk: LoanDesk, server: SandboxServer
                                              ) -> None:
        """A profile added after the desk opened appears when Refresh is pressed."""
        store_profile("late", "testnet", PLANTED_KEY, PLANTED_SECRET, host=server.base_url)
        desk.refresh_button.click()
        assert ("late · testnet · PL***42", "late") in desk.profile_picker.options

    def test_back_to_the_given_client(self, desk: LoanDesk, client: LoanClient) -> None:
        """'as given' restores the desk's own client and its badge."""
        desk.profile_picker.value = "tn"
        desk.profile_picker.value = ""
        assert desk.client is client and "SANDBOX" in desk.badge.value

