"""``LoanClient``: the facade over the data path, from a request to a checked result.

``call(endpoint, params)`` builds the query or body once, signs those exact
bytes, sends them through the transport and checks the answer
(:mod:`loan_widgets.envelope`); failed attempts follow one table
(:mod:`loan_widgets.resend`). Every write (``borrow``, ``repay``,
``adjust_collateral`` and the new API's writes) goes through the write
protocol (:mod:`loan_widgets.writes`): checked, recorded ``pending`` in the
ledger, sent once, settled; ``call`` refuses a write endpoint and names the
typed method. The exchange clock is :class:`loan_widgets.clock.ExchangeClock`,
paging :mod:`loan_widgets.paging`, reconciliation
:mod:`loan_widgets.reconciliation`. What a network and host may be is decided
in :mod:`loan_widgets.config`.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Iterator, Mapping
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from . import endpoints as ep
from . import views
from .calls import CallPath, PreparedRequest
from .clock import ExchangeClock
from .clock import utc as _utc
from .collateral import MaxReduction, check_reduction
from .config import NETWORKS, Settings, origin
from .credentials import Credentials, mask, missing
from .credentials import resolve as resolve_credentials
from .endpoints import Endpoint
from .envelope import server_time_ms
from .errors import (
    CredentialsError,
    LoanWidgetsError,
    RequestInfo,
    ValidationError,
)
from .ledger import Ledger, default_ledger
from .orders import (
    ActionResult,
    AdjustRequest,
    BorrowRequest,
    BorrowResult,
    RepayRequest,
    parse_coin,
    parse_order_id,
)
from .paging import LIST_FILTERS, check_filters, iter_pages
from .resend import MAX_RATE_LIMIT_WAIT_S
from .terms import parse_term
from .writes import OpenLoans, Write, Written, submit

if TYPE_CHECKING:
    import pandas as pd

    from .new_api import NewLoanApi
    from .reconciliation import Reconciliation
    from .transport import Transport

__all__ = ["LoanClient", "PreparedRequest"]

log = logging.getLogger(__name__)

class LoanClient:
    """A Bybit V5 crypto-loan client.

    Args:
        network: ``sandbox`` (default: a local exchange on loopback, no keys
            needed), ``testnet`` or ``mainnet``; ``$LOAN_WIDGETS_NETWORK``. A
            Bybit mainnet host is ``mainnet`` whatever the name: a contradicting
            name is refused.
        base_url: another host for that network; ``$LOAN_WIDGETS_BASE_URL``.
        api_key, api_secret, private_key: credentials (an RSA private key as
            PEM text or bytes). By default found by
            :func:`loan_widgets.credentials.resolve` (the environment,
            ``profile``); the sandbox falls back to its public demo key.
        recv_window: ms a signed request stays valid (default 5000).
        timeout: seconds to wait for a whole answer (default 10;
            ``$LOAN_WIDGETS_TIMEOUT``).
        ledger: where orders are recorded (default: :func:`default_ledger`).
        transport: anything with ``send``/``close`` (default: HTTP).
        source: label written to the ledger (``api``, ``magic``, ``widget``).
        profile: sign with this stored credentials profile (see
            :mod:`loan_widgets.profiles`); its network and host are used unless
            ``network``/``base_url`` are given, and then must agree with them.
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
        profile: str | None = None,
        credentials: Credentials | None = None,
        ledger: Ledger | None = None,
        transport: Transport | None = None,
        source: str = "api",
    ) -> None:
        if profile is not None and (network is None or base_url is None):
            from .profiles import get as stored_profile

            bound = stored_profile(profile)
            network, base_url = network or bound.network, base_url or bound.host
        self.settings = Settings.resolve(network, base_url, recv_window, timeout)
        if credentials is None and (api_key or api_secret or private_key):
            credentials = Credentials(api_key or "", api_secret, private_key=private_key)
        self._credentials = credentials
        self._credentials_given = credentials is not None
        self.profile = profile
        self._ledger = ledger
        self._transport = transport
        self.source = source
        self._clock = ExchangeClock()
        self._calls = CallPath(self, self._clock)
        self._open_loans = OpenLoans()
        self._base_url: str | None = self.settings.base_url or NETWORKS[self.settings.network]
        self._host: str | None = origin(self._base_url) if self._base_url else None

    # -- configuration -------------------------------------------------------------------

    @property
    def network(self) -> str:
        """``sandbox``, ``testnet`` or ``mainnet``: what the host really is."""
        return self.settings.network

    @property
    def is_mainnet(self) -> bool:
        """True when orders go to Bybit mainnet (real funds)."""
        return self.settings.is_mainnet

    @property
    def base_url(self) -> str:
        """The URL requests go to (starts the local sandbox on first use)."""
        if self._base_url is None:
            self._start_sandbox()
        assert self._base_url is not None
        return self._base_url

    @property
    def host(self) -> str:
        """Where orders go, as the ledger records it: ``https://api.bybit.com``, or
        ``sandbox:<identity>`` for the embedded sandbox."""
        if self._host is None:
            self._start_sandbox()
        assert self._host is not None
        return self._host

    def _start_sandbox(self) -> None:
        from .sandbox import default_server

        server = default_server()
        self._base_url = server.base_url
        identity = getattr(server, "identity", None)
        self._host = f"sandbox:{identity}" if identity else origin(server.base_url)

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
        if self.network == "sandbox" and self.profile is None:
            from .sandbox import DEMO_API_KEY, DEMO_API_SECRET

            return Credentials(DEMO_API_KEY, DEMO_API_SECRET)
        found = resolve_credentials(self.network, host=self.base_url, profile=self.profile)
        if found is None:
            raise CredentialsError(missing(self.network))
        return found

    def refresh_credentials(self) -> None:
        """Look the credentials up again on next use (unless they were given explicitly):
        a key changed in the environment or a profile is picked up."""
        if not self._credentials_given:
            self._credentials = None

    def check_credentials(self) -> None:
        """Resolve and check the credentials now (nothing is sent)."""
        self.credentials  # noqa: B018

    @property
    def account(self) -> str:
        """The masked API key requests act for (or a note that none is set)."""
        try:
            return self.credentials.masked_key
        except CredentialsError:
            return "no API key"

    def __repr__(self) -> str:
        settings = getattr(self, "settings", None)
        network = settings.network if settings is not None else "?"
        url = getattr(self, "_base_url", None) or "(local sandbox, not started)"
        creds = getattr(self, "_credentials", None)
        key = mask(creds.api_key) if creds is not None else "from environment"
        return f"LoanClient(network={network!r}, base_url={url!r}, api_key={key!r})"

    @property
    def new(self) -> NewLoanApi:
        """Bybit's new loan API (flexible and fixed loans, pooled collateral)."""
        from .new_api import NewLoanApi  # loaded on first use: `import loan_widgets` stays cheap

        return NewLoanApi(self)

    @property
    def transport(self) -> Transport:
        """The transport (HTTP over a keep-alive pool unless one was given)."""
        if self._transport is None:
            from .transport import HttpTransport  # http.client and ssl load on first use

            self._transport = HttpTransport(self.settings.timeout)
        return self._transport

    def close(self) -> None:
        """Close the transport's connections."""
        if self._transport is not None:
            self._transport.close()

    discard_connections = close

    def __enter__(self) -> LoanClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- clock ---------------------------------------------------------------------------

    def sync_clock(self) -> float:
        """Measure the exchange clock's offset from ours (ms), from the round-trip midpoint."""
        before = time.time()
        envelope, _ = self._calls.request(ep.SERVER_TIME, {}, resync=False)
        after = time.time()
        info = RequestInfo("GET", self.base_url + ep.SERVER_TIME.path)
        offset = self._clock.measure(before, after, server_time_ms(envelope, info))
        log.debug("clock offset %.1f ms (round trip %.1f ms)", offset, (after - before) * 1e3)
        return offset

    def sync_clock_if_stale(self) -> None:
        """Measure the exchange clock unless a recent measurement is known."""
        if self._clock.stale():
            self.sync_clock()

    def timestamp_ms(self) -> int:
        """The exchange's time now, by our last measurement (syncing first if needed)."""
        self.sync_clock_if_stale()
        return self._clock.now_ms()

    def rate_limit(self, path: str) -> dict[str, str]:
        """The ``x-bapi-limit*`` headers of the last answer from ``path`` (a copy, maybe empty)."""
        return dict(self._calls.rate_limits.get(path, {}))

    @property
    def clock_offset_ms(self) -> float | None:
        """Last measured offset of the exchange clock from ours, or ``None``."""
        return self._clock.offset_ms

    @property
    def answer_budget_s(self) -> float:
        """Longest a write may take to answer: two attempts and one rate-limit wait."""
        return 2 * self.settings.timeout + MAX_RATE_LIMIT_WAIT_S + 5.0

    # -- the one call path ---------------------------------------------------------------

    def prepare(
        self,
        endpoint: Endpoint,
        params: Mapping[str, Any] | None = None,
        *,
        body: str | None = None,
    ) -> PreparedRequest:
        """Build and sign a request without sending it (uses the last clock offset)."""
        return self._calls.prepare(endpoint, params, body=body)

    def call(
        self,
        endpoint: Endpoint,
        params: Mapping[str, Any] | None = None,
        *,
        body: str | None = None,
    ) -> dict[str, Any]:
        """Send one read and return the envelope's ``result``.

        A write endpoint is refused: writes go through the typed methods,
        which record them in the ledger.
        """
        return self._calls.read(endpoint, params, body=body)

    def send_write(self, endpoint: Endpoint, body: str) -> tuple[dict[str, Any], int]:
        """Send a write once (the resend table decides any resend): envelope and HTTP status.

        Used by the write protocol (:func:`loan_widgets.writes.submit`) only.
        """
        return self._calls.request(endpoint, None, body=body)

    # -- typed reads ---------------------------------------------------------------------

    def server_time(self) -> datetime:
        """The exchange's clock, as a UTC datetime."""
        envelope, _ = self._calls.request(ep.SERVER_TIME, {}, resync=False)
        info = RequestInfo("GET", self.base_url + ep.SERVER_TIME.path)
        return _utc(server_time_ms(envelope, info))

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
        return self._list("ongoing_orders", ep.ONGOING_ORDERS, params)

    def repayment_history(self, **params: Any) -> list[dict[str, Any]]:
        """Every repayment (all pages), filtered by L7 parameters."""
        return self._list("repayment_history", ep.REPAYMENT_HISTORY, params)

    def borrow_history(self, **params: Any) -> list[dict[str, Any]]:
        """Every completed (fully repaid) loan (all pages), filtered by L8 parameters."""
        return self._list("borrow_history", ep.BORROW_HISTORY, params)

    def adjustment_history(self, **params: Any) -> list[dict[str, Any]]:
        """Every collateral adjustment (all pages), filtered by L11 parameters."""
        return self._list("adjustment_history", ep.ADJUSTMENT_HISTORY, params)

    def _list(self, name: str, endpoint: Endpoint, params: Mapping[str, Any]) -> list[Any]:
        check_filters(name, params, LIST_FILTERS[name])
        return list(self.iter_pages(endpoint, params))

    def iter_pages(
        self, endpoint: Endpoint, params: Mapping[str, Any] | None = None
    ) -> Iterator[dict[str, Any]]:
        """Items of a paged list endpoint, following ``nextPageCursor`` (bounded)."""
        info = RequestInfo(endpoint.method, self.base_url + endpoint.path)
        return iter_pages(lambda query: self.call(endpoint, query), params, info)

    def open_loan_ids(self) -> set[str]:
        """The ids of every open legacy loan (the evidence kept before a borrow)."""
        return {str(item["orderId"]) for item in self.ongoing_orders()}

    def amount_owed(self, order_id: Any) -> Decimal:
        """What repays loan ``order_id`` in full now: principal, interest, penalty interest."""
        order_id = parse_order_id(order_id)
        loans = self.ongoing_orders(orderId=order_id)
        if not loans:
            raise ValidationError(f"loan {order_id} is not open on {self.network}")
        owing = ("totalDebt", "residualInterest", "residualPenaltyInterest")
        return sum((Decimal(loans[0][k] or "0") for k in owing), Decimal(0))

    def max_collateral_reduction(self, order_id: Any) -> Decimal:
        """The most collateral that can be taken from loan ``order_id`` now."""
        result = self.call(ep.MAX_COLLATERAL_REDUCTION, {"orderId": parse_order_id(order_id)})
        return Decimal(str(result["maxCollateralAmount"]))

    def collateral_reduction_limit(self, order_id: Any) -> MaxReduction:
        """The most collateral that can be taken from loan ``order_id`` now, with its coin."""
        order_id = parse_order_id(order_id)
        most = self.max_collateral_reduction(order_id)
        loans = self.ongoing_orders(orderId=order_id)
        coin = loans[0].get("collateralCurrency") if loans else None
        return MaxReduction(order_id, most, coin)

    def loans(self, api: str | None = None) -> pd.DataFrame:
        """Open loans as a DataFrame (:func:`loan_widgets.views.open_loans`): both loan
        APIs, or ``api`` ``legacy``/``new`` only; exact ``Decimal`` amounts, UTC times."""
        return views.open_loans(self, api)

    def history(self, kind: str = "loans", api: str = "legacy") -> pd.DataFrame:
        """``loans`` (completed), ``repayments`` or ``adjustments`` of ``api`` as a DataFrame
        (:func:`loan_widgets.views.history`)."""
        return views.history(self, kind, api)

    # -- writes --------------------------------------------------------------------------

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
        force: bool = False,
    ) -> BorrowResult:
        """Borrow ``loan_amount`` of ``loan_currency`` against ``collateral_currency``.

        Validates first (nothing is sent or recorded on bad input), records the
        order as ``pending``, sends it once and records the outcome. Raises
        ``ExchangeError`` when refused and ``OutcomeUnknown`` when it may have
        been executed (run :meth:`reconcile`); ``DuplicateOrderError`` while an
        identical order is still ``pending`` or ``unknown``, unless ``force``.

        ``api="new"`` uses Bybit's new loan API: a flexible borrow, or with a
        fixed ``term`` a fixed borrow at ``annual_rate`` (e.g. ``"0.05"``).
        Without a collateral amount, the collateral the exchange needs on top
        of the account's pool is asked of ``max-loan`` and pledged with the
        loan (``collateralList``).
        """
        if request is None:
            request = BorrowRequest(
                parse_coin(loan_currency, "loan coin"),
                parse_coin(collateral_currency, "collateral coin"),
                loan_amount,
                collateral_amount,
                term,
                annual_rate,
            )
        if api == "new":  # sizing, body and evidence are the new API's (client.new.borrow)
            return self.new.borrow(request=request, source=source, force=force)
        endpoint, body = self.borrow_endpoint(request, api)  # validates before any read
        source = source or self.source
        done = self.write(
            Write(endpoint, body, "borrow", endpoint.proof or "", api, source, force, {
                "loan_currency": request.loan_currency,
                "loan_amount": request.loan_amount,
                "collateral_currency": request.collateral_currency,
                "collateral_amount": request.collateral_amount,
                "term": request.term,
            })
        )
        assert done.order_id is not None  # the borrow's proof is its orderId
        return BorrowResult(
            order_id=done.order_id,
            request=request,
            network=self.network,
            submitted_at=_utc(done.submitted_at * 1000),
            answered_at=_utc(time.time() * 1000),
            latency_ms=done.latency_ms,
            ledger_id=done.ledger_id,
            source=source,
            api=api,
        )

    def write(self, write: Write) -> Written:
        """Send one state-changing request through the write protocol (ledger first)."""
        return submit(self, write, self._open_loans)

    @staticmethod
    def borrow_endpoint(request: BorrowRequest, api: str = "legacy") -> tuple[Endpoint, str]:
        """The endpoint and exact body a borrow goes out as, for ``api`` legacy or new."""
        if api == "legacy":
            parse_term(request.term, "legacy")
            if request.annual_rate is not None:
                raise ValidationError(
                    "an annual rate applies to the new loan API only", suggest_api="new"
                )
            return ep.BORROW, request.to_body()
        if api == "new":
            parse_term(request.term, "new")
            endpoint = ep.FLEXIBLE_BORROW if request.term == "flexible" else ep.FIXED_BORROW
            return endpoint, request.to_new_api_body()
        raise ValidationError(f"api {api!r} is not known: use legacy or new")

    def prepare_borrow(self, request: BorrowRequest, api: str = "legacy") -> PreparedRequest:
        """The signed borrow a dry run shows: nothing is sent or recorded."""
        endpoint, body = self.borrow_endpoint(request, api)
        prepared = self.prepare(endpoint, body=body)
        if api == "new":
            from .new_orders import sizing_note  # the new API loads on first use

            return dataclasses.replace(prepared, note=sizing_note(request))
        return prepared

    def prepare_repay(self, order_id: Any, amount: Any) -> PreparedRequest:
        """The signed repayment a dry run shows."""
        return self.prepare(ep.REPAY, body=RepayRequest(order_id, amount).to_body())

    def prepare_adjust(self, order_id: Any, amount: Any, direction: str) -> PreparedRequest:
        """The signed collateral adjustment a dry run shows."""
        body = AdjustRequest(order_id, amount, direction).to_body()
        return self.prepare(ep.ADJUST_COLLATERAL, body=body)

    def repay(
        self, order_id: Any, amount: Any, *, source: str | None = None, force: bool = False
    ) -> ActionResult:
        """Repay ``amount`` of loan ``order_id`` (interest first). Never resent on a lost answer."""
        request = RepayRequest(order_id, amount)
        done = self.write(Write(
            ep.REPAY, request.to_body(), "repay", ep.REPAY.proof or "", "legacy",
            source or self.source, force,
            {"loan_amount": request.amount, "ref_id": request.order_id},
        ))
        return ActionResult("repay", done.order_id, request, self.network,
                            _utc(time.time() * 1000), done.latency_ms, done.ledger_id)

    def repay_all(
        self, order_id: Any, *, source: str | None = None, force: bool = False
    ) -> ActionResult:
        """Repay a loan in full: principal, interest and penalty interest as owed now."""
        return self.repay(order_id, self.amount_owed(order_id), source=source, force=force)

    def adjust_collateral(
        self,
        order_id: Any,
        amount: Any,
        direction: str,
        *,
        source: str | None = None,
        force: bool = False,
    ) -> ActionResult:
        """Add collateral to (``add``) or take it from (``reduce``) a loan order.

        A reduction above the exchange's maximum allowed now is refused before
        anything is sent. The result's ``details`` hold the LTV before and
        after, read from the exchange's adjustment history.
        """
        request = AdjustRequest(order_id, amount, direction)
        if request.direction == "reduce":
            check_reduction(request, self.max_collateral_reduction(request.order_id))
        done = self.write(Write(
            ep.ADJUST_COLLATERAL, request.to_body(), "adjust", ep.ADJUST_COLLATERAL.proof or "",
            "legacy", source or self.source, force,
            {"collateral_amount": request.amount, "direction": request.direction,
             "ref_id": request.order_id},
        ))
        details: dict[str, object] = {}
        try:
            found = self.adjustment_history(adjustId=done.order_id)
        except LoanWidgetsError:
            found = []
        if found:
            details = {
                "ltv_before": Decimal(found[0]["preLTV"]),
                "ltv_after": Decimal(found[0]["afterLTV"]),
            }
        return ActionResult(
            "adjust", done.order_id, request, self.network, _utc(time.time() * 1000),
            done.latency_ms, done.ledger_id, details,
        )

    def reconcile(self, ledger: Ledger | None = None) -> Reconciliation:
        """Settle this host's ``unknown`` (and abandoned ``pending``) ledger rows by
        reading the exchange, never by resending (see :mod:`loan_widgets.reconciliation`).
        Rows still in flight, and rows of other hosts, are listed with why they wait."""
        from .reconciliation import reconcile  # loaded on first use, as .new

        return reconcile(self, ledger or self.ledger)


def _first_tier(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    tiers = result.get("vipCoinList") or []
    return list(tiers[0].get("list", [])) if tiers else list(result.get("list", []))
