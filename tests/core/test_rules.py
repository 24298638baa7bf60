"""The safety rules as tables and pure functions, tested without a socket or a sandbox."""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from decimal import Decimal

import pytest
from support import MAINNET_HOSTS

from loan_widgets.clock import ExchangeClock
from loan_widgets.config import Settings, check_base_url, host_network, origin
from loan_widgets.envelope import answer_id, check, server_time_ms
from loan_widgets.errors import (
    AmbiguousAnswer,
    AnswerLost,
    BadResponse,
    ConfigurationError,
    ConnectError,
    DuplicateOrderError,
    ExchangeError,
    LedgerError,
    LoanWidgetsError,
    OutcomeUnknown,
    RateLimitError,
    RequestInfo,
    TimestampError,
    ValidationError,
    exchange_error,
)
from loan_widgets.ledger_file import fingerprint
from loan_widgets.paging import check_filters, iter_pages
from loan_widgets.resend import MAX_RATE_LIMIT_WAIT_S, RULES, decide, kind_of
from loan_widgets.writes import STATUS_TABLE, status_for

INFO = RequestInfo("POST", "https://api.bybit.com/v5/crypto-loan/borrow")


@dataclass
class RawAnswer:
    """A raw answer as the transport gives it."""

    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


class TestResendTable:
    """Failure kind x attempt -> resend after N s, or raise."""

    @pytest.mark.parametrize(
        ("kind", "attempt", "expected"),
        [
            ("connect", 1, 0.05), ("connect", 2, 0.1), ("connect", 3, None),
            ("lost", 1, 0.0), ("lost", 3, None),
            ("timestamp", 1, 0.0), ("timestamp", 3, None),
            ("server_error", 1, 0.1), ("server_error", 2, 0.2), ("server_error", 3, None),
            ("bad_answer", 1, None), ("refused", 1, None),
        ],
    )
    def test_reads(self, kind: str, attempt: int, expected: float | None) -> None:
        """A read is tried up to three times on connect, lost, clock and gateway failures."""
        assert decide(kind, writes=False, attempt=attempt) == expected

    @pytest.mark.parametrize("kind", ["connect", "lost", "server_error", "bad_answer", "refused"])
    def test_writes_never_resent_without_proof(self, kind: str) -> None:
        """A write is never resent after a failure that does not prove it was not executed."""
        assert decide(kind, writes=True, attempt=1) is None

    def test_write_resent_once_after_10002_and_10006(self) -> None:
        """10002 and 10006 prove nothing was executed: one resend, never a second."""
        assert decide("timestamp", writes=True, attempt=1) == 0.0
        assert decide("rate_limit", writes=True, attempt=1, reset_wait_s=0.15) == 0.15
        assert decide("timestamp", writes=True, attempt=2, resent=True) is None
        assert decide("rate_limit", writes=True, attempt=2, resent=True) is None

    def test_long_rate_limit_wait_is_raised(self) -> None:
        """A reset further away than the longest wait is raised, for reads and writes."""
        for writes in (False, True):
            far = MAX_RATE_LIMIT_WAIT_S + 0.01
            assert decide("rate_limit", writes=writes, attempt=1, reset_wait_s=far) is None

    def test_kinds(self) -> None:
        """Every error lands in exactly one kind of the table."""
        cases = {
            ConnectError("x"): "connect",
            AnswerLost("x"): "lost",
            TimestampError(10002, "x"): "timestamp",
            RateLimitError(10006, "x"): "rate_limit",
            BadResponse("x", http_status=502): "server_error",
            BadResponse("x", http_status=429): "server_error",
            BadResponse("x", http_status=403): "bad_answer",
            ExchangeError(177002, "busy"): "refused",
            AmbiguousAnswer(10016, "x"): "refused",
            OutcomeUnknown("x"): "refused",
        }
        for error, kind in cases.items():
            assert kind_of(error) == kind and kind in RULES


class TestStatusTable:
    """Error class -> ledger status, the one table both loan APIs use."""

    @pytest.mark.parametrize(
        ("error", "status"),
        [
            (AmbiguousAnswer(10016, "internal"), "unknown"),
            (OutcomeUnknown("lost"), "unknown"),
            (AnswerLost("lost"), "unknown"),
            (ExchangeError(177009, "min"), "rejected"),
            (RateLimitError(10006, "limit"), "rejected"),
            (BadResponse("cdn", http_status=403), "rejected"),
            (ConnectError("refused"), "failed"),
            (ValidationError("bad header"), "failed"),
        ],
    )
    def test_errors(self, error: LoanWidgetsError, status: str) -> None:
        """Each error class settles the row as the table says."""
        assert status_for(error) == status

    def test_interrupts(self) -> None:
        """An interrupt once the request may have left is unknown; before, failed."""
        assert status_for(KeyboardInterrupt(), sent=True) == "unknown"
        assert status_for(KeyboardInterrupt(), sent=False) == "failed"
        assert status_for(RuntimeError("bug")) == "unknown"

    def test_table_order(self) -> None:
        """AmbiguousAnswer is an ExchangeError: the unknown rows come first."""
        classes = [cls for cls, _ in STATUS_TABLE]
        assert classes.index(OutcomeUnknown) < classes.index(ExchangeError)


class TestEnvelope:
    """Answers become an envelope or exactly one error of the tree."""

    @pytest.mark.parametrize("status", [200, 201, 500])
    def test_write_success_whatever_the_status(self, status: int) -> None:
        """retCode 0 on a write is success on 201 and 500 too."""
        body = b'{"retCode":0,"retMsg":"OK","result":{"orderId":"1794267532472646144"}}'
        found = check(RawAnswer(status, body), INFO, writes=True, name="borrow")
        assert found["result"]["orderId"] == "1794267532472646144"

    def test_read_needs_2xx(self) -> None:
        """retCode 0 on a read with HTTP 500 is a BadResponse (retried as a gateway error)."""
        with pytest.raises(BadResponse) as info:
            check(RawAnswer(500, b'{"retCode":0,"result":{}}'), INFO, writes=False, name="x")
        assert info.value.http_status == 500

    def test_string_retcode_named_as_such(self) -> None:
        """retCode "0" is not called invalid JSON: the message names the field."""
        with pytest.raises(OutcomeUnknown) as info:
            check(RawAnswer(200, b'{"retCode":"0","result":{}}'), INFO, writes=True, name="borrow")
        assert "retCode is str" in str(info.value) and "not valid JSON" not in str(info.value)

    def test_ambiguous_codes_on_writes(self) -> None:
        """10016 to a write is an AmbiguousAnswer, to a read a plain ExchangeError."""
        body = b'{"retCode":10016,"retMsg":"Internal error","result":{}}'
        with pytest.raises(AmbiguousAnswer):
            check(RawAnswer(200, body), INFO, writes=True, name="borrow")
        with pytest.raises(ExchangeError) as info:
            check(RawAnswer(200, body), INFO, writes=False, name="x")
        assert not isinstance(info.value, OutcomeUnknown)

    def test_control_characters_in_retmsg(self) -> None:
        """A retMsg with line breaks becomes one line."""
        body = b'{"retCode":177002,"retMsg":"busy\\nnow\\r\\n","result":{}}'
        with pytest.raises(ExchangeError) as info:
            check(RawAnswer(200, body), INFO, writes=True, name="borrow")
        assert "\n" not in str(info.value) and info.value.ret_msg == "busy now"

    @pytest.mark.parametrize(
        "value", [False, True, {}, [], 0, "0", "", None, "abc;DROP", "12a", " 1", -5, 1.5, "１２"]
    )
    def test_junk_ids(self, value: object) -> None:
        """Only digits or a JSON integer above zero are ids."""
        found, why = answer_id({"orderId": value}, "orderId")
        assert found is None and why

    @pytest.mark.parametrize("value", ["1794267532472646144", 570, "7"])
    def test_ids(self, value: object) -> None:
        """Decimal digits and JSON integers are ids, as text."""
        assert answer_id({"orderId": value}, "orderId") == (str(value), "")

    def test_other_key_is_not_the_id(self) -> None:
        """A borrow answer with only repayId has no order id."""
        found, why = answer_id({"repayId": "1794267532472646144"}, "orderId")
        assert found is None and "orderId" in why

    @pytest.mark.parametrize(
        "result",
        [{}, {"timeNano": "abc"}, {"timeNano": 5}, {"timeSecond": "x"}, [], None, "now"],
    )
    def test_malformed_server_time(self, result: object) -> None:
        """A market-time answer without a usable time is one BadResponse line."""
        with pytest.raises(BadResponse) as info:
            server_time_ms({"retCode": 0, "result": result}, INFO)
        assert "\n" not in str(info.value)

    def test_server_time(self) -> None:
        """timeNano wins; timeSecond and the envelope's time are fallbacks."""
        assert server_time_ms({"result": {"timeNano": "1700000000123456789"}}, INFO) == (
            1700000000123.456789
        )
        assert server_time_ms({"result": {"timeSecond": "1700000000"}}, INFO) == 1700000000000.0
        assert server_time_ms({"result": {}, "time": 1700000000123}, INFO) == 1700000000123.0


MAINNET_SPELLINGS = [*MAINNET_HOSTS, "API.BYBIT.COM", "api.bybit.com."]
TESTNET_HOSTS = ["api-testnet.bybit.com", "api-testnet.manepa.jp", "api-demo.bybit.com"]


class TestHosts:
    """Mainnet is a host, not a name."""

    @pytest.mark.parametrize("host", MAINNET_SPELLINGS)
    def test_mainnet_hosts(self, host: str) -> None:
        """Every documented mainnet host is mainnet; naming it otherwise is refused."""
        assert host_network(host) == "mainnet"
        assert Settings.resolve(base_url=f"https://{host}", environ={}).network == "mainnet"
        for name in ("testnet", "sandbox"):
            with pytest.raises(ConfigurationError, match="contradicts"):
                Settings.resolve(name, f"https://{host}", environ={})

    @pytest.mark.parametrize("host", TESTNET_HOSTS)
    def test_testnet_hosts(self, host: str) -> None:
        """Testnet and demo hosts are not mainnet; calling them mainnet is refused."""
        assert host_network(host) == "testnet"
        with pytest.raises(ConfigurationError, match="contradicts"):
            Settings.resolve("mainnet", f"https://{host}", environ={})

    @pytest.mark.parametrize("host", ["127.0.0.1:8080", "localhost:9", "[::1]:80", "127.8.9.1"])
    def test_loopback_is_no_bybit_host(self, host: str) -> None:
        """Loopback keeps any network name, over plain http."""
        for name in ("sandbox", "testnet", "mainnet"):
            assert Settings.resolve(name, f"http://{host}", environ={}).network == name

    def test_environment_network_contradicting_host(self) -> None:
        """LOAN_WIDGETS_NETWORK=testnet with a mainnet host is refused in one line."""
        env = {"LOAN_WIDGETS_NETWORK": "testnet", "LOAN_WIDGETS_BASE_URL": "https://api.bybit.com"}
        with pytest.raises(ConfigurationError) as info:
            Settings.resolve(environ=env)
        assert "\n" not in str(info.value) and "mainnet" in str(info.value)

    @pytest.mark.parametrize(
        ("url", "words"),
        [
            ("http://bybit-proxy.test:8080", "plain http"),
            ("http://api.bybit.com", "plain http"),
            ("http://10.1.2.3", "plain http"),
            ("https://user:hunter2@api-testnet.bybit.com", "user info"),
            ("http://user:hunter2@127.0.0.1:1", "user info"),
            ("https://host.test/?a=1", "query"),
            ("https://host.test/#x", "fragment"),
            ("https://host.test:99999", "bad port"),
            ("https://host.test:0", "bad port"),
            ("https://host.test:abc", "bad port"),
            ("https://host.test ", "whitespace"),
            ("https://host.test/a b", "whitespace"),
            ("https://ho\nst.test", "whitespace"),
            ("ftp://host.test", "http"),
            ("https://", "host"),
        ],
    )
    def test_bad_base_urls(self, url: str, words: str) -> None:
        """One line, naming the problem, never the password."""
        with pytest.raises(ConfigurationError) as info:
            check_base_url(url)
        text = str(info.value)
        assert words in text and "hunter2" not in text and "\n" not in text

    def test_origin(self) -> None:
        """The host key: lower case, no default port, no trailing dot or slash."""
        assert origin("https://API.Bybit.com.:443/") == "https://api.bybit.com"
        assert origin("http://127.0.0.1:8080") == "http://127.0.0.1:8080"


class TestPaging:
    """Paging ends: on an empty cursor, an empty page, a repeated cursor or too many pages."""

    def pages(self, answers: list[dict]) -> list:
        calls: list[dict] = []

        def fetch(query: dict) -> dict:
            calls.append(dict(query))
            return answers[min(len(calls) - 1, len(answers) - 1)]

        return [list(iter_pages(fetch, {}, INFO, max_pages=5)), calls]

    def test_follows_cursors(self) -> None:
        """Items of every page, the cursor passed on."""
        items, calls = self.pages([
            {"list": [1], "nextPageCursor": "a%3A1"}, {"list": [2], "nextPageCursor": ""},
        ])
        assert items == [1, 2] and calls[1]["cursor"] == "a%3A1"

    def test_empty_page_ends(self) -> None:
        """A cursor on an empty page does not keep it going."""
        items, calls = self.pages([{"list": [1], "nextPageCursor": "b"},
                                   {"list": [], "nextPageCursor": "c"}])
        assert items == [1] and len(calls) == 2

    def test_repeated_cursor(self) -> None:
        """The same cursor twice is a one-line BadResponse after two reads."""
        with pytest.raises(BadResponse, match="repeated a page cursor"):
            self.pages([{"list": [1], "nextPageCursor": "same"}])

    def test_too_many_pages(self) -> None:
        """New cursors for ever stop at the page limit."""
        counter = iter(range(100))

        def fetch(query: dict) -> dict:
            return {"list": [0], "nextPageCursor": str(next(counter))}

        with pytest.raises(BadResponse, match="more than 5 pages"):
            list(iter_pages(fetch, {}, INFO, max_pages=5))

    def test_unknown_filter(self) -> None:
        """A misspelt filter is refused with the list of allowed ones."""
        with pytest.raises(ValidationError, match=r"'orderID'.*orderId, loanCurrency"):
            check_filters("ongoing_orders", {"orderID": "1"}, ("orderId", "loanCurrency"))


class TestErrors:
    """Errors are immutable once built; suggestions are structured."""

    def test_immutable(self) -> None:
        """Changing a field or the message after construction is refused."""
        error = ExchangeError(177009, "below minimum")
        with pytest.raises(AttributeError):
            error.ledger_id = 3  # type: ignore[misc]
        with pytest.raises(AttributeError):
            error.message = "changed"  # type: ignore[misc]
        assert str(error) == error.args[0]

    def test_derive(self) -> None:
        """derive() builds a changed copy of the same class; the original stays."""
        error = exchange_error(10006, "limit", reset_at_ms=5)
        copy = error.derive("limit, row 4", ledger_id=4)
        assert type(copy) is RateLimitError and copy.reset_at_ms == 5 and copy.ledger_id == 4
        assert str(copy) == copy.args[0] == "limit, row 4" and error.ledger_id is None

    def test_pickle(self) -> None:
        """Errors cross process boundaries whole."""
        error = DuplicateOrderError("dup", ledger_ids=(1, 2))
        back = pickle.loads(pickle.dumps(error))
        assert back.ledger_ids == (1, 2) and back.reconcile and str(back) == "dup"

    def test_notes_allowed(self) -> None:
        """Python's own notes can still be added."""
        error = LedgerError("locked")
        error.add_note("more")
        assert error.__notes__ == ["more"]


class TestClockAndFingerprint:
    """The exchange clock and the duplicate guard's identity of an order."""

    def test_clock_keeps_offset_within_noise(self) -> None:
        """A measurement consistent with the known offset does not move it; a jump does."""
        clock = ExchangeClock()
        clock.measure(1000.0, 1000.010, 1000005.0 + 2)
        first = clock.offset_ms
        clock.measure(2000.0, 2000.004, 2000002.0 + 1)
        assert clock.offset_ms == first
        clock.measure(3000.0, 3000.004, 3000002.0 + 30_000)
        assert clock.offset_ms == pytest.approx(30_000, abs=5)

    def test_fingerprint(self) -> None:
        """550 and 550.0 are the same order; another term or coin is not."""
        same = fingerprint("borrow", "USDT", Decimal("550"), "BTC", None, "flexible")
        assert same == fingerprint("borrow", "USDT", Decimal("550.0"), "BTC", None, None)
        assert same != fingerprint("borrow", "USDT", Decimal("550"), "BTC", None, "7")
        assert same != fingerprint("borrow", "USDC", Decimal("550"), "BTC", None, "flexible")
