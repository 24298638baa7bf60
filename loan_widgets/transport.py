"""Sending bytes: the only module that talks HTTP.

``HttpTransport.send`` takes the method, the full URL (query already in it),
the exact body bytes and headers, and sends them unchanged over a keep-alive
HTTP/1.1 connection. It never retries and never re-encodes. The standard
library's ``http.client`` opens the connections (TCP; a proxy's CONNECT
tunnel; TLS verified against the CA bundle :mod:`loan_widgets.tls` picks,
host names checked); :mod:`loan_widgets.http1` writes each request in one
piece and reads its answer (why by hand: see there).

**Proxies** (:mod:`loan_widgets.proxies`): ``HTTPS_PROXY``, ``HTTP_PROXY``,
``ALL_PROXY`` and ``NO_PROXY``, upper or lower case, read once per host (the
route is kept with the host's connections; ``close()`` forgets it). An
``https://`` host is reached through a CONNECT tunnel: TLS runs end to end
with the exchange inside it and its certificate is checked for the exchange's
host name, so the proxy sees the host name and encrypted bytes only. A plain
``http://`` host (a loopback sandbox) is asked through the proxy with an
absolute URI. Either way the body and signature leave unchanged. Proxy
credentials (``http://user:password@proxy:3128``) go in ``Proxy-Authorization``
and every message shows the proxy masked.

Failures are mapped at this edge into :mod:`loan_widgets.errors`:

* no connection could be made (refused, DNS, a TLS certificate not trusted,
  the proxy unreachable or refusing the CONNECT, e.g. 407)
                                         -> ``ConnectError`` (nothing was sent)
* the proxy answered 407 to a plain-http request
                                         -> ``ConnectError`` (it never reached the exchange)
* a proxy variable or CA bundle that cannot be used
                                         -> ``ConfigurationError`` (nothing was sent)
* a header that cannot be sent         -> ``ValidationError`` (nothing was sent)
* sent, then timeout, dropped socket or an answer that is not HTTP
                                         -> ``AnswerLost`` (outcome unknown for a write)

The rules that keep a lost answer meaning "it may have been executed":

* **The timeout bounds the whole answer**, not each read: every read gets
  only what is left of ``timeout``, so a server trickling one byte a second
  cannot hold a ``timeout=2`` call longer than 2 s.
* **A write never goes out on a connection the server may be closing.** A
  kept-alive connection is reused for a write only if its last answer came
  less than :data:`WRITE_REUSE_IDLE_S` ago (back-to-back writes stay on the
  warm connection); otherwise the write opens a new one (through a proxy: a
  new tunnel). So against any server whose idle timeout is longer than that
  (servers use seconds), a stale socket is never mistaken for a lost answer.
  Reads may reuse any connection that is still open (checked before reuse)
  and are retried by the client anyway.
* **Each process has its own connections** (checked by pid on every send), so
  after ``os.fork()`` parent and child never read each other's answers.
* **An interrupt (or any exception) mid-request discards the connection**: the
  next request never goes out on a socket left half-way through a request.

Any object with the same ``send``/``close`` methods can replace it.
"""

from __future__ import annotations

import http.client
import logging
import os
import re
import select
import socket
import ssl
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from . import tls
from .config import is_loopback
from .errors import AnswerLost, ConnectError, RequestInfo, ValidationError
from .http1 import Unsendable, read_answer, request_head
from .proxies import Proxy, proxy_for

__all__ = ["WRITE_REUSE_IDLE_S", "HttpTransport", "RawResponse", "Transport"]

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 5.0
USER_AGENT = "loan_widgets/0.1"
WRITE_REUSE_IDLE_S = 0.25
"""A write reuses a kept-alive connection only if it answered less than this long ago."""

_Key = tuple[str, str, int]


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


class _Route:
    """How requests to one host go out: directly or through a proxy; looked up once."""

    __slots__ = ("headers", "host", "prefix", "proxy", "via", "where")

    def __init__(self, scheme: str, host: str, port: int, proxy: Proxy | None) -> None:
        try:
            host.encode("ascii")
        except UnicodeEncodeError:
            host = host.encode("idna").decode("ascii")
        name = f"[{host}]" if ":" in host else host
        self.host = name if port == (443 if scheme == "https" else 80) else f"{name}:{port}"
        """The ``Host`` header."""
        self.where = f"{scheme}://{self.host}"
        self.proxy = proxy
        absolute = proxy is not None and scheme == "http"
        self.prefix = self.where if absolute else ""
        """Put before the path: the absolute URI a proxy is asked for plain http."""
        self.headers = {"User-Agent": USER_AGENT,
                        **(proxy.headers if proxy is not None and absolute else {})}
        self.via = f" through the proxy {proxy.shown}" if proxy is not None else ""


class HttpTransport:
    """HTTP/1.1 over one keep-alive connection per host and process, with strict timeouts.

    Thread-safe: requests to the same host take turns on its connection.
    ``proxies`` replaces the environment's proxy variables (a mapping like
    ``{"https": "http://proxy:3128", "no": "localhost"}``; ``{}``: always direct).
    """

    def __init__(
        self,
        timeout: float,
        connect_timeout: float = CONNECT_TIMEOUT,
        *,
        proxies: Mapping[str, str] | None = None,
    ) -> None:
        self.timeout = timeout
        self.connect_timeout = min(connect_timeout, timeout)
        self._proxies = dict(proxies) if proxies is not None else None
        self._tls: ssl.SSLContext | None = None
        self._trust = ""
        self._routes: dict[_Key, _Route] = {}
        self._urls: dict[str, tuple[_Key, str, str]] = {}
        self._reset_for_this_process()

    def _reset_for_this_process(self) -> None:
        """Forget connections and locks inherited from another process (after a fork)."""
        self._pid = os.getpid()
        self._connections: dict[_Key, http.client.HTTPConnection] = {}
        self._answered_at: dict[_Key, float] = {}
        self._locks: dict[_Key, threading.Lock] = {}
        self._guard = threading.Lock()

    def _lock_for(self, key: _Key) -> threading.Lock:
        if self._pid != os.getpid():
            self._reset_for_this_process()  # the parent's sockets are the parent's
        lock = self._locks.get(key)
        if lock is None:
            with self._guard:
                lock = self._locks.setdefault(key, threading.Lock())
        return lock

    def route(self, scheme: str, host: str, port: int) -> _Route:
        """The route to a host (read from the proxy variables the first time)."""
        key = (scheme, host, port)
        found = self._routes.get(key)
        if found is None:
            proxy = proxy_for(scheme, host, port, self._proxies)
            found = self._routes[key] = _Route(scheme, host, port, proxy)
            if proxy is not None:
                log.debug("%s goes through the proxy %s (%s)", found.where, proxy.shown,
                          proxy.variable)
        return found

    def _connect(self, key: _Key, route: _Route, writes: bool) -> http.client.HTTPConnection:
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
        proxy = route.proxy
        address = (proxy.host, proxy.port) if proxy is not None else (host, port)
        new: http.client.HTTPConnection
        if scheme == "https":
            if self._tls is None:
                self._tls, self._trust = tls.context()
            new = http.client.HTTPSConnection(
                *address, timeout=self.connect_timeout, context=self._tls
            )
            if proxy is not None:
                new.set_tunnel(host, port, headers=proxy.headers)
        else:
            new = http.client.HTTPConnection(*address, timeout=self.connect_timeout)
        new.connect()  # raises OSError (or HTTPException from a proxy) before anything is sent
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
        started = time.perf_counter()
        key, target, path = self._urls.get(url) or self._parse(url)
        with self._lock_for(key):
            route = self.route(*key)
            info = RequestInfo(method, f"{route.where}{path}")
            try:
                head = request_head(
                    method, route.prefix + target, route.host, headers,
                    None if body is None else len(body), first=route.headers,
                )
            except Unsendable:
                raise ValidationError(
                    f"a request header for {route.where} holds a character that cannot be sent "
                    "(whitespace, a line break or non-ASCII, e.g. in the API key): "
                    "nothing was sent",
                    request=info,
                ) from None
            try:
                conn = self._connect(key, route, writes)
            except (OSError, http.client.HTTPException) as error:
                self._forget(key)
                raise ConnectError(self._unconnected(key, route, error), request=info) from None
            except BaseException:
                self._forget(key)
                raise
            sock = conn.sock
            assert sock is not None
            deadline = time.monotonic() + self.timeout
            try:
                sock.settimeout(self.timeout)
                sock.sendall(head + body if body else head)
                answer = read_answer(sock, deadline, method)
            except TimeoutError:
                self._forget(key)
                raise AnswerLost(
                    f"no answer from {route.where}{route.via} within {self.timeout:g} s",
                    request=info,
                ) from None
            except (OSError, http.client.HTTPException) as error:
                self._forget(key)
                raise AnswerLost(
                    f"the connection to {route.where}{route.via} broke before an answer came "
                    f"({_reason(error)})",
                    request=info,
                ) from None
            except BaseException:  # an interrupt mid-request: never reuse this socket
                self._forget(key)
                raise
            if answer.keep_alive:
                self._answered_at[key] = time.monotonic()
            else:
                self._forget(key)
        if answer.status == 407 and route.prefix:
            raise ConnectError(
                f"could not connect to {route.where}{route.via}: the proxy refused the "
                "request (HTTP 407 Proxy Authentication Required), so it never reached the "
                "exchange; put the proxy's credentials in its URL (http://user:password@host:"
                "port) (nothing was sent; safe to try again)",
                request=info, http_status=407,
            )
        return RawResponse(answer.status, answer.headers, answer.body,
                           time.perf_counter() - started)

    def _parse(self, url: str) -> tuple[_Key, str, str]:
        """``(key, target, path)`` of a URL, kept for the next request to the same URL."""
        if _UNSENDABLE_URL.search(url):  # urlsplit would drop tabs and line breaks silently
            raise ValidationError(
                "the request's URL holds whitespace or a control character: nothing was sent"
            )
        parts = urlsplit(url)
        scheme = parts.scheme
        port = parts.port or (443 if scheme == "https" else 80)
        key = (scheme, parts.hostname or "", port)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        if len(self._urls) >= _URLS_KEPT:
            self._urls.clear()
        found = self._urls[url] = (key, target, parts.path)
        return found

    def _unconnected(self, key: _Key, route: _Route, error: BaseException) -> str:
        """The one-line ``ConnectError`` message for a connection that could not be made."""
        reason = _reason(error)
        hint = ""
        if isinstance(error, ssl.SSLCertVerificationError):
            reason = f"its TLS certificate was refused: {error.verify_message or reason}"
            hint = (
                f"; the certificates trusted are {self._trust}: on a network that inspects "
                "TLS, set SSL_CERT_FILE or REQUESTS_CA_BUNDLE to a PEM file holding its root "
                "certificate"
            )
        elif route.proxy is not None and " 407 " in f" {reason} ":
            hint = "; the proxy wants credentials: put them in its URL (http://user:password@host:port)"
        elif route.proxy is not None and is_loopback(key[1]):
            hint = (
                f"; {key[1]} is on this machine: add it to NO_PROXY to reach it without "
                f"the proxy ({route.proxy.variable} is set)"
            )
        return (
            f"could not connect to {route.where}{route.via}: {reason}{hint} "
            "(nothing was sent; safe to try again)"
        )

    def _forget(self, key: _Key) -> None:
        conn = self._connections.pop(key, None)
        self._answered_at.pop(key, None)
        if conn is not None:
            conn.close()

    def close(self) -> None:
        """Close every kept-alive connection of this process; read the proxy variables again
        on the next request."""
        self._routes = {}
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


_URLS_KEPT = 256
"""URLs whose parsing is kept (signed GETs carry a timestamped query: they repeat less)."""
_UNSENDABLE_URL = re.compile(r"[\x00-\x20\x7f]")
_SSL_SOURCE = re.compile(r"\s*\(_ssl\.c:\d+\)")


def _reason(error: BaseException) -> str:
    """A short, single-line reason for a socket or HTTP error."""
    text = getattr(error, "strerror", None) or str(error) or type(error).__name__
    return " ".join(_SSL_SOURCE.sub("", str(text)).split())[:160]
