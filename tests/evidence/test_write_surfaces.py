"""The newer write surfaces under the safety rules: the new API's auto-sized borrow, the
magics, the widget and the desk side by side.

Each test stages a fault with the sandbox's own knobs over loopback and then repeats the
write the way a user would (the same call, the same magic line, a click elsewhere), and
counts the POSTs that reached the exchange.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from IPython.core.error import UsageError
from support import posts

from loan_widgets import DuplicateOrderError, LoanClient, OutcomeUnknown
from loan_widgets.ledger import Ledger, default_ledger
from loan_widgets.sandbox import Sandbox

FLEXIBLE_BORROW = "/v5/crypto-loan-flexible/borrow"


@pytest.fixture
def relaxed(exchange: Sandbox) -> Sandbox:
    """The sandbox without the new API's 1/s and 5/s limits."""
    exchange.rate_limits.clear()
    return exchange


class TestSizedPledge:
    """A new-API borrow whose pledge the client sizes is the same order when repeated."""

    def test_repeat_after_lost_answer_is_refused(self, client: LoanClient, relaxed: Sandbox,
                                                 ledger: Ledger) -> None:
        """Executed, answer lost; the same call again is refused unsent (one POST)."""
        relaxed.faults.inject(FLEXIBLE_BORROW, "drop", execute=True)
        with pytest.raises(OutcomeUnknown) as info:
            client.new.borrow("USDT", "550", "BTC")
        assert ledger.get(info.value.ledger_id).status == "unknown"
        with pytest.raises(DuplicateOrderError, match="reconcile"):
            client.new.borrow("USDT", "550", "BTC")
        assert len(posts(relaxed, FLEXIBLE_BORROW)) == 1
        assert [r.status for r in ledger.rows()] == ["unknown"]

    def test_ledger_keeps_the_pledge_sent(self, client: LoanClient, relaxed: Sandbox,
                                          ledger: Ledger) -> None:
        """The row still records the pledge that went out, as the body says."""
        done = client.new.borrow("USDT", "550", "BTC")
        row = ledger.get(done.ledger_id)
        assert row.collateral_amount is not None and row.collateral_amount > 0
        assert f'"amount":"{row.collateral_amount}"' in row.body

    def test_magic_line_again_is_refused(self, ip, relaxed: Sandbox) -> None:
        """`%borrow USDT 550 BTC --api new` twice after a lost answer: one POST, one line."""
        relaxed.faults.inject(FLEXIBLE_BORROW, "drop", execute=True)
        with pytest.raises(UsageError, match="may have been executed"):
            ip.run_line_magic("borrow", "USDT 550 BTC --api new")
        with pytest.raises(UsageError) as info:
            ip.run_line_magic("borrow", "USDT 550 BTC --api new")
        assert "reconcile" in str(info.value) and len(str(info.value).splitlines()) == 1
        assert len(posts(relaxed, FLEXIBLE_BORROW)) == 1
        assert [r.status for r in default_ledger().rows()] == ["unknown"]

    def test_legacy_twin_of_a_sized_borrow_is_refused(self, client: LoanClient,
                                                      relaxed: Sandbox) -> None:
        """The same coins and amount on the legacy API, while the new one is unknown."""
        relaxed.faults.inject(FLEXIBLE_BORROW, "drop", execute=True)
        with pytest.raises(OutcomeUnknown):
            client.new.borrow("USDT", "550", "BTC")
        with pytest.raises(DuplicateOrderError):
            client.borrow("USDT", "550", "BTC")
        assert not posts(relaxed)


class TestOneExchangeTwoHosts:
    """api.bybit.com and its alternate api.bytick.com are one exchange: one duplicate guard."""

    @pytest.mark.parametrize(("sent", "again"), [
        ("https://api.bybit.com", "https://api.bytick.com"),
        ("https://api.bytick.com", "https://api.bybit.com"),
    ])
    def test_twin_on_the_alternate_host_is_refused(self, ledger: Ledger, sent: str,
                                                   again: str) -> None:
        """A borrow left unknown on one host is not sent again through the other."""
        from support.netguard import loopback_only

        row = ledger.record_pending(
            network="mainnet", source="magic", body='{"loanCurrency":"USDT"}', host=sent,
            loan_currency="USDT", loan_amount=Decimal("550"), collateral_currency="BTC",
        )
        ledger.settle(row, "unknown", ret_msg="the connection broke before an answer came")
        client = LoanClient(network="mainnet", base_url=again, api_key="MAINKEY1234",
                            api_secret="main-secret", ledger=ledger)
        with loopback_only() as seen, pytest.raises(DuplicateOrderError) as info:
            client.borrow("USDT", "550", "BTC")
        assert seen == [] and f"row {row}" in str(info.value)
        assert ledger.count() == 1


class TestDeskBesideAnotherSurface:
    """The desk and another surface of the same kernel share one duplicate guard."""

    def test_pool_add_held_on_both(self, client: LoanClient, sandbox_client,
                                   relaxed: Sandbox, ledger: Ledger) -> None:
        """The desk's add is lost after executing; the same add through another client
        (a widget's, a magic's) is refused unsent, and the desk holds its own button."""
        from loan_widgets.desk import LoanDesk
        from loan_widgets.widget.state import FormState

        client.new.borrow("USDT", "550", "BTC", collateral_amount="0.03")
        desk = LoanDesk(client, live=False)
        path = "/v5/crypto-loan-common/adjust-ltv"
        relaxed.faults.inject(path, "drop", execute=True)
        desk.actions.select("pool:BTC", "add", "0.003")
        desk.actions.go.click()
        assert desk.actions.state is FormState.UNKNOWN
        with pytest.raises(DuplicateOrderError):
            sandbox_client().new.adjust_collateral("BTC", "0.003", "add")
        desk.actions.rearm_after = 0
        desk.actions.go.click()
        assert desk.actions.state is FormState.HELD
        assert len(posts(relaxed, path)) == 1
