"""Sending bytes: the only module that talks HTTP.

``HttpTransport.send`` takes the method, the full URL (query already in it),
the exact body bytes and headers, sends them unchanged through a pooled
keep-alive connection (urllib3, the engine under requests) and returns a
:class:`RawResponse`. It never retries and never re-encodes. Library errors
are mapped at this edge into :mod:`loan_widgets.errors`:

* no connection could be made          -> ``ConnectError`` (nothing was sent)
* sent, then timeout or dropped socket -> ``AnswerLost`` (outcome unknown)

Any object with the same ``send``/``close`` methods can replace it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from .errors import AnswerLost, ConnectError, RequestInfo

__all__ = ["HttpTransport", "RawResponse", "Transport"]

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 5.0


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


class HttpTransport:
    """HTTP/1.1 over a pooled keep-alive connection, with strict timeouts."""

    def __init__(self, timeout: float, connect_timeout: float = CONNECT_TIMEOUT) -> None:
        import urllib3

        self.timeout = timeout
        self._urllib3 = urllib3
        self._pool = urllib3.PoolManager(
            num_pools=4,
            maxsize=4,
            block=False,
            retries=False,
            timeout=urllib3.Timeout(connect=min(connect_timeout, timeout), read=timeout),
        )

    def send(
        self, method: str, url: str, body: bytes | None, headers: Mapping[str, str]
    ) -> RawResponse:
        """Send exactly ``body`` with ``headers``; map failures to our errors."""
        exc = self._urllib3.exceptions
        started = time.perf_counter()
        try:
            response = self._pool.urlopen(
                method,
                url,
                body=body,
                headers=dict(headers),
                retries=False,
                redirect=False,
                preload_content=True,
                decode_content=True,
            )
        except (exc.NewConnectionError, exc.ConnectTimeoutError, exc.NameResolutionError) as e:
            raise ConnectError(
                f"could not connect to {_host(url)}: {_reason(e)}",
                request=RequestInfo(method, _strip_query(url)),
            ) from None
        except exc.ReadTimeoutError:
            raise AnswerLost(
                f"no answer from {_host(url)} within {self.timeout:g} s",
                request=RequestInfo(method, _strip_query(url)),
            ) from None
        except (exc.ProtocolError, exc.SSLError, exc.HTTPError) as e:
            raise AnswerLost(
                f"the connection to {_host(url)} broke before an answer came ({_reason(e)})",
                request=RequestInfo(method, _strip_query(url)),
            ) from None
        elapsed = time.perf_counter() - started
        headers_out = {k.lower(): v for k, v in response.headers.items()}
        return RawResponse(response.status, headers_out, response.data, elapsed)

    def close(self) -> None:
        """Close pooled connections."""
        self._pool.clear()


def _host(url: str) -> str:
    rest = url.split("://", 1)[-1]
    return url.split("://", 1)[0] + "://" + rest.split("/", 1)[0]


def _strip_query(url: str) -> str:
    return url.split("?", 1)[0]


def _reason(error: BaseException) -> str:
    """The innermost readable cause of a urllib3 error, in one short line."""
    inner: BaseException = error
    while True:
        nxt = getattr(inner, "reason", None) or inner.__cause__ or inner.__context__
        if not isinstance(nxt, BaseException) or nxt is inner:
            break
        inner = nxt
    text = getattr(inner, "strerror", None) or str(inner) or type(inner).__name__
    text = text.split(":")[-1].strip() if "object at 0x" in text else text
    return " ".join(str(text).split())[:120]
