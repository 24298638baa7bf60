"""A dependable local exchange: strict framing, strict parameters, bounded memory, pages
that cost a page, and a small load and fuzz run (loopback only, bounded in count)."""

from __future__ import annotations

import json
import socket
import threading
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.bybit import Api, Clock

from loan_widgets.sandbox import Sandbox, SandboxServer
from loan_widgets.sandbox.legacy import LegacyBook, Loan

T0 = 1_728_629_356_551
ONGOING = "/v5/crypto-loan/ongoing-orders"
BORROW = "/v5/crypto-loan/borrow"
TIME = b"GET /v5/market/time HTTP/1.1\r\nHost: s\r\n"
AUTH = b"X-BAPI-API-KEY: SANDBOXDEMOKEY0001\r\nX-BAPI-SIGN: x\r\nX-BAPI-TIMESTAMP: 1\r\n"
CHUNKED = b"POST /v5/crypto-loan/borrow HTTP/1.1\r\n" + AUTH + b"Transfer-Encoding: chunked\r\n"


@pytest.fixture
def sandbox() -> Sandbox:
    return Sandbox(seed=0, clock=Clock(T0), ip_rate_limit=None)


@pytest.fixture
def served(sandbox: Sandbox):
    with SandboxServer(sandbox) as running:
        yield running


@pytest.fixture
def api(served: SandboxServer):
    client = Api(served)
    yield client
    client.close()


def raw(port: int, data: bytes, timeout: float = 5.0) -> bytes:
    """Send ``data`` on a fresh connection; everything the server sends until it closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except ConnectionResetError:
            pass
    return b"".join(chunks)


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else 0


class TestFraming:
    """Bad HTTP framing is answered with the documented 4xx, and the body is not trusted."""

    @pytest.mark.parametrize(("request_bytes", "status"), [
        (b"POST /v5/crypto-loan/borrow HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3"
         b"\r\n\r\n{}", 400),
        (b"POST /v5/crypto-loan/borrow HTTP/1.1\r\nContent-Length: 2\r\n"
         b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", 400),
        (b"POST /v5/crypto-loan/borrow HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
         400),
        (CHUNKED + b"\r\n-1\r\n", 400),
        (CHUNKED + b"\r\n100000000\r\n", 400),
        (CHUNKED + b"\r\n2\r\n{}XX0\r\n\r\n", 400),
        (CHUNKED + b"\r\n" + b"80000\r\n" + b"x" * 0x80000 + b"\r\n" + b"80001\r\n", 413),
        (b"POST /v5/crypto-loan/borrow HTTP/1.1\r\nContent-Length: 1048577\r\n\r\n", 413),
        (b"POST /v5/crypto-loan/borrow HTTP/1.1\r\nContent-Length: +5\r\n\r\n", 400),
        (TIME + b"X-A: 1\r\n folded\r\n\r\n", 400),
        (TIME + b"X-A: " + b"a" * 9000 + b"\r\n\r\n", 431),
        (TIME + b"".join(b"X-%d: 1\r\n" % i for i in range(101)) + b"\r\n", 431),
        (TIME + b"Bad Name: 1\r\n\r\n", 400),
        (TIME + b"X-BAPI-SIGN: a\r\nX-BAPI-SIGN: b\r\n\r\n", 400),
        (b"get /v5/market/time HTTP/1.1\r\n\r\n", 400),
        (b"GET /v5/market/time HTTP/2.0\r\n\r\n", 400),
        (b"GET " + b"/" * 9000 + b" HTTP/1.1\r\n\r\n", 414),
        (TIME + b"Expect: magic\r\n\r\n", 417),
    ])
    def test_refused(self, served: SandboxServer, sandbox: Sandbox, request_bytes: bytes,
                     status: int) -> None:
        """Each malformed request gets its 4xx and executes nothing."""
        assert status_of(raw(served.port, request_bytes)) == status
        assert sandbox.orders == {}

    def test_continue_only_when_read(self, served: SandboxServer) -> None:
        """``100 Continue`` comes only for a request whose body will be read."""
        head = (b"POST /v5/crypto-loan/borrow HTTP/1.1\r\nContent-Length: 2\r\n"
                b"Expect: 100-continue\r\n\r\n")
        refused = raw(served.port, head)  # no auth: refused on the headers alone
        assert status_of(refused) == 401 and b"100 Continue" not in refused
        with socket.create_connection(("127.0.0.1", served.port), timeout=5) as sock:
            sock.sendall(head.replace(b"/v5/crypto-loan/borrow", b"/v5/nowhere"))
            assert sock.recv(1024).startswith(b"HTTP/1.1 404")  # unknown path: not read
        signed = Api(served)
        headers = {**signed.auth(b"{}"), "Expect": "100-continue"}
        with socket.create_connection(("127.0.0.1", served.port), timeout=5) as sock:
            lines = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
            sock.sendall(f"POST /v5/crypto-loan/repay HTTP/1.1\r\nContent-Length: 2\r\n"
                         f"{lines}\r\n".encode())
            assert sock.recv(1024) == b"HTTP/1.1 100 Continue\r\n\r\n"
            sock.sendall(b"{}")
            assert sock.recv(4096).startswith(b"HTTP/1.1 200")

    def test_unread_upload_is_not_kept(self, served: SandboxServer, sandbox: Sandbox) -> None:
        """1 MiB sent without auth is refused (401) and nothing of it is logged."""
        body = b"x" * (1 << 20)
        answer = raw(served.port, b"POST /v5/crypto-loan/borrow HTTP/1.1\r\n"
                                  b"Content-Length: %d\r\n\r\n" % len(body) + body)
        assert status_of(answer) == 401
        (record,) = sandbox.requests
        assert record.body == b"" and record.status == 401


class TestParameters:
    """Every bad parameter is a 10001-family error, never 10016 or a traceback."""

    LONG = "9" * 5000

    @pytest.mark.parametrize("header", ["X-BAPI-TIMESTAMP", "X-BAPI-RECV-WINDOW"])
    def test_long_digit_headers(self, api: Api, header: str) -> None:
        """A 5,000-digit timestamp or recv window is 10001."""
        headers = {**api.auth(b""), header: self.LONG}
        assert api.send("GET", ONGOING, headers=headers).code == 10001

    @pytest.mark.parametrize("name", ["limit", "cursor", "orderId"])
    def test_long_digit_query(self, api: Api, name: str) -> None:
        """A 5,000-digit limit, cursor or orderId is 10001."""
        assert api.get(ONGOING, f"{name}={self.LONG}").code == 10001

    def test_deep_json(self, api: Api) -> None:
        """JSON nested 990 deep is 10001."""
        body = b"[" * 990 + b"]" * 990
        assert api.post(BORROW, b'{"a":' + body + b"}").code == 10001
        assert api.post("/v5/crypto-loan-flexible/borrow", b'{"loanCurrency":"USDT",'
                        b'"loanAmount":"1","collateralList":' + body + b"}").code == 10001

    def test_duplicates_refused(self, api: Api, sandbox: Sandbox) -> None:
        """Duplicate JSON keys and repeated query parameters are both refused."""
        body = b'{"loanCurrency":"USDT","loanAmount":"550","loanAmount":"20",' \
               b'"collateralCurrency":"BTC"}'
        assert api.post(BORROW, body).code == 10001
        assert api.get(ONGOING, "limit=5&limit=6").code == 10001
        assert sandbox.orders == {}

    def test_non_utf8_never_echoed(self, api: Api) -> None:
        """A non-UTF-8 query byte is 10001 and no lone surrogate comes back."""
        answer = api.get(ONGOING, "loanCurrency=%FF")
        assert answer.code == 10001 and b"\\ud" not in answer.raw
        query = b"loanCurrency=\xff"
        lines = "".join(f"{k}: {v}\r\n" for k, v in api.auth(query).items()).encode()
        answer_bytes = raw(api.conn.port, b"GET " + ONGOING.encode() + b"?" + query
                           + b" HTTP/1.1\r\n" + lines + b"\r\n")
        body = answer_bytes.split(b"\r\n\r\n", 1)[1]
        assert json.loads(body)["retCode"] == 10001 and b"\\ud" not in body

    def test_fullwidth_digits(self, api: Api) -> None:
        """A fullwidth orderId is 10001 (not a lookup)."""
        assert api.get(ONGOING, "orderId=%EF%BC%91%EF%BC%92").code == 10001
        assert api.post("/v5/crypto-loan-fixed/borrow-order-cancel",
                        {"orderId": "\uff11\uff13\uff10\uff10\uff17"}).code == 10001


class TestBoundedMemory:
    """The request log is bounded by bytes, not entries."""

    def test_log_bytes(self, served: SandboxServer) -> None:
        """40 signed 200 kB bodies leave at most 1 MiB logged, 64 KiB of each body."""
        sandbox = Sandbox(clock=Clock(T0), log_bytes=1 << 20)
        with SandboxServer(sandbox) as small:
            client = Api(small)
            body = json.dumps({"pad": "x" * 200_000}).encode()
            for _ in range(40):
                assert client.post(BORROW, body).code == 10001
            client.close()
        assert sandbox.requests.bytes <= 1 << 20
        assert 10 <= len(sandbox.requests) < 40
        assert all(len(r.body) == 64 << 10 and r.body_size == len(body)
                   for r in sandbox.requests)


class TestPagesCostAPage:
    """A list formats the rows it returns, not the book."""

    def test_ongoing_orders_with_20000_loans(self, api: Api, sandbox: Sandbox,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
        """With 20,000 open loans, limit=1 settles and formats one loan."""
        book = sandbox.legacy
        for n in range(20_000):
            book.open(Loan(str(10**18 + n), "USDT", "BTC", Decimal(20), Decimal("0.001"), "",
                           None, T0, Decimal(20), Decimal("0.001"), accrued_to=T0))
        settled: list[str] = []
        original = LegacyBook.settle

        def counting(self: LegacyBook, loan: Loan, now: int) -> None:
            settled.append(loan.order_id)
            original(self, loan, now)

        monkeypatch.setattr(LegacyBook, "settle", counting)
        page = api.get(ONGOING, "limit=1").result
        assert [r["orderId"] for r in page["list"]] == [str(10**18 + 19_999)]
        assert settled == [str(10**18 + 19_999)]
        second = api.get(ONGOING, f"limit=1&cursor={page['nextPageCursor']}").result
        assert [r["orderId"] for r in second["list"]] == [str(10**18 + 19_998)]


class TestLoadAndFuzz:
    """Concurrent keep-alive clients and random bytes: the server keeps serving."""

    def test_concurrent_clients(self, served: SandboxServer, sandbox: Sandbox) -> None:
        """20 connections x 20 signed reads at once: every one answered 200, retCode 0."""
        sandbox.rate_limit = 10_000
        codes: list[int] = []
        lock = threading.Lock()

        def client() -> None:
            api = Api(served)
            got = [api.get(ONGOING).code for _ in range(20)]
            api.close()
            with lock:
                codes.extend(got)

        threads = [threading.Thread(target=client) for _ in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert codes == [0] * 400

    @settings(max_examples=150, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.one_of(
        st.binary(max_size=400),
        st.builds(lambda m, t, h: m + b" " + t + b" HTTP/1.1\r\n" + h + b"\r\n\r\n",
                  st.sampled_from([b"GET", b"POST", b"get", b"PUT", b"G\x00T"]),
                  st.binary(max_size=60).map(lambda b: b"/" + b.replace(b" ", b"")),
                  st.binary(max_size=200)),
    ))
    def test_random_bytes(self, served: SandboxServer, sandbox: Sandbox, data: bytes) -> None:
        """Any bytes get an HTTP answer or a closed connection, and change no state."""
        answer = raw(served.port, data, timeout=5)
        assert answer == b"" or answer.startswith(b"HTTP/1.1 ")
        assert sandbox.orders == {} and sandbox.wallet["USDT"] == Decimal("100000")
        assert status_of(raw(served.port, TIME + b"\r\n")) == 200
