"""Sending bytes: the only module that talks HTTP.

``HttpTransport.send`` takes the method, the full URL (query already in it),
the exact body bytes and headers, and sends them unchanged over a keep-alive
HTTP/1.1 connection (the standard library's ``http.client``, with TLS
verified against certifi's or the system's CA bundle). It never retries and
never re-encodes. Failures are mapped at this edge into
:mod:`loan_widgets.errors`:

* no connection could be made          -> ``ConnectError`` (nothing was sent)
* sent, then timeout or dropped socket -> ``AnswerLost`` (outcome unknown)

A kept-alive connection is checked before reuse: if the server closed it
while idle, a new one is opened before anything is written, so a stale
socket is never mistaken for a lost answer.

Any object with the same ``send``/``close`` methods can replace it.
"""

from __future__ import annotations

import http.client
import select
import socket
import ssl
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from .errors import AnswerLost, ConnectError, RequestInfo

__all__ = ["HttpTransport", "RawResponse", "Transport"]

CONNECT_TIMEOUT = 5.0
USER_AGENT = "loan_widgets/0.1"


@dataclass(frozen=True)
class RawResponse:
    """What came back: status, headers (lower-case keys), raw body, seconds taken."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    elapsed: float


class Transport(Protocol):
    """Sends one request and returns the raw answer; never retries."""

    def send(
        self, method: str, url: str, body: bytes | None, headers: Mapping[str, str]
    ) -> RawResponse: ...

    def close(self) -> None: ...


def _tls_context() -> ssl.SSLContext:
    try:
        import certifi
    except ImportError:  # pragma: no cover - certifi comes with requests
        return ssl.create_default_context()
    return ssl.create_default_context(cafile=certifi.where())


class HttpTransport:
    """HTTP/1.1 over one keep-alive connection per host, with strict timeouts.

    Thread-safe: requests to the same host take turns on its connection.
    """

    def __init__(self, timeout: float, connect_timeout: float = CONNECT_TIMEOUT) -> None:
        self.timeout = timeout
        self.connect_timeout = min(connect_timeout, timeout)
        self._connections: dict[tuple[str, str, int], http.client.HTTPConnection] = {}
        self._locks: dict[tuple[str, str, int], threading.Lock] = {}
        self._guard = threading.Lock()
        self._tls: ssl.SSLContext | None = None

    def _lock_for(self, key: tuple[str, str, int]) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def _connect(self, key: tuple[str, str, int]) -> http.client.HTTPConnection:
        """Open (or reuse, when still healthy) the connection for ``key``."""
        conn = self._connections.get(key)
        if conn is not None and conn.sock is not None and not _dropped(conn.sock):
            return conn
        if conn is not None:
            conn.close()
        scheme, host, port = key
        if scheme == "https":
            if self._tls is None:
                self._tls = _tls_context()
            conn = http.client.HTTPSConnection(
                host, port, timeout=self.connect_timeout, context=self._tls
            )
        else:
            conn = http.client.HTTPConnection(host, port, timeout=self.connect_timeout)
        conn.connect()  # raises OSError before anything is sent
        assert conn.sock is not None
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.sock.settimeout(self.timeout)
        self._connections[key] = conn
        return conn

    def send(
        self, method: str, url: str, body: bytes | None, headers: Mapping[str, str]
    ) -> RawResponse:
        """Send exactly ``body`` with ``headers``; map failures to our errors."""
        parts = urlsplit(url)
        scheme = parts.scheme
        port = parts.port or (443 if scheme == "https" else 80)
        key = (scheme, parts.hostname or "", port)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        info = RequestInfo(method, f"{scheme}://{parts.netloc}{parts.path}")
        started = time.perf_counter()
        with self._lock_for(key):
            try:
                conn = self._connect(key)
            except (OSError, http.client.HTTPException) as error:
                self._forget(key)
                raise ConnectError(
                    f"could not connect to {scheme}://{parts.netloc}: {_reason(error)} "
                    "(nothing was sent; safe to try again)",
                    request=info,
                ) from None
            try:
                conn.putrequest(method, target, skip_accept_encoding=True)
                conn.putheader("User-Agent", USER_AGENT)
                for name, value in headers.items():
                    conn.putheader(name, value)
                if body is not None:
                    conn.putheader("Content-Length", str(len(body)))
                conn.endheaders(body)
                response = conn.getresponse()
                data = response.read()
            except TimeoutError:
                self._forget(key)
                raise AnswerLost(
                    f"no answer from {scheme}://{parts.netloc} within {self.timeout:g} s",
                    request=info,
                ) from None
            except (OSError, http.client.HTTPException) as error:
                self._forget(key)
                raise AnswerLost(
                    f"the connection to {scheme}://{parts.netloc} broke before an answer "
                    f"came ({_reason(error)})",
                    request=info,
                ) from None
            if response.will_close:
                self._forget(key)
        elapsed = time.perf_counter() - started
        headers_out = {k.lower(): v for k, v in response.getheaders()}
        return RawResponse(response.status, headers_out, data, elapsed)

    def _forget(self, key: tuple[str, str, int]) -> None:
        conn = self._connections.pop(key, None)
        if conn is not None:
            conn.close()

    def close(self) -> None:
        """Close every kept-alive connection."""
        with self._guard:
            keys = list(self._connections)
        for key in keys:
            with self._lock_for(key):
                self._forget(key)


def _dropped(sock: socket.socket) -> bool:
    """True when an idle keep-alive socket was closed (or reset) by the server."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)  # an idle connection is readable only at EOF or on error


def _reason(error: BaseException) -> str:
    """A short, single-line reason for a socket or HTTP error."""
    text = getattr(error, "strerror", None) or str(error) or type(error).__name__
    return " ".join(str(text).split())[:120]
