"""Sending bytes: the only module that talks HTTP.

``HttpTransport.send`` takes the method, the full URL (query already in it),
the exact body bytes and headers, and sends them unchanged over a keep-alive
HTTP/1.1 connection (the standard library's ``http.client``, with TLS
verified against certifi's or the system's CA bundle). It never retries and
never re-encodes. Failures are mapped at this edge into
:mod:`loan_widgets.errors`:

* no connection could be made          -> ``ConnectError`` (nothing was sent)
* a header that cannot be sent         -> ``ValidationError`` (nothing was sent)
* sent, then timeout or dropped socket -> ``AnswerLost`` (outcome unknown)

The rules that keep a lost answer meaning "it may have been executed":

* **The timeout bounds the whole answer**, not each read: every read gets
  only what is left of ``timeout``, so a server trickling one byte a second
  cannot hold a ``timeout=2`` call longer than 2 s.
* **A write never goes out on a connection the server may be closing.** A
  kept-alive connection is reused for a write only if its last answer came
  less than :data:`WRITE_REUSE_IDLE_S` ago (back-to-back writes stay on the
  warm connection); otherwise the write opens a new one. So against any server
  whose idle timeout is longer than that (servers use seconds), a stale socket
  is never mistaken for a lost answer. Reads may reuse any connection that is still
  open (checked before reuse) and are retried by the client anyway.
* **Each process has its own connections** (checked by pid on every send), so
  after ``os.fork()`` parent and child never read each other's answers.
* **An interrupt (or any exception) mid-request discards the connection**: the
  next request never goes out on a socket left half-way through a request.

Any object with the same ``send``/``close`` methods can replace it.
"""

from __future__ import annotations

import http.client
import io
import os
import select
import socket
import ssl
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

from .errors import AnswerLost, ConnectError, RequestInfo, ValidationError

__all__ = ["WRITE_REUSE_IDLE_S", "HttpTransport", "RawResponse", "Transport"]

CONNECT_TIMEOUT = 5.0
USER_AGENT = "loan_widgets/0.1"
WRITE_REUSE_IDLE_S = 0.25
"""A write reuses a kept-alive connection only if it answered less than this long ago."""


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
        self,
        method: str,
        url: str,
        body: bytes | None,
        headers: Mapping[str, str],
        *,
        writes: bool = False,
    ) -> RawResponse: ...

    def close(self) -> None: ...


def _tls_context() -> ssl.SSLContext:
    try:
        import certifi
    except ImportError:  # pragma: no cover - certifi is a declared dependency
        return ssl.create_default_context()
    return ssl.create_default_context(cafile=certifi.where())


_deadline = threading.local()


class _DeadlineReader(io.RawIOBase):
    """Reads a socket giving each ``recv`` only what is left until the answer's deadline."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        super().__init__()
        self._sock = sock
        self._deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the answer's deadline passed")
        self._sock.settimeout(left)
        return self._sock.recv_into(buffer)


class _Reading:
    """Hands ``HTTPResponse`` a reader bounded by the deadline instead of ``makefile``."""

    __slots__ = ("_reader",)

    def __init__(self, reader: io.BufferedReader) -> None:
        self._reader = reader

    def makefile(self, mode: str) -> io.BufferedReader:
        return self._reader


class _Response(http.client.HTTPResponse):
    """An ``HTTPResponse`` whose every read is bounded by the request's deadline."""

    def __init__(self, sock: socket.socket, *args: Any, **kwargs: Any) -> None:
        deadline = getattr(_deadline, "value", None)
        if deadline is not None:
            reader = io.BufferedReader(_DeadlineReader(sock, deadline))
            super().__init__(_Reading(reader), *args, **kwargs)  # type: ignore[arg-type]
        else:
            super().__init__(sock, *args, **kwargs)


class _HTTPConnection(http.client.HTTPConnection):
    response_class = _Response


class _HTTPSConnection(http.client.HTTPSConnection):
    response_class = _Response


class HttpTransport:
    """HTTP/1.1 over one keep-alive connection per host and process, with strict timeouts.

    Thread-safe: requests to the same host take turns on its connection.
    """

    def __init__(self, timeout: float, connect_timeout: float = CONNECT_TIMEOUT) -> None:
        self.timeout = timeout
        self.connect_timeout = min(connect_timeout, timeout)
        self._tls: ssl.SSLContext | None = None
        self._reset_for_this_process()

    def _reset_for_this_process(self) -> None:
        """Forget connections and locks inherited from another process (after a fork)."""
        self._pid = os.getpid()
        self._connections: dict[tuple[str, str, int], http.client.HTTPConnection] = {}
        self._answered_at: dict[tuple[str, str, int], float] = {}
        self._locks: dict[tuple[str, str, int], threading.Lock] = {}
        self._guard = threading.Lock()

    def _lock_for(self, key: tuple[str, str, int]) -> threading.Lock:
        if self._pid != os.getpid():
            self._reset_for_this_process()  # the parent's sockets are the parent's
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def _connect(self, key: tuple[str, str, int], writes: bool) -> http.client.HTTPConnection:
        """Reuse the connection for ``key`` when safe, else open a new one."""
        conn = self._connections.get(key)
        if conn is not None:
            idle = time.monotonic() - self._answered_at.get(key, 0.0)
            if conn.sock is not None and not (writes and idle >= WRITE_REUSE_IDLE_S) and not (
                _dropped(conn.sock)
            ):
                return conn
            self._forget(key)
        scheme, host, port = key
        new: http.client.HTTPConnection
        if scheme == "https":
            if self._tls is None:
                self._tls = _tls_context()
            new = _HTTPSConnection(host, port, timeout=self.connect_timeout, context=self._tls)
        else:
            new = _HTTPConnection(host, port, timeout=self.connect_timeout)
        new.connect()  # raises OSError before anything is sent
        assert new.sock is not None
        new.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._connections[key] = new
        return new

    def send(
        self,
        method: str,
        url: str,
        body: bytes | None,
        headers: Mapping[str, str],
        *,
        writes: bool = False,
    ) -> RawResponse:
        """Send exactly ``body`` with ``headers``; map failures to our errors.

        ``writes`` marks a state-changing request: it never reuses a
        connection that has been idle for :data:`WRITE_REUSE_IDLE_S` or more.
        """
        parts = urlsplit(url)
        scheme = parts.scheme
        port = parts.port or (443 if scheme == "https" else 80)
        key = (scheme, parts.hostname or "", port)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        where = f"{scheme}://{parts.netloc}"
        info = RequestInfo(method, f"{where}{parts.path}")
        started = time.perf_counter()
        with self._lock_for(key):
            try:
                conn = self._connect(key, writes)
            except (OSError, http.client.HTTPException) as error:
                self._forget(key)
                raise ConnectError(
                    f"could not connect to {where}: {_reason(error)} "
                    "(nothing was sent; safe to try again)",
                    request=info,
                ) from None
            except BaseException:
                self._forget(key)
                raise
            try:
                conn.putrequest(method, target, skip_accept_encoding=True)
                conn.putheader("User-Agent", USER_AGENT)
                for name, value in headers.items():
                    conn.putheader(name, value)
                if body is not None:
                    conn.putheader("Content-Length", str(len(body)))
            except (ValueError, UnicodeError, http.client.HTTPException):
                self._forget(key)  # only buffered so far: nothing was sent
                raise ValidationError(
                    f"a request header for {where} holds a character that cannot be sent "
                    "(whitespace, a line break or non-ASCII, e.g. in the API key): "
                    "nothing was sent",
                    request=info,
                ) from None
            except BaseException:
                self._forget(key)
                raise
            deadline = time.monotonic() + self.timeout
            try:
                assert conn.sock is not None
                conn.sock.settimeout(self.timeout)
                conn.endheaders(body)
                _deadline.value = deadline
                try:
                    response = conn.getresponse()
                    data = response.read()
                finally:
                    _deadline.value = None
            except TimeoutError:
                self._forget(key)
                raise AnswerLost(
                    f"no answer from {where} within {self.timeout:g} s", request=info
                ) from None
            except (OSError, http.client.HTTPException) as error:
                self._forget(key)
                raise AnswerLost(
                    f"the connection to {where} broke before an answer came ({_reason(error)})",
                    request=info,
                ) from None
            except BaseException:  # an interrupt mid-request: never reuse this socket
                self._forget(key)
                raise
            if response.will_close:
                self._forget(key)
            else:
                self._answered_at[key] = time.monotonic()
        elapsed = time.perf_counter() - started
        headers_out = {k.lower(): v for k, v in response.getheaders()}
        return RawResponse(response.status, headers_out, data, elapsed)

    def _forget(self, key: tuple[str, str, int]) -> None:
        conn = self._connections.pop(key, None)
        self._answered_at.pop(key, None)
        if conn is not None:
            conn.close()

    def close(self) -> None:
        """Close every kept-alive connection of this process."""
        if self._pid != os.getpid():
            self._reset_for_this_process()
            return
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
