"""The loan after %borrow: repay, collateral, views, histories and reconciliation."""

from __future__ import annotations

from decimal import Decimal

import pytest
from IPython.core.error import UsageError
from support import posts

from loan_widgets import ExchangeError, LoanClient, OutcomeUnknown, ValidationError
from loan_widgets.frames import LoansTable
from loan_widgets.ledger import Ledger, default_ledger

REPAY = "/v5/crypto-loan/repay"
ADJUST = "/v5/crypto-loan/adjust-ltv"
BORROW = "/v5/crypto-loan/borrow"


@pytest.fixture
def loan(client: LoanClient) -> str:
    """An open flexible loan of 550 USDT against BTC."""
    return client.borrow("USDT", "550", "BTC").order_id


class TestRepay:
    """Repayments reduce debt, are recorded, and a full one returns the collateral."""

    def test_partial_repay(self, client: LoanClient, loan: str, ledger: Ledger) -> None:
        """Repaying 100 leaves 450 principal and records the repayment with its id."""
        result = client.repay(loan, "100")
        [open_loan] = client.ongoing_orders(orderId=loan)
        assert Decimal(open_loan["totalDebt"]) == Decimal("450")
        row = ledger.get(result.ledger_id)
        assert (row.action, row.ref_id, row.order_id, row.loan_amount, row.status) == (
            "repay", loan, result.id, Decimal("100"), "accepted"
        )

    def test_repay_all_closes_loan(self, client: LoanClient, loan: str, exchange) -> None:
        """repay_all pays principal and interest; the loan moves to history, collateral back."""
        btc_before = exchange.wallet["BTC"]
        exchange.advance(3 * 3_600_000)  # three hours of interest
        result = client.repay_all(loan)
        assert client.ongoing_orders(orderId=loan) == []
        [done] = client.borrow_history(orderId=loan)
        assert done["status"] == 1 and Decimal(done["repaidInterest"]) > 0
        [repayment] = client.repayment_history(repayId=result.id)
        assert Decimal(repayment["collateralReturn"]) == exchange.wallet["BTC"] - btc_before

    def test_repay_more_than_owed(self, client: LoanClient, loan: str, ledger: Ledger) -> None:
        """Repaying more than the debt is refused with 177010 and recorded as rejected."""
        with pytest.raises(ExchangeError) as info:
            client.repay(loan, "100000")
        assert info.value.ret_code == 177010
        assert ledger.get(info.value.ledger_id).status == "rejected"

    def test_lost_repay_is_unknown_then_reconciled(
        self, client: LoanClient, loan: str, exchange, ledger: Ledger
    ) -> None:
        """A repayment whose answer was dropped is unknown, sent once, and reconciled."""
        exchange.faults.inject(REPAY, "drop")
        with pytest.raises(OutcomeUnknown) as info:
            client.repay(loan, "100")
        assert len(posts(exchange, REPAY)) == 1
        outcome = client.reconcile()
        [decision] = outcome.decisions
        assert decision.status == "accepted" and decision.ledger_id == info.value.ledger_id
        assert ledger.get(decision.ledger_id).order_id == exchange.repayments[-1]["repayId"]
        assert len(posts(exchange, REPAY)) == 1


class TestCollateral:
    """Collateral moves in and out within the exchange's limits."""

    def test_add_and_reduce_report_ltv(self, client: LoanClient, loan: str) -> None:
        """Adding lowers the LTV, reducing raises it; both read back from the history."""
        added = client.adjust_collateral(loan, "0.001", "add")
        assert added.details["ltv_after"] < added.details["ltv_before"]
        reduced = client.adjust_collateral(loan, "0.001", "reduce")
        assert reduced.details["ltv_after"] > reduced.details["ltv_before"]
        history = client.history("adjustments")
        assert history["direction"].tolist() == [1, 0]  # newest first, as the exchange lists
        assert history["amount"].tolist() == [Decimal("0.001"), Decimal("0.001")]
        assert str(history["adjusted_at"].dt.tz) == "UTC"

    def test_reduce_beyond_max_is_refused_before_sending(
        self, client: LoanClient, loan: str, exchange
    ) -> None:
        """Taking more than the allowed maximum is refused by the client's rule, unsent."""
        most = client.max_collateral_reduction(loan)
        assert most >= 0
        with pytest.raises(ValidationError) as info:
            client.adjust_collateral(loan, most + Decimal("0.0001"), "reduce")
        assert "at most" in str(info.value) and not posts(exchange, ADJUST)


class TestViews:
    """Open loans and histories as DataFrames with exact amounts."""

    def test_loans_frame_flags_margin_call(self, client: LoanClient, loan: str, exchange) -> None:
        """After BTC falls, the loan's LTV sits beside its margin-call LTV and is flagged."""
        frame = client.loans()
        assert frame.loc[0, "flag"] == "" and frame.loc[0, "debt"] == Decimal("550")
        assert frame.loc[0, "margin_call_ltv"] == Decimal("0.87")
        exchange.set_price("BTC", "60000")  # LTV 0.8 -> about 0.867
        frame = client.loans()
        assert frame.loc[0, "flag"] in ("near margin call", "margin call")
        assert frame.loc[0, "current_ltv"] > Decimal("0.82")
        html = LoansTable(frame, "sandbox")._repr_html_()
        assert "background-color" in html and loan in html

    def test_history_frames(self, client: LoanClient, loan: str) -> None:
        """Completed loans and repayments come back typed."""
        client.repay_all(loan)
        loans = client.history("loans")
        assert loans.loc[0, "order_id"] == loan and loans.loc[0, "loan_amount"] == Decimal(550)
        assert str(loans["borrowed_at"].dt.tz) == "UTC"
        repayments = client.history("repayments")
        assert isinstance(repayments.loc[0, "amount"], Decimal)


class TestReconcile:
    """Unknown borrows are decided by reading the exchange, never by resending."""

    def test_executed_borrow_becomes_accepted(self, client: LoanClient, exchange, ledger) -> None:
        """Dropped after executing: reconcile finds the loan and records its order id."""
        client.borrow("USDT", "550", "BTC")  # an accepted loan that must not be claimed twice
        exchange.faults.inject(BORROW, "drop")
        with pytest.raises(OutcomeUnknown) as info:
            client.borrow("USDT", "550", "BTC")
        outcome = client.reconcile()
        [decision] = outcome.decisions
        assert decision.status == "accepted"
        row = ledger.get(info.value.ledger_id)
        assert row.status == "accepted" and row.order_id in exchange.orders
        assert row.order_id != ledger.rows()[0].order_id
        assert len(posts(exchange)) == 2

    def test_dropped_before_executing_becomes_not_executed(
        self, client: LoanClient, exchange, ledger
    ) -> None:
        """Dropped without executing: reconcile proves no such loan exists."""
        exchange.faults.inject(BORROW, "drop", execute=False)
        with pytest.raises(OutcomeUnknown) as info:
            client.borrow("USDT", "550", "BTC")
        outcome = client.reconcile()
        assert [d.status for d in outcome.decisions] == ["not_executed"]
        assert ledger.get(info.value.ledger_id).status == "not_executed"
        assert not exchange.orders

    def test_ambiguous_rows_stay_unknown(self, client: LoanClient, exchange, ledger) -> None:
        """Two lost borrows of the same loan and one extra loan cannot all be told apart."""
        for force in (False, True):  # the second is identical: sent only when forced
            exchange.faults.inject(BORROW, "drop")
            with pytest.raises(OutcomeUnknown):
                client.borrow("USDT", "550", "BTC", force=force)
        outcome = client.reconcile()
        assert [d.status for d in outcome.decisions] == ["unknown", "unknown"]
        assert "several" in outcome.decisions[0].reason
        assert "row" in repr(outcome)

    def test_exchange_clock_ahead(self, client: LoanClient, exchange, ledger, loan: str) -> None:
        """Exchange times are read through the clock offset: 3 h ahead still matches."""
        exchange.advance(3 * 3_600_000)
        client.sync_clock()
        exchange.faults.inject(REPAY, "drop")
        with pytest.raises(OutcomeUnknown):
            client.repay(loan, "100")
        exchange.faults.inject(BORROW, "drop")
        with pytest.raises(OutcomeUnknown):
            client.borrow("USDT", "600", "BTC", term=7)
        outcome = client.reconcile()
        assert [d.status for d in outcome.decisions] == ["accepted", "accepted"]

    def test_claimed_match_is_not_called_not_executed(
        self, client: LoanClient, exchange, ledger
    ) -> None:
        """A match another row claims (an id reused by a restarted sandbox) stays unknown."""
        from loan_widgets.orders import BorrowRequest
        from loan_widgets.sandbox import Sandbox

        reused = Sandbox(seed=0)._new_id()  # the id this exchange will hand out next
        request = BorrowRequest("USDT", "BTC", "550")
        old = ledger.record_pending(
            network="sandbox", source="api", body=request.to_body(), host=client.host,
            loan_currency="USDT", loan_amount=request.loan_amount, collateral_currency="BTC",
            term=request.term,
        )
        ledger.settle(old, "accepted", order_id=reused)
        exchange.faults.inject(BORROW, "drop")
        with pytest.raises(OutcomeUnknown) as info:
            client.borrow("USDT", "550", "BTC")
        assert reused in exchange.orders
        [decision] = client.reconcile().decisions
        assert decision.status == "unknown" and f"ledger row {old}" in decision.reason
        assert ledger.get(info.value.ledger_id).status == "unknown"

    def test_nothing_to_do(self, client: LoanClient) -> None:
        """With no unknown rows, reconcile says so."""
        assert "Nothing to reconcile" in repr(client.reconcile())


class TestLifecycleMagics:
    """%loans, %repay, %collateral and %borrow --reconcile in a real shell."""

    def test_repay_and_loans(self, ip, exchange) -> None:
        """%repay reduces the debt shown by %loans; --all closes the loan."""
        order = ip.run_line_magic("borrow", "USDT 550 BTC").order_id
        table = ip.run_line_magic("loans", "")
        assert isinstance(table, LoansTable) and order in repr(table)
        result = ip.run_line_magic("repay", f"{order} 100")
        assert "repay 100 of loan" in repr(result)
        assert ip.run_line_magic("loans", "").frame.loc[0, "principal"] == Decimal("450")
        ip.run_line_magic("repay", f"{order} --all")
        assert "No open loans" in repr(ip.run_line_magic("loans", ""))
        history = ip.run_line_magic("loans", "--history")
        assert history.loc[0, "order_id"] == order
        sources = [r.source for r in default_ledger().rows()]
        assert sources == ["magic", "magic", "magic"]

    def test_collateral_magic(self, ip) -> None:
        """%collateral shows LTV before and after, and the allowed maximum."""
        order = ip.run_line_magic("borrow", "USDT 550 BTC").order_id
        shown = repr(ip.run_line_magic("collateral", f"add {order} 0.002"))
        assert "ltv_before" in shown and "ltv_after" in shown
        most = ip.run_line_magic("collateral", f"reduce {order}")
        assert "At most" in repr(most)
        with pytest.raises(UsageError, match="at most"):
            ip.run_line_magic("collateral", f"reduce {order} 1")

    @pytest.mark.parametrize(
        ("magic", "line", "message"),
        [
            ("repay", "", "expected ORDER_ID"),
            ("repay", "123 100 --all", "not both"),
            ("repay", "12a 100", "not an order id"),
            ("repay", "123 -1", "greater than zero, not -1"),
            ("collateral", "grow 123 1", "add|reduce"),
            ("collateral", "add 123 0", "greater than zero"),
            ("loans", "--history fees", "loans, repayments or adjustments"),
            ("borrow", "--reconcile USDT", "takes no coins"),
        ],
    )
    def test_bad_lines(self, ip, exchange, magic: str, line: str, message: str) -> None:
        """Bad lines are one-line UsageErrors and send nothing."""
        with pytest.raises(UsageError, match=message) as info:
            ip.run_line_magic(magic, line)
        assert "\n" not in str(info.value)
        assert exchange.count(method="POST") == 0

    def test_borrow_reconcile_magic(self, ip, exchange) -> None:
        """%borrow --reconcile settles an unknown row."""
        exchange.faults.inject(BORROW, "drop")
        with pytest.raises(UsageError, match="outcome unknown"):
            ip.run_line_magic("borrow", "USDT 550 BTC")
        outcome = ip.run_line_magic("borrow", "--reconcile")
        assert [d.status for d in outcome.decisions] == ["accepted"]
        assert default_ledger().rows()[-1].status == "accepted"


class TestPagingAndLimits:
    """List endpoints are followed page by page; the account limits are read."""

    def test_iterators_follow_next_page_cursor(self, client: LoanClient, exchange) -> None:
        """Five loans read two at a time take three pages, and every loan comes back once."""
        ids = {client.borrow("USDT", "100", "BTC").order_id for _ in range(5)}
        before = exchange.count("/v5/crypto-loan/ongoing-orders")
        listed = client.ongoing_orders(limit=2)
        assert {loan["orderId"] for loan in listed} == ids and len(listed) == 5
        assert exchange.count("/v5/crypto-loan/ongoing-orders") - before == 3

    def test_borrow_limits(self, client: LoanClient) -> None:
        """The account's min/max loan and collateral for a pair, as Decimal-ready strings."""
        limits = client.borrow_limits("USDT", "BTC")
        assert limits["loanCurrency"] == "USDT" and limits["collateralCurrency"] == "BTC"
        assert Decimal(limits["minLoanAmount"]) == Decimal("20")
        assert Decimal(limits["maxCollateralAmount"]) > 0
