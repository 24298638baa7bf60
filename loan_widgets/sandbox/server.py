"""Serve a :class:`~loan_widgets.sandbox.account.Sandbox` over HTTP/1.1 on loopback.

One daemon thread accepts connections; each connection gets its own thread and is
kept alive between requests. :meth:`SandboxServer.stop` returns at once and closes
the open connections too. Bodies are handed to the sandbox raw, so signatures are
checked over the bytes that arrived. Nothing is written to stderr per request.

HTTP framing is strict (RFC 9112), answered with a plain-text 4xx and a closed
connection:

* the method is upper-case letters (the docs' 400: "the method must be uppercase"),
  the version ``HTTP/1.1`` or ``HTTP/1.0``, the request line at most 8 KiB (414);
* at most 100 header lines of at most 8 KiB, 64 KiB in all (431); an obsolete folded
  line, a name that is not a token, or a repeated ``Content-Length``,
  ``Transfer-Encoding``, ``Host``, ``Expect`` or ``X-BAPI-*`` header is 400;
* ``Content-Length`` is decimal digits, alone (with ``Transfer-Encoding`` it is 400);
  ``Transfer-Encoding`` is exactly ``chunked``; chunk sizes are 1 to 8 hex digits,
  each chunk ends with CRLF; a body past 1 MiB is 413;
* ``Expect: 100-continue`` gets ``100 Continue`` only for a request whose body will be
  read: one refused on its headers alone (unknown path, wrong method, missing auth, IP
  limit, a GET with a body) is answered at once, its body never read into memory.
"""

from __future__ import annotations

import contextlib
import re
import selectors
import socket
import socketserver
import threading
from collections.abc import Callable, Mapping
from http import HTTPStatus
from http.server import ThreadingHTTPServer
from typing import Any

from .account import Sandbox
from .gateway import Reply

__all__ = ["SandboxServer"]

MAX_BODY = 1 << 20
MAX_LINE = 8192
MAX_HEADERS = 100
MAX_HEADER_BYTES = 64 << 10
_REASONS = {s.value: s.phrase for s in HTTPStatus}
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_CHUNK = re.compile(rb"([0-9A-Fa-f]{1,8})(?:;[^\r\n]*)?\r?\n")
_SINGLE = ("content-length", "transfer-encoding", "host", "expect", "content-type")
Admin = tuple[str, Callable[[Mapping[str, str], bytes, str], Reply]]
"""An extra route: its path and ``handler(headers, body, peer) -> Reply``."""


class _Refused(Exception):
    """The request breaks HTTP framing: answer ``status`` and close."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class _Handler(socketserver.StreamRequestHandler):
    """A strict HTTP/1.1 server side: keep-alive, Content-Length or chunked bodies."""

    disable_nagle_algorithm = True  # no 40 ms stalls on keep-alive connections
    timeout = 300  # an idle keep-alive connection is closed after this many seconds
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, add=True)

    def finish(self) -> None:
        try:
            with contextlib.suppress(OSError):
                super().finish()
        finally:
            self.server.track(self.connection, add=False)

    def handle(self) -> None:
        self.close_connection = False
        try:
            while not self.close_connection:
                try:
                    self._handle_one()
                except _Refused as refused:
                    self._plain_error(refused.status)
        except (OSError, ValueError):
            pass  # the client hung up or timed out: just close

    def _read_line(self, limit: int, status: int) -> bytes:
        line = self.rfile.readline(limit + 1)
        if len(line) > limit:
            raise _Refused(status)
        return line

    def _read_headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        total = 0
        for _ in range(MAX_HEADERS + 1):
            raw = self._read_line(MAX_LINE, 431)
            if raw in (b"\r\n", b"\n"):
                return headers
            if not raw:
                raise OSError("the client hung up inside the headers")
            total += len(raw)
            if total > MAX_HEADER_BYTES:
                raise _Refused(431)
            if raw[:1] in (b" ", b"\t"):  # obsolete line folding (RFC 9112 5.2)
                raise _Refused(400)
            key, sep, value = raw.partition(b":")
            if not sep or not _TOKEN.fullmatch(key):
                raise _Refused(400)
            name = key.decode("ascii").lower()
            text = value.strip(b" \t\r\n").decode("latin-1")
            if name in headers:
                if name in _SINGLE or name.startswith("x-bapi-"):
                    raise _Refused(400)
                headers[name] += ", " + text
            else:
                headers[name] = text
        raise _Refused(431)

    def _handle_one(self) -> None:
        self.close_connection = True
        line = self._read_line(MAX_LINE, 414)
        if line in (b"\r\n", b"\n"):  # one empty line between requests is allowed
            line = self._read_line(MAX_LINE, 414)
        if not line:
            return
        parts = line.rstrip(b"\r\n").split(b" ")
        if (len(parts) != 3 or parts[2] not in (b"HTTP/1.1", b"HTTP/1.0")
                or not (parts[0].isalpha() and parts[0].isupper())
                or not parts[1].startswith(b"/")):
            raise _Refused(400)
        method, target, version = (p.decode("latin-1") for p in parts)
        headers = self._read_headers()
        length = self._body_length(headers, version)
        connection = headers.get("connection", "").lower()
        keep_alive = ("keep-alive" in connection if version == "HTTP/1.0"
                      else "close" not in connection)
        path, _, query = target.partition("?")
        if not query.isascii():  # the request line was decoded as latin-1
            query = query.encode("latin-1").decode("utf-8", "surrogateescape")
        sandbox = self.server.sandbox
        peer = str(self.client_address[0]) if self.client_address else "local"
        has_body = length != 0
        admin = self.server.admin
        if admin is not None and path == admin[0] and method == "POST":
            body = self._read_chunked() if length is None else self._read_exact(length)
            self.close_connection = not keep_alive
            self._answer(method, admin[1](headers, body, peer))
            return
        refused = sandbox.gateway.precheck(method, path, headers, has_body=has_body, peer=peer)
        if refused is not None:
            self._answer(method, refused)
            if has_body and "expect" not in headers:
                self._linger()
            return
        expect = headers.get("expect")
        if expect is not None:
            if expect.lower() != "100-continue":
                raise _Refused(417)
            if has_body:
                self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                self.wfile.flush()
        body = self._read_chunked() if length is None else self._read_exact(length)
        self.close_connection = not keep_alive
        reply = sandbox.handle(method, path, query, headers, body, peer=peer, counted=True)
        self._answer(method, reply)

    @staticmethod
    def _body_length(headers: dict[str, str], version: str) -> int | None:
        """The Content-Length, 0 for none, None for a chunked body."""
        encoding = headers.get("transfer-encoding")
        length = headers.get("content-length")
        if encoding is not None:
            if length is not None or version != "HTTP/1.1" or encoding.lower() != "chunked":
                raise _Refused(400)
            return None
        if length is None:
            return 0
        if not (length.isascii() and length.isdigit()) or len(length) > 12:
            raise _Refused(400)
        if int(length) > MAX_BODY:
            raise _Refused(413)
        return int(length)

    def _read_exact(self, length: int) -> bytes:
        body = self.rfile.read(length) if length else b""
        if len(body) != length:
            raise OSError("the client hung up mid-body")
        return body

    def _read_chunked(self) -> bytes:
        parts: list[bytes] = []
        total = 0
        while True:
            match = _CHUNK.fullmatch(self._read_line(1024, 400))
            if match is None:
                raise _Refused(400)
            size = int(match.group(1), 16)
            if size == 0:
                for _ in range(MAX_HEADERS + 1):  # trailers, bounded like headers
                    if self._read_line(MAX_LINE, 431) in (b"\r\n", b"\n", b""):
                        return b"".join(parts)
                raise _Refused(431)
            total += size
            if total > MAX_BODY:
                raise _Refused(413)
            parts.append(self._read_exact(size))
            if self.rfile.readline(3) not in (b"\r\n", b"\n"):
                raise _Refused(400)

    def _linger(self) -> None:
        """After refusing a request whose body is on its way: stop writing, drop what
        arrives (at most 1 MiB, 1 s), so the client reads the answer instead of a reset."""
        with contextlib.suppress(OSError):
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(1.0)
            dropped = 0
            while dropped <= MAX_BODY:
                chunk = self.connection.recv(65536)
                if not chunk:
                    break
                dropped += len(chunk)

    def _plain_error(self, status: int) -> None:
        self.close_connection = True
        reason = _REASONS.get(status, "Error")
        body = f"{status} {reason}\n".encode("ascii")
        with contextlib.suppress(OSError):
            self.wfile.write(
                f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode("ascii") + body)

    def _answer(self, method: str, reply: Reply) -> None:
        if reply.drop:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        head = [f"HTTP/1.1 {reply.status} {_REASONS.get(reply.status, 'Error')}"]
        head.extend(f"{name}: {value}" for name, value in reply.headers.items())
        head.append(f"Content-Length: {len(reply.body)}")
        if self.close_connection:
            head.append("Connection: close")
        data = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")
        self.wfile.write(data if method == "HEAD" else data + reply.body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], sandbox: Sandbox, admin: Admin | None) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.sandbox = sandbox
        self.admin = admin
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind does a reverse DNS lookup (getfqdn): skip it.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.socket.getsockname()[:2]  # = server_address

    def track(self, connection: socket.socket, *, add: bool) -> None:
        with self._connections_lock:
            if add:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if isinstance(sys.exc_info()[1], OSError):
            return  # the client hung up or timed out: not worth a traceback
        super().handle_error(request, client_address)


def _accept_loop(httpd: _Server, wake: socket.socket) -> None:
    """Accept connections until a byte arrives on ``wake`` (no polling, instant stop)."""
    with selectors.DefaultSelector() as selector, wake:
        selector.register(httpd, selectors.EVENT_READ)
        selector.register(wake, selectors.EVENT_READ)
        while True:
            for key, _ in selector.select():
                if key.fileobj is wake:
                    return
                try:
                    request, address = httpd.get_request()
                except OSError:
                    continue
                try:
                    httpd.process_request(request, address)  # one thread per connection
                except Exception:
                    httpd.handle_error(request, address)
                    httpd.shutdown_request(request)


class SandboxServer:
    """A :class:`Sandbox` served on ``http://host:port`` from a daemon thread.

    ``port=0`` picks a free port; read it back from :attr:`port` or
    :attr:`base_url` once started. Use as a context manager, or call
    :meth:`start` (returns ``self``) and :meth:`stop`.
    """

    def __init__(self, sandbox: Sandbox | None = None, host: str = "127.0.0.1",
                 port: int = 0, admin: Admin | None = None) -> None:
        self.sandbox = sandbox if sandbox is not None else Sandbox()
        self.admin = admin
        """``(path, handler)`` of an extra route answered before the exchange's own."""
        self.host = host
        self._requested_port = port
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None
        self._wake: socket.socket | None = None
        self._lock = threading.Lock()

    def start(self) -> SandboxServer:
        """Bind and start serving (no-op if already running); returns ``self``."""
        with self._lock:
            if self._httpd is None:
                httpd = _Server((self.host, self._requested_port), self.sandbox, self.admin)
                wake_read, wake_write = socket.socketpair()
                thread = threading.Thread(
                    target=_accept_loop, args=(httpd, wake_read),
                    name=f"loan-widgets-sandbox:{httpd.server_address[1]}", daemon=True)
                thread.start()
                self._httpd, self._thread, self._wake = httpd, thread, wake_write
        return self

    def stop(self) -> None:
        """Stop serving and close every open connection (no-op if not running)."""
        with self._lock:
            httpd, thread, wake = self._httpd, self._thread, self._wake
            self._httpd = self._thread = self._wake = None
        if httpd is None:
            return
        if wake is not None:
            with contextlib.suppress(OSError):
                wake.send(b"x")
        if thread is not None:
            thread.join(timeout=5)
        if wake is not None:
            wake.close()
        httpd.close_connections()
        httpd.server_close()

    @property
    def running(self) -> bool:
        """True between :meth:`start` and :meth:`stop`."""
        return self._httpd is not None

    @property
    def port(self) -> int:
        """The bound TCP port."""
        httpd = self._httpd
        if httpd is None:
            raise RuntimeError("the sandbox server is not running: call start() first")
        return int(httpd.server_address[1])

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``, the base URL to give a client."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def identity(self) -> str:
        """The served exchange's identity (stable while its state lives)."""
        return self.sandbox.identity

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.base_url if self.running else "stopped"
        return f"<SandboxServer {where} seed={self.sandbox.seed}>"
