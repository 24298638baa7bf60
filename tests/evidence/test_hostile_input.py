"""Hostile input at every edge: magic lines, widget fields and key files.

Each hostile value must end in a one-line error (``UsageError`` from a magic, an
``invalid: ...`` status in the widget, ``CredentialsError`` from the client) of at most a
thousand characters that names the problem, with nothing sent to the exchange (not even a
GET) and nothing written to the ledger.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from IPython.core.error import UsageError
from support import posts

from loan_widgets import CredentialsError, LoanClient, PreparedRequest
from loan_widgets.ledger import default_ledger
from loan_widgets.widget.state import FormState

LOAN = "1794267532472646144"
LONG = 5_000  # longer lines only time IPython's own $var expansion (quadratic)


def line(text: str, message: str, *marks: pytest.MarkDecorator, id: str | None = None):
    """One row of a hostile-line table: the line and what its error must say (a regex)."""
    return pytest.param(text, message, marks=marks, id=id or repr(text)[1:-1][:60])


BORROW_LINES = [
    line("USDT 550 BTC; rm -rf /", "unrecognized"),
    line("USDT 550 BTC && ls", "got 5 words"),
    line("USDT 550 BTC | cat /etc/passwd", "got 6 words"),
    line("USDT 550 BTC `id`", "got 4 words"),
    line("USDT $(id) BTC", "not a plain decimal"),
    line("USDT 550 $(whoami)", "not a coin code"),
    line("USDT ٥٥٠ BTC", "not a plain decimal", id="arabic-indic digits"),
    line("USDT ५५० BTC", "not a plain decimal", id="devanagari digits"),
    line("USDT ５５０ BTC", "not a plain decimal", id="fullwidth digits"),
    line("ＵＳＤＴ 550 BTC", "not a coin code", id="fullwidth coin"),
    line("USDT ²⁵ BTC", "not a plain decimal", id="superscript digits"),
    line("USDT 5٫5 BTC", "not a plain decimal", id="arabic decimal separator"),
    line("USDT " + "9" * 21 + " BTC", "too large"),
    line("USDT " + "9" * LONG + " BTC", "too large", id="5k digits"),
    line("USDT 1." + "1" * 19 + " BTC", "decimal places"),
    line("USDT 1e3 BTC", "not a plain decimal"),
    line("USDT -550 BTC", "greater than zero, not -550"),
    line("USDT 5\x0050 BTC", "not a plain decimal", id="NUL in amount"),
    line("USDT 550 BT\x00C", "not a coin code", id="NUL in coin"),
    line("USDT 550 BTC --x\x00", "unrecognized", id="NUL in flag"),
    line("'USDT 550 BTC'", "got 1 word"),
    line('"USDT" "550" "BTC" "', "cannot parse"),
    line("USDT '550 BTC", "cannot parse"),
    line("USDT '550' BTC", "not a plain decimal", id="quoted quotes"),
    line("USDT 550 BTC --bogus", "unrecognized"),
    line("USDT 550 BTC --term 7 --term 30", "given twice"),
    line("USDT 550 BTC --term=7 -t 30", "given twice"),
    line("USDT 550 BTC --dry-run --dry-run", "given twice"),
    line("USDT 550 BTC -t7 --term 30", "given twice"),
    line("USDT 550 BTC --ter 7 --term 30", "unrecognized arguments: --ter"),
    line("USDT 550 BTC --network 'main\nnet'", "not a network", id="newline in network"),
    line("USDT 550 BTC --api 'new\x00'", "not known", id="NUL in api"),
    line("USDT 550 BTC '--x\ny'", "unrecognized|got 4 words", id="newline in unknown flag"),
    line("USDT 550 BTC --bogus" + "X" * LONG, "unrecognized", id="5k flag"),
    line("--term 7", "got 0 words", id="flags only: --term"),
    line("--dry-run", "LOAN_COIN", id="flags only: --dry-run"),
    line("--yes", "LOAN_COIN", id="flags only: --yes"),
]

REPAY_LINES = [
    line("", "expected ORDER_ID", id="empty"),
    line("   \t ", "expected ORDER_ID", id="blank"),
    line("--all", "expected ORDER_ID", id="flags only: --all"),
    line("--dry-run -y", "expected ORDER_ID", id="flags only: --dry-run -y"),
    line(f"{LOAN} 10; rm -rf /", "unrecognized"),
    line(f"{LOAN} 10 && ls", "unrecognized"),
    line(f"{LOAN} 10 | cat", "unrecognized"),
    line(f"{LOAN} `id`", "not a plain decimal"),
    line("$(id) 10", "not an order id"),
    line("١٢٣ 10", "not an order id", id="arabic-indic order id"),
    line(f"{LOAN} １０", "not a plain decimal", id="fullwidth amount"),
    line("9" * 31 + " 10", "not an order id"),
    line("9" * LONG + " 10", "not an order id", id="5k-digit order id"),
    line(f"{LOAN} " + "9" * 25, "too large"),
    line(f"{LOAN} 10 --bogus", "unrecognized"),
    line(f"{LOAN} 10 --all", "not both"),
    line(f"{LOAN} --all --all", "given twice"),
    line(f"{LOAN} 10 --dry-run --dry-run", "given twice"),
    line(f"{LOAN} 10 -nsandbox -n sandbox", "given twice"),
    line(f"{LOAN}\x00 10", "not an order id", id="NUL in order id"),
    line(f"{LOAN} 1\x000", "not a plain decimal", id="NUL in amount"),
    line(f"'{LOAN} 10'", "not both or neither"),
    line(f'{LOAN} "10', "cannot parse"),
    line(f"{LOAN} 10 'x\ny'", "unrecognized", id="newline in extra word"),
    line(f"{LOAN} 10 " + "x" * LONG, "unrecognized", id="5k extra word"),
]

COLLATERAL_LINES = [
    line("", r"expected add\|reduce", id="empty"),
    line("add", r"expected add\|reduce"),
    line("--dry-run", r"expected add\|reduce", id="flags only: --dry-run"),
    line("add --dry-run -y", r"expected add\|reduce", id="flags only after add"),
    line("ADD " + LOAN + " 0.001", r"expected add\|reduce"),
    line("add; " + LOAN + " 0.001", r"expected add\|reduce"),
    line(f"add {LOAN} 0.001; ls", "unrecognized"),
    line(f"add {LOAN} 0.001 && ls", "unrecognized"),
    line(f"add {LOAN} `id`", "not a plain decimal"),
    line(f"add {LOAN} $(id)", "not a plain decimal"),
    line(f"add {LOAN} ٠٫٠١", "not a plain decimal", id="arabic-indic amount"),
    line(f"add {LOAN} ０.０１", "not a plain decimal", id="fullwidth amount"),
    line(f"add {LOAN} " + "9" * 25, "too large"),
    line(f"add {LOAN} 0." + "0" * 30 + "1", "decimal places"),
    line(f"add {LOAN} 0.001 --bogus", "unrecognized"),
    line(f"add {LOAN} 0.001 -n sandbox -n sandbox", "given twice"),
    line(f"add\x00 {LOAN} 0.001", r"expected add\|reduce", id="NUL in direction"),
    line(f"add {LOAN} 0.0\x0001", "not a plain decimal", id="NUL in amount"),
    line(f"add {LOAN} 0.001 'x\ny'", "unrecognized", id="newline in extra word"),
]

LOANS_LINES = [
    line("; rm -rf /", "unrecognized"),
    line("&& ls", "unrecognized"),
    line("| cat", "unrecognized"),
    line("`id`", "unrecognized"),
    line("$(id)", "unrecognized"),
    line("--history fees", "loans, repayments or adjustments"),
    line("--history 'loans; ls'", "loans, repayments or adjustments"),
    line("--history ٢", "loans, repayments or adjustments", id="arabic-indic history"),
    line("--history loans\x00", "loans, repayments or adjustments", id="NUL in history"),
    line("--history 'a\nb'", "loans, repayments or adjustments", id="newline in history"),
    line("--history loans --history loans", "given twice"),
    line("--bogus", "unrecognized"),
    line("--network 'x\ny'", "not a network", id="newline in network"),
    line("--network ｓａｎｄｂｏｘ", "not a network", id="fullwidth network"),
    line("x" * LONG, "unrecognized", id="5k word"),
    line("'x\ny'", "unrecognized", id="newline in word"),
]

NEW_API_LINES = [
    line("borrow USDT 550 BTC --api new --term 30", "needs an annual rate"),
    line("borrow USDT 550 BTC --api new --rate 0.05", "fixed terms only"),
    line("borrow USDT 550 BTC --api new -t 30 -r abc", "not a plain decimal"),
    line("borrow USDT 550 BTC --api new -t 30 -r -0.05", "greater than zero"),
    line("borrow USDT 550 BTC --api new -t 30 -r 5", "not a percentage"),
    line("borrow USDT 550 BTC --api new -t 30 -r NaN", "not a plain decimal"),
    line("borrow USDT 550 BTC --api new -t 30 -r 0.05 -r 0.06", "given twice"),
    line("borrow USDT 550 BTC --api new -t 31 -r 0.05", "not offered"),
    line("borrow USDT 550 BTC --api new -t 30 -r 0.05 --strategy PARTLY", "PARTIAL or FULL"),
    line("borrow USDT 550 BTC --api new -t 30 -r 0.05 --repay-type x\x00", "not known",
         id="NUL in repay type"),
    line("borrow USDT 550 BTC --api new --strategy FULL", "fixed-term"),
    line("borrow USDT 550 BTC --strategy FULL", "add --api new"),
    line("borrow --cancel 13010", "add --api new"),
    line("borrow --cancel abc --api new", "not an id"),
    line("borrow --cancel 13010\x00 --api new", "not an id", id="NUL in cancel id"),
    line("borrow --cancel 13010 --api new --strategy FULL", "takes no --strategy"),
    line("borrow --cancel 13010 --api new --repay-type auto", "takes no --repay-type"),
    line("borrow --cancel 13010 --api new -t 30", "takes no --term"),
    line("borrow --cancel 1 --cancel 2 --api new", "given twice"),
    line("repay --loan-id abc --api new", "not an id"),
    line("repay USDT 100 --loan-id 570 --api new", "drop COIN, AMOUNT"),
    line("repay --loan-id 570", "add --api new"),
    line("repay USDT 10 --fixed --api new", "give no AMOUNT"),
    line("repay USDT --api new", "not both or neither"),
    line("repay 123 10 --api new", "is an id"),
    line("repay USDT 1e3 --api new", "not a plain decimal"),
    line("repay USDT 10 --collateral BTC,BTC --api new", "lists a coin twice"),
    line("repay USDT 10 --collateral BTC, --api new", "is missing"),
    line("repay USDT --all --collateral BTC --api new", "no --all"),
    line("repay --all --api new", "expected COIN AMOUNT"),
    line("collateral add BTC --api new", "how much collateral"),
    line("collateral add 123 0.1 --api new", "is an id"),
    line("collateral add BTC 0 --api new", "greater than zero"),
    line("collateral add BTC 0.1 --api new --loan-id 5", "unrecognized"),
    line("loans --watch --history", "drop --history"),
    line("loans --api bogus", "not known"),
    line("loans --watch --profile ../x", "not valid"),
    line("borrow USDT 550 BTC --api new --profile 'a\nb'", "not valid", id="newline in profile"),
]

TABLE = [
    *(pytest.param("borrow", *p.values, marks=p.marks, id=f"borrow-{p.id}") for p in BORROW_LINES),
    *(pytest.param("repay", *p.values, marks=p.marks, id=f"repay-{p.id}") for p in REPAY_LINES),
    *(
        pytest.param("collateral", *p.values, marks=p.marks, id=f"collateral-{p.id}")
        for p in COLLATERAL_LINES
    ),
    *(pytest.param("loans", *p.values, marks=p.marks, id=f"loans-{p.id}") for p in LOANS_LINES),
    *(pytest.param(p.values[0].split(" ", 1)[0], p.values[0].split(" ", 1)[1], p.values[1],
                   marks=p.marks, id=f"new-{p.id}") for p in NEW_API_LINES),
]


class TestHostileMagicLines:
    """Every hostile line: a one-line UsageError; no request at all; the ledger untouched."""

    @pytest.mark.parametrize(("magic", "text", "message"), TABLE)
    def test_line(self, ip, exchange, magic: str, text: str, message: str) -> None:
        """The error is one line and names the problem; nothing is sent or recorded."""
        with pytest.raises(UsageError) as info:
            ip.run_line_magic(magic, text)
        shown = str(info.value)
        assert len(shown.splitlines()) == 1, shown[:200]
        assert len(shown) < 1000, f"{len(shown)} characters"
        assert re.search(message, shown, re.IGNORECASE), shown[:200]
        assert exchange.count() == 0
        assert default_ledger().count() == 0

    @pytest.mark.parametrize(
        "cell",
        [
            "%borrow USDT $(id) BTC",
            "%borrow USDT `id` BTC",
            "%borrow USDT 550 BTC; import os",
            "%borrow USDT ${1+1} BTC",
            "%repay {'1' * 10_000} 10",
            "%collateral add $amount 0.1",
        ],
    )
    def test_cell(self, ip, exchange, capsys, cell: str) -> None:
        """Typed as a cell (variables expand first): a one-line UsageError, no traceback."""
        ip.user_ns["amount"] = "0.1; rm -rf /"
        result = ip.run_cell(cell, store_history=False)
        assert isinstance(result.error_in_exec, UsageError)
        out = capsys.readouterr()
        printed = (out.out + out.err).strip()
        assert printed.startswith("UsageError: ") and len(printed.splitlines()) == 1
        assert "Traceback" not in printed
        assert exchange.count() == 0 and default_ledger().count() == 0


class TestWhitespace:
    """Tabs and newlines inside a line are separators, like spaces (documented, not errors)."""

    DOC_BODY = (
        '{"loanCurrency":"USDT","loanAmount":"550","collateralCurrency":"BTC",'
        '"loanTerm":null,"collateralAmount":null}'
    )

    @pytest.mark.parametrize(
        "text",
        ["USDT\t550\tBTC --dry-run", "USDT\n550\nBTC\n--dry-run", "  USDT 550 BTC\r\n --dry-run "],
        ids=["tabs", "newlines", "crlf"],
    )
    def test_separators(self, ip, exchange, text: str) -> None:
        """The line means what it would with spaces: here a dry run of the doc example."""
        prepared = ip.run_line_magic("borrow", text)
        assert isinstance(prepared, PreparedRequest) and prepared.body == self.DOC_BODY
        assert exchange.count() == 0 and default_ledger().count() == 0


# --------------------------------------------------------------------------- the widget

WIDGET_VALUES = [
    "-550",
    "+550",
    "0",
    "0.0",
    "1e3",
    "NaN",
    "Infinity",
    "0x10",
    "1,000",
    "1_000",
    "550 USDT",
    "'550'",
    "٥٥٠",
    "５５０",
    "５５0",
    "550; rm -rf /",
    "$(id)",
    "`id`",
    "5\x0050",
    "55\n0",
    "5\u202e50",
    "9" * LONG,
    "0." + "0" * 40 + "1",
    "550.123456789",
    "<script>alert(1)</script>",
    "<b>550</b>",
]


@pytest.fixture
def widget(client: LoanClient) -> Iterator[object]:
    """A BorrowWidget on the test sandbox, closed (with every sub-widget) afterwards."""
    from ipywidgets.widgets.widget import _instances

    from loan_widgets.widget import BorrowWidget

    before = set(_instances)
    yield BorrowWidget(client=client)
    for model_id in set(_instances) - before:
        if (made := _instances.get(model_id)) is not None:
            made.close()


class TestHostileWidgetValues:
    """Hostile text in the amount fields, then Borrow: a one-line status, nothing sent."""

    @pytest.mark.parametrize("field", ["loan_amount", "collateral_amount"])
    @pytest.mark.parametrize("value", WIDGET_VALUES, ids=lambda v: repr(v)[1:40])
    def test_value(self, widget, exchange, ledger, field: str, value: str) -> None:
        """Status ``invalid: ...`` in one line, escaped in HTML; no POST, no ledger row."""
        getattr(widget, field).value = value
        widget.borrow_button.click()
        assert widget.state is FormState.INVALID, widget.status
        assert len(widget.status.splitlines()) == 1 and len(widget.status) < 300
        assert posts(exchange) == [] and ledger.count() == 0
        if "<" in value:  # shown escaped, never as markup
            parts = [widget.status_html, widget.loan_hint, widget.collateral_hint, widget.preview]
            assert not any(value in part.value for part in parts)
            assert html.escape(value) in widget.status_html.value

    def test_many_clicks_on_hostile_value(self, widget, exchange, ledger) -> None:
        """Clicking again and again on a refused value still sends nothing."""
        widget.loan_amount.value = "5\x0050"
        for _ in range(5):
            widget.borrow_button.click()
        assert posts(exchange) == [] and ledger.count() == 0


# --------------------------------------------------------------------------- key files


def _pem(private_format, encryption=None, key=None) -> bytes:
    key = key or rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        private_format,
        encryption or serialization.NoEncryption(),
    )


KEY_FILES = [
    pytest.param(
        lambda: _pem(
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"passphrase"),
        ),
        id="encrypted-pkcs8",
    ),
    pytest.param(
        lambda: _pem(
            serialization.PrivateFormat.PKCS8, key=ec.generate_private_key(ec.SECP256R1())
        ),
        id="ec-key",
    ),
    pytest.param(lambda: b"", id="empty"),
    pytest.param(lambda: b"\x00\xff garbage \x1b[31m", id="garbage"),
    pytest.param(lambda: _pem(serialization.PrivateFormat.PKCS8)[:400], id="truncated"),
    pytest.param(
        lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
        id="public-key",
    ),
]


class TestHostileKeyFiles:
    """A bad BYBIT_API_PRIVATE_KEY_FILE is a one-line CredentialsError, before anything is sent."""

    @pytest.mark.parametrize("content", KEY_FILES)
    def test_client(self, content, tmp_path: Path, monkeypatch, server, exchange, ledger) -> None:
        """The client refuses the key in one line, without quoting the file; nothing sent."""
        data = content()
        key_file = tmp_path / "key.pem"
        key_file.write_bytes(data)
        monkeypatch.setenv("BYBIT_API_KEY", "HOSTILEKEY01")
        monkeypatch.setenv("BYBIT_API_PRIVATE_KEY_FILE", str(key_file))
        client = LoanClient(network="testnet", base_url=server.base_url, ledger=ledger)
        with pytest.raises(CredentialsError) as info:
            client.borrow("USDT", "550", "BTC")
        text = str(info.value)
        assert len(text.splitlines()) == 1 and "BEGIN" not in text
        assert exchange.count() == 0 and ledger.count() == 0

    @pytest.mark.parametrize("content", KEY_FILES)
    def test_magic(self, content, tmp_path: Path, monkeypatch, ip, exchange) -> None:
        """%borrow on testnet with that key file: a one-line UsageError, nothing sent."""
        key_file = tmp_path / "key.pem"
        key_file.write_bytes(content())
        monkeypatch.setenv("BYBIT_API_KEY", "HOSTILEKEY01")
        monkeypatch.setenv("BYBIT_API_PRIVATE_KEY_FILE", str(key_file))
        ip.run_line_magic("config", 'BorrowMagics.network = "testnet"')
        with pytest.raises(UsageError) as info:
            ip.run_line_magic("borrow", "USDT 550 BTC")
        assert len(str(info.value).splitlines()) == 1
        assert exchange.count() == 0 and default_ledger().count() == 0
