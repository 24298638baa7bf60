"""Serve a :class:`~loan_widgets.sandbox.exchange.Sandbox` over HTTP/1.1 on loopback.

One daemon thread accepts connections; each connection gets its own thread
and is kept alive between requests. :meth:`SandboxServer.stop` returns at once
and closes the open connections too. Bodies are read to exactly
``Content-Length`` bytes (or de-chunked) and handed to the sandbox raw, so
signatures are checked over the bytes that arrived. Nothing is written to
stderr per request, and clients hanging up mid-answer are not reported.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import socketserver
import threading
from http import HTTPStatus
from http.server import ThreadingHTTPServer
from typing import Any

from .exchange import Sandbox

__all__ = ["SandboxServer"]

_MAX_BODY = 1 << 20
_MAX_LINE = 65536
_MAX_HEADERS = 100
_REASONS = {s.value: s.phrase for s in HTTPStatus}


class _Handler(socketserver.StreamRequestHandler):
    """A minimal HTTP/1.1 server side: keep-alive, Content-Length or chunked bodies."""

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
                self._handle_one()
        except (OSError, ValueError):
            pass  # the client hung up, timed out or sent garbage: just close

    def _handle_one(self) -> None:
        self.close_connection = True
        line = self.rfile.readline(_MAX_LINE + 1)
        if not line.strip():
            return
        parts = line.split()
        if len(line) > _MAX_LINE or len(parts) != 3 or not parts[2].startswith(b"HTTP/1."):
            self._plain_error(400)
            return
        method, target, version = (p.decode("latin-1") for p in parts)
        headers: dict[str, str] = {}
        name = ""
        while True:
            raw = self.rfile.readline(_MAX_LINE + 1)
            if raw in (b"\r\n", b"\n", b""):
                break
            if len(raw) > _MAX_LINE or len(headers) > _MAX_HEADERS:
                self._plain_error(431)
                return
            if raw[:1] in (b" ", b"\t") and name:  # obsolete line folding
                headers[name] += " " + raw.strip().decode("latin-1")
                continue
            key, sep, value = raw.partition(b":")
            if not sep:
                self._plain_error(400)
                return
            name = key.strip().decode("latin-1").lower()
            headers[name] = value.strip().decode("latin-1")
        connection = headers.get("connection", "").lower()
        if version == "HTTP/1.0":
            keep_alive = "keep-alive" in connection
        else:
            keep_alive = "close" not in connection
        if headers.get("expect", "").lower() == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        body = self._read_body(headers)
        if body is None:
            return
        self.close_connection = not keep_alive
        self._serve(method, target, headers, body)

    def _read_body(self, headers: dict[str, str]) -> bytes | None:
        if "chunked" in headers.get("transfer-encoding", "").lower():
            return self._read_chunked()
        length = headers.get("content-length")
        if length is None or length == "0":
            return b""
        if not (length.isascii() and length.isdigit()) or int(length) > _MAX_BODY:
            self._plain_error(400)
            return None
        body = self.rfile.read(int(length))
        if len(body) != int(length):
            return None  # the client hung up mid-body
        return body

    def _read_chunked(self) -> bytes | None:
        parts = []
        total = 0
        while True:
            line = self.rfile.readline(_MAX_LINE)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                self._plain_error(400)
                return None
            if size == 0:
                while self.rfile.readline(_MAX_LINE) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(parts)
            total += size
            if total > _MAX_BODY:
                self._plain_error(413)
                return None
            parts.append(self.rfile.read(size))
            self.rfile.readline(_MAX_LINE)

    def _plain_error(self, status: int) -> None:
        self.close_connection = True
        body = f"{status} {_REASONS.get(status, 'Error')}\n".encode("ascii")
        self.wfile.write(
            f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\nContent-Type: text/plain\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode("ascii") + body
        )

    def _serve(self, method: str, target: str, headers: dict[str, str], body: bytes) -> None:
        path, _, query = target.partition("?")
        if not query.isascii():  # the request line was decoded as latin-1
            query = query.encode("latin-1").decode("utf-8", "surrogateescape")
        reply = self.server.sandbox.handle(method, path, query, headers, body)
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

    def __init__(self, address: tuple[str, int], sandbox: Sandbox) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.sandbox = sandbox
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind does a reverse DNS lookup (getfqdn): skip it.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

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
                 port: int = 0) -> None:
        self.sandbox = sandbox if sandbox is not None else Sandbox()
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
                httpd = _Server((self.host, self._requested_port), self.sandbox)
                wake_read, wake_write = socket.socketpair()
                thread = threading.Thread(
                    target=_accept_loop,
                    args=(httpd, wake_read),
                    name=f"loan-widgets-sandbox:{httpd.server_address[1]}",
                    daemon=True,
                )
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

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.base_url if self.running else "stopped"
        return f"<SandboxServer {where} seed={self.sandbox.seed}>"
