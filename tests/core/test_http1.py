"""HTTP/1.1 framing of the transport: what goes out, and every answer shape that comes back.

A raw socket server on 127.0.0.1 answers each request with the next canned bytes and
records the requests exactly as they arrived and how many connections carried them.
"""

from __future__ import annotations

import socketserver
import threading
from collections.abc import Iterator

import pytest

from loan_widgets.errors import AnswerLost, ValidationError
from loan_widgets.transport import HttpTransport


class _Canned(socketserver.StreamRequestHandler):
    server: CannedServer

    def handle(self) -> None:
        srv = self.server
        with srv.lock:
            srv.connections += 1
        while True:
            head = b""
            while not head.endswith(b"\r\n\r\n"):
                byte = self.rfile.read(1)
                if not byte:
                    return
                head += byte
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            body = self.rfile.read(length)
            with srv.lock:
                srv.requests.append(head + body)
                answer = srv.answers.pop(0) if srv.answers else b""
            self.wfile.write(answer)
            self.wfile.flush()
            if not answer or srv.close_after:
                return


class CannedServer(socketserver.ThreadingTCPServer):
    """Answers request n with ``answers[n]`` (nothing left: close); records what arrived."""

    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False

    def __init__(self, *answers: bytes, close_after: bool = False) -> None:
        super().__init__(("127.0.0.1", 0), _Canned)
        self.answers = list(answers)
        self.close_after = close_after
        self.requests: list[bytes] = []
        self.connections = 0
        self.lock = threading.Lock()
        self._thread = threading.Thread(target=self.serve_forever,
                                        kwargs={"poll_interval": 0.01}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def __enter__(self) -> CannedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()
        self.server_close()


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


@pytest.fixture
def transport() -> Iterator[HttpTransport]:
    """A transport with no proxies and a 2 s timeout."""
    made = HttpTransport(2.0, proxies={})
    yield made
    made.close()


class TestRequest:
    """What goes out: exactly the head and body given, or nothing at all."""

    def test_head_and_body(self, transport: HttpTransport) -> None:
        """Request line, Host, User-Agent, the headers in order, Content-Length, the body."""
        with CannedServer(OK) as srv:
            transport.send("POST", f"{srv.url}/v5/x?a=1", b'{"k":"v"}',
                           {"Content-Type": "application/json", "X-BAPI-SIGN": "abc"})
        port = srv.server_address[1]
        assert srv.requests == [
            b"POST /v5/x?a=1 HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
            b"User-Agent: loan_widgets/0.1\r\nContent-Type: application/json\r\n"
            b"X-BAPI-SIGN: abc\r\nContent-Length: 9\r\n\r\n{\"k\":\"v\"}" % port
        ]

    def test_get_has_no_length(self, transport: HttpTransport) -> None:
        """A request without a body carries no Content-Length; an empty path is '/'."""
        with CannedServer(OK) as srv:
            transport.send("GET", srv.url, None, {})
        assert srv.requests[0].startswith(b"GET / HTTP/1.1\r\n")
        assert b"content-length" not in srv.requests[0].lower()

    @pytest.mark.parametrize(("name", "value"), [
        ("X-BAPI-API-KEY", "key\r\nX-Evil: 1"), ("X-BAPI-API-KEY", "key\u200b"),
        ("X-BAPI-API-KEY", "k\u00e9y"), ("Bad Name", "v"), ("X-Nul", "a\x00b"), ("", "v"),
    ])
    def test_unsendable_header(self, transport: HttpTransport, name: str, value: str) -> None:
        """A header that cannot go out as is: ValidationError, no connection, value unsaid."""
        with CannedServer(OK) as srv, pytest.raises(ValidationError, match="nothing was sent"
                                                    ) as info:
            transport.send("GET", f"{srv.url}/x", None, {name: value})
        assert srv.connections == 0 and srv.requests == []
        assert value not in str(info.value) or not value

    def test_unsendable_target(self, transport: HttpTransport) -> None:
        """A path with a space or a control character is refused before connecting."""
        with CannedServer(OK) as srv:
            for path in ("/a b", "/a\tb", "/a\u00e9"):
                with pytest.raises(ValidationError):
                    transport.send("GET", f"{srv.url}{path}", None, {})
        assert srv.connections == 0


class TestAnswer:
    """Every shape of answer is read whole; the connection is kept only when it may be."""

    def test_keep_alive(self, transport: HttpTransport) -> None:
        """Two answers with Content-Length: one connection."""
        with CannedServer(OK, OK) as srv:
            for _ in range(2):
                assert transport.send("GET", f"{srv.url}/x", None, {}).body == b"ok"
        assert srv.connections == 1

    def test_chunked(self, transport: HttpTransport) -> None:
        """Chunks (with an extension and a trailer) are joined; the connection is kept."""
        chunked = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                   b"4;ext=1\r\n{\"a\"\r\n5\r\n:\"b\"}\r\n0\r\nX-Trailer: t\r\n\r\n")
        with CannedServer(chunked, OK) as srv:
            assert transport.send("GET", f"{srv.url}/x", None, {}).body == b'{"a":"b"}'
            assert transport.send("GET", f"{srv.url}/x", None, {}).body == b"ok"
        assert srv.connections == 1

    def test_interim_answer(self, transport: HttpTransport) -> None:
        """A 100 Continue before the answer is skipped."""
        with CannedServer(b"HTTP/1.1 100 Continue\r\n\r\n" + OK) as srv:
            answer = transport.send("POST", f"{srv.url}/x", b"{}", {})
        assert (answer.status, answer.body) == (200, b"ok")

    @pytest.mark.parametrize("answer", [
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
        OK + b"HTTP/1.1 200 OK\r\n",  # bytes past the answer: out of step
    ], ids=["connection-close", "http-1.0", "extra-bytes"])
    def test_not_kept(self, transport: HttpTransport, answer: bytes) -> None:
        """An answer that ends the connection, or leaves it out of step: a new one next."""
        with CannedServer(answer, OK, close_after=False) as srv:
            assert transport.send("GET", f"{srv.url}/x", None, {}).body == b"ok"
            assert transport.send("GET", f"{srv.url}/x", None, {}).body == b"ok"
        assert srv.connections == 2

    def test_until_close(self, transport: HttpTransport) -> None:
        """No length and not chunked: the body runs to the end of the connection."""
        with CannedServer(b"HTTP/1.1 200 OK\r\n\r\n{\"retCode\":0}", close_after=True) as srv:
            assert transport.send("GET", f"{srv.url}/x", None, {}).body == b'{"retCode":0}'

    @pytest.mark.parametrize(("method", "answer"), [
        ("HEAD", b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"),
        ("GET", b"HTTP/1.1 204 No Content\r\n\r\n"),
    ])
    def test_no_body(self, transport: HttpTransport, method: str, answer: bytes) -> None:
        """HEAD and 204 answers have no body, whatever the headers say; the connection stays."""
        with CannedServer(answer, OK) as srv:
            assert transport.send(method, f"{srv.url}/x", None, {}).body == b""
            assert transport.send("GET", f"{srv.url}/x", None, {}).body == b"ok"
        assert srv.connections == 1

    def test_headers(self, transport: HttpTransport) -> None:
        """Names lower-cased, values trimmed, the last of repeated ones, folded lines joined."""
        answer = (b"HTTP/1.1 200 OK\r\nX-Bapi-Limit: 1\r\nX-BAPI-LIMIT:  2 \r\n"
                  b"X-Folded: a\r\n b\r\nContent-Length: 2\r\n\r\nok")
        with CannedServer(answer) as srv:
            headers = transport.send("GET", f"{srv.url}/x", None, {}).headers
        assert headers["x-bapi-limit"] == "2" and headers["x-folded"] == "a b"

    @pytest.mark.parametrize("answer", [
        b"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\nok",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\nok",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nabc\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0x2\r\nok\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0_2\r\nok\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n" + b"X-Many: 1\r\n" * 101 + b"Content-Length: 0\r\n\r\n",
        b"HTTP/1.1 20 OK\r\nContent-Length: 0\r\n\r\n",
        b"ICY 200 OK\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n",
    ], ids=["length-text", "length-negative", "chunk-size", "chunk-negative", "chunk-0x",
            "chunk-underscore", "long-head", "many-headers",
            "status", "protocol", "head-cut"])
    def test_unreadable(self, transport: HttpTransport, answer: bytes) -> None:
        """An answer that is not usable HTTP/1.x: AnswerLost in one line, connection dropped."""
        with CannedServer(answer, close_after=True) as srv, pytest.raises(
            AnswerLost, match="broke before an answer came"
        ) as info:
            transport.send("POST", f"{srv.url}/x", b"{}", {}, writes=True)
        assert len(str(info.value).splitlines()) == 1
        assert transport._connections == {}
