"""The sandbox's front door: routing, auth, rate limits, faults, envelopes, HTTP statuses.

:meth:`Gateway.handle` answers one request with a :class:`Reply`, checking it
the way Bybit does, in this order:

1. IP limit: more than ``ip_rate_limit`` (600) requests in ``ip_window_ms``
   (5,000 ms of real time) from one network address (in-process calls have
   none) -> HTTP 403, retCode 10018
   ``access too frequent`` (the docs' error page; ``ip_rate_limit = None``
   relaxes it);
2. route: unknown path -> HTTP 404, retCode 10017; wrong method -> HTTP 405;
   a GET carrying a body -> HTTP 403 (the docs: "a GET was sent with an
   empty JSON body");
3. signed routes without their auth headers (``X-BAPI-API-KEY``,
   ``X-BAPI-SIGN``, ``X-BAPI-TIMESTAMP``) -> HTTP 401 (the docs: "the auth
   parameters are not in the headers"), retCode 10003 without a key, else 10001;
4. UID limit per API key and path over a rolling second -> retCode 10006;
5. on signed routes: API key (10003, HTTP 401: "the key is wrong"),
   ``X-BAPI-SIGN-TYPE`` absent or ``2``
   (10001), timestamp rule ``server_time - recv_window <= timestamp <
   server_time + 1000`` (10002), signature over the raw bytes received (10004);
6. parameters (strict: :mod:`~loan_widgets.sandbox.wire`), business rules,
   execution (the route's handler, under the account's lock).

Steps 1 to 3 need no body: :meth:`Gateway.precheck` runs them before the HTTP
server reads one, so a refused upload is never read into memory.

When ``X-BAPI-RECV-WINDOW`` is absent the window is 5000 ms and the string to
sign may hold either nothing or ``5000`` in its place; both are accepted.

Every request is logged in :attr:`Gateway.requests` (a :class:`RequestLog`
bounded by bytes, not entries).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from ..credentials import mask
from ..signing import load_public_key, verify_hmac, verify_rsa
from .faults import Fault, Faults
from .routes import ROUTES, Route
from .wire import RET_MSGS, ApiError, exact, parse_body, parse_query

__all__ = ["Gateway", "Reply", "RequestLog", "RequestRecord"]

logger = logging.getLogger(__name__)

DEFAULT_RECV_WINDOW = 5000
DEFAULT_RATE_LIMIT = 5000
IP_RATE_LIMIT = 600
IP_WINDOW_MS = 5000
LOG_BYTES = 16 << 20
LOG_BODY_BYTES = 64 << 10
_AUTH_HEADERS = ("x-bapi-api-key", "x-bapi-sign", "x-bapi-timestamp")
_JSON = "application/json"


@dataclass
class Reply:
    """What the exchange answers: HTTP status, headers and body bytes.

    ``drop`` means: close the connection without answering. ``ret_code`` is the
    envelope's retCode, ``None`` when the body is not an envelope.
    """

    status: int
    headers: dict[str, str]
    body: bytes
    drop: bool = False
    ret_code: int | None = None


@dataclass(slots=True)
class RequestRecord:
    """One request as it arrived, and what became of it.

    ``body`` keeps at most :data:`LOG_BODY_BYTES` of the body (``body_size`` is
    the size received); ``ret_code`` is the retCode the exchange produced
    (``None`` when it never executed the request, e.g. an HTML fault);
    ``status`` the HTTP status sent (0 when the connection was dropped);
    ``fault`` the fault kind applied.
    """

    method: str
    path: str
    query: str
    body: bytes
    headers: dict[str, str]
    time: int
    status: int = 0
    ret_code: int | None = None
    fault: str | None = None
    body_size: int = 0

    @property
    def size(self) -> int:
        """Bytes this record holds, roughly."""
        return (200 + len(self.path) + len(self.query) + len(self.body)
                + sum(len(k) + len(v) for k, v in self.headers.items()))


class RequestLog:
    """The requests received, oldest first, bounded by total bytes and by count.

    Iterate it, ``len()`` it or index it like a list; the oldest records go
    first when a bound is passed.
    """

    def __init__(self, max_bytes: int = LOG_BYTES, max_entries: int = 100_000) -> None:
        self.max_bytes = max_bytes
        self.max_entries = max_entries
        self._records: deque[RequestRecord] = deque()
        self._bytes = 0
        self._lock = threading.Lock()

    def append(self, record: RequestRecord) -> None:
        """Keep ``record``, dropping the oldest ones past the bounds."""
        with self._lock:
            self._records.append(record)
            self._bytes += record.size
            while self._records and (self._bytes > self.max_bytes
                                     or len(self._records) > self.max_entries):
                self._bytes -= self._records.popleft().size

    @property
    def bytes(self) -> int:
        """The bytes held now (at most ``max_bytes``)."""
        return self._bytes

    def clear(self) -> None:
        """Forget every record."""
        with self._lock:
            self._records.clear()
            self._bytes = 0

    def snapshot(self) -> list[RequestRecord]:
        """The records as a list (a copy)."""
        with self._lock:
            return list(self._records)

    def __iter__(self) -> Iterator[RequestRecord]:
        return iter(self.snapshot())

    def __len__(self) -> int:
        return len(self._records)

    def __getitem__(self, index: int) -> RequestRecord:
        with self._lock:
            return self._records[index]


def _limit_headers(limit: int, remaining: int, reset_ms: int) -> dict[str, str]:
    return {
        "X-Bapi-Limit": str(limit),
        "X-Bapi-Limit-Status": str(max(0, remaining)),
        "X-Bapi-Limit-Reset-Timestamp": str(reset_ms),
    }


def envelope(code: int, msg: str, now: int, headers: dict[str, str] | None = None,
             result: dict[str, Any] | None = None, status: int = 200) -> Reply:
    """A V5 envelope ``{"retCode","retMsg","result","retExtInfo","time"}`` as compact JSON."""
    msg = msg.encode("utf-8", "replace").decode("utf-8")  # never a lone surrogate
    body = json.dumps(
        {"retCode": code, "retMsg": msg, "result": result or {}, "retExtInfo": {}, "time": now},
        separators=(",", ":"),
    ).encode("utf-8")
    return Reply(status, {"Content-Type": _JSON, **(headers or {})}, body, ret_code=code)


class Host(Protocol):
    """What the gateway needs from the account behind it."""

    lock: Any

    def now_ms(self) -> int: ...

    def catch_up(self, now: int) -> None: ...

    def persist(self) -> None: ...

    def serves(self, route: Route) -> bool: ...


class Gateway:
    """Routing, auth, limits, faults and envelopes in front of one account (a ``Sandbox``).

    ``rate_limit`` is the UID limit per key and path per rolling second;
    ``rate_limits[path]`` overrides it for one path.
    """

    def __init__(self, account: Host, *, rate_limit: int = DEFAULT_RATE_LIMIT,
                 rate_limits: Mapping[str, int] | None = None,
                 ip_rate_limit: int | None = IP_RATE_LIMIT, log_size: int = 100_000,
                 log_bytes: int = LOG_BYTES,
                 routes: Mapping[str, Route] = ROUTES) -> None:
        self.account = account
        self.routes = routes
        self.faults = Faults()
        self.rate_limit = rate_limit
        self.rate_limits: dict[str, int] = dict(rate_limits or {})
        self.ip_rate_limit = ip_rate_limit
        """Requests per ``ip_window_ms`` of real time per client address; None: no limit."""
        self.ip_window_ms = IP_WINDOW_MS
        self.requests = RequestLog(log_bytes, log_size)
        self._keys: dict[str, tuple[str, Any]] = {}
        self._windows: dict[tuple[str, str], deque[int]] = {}
        self._ip_windows: dict[str, deque[float]] = {}
        self._limits_lock = threading.Lock()

    # -- credentials -----------------------------------------------------------------

    def add_credentials(self, api_key: str, secret: str | None = None,
                        public_key_pem: bytes | str | None = None) -> None:
        """Register an API key with its HMAC ``secret`` or its RSA ``public_key_pem``."""
        if not api_key:
            raise ValueError("the API key cannot be empty")
        if (secret is None) == (public_key_pem is None):
            raise ValueError("give exactly one of secret or public_key_pem")
        entry: tuple[str, Any] = (
            ("hmac", secret) if public_key_pem is None else ("rsa", load_public_key(public_key_pem))
        )
        with self._limits_lock:
            self._keys[api_key] = entry

    def remove_credentials(self, api_key: str) -> None:
        """Forget an API key: its requests get retCode 10003 from now on."""
        with self._limits_lock:
            self._keys.pop(api_key, None)

    # -- entry points ------------------------------------------------------------------

    def precheck(self, method: str, path: str, headers: Mapping[str, str], *,
                 has_body: bool, peer: str = "local") -> Reply | None:
        """The answer to a request that must be refused before its body is read, if any.

        Counts against the IP limit (so :meth:`handle` is then called with
        ``counted=True``) and logs the refused request.
        """
        now = self.account.now_ms()
        lowered = {k.lower(): v for k, v in headers.items()}
        reply = self._gate(method, path, lowered, has_body, peer, now)
        if reply is not None:
            record = RequestRecord(method, path, "", b"", lowered, now)
            record.ret_code, record.status = reply.ret_code, reply.status
            self.requests.append(record)
        return reply

    def handle(self, method: str, path: str, query: str, headers: Mapping[str, str],
               body: bytes, *, peer: str = "local", counted: bool = False) -> Reply:
        """Answer one HTTP request (``query`` raw without ``?``, ``body`` raw bytes).

        Signatures are checked over exactly these bytes. Header names match
        case-insensitively. Blocks for any configured latency.
        """
        now = self.account.now_ms()
        lowered = {k.lower(): v for k, v in headers.items()}
        record = RequestRecord(method, path, query, body[:LOG_BODY_BYTES], lowered, now,
                               body_size=len(body))
        self.requests.append(record)
        if not counted:
            refused = self._gate(method, path, lowered, bool(body), peer, now)
            if refused is not None:
                record.ret_code, record.status = refused.ret_code, refused.status
                return refused
        fault = self.faults.take(path)
        if fault is not None and not fault.executes:
            reply = self._fault_reply(fault, path, now)
        else:
            reply = self._dispatch(method, path, query, lowered, body, now)
            record.ret_code = reply.ret_code
            if fault is not None:
                reply = _shape(fault, reply)
        if fault is not None:
            record.fault = fault.kind
        record.status = 0 if reply.drop else reply.status
        delay = self.faults.latency_for(path)
        if fault is not None and fault.kind == "latency":
            delay += float(fault.params.get("seconds", 0.0))
        if delay > 0:
            time.sleep(delay)
        return reply

    def count(self, path: str | None = None, method: str | None = None) -> int:
        """How many logged requests match ``path`` and ``method`` (None: any)."""
        return sum(1 for r in self.requests
                   if (path is None or r.path == path) and (method is None or r.method == method))

    # -- steps -----------------------------------------------------------------------

    def _gate(self, method: str, path: str, headers: Mapping[str, str], has_body: bool,
              peer: str, now: int) -> Reply | None:
        """Steps 1 to 3 of the module docstring."""
        if self._ip_limited(peer):
            return envelope(10018, RET_MSGS[10018], now, status=403)
        route = self.routes.get(path)
        if route is None or not self.account.serves(route):
            return envelope(10017, RET_MSGS[10017], now, status=404)
        if method != route.endpoint.method:
            reply = envelope(10017, RET_MSGS[10017], now, status=405)
            reply.headers["Allow"] = route.endpoint.method
            return reply
        if method == "GET" and has_body:
            return envelope(10001, "params error: a GET request must not carry a body", now,
                            status=403)
        if route.endpoint.signed:
            missing = [h for h in _AUTH_HEADERS if not headers.get(h)]
            if missing:
                if "x-bapi-api-key" in missing or headers["x-bapi-api-key"] not in self._keys:
                    return envelope(10003, RET_MSGS[10003], now, status=401)
                return envelope(10001, f"params error: missing header {missing[0].upper()}",
                                now, status=401)
        return None

    def _ip_limited(self, peer: str) -> bool:
        limit = self.ip_rate_limit
        if limit is None or peer == "local":  # in-process calls come from no address
            return False
        now = time.monotonic() * 1000
        with self._limits_lock:
            window = self._ip_windows.get(peer)
            if window is None:
                window = self._ip_windows[peer] = deque()
            cutoff = now - self.ip_window_ms
            while window and window[0] <= cutoff:
                window.popleft()
            if len(window) >= limit:
                return True
            window.append(now)
            return False

    def _dispatch(self, method: str, path: str, query: str, headers: dict[str, str],
                  body: bytes, now: int) -> Reply:
        route = self.routes[path]
        endpoint = route.endpoint
        key = headers.get("x-bapi-api-key", "") if endpoint.signed else ""
        limit_headers, limited = self._count_rate(key, path, now)
        if limited:
            return envelope(10006, RET_MSGS[10006], now, limit_headers)
        account = self.account
        try:
            if endpoint.signed:
                self._authenticate(method, query, headers, body, now)
            params = parse_body(body) if method == "POST" else parse_query(query)
            if not route.stateful:
                result = route.handler(route.book(account), params, now)
            else:
                with account.lock, exact():
                    account.catch_up(now)
                    result = route.handler(route.book(account), params, now)
                    if endpoint.writes:
                        account.persist()
        except ApiError as exc:
            return envelope(exc.code, exc.msg, now, limit_headers, status=exc.status)
        except Exception:
            logger.exception("sandbox: internal error on %s %s", method, path)
            return envelope(10016, RET_MSGS[10016], now, limit_headers)
        return envelope(0, route.ok_msg, now, limit_headers, result)

    def _count_rate(self, key: str, path: str, now: int) -> tuple[dict[str, str], bool]:
        limit = self.rate_limits.get(path, self.rate_limit)
        bucket = (key if key in self._keys else "", path)
        with self._limits_lock:
            window = self._windows.get(bucket)
            if window is None:
                window = self._windows[bucket] = deque()
            cutoff = now - 1000
            while window and window[0] <= cutoff:
                window.popleft()
            if len(window) >= limit:
                reset = window[0] + 1000 if window else now + 1000
                return _limit_headers(limit, 0, reset), True
            window.append(now)
            return _limit_headers(limit, limit - len(window), now), False

    def _authenticate(self, method: str, query: str, headers: dict[str, str], body: bytes,
                      now: int) -> None:
        key = headers.get("x-bapi-api-key", "")
        entry = self._keys.get(key) if key else None
        if entry is None:  # the docs' 401: "the key is wrong"
            raise ApiError(10003, status=401)
        if headers.get("x-bapi-sign-type", "2") != "2":
            raise ApiError(10001, "params error: X-BAPI-SIGN-TYPE must be 2")
        stamp = headers.get("x-bapi-timestamp", "")
        if not (stamp.isascii() and stamp.isdigit()) or len(stamp) > 16:
            raise ApiError(10001, "params error: X-BAPI-TIMESTAMP must be ms since the epoch")
        window_text = headers.get("x-bapi-recv-window")
        signed_windows: tuple[str, ...]
        if window_text is None:
            window, signed_windows = DEFAULT_RECV_WINDOW, ("", str(DEFAULT_RECV_WINDOW))
        elif window_text.isascii() and window_text.isdigit() and len(window_text) <= 12:
            window, signed_windows = int(window_text), (window_text,)
        else:
            raise ApiError(10001, "params error: X-BAPI-RECV-WINDOW must be a whole number of ms")
        stamp_ms = int(stamp)
        if not now - window <= stamp_ms < now + 1000:
            raise ApiError(
                10002,
                f"{RET_MSGS[10002]} req_timestamp[{stamp}],server_timestamp[{now}],"
                f"recv_window[{window}]",
            )
        payload = body if method == "POST" else query.encode("utf-8", "surrogateescape")
        signature = headers.get("x-bapi-sign", "")
        kind, secret = entry
        for signed_window in signed_windows:
            message = (stamp + key + signed_window).encode("utf-8") + payload
            ok = (verify_hmac(secret, message, signature) if kind == "hmac"
                  else verify_rsa(secret, message, signature))
            if ok:
                return
        shown = payload.decode("utf-8", "replace")
        raise ApiError(
            10004, f"error sign! origin_string[{stamp}{mask(key)}{signed_windows[-1]}{shown}]"
        )

    # -- faults ------------------------------------------------------------------------

    def _fault_reply(self, fault: Fault, path: str, now: int) -> Reply:
        """The answer of a fault that skips execution."""
        if fault.kind == "retcode":
            code = int(fault.params["code"])
            msg = str(fault.params.get("msg") or RET_MSGS.get(code, "error"))
            limit = self.rate_limits.get(path, self.rate_limit)
            if code == 10006:
                reset = now + int(fault.params.get("reset_ms", 200))
                limit_headers = _limit_headers(limit, 0, reset)
            else:
                limit_headers = _limit_headers(limit, limit - 1, now)
            return envelope(code, msg, now, limit_headers)
        if fault.kind == "drop":
            return Reply(0, {}, b"", drop=True)
        return _shape(fault, envelope(0, "request.success", now))


def _shape(fault: Fault, reply: Reply) -> Reply:
    """Turn an executed request's answer into the faulty one."""
    if fault.kind == "drop":
        return Reply(0, {}, b"", drop=True, ret_code=reply.ret_code)
    if fault.kind == "http":
        status = int(fault.params.get("status", 502))
        body = fault.params.get("body")
        raw = html_page(status) if body is None else _bytes(body)
        return Reply(status, {"Content-Type": "text/html"}, raw)
    if fault.kind == "bad_json":
        body = fault.params.get("body")
        raw = reply.body[: len(reply.body) // 2] if body is None else _bytes(body)
        return Reply(200, dict(reply.headers), raw)
    return reply


def _bytes(value: object) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode("utf-8")


_CLOUDFRONT_403 = (
    '<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN" '
    '"http://www.w3.org/TR/html4/loose.dtd">\n<HTML><HEAD><META HTTP-EQUIV="Content-Type" '
    'CONTENT="text/html; charset=iso-8859-1">\n<TITLE>ERROR: The request could not be '
    "satisfied</TITLE>\n</HEAD><BODY>\n<H1>403 ERROR</H1>\n<H2>The request could not be "
    "satisfied.</H2>\n<HR noshade size=\"1px\">\nRequest blocked.\nWe can't connect to the "
    "server for this app or website at this time.\n<BR clear=\"all\">\n<HR noshade "
    'size="1px">\n<PRE>\nGenerated by cloudfront (CloudFront)\nRequest ID: '
    "SANDBOX-0000000000000000000000000000000000000000000000000==\n</PRE>\n<ADDRESS>\n"
    "</ADDRESS>\n</BODY></HTML>"
)
_REASONS = {403: "Forbidden", 429: "Too Many Requests", 500: "Internal Server Error",
            502: "Bad Gateway", 503: "Service Temporarily Unavailable", 504: "Gateway Time-out"}


def html_page(status: int) -> bytes:
    """The HTML page a CDN or gateway in front of Bybit answers with for ``status``."""
    if status == 403:
        return _CLOUDFRONT_403.encode("latin-1")
    title = f"{status} {_REASONS.get(status, 'Error')}"
    return (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1>"
        "</center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    ).encode("ascii")
