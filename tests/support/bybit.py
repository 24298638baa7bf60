"""A bare Bybit V5 client for tests: ``http.client`` and ``hmac``, nothing of ``loan_widgets``.

Requests are signed here with ``hmac``/``hashlib`` directly, not with
``loan_widgets.signing``, so the tests that use it pin the wire contract
independently of the library's own signer. ``from support.bybit import Api, Clock``.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import time
from collections.abc import Callable
from typing import Any

from loan_widgets.sandbox import DEMO_API_KEY, DEMO_API_SECRET

__all__ = ["Answer", "Api", "Clock", "hmac_sign"]


class Clock:
    """A settable clock in ms, shared by a sandbox and the test client."""

    def __init__(self, t: int) -> None:
        self.t = t

    def __call__(self) -> int:
        return self.t


def hmac_sign(secret: str, payload: bytes) -> str:
    """HMAC-SHA256 of ``payload`` with ``secret``, lower-case hex."""
    return hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()


class Answer:
    """One HTTP answer: status, lower-cased headers, raw body and its envelope.

    ``answer["retCode"]`` reads the envelope like a dict.
    """

    def __init__(self, status: int, headers: dict[str, str], raw: bytes) -> None:
        self.status, self.headers, self.raw = status, headers, raw

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.raw)

    @property
    def code(self) -> int:
        return self.json["retCode"]

    @property
    def result(self) -> dict[str, Any]:
        return self.json["result"]

    def __getitem__(self, key: str) -> Any:
        return self.json[key]


class Api:
    """A signing V5 client over one keep-alive ``http.client`` connection.

    ``clock`` gives the timestamps it signs with (default: the served sandbox's own
    clock, as a client synced through ``/v5/market/time`` would).
    """

    def __init__(self, server: Any, clock: Callable[[], int] | None = None,
                 key: str = DEMO_API_KEY, secret: str = DEMO_API_SECRET,
                 timeout: float = 5.0) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout)
        sandbox = getattr(server, "sandbox", None)
        self.clock = clock or (sandbox.now_ms if hasattr(sandbox, "now_ms")
                               else lambda: time.time_ns() // 1_000_000)
        self.key, self.secret = key, secret

    def close(self) -> None:
        self.conn.close()

    def auth(self, payload: bytes, ts: int | None = None, recv_window: str | None = "5000",
             key: str | None = None, sign: str | None = None) -> dict[str, str]:
        """The four X-BAPI headers for ``payload`` (the raw query or body)."""
        key = self.key if key is None else key
        stamp = str(self.clock() if ts is None else ts)
        signed = (stamp + key + (recv_window or "")).encode() + payload
        headers = {
            "X-BAPI-API-KEY": key,
            "X-BAPI-TIMESTAMP": stamp,
            "X-BAPI-SIGN": sign if sign is not None else hmac_sign(self.secret, signed),
            "X-BAPI-SIGN-TYPE": "2",
        }
        if recv_window is not None:
            headers["X-BAPI-RECV-WINDOW"] = recv_window
        return headers

    def send(self, method: str, target: str, body: bytes | None = None,
             headers: dict[str, str] | None = None, *, query: str = "",
             signed: bool = False) -> Answer:
        """Send as given; ``signed=True`` adds auth headers over ``body`` or ``query``."""
        headers = dict(headers or {})
        if body is not None:
            headers.setdefault("Content-Type", "application/json")
        if signed:
            headers.update(self.auth(body if body is not None else query.encode()))
        try:
            self.conn.request(method, target + ("?" + query if query else ""), body=body,
                              headers=headers)
            response = self.conn.getresponse()
            raw = response.read()
        except Exception:
            self.conn.close()
            raise
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, raw)

    def get(self, path: str, query: str = "", *, signed: bool = True, **auth: Any) -> Answer:
        """A GET, signed over the raw query unless ``signed=False``."""
        headers = self.auth(query.encode(), **auth) if signed else {}
        return self.send("GET", path + ("?" + query if query else ""), headers=headers)

    def post(self, path: str, body: bytes | dict[str, Any], **auth: Any) -> Answer:
        """A signed POST of ``body`` (a dict is sent as ``json.dumps`` of it)."""
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = {"Content-Type": "application/json", **self.auth(raw, **auth)}
        return self.send("POST", path, body=raw, headers=headers)
