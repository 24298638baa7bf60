"""``LoanClient``: one call path from a request to a checked result.

``call(endpoint, params)`` builds the query or body once, signs those exact
bytes, sends them through the transport, checks the envelope and returns
``result``. ``borrow()`` adds the ledger around it: the order is written as
``pending`` before it is sent and settled with whatever came back.

Resending rules (never borrow twice by accident):

* GET (read-only): retried up to twice on a lost answer, a 5xx/429 or a
  rate limit, each time freshly signed.
* POST (state-changing): resent at most once, freshly signed, and only when
  the exchange's answer proves it was not executed: 10002 (after re-syncing
  the clock) or 10006 (after the limit's reset time). A lost answer raises
  :class:`~loan_widgets.errors.OutcomeUnknown` and is recorded as
  ``unknown``, and so is an answer that does not prove the order failed
  (10000 server timeout, 10016 internal error): :meth:`LoanClient.reconcile`
  settles those by reading the exchange.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from . import endpoints as ep
from .clock import utc as _utc
from .config import NETWORKS, Settings
from .credentials import Credentials, mask
from .credentials import resolve as resolve_credentials
from .endpoints import Endpoint
from .errors import (
    AMBIGUOUS_CODES,
    AnswerLost,
    BadResponse,
    ConnectError,
    CredentialsError,
    ExchangeError,
    LoanWidgetsError,
    OutcomeUnknown,
    RateLimitError,
    RequestInfo,
    TimestampError,
    TransportError,
    ValidationError,
    exchange_error,
)
from .ledger import Ledger, default_ledger
from .numbers import compact_json
from .orders import (
    ActionResult,
    AdjustRequest,
    BorrowRequest,
    BorrowResult,
    RepayRequest,
    parse_order_id,
)
from .signing import sign_headers
from .terms import parse_term

if TYPE_CHECKING:
    import pandas as pd

    from .new_api import NewLoanApi
    from .reconcile import Reconciliation

__all__ = ["LoanClient", "PreparedRequest"]

log = logging.getLogger(__name__)

GET_ATTEMPTS = 3
CLOCK_MAX_AGE_S = 1800.0
MAX_RATE_LIMIT_WAIT_S = 5.0


@dataclass(frozen=True)
class PreparedRequest:
    """A signed request, ready to send: what ``--dry-run`` shows.

    ``repr`` masks the API key and hides the signature; the body is shown
    exactly as it would be sent.
    """

    method: str
    url: str
    headers: Mapping[str, str]
    body: str

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
        return "\n".join(lines)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text("Dry run: nothing was sent.\n" + repr(self))


def _encode_query(params: Mapping[str, Any] | None) -> str:
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


class LoanClient:
    """A Bybit V5 crypto-loan client.

    Args:
        network: ``sandbox`` (default: a local exchange on loopback, no keys
            needed), ``testnet`` or ``mainnet``; ``$LOAN_WIDGETS_NETWORK``.
        base_url: another host for that network; ``$LOAN_WIDGETS_BASE_URL``.
        api_key, api_secret, private_key: credentials (an RSA private key as
            PEM text or bytes). By default read from ``BYBIT_API_KEY`` with
            ``BYBIT_API_SECRET`` or ``BYBIT_API_PRIVATE_KEY_FILE``; the
            sandbox falls back to its public demo key.
        recv_window: ms a signed request stays valid (default 5000).
        timeout: seconds to wait for an answer (default 10;
            ``$LOAN_WIDGETS_TIMEOUT``).
        ledger: where orders are recorded (default: :func:`default_ledger`).
        transport: anything with ``send``/``close`` (default: HTTP).
        source: label written to the ledger (``api``, ``magic``, ``widget``).
    """

    def __init__(
        self,
        network: str | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        api_secret: str | None = None,
        private_key: str | bytes | None = None,
        recv_window: int | None = None,
        timeout: float | None = None,
        *,
        credentials: Credentials | None = None,
        ledger: Ledger | None = None,
        transport: Any = None,
        source: str = "api",
    ) -> None:
        self.settings = Settings.resolve(network, base_url, recv_window, timeout)
        if credentials is None and (api_key or api_secret or private_key):
            credentials = Credentials(api_key or "", api_secret, private_key=private_key)
        self._credentials = credentials
        self._ledger = ledger
        self._transport = transport
        self.source = source
        self._offset_ms: float | None = None
        self._synced_at = 0.0
        self._lock = threading.Lock()
        self._rate_limits: dict[str, dict[str, str]] = {}
        self._base_url: str | None = self.settings.base_url or NETWORKS[self.settings.network]

    # -- configuration -------------------------------------------------------------------

    @property
    def network(self) -> str:
        """``sandbox``, ``testnet`` or ``mainnet``."""
        return self.settings.network

    @property
    def base_url(self) -> str:
        """The host requests go to (starts the local sandbox on first use)."""
        if self._base_url is None:
            from .sandbox import default_server

            self._base_url = default_server().base_url
        return self._base_url

    @property
    def ledger(self) -> Ledger:
        """The ledger orders are recorded in."""
        return self._ledger if self._ledger is not None else default_ledger()

    @property
    def credentials(self) -> Credentials:
        """The credentials requests are signed with (resolved on first use)."""
        if self._credentials is None:
            self._credentials = self._resolve_credentials()
        return self._credentials

    def _resolve_credentials(self) -> Credentials:
        if self.network == "sandbox":
            from .sandbox import DEMO_API_KEY, DEMO_API_SECRET

            return Credentials(DEMO_API_KEY, DEMO_API_SECRET)
        found = resolve_credentials(self.network)
        if found is None:
            raise CredentialsError(
                f"no API credentials for {self.network}: set BYBIT_API_KEY and BYBIT_API_SECRET "
                "(or BYBIT_API_KEY and BYBIT_API_PRIVATE_KEY_FILE for an RSA key) in the "
                "environment"
            )
        return found

    @property
    def account(self) -> str:
        """The masked API key requests act for (or a note that none is set)."""
        try:
            return self.credentials.masked_key
        except CredentialsError:
            return "no API key"

    def __repr__(self) -> str:
        url = self._base_url or "(local sandbox, not started)"
        key = mask(self._credentials.api_key) if self._credentials else "from environment"
        return f"LoanClient(network={self.network!r}, base_url={url!r}, api_key={key!r})"

    @property
    def new(self) -> NewLoanApi:
        """Bybit's new loan API (flexible and fixed loans, pooled collateral)."""
        from .new_api import NewLoanApi

        return NewLoanApi(self)

    @property
    def transport(self) -> Any:
        """The transport (HTTP over a keep-alive pool unless one was given)."""
        if self._transport is None:
            from .transport import HttpTransport

            self._transport = HttpTransport(self.settings.timeout)
        return self._transport

    def close(self) -> None:
        """Close the transport's connections."""
        if self._transport is not None:
            self._transport.close()

    def __enter__(self) -> LoanClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- clock ---------------------------------------------------------------------------

    def sync_clock(self) -> float:
        """Measure the exchange clock's offset from ours (ms), from the round-trip midpoint."""
        before = time.time()
        envelope = self._request(ep.SERVER_TIME, {}, resync=False)
        after = time.time()
        result = envelope["result"]
        server_ms = int(result["timeNano"]) / 1e6 if result.get("timeNano") else envelope["time"]
        with self._lock:
            self._offset_ms = server_ms - (before + after) * 500.0
            self._synced_at = after
        log.debug(
            "clock offset %.1f ms (round trip %.1f ms)", self._offset_ms, (after - before) * 1e3
        )
        return self._offset_ms

    def timestamp_ms(self) -> int:
        """The exchange's time now, by our last measurement (syncing first if needed)."""
        if self._offset_ms is None or time.time() - self._synced_at > CLOCK_MAX_AGE_S:
            self.sync_clock()
        assert self._offset_ms is not None
        return int(time.time() * 1000 + self._offset_ms)

    def rate_limit(self, path: str) -> dict[str, str]:
        """The ``x-bapi-limit*`` headers of the last answer from ``path`` (a copy, maybe empty)."""
        return dict(self._rate_limits.get(path, {}))

    @property
    def clock_offset_ms(self) -> float | None:
        """Last measured offset of the exchange clock from ours, or ``None``."""
        return self._offset_ms

    # -- the one call path ---------------------------------------------------------------

    def prepare(
        self,
        endpoint: Endpoint,
        params: Mapping[str, Any] | None = None,
        *,
        body: str | None = None,
    ) -> PreparedRequest:
        """Build and sign a request without sending it (uses the last clock offset)."""
        payload, url = self._payload(endpoint, params, body)
        offset = self._offset_ms or 0.0
        headers = self._headers(endpoint, payload, int(time.time() * 1000 + offset))
        return PreparedRequest(endpoint.method, url, headers, payload if endpoint.has_body else "")

    def call(
        self,
        endpoint: Endpoint,
        params: Mapping[str, Any] | None = None,
        *,
        body: str | None = None,
    ) -> dict[str, Any]:
        """Send one request and return the envelope's ``result``."""
        return self._request(endpoint, params, body=body)["result"]

    def _payload(
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
            return payload, self.base_url + endpoint.path
        payload = _encode_query(params)
        return payload, self.base_url + endpoint.path + (f"?{payload}" if payload else "")

    def _headers(
        self, endpoint: Endpoint, payload: str, timestamp_ms: int | None
    ) -> dict[str, str]:
        headers = {"Content-Type": "application/json"} if endpoint.has_body else {}
        if endpoint.signed:
            assert timestamp_ms is not None
            headers.update(
                sign_headers(self.credentials, timestamp_ms, self.settings.recv_window, payload)
            )
        return headers

    def _request(
        self,
        endpoint: Endpoint,
        params: Mapping[str, Any] | None,
        *,
        body: str | None = None,
        resync: bool = True,
    ) -> dict[str, Any]:
        payload, url = self._payload(endpoint, params, body)
        data = payload.encode("utf-8") if endpoint.has_body else None
        info = RequestInfo(
            endpoint.method, self.base_url + endpoint.path, payload if endpoint.has_body else ""
        )
        if endpoint.signed:
            self.credentials  # noqa: B018 - fail on missing credentials before anything is sent
        resent = False
        attempt = 0
        while True:
            attempt += 1
            timestamp = self.timestamp_ms() if endpoint.signed else None
            headers = self._headers(endpoint, payload, timestamp)
            try:
                raw = self.transport.send(endpoint.method, url, data, headers)
            except ConnectError:
                if not endpoint.writes and attempt < GET_ATTEMPTS:
                    time.sleep(0.05 * attempt)
                    continue
                raise
            except AnswerLost as lost:
                if not endpoint.writes and attempt < GET_ATTEMPTS:
                    continue
                if endpoint.writes:
                    raise OutcomeUnknown(
                        f"outcome unknown: {lost}; the {endpoint.name} may have been executed",
                        request=info,
                    ) from None
                raise
            log.debug(
                "%s %s -> HTTP %s in %.1f ms",
                endpoint.method,
                endpoint.path,
                raw.status,
                raw.elapsed * 1e3,
            )
            self._rate_limits[endpoint.path] = {
                k: v for k, v in raw.headers.items() if k.startswith("x-bapi-limit")
            }
            try:
                return self._check(endpoint, raw, info)
            except TimestampError:
                if not resync or (endpoint.writes and resent) or attempt >= GET_ATTEMPTS:
                    raise
                self.sync_clock()
                resent = True
            except RateLimitError as limited:
                wait = _reset_wait(raw.headers, self._offset_ms)
                if (
                    (endpoint.writes and resent)
                    or attempt >= GET_ATTEMPTS
                    or wait > MAX_RATE_LIMIT_WAIT_S
                ):
                    raise limited from None
                time.sleep(wait)
                resent = True
            except BadResponse as bad:
                retryable = bad.http_status is not None and (
                    bad.http_status >= 500 or bad.http_status == 429
                )
                if endpoint.writes or not retryable or attempt >= GET_ATTEMPTS:
                    raise
                time.sleep(0.1 * attempt)

    def _check(self, endpoint: Endpoint, raw: Any, info: RequestInfo) -> dict[str, Any]:
        """Turn a raw answer into an envelope or the right error."""
        status = raw.status
        try:
            envelope = json.loads(raw.body, parse_float=Decimal)
            if not isinstance(envelope, dict) or not _is_int(envelope.get("retCode")):
                raise ValueError("not a Bybit envelope")
            if envelope["retCode"] == 0 and not isinstance(envelope.get("result"), dict):
                raise ValueError("a success envelope without a result object")
        except (ValueError, RecursionError):
            kind = _describe_body(raw.headers, raw.body)
            message = f"HTTP {status} from {info}: {kind}{_status_hint(status)}"
            if endpoint.writes and (status >= 500 or status == 200):
                raise OutcomeUnknown(
                    f"outcome unknown: {message}; the {endpoint.name} may have been executed",
                    request=info,
                    http_status=status,
                ) from None
            raise BadResponse(message, request=info, http_status=status) from None
        ret_code = envelope["retCode"]
        if ret_code == 0 and status == 200:
            return envelope
        if ret_code == 0:
            raise BadResponse(
                f"HTTP {status} from {info}{_status_hint(status)}", request=info, http_status=status
            )
        error = exchange_error(
            ret_code,
            str(envelope.get("retMsg", "")),
            request=info,
            http_status=status,
            write=endpoint.writes,
        )
        if isinstance(error, RateLimitError):
            reset = raw.headers.get("x-bapi-limit-reset-timestamp")
            error.reset_at_ms = int(reset) if reset and reset.isdigit() else None
        raise error

    # -- typed endpoints -----------------------------------------------------------------

    def server_time(self) -> datetime:
        """The exchange's clock, as a UTC datetime."""
        envelope = self._request(ep.SERVER_TIME, {}, resync=False)
        return _utc(int(envelope["result"]["timeNano"]) / 1e6)

    def loanable_data(
        self, currency: str | None = None, vip_level: str | None = None
    ) -> list[dict[str, Any]]:
        """Borrowable coins (public): one dict per coin for the first VIP tier returned."""
        result = self.call(ep.LOANABLE_DATA, {"currency": currency, "vipLevel": vip_level})
        return _first_tier(result)

    def collateral_data(
        self, currency: str | None = None, vip_level: str | None = None
    ) -> list[dict[str, Any]]:
        """Collateral coins (public): one dict per coin for the first VIP tier returned."""
        result = self.call(ep.COLLATERAL_DATA, {"currency": currency, "vipLevel": vip_level})
        return _first_tier(result)

    def prices(self, coins: list[str] | None = None) -> dict[str, Decimal]:
        """Spot prices in USDT from ``/v5/market/tickers`` (USDT itself is 1)."""
        result = self.call(ep.TICKERS, {"category": "spot"})
        prices = {"USDT": Decimal(1)}
        for item in result.get("list", []):
            symbol = item.get("symbol", "")
            if symbol.endswith("USDT") and item.get("lastPrice"):
                prices[symbol[:-4]] = Decimal(item["lastPrice"])
        if coins is not None:
            prices = {c: prices[c] for c in coins if c in prices}
        return prices

    def borrow_limits(self, loan_currency: str, collateral_currency: str) -> dict[str, Any]:
        """This account's min/max loan and collateral for a coin pair (signed)."""
        return self.call(
            ep.BORROW_LIMITS,
            {"loanCurrency": loan_currency, "collateralCurrency": collateral_currency},
        )

    def ongoing_orders(self, **params: Any) -> list[dict[str, Any]]:
        """Every open loan (all pages), filtered by L6 parameters such as ``orderId``."""
        return list(self.iter_pages(ep.ONGOING_ORDERS, params))

    def iter_pages(
        self, endpoint: Endpoint, params: Mapping[str, Any] | None = None
    ) -> Iterator[dict[str, Any]]:
        """Items of a paged list endpoint, following ``nextPageCursor``."""
        query = {k: v for k, v in (params or {}).items() if v is not None}
        query.setdefault("limit", "100")
        while True:
            result = self.call(endpoint, query)
            yield from result.get("list", [])
            cursor = result.get("nextPageCursor") or ""
            if not cursor:
                return
            query = {**query, "cursor": cursor}

    def borrow(
        self,
        loan_currency: str | None = None,
        loan_amount: Any = None,
        collateral_currency: str | None = None,
        *,
        collateral_amount: Any = None,
        term: Any = None,
        annual_rate: Any = None,
        api: str = "legacy",
        request: BorrowRequest | None = None,
        source: str | None = None,
    ) -> BorrowResult:
        """Borrow ``loan_amount`` of ``loan_currency`` against ``collateral_currency``.

        Validates first (nothing is sent or recorded on bad input), records the
        order as ``pending``, sends it once and records the outcome. Raises
        ``ExchangeError`` when refused and ``OutcomeUnknown`` when the answer
        was lost (the order may exist: run :meth:`reconcile`).

        ``api="new"`` uses Bybit's new loan API: a flexible borrow, or with a
        fixed ``term`` a fixed borrow at ``annual_rate`` (e.g. ``"0.05"``).
        Without a collateral amount, the collateral the exchange needs on top
        of the account's pool is asked of ``max-loan`` and pledged with the
        loan (``collateralList``).
        """
        if request is None:
            request = BorrowRequest(
                loan_currency,  # type: ignore[arg-type]
                collateral_currency,  # type: ignore[arg-type]
                loan_amount,
                collateral_amount,
                term,
                annual_rate,
            )
        if api == "new" and request.collateral_amount is None and request.loan_amount:
            need = self.new.required_collateral(
                request.loan_currency, request.loan_amount, request.collateral_currency
            )
            if need > 0:  # pledge it with the loan, as a collateralList
                request = dataclasses.replace(request, collateral_amount=need)
        endpoint, body = self.borrow_endpoint(request, api)
        source = source or self.source
        envelope, row, latency, submitted = self._submit(
            endpoint,
            body,
            source=source,
            api=api,
            action="borrow",
            loan_currency=request.loan_currency,
            loan_amount=request.loan_amount,
            collateral_currency=request.collateral_currency,
            collateral_amount=request.collateral_amount,
            term=request.term,
        )
        return BorrowResult(
            order_id=str(envelope["result"].get("orderId", "")),
            request=request,
            network=self.network,
            submitted_at=_utc(submitted * 1000),
            answered_at=_utc(time.time() * 1000),
            latency_ms=latency,
            ledger_id=row,
            source=source,
            api=api,
        )

    @staticmethod
    def borrow_endpoint(request: BorrowRequest, api: str = "legacy") -> tuple[Endpoint, str]:
        """The endpoint and exact body a borrow goes out as, for ``api`` legacy or new."""
        if api == "legacy":
            parse_term(request.term, "legacy")
            if request.annual_rate is not None:
                raise ValidationError("an annual rate applies to the new loan API: add --api new")
            return ep.BORROW, request.to_body()
        if api == "new":
            parse_term(request.term, "new")
            endpoint = ep.FLEXIBLE_BORROW if request.term == "flexible" else ep.FIXED_BORROW
            return endpoint, request.to_new_api_body()
        raise ValidationError(f"api {api!r} is not known: use legacy or new")

    def repay(self, order_id: Any, amount: Any, *, source: str | None = None) -> ActionResult:
        """Repay ``amount`` of loan ``order_id`` (interest first). Never resent on a lost answer."""
        request = RepayRequest(order_id, amount)
        envelope, row, latency, _ = self._submit(
            ep.REPAY,
            request.to_body(),
            source=source or self.source,
            action="repay",
            loan_amount=request.amount,
            ref_id=request.order_id,
        )
        return ActionResult(
            "repay",
            str(envelope["result"].get("repayId", "")),
            request,
            self.network,
            _utc(time.time() * 1000),
            latency,
            row,
        )

    def amount_owed(self, order_id: Any) -> Decimal:
        """What repays loan ``order_id`` in full now: principal, interest, penalty interest."""
        order_id = parse_order_id(order_id)
        loans = self.ongoing_orders(orderId=order_id)
        if not loans:
            raise ValidationError(f"loan {order_id} is not open on {self.network}")
        owing = ("totalDebt", "residualInterest", "residualPenaltyInterest")
        return sum((Decimal(loans[0][k] or "0") for k in owing), Decimal(0))

    def repay_all(self, order_id: Any, *, source: str | None = None) -> ActionResult:
        """Repay a loan in full: principal, interest and penalty interest as owed now."""
        return self.repay(order_id, self.amount_owed(order_id), source=source)

    def adjust_collateral(
        self, order_id: Any, amount: Any, direction: str, *, source: str | None = None
    ) -> ActionResult:
        """Add collateral to (``add``) or take it from (``reduce``) a loan order.

        The result's ``details`` hold the LTV before and after, read from the
        exchange's adjustment history.
        """
        request = AdjustRequest(order_id, amount, direction)
        envelope, row, latency, _ = self._submit(
            ep.ADJUST_COLLATERAL,
            request.to_body(),
            source=source or self.source,
            action="adjust",
            collateral_amount=request.amount,
            term=request.direction,
            ref_id=request.order_id,
        )
        adjust_id = str(envelope["result"].get("adjustId", ""))
        details: dict[str, object] = {}
        try:
            found = self.call(ep.ADJUSTMENT_HISTORY, {"adjustId": adjust_id}).get("list", [])
        except LoanWidgetsError:
            found = []
        if found:
            details = {
                "ltv_before": Decimal(found[0]["preLTV"]),
                "ltv_after": Decimal(found[0]["afterLTV"]),
            }
        return ActionResult(
            "adjust", adjust_id, request, self.network, _utc(time.time() * 1000), latency, row,
            details,
        )

    def max_collateral_reduction(self, order_id: Any) -> Decimal:
        """The most collateral that can be taken from loan ``order_id`` now."""
        result = self.call(ep.MAX_COLLATERAL_REDUCTION, {"orderId": parse_order_id(order_id)})
        return Decimal(result["maxCollateralAmount"])

    def repayment_history(self, **params: Any) -> list[dict[str, Any]]:
        """Every repayment (all pages), filtered by L7 parameters."""
        return list(self.iter_pages(ep.REPAYMENT_HISTORY, params))

    def borrow_history(self, **params: Any) -> list[dict[str, Any]]:
        """Every completed (fully repaid) loan (all pages), filtered by L8 parameters."""
        return list(self.iter_pages(ep.BORROW_HISTORY, params))

    def adjustment_history(self, **params: Any) -> list[dict[str, Any]]:
        """Every collateral adjustment (all pages), filtered by L11 parameters."""
        return list(self.iter_pages(ep.ADJUSTMENT_HISTORY, params))

    def loans(self) -> pd.DataFrame:
        """Open loans as a DataFrame: debt, interest, current LTV beside margin-call
        and liquidation LTV, expiry. Amounts are exact ``Decimal``; times tz-aware UTC."""
        from .frames import loans_frame

        levels = {c["currency"]: c for c in self.collateral_data()}
        return loans_frame(self.ongoing_orders(), levels)

    def history(self, kind: str = "loans") -> pd.DataFrame:
        """``loans`` (completed), ``repayments`` or ``adjustments`` as a DataFrame."""
        from .frames import history_frame

        fetch = {
            "loans": self.borrow_history,
            "repayments": self.repayment_history,
            "adjustments": self.adjustment_history,
        }
        if kind not in fetch:
            raise ValidationError(f"history {kind!r}: use loans, repayments or adjustments")
        return history_frame(kind, fetch[kind]())

    def reconcile(self, ledger: Ledger | None = None) -> Reconciliation:
        """Settle this network's ``unknown`` ledger rows by reading the exchange.

        A borrow becomes ``accepted`` (with its order id) when exactly one loan
        on the exchange matches it (coins, amounts, term, not already claimed
        by another row) and ``not_executed`` when none does; a repayment or
        adjustment likewise by the loan's repayment or adjustment history.
        Rows that cannot be decided are left ``unknown`` and listed.
        """
        from .reconcile import reconcile

        return reconcile(self, ledger or self.ledger)

    def _submit(
        self,
        endpoint: Endpoint,
        body: str,
        *,
        source: str,
        action: str,
        api: str = "legacy",
        **fields: Any,
    ) -> tuple[dict[str, Any], int, float, float]:
        """Record ``pending``, send once, record the outcome. The one write path."""
        self.credentials  # noqa: B018 - a missing key fails before anything is recorded
        if self._offset_ms is None:
            self.sync_clock()
        ledger = self.ledger
        row = ledger.record_pending(
            network=self.network, source=source, api=api, action=action, body=body, **fields
        )
        submitted = time.time()
        started = time.perf_counter()
        try:
            envelope = self._request(endpoint, None, body=body)
        except LoanWidgetsError as error:
            self._settle_failure(ledger, row, error, (time.perf_counter() - started) * 1e3)
            if endpoint is ep.BORROW and isinstance(error, (ExchangeError, BadResponse)):
                _suggest_new_api(error)
            raise
        latency = (time.perf_counter() - started) * 1e3
        result = envelope["result"]
        exchange_id = next(
            (str(result[k]) for k in ("orderId", "repayId", "adjustId")
             if result.get(k) not in (None, "")),
            None,
        )
        if exchange_id is None:  # success without an id: executed, but which order?
            lost = OutcomeUnknown(
                f"outcome unknown: HTTP 200 with retCode 0 but no id in the answer; the "
                f"{endpoint.name} was probably executed",
                request=RequestInfo(endpoint.method, self.base_url + endpoint.path, body),
                http_status=200,
            )
            self._settle_failure(ledger, row, lost, latency)
            raise lost
        ledger.settle(
            row,
            "accepted",
            order_id=exchange_id,
            ret_code=0,
            ret_msg=envelope.get("retMsg"),
            http_status=200,
            latency_ms=latency,
        )
        return envelope, row, latency, submitted

    def _settle_failure(
        self, ledger: Ledger, row: int, error: LoanWidgetsError, latency: float
    ) -> None:
        """Record why a submitted order did not produce an order id."""
        if isinstance(error, ExchangeError) and error.ret_code in AMBIGUOUS_CODES:
            ledger.settle(  # an internal error may come after the order was executed
                row,
                "unknown",
                ret_code=error.ret_code,
                ret_msg=error.ret_msg,
                http_status=error.http_status,
                latency_ms=latency,
            )
            error.ledger_id = row
            error.message += (
                f". Ledger row {row} is marked 'unknown': run loan_widgets.reconcile() "
                "(or %borrow --reconcile) before trying again"
            )
        elif isinstance(error, ExchangeError):
            ledger.settle(
                row,
                "rejected",
                ret_code=error.ret_code,
                ret_msg=error.ret_msg,
                http_status=error.http_status,
                latency_ms=latency,
            )
            error.ledger_id = row
        elif isinstance(error, OutcomeUnknown):
            ledger.settle(
                row,
                "unknown",
                ret_msg=error.message,
                http_status=error.http_status,
                latency_ms=latency,
            )
            error.ledger_id = row
            error.message += (
                f". Ledger row {row} is marked 'unknown'. Do not resend: run "
                "loan_widgets.reconcile() (or %borrow --reconcile) to read the exchange first"
            )
        elif isinstance(error, ConnectError):
            ledger.settle(row, "failed", ret_msg=error.message, latency_ms=latency)
        elif isinstance(error, TransportError):
            ledger.settle(
                row,
                "rejected",
                ret_msg=error.message,
                http_status=error.http_status,
                latency_ms=latency,
            )
        else:
            ledger.settle(row, "failed", ret_msg=error.message, latency_ms=latency)


def _suggest_new_api(error: ExchangeError | BadResponse) -> None:
    """Point at the new loan API when the legacy Borrow path is refused as gone."""
    code = getattr(error, "ret_code", None)
    text = (getattr(error, "ret_msg", "") or error.message).lower()
    if code == 10017 or error.http_status in (404, 405) or "deprecat" in text:
        error.message += (
            ". Bybit deprecated the legacy Borrow endpoint on 2025-11-17: borrow through the "
            "new loan API with --api new (or LoanClient.borrow(..., api='new'))"
        )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and abs(value) < 1 << 62


def _first_tier(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    tiers = result.get("vipCoinList") or []
    return list(tiers[0].get("list", [])) if tiers else list(result.get("list", []))


def _reset_wait(headers: Mapping[str, str], offset_ms: float | None) -> float:
    """Seconds until the rate limit resets, by the exchange's header."""
    reset = headers.get("x-bapi-limit-reset-timestamp", "")
    if not reset.isdigit():
        return 1.0
    now_server = time.time() * 1000 + (offset_ms or 0.0)
    return max(0.0, (int(reset) - now_server) / 1000) + 0.01


def _describe_body(headers: Mapping[str, str], body: bytes) -> str:
    ctype = headers.get("content-type", "")
    head = body[:200].lstrip().lower()
    if "html" in ctype or head.startswith((b"<!doctype", b"<html")):
        return "the answer is an HTML page, not JSON"
    if not body:
        return "the answer is empty"
    return "the answer is not valid JSON"


def _status_hint(status: int) -> str:
    hints = {
        401: " (the key or the auth headers were refused)",
        403: (
            " (forbidden at the edge: the IP rate limit was exceeded, or requests from this "
            "region are blocked)"
        ),
        404: " (no such path on this host: check base_url)",
        429: " (system-level rate protection: try again shortly)",
        502: " (a gateway could not reach the exchange)",
        503: " (the exchange is unavailable)",
        504: " (a gateway timed out waiting for the exchange)",
    }
    return hints.get(status, " (a server error)" if status >= 500 else "")
