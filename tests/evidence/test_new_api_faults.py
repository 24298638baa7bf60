"""Faults on every write of the new loan API: what the user sees, what the ledger says, what
was sent, and how reconciliation settles it.

Three faults an exchange's answer can suffer after the request left: the connection
dropped after executing, retCode 10016 ("internal error", not executed here), and an
answer slower than the timeout (executed). Each is ``OutcomeUnknown``, the row
``unknown``, exactly one POST; an identical write is then refused until reconcile
settles the row (by reading: still one POST), to ``accepted`` with the exchange's id or
``not_executed``. The magics show the same as one ``UsageError`` line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from IPython.core.error import UsageError
from support import posts
from support.new_writes import CASES, Case

from loan_widgets import (
    AmbiguousAnswer,
    DuplicateOrderError,
    LoanClient,
    OutcomeUnknown,
    ValidationError,
)
from loan_widgets.ledger import Ledger, default_ledger
from loan_widgets.sandbox import Sandbox

TIMEOUT = 0.5  # seconds the client that meets the slow answer waits (it comes after 1.5 s)


@pytest.fixture
def relaxed(exchange: Sandbox) -> Sandbox:
    """The sandbox without the new API's 1/s and 5/s limits."""
    exchange.rate_limits.clear()
    return exchange


@pytest.fixture
def pooled(client: LoanClient, relaxed: Sandbox) -> Iterator[LoanClient]:
    """An account with a pooled flexible loan (the client waits 2 s for answers)."""
    client.new.borrow("USDT", "550", "BTC", collateral_amount="0.03")
    yield client
    relaxed.faults.clear()


FAULTS = {  # name -> (stage it on path, executed?, error class)
    "drop": (lambda ex, path: ex.faults.inject(path, "drop", execute=True), True, OutcomeUnknown),
    "10016": (lambda ex, path: ex.faults.inject(path, "retcode", code=10016), False,
              AmbiguousAnswer),
    "timeout": (lambda ex, path: ex.faults.set_latency(TIMEOUT * 3, path), True, OutcomeUnknown),
}


class TestEveryNewWrite:
    """drop / 10016 / timeout on each new write: unknown, one POST, held, reconciled."""

    @pytest.mark.parametrize("fault", sorted(FAULTS))
    @pytest.mark.parametrize("case", CASES, ids=str)
    def test_fault(self, pooled: LoanClient, sandbox_client: Callable[..., LoanClient],
                   relaxed: Sandbox, ledger: Ledger, case: Case, fault: str) -> None:
        """One POST, an unknown row, the twin refused, reconcile settles it by reading."""
        stage, executed, error = FAULTS[fault]
        state = case.setup(pooled)
        quick = sandbox_client(timeout=TIMEOUT) if fault == "timeout" else pooled
        before = len(posts(relaxed, case.path))
        stage(relaxed, case.path)
        with pytest.raises(error) as info:
            case.send(quick, state)
        relaxed.faults.clear()
        row = info.value.ledger_id
        assert row is not None and ledger.get(row).status == "unknown"
        assert "may have been executed" in str(info.value) and "\n" not in str(info.value)
        assert str(info.value).count("executed") == 1  # said once, in the write's own words
        assert len(posts(relaxed, case.path)) == before + 1
        # the same write again is refused unsent (a cancel that went through is refused
        # earlier still: the order it reads first is no longer matching)
        refused = (DuplicateOrderError, ValidationError) if case.name.startswith("cancel") \
            else DuplicateOrderError
        with pytest.raises(refused):
            case.send(pooled, state)
        assert len(posts(relaxed, case.path)) == before + 1
        [decision] = pooled.reconcile().decisions
        if executed:
            assert (decision.status, decision.order_id) == (
                "accepted", case.made(pooled, state)), decision.reason
        else:
            assert decision.status == "not_executed", decision.reason
        assert ledger.get(row).status == decision.status
        assert len(posts(relaxed, case.path)) == before + 1


MAGIC_LINES = {  # a case of CASES -> the magic line that sends it
    "flexible repay": ("repay", lambda s: "USDT 33 --api new"),
    "flexible repay with collateral": ("repay", lambda s: "USDT 34 --collateral BTC --api new"),
    "fixed full repay": ("repay", lambda s: f"--loan-id {s['loan']} --api new"),
    "fixed repay with collateral": (
        "repay", lambda s: f"USDT 35 --collateral BTC --loan-id {s['loan']} --api new"),
    "pool add": ("collateral", lambda s: "add BTC 0.003 --api new"),
    "pool reduce": ("collateral", lambda s: "reduce BTC 0.001 --api new"),
    "cancel borrow order": ("borrow", lambda s: f"--cancel {s['order']} --api new"),
    "flexible borrow": ("borrow", lambda s: "USDT 77 BTC -c 0.01 --api new"),
}


class TestThroughMagics:
    """The same faults through the magics: a one-line UsageError naming the ledger row."""

    @pytest.mark.parametrize("name", sorted(MAGIC_LINES))
    def test_drop(self, ip, relaxed: Sandbox, name: str) -> None:
        """The line names the unknown row; %borrow --reconcile settles it, nothing resent."""
        [case] = [c for c in CASES if c.name == name]
        magic, line = MAGIC_LINES[name]
        ip.run_line_magic("borrow", "USDT 550 BTC -c 0.03 --api new")
        client = ip.find_magic("loans").__self__.client()
        state = case.setup(client)
        before = len(posts(relaxed, case.path))
        relaxed.faults.inject(case.path, "drop", execute=True)
        with pytest.raises(UsageError) as info:
            ip.run_line_magic(magic, line(state))
        shown = str(info.value)
        assert len(shown.splitlines()) == 1 and "may have been executed" in shown
        row = default_ledger().rows()[-1]
        assert f"ledger row {row.id}" in shown and row.status == "unknown"
        assert (row.source, row.api) == ("magic", "new")
        assert len(posts(relaxed, case.path)) == before + 1
        result = ip.run_line_magic("borrow", "--reconcile")
        [decision] = result.decisions
        assert decision.status == "accepted" and default_ledger().get(row.id).status == "accepted"
        assert len(posts(relaxed, case.path)) == before + 1
