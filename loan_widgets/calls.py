"""The one call path: build the query or body once, sign those bytes, send, check, resend.

:class:`CallPath` turns an endpoint and its parameters into the exact bytes
that are signed and sent (:class:`PreparedRequest` for a dry run), sends them
through the transport, checks the answer (:mod:`loan_widgets.envelope`) and
follows the resend table (:mod:`loan_widgets.resend`) on failure. It refuses
a write endpoint in :meth:`CallPath.read`: writes go through the write
protocol (:mod:`loan_widgets.writes`), which records them first.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote

from .clock import ExchangeClock
from .config import Settings
from .credentials import Credentials, mask
from .endpoints import Endpoint
from .envelope import check
from .errors import (
    AnswerLost,
    LoanWidgetsError,
    OutcomeUnknown,
    RateLimitError,
    RequestInfo,
    ValidationError,
)
from .numbers import compact_json
from .resend import decide, kind_of
from .signing import sign_headers

if TYPE_CHECKING:
    from .transport import Transport

__all__ = ["CallPath", "Caller", "PreparedRequest", "encode_query"]

log = logging.getLogger(__name__)

TYPED_WRITES = {
    "borrow": "borrow",
    "repay": "repay",
    "adjust_collateral": "adjust_collateral",
    "flexible_borrow": "new.borrow",
    "fixed_borrow": "new.borrow",
    "flexible_repay": "new.flexible_repay",
    "flexible_repay_collateral": "new.flexible_repay_collateral",
    "fixed_fully_repay": "new.fixed_fully_repay",
    "fixed_repay_collateral": "new.fixed_repay_collateral",
    "fixed_renew": "new.renew",
    "fixed_supply": "new.supply",
    "fixed_borrow_order_cancel": "new.cancel_borrow_order",
    "fixed_supply_order_cancel": "new.cancel_supply_order",
    "new_adjust_collateral": "new.adjust_collateral",
}


@dataclass(frozen=True)
class PreparedRequest:
    """A signed request, ready to send: what a dry run shows.

    ``repr`` masks the API key and hides the signature; the body is shown
    exactly as it would be sent. ``note`` says what sending adds that a dry run cannot
    show without asking the exchange (a pledge the client sizes when it sends).
    """

    method: str
    url: str
    headers: Mapping[str, str]
    body: str
    note: str = ""

    def redacted_headers(self) -> dict[str, str]:
        """Headers with the key masked and the signature hidden."""
        shown = dict(self.headers)
        if "X-BAPI-API-KEY" in shown:
            shown["X-BAPI-API-KEY"] = mask(shown["X-BAPI-API-KEY"])
        if "X-BAPI-SIGN" in shown:
            shown["X-BAPI-SIGN"] = f"<{len(shown['X-BAPI-SIGN'])} characters, hidden>"
        return shown

    def __repr__(self) -> str:
        lines = [f"{self.method} {self.url}"]
        lines += [f"{k}: {v}" for k, v in self.redacted_headers().items()]
        if self.body:
            lines += ["", self.body]
        if self.note:
            lines += ["", f"Note: {self.note}"]
        return "\n".join(lines)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text("Dry run: nothing was sent.\n" + repr(self))


def encode_query(params: Mapping[str, Any] | None) -> str:
    """``k=v&...`` in the given order, ``None`` values dropped, values percent-encoded."""
    if not params:
        return ""
    return "&".join(
        f"{quote(str(k), safe='')}={quote(_text(v), safe=',:')}"
        for k, v in params.items()
        if v is not None
    )


def _text(value: Any) -> str:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, float):
        raise TypeError("floats are not sent: pass text or Decimal")
    return str(value)


class Caller(Protocol):
    """What the call path needs of its client."""

    settings: Settings

    @property
    def base_url(self) -> str: ...

    @property
    def credentials(self) -> Credentials: ...

    @property
    def transport(self) -> Transport: ...

    def check_credentials(self) -> None: ...

    def timestamp_ms(self) -> int: ...

    def sync_clock(self) -> float: ...


class CallPath:
    """Build, sign, send, check and resend requests for one client."""

    def __init__(self, client: Caller, clock: ExchangeClock) -> None:
        self._client = client
        self._clock = clock
        self.rate_limits: dict[str, dict[str, str]] = {}
        """The ``x-bapi-limit*`` headers of the last answer from each path."""

    def prepare(
        self, endpoint: Endpoint, params: Mapping[str, Any] | None = None, *,
        body: str | None = None,
    ) -> PreparedRequest:
        """Build and sign a request without sending it (uses the last clock offset)."""
        payload, url = self.payload(endpoint, params, body)
        headers = self.headers(endpoint, payload, self._clock.now_ms())
        return PreparedRequest(endpoint.method, url, headers, payload if endpoint.has_body else "")

    def read(
        self, endpoint: Endpoint, params: Mapping[str, Any] | None = None, *,
        body: str | None = None,
    ) -> dict[str, Any]:
        """Send one read and return the envelope's ``result``; a write endpoint is refused."""
        if endpoint.writes:
            method = TYPED_WRITES.get(endpoint.name)
            hint = f"LoanClient.{method}()" if method else "its typed LoanClient method"
            raise ValidationError(
                f"{endpoint} changes state: send it with {hint}, which records it in the "
                "ledger first; call() sends reads only",
                suggest_method=method,
            )
        result: dict[str, Any] = self.request(endpoint, params, body=body)[0]["result"]
        return result

    def payload(
        self, endpoint: Endpoint, params: Mapping[str, Any] | None, body: str | None
    ) -> tuple[str, str]:
        if endpoint.has_body:
            payload = (
                body
                if body is not None
                else compact_json(
                    {k: _text(v) if v is not None else None for k, v in (params or {}).items()}
                )
            )
            return payload, self._client.base_url + endpoint.path
        payload = encode_query(params)
        return payload, self._client.base_url + endpoint.path + (f"?{payload}" if payload else "")

    def headers(
        self, endpoint: Endpoint, payload: str, timestamp_ms: int | None
    ) -> dict[str, str]:
        headers = {"Content-Type": "application/json"} if endpoint.has_body else {}
        if endpoint.signed:
            assert timestamp_ms is not None
            headers.update(
                sign_headers(
                    self._client.credentials, timestamp_ms, self._client.settings.recv_window,
                    payload,
                )
            )
        return headers

    def request(
        self,
        endpoint: Endpoint,
        params: Mapping[str, Any] | None,
        *,
        body: str | None = None,
        resync: bool = True,
    ) -> tuple[dict[str, Any], int]:
        """Send, check, and resend as :mod:`loan_widgets.resend` allows: (envelope, status)."""
        payload, url = self.payload(endpoint, params, body)
        data = payload.encode("utf-8") if endpoint.has_body else None
        info = RequestInfo(
            endpoint.method, self._client.base_url + endpoint.path,
            payload if endpoint.has_body else "",
        )
        if endpoint.signed:
            self._client.check_credentials()  # fail on missing credentials before anything is sent
        writes = endpoint.writes
        attempt, resent = 0, False
        while True:
            attempt += 1
            timestamp = self._client.timestamp_ms() if endpoint.signed else None
            headers = self.headers(endpoint, payload, timestamp)
            try:
                raw = self._client.transport.send(
                    endpoint.method, url, data, headers, writes=writes
                )
                log.debug("%s %s -> HTTP %s in %.1f ms", endpoint.method, endpoint.path,
                          raw.status, raw.elapsed * 1e3)
                self.rate_limits[endpoint.path] = {
                    k: v for k, v in raw.headers.items() if k.startswith("x-bapi-limit")
                }
                return check(raw, info, writes=writes, name=endpoint.name,
                             hide=self._key_shown(endpoint)), raw.status
            except LoanWidgetsError as error:
                kind = kind_of(error)
                if kind == "timestamp" and not resync:
                    raise
                wait = decide(
                    kind, writes=writes, attempt=attempt, resent=resent,
                    reset_wait_s=self._reset_wait(error),
                )
                if wait is None:
                    if writes and isinstance(error, AnswerLost):
                        raise OutcomeUnknown(
                            f"outcome unknown: {error}; the {endpoint.name.replace('_', ' ')} "
                            "may have been executed",
                            request=info,
                        ) from None
                    raise
                if kind == "timestamp":
                    self._client.sync_clock()
                if wait:
                    time.sleep(wait)
                resent = resent or writes

    def _key_shown(self, endpoint: Endpoint) -> tuple[str, str] | None:
        """The API key of a signed request and its masked form, for :func:`check` to hide
        should the exchange repeat it."""
        if not endpoint.signed:
            return None
        key = self._client.credentials.api_key
        return key, mask(key)

    def _reset_wait(self, error: LoanWidgetsError) -> float:
        """Seconds until a rate limit resets, by the exchange's header (1 s if unknown)."""
        reset = error.reset_at_ms if isinstance(error, RateLimitError) else None
        if reset is None:
            return 1.0
        return max(0.0, (reset - self._clock.now_ms()) / 1000) + 0.01
