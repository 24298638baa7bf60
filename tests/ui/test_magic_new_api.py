"""The magics on Bybit's new loan API, in a real IPython shell against the test sandbox.

``%loans`` over every mix of open positions; ``%repay``, ``%collateral`` and
``%borrow --cancel`` in each documented form, through ``--api new`` and through
``%config BorrowMagics.api``; bad lines refused in one line with nothing sent.
"""

from __future__ import annotations

import itertools
import json
import re
from decimal import Decimal

import pytest
from IPython.core.error import UsageError
from support import posts

from loan_widgets.frames import LoansTable
from loan_widgets.ledger import default_ledger
from loan_widgets.sandbox import Sandbox

OTHER_MISSING = re.compile(r"\b(None|NaN|NaT|nan)\b")
EXPONENT = re.compile(r"(?<!\w)\d+(?:\.\d+)?[eE][+-]?\d+(?!\w)")  # not inside a hex id


@pytest.fixture(autouse=True)
def _relaxed(exchange: Sandbox) -> None:
    """The new API's 1/s and 5/s limits off: these tests borrow back to back."""
    exchange.rate_limits.clear()


POSITIONS = {  # what to open -> the %borrow line, and the row %loans must show
    "legacy flexible": ("USDT 550 BTC", ("legacy", "flexible")),
    "legacy fixed": ("USDT 550 BTC --term 30", ("legacy", "fixed")),
    "new flexible": ("USDT 550 BTC --api new", ("new", "flexible")),
    "new fixed contract": ("USDT 550 BTC --api new --term 30 --rate 0.05", ("new", "fixed")),
    "matching order": ("USDT 500 BTC --api new --term 30 --rate 0.0001", ("new", "order")),
}
MIXES = [mix for n in range(len(POSITIONS) + 1) for mix in itertools.combinations(POSITIONS, n)]


def texts(table: LoansTable) -> list[str]:
    return [repr(table), table._repr_html_(), repr(table.frame), repr(table.frame.full),
            table.frame.full._repr_html_() or ""]


class TestLoansEveryMix:
    """%loans shows every mix of legacy and new-API positions: no traceback, exact amounts."""

    @pytest.mark.parametrize("mix", MIXES, ids=lambda m: "+".join(m) or "nothing")
    def test_mix(self, ip, mix: tuple[str, ...]) -> None:
        """The rows of each position, exact Decimal debts, the cancel line per order, no gaps
        printed as None/NaN/NaT, and both APIs' histories readable."""
        for name in mix:
            ip.run_line_magic("borrow", POSITIONS[name][0])
        table = ip.run_line_magic("loans", "")
        assert isinstance(table, LoansTable)
        frame = table.frame
        shown = {(a, k) for a, k in zip(frame["api"], frame["kind"], strict=True)}
        expected = {POSITIONS[name][1] for name in mix}
        assert shown - {("new", "collateral")} == expected
        assert (("new", "collateral") in shown) == any(k.startswith(("new", "matching"))
                                                        for k in mix)
        for text in texts(table):
            assert not OTHER_MISSING.search(text) and not EXPONENT.search(text)
            assert "Traceback" not in text
        debts = frame[frame["kind"] != "order"]
        debts = debts[debts["kind"] != "collateral"]
        assert all(d == Decimal("550") and isinstance(d, Decimal) for d in debts["debt"])
        orders = frame[frame["kind"] == "order"]
        assert [o for o in orders["ordered"]] == [Decimal("500")] * len(orders)
        cancel = [n for n in table.notes if "%borrow --cancel" in n]
        assert len(cancel) == len(orders)
        if not mix:
            assert repr(table).startswith("No open loans on sandbox")
        result = ip.run_cell("%loans", store_history=False)
        assert result.error_in_exec is None
        for api in ("legacy", "new"):
            for kind in ("loans", "repayments", "adjustments"):
                repr(ip.run_line_magic("loans", f"--history {kind} --api {api}"))

    def test_one_api_only(self, ip) -> None:
        """--api legacy and --api new each show their own rows only."""
        for name in ("legacy flexible", "new flexible"):
            ip.run_line_magic("borrow", POSITIONS[name][0])
        assert set(ip.run_line_magic("loans", "--api legacy").frame["api"]) == {"legacy"}
        assert set(ip.run_line_magic("loans", "--api new").frame["api"]) == {"new"}
        assert set(ip.run_line_magic("loans", "").frame["api"]) == {"legacy", "new"}

    def test_how_to_cancel(self, ip, exchange: Sandbox) -> None:
        """The table names the matching order and the line that cancels it; that line works."""
        order = ip.run_line_magic("borrow", POSITIONS["matching order"][0]).order_id
        table = ip.run_line_magic("loans", "")
        [note] = [n for n in table.notes if order in n]
        assert "0 of 500 USDT filled" in note
        line = note.split("cancel it with %")[1]
        assert line == f"borrow --cancel {order} --api new"
        result = ip.run_line_magic(*line.split(" ", 1))
        assert result.id == order
        assert ip.run_line_magic("loans", "").frame.empty or "order" not in set(
            ip.run_line_magic("loans", "").frame["kind"])


class TestRepayNew:
    """%repay on the new API: by coin, by contract, in full, with collateral."""

    def test_flexible_by_coin(self, ip, exchange: Sandbox) -> None:
        """%repay USDT 100 --api new, then --all: the flexible debt is gone."""
        ip.run_line_magic("borrow", "USDT 550 BTC --api new")
        ip.run_line_magic("repay", "USDT 100 --api new")
        path = "/v5/crypto-loan-flexible/repay"
        assert json.loads(posts(exchange, path)[0].body) == {"loanCurrency": "USDT",
                                                             "amount": "100"}
        ip.run_line_magic("repay", "USDT --all --api new")
        assert json.loads(posts(exchange, path)[1].body)["amount"] == "450"
        assert "flexible" not in set(ip.run_line_magic("loans", "--api new").frame["kind"])

    def test_fixed_contract_and_coin(self, ip, exchange: Sandbox) -> None:
        """--loan-id ID repays one contract in full; COIN --fixed every contract of COIN."""
        for _ in range(3):
            ip.run_line_magic("borrow", "USDT 200 BTC --api new --term 7 --rate 0.05")
        frame = ip.run_line_magic("loans", "--api new").frame
        loans = list(frame[frame["kind"] == "fixed"]["order_id"])
        ip.run_line_magic("repay", f"--loan-id {loans[0]} --api new")
        path = "/v5/crypto-loan-fixed/fully-repay"
        assert json.loads(posts(exchange, path)[0].body) == {"loanId": loans[0]}
        ip.run_line_magic("repay", "USDT --fixed --api new")
        assert json.loads(posts(exchange, path)[1].body) == {"loanCurrency": "USDT"}
        assert "fixed" not in set(ip.run_line_magic("loans", "--api new").frame["kind"])

    def test_with_collateral(self, ip, exchange: Sandbox) -> None:
        """--collateral sells pooled coins: flexible by default, fixed with --loan-id."""
        ip.run_line_magic("borrow", "USDT 550 BTC --api new -c 0.03")
        ip.run_line_magic("borrow", "USDT 300 BTC --api new --term 7 --rate 0.05 -c 0.01")
        result = ip.run_line_magic("repay", "USDT 20 --collateral btc --api new")
        assert result.id is None
        assert json.loads(posts(exchange, "/v5/crypto-loan-flexible/repay-collateral")[0].body) \
            == {"loanCurrency": "USDT", "amount": "20", "collateralCoin": "BTC"}
        frame = ip.run_line_magic("loans", "--api new").frame
        [loan] = list(frame[frame["kind"] == "fixed"]["order_id"])
        ip.run_line_magic("repay", f"USDT 30 --collateral BTC --loan-id {loan} --api new")
        assert json.loads(posts(exchange, "/v5/crypto-loan-fixed/repay-collateral")[0].body) \
            == {"loanId": loan, "loanCurrency": "USDT", "amount": "30", "collateralCoin": "BTC"}
        rows = [(r.action, r.status, r.term) for r in default_ledger().rows()[-2:]]
        assert rows == [("repay", "accepted", "flexible"), ("repay", "accepted", "fixed")]

    def test_dry_run_of_a_sized_borrow_says_so(self, ip, exchange: Sandbox) -> None:
        """A borrow with no pledge: the dry run shows the body without collateralList and a
        note that sending sizes it with max-loan first; with a pledge, no note."""
        before = len(exchange.requests)
        dry = ip.run_line_magic("borrow", "USDT 550 BTC --api new --dry-run")
        assert '"collateralList"' not in dry.body and "max-loan" in dry.note
        assert repr(dry).endswith(f"Note: {dry.note}")
        given = ip.run_line_magic("borrow", "USDT 550 BTC -c 0.02 --api new --dry-run")
        assert '"collateralList"' in given.body and given.note == ""
        assert "Note:" not in repr(given)
        assert [r for r in list(exchange.requests)[before:] if r.method == "POST"] == []

    def test_dry_run_sends_nothing(self, ip, exchange: Sandbox) -> None:
        """--dry-run shows the exact body; nothing is sent or recorded."""
        ip.run_line_magic("borrow", "USDT 550 BTC --api new")
        rows = default_ledger().count()
        dry = ip.run_line_magic("repay", "USDT 100 --collateral BTC,ETH --api new --dry-run")
        assert dry.body == '{"loanCurrency":"USDT","amount":"100","collateralCoin":"BTC,ETH"}'
        assert not posts(exchange, "/v5/crypto-loan-flexible/repay-collateral")
        assert default_ledger().count() == rows


class TestCollateralNew:
    """%collateral on the new API's pool, by coin."""

    def test_add_reduce_and_max(self, ip, exchange: Sandbox) -> None:
        """add shows the LTV before and after; reduce without AMOUNT shows the allowed max;
        more than that is refused before sending."""
        ip.run_line_magic("borrow", "USDT 550 BTC --api new")
        added = ip.run_line_magic("collateral", "add BTC 0.01 --api new")
        assert added.details["ltv_after"] < added.details["ltv_before"]
        path = "/v5/crypto-loan-common/adjust-ltv"
        assert json.loads(posts(exchange, path)[0].body) == {"currency": "BTC", "amount": "0.01",
                                                             "direction": "0"}
        most = ip.run_line_magic("collateral", "reduce BTC --api new")
        assert "can be taken out of the collateral pool" in repr(most) and most.amount > 0
        with pytest.raises(UsageError, match="at most"):
            ip.run_line_magic("collateral", f"reduce BTC {most.amount + 1} --api new")
        ip.run_line_magic("collateral", f"reduce BTC {most.amount} --api new")
        assert len(posts(exchange, path)) == 2


class TestApiEverywhere:
    """Every entry point follows %config BorrowMagics.api; --api overrides it."""

    def test_config_api_new(self, ip, exchange: Sandbox) -> None:
        """BorrowMagics.api = "new": borrow, repay, collateral, cancel and history go there."""
        ip.run_line_magic("config", 'BorrowMagics.api = "new"')
        ip.run_line_magic("borrow", "USDT 550 BTC")
        ip.run_line_magic("repay", "USDT 10")
        ip.run_line_magic("collateral", "add BTC 0.001")
        order = ip.run_line_magic("borrow", "USDT 200 BTC -t 7 -r 0.0001").order_id
        ip.run_line_magic("borrow", f"--cancel {order}")
        history = ip.run_line_magic("loans", "--history repayments")
        assert list(history["kind"]) == ["flexible"]
        assert [(r.api, r.action) for r in default_ledger().rows()] == [
            ("new", "borrow"), ("new", "repay"), ("new", "adjust"), ("new", "borrow"),
            ("new", "cancel")]
        legacy = ip.run_line_magic("borrow", "USDT 550 BTC --api legacy").order_id
        ip.run_line_magic("repay", f"{legacy} 10 --api legacy")
        assert len(posts(exchange, "/v5/crypto-loan/repay")) == 1


NEW_LINES = [  # (magic, line, message): refused before anything is read or sent
    ("repay", "--api new", "expected COIN AMOUNT"),
    ("repay", "1794268382220749593 10 --api new", "is an id"),
    ("repay", "USDT --api new", "either AMOUNT or --all"),
    ("repay", "USDT 10 --all --api new", "either AMOUNT or --all"),
    ("repay", "--loan-id 570 10 --api new", "in full"),
    ("repay", "--loan-id abc --api new", "not an id"),
    ("repay", "USDT --loan-id 570 --api new", "drop COIN"),
    ("repay", "USDT 10 --fixed --api new", "in full"),
    ("repay", "USDT --all --collateral BTC --api new", "give COIN AMOUNT"),
    ("repay", "USDT 10 --collateral BTC,BTC --api new", "twice"),
    ("repay", "USDT 10 --collateral 'BTC;ls' --api new", "not a coin"),
    ("repay", "USDT 1e3 --api new", "not a plain decimal"),
    ("repay", "--loan-id 570", "option of the new loan API: add --api new"),
    ("repay", "USDT 10 --collateral BTC", "option of the new loan API"),
    ("repay", "USDT 10 --api v2", "not known"),
    ("collateral", "add 1794268382220749593 0.1 --api new", "is an id"),
    ("collateral", "add BTC --api new", "how much"),
    ("collateral", "add BTC 0 --api new", "greater than zero"),
    ("collateral", "move BTC 1 --api new", r"expected add\|reduce COIN"),
    ("borrow", "--cancel 13007", "option of the new loan API: add --api new"),
    ("borrow", "--cancel 0 --api new", "not an id"),
    ("borrow", "--cancel 13007 USDT --api new", "takes no coins"),
    ("borrow", "--cancel 13007 --term 7 --api new", "takes no --term"),
    ("borrow", "--reconcile --cancel 13007", "takes no"),
    ("borrow", "USDT 100 BTC --strategy FULL", "option of the new loan API"),
    ("borrow", "USDT 100 BTC --api new --strategy FULL", "fixed-term"),
    ("borrow", "USDT 100 BTC --api new -t 7 -r 0.05 --strategy most", "PARTIAL or FULL"),
    ("borrow", "USDT 100 BTC --api new -t 7 -r 0.05 --repay-type never", "not known"),
]


class TestRefusedLines:
    """Bad new-API lines: one line, nothing read or sent, the ledger untouched."""

    @pytest.mark.parametrize(("magic", "line", "message"), NEW_LINES,
                             ids=[f"{m} {t}" for m, t, _ in NEW_LINES])
    def test_line(self, ip, exchange: Sandbox, magic: str, line: str, message: str) -> None:
        """The error is one line and names the problem."""
        with pytest.raises(UsageError) as info:
            ip.run_line_magic(magic, line)
        shown = str(info.value)
        assert len(shown.splitlines()) == 1 and re.search(message, shown), shown
        assert exchange.count() == 0 and default_ledger().count() == 0
