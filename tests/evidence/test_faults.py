"""Faults on the three write actions: what the user sees, what the ledger says, what was sent.

Each fault is staged with the sandbox's own knobs (``faults.inject``, ``faults.skew_ms``,
stopping the server) or, where the sandbox cannot misbehave badly enough, with a raw socket
server on 127.0.0.1 written here. Every row of the tables below is checked for borrow, repay
and collateral adjustment, through ``LoanClient`` and again through the magics.

The rule under test (``client.py``): a POST is resent at most once, freshly signed with the
same body, and only after retCode 10002 (once the clock is re-synced) or 10006 (once the
limit's reset time has passed); never after a lost answer, a gateway page or a "busy".
"""

from __future__ import annotations

import json
import os
import re
import socket
import socketserver
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from IPython.core.error import UsageError
from support import PLANTED_KEY, PLANTED_SECRET, SCRIPTS
from support.loopback import LoopbackServer

from loan_widgets import (
    AmbiguousAnswer,
    BadResponse,
    BorrowResult,
    ConnectError,
    ExchangeError,
    LoanClient,
    OutcomeUnknown,
    RateLimitError,
    TimestampError,
)
from loan_widgets.ledger import Ledger
from loan_widgets.orders import ActionResult
from loan_widgets.sandbox import DEMO_API_KEY, DEMO_API_SECRET, Sandbox, SandboxServer

TIMEOUT = 0.5  # seconds the client under test waits for an answer
SKEW_MS = 30_000


# --------------------------------------------------------------------------- the actions


@dataclass(frozen=True)
class Action:
    """One write action, reachable through the client and through a magic."""

    name: str
    path: str
    magic: str
    run: Callable[[LoanClient, str], object]
    line: Callable[[str], str]
    done: Callable[[Sandbox], int]  # how many such actions the exchange has executed
    result: type

    def __str__(self) -> str:
        return self.name


ACTIONS = [
    Action(
        "borrow",
        "/v5/crypto-loan/borrow",
        "borrow",
        lambda c, loan: c.borrow("USDT", "550", "BTC"),
        lambda loan: "USDT 550 BTC",
        lambda ex: len(ex.orders) + len(ex.completed),
        BorrowResult,
    ),
    Action(
        "repay",
        "/v5/crypto-loan/repay",
        "repay",
        lambda c, loan: c.repay(loan, "10"),
        lambda loan: f"{loan} 10",
        lambda ex: len(ex.repayments),
        ActionResult,
    ),
    Action(
        "adjust",
        "/v5/crypto-loan/adjust-ltv",
        "collateral",
        lambda c, loan: c.adjust_collateral(loan, "0.001", "add"),
        lambda loan: f"add {loan} 0.001",
        lambda ex: len(ex.adjustments),
        ActionResult,
    ),
]


# --------------------------------------------------------------------------- the fault table


@dataclass(frozen=True)
class Fault:
    """A fault, and everything the tests assert about an action that meets it.

    ``error`` None means the action succeeds. ``words`` must all appear in the one-line
    message (regular expressions, case-insensitive). ``status`` is the ledger row's status,
    None when no row is written. ``posts`` is how many POSTs reached the exchange;
    ``executed`` whether the exchange carried the action out. ``first_call`` runs the
    action on a client that has never synced its clock.
    """

    id: str
    arrange: Callable[[Sandbox, SandboxServer, str], None]
    error: type[Exception] | None
    words: tuple[str, ...]
    status: str | None
    posts: int
    executed: bool
    first_call: bool = False
    http_status: int | None = None


def inject(kind: str, times: int = 1, **params: object) -> Callable[..., None]:
    """Queue a sandbox fault for the action's path."""

    def arrange(exchange: Sandbox, server: SandboxServer, path: str) -> None:
        exchange.faults.inject(path, kind, times=times, **params)

    return arrange


def skew(ms: int) -> Callable[..., None]:
    """Move the exchange's clock by ``ms`` (negative: the client's clock is ahead)."""

    def arrange(exchange: Sandbox, server: SandboxServer, path: str) -> None:
        exchange.faults.skew_ms = ms

    return arrange


def refuse(exchange: Sandbox, server: SandboxServer, path: str) -> None:
    """Stop listening: every new connection is refused."""
    server.stop()


UNKNOWN = ("outcome unknown", "may have been executed", "Do not resend", "reconcile")
REFUSED = ("could not connect", "refused", "nothing was sent", "safe to try again")
TIMESTAMP = ("10002", "recv_window", "re-syncs", "NTP")

FAULTS = [
    Fault("refused", refuse, ConnectError, REFUSED, "failed", 0, False),
    Fault("refused-first-call", refuse, ConnectError, REFUSED, "failed", 0, False, first_call=True),
    Fault(
        "slow-past-timeout", inject("latency", seconds=2 * TIMEOUT), OutcomeUnknown,
        (*UNKNOWN, rf"no answer .* within {TIMEOUT:g} s"), "unknown", 1, True,
    ),
    Fault(
        "dropped-after-execute", inject("drop"), OutcomeUnknown,
        (*UNKNOWN, "broke before an answer came"), "unknown", 1, True,
    ),
    Fault(
        "html-502", inject("http", status=502), OutcomeUnknown,
        (*UNKNOWN, "HTTP 502", "HTML page", "gateway"), "unknown", 1, False, http_status=502,
    ),
    Fault(
        "html-503", inject("http", status=503), OutcomeUnknown,
        (*UNKNOWN, "HTTP 503", "HTML page", "unavailable"), "unknown", 1, False,
        http_status=503,
    ),
    Fault(
        "html-504", inject("http", status=504), OutcomeUnknown,
        (*UNKNOWN, "HTTP 504", "HTML page", "gateway timed out"), "unknown", 1, False,
        http_status=504,
    ),
    Fault(
        "html-429", inject("http", status=429), BadResponse,
        ("HTTP 429", "HTML page", "rate protection"), "rejected", 1, False, http_status=429,
    ),
    Fault(
        "cdn-html-403", inject("http", status=403), BadResponse,
        ("HTTP 403", "HTML page", "forbidden", "rate limit|region"), "rejected", 1, False,
        http_status=403,
    ),
    Fault(
        "truncated-json", inject("bad_json"), OutcomeUnknown,
        (*UNKNOWN, "HTTP 200", "not valid JSON"), "unknown", 1, True, http_status=200,
    ),
    Fault(
        "malformed-json", inject("bad_json", body='{"retCode":0,"retMsg":"OK","result":}'),
        OutcomeUnknown, (*UNKNOWN, "HTTP 200", "not valid JSON"), "unknown", 1, True,
        http_status=200,
    ),
    Fault(
        "json-not-an-envelope", inject("bad_json", body="[1,2]"), OutcomeUnknown,
        (*UNKNOWN, "HTTP 200"), "unknown", 1, True, http_status=200,
    ),
    Fault(
        "ok-envelope-without-result",
        inject("bad_json", body='{"retCode":0,"retMsg":"OK","retExtInfo":{},"time":1}'),
        OutcomeUnknown, (*UNKNOWN, "HTTP 200"), "unknown", 1, True,
    ),
    Fault(
        "ok-envelope-result-null",
        inject("bad_json", body='{"retCode":0,"retMsg":"OK","result":null}'),
        OutcomeUnknown, (*UNKNOWN, "HTTP 200"), "unknown", 1, True,
    ),
    Fault(
        "ok-envelope-id-null",
        inject("bad_json", body='{"retCode":0,"retMsg":"OK","result":'
               '{"orderId":null,"repayId":null,"adjustId":null}}'),
        OutcomeUnknown, ("outcome unknown", "no id", "executed", "Do not resend", "reconcile"),
        "unknown", 1, True,
    ),
    Fault(
        "retcode-not-a-number",
        inject("bad_json", body='{"retCode":"abc","retMsg":"OK","result":{}}'),
        OutcomeUnknown, (*UNKNOWN, "HTTP 200"), "unknown", 1, True,
    ),
    Fault(
        "retcode-out-of-range",
        inject("bad_json", body='{"retCode":1e400,"retMsg":"OK","result":{}}'),
        OutcomeUnknown, (*UNKNOWN, "HTTP 200"), "unknown", 1, True,
    ),
    Fault(
        "10006-reset-150ms", inject("retcode", code=10006, reset_ms=150), None, (),
        "accepted", 2, True,
    ),
    Fault(
        "10006-twice", inject("retcode", times=2, code=10006, reset_ms=50), RateLimitError,
        ("10006", "rate limit", "wait until the limit resets"), "rejected", 2, False,
    ),
    Fault(
        "10006-reset-in-10s", inject("retcode", code=10006, reset_ms=10_000), RateLimitError,
        ("10006", "rate limit", "wait until the limit resets"), "rejected", 1, False,
    ),
    Fault("10002-client-30s-fast", skew(-SKEW_MS), None, (), "accepted", 2, True),
    Fault("10002-client-30s-slow", skew(SKEW_MS), None, (), "accepted", 2, True),
    Fault(
        "10002-client-30s-fast-first-call", skew(-SKEW_MS), None, (), "accepted", 1, True,
        first_call=True,
    ),
    Fault(
        "10002-client-30s-slow-first-call", skew(SKEW_MS), None, (), "accepted", 1, True,
        first_call=True,
    ),
    Fault(
        "10002-persists", inject("retcode", times=2, code=10002), TimestampError, TIMESTAMP,
        "rejected", 2, False,
    ),
    Fault(
        "10016-internal", inject("retcode", code=10016), AmbiguousAnswer,
        ("10016", "internal error", "reconcile"), "unknown", 1, False,
    ),
    Fault(
        "177002-busy", inject("retcode", code=177002), ExchangeError,
        ("177002", "busy", "try again later"), "rejected", 1, False,
    ),
]

def _ts(record: object) -> int:
    return int(record.headers["x-bapi-timestamp"])  # type: ignore[attr-defined]


RESEND_AFTER: dict[str, tuple[int, Callable[[object, object], bool]]] = {
    "10006-reset-150ms": (10006, lambda a, b: _ts(b) >= a.time + 150),
    "10006-twice": (10006, lambda a, b: _ts(b) >= a.time + 50),
    "10002-client-30s-fast": (10002, lambda a, b: abs(_ts(b) - _ts(a) + SKEW_MS) < 1000),
    "10002-client-30s-slow": (10002, lambda a, b: abs(_ts(b) - _ts(a) - SKEW_MS) < 1000),
    "10002-persists": (10002, lambda a, b: _ts(b) >= _ts(a) - 5),
}
"""The cases where a second POST is allowed: the retCode that allows it, and how the resend's
timestamp must relate to the first POST (after the reset time; shifted by the re-synced skew)."""


def one_line(text: str) -> None:
    """``text`` is a single line with no control characters but spaces."""
    assert len(text.splitlines()) == 1, text
    assert not any(ord(ch) < 32 for ch in text), text


def has_words(text: str, words: tuple[str, ...]) -> None:
    """Every key word (a regular expression) appears in ``text``."""
    for word in words:
        assert re.search(word, text, re.IGNORECASE), f"{word!r} not in {text!r}"


def check_resend_rule(sent: list, fault: Fault) -> None:
    """At most one resend, only after 10002/10006, same body, freshly signed."""
    assert len(sent) <= 2
    if len(sent) == 2:
        first, second = sent
        assert fault.id in RESEND_AFTER, f"{fault.id}: resent without a 10002/10006"
        code, fresh = RESEND_AFTER[fault.id]
        if first.fault is None:  # a real answer, not a scripted one
            assert first.ret_code == code
        assert second.body == first.body
        assert fresh(first, second), "the resend was not signed with a fresh timestamp"


def write_posts(exchange: Sandbox, path: str) -> list:
    """The POSTs to ``path`` the exchange received."""
    with exchange.lock:
        return [r for r in exchange.requests if r.method == "POST" and r.path == path]


@pytest.fixture
def make_client(sandbox_client: Callable[..., LoanClient]) -> Callable[[], LoanClient]:
    """New clients for the test sandbox with the demo key and a short timeout."""
    return lambda: sandbox_client(timeout=TIMEOUT)


table = pytest.mark.parametrize("action", ACTIONS, ids=str)


faults = pytest.mark.parametrize("fault", [pytest.param(f, id=f.id) for f in FAULTS])


class TestFaultTable:
    """Each fault on each write action, through ``LoanClient``: error, ledger, POSTs."""

    @table
    @faults
    def test_fault(
        self, action: Action, fault: Fault, make_client, exchange: Sandbox, server, ledger
    ) -> None:
        """The error, the ledger row and the POST count are exactly the table's."""
        first = make_client()
        loan = first.borrow("USDT", "550", "BTC").order_id  # syncs `first`'s clock
        actor = make_client() if fault.first_call else first
        rows_before, done_before = ledger.count(), action.done(exchange)
        sent_before = len(write_posts(exchange, action.path))
        fault.arrange(exchange, server, action.path)

        if fault.error is None:
            result = action.run(actor, loan)
            assert isinstance(result, action.result)
        else:
            with pytest.raises(fault.error) as info:
                action.run(actor, loan)
            assert type(info.value) is fault.error
            text = str(info.value)
            one_line(text)
            has_words(text, fault.words)
            if fault.http_status is not None:
                assert info.value.http_status == fault.http_status

        new_rows = ledger.rows()[rows_before:]
        if fault.status is None:
            assert new_rows == []
        else:
            [row] = new_rows
            assert (row.status, row.action) == (fault.status, action.name)
            if fault.http_status is not None:
                assert row.http_status == fault.http_status
            if isinstance(fault.error, type) and issubclass(
                fault.error, (OutcomeUnknown, ExchangeError)
            ):
                assert info.value.ledger_id == row.id
        sent = write_posts(exchange, action.path)[sent_before:]
        assert len(sent) == fault.posts
        check_resend_rule(sent, fault)
        assert action.done(exchange) - done_before == int(fault.executed)

    @table
    def test_10006_waits_for_the_reset_time(self, action: Action, make_client, exchange) -> None:
        """The resend is signed only once the reset time has passed, by the synced clock."""
        first = make_client()
        loan = first.borrow("USDT", "550", "BTC").order_id
        exchange.faults.inject(action.path, "retcode", code=10006, reset_ms=300)
        action.run(first, loan)
        limited, resent = write_posts(exchange, action.path)[-2:]
        reset_at = limited.time + 300  # what X-Bapi-Limit-Reset-Timestamp said
        assert int(resent.headers["x-bapi-timestamp"]) >= reset_at
        assert resent.time > limited.time

    @table
    def test_lost_answer_is_not_resent_later(self, action: Action, make_client, exchange) -> None:
        """After a lost answer the client sends nothing more to that path by itself."""
        first = make_client()
        loan = first.borrow("USDT", "550", "BTC").order_id
        exchange.faults.inject(action.path, "drop")
        with pytest.raises(OutcomeUnknown):
            action.run(first, loan)
        first.ongoing_orders()  # the client keeps working: reads are fine
        assert len(write_posts(exchange, action.path)) == (2 if action.name == "borrow" else 1)


# --------------------------------------------------------------------------- through the magics


class TestFaultTableThroughMagics:
    """The same table through %borrow, %repay and %collateral: one-line UsageErrors."""

    @table
    @faults
    def test_fault(
        self, action: Action, fault: Fault, ip, client, exchange, server, ledger
    ) -> None:
        """The magic shows the error's text in one line; ledger and POSTs as in the table."""
        ip.run_line_magic("config", f"BorrowMagics.timeout = {TIMEOUT}")
        if fault.first_call:  # the magic's own client has not synced yet
            loan = client.borrow("USDT", "550", "BTC").order_id
        else:
            loan = ip.run_line_magic("borrow", "USDT 550 BTC").order_id
        rows_before, sent_before = ledger.count(), len(write_posts(exchange, action.path))
        fault.arrange(exchange, server, action.path)

        if fault.error is None:
            assert isinstance(ip.run_line_magic(action.magic, action.line(loan)), action.result)
        else:
            with pytest.raises(UsageError) as info:
                ip.run_line_magic(action.magic, action.line(loan))
            one_line(str(info.value))
            has_words(str(info.value), fault.words)

        statuses = [r.status for r in ledger.rows()[rows_before:]]
        assert statuses == ([] if fault.status is None else [fault.status])
        sent = write_posts(exchange, action.path)[sent_before:]
        assert len(sent) == fault.posts
        check_resend_rule(sent, fault)


# --------------------------------------------------------------------------- a server gone wrong


class _RawHandler(socketserver.StreamRequestHandler):
    """Answers ``GET /v5/market/time`` and the open-loans read (no loans) properly, and every
    other request per ``server.mode``."""

    server: MisbehavingServer

    def handle(self) -> None:
        try:
            while self._one():
                pass
        except OSError:
            pass

    def _one(self) -> bool:
        line = self.rfile.readline(65537)
        if not line:
            return False
        method, target = line.split()[:2]
        length = 0
        while (header := self.rfile.readline(65537)) not in (b"\r\n", b"\n", b""):
            name, _, value = header.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        self.rfile.read(length)
        if target.startswith((b"/v5/market/time", b"/v5/crypto-loan/ongoing-orders")):
            now = time.time_ns()
            result = (
                {"timeSecond": str(now // 10**9), "timeNano": str(now)}
                if target.startswith(b"/v5/market/time")
                else {"list": [], "nextPageCursor": ""}
            )
            body = json.dumps(
                {"retCode": 0, "retMsg": "OK", "result": result, "retExtInfo": {},
                 "time": now // 10**6}
            ).encode()
            self.wfile.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
            )
            return True
        self.server.received.append(method.decode())
        mode = self.server.mode
        if mode == "silent":
            self.server.stopping.wait(30)
        elif mode == "garbage":
            self.wfile.write(b"SSH-2.0-OpenSSH_9.6\r\n\x00\x01\x02 not http\r\n\r\n")
        elif mode == "truncated-body":
            self.wfile.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 400"
                b"\r\n\r\n{\"retCode\":0,"
            )
        elif mode == "reset":
            self.connection.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, (1).to_bytes(4, "little") + bytes(4)
            )
            self.connection.close()  # with SO_LINGER 0: an RST, not a FIN
        elif mode == "no-status-line":
            self.wfile.write(b'{"retCode":0,"retMsg":"OK","result":{"orderId":"1"}}')
        return False  # and close


class MisbehavingServer(LoopbackServer):
    """A raw socket server on 127.0.0.1 that syncs clocks fine and mangles every write."""

    def __init__(self, mode: str) -> None:
        super().__init__(_RawHandler)
        self.mode = mode
        self.received: list[str] = []


@dataclass(frozen=True)
class Misbehaviour:
    """What a misbehaving server does to a write, and what the user then sees."""

    mode: str
    words: tuple[str, ...]


MISBEHAVIOURS = [
    Misbehaviour("silent", (*UNKNOWN, rf"no answer .* within {TIMEOUT:g} s")),
    Misbehaviour("garbage", (*UNKNOWN, "broke before an answer came")),
    Misbehaviour("truncated-body", (*UNKNOWN, "broke before an answer came", "IncompleteRead")),
    Misbehaviour("reset", (*UNKNOWN, "broke before an answer came", "reset")),
    Misbehaviour("no-status-line", (*UNKNOWN, "broke before an answer came")),
]
"""Every one is OutcomeUnknown, ledger ``unknown``, exactly one POST received."""


class TestMisbehavingServer:
    """A server that accepts and never answers, or answers garbage: unknown, sent once."""

    @table
    @pytest.mark.parametrize("bad", MISBEHAVIOURS, ids=lambda m: m.mode)
    def test_write(self, action: Action, bad: Misbehaviour, ledger: Ledger) -> None:
        """OutcomeUnknown in one line, the ledger row ``unknown``, one POST received."""
        with (
            MisbehavingServer(bad.mode) as raw,
            LoanClient(
                base_url=raw.url, api_key=DEMO_API_KEY, api_secret=DEMO_API_SECRET,
                timeout=TIMEOUT, ledger=ledger,
            ) as c,
        ):
            with pytest.raises(OutcomeUnknown) as info:
                action.run(c, "1794267532472646144")
            one_line(str(info.value))
            has_words(str(info.value), bad.words)
            assert raw.received == ["POST"]
        [row] = ledger.rows()
        assert (row.status, row.action, row.id) == ("unknown", action.name, info.value.ledger_id)

    @table
    def test_through_magic(self, action: Action, ip, ledger: Ledger) -> None:
        """The magic reports a silent server as a one-line 'outcome unknown'."""
        with MisbehavingServer("silent") as raw:
            ip.run_line_magic("config", f"BorrowMagics.timeout = {TIMEOUT}")
            ip.run_line_magic("config", f'BorrowMagics.base_url = "{raw.url}"')
            with pytest.raises(UsageError) as info:
                ip.run_line_magic(action.magic, action.line("1794267532472646144"))
            one_line(str(info.value))
            has_words(str(info.value), UNKNOWN)
            assert raw.received == ["POST"]
        assert [r.status for r in ledger.rows()] == ["unknown"]


# --------------------------------------------------------------------------- two kernels at once


@pytest.fixture
def sandbox_process() -> Iterator[str]:
    """``python -m loan_widgets.sandbox`` in a subprocess knowing the planted key; its URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "loan_widgets.sandbox", "--port", "0",
         "--api-key", PLANTED_KEY, "--api-secret", PLANTED_SECRET],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("BASE_URL=http://127.0.0.1:"), line
        yield line.removeprefix("BASE_URL=")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


class TestTwoKernels:
    """Two IPython processes borrowing at once, against one sandbox, into one ledger file."""

    BORROWS = 25

    def test_concurrent_borrows(self, sandbox_process: str, tmp_path: Path) -> None:
        """Every borrow of both processes is in the ledger once, accepted, and on the exchange."""
        ledger_path = tmp_path / "ledger.sqlite3"
        Ledger(ledger_path).count()  # it exists, as after any first use (see the test below)
        go = tmp_path / "go"
        env = {
            **os.environ,
            "LOAN_WIDGETS_NETWORK": "testnet",
            "LOAN_WIDGETS_BASE_URL": sandbox_process,
            "LOAN_WIDGETS_LEDGER": str(ledger_path),
            "BYBIT_API_KEY": PLANTED_KEY,
            "BYBIT_API_SECRET": PLANTED_SECRET,
        }
        kernels = [
            subprocess.Popen(
                [sys.executable, str(SCRIPTS / "kernel_borrows.py"), str(go), str(self.BORROWS),
                 str(100 * (k + 1))],
                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            )
            for k in range(2)
        ]
        try:
            for kernel in kernels:
                assert kernel.stdout is not None
                assert kernel.stdout.readline().strip() == "READY"
            go.touch()
            outputs = [kernel.communicate(timeout=60) for kernel in kernels]
        finally:
            for kernel in kernels:
                if kernel.poll() is None:
                    kernel.kill()
        reported: list[list[tuple[str, str]]] = []
        for kernel, (out, err) in zip(kernels, outputs, strict=True):
            assert kernel.returncode == 0, err
            reported.append([tuple(line.split()) for line in out.splitlines() if line.strip()])
            assert len(reported[-1]) == self.BORROWS

        rows = Ledger(ledger_path).rows()
        assert len(rows) == 2 * self.BORROWS
        spans = [
            [r.submitted_at_ms for r in rows if lo <= r.loan_amount < lo + self.BORROWS]
            for lo in (100, 200)
        ]
        assert max(map(min, spans)) <= min(map(max, spans)), "the two never borrowed at once"
        assert {r.status for r in rows} == {"accepted"} and {r.source for r in rows} == {"magic"}
        ids = [r.order_id for r in rows]
        assert len(set(ids)) == len(ids)
        for k, lines in enumerate(reported):  # each process's rows, by its distinct amounts
            mine = {(r.order_id, str(r.loan_amount)) for r in rows
                    if 100 * (k + 1) <= r.loan_amount < 100 * (k + 1) + self.BORROWS}
            assert mine == set(lines)
        with LoanClient(
            network="testnet", base_url=sandbox_process, api_key=PLANTED_KEY,
            api_secret=PLANTED_SECRET, ledger=Ledger(tmp_path / "reader" / "ledger.sqlite3"),
        ) as reader:
            on_exchange = {o["orderId"]: o["totalDebt"] for o in reader.ongoing_orders()}
        assert set(ids) == set(on_exchange)
        for row in rows:
            assert on_exchange[row.order_id] == str(row.loan_amount)

    def test_first_use_while_another_process_creates_the_ledger(self, tmp_path: Path) -> None:
        """A ledger opened while another writer is still creating the file waits, then works."""
        path = tmp_path / "ledger.sqlite3"
        locked, release = threading.Event(), threading.Event()

        def creator() -> None:  # another process's first use, caught mid-transaction
            import sqlite3

            conn = sqlite3.connect(path, isolation_level=None)
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("CREATE TABLE IF NOT EXISTS other (x)")
            locked.set()
            release.wait(5)
            conn.execute("COMMIT")
            conn.close()

        thread = threading.Thread(target=creator)
        thread.start()
        try:
            assert locked.wait(5)
            threading.Timer(0.3, release.set).start()
            started = time.monotonic()
            row = Ledger(path).record_pending(network="sandbox", source="api", body="{}")
            assert row == 1 and time.monotonic() - started >= 0.25
        finally:
            release.set()
            thread.join(5)
