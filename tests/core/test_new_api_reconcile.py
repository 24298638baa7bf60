"""Reconciling rows of the new loan API: provably ours, never another row's, never resent.

Each write is staged with the sandbox's faults: executed and the connection dropped
(the row must become ``accepted`` with the id the exchange gave), or a gateway page
that never executed it (``not_executed``). Reconciliation only reads: the POST count
never moves.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest
from support import posts
from support.new_writes import CASES, Case, contract

from loan_widgets import LoanClient, OutcomeUnknown
from loan_widgets.clock import now_ms
from loan_widgets.ledger import Ledger
from loan_widgets.sandbox import DEMO_API_KEY, DEMO_API_SECRET, Sandbox, SandboxServer
from loan_widgets.writer import token


@pytest.fixture
def relaxed(exchange: Sandbox) -> Sandbox:
    """The sandbox without the new API's 1/s and 5/s limits."""
    exchange.rate_limits.clear()
    return exchange


@pytest.fixture
def pooled(client: LoanClient, relaxed: Sandbox) -> LoanClient:
    """550 USDT of flexible debt against 0.03 BTC in the pool."""
    client.new.borrow("USDT", "550", "BTC", collateral_amount="0.03")
    return client


def lost(call: Callable[[], object]) -> int:
    """Run a write whose answer is lost; the ledger row it left."""
    with pytest.raises(OutcomeUnknown) as info:
        call()
    assert info.value.ledger_id is not None
    return info.value.ledger_id


class TestEveryWrite:
    """Every new-API write, executed or not, is settled by reading the exchange."""

    @pytest.mark.parametrize("case", CASES, ids=str)
    def test_executed_becomes_accepted(self, pooled: LoanClient, relaxed: Sandbox,
                                       ledger: Ledger, case: Case) -> None:
        """The answer is lost after executing: one POST, then accepted with the exchange's id."""
        state = case.setup(pooled)
        before = len(posts(relaxed, case.path))
        relaxed.faults.inject(case.path, "drop", execute=True)
        row = lost(lambda: case.send(pooled, state))
        assert ledger.get(row).status == "unknown"
        assert len(posts(relaxed, case.path)) == before + 1
        result = pooled.reconcile()
        [decision] = result.decisions
        expected = case.made(pooled, state)
        assert (decision.status, decision.order_id) == ("accepted", expected), decision.reason
        assert ledger.get(row).order_id == expected
        assert ledger.tracking(row).settled_by == "reconcile"
        assert len(posts(relaxed, case.path)) == before + 1

    @pytest.mark.parametrize("case", CASES, ids=str)
    def test_not_executed(self, pooled: LoanClient, relaxed: Sandbox, ledger: Ledger,
                          case: Case) -> None:
        """A gateway page before the exchange: not_executed, provably, and nothing resent."""
        state = case.setup(pooled)
        before = len(posts(relaxed, case.path))
        relaxed.faults.inject(case.path, "http", status=502)
        row = lost(lambda: case.send(pooled, state))
        [decision] = pooled.reconcile().decisions
        assert decision.status == "not_executed", decision.reason
        assert ledger.get(row).status == "not_executed" and ledger.get(row).order_id is None
        assert len(posts(relaxed, case.path)) == before + 1


class TestProvablyOurs:
    """A record is claimed only when it is new, unclaimed and no other row could have it."""

    def test_older_record_is_evidence(self, pooled: LoanClient, relaxed: Sandbox,
                                      server: SandboxServer, tmp_path, ledger: Ledger) -> None:
        """A same-size repayment made just before (by a client with another ledger) is in the
        row's evidence: never claimed, so the row is not_executed."""
        with LoanClient(network="sandbox", base_url=server.base_url, api_key=DEMO_API_KEY,
                        api_secret=DEMO_API_SECRET, ledger=Ledger(tmp_path / "other.sqlite3"),
                        timeout=2.0) as other:
            earlier = other.new.flexible_repay("USDT", "21").id
        relaxed.faults.inject("/v5/crypto-loan-flexible/repay", "http", status=502)
        row = lost(lambda: pooled.new.flexible_repay("USDT", "21"))
        evidence = ledger.evidence(ledger.tracking(row).evidence_id)  # type: ignore[arg-type]
        assert evidence is not None and earlier in evidence[1]
        [decision] = pooled.reconcile().decisions
        assert decision.status == "not_executed", decision.reason

    def test_record_held_by_another_row(self, pooled: LoanClient, relaxed: Sandbox,
                                        ledger: Ledger) -> None:
        """Two same-size adjustments, the second forced and answered: the lost one gets its
        own record, never the one the answered row holds."""
        path = "/v5/crypto-loan-common/adjust-ltv"
        relaxed.faults.inject(path, "drop", execute=True)
        row = lost(lambda: pooled.new.adjust_collateral("BTC", "0.002", "add"))
        answered = pooled.new.adjust_collateral("BTC", "0.002", "add", force=True)
        [decision] = pooled.reconcile().decisions
        ids = {str(a["adjustId"]) for a in pooled.new.adjustment_history()}
        assert decision.status == "accepted" and decision.order_id != answered.id
        assert ids == {decision.order_id, answered.id}
        assert ledger.get(row).order_id == decision.order_id

    def test_twins_stay_unknown(self, pooled: LoanClient, relaxed: Sandbox,
                                ledger: Ledger) -> None:
        """Two identical lost repayments: neither is handed a record another could own."""
        path = "/v5/crypto-loan-flexible/repay"
        relaxed.faults.inject(path, "drop", times=2, execute=True)
        first = lost(lambda: pooled.new.flexible_repay("USDT", "12"))
        second = lost(lambda: pooled.new.flexible_repay("USDT", "12", force=True))
        decisions = {d.ledger_id: d for d in pooled.reconcile().decisions}
        assert decisions[first].status == decisions[second].status == "unknown"
        assert "check by hand" in decisions[first].reason
        assert {ledger.get(first).status, ledger.get(second).status} == {"unknown"}
        assert len(posts(relaxed, path)) == 2

    def test_in_flight_twin_waits(self, pooled: LoanClient, relaxed: Sandbox,
                                  ledger: Ledger) -> None:
        """An identical row still in flight (a live writer, its deadline ahead) could own the
        record: the lost row stays unknown and the in-flight row waits, untouched."""
        path = "/v5/crypto-loan-common/adjust-ltv"
        relaxed.faults.inject(path, "drop", execute=True)
        row = lost(lambda: pooled.new.adjust_collateral("BTC", "0.004", "add"))
        lost_row = ledger.get(row)
        flying = ledger.record_pending(
            network="sandbox", source="api", body=lost_row.body, api="new", action="adjust",
            collateral_currency="BTC", collateral_amount=Decimal("0.004"), direction="add",
            coin="BTC", host=lost_row.host, writer=token(), deadline_ms=now_ms() + 60_000)
        decisions = {d.ledger_id: d for d in pooled.reconcile().decisions}
        assert decisions[flying].status == "pending"
        assert decisions[row].status == "unknown" and "in flight" in decisions[row].reason
        assert ledger.get(flying).status == "pending"

    def test_other_book_not_read(self, pooled: LoanClient, relaxed: Sandbox) -> None:
        """A fixed repayment of the same size is not a flexible one: the row is not_executed."""
        contract(pooled)
        loan = pooled.new.fixed_contracts()[0]["loanId"]
        pooled.new.fixed_repay_collateral("USDT", "40", "BTC", loan_id=loan)
        relaxed.faults.inject("/v5/crypto-loan-flexible/repay", "http", status=502)
        lost(lambda: pooled.new.flexible_repay("USDT", "40"))
        [decision] = pooled.reconcile().decisions
        assert decision.status == "not_executed", decision.reason

    def test_accepted_without_id_is_a_rival(self, pooled: LoanClient, relaxed: Sandbox,
                                            ledger: Ledger) -> None:
        """A repayment with collateral accepted by its answer has no id: a same-size lost one
        is never handed a record that could be that row's."""
        path = "/v5/crypto-loan-flexible/repay-collateral"
        pooled.new.flexible_repay_collateral("USDT", "15", "BTC")
        relaxed.faults.inject(path, "drop", execute=True)
        row = lost(lambda: pooled.new.flexible_repay_collateral("USDT", "15", "BTC",
                                                                force=True))
        [decision] = pooled.reconcile().decisions
        assert decision.status == "unknown" and "carries no id" in decision.reason
        assert ledger.get(row).status == "unknown"

    def test_only_the_rows_host(self, pooled: LoanClient, relaxed: Sandbox,
                                other_server: SandboxServer, ledger: Ledger) -> None:
        """A lost new-API row of another host is listed, not read, and stays unknown."""
        with LoanClient(network="sandbox", base_url=other_server.base_url,
                        api_key=DEMO_API_KEY, api_secret=DEMO_API_SECRET, ledger=ledger,
                        timeout=2.0) as there:
            other_server.sandbox.rate_limits.clear()
            there.new.borrow("USDT", "100", "BTC", "0.01")
            other_server.sandbox.faults.inject("/v5/crypto-loan-flexible/repay", "drop",
                                               execute=True)
            row = lost(lambda: there.new.flexible_repay("USDT", "10"))
        result = pooled.reconcile()
        assert not result.decisions and [d.ledger_id for d in result.elsewhere] == [row]
        assert ledger.get(row).status == "unknown"

    def test_id_of_another_book(self, pooled: LoanClient, relaxed: Sandbox,
                                ledger: Ledger) -> None:
        """The flexible and fixed books count ids apart: a fixed order whose id a flexible
        row already holds is found, but the ledger cannot hold it twice: unknown, said so."""
        relaxed.next_ids.append("5000")
        flexible = pooled.new.borrow("USDT", "30", "BTC", "0.001")
        relaxed.next_ids.append("5000")
        relaxed.faults.inject("/v5/crypto-loan-fixed/borrow", "drop", execute=True)
        row = lost(lambda: pooled.new.borrow("USDT", "100", "BTC", "0.01", term=7,
                                             annual_rate="0.05"))
        [decision] = pooled.reconcile().decisions
        assert flexible.order_id == "5000"
        assert decision.status == "unknown" and "already holds id 5000" in decision.reason
        assert ledger.get(row).status == "unknown"
