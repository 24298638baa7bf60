"""A small Bybit-like HTTP server on 127.0.0.1 that tests make misbehave on purpose.

It speaks just enough of the API for a client to sync its clock, read open
loans and borrow: ``GET /v5/market/time``, ``GET /v5/crypto-loan/ongoing-orders``
(no loans unless ``server.pages`` says otherwise) and every POST answered
``retCode 0`` with a fresh 19-digit ``orderId``. Knobs (attributes):

``answer``          ``(path, method) -> (status, body bytes) | None`` overriding an answer
``idle_close_s``    close a kept-alive connection idle this long (``None``: never)
``closing_s``       how long that close takes (a request arriving meanwhile is lost unread)
``trickle_s``       send the answer's body one byte every this many seconds
``pages``           answers for ``ongoing-orders``: a list of results, used in turn

It counts what it received (``received``: (method, path) of every request it
read in full). Loopback only, bounded by the test's own timeouts.
"""

from __future__ import annotations

import json
import socket
import socketserver
import time
from collections.abc import Callable
from typing import Any

from .loopback import LoopbackServer

__all__ = ["FakeBybit", "envelope"]


def envelope(result: Any, code: int = 0, msg: str = "OK") -> bytes:
    """A Bybit envelope as bytes."""
    return json.dumps(
        {"retCode": code, "retMsg": msg, "result": result, "retExtInfo": {},
         "time": time.time_ns() // 10**6}
    ).encode()


class _Handler(socketserver.StreamRequestHandler):
    server: FakeBybit

    def handle(self) -> None:
        try:
            while self._one():
                pass
        except OSError:
            pass

    def _one(self) -> bool:
        srv = self.server
        if srv.idle_close_s is not None:
            self.connection.settimeout(srv.idle_close_s)
            try:
                line = self.rfile.readline(65537)
            except TimeoutError:
                time.sleep(srv.closing_s)  # closing, slowly: what arrives now is never read
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, (1).to_bytes(4, "little") + bytes(4)
                )
                return False
            self.connection.settimeout(None)
        else:
            line = self.rfile.readline(65537)
        if not line:
            return False
        method, target = line.split()[:2]
        length = 0
        while (header := self.rfile.readline(65537)) not in (b"\r\n", b"\n", b""):
            name, _, value = header.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        body = self.rfile.read(length)
        path = target.split(b"?")[0].decode()
        with srv.lock:
            srv.received.append((method.decode(), path))
            srv.bodies.append(body)
        status, payload = self._answer(method.decode(), path)
        head = (
            f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\n\r\n"
        ).encode()
        if srv.trickle_s:
            self.wfile.write(head)
            for byte in payload:
                if srv.stopping.wait(srv.trickle_s):
                    return False
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
        else:
            self.wfile.write(head + payload)
        return True

    def _answer(self, method: str, path: str) -> tuple[int, bytes]:
        srv = self.server
        custom = srv.answer(path, method) if srv.answer else None
        if custom is not None:
            return custom
        if path == "/v5/market/time":
            now = time.time_ns()
            return 200, envelope({"timeSecond": str(now // 10**9), "timeNano": str(now)})
        if path == "/v5/crypto-loan/ongoing-orders":
            with srv.lock:
                page = srv.pages.pop(0) if len(srv.pages) > 1 else (
                    srv.pages[0] if srv.pages else {"list": [], "nextPageCursor": ""})
            return 200, envelope(page)
        with srv.lock:
            srv.next_id += 1
            order = str(srv.next_id)
        return 200, envelope({"orderId": order, "repayId": order, "adjustId": order})


class FakeBybit(LoopbackServer):
    """See the module docstring. Use as a context manager; ``url`` is its base URL."""

    def __init__(self, **knobs: Any) -> None:
        super().__init__(_Handler)
        self.answer: Callable[[str, str], tuple[int, bytes] | None] | None = None
        self.idle_close_s: float | None = None
        self.closing_s = 0.0
        self.trickle_s = 0.0
        self.pages: list[dict[str, Any]] = []
        for name, value in knobs.items():
            if not hasattr(self, name):
                raise TypeError(f"no knob {name}")
            setattr(self, name, value)
        self.received: list[tuple[str, str]] = []
        self.bodies: list[bytes] = []
        self.next_id = 1794267532472646144


    def posts(self) -> list[str]:
        """Paths of the POSTs received in full."""
        with self.lock:
            return [p for m, p in self.received if m == "POST"]
