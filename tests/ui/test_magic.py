"""%borrow in a real IPython shell, against the test sandbox."""

from __future__ import annotations

from decimal import Decimal

import pytest
from IPython.core.error import UsageError
from support import posts

from loan_widgets import BorrowResult, PreparedRequest
from loan_widgets.ledger import default_ledger

DOC_BODY = (
    '{"loanCurrency":"USDT","loanAmount":"550","collateralCurrency":"BTC",'
    '"loanTerm":null,"collateralAmount":null}'
)


class TestBorrowMagic:
    """The magic borrows through the shared client and returns a BorrowResult."""

    def test_borrow_returns_result(self, ip, exchange) -> None:
        """`%borrow USDT 550 BTC` returns a result with a 19-digit order id."""
        result = ip.run_line_magic("borrow", "USDT 550 BTC")
        assert isinstance(result, BorrowResult) and len(result.order_id) == 19
        assert posts(exchange)[0].body.decode() == DOC_BODY
        row = default_ledger().rows()[-1]
        assert (row.source, row.status, row.loan_amount) == ("magic", "accepted", Decimal(550))

    def test_assignment_in_a_cell(self, ip) -> None:
        """`r = %borrow ...` binds the result in the user namespace."""
        ip.run_cell("r = %borrow USDT 550 BTC", store_history=False).raise_error()
        assert len(ip.user_ns["r"].order_id) == 19

    def test_variables_expand(self, ip, exchange) -> None:
        """$var and {expr} expand before the magic sees the line."""
        ip.user_ns.update(coin="USDT", amount="600")
        ip.run_cell("r = %borrow $coin {amount} BTC", store_history=False).raise_error()
        assert b'"loanAmount":"600"' in posts(exchange)[0].body

    def test_collateral_driven_fixed_term(self, ip, exchange) -> None:
        """`%borrow USDT BTC --collateral-amount 0.1 --term 30` sizes from collateral."""
        result = ip.run_line_magic("borrow", "USDT BTC --collateral-amount 0.1 --term 30")
        assert result.request.term == "30"
        assert posts(exchange)[0].body == (
            b'{"loanCurrency":"USDT","loanAmount":null,"collateralCurrency":"BTC",'
            b'"loanTerm":"30","collateralAmount":"0.1"}'
        )

    def test_dry_run_sends_nothing(self, ip, exchange) -> None:
        """--dry-run shows the exact body and masked headers; nothing reaches the exchange."""
        prepared = ip.run_line_magic("borrow", "USDT 550 BTC --dry-run")
        assert isinstance(prepared, PreparedRequest) and prepared.body == DOC_BODY
        assert DOC_BODY in repr(prepared) and "hidden" in repr(prepared)
        assert exchange.count() == 0 and default_ledger().count() == 0

    def test_config_network(self, ip) -> None:
        """`%config BorrowMagics.network` is a validated traitlet."""
        ip.run_line_magic("config", 'BorrowMagics.network = "testnet"')
        with pytest.raises(UsageError, match="BYBIT_API_KEY"):
            ip.run_line_magic("borrow", "USDT 550 BTC")
        assert default_ledger().count() == 0

    def test_help_documents_grammar(self, ip) -> None:
        """`%borrow?` documents the arguments and examples."""
        doc = ip.find_line_magic("borrow").__doc__
        for text in (
            "--collateral-amount",
            "--term",
            "--dry-run",
            "--yes",
            "--network",
            "%borrow USDT 550 BTC",
        ):
            assert text in doc


class TestMainnetGuard:
    """A mainnet borrow needs --yes or a typed confirmation."""

    def test_refuses_without_stdin(self, ip, exchange, monkeypatch) -> None:
        """No interactive input: refused with a one-line hint, nothing sent."""
        monkeypatch.setenv("BYBIT_API_KEY", "MAINKEY123")
        monkeypatch.setenv("BYBIT_API_SECRET", "main-secret")

        def no_stdin(prompt: str = "") -> str:
            raise EOFError

        monkeypatch.setattr("builtins.input", no_stdin)
        with pytest.raises(UsageError, match="--yes"):
            ip.run_line_magic("borrow", "USDT 550 BTC --network mainnet")
        assert exchange.count() == 0 and default_ledger().count() == 0

    def test_typed_no_cancels(self, ip, exchange, monkeypatch) -> None:
        """Answering anything but 'yes' cancels; the prompt names amount, coin and network."""
        monkeypatch.setenv("BYBIT_API_KEY", "MAINKEY123")
        monkeypatch.setenv("BYBIT_API_SECRET", "main-secret")
        prompts: list[str] = []
        monkeypatch.setattr("builtins.input", lambda p="": prompts.append(p) or "no")
        with pytest.raises(UsageError, match="cancelled"):
            ip.run_line_magic("borrow", "USDT 550 BTC --network mainnet")
        assert "550 USDT" in prompts[0] and "MAINNET" in prompts[0]
        assert exchange.count() == 0


BAD_LINES = [
    ("USDT 0 BTC", "greater than zero"),
    ("USDT -5 BTC", "greater than zero, not -5"),
    ("USDT 550", "no collateral coin: write %borrow USDT 550 COLLATERAL_COIN"),
    ("USDT nan BTC", "not a plain decimal"),
    ("USDT inf BTC", "not a plain decimal"),
    ("USDT 1e999999 BTC", "not a plain decimal"),
    ("USDT abc BTC", "not a plain decimal"),
    ("USDT 55O BTC", "not a plain decimal"),
    ("USDT ５５０ BTC", "not a plain decimal"),
    ("USDT BTC", "no amount"),
    ("USDT 550 USDT", "both USDT"),
    ("US$T 550 BTC", "not a coin code"),
    ("USDT 550 BTC --term 60", "term"),
    ("USDT 550 BTC --term", "expected one argument"),
    ("USDT 550 BTC --bogus", "unrecognized"),
    ("USDT 550 BTC --term 7 --term 30", "given twice"),
    ("USDT 550 BTC ETH", "got 4 words"),
    ("USDT", "got 1 word"),
    ("USDT 550 BTC --network moon", "not a network"),
    ("USDT 550 BTC 'unclosed", "cannot parse"),
    ("USDT 550 BTC; rm -rf /", "unrecognized"),
    ("USDT 550 BTC;", "not a coin code"),
    ("USDT 550 'BTC && ls'", "not a coin code"),
]


class TestBadInput:
    """Every bad line is a one-line UsageError; nothing is sent or recorded."""

    @pytest.mark.parametrize(("line", "message"), BAD_LINES, ids=[b[0] for b in BAD_LINES])
    def test_bad_line(self, ip, exchange, line: str, message: str) -> None:
        """The error names the problem in one line."""
        with pytest.raises(UsageError, match=message) as info:
            ip.run_line_magic("borrow", line)
        assert "\n" not in str(info.value)
        assert exchange.count() == 0 and default_ledger().count() == 0

    def test_no_traceback_in_cell(self, ip, capsys) -> None:
        """Run as a cell, a bad line prints one UsageError line, no traceback."""
        ip.run_cell("%borrow USDT 0 BTC", store_history=False)
        err = capsys.readouterr()
        text = err.out + err.err
        assert "UsageError: loan amount must be greater than zero" in text
        assert "Traceback" not in text

    def test_exchange_refusal_is_one_line(self, ip) -> None:
        """An exchange refusal is a one-line UsageError with retCode and hint."""
        with pytest.raises(UsageError, match=r"177009.*minimum") as info:
            ip.run_line_magic("borrow", "USDT 5 BTC")
        assert "\n" not in str(info.value)
        assert default_ledger().rows()[-1].status == "rejected"


class TestMessages:
    """The magics' own words: flags for suggestions, usage outside a notebook, coins named."""

    def test_no_keys_before_asking(self, ip, exchange, monkeypatch) -> None:
        """--network mainnet with no keys says so; it never asks for 'yes' first."""
        monkeypatch.setattr("builtins.input", lambda p="": pytest.fail("asked for yes"))
        with pytest.raises(UsageError, match="no API credentials for mainnet"):
            ip.run_line_magic("borrow", "USDT 550 BTC --network mainnet")
        assert exchange.count() == 0 and default_ledger().count() == 0

    def test_guard_names_key_and_host(self, ip, monkeypatch) -> None:
        """The mainnet prompt names the host, the masked key and the profile in use."""
        monkeypatch.setenv("BYBIT_API_KEY", "MAINKEY123")
        monkeypatch.setenv("BYBIT_API_SECRET", "main-secret")
        prompts: list[str] = []
        monkeypatch.setattr("builtins.input", lambda p="": prompts.append(p) or "no")
        with pytest.raises(UsageError, match="cancelled"):
            ip.run_line_magic("borrow", "USDT 550 BTC --network mainnet")
        assert "MA***23" in prompts[0] and "MAINKEY123" not in prompts[0]
        assert "MAINNET (" in prompts[0]

    def test_reduce_names_the_coin(self, ip) -> None:
        """%collateral reduce ORDER gives the maximum in the loan's collateral coin."""
        order = ip.run_line_magic("borrow", "USDT 550 BTC").order_id
        shown = repr(ip.run_line_magic("collateral", f"reduce {order}"))
        assert shown.startswith("At most ") and " BTC collateral can be taken" in shown

    def test_bare_borrow_in_a_terminal(self, ip, capsys) -> None:
        """Without a widget front end, bare %borrow explains the line form instead."""
        assert ip.run_line_magic("borrow", "") is None
        out = capsys.readouterr().out
        assert "%borrow USDT 550 BTC" in out and "BorrowWidget(" not in out

    def test_duplicate_names_reconcile_and_force(self, ip, exchange) -> None:
        """An unsettled identical order: refused, naming %borrow --reconcile and --force."""
        exchange.faults.inject("/v5/crypto-loan/borrow", "drop")
        with pytest.raises(UsageError, match="%borrow --reconcile"):
            ip.run_line_magic("borrow", "USDT 550 BTC")
        with pytest.raises(UsageError) as info:
            ip.run_line_magic("borrow", "USDT 550 BTC")
        assert "--force" in str(info.value) and "%borrow --reconcile" in str(info.value)
        assert len(posts(exchange)) == 1
        ip.run_line_magic("borrow", "USDT 550 BTC --force")
        assert len(posts(exchange)) == 2 and len(exchange.orders) == 2

    def test_reconcile_then_send(self, ip, exchange) -> None:
        """%borrow --reconcile settles the unknown row; the same line then goes out."""
        exchange.faults.inject("/v5/crypto-loan/borrow", "drop")
        with pytest.raises(UsageError):
            ip.run_line_magic("borrow", "USDT 550 BTC")
        outcome = ip.run_line_magic("borrow", "--reconcile")
        assert [d.status for d in outcome.decisions] == ["accepted"]
        assert isinstance(ip.run_line_magic("borrow", "USDT 550 BTC"), BorrowResult)

    def test_profile_is_plumbed(self, ip) -> None:
        """--profile and %config BorrowMagics.profile reach the credentials lookup."""
        with pytest.raises(UsageError, match="profile named 'nope'"):
            ip.run_line_magic("borrow", "USDT 550 BTC --network testnet --profile nope")
        ip.run_line_magic("config", 'BorrowMagics.profile = "other"')
        with pytest.raises(UsageError, match="profile named 'other'"):
            ip.run_line_magic("loans", "--network testnet")

    @pytest.mark.parametrize("magic", ["borrow", "repay", "collateral"])
    def test_shared_options(self, ip, magic: str) -> None:
        """Every write magic documents the same shared options."""
        doc = ip.find_line_magic(magic).__doc__
        for flag in ("--network", "--dry-run", "--yes", "--force", "--profile"):
            assert flag in doc

    def test_duplicate_detection_uses_the_parser(self, ip) -> None:
        """Aliases of one option count as the same flag, for every option (no hand list)."""
        for line in ("USDT 550 BTC --force --force", "USDT 550 BTC --profile a --profile b",
                     "USDT 550 BTC -n sandbox --network sandbox", "USDT 550 BTC -y --yes"):
            with pytest.raises(UsageError, match="given twice"):
                ip.run_line_magic("borrow", line)


class TestExtension:
    """Loading and unloading the extension."""

    def test_unload_removes_magic(self, ip) -> None:
        """%unload_ext removes %borrow; %load_ext brings it back."""
        ip.run_line_magic("unload_ext", "loan_widgets")
        assert "borrow" not in ip.magics_manager.magics["line"]
        ip.run_line_magic("load_ext", "loan_widgets")
        assert "borrow" in ip.magics_manager.magics["line"]
