"""Each safety finding, reproduced through the public surface, and what must hold now.

Findings 1-19 of the safety review, one class each (``TestFinding02Interrupt`` ...),
against the test sandbox or a small misbehaving server of the tests' own
(``support.servers.FakeBybit``). Refusals are proven to come before any connection with
hosts under ``.test``/``.invalid`` and an audit hook that blocks anything not loopback.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path

import pytest
from IPython.core.error import UsageError
from support import SCRIPTS, posts, wait_until
from support.netguard import loopback_only
from support.servers import FakeBybit, envelope

from loan_widgets import (
    AmbiguousAnswer,
    BadResponse,
    ConfigurationError,
    CredentialsError,
    DuplicateOrderError,
    LedgerError,
    LoanClient,
    OutcomeUnknown,
    ValidationError,
)
from loan_widgets.endpoints import BORROW as BORROW_ENDPOINT
from loan_widgets.ledger import Ledger, default_ledger
from loan_widgets.sandbox import DEMO_API_KEY, DEMO_API_SECRET, Sandbox, SandboxServer

BORROW = "/v5/crypto-loan/borrow"


def make(url: str, ledger: Ledger, **settings: object) -> LoanClient:
    """A demo-key client for ``url`` (2 s timeout unless given)."""
    options: dict[str, object] = {"timeout": 2.0, **settings}
    return LoanClient(base_url=url, api_key=DEMO_API_KEY, api_secret=DEMO_API_SECRET,
                      ledger=ledger, **options)  # type: ignore[arg-type]


class TestFinding01SecondClickAfterAmbiguousAnswer:
    """Executed, then 10016: recorded unknown, and the same order is not sent again."""

    AMBIGUOUS = '{"retCode":10016,"retMsg":"Internal system error","result":{}}'

    def test_client(self, client: LoanClient, exchange: Sandbox, ledger: Ledger) -> None:
        """AmbiguousAnswer (an OutcomeUnknown); the identical borrow is refused, unsent."""
        exchange.faults.inject(BORROW, "bad_json", body=self.AMBIGUOUS)
        with pytest.raises(AmbiguousAnswer) as info:
            client.borrow("USDT", "550", "BTC")
        assert isinstance(info.value, OutcomeUnknown) and info.value.reconcile
        assert ledger.get(info.value.ledger_id).status == "unknown" and len(exchange.orders) == 1
        with pytest.raises(DuplicateOrderError) as again:
            client.borrow("USDT", "550.00", "BTC")
        assert again.value.reconcile and again.value.ledger_ids == (info.value.ledger_id,)
        assert len(posts(exchange)) == 1 and len(exchange.orders) == 1

    def test_widget_second_click(self, client: LoanClient, exchange: Sandbox) -> None:
        """Two clicks in the widget after an executed 10016: one loan, one POST."""
        from loan_widgets.widget import BorrowWidget

        widget = BorrowWidget(client=client)
        widget.rearm_after = 0
        widget.loan_amount.value = "550"
        exchange.faults.inject(BORROW, "bad_json", body=self.AMBIGUOUS)
        widget.borrow_button.click()
        widget.loan_amount.value = "551"  # change the form and back: the guard still holds
        widget.loan_amount.value = "550"
        widget.borrow_button.click()
        assert len(posts(exchange)) == 1 and len(exchange.orders) == 1
        assert "reconcile" in widget.status

    def test_force(self, client: LoanClient, exchange: Sandbox) -> None:
        """force=True is the explicit choice to send another identical order."""
        exchange.faults.inject(BORROW, "bad_json", body=self.AMBIGUOUS)
        with pytest.raises(AmbiguousAnswer):
            client.borrow("USDT", "550", "BTC")
        client.borrow("USDT", "550", "BTC", force=True)
        assert len(exchange.orders) == 2


class TestFinding02Interrupt:
    """KeyboardInterrupt while the answer is on its way: unknown, connection dropped, reconciled."""

    def test_in_process(self, client: LoanClient, exchange: Sandbox, ledger: Ledger) -> None:
        """The row is unknown with a note; the client's next order goes out; reconcile settles."""
        client.sync_clock()
        exchange.faults.set_latency(3.0, BORROW)
        main = threading.main_thread().ident
        assert main is not None

        def interrupt() -> None:
            wait_until(lambda: len(exchange.orders) == 1, 10.0)
            signal.pthread_kill(main, signal.SIGINT)

        threading.Thread(target=interrupt, daemon=True).start()
        with pytest.raises(KeyboardInterrupt) as info:
            client.borrow("USDT", "550", "BTC")
        [row] = ledger.rows()
        assert row.status == "unknown"
        assert any(f"ledger row {row.id} is 'unknown'" in n for n in info.value.__notes__)
        exchange.faults.set_latency(0.0, BORROW)
        with pytest.raises(DuplicateOrderError):
            client.borrow("USDT", "550", "BTC")
        other = client.borrow("USDT", "600", "BTC")  # goes out on a fresh connection
        assert other.order_id in exchange.orders and len(posts(exchange)) == 2
        [decision] = client.reconcile().decisions
        first = next(o for o in exchange.orders if o != other.order_id)
        assert (decision.status, decision.order_id) == ("accepted", first)
        assert ledger.get(row.id).order_id == first

    @pytest.mark.timeout(120)
    def test_real_kernel(self, server: SandboxServer, exchange: Sandbox, tmp_path: Path) -> None:
        """SIGINT in a real kernel: unknown row, the same line refused, reconcile finds the loan."""
        from jupyter_client import KernelManager

        ledger_path = tmp_path / "kernel-ledger.sqlite3"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("BYBIT_", "LOAN_W"))}
        env.update(LOAN_WIDGETS_NETWORK="sandbox", LOAN_WIDGETS_BASE_URL=server.base_url,
                   LOAN_WIDGETS_LEDGER=str(ledger_path))
        km = KernelManager(kernel_name="python3")
        km.start_kernel(env=env)
        kc = km.client()
        kc.start_channels()
        try:
            kc.wait_for_ready(timeout=60)

            def run(code: str, timeout: float = 30) -> dict:
                msg_id = kc.execute(code, stop_on_error=False)
                while True:
                    reply = kc.get_shell_msg(timeout=timeout)
                    if reply["parent_header"].get("msg_id") == msg_id:
                        return reply["content"]

            assert run("%load_ext loan_widgets")["status"] == "ok"
            exchange.faults.set_latency(20.0, BORROW)
            msg_id = kc.execute("%borrow USDT 550 BTC", stop_on_error=False)
            wait_until(lambda: len(exchange.orders) == 1, 30)
            km.interrupt_kernel()
            while True:
                reply = kc.get_shell_msg(timeout=30)
                if reply["parent_header"].get("msg_id") == msg_id:
                    break
            assert reply["content"]["ename"] == "KeyboardInterrupt"
            [row] = Ledger(ledger_path).rows()
            assert row.status == "unknown"
            exchange.faults.set_latency(0.0, BORROW)
            again = run("%borrow USDT 550 BTC")
            assert again["status"] == "error" and "%borrow --reconcile" in again["evalue"]
            started = time.monotonic()
            assert run("r = %borrow --reconcile")["status"] == "ok"
            took = time.monotonic() - started
            [(loan_id, _)] = exchange.orders.items()
            settled = Ledger(ledger_path).get(row.id)
            assert (settled.status, settled.order_id) == ("accepted", loan_id)
            assert took < 10, f"reconcile took {took:.1f} s"
            assert len(posts(exchange)) == 1
            assert run("%borrow USDT 550 BTC")["status"] == "ok"  # settled: a new loan is fine
        finally:
            kc.stop_channels()
            km.shutdown_kernel(now=True)


class TestFinding03MainnetIsAHost:
    """A network name contradicting a Bybit mainnet host is refused before connecting."""

    @pytest.mark.parametrize("host", ["api.bybit.com", "api.bytick.com", "api.manepa.jp"])
    def test_magic(self, ip, monkeypatch, host: str) -> None:
        """%borrow with LOAN_WIDGETS_NETWORK=testnet and a mainnet host: one line, no row."""
        monkeypatch.setenv("LOAN_WIDGETS_NETWORK", "testnet")
        monkeypatch.setenv("LOAN_WIDGETS_BASE_URL", f"https://{host}")
        monkeypatch.setenv("BYBIT_API_KEY", "MAINKEY1234")
        monkeypatch.setenv("BYBIT_API_SECRET", "main-secret")
        for magic, line in (("borrow", "USDT 550 BTC"), ("repay", "1794267532472646144 10"),
                            ("collateral", "add 1794267532472646144 0.01")):
            with loopback_only() as seen, pytest.raises(UsageError) as info:
                ip.run_line_magic(magic, line)
            assert "contradicts" in str(info.value) and "\n" not in str(info.value)
            assert seen == []
        assert default_ledger().count() == 0

    def test_widget_and_ledger_say_mainnet(self) -> None:
        """With no network named, a mainnet host makes the client (and badge, ledger) mainnet."""
        client = LoanClient(base_url="https://api.bytick.com")
        assert (client.network, client.is_mainnet, client.host) == (
            "mainnet", True, "https://api.bytick.com"
        )


class TestFinding04PlainHttp:
    """http:// to anything but loopback is refused before any resolve or connect."""

    @pytest.mark.parametrize("network", ["mainnet", "testnet", "sandbox"])
    def test_refused(self, network: str) -> None:
        """Refused at construction, in one line."""
        with loopback_only() as seen, pytest.raises(ConfigurationError, match="plain http"):
            LoanClient(network=network, base_url="http://bybit-gateway.invalid:8080")
        assert seen == []

    def test_loopback_allowed(self, server: SandboxServer, ledger: Ledger) -> None:
        """A loopback sandbox keeps working under any network name."""
        with make(server.base_url, ledger, network="testnet") as client:
            assert len(client.borrow("USDT", "550", "BTC").order_id) == 19


class TestFinding05Fork:
    """After os.fork(), parent and children never read each other's answers."""

    def test_forked_borrows(self, server: SandboxServer, exchange: Sandbox, ledger) -> None:
        """Every reported order id is the loan of the amount that process asked for."""
        client = make(server.base_url, ledger)
        client.borrow("USDT", "100", "BTC")  # a warm kept-alive connection to inherit
        out = ledger.path.parent / "forked.txt"
        children = []
        for k in range(3):
            pid = os.fork()
            if pid == 0:  # the child: borrow, write what it got, leave without cleanup
                code = 0
                try:
                    lines = []
                    for i in range(8):
                        amount = 200 + 10 * k + i
                        lines.append(f"{client.borrow('USDT', str(amount), 'BTC').order_id} "
                                     f"{amount}\n")
                    with open(out, "a") as f:
                        f.write("".join(lines))
                except BaseException:  # reported through the exit code
                    code = 1
                os._exit(code)
            children.append(pid)
        mine = [(client.borrow("USDT", str(300 + i), "BTC").order_id, 300 + i) for i in range(8)]
        for pid in children:
            assert os.waitpid(pid, 0)[1] == 0
        reported = [tuple(line.split()) for line in out.read_text().splitlines()]
        pairs = [(oid, int(amount)) for oid, amount in reported] + mine
        assert len(pairs) == 32 and len({oid for oid, _ in pairs}) == 32
        for oid, amount in pairs:
            assert exchange.orders[oid].principal == Decimal(amount)


class TestFinding06CrashThenReconcile:
    """A process killed after the exchange executed: its pending row is settled at once."""

    def test_killed_writer(self, server: SandboxServer, exchange: Sandbox, tmp_path: Path) -> None:
        """Reconcile does not wait 120 s, nor say there is nothing to do: it finds the loan."""
        ledger_path = tmp_path / "ledger.sqlite3"
        exchange.faults.set_latency(30.0, BORROW)
        proc = subprocess.Popen(
            [sys.executable, str(SCRIPTS / "borrow_once.py"), server.base_url,
             str(ledger_path), "USDT", "550", "BTC"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        try:
            wait_until(lambda: len(exchange.orders) == 1, 30)
        finally:
            proc.kill()
            proc.communicate(timeout=10)
        exchange.faults.set_latency(0.0, BORROW)
        ledger = Ledger(ledger_path)
        [row] = ledger.rows()
        assert row.status == "pending"
        with make(server.base_url, ledger) as client:
            outcome = client.reconcile()
        [decision] = outcome.decisions
        [loan] = exchange.orders
        assert (decision.status, decision.order_id) == ("accepted", loan)
        assert "Nothing to reconcile" not in repr(outcome)

    def test_in_flight_rows_are_listed(self, client: LoanClient, exchange, ledger) -> None:
        """A pending row of a live writer waits, and reconcile says why."""
        exchange.faults.set_latency(1.5, BORROW)
        worker = threading.Thread(target=client.borrow, args=("USDT", "550", "BTC"))
        worker.start()
        wait_until(lambda: len(exchange.orders) == 1, 10.0)
        with make(client.base_url, ledger) as other:
            outcome = other.reconcile()
        worker.join()
        [decision] = outcome.decisions
        assert decision.status == "pending" and "in flight in process" in decision.reason
        assert "Nothing to reconcile" not in repr(outcome)
        assert ledger.rows()[0].status == "accepted"


class TestFinding07ReconcileClaimsOnlyOurs:
    """A loan is claimed only when it provably did not exist before the row was sent."""

    def test_older_unrelated_loan(self, server, exchange: Sandbox, ledger, tmp_path) -> None:
        """A same-size loan opened elsewhere before is never given to a never-executed row."""
        elsewhere = make(server.base_url, Ledger(tmp_path / "website.sqlite3"))
        older = elsewhere.borrow("USDT", "550", "BTC").order_id
        client = make(server.base_url, ledger)
        exchange.faults.inject(BORROW, "retcode", code=10016)  # not executed
        with pytest.raises(AmbiguousAnswer) as info:
            client.borrow("USDT", "550", "BTC")
        [decision] = client.reconcile().decisions
        assert decision.status == "not_executed" and older in exchange.orders
        assert ledger.get(info.value.ledger_id).order_id is None

    def test_identical_borrow_in_flight(self, client: LoanClient, exchange, ledger) -> None:
        """While a forced identical borrow is in flight, its loan is not handed to the old row."""
        exchange.faults.inject(BORROW, "retcode", code=10016)
        with pytest.raises(AmbiguousAnswer) as info:
            client.borrow("USDT", "550", "BTC")
        exchange.faults.set_latency(1.5, BORROW)
        worker = threading.Thread(
            target=client.borrow, args=("USDT", "550", "BTC"), kwargs={"force": True}
        )
        worker.start()
        wait_until(lambda: len(exchange.orders) == 1, 10.0)
        with make(client.base_url, ledger) as other:
            first = {d.ledger_id: d for d in other.reconcile().decisions}
        worker.join()
        assert first[info.value.ledger_id].status == "unknown"
        assert "still in flight" in first[info.value.ledger_id].reason
        with make(client.base_url, ledger) as other:
            [later] = other.reconcile().decisions
        assert later.status == "not_executed"
        ids = [r.order_id for r in ledger.rows() if r.order_id]
        assert len(ids) == len(set(ids)) == 1

    def test_one_order_id_per_host_in_the_schema(self, ledger: Ledger) -> None:
        """The ledger itself refuses a second row with the same order id for one host."""
        rows = [ledger.record_pending(network="sandbox", source="api", body="{}", host="h")
                for _ in range(2)]
        ledger.settle(rows[0], "accepted", order_id="1794267532472646144", by="reconcile")
        ledger.settle(rows[1], "accepted", order_id="1794267532472646144")  # the answer wins
        assert ledger.get(rows[0]).order_id is None and ledger.get(rows[0]).status == "unknown"
        conn = sqlite3.connect(ledger.path)
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute("UPDATE orders SET order_id='1794267532472646144' WHERE id=?",
                         (rows[0],))
        conn.close()


class TestFinding08LockedLedger:
    """The ledger locked by another program: no traceback, the order id kept and merged."""

    def test_locked_after_the_answer(self, server, exchange, tmp_path, caplog) -> None:
        """The borrow returns its id; the outcome waits in the journal; the next open merges."""
        path = tmp_path / "ledger.sqlite3"
        ledger = Ledger(path, timeout=0.3)
        client = make(server.base_url, ledger)
        client.borrow("USDT", "100", "BTC")
        exchange.faults.set_latency(0.5, BORROW)
        holder = sqlite3.connect(path, isolation_level=None)
        results: list = []
        worker = threading.Thread(
            target=lambda: results.append(client.borrow("USDT", "550", "BTC"))
        )
        worker.start()
        wait_until(lambda: len(exchange.orders) == 2, 10.0)
        holder.execute("BEGIN IMMEDIATE")  # another program holds a write transaction
        worker.join(10)
        [result] = results
        assert ledger.journal_path.exists() and result.order_id in ledger.journal_path.read_text()
        notices = [r.getMessage() for r in caplog.records if "kept in" in r.getMessage()]
        assert notices and "\n" not in notices[0] and result.order_id in notices[0]
        holder.execute("ROLLBACK")
        holder.close()
        reopened = Ledger(path)
        row = reopened.get(result.ledger_id)
        assert (row.status, row.order_id) == ("accepted", result.order_id)
        assert not reopened.journal_path.exists()

    def test_locked_before_sending(self, server, exchange, tmp_path) -> None:
        """Locked before the order is recorded: a one-line LedgerError, nothing sent."""
        path = tmp_path / "ledger.sqlite3"
        ledger = Ledger(path, timeout=0.2)
        client = make(server.base_url, ledger)
        ledger.ready()
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(LedgerError, match="locked") as info:
                client.borrow("USDT", "550", "BTC")
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert "\n" not in str(info.value) and posts(exchange) == []


class TestFinding09SuccessOnOddStatus:
    """retCode 0 with an order id is accepted on HTTP 201 and 500 alike."""

    @pytest.mark.parametrize("status", [201, 500])
    def test_accepted(self, ledger: Ledger, status: int) -> None:
        """Accepted with its id; the HTTP status is kept."""
        answer = envelope({"orderId": "1794267532472646145"})
        with FakeBybit() as fake, make(fake.url, ledger) as client:
            fake.answer = lambda path, method: (status, answer) if method == "POST" else None
            result = client.borrow("USDT", "550", "BTC")
        row = ledger.get(result.ledger_id)
        assert (row.status, row.order_id, row.http_status) == (
            "accepted", "1794267532472646145", status
        )


class TestFinding10TrickleTimeout:
    """The timeout bounds the whole answer, not each read."""

    def test_trickling_server(self, ledger: Ledger) -> None:
        """One byte every 0.2 s: a 1 s timeout ends the borrow in about 1 s, outcome unknown."""
        with FakeBybit() as fake, make(fake.url, ledger, timeout=1.0) as client:
            client.borrow("USDT", "500", "BTC")  # clock and open loans known: next is the POST
            fake.trickle_s = 0.2
            started = time.monotonic()
            with pytest.raises(OutcomeUnknown, match="within 1 s"):
                client.borrow("USDT", "550", "BTC")
            took = time.monotonic() - started
        assert took < 3.0, f"held for {took:.1f} s"  # the whole answer would take ~20 s
        assert ledger.rows()[-1].status == "unknown"


class TestFinding11StaleKeepAlive:
    """A server closing idle connections never makes an unsent order 'unknown'."""

    def test_writes_a_second_apart(self, ledger: Ledger) -> None:
        """Idle close after 1 s (slowly), writes 1.1 s apart: all accepted, none unknown."""
        with FakeBybit(idle_close_s=1.0, closing_s=0.4) as fake, make(fake.url, ledger) as client:
            for i in range(5):
                client.borrow("USDT", str(500 + i), "BTC")
                time.sleep(1.1)
        statuses = [r.status for r in ledger.rows()]
        assert statuses == ["accepted"] * 5 and len(fake.posts()) == 5

    def test_back_to_back_writes_share_a_connection(self, ledger: Ledger) -> None:
        """Writes in quick succession stay on the warm connection."""
        with FakeBybit() as fake, make(fake.url, ledger) as client:
            client.borrow("USDT", "500", "BTC")
            sockets = []
            for i in range(5):
                client.borrow("USDT", str(501 + i), "BTC")
                sockets.append(client.transport._connections[("http", "127.0.0.1",
                                                              fake.server_address[1])].sock)
        assert len({id(s) for s in sockets}) == 1


class TestFinding12Paging:
    """A repeated page cursor ends every list in one clear error."""

    def test_repeated_cursor(self, ledger: Ledger, ip) -> None:
        """ongoing_orders, %loans and reconcile stop after two reads."""
        loan = {"orderId": "1", "loanCurrency": "USDT", "collateralCurrency": "BTC",
                "totalDebt": "1", "collateralAmount": "1", "loanTerm": ""}
        with FakeBybit(pages=[{"list": [loan], "nextPageCursor": "same"}]) as fake:
            with make(fake.url, ledger) as client, pytest.raises(BadResponse, match="repeated"):
                client.ongoing_orders()
            reads = [p for _, p in fake.received if p.endswith("ongoing-orders")]
            assert len(reads) == 2
            ip.run_line_magic("config", f'BorrowMagics.base_url = "{fake.url}"')
            with pytest.raises(UsageError, match="repeated a page cursor"):
                ip.run_line_magic("loans", "")


class TestFinding13JunkIds:
    """Only ids that look like ids are accepted."""

    @pytest.mark.parametrize("junk", ["false", "{}", "[]", "0", '"abc;DROP"', '"0x1f"'])
    def test_junk(self, client: LoanClient, exchange, ledger, junk: str) -> None:
        """Recorded unknown with the reason, never accepted."""
        body = f'{{"retCode":0,"retMsg":"OK","result":{{"orderId":{junk}}}}}'
        exchange.faults.inject(BORROW, "bad_json", body=body)
        with pytest.raises(OutcomeUnknown, match=r"not an id|no id") as info:
            client.borrow("USDT", "550", "BTC")
        row = ledger.get(info.value.ledger_id)
        assert row.status == "unknown" and row.order_id is None

    def test_repay_id_is_not_an_order_id(self, client: LoanClient, exchange, ledger) -> None:
        """A borrow answer with only repayId is not stored as the order id."""
        body = '{"retCode":0,"retMsg":"OK","result":{"repayId":"1794267532472646144"}}'
        exchange.faults.inject(BORROW, "bad_json", body=body)
        with pytest.raises(OutcomeUnknown, match="orderId") as info:
            client.borrow("USDT", "550", "BTC")
        assert ledger.get(info.value.ledger_id).order_id is None


class TestFinding14CallRefusesWrites:
    """call() on a write endpoint refuses and names the typed method."""

    def test_refused(self, client: LoanClient, exchange, ledger) -> None:
        """Nothing sent, nothing recorded, the typed method named."""
        with pytest.raises(ValidationError, match=r"LoanClient\.borrow\(\)") as info:
            client.call(BORROW_ENDPOINT, {"loanCurrency": "USDT", "loanAmount": "550",
                                          "collateralCurrency": "BTC"})
        assert info.value.suggest_method == "borrow"
        assert posts(exchange) == [] and ledger.count() == 0


class TestFinding15UnusableLedger:
    """An unusable ledger path is one line before anything is sent; new files are private."""

    @pytest.mark.parametrize("kind", ["folder", "text", "corrupt", "device", "inside-a-file"])
    def test_refused(self, server, exchange, tmp_path: Path, kind: str) -> None:
        """LedgerError in one line; not even a read reaches the exchange."""
        path = {
            "folder": tmp_path,
            "text": tmp_path / "notes.txt",
            "corrupt": tmp_path / "broken.sqlite3",
            "device": Path("/dev/null"),
            "inside-a-file": tmp_path / "notes.txt" / "ledger.sqlite3",
        }[kind]
        (tmp_path / "notes.txt").write_text("my notes\n" * 50)
        (tmp_path / "broken.sqlite3").write_bytes(b"SQLite format 3\x00" + os.urandom(4000))
        with make(server.base_url, Ledger(path)) as client, pytest.raises(LedgerError) as info:
            client.borrow("USDT", "550", "BTC")
        assert "\n" not in str(info.value) and exchange.count() == 0
        assert not Path("/dev/null-wal").exists()

    @pytest.mark.skipif(os.geteuid() == 0, reason="root writes read-only files anyway")
    def test_read_only(self, server, exchange, tmp_path: Path) -> None:
        """A read-only ledger file: one line, nothing sent."""
        path = tmp_path / "ledger.sqlite3"
        Ledger(path).count()
        path.chmod(0o444)
        with make(server.base_url, Ledger(path)) as client, pytest.raises(LedgerError):
            client.borrow("USDT", "550", "BTC")
        assert posts(exchange) == []

    def test_private_when_created(self, client: LoanClient, tmp_path: Path, monkeypatch) -> None:
        """The default ledger and its new folders are created 0600 / 0700."""
        path = tmp_path / "new" / "dir" / "ledger.sqlite3"
        monkeypatch.setenv("LOAN_WIDGETS_LEDGER", str(path))
        with LoanClient(base_url=client.base_url) as fresh:
            fresh.borrow("USDT", "550", "BTC")
        for file in path.parent.glob("ledger.sqlite3*"):
            assert stat.S_IMODE(file.stat().st_mode) == 0o600, file
        for folder in (path.parent, path.parent.parent):
            assert stat.S_IMODE(folder.stat().st_mode) == 0o700


class TestFinding16HostileKeys:
    """A key with a pasted invisible or curly character: one line, no echo, no row."""

    @pytest.mark.parametrize("key", ["KEY\u200bABC123", "KEY\u2019ABC123", "KEY\nABC123",
                                     "KEY ABC123", "KÉYABC123"])
    def test_client(self, server, exchange, ledger, key: str) -> None:
        """CredentialsError naming the position, never the key; nothing sent or recorded."""
        with pytest.raises(CredentialsError) as info:
            LoanClient(base_url=server.base_url, api_key=key, api_secret="s", ledger=ledger)
        text = str(info.value)
        assert "ABC123" not in text and "\n" not in text and "position" in text
        assert exchange.count() == 0 and ledger.count() == 0

    def test_magic(self, ip, exchange, monkeypatch) -> None:
        """From the environment through %borrow: a one-line UsageError, nothing recorded."""
        monkeypatch.setenv("BYBIT_API_KEY", "KEY\u200bABC123")
        monkeypatch.setenv("BYBIT_API_SECRET", "secret")
        ip.run_line_magic("config", 'BorrowMagics.network = "testnet"')
        with pytest.raises(UsageError) as info:
            ip.run_line_magic("borrow", "USDT 550 BTC")
        assert "ABC123" not in str(info.value) and "position 4" in str(info.value)
        assert exchange.count() == 0 and default_ledger().count() == 0


class TestFinding17UserInfoInBaseUrl:
    """A password in base_url never shows; bad URLs are one-line configuration errors."""

    @pytest.mark.parametrize(
        "url",
        ["http://user:hunter2@127.0.0.1:9", "https://user:hunter2@api-testnet.bybit.com",
         "https://api-testnet.bybit.com ", "https://bybit.test:99999", "https://x.test/a b"],
    )
    def test_refused(self, url: str) -> None:
        """ConfigurationError in one line, no password, nothing resolved."""
        with loopback_only() as seen, pytest.raises(ConfigurationError) as info:
            LoanClient(network="testnet", base_url=url)
        assert "hunter2" not in str(info.value) and "\n" not in str(info.value)
        assert seen == []

    def test_magic(self, ip) -> None:
        """Through %config BorrowMagics.base_url: a one-line UsageError without the password."""
        ip.run_line_magic("config", 'BorrowMagics.base_url = "http://u:hunter2@127.0.0.1:9"')
        with pytest.raises(UsageError) as info:
            ip.run_line_magic("borrow", "USDT 550 BTC")
        assert "hunter2" not in str(info.value) and "user info" in str(info.value)


class TestFinding18ReconcileTwice:
    """loan_widgets.reconcile stays the function however often it is called."""

    def test_twice_in_a_fresh_process(self, tmp_path: Path) -> None:
        """Two calls in one interpreter both work."""
        code = (
            "import loan_widgets\n"
            "a = loan_widgets.reconcile(); b = loan_widgets.reconcile()\n"
            "import loan_widgets.reconciliation\n"
            "print(callable(loan_widgets.reconcile), repr(b).split(':')[0])\n"
        )
        env = {**os.environ, "LOAN_WIDGETS_LEDGER": str(tmp_path / "l.sqlite3")}
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             env=env, check=True, timeout=60)
        assert out.stdout.strip() == "True Nothing to reconcile on sandbox"


class TestFinding19Leftovers:
    """Market time, string retCodes, --widget --dry-run and half-built clients."""

    @pytest.mark.parametrize(
        "result", ['{}', '{"timeNano":"abc"}', '[]', 'null', '{"timeSecond":"x"}']
    )
    def test_market_time(self, ledger: Ledger, result: str) -> None:
        """A malformed /v5/market/time answer is one BadResponse line, no row."""
        body = f'{{"retCode":0,"retMsg":"OK","result":{result}}}'.encode()
        with FakeBybit() as fake, make(fake.url, ledger) as client:
            fake.answer = lambda path, method: (200, body) if path == "/v5/market/time" else None
            for call in (client.server_time, client.sync_clock):
                with pytest.raises(BadResponse) as info:
                    call()
                assert "\n" not in str(info.value) and "market/time" in str(info.value)

    def test_string_retcode(self, client: LoanClient, exchange) -> None:
        """retCode "0" is handled safely and named, not called invalid JSON."""
        exchange.faults.inject(BORROW, "bad_json", body='{"retCode":"0","result":{}}')
        with pytest.raises(OutcomeUnknown, match="retCode is str") as info:
            client.borrow("USDT", "550", "BTC")
        assert "not valid JSON" not in str(info.value)

    def test_widget_dry_run(self, ip, exchange) -> None:
        """--widget --dry-run gives a dry-run widget, or says it cannot: never ignored."""
        import inspect

        from IPython.utils.capture import capture_output

        from loan_widgets.widget import BorrowWidget

        if "dry_run" in inspect.signature(BorrowWidget).parameters:
            from ipywidgets.widgets.widget import _instances

            with capture_output() as captured:
                ip.run_line_magic("borrow", "--widget --dry-run USDT 550 BTC")
            [view] = [o.data["application/vnd.jupyter.widget-view+json"] for o in captured.outputs]
            assert _instances[view["model_id"]].dry_run is True
        else:
            with capture_output(), pytest.raises(UsageError, match="--dry-run"):
                ip.run_line_magic("borrow", "--widget --dry-run USDT 550 BTC")
        assert posts(exchange) == []

    def test_half_built_repr(self) -> None:
        """repr() of a client whose construction failed part-way still works."""
        client = LoanClient.__new__(LoanClient)
        assert "LoanClient(" in repr(client)

    def test_json_answer_is_one_line_everywhere(self, client: LoanClient, exchange) -> None:
        """Every malformed write answer ends in one line of the error tree."""
        for body in ('{"retCode":0}', '{"retCode":null}', "<html>oops</html>", ""):
            exchange.faults.inject(BORROW, "bad_json", body=body, execute=False)
            with pytest.raises(OutcomeUnknown) as info:
                client.borrow("USDT", "550", "BTC", force=True)
            assert "\n" not in str(info.value)
