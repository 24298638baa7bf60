"""``BorrowForm``: the form's data and editing, the layer under ``BorrowWidget``'s Borrow button.

Data flow: widget text → :func:`loan_widgets.quote.quote` (legacy) or
:func:`loan_widgets.pool_quote.new_quote` (the new API, see
:mod:`loan_widgets.widget.pool_form`) (``Decimal``, on data kept by
:class:`~loan_widgets.marketdata.MarketDataCache`) →
:class:`~loan_widgets.orders.BorrowRequest`. Floats never appear, and typing
never calls the network: coin data and prices are fetched when the widget is
built, on Refresh, and on a coin change once they are older than
``cache_ttl``; account limits (the new API: the pool and ``max-loan``) after
every submit too.

Picking a credentials profile (``profile_picker``) gives the form another
client: its data is loaded again from that client's host.

The form's outcome lives in traits, because ipywidgets swallows exceptions
raised in callbacks: ``state`` (a :class:`~loan_widgets.widget.state.FormState`),
``message`` and the derived ``status``, set together by :meth:`BorrowForm._enter`.
What a click sends is :mod:`loan_widgets.widget.borrow`.
"""

from __future__ import annotations

import functools
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any

from traitlets import Unicode, UseEnum

from ..client import LoanClient
from ..credentials import mask
from ..errors import CredentialsError, LoanWidgetsError
from ..marketdata import DEFAULT_TTL_S, MarketDataCache
from ..numbers import trimmed
from ..orders import BorrowRequest
from ..profiles import Profile
from ..quote import Quote, quote
from . import render
from .common import one_line, reported, resolve_api
from .hold import Hold
from .pool_form import PoolForm
from .profile_picker import ProfilePicker, host_of
from .state import FormState, status_text
from .view import BorrowView

__all__ = ["HOLD_HELP", "BorrowForm", "one_line", "reported", "resolve_api"]

ORDERS_SHOWN = 5
NOTHING_TYPED = ("enter a loan amount or a collateral amount",)
HOLD_HELP = (
    " <b>Borrow is held until the order is settled</b>: <i>Check the exchange</i> reads the "
    "exchange's loans (it sends no order); <i>Send anyway</i> sends this form regardless."
)
"""The status line's explanation of a hold (markup)."""



class BorrowForm(PoolForm, BorrowView):
    """The BorrowWidget's form: coin data, typing, the live quote and the status."""

    state = UseEnum(FormState, default_value=FormState.LOADING, read_only=True,
                    help="What the widget is doing or what the last order did")
    message = Unicode("", read_only=True, help="The detail that goes with the state")
    status = Unicode("loading", read_only=True, help="'state' or 'state: message' (derived)")
    last_order_id = Unicode("", help="The order id of the last accepted order")

    def __init__(
        self, client: LoanClient | None, *, source: str, api: str | None, dry_run: bool
    ) -> None:
        super().__init__()
        self._client = client if client is not None else LoanClient()
        self.source = source
        self.dry_run = bool(dry_run)
        self.market = MarketDataCache(self._client, ttl=DEFAULT_TTL_S)
        self._limits_note = ""
        self._has_credentials = False
        self._driver: str | None = None
        self._quiet = 0
        self._sending = False
        self._hold: Hold | None = None
        self._armed: tuple[BorrowRequest, float, bool] | None = None
        self._pending_prefill: BorrowRequest | None = None
        self.quote = Quote(None, problems=("coin data is not loaded",))
        self.ignored_clicks = 0
        picker = ProfilePicker(self._client, self._use_client, self._profile_refused)
        self._build(resolve_api(api, self._client), picker)
        self._wire()
        if picker.note:
            self._log(f"no profile can be offered: {picker.note}")
        self._show_badge()
        self._load()

    def _wire(self) -> None:
        self.loan_amount.observe(functools.partial(self._on_typed, "loan"), names="value")
        self.collateral_amount.observe(
            functools.partial(self._on_typed, "collateral"), names="value"
        )
        self.loan_coin.observe(self._on_pair, names="value")
        self.collateral_coin.observe(self._on_pair, names="value")
        self.term.observe(self._on_form, names="value")
        self.annual_rate.observe(self._on_form, names="value")
        self.api_switch.observe(self._on_api, names="value")
        self.retry_button.on_click(self._on_retry)
        self.use_rate_button.on_click(self._on_use_rate)

    # -- properties ------------------------------------------------------------------------

    @property
    def client(self) -> LoanClient:
        """The client orders go through (not a trait: it is never synced or saved)."""
        return self._client

    @property
    def profile(self) -> Profile | None:
        """The credentials profile orders are signed with (``None``: the client as given)."""
        return self.profile_picker.profile

    @property
    def network(self) -> str:
        """The client's network: ``sandbox``, ``testnet`` or ``mainnet``."""
        return self._client.network

    @property
    def api(self) -> str:
        """The loan API orders go to: ``legacy`` or ``new`` (``api_switch``)."""
        return str(self.api_switch.value)

    @api.setter
    def api(self, value: str) -> None:
        self.api_switch.value = resolve_api(value, None)

    @property
    def cache_ttl(self) -> float:
        """Seconds coin data, prices and limits are reused before a coin change refetches them."""
        return self.market.ttl

    @cache_ttl.setter
    def cache_ttl(self, seconds: float) -> None:
        self.market.ttl = seconds

    @property
    def sending(self) -> bool:
        """True while an order is on its way."""
        return self._sending

    @property
    def hold(self) -> Hold | None:
        """The ledger rows Borrow is held on, or ``None``."""
        return self._hold

    # -- state -----------------------------------------------------------------------------

    def _enter(
        self, state: FormState, message: str = "", *, text: str | None = None, extra: str = "",
        html: str | None = None,
    ) -> None:
        """Set ``state``, ``message`` and the derived ``status`` together, and the status line."""
        self.set_trait("state", state)  # observers of status see the state and message it has
        self.set_trait("message", message)
        self.set_trait("status", status_text(state, message))
        self.status_html.value = (
            html if html is not None
            else render.status_line(state, text if text is not None else message, extra)
        )

    @contextmanager
    def _quietly(self) -> Iterator[None]:
        self._quiet += 1
        try:
            yield
        finally:
            self._quiet -= 1

    def _show_badge(self) -> None:
        profile = self.profile
        account = mask(profile.api_key) if profile is not None else self._client.account
        self.badge.value = render.badge(
            self.network, account, host_of(self._client), api=self.api, dry_run=self.dry_run,
            profile=profile.name if profile is not None else None,
        )

    # -- the profile ----------------------------------------------------------------------------

    @reported
    def _use_client(self, client: LoanClient, profile: Profile | None) -> None:
        """Act for another profile: its client, its host's data, its badge (a hold stays)."""
        self._disarm()
        self._client = client
        self.market = MarketDataCache(client, ttl=self.market.ttl)
        self._show_badge()
        who = (f"profile {profile.name} ({profile.network}, key {mask(profile.api_key)})"
               if profile is not None else f"the client as given ({client.network})")
        self._log(f"acting for {who}: loading its data")
        self._load()

    def _profile_refused(self, text: str) -> None:
        self._log(text)
        self._update_status(note=f"Not switched: {text}.")

    # -- loading data ------------------------------------------------------------------------

    def _load(self) -> bool:
        """Fetch coin data and prices; on failure show a message and the retry button."""
        first_load = self.market.data is None or (self.api == "new" and self.market.new is None)
        self._enter(FormState.LOADING)
        try:
            self.market.load()
            if self.api == "new":
                self.market.load_new()
        except Exception as error:  # shown in the widget, not raised
            message = one_line(error)
            if self.market.data is None or (self.api == "new" and self.market.new is None):
                self._show_notice(render.notice_load_failed(message), retry=True)
                self._enter(FormState.ERROR, f"could not load coin data: {message}")
                self._log(f"could not load coin data: {message}")
                self._render()
                return False
            self._show_notice(render.notice_stale(message, self.market.data.fetched_at), retry=True)
            self._log(f"could not refresh prices: {message}")
            self._render()
            self._update_status()
            return False
        if first_load:
            self._set_inputs_disabled(False)
        self._show_notice("", retry=False)
        self._set_coin_options(first_load)
        self._has_credentials = self._credentials_available()
        self._fetch_limits()
        self._refresh_orders()
        pending, self._pending_prefill = self._pending_prefill, None
        if pending is not None:
            self.prefill(pending)
        else:
            self._after_change()
        return True

    def _credentials_available(self) -> bool:
        try:
            self._client.credentials  # noqa: B018 - resolves from the environment, no network
        except CredentialsError:
            return False
        return True

    def _pair(self) -> tuple[str, str]:
        return (self.loan_coin.value or "", self.collateral_coin.value or "")

    def _fetch_limits(self) -> None:
        """This account's limits for the pair (a signed GET, legacy API) when there is a key."""
        loan, collateral = self._pair()
        self._limits_note = ""
        if self.api == "new":
            self._fetch_pool()
            return
        if not self._has_credentials or not loan or not collateral:
            return
        if loan == collateral:
            return
        try:
            self.market.limits(loan, collateral)
        except LoanWidgetsError as error:
            self._limits_note = f"account limits unavailable ({one_line(error)})"

    # -- callbacks -----------------------------------------------------------------------------

    @reported
    def _on_typed(self, which: str, change: Any) -> None:
        if self._quiet:
            return
        text = str(change["new"]).strip()
        other = self.collateral_amount if which == "loan" else self.loan_amount
        if text:
            self._driver = which
            if self.api == "legacy":  # the new API takes both: a loan and a pledge
                with self._quietly():
                    other.value = ""
        elif self._driver == which:
            self._driver = None
        self._after_change()

    @reported
    def _on_pair(self, change: Any) -> None:
        if self._quiet:
            return
        if self.market.stale and self._load():
            return  # fresh coin data, prices and limits; the form is re-rendered
        self._fetch_limits()
        self._after_change()

    @reported
    def _on_form(self, change: Any) -> None:
        if self._quiet:
            return
        self._after_change()

    @reported
    def _on_api(self, change: Any) -> None:
        picked = self.term.value
        if self.term.set_api(change["new"]):
            self._log(f"the {change['new']} loan API offers no {picked}-day term: "
                      "term set to flexible")
        if change["new"] == "legacy" and self.loan_amount.value and self.collateral_amount.value:
            with self._quietly():  # the legacy API sizes one from the other: keep the last typed
                (self.loan_amount if self._driver == "collateral"
                 else self.collateral_amount).value = ""
        self._show_badge()
        self._switched_api(change["new"])
        self._fetch_limits()
        self._after_change()

    @reported
    def _on_retry(self, _button: Any = None) -> None:
        self._load()

    def _disarm(self) -> None:
        if self._armed is not None:
            self._armed = None
            self._show_confirm(None)

    def _after_change(self) -> None:
        """The user changed the form: forget a pending confirmation, re-quote (a hold stays)."""
        self._disarm()
        self._render()
        self._update_status()

    # -- rendering (the hot path: no network) -----------------------------------------------

    def _render(self) -> Quote:
        if self.api == "new":
            return self._render_new()
        data = self.market.data
        limits = self.market.cached_limits(*self._pair())
        q = quote(
            data, self.loan_coin.value, self.collateral_coin.value, self.term.value,
            self.loan_amount.value, self.collateral_amount.value, self._driver, limits,
        )
        self.quote = q
        loan = data.loan_coins.get(self.loan_coin.value or "") if data else None
        coll = data.collateral_coins.get(self.collateral_coin.value or "") if data else None
        if loan is not None:
            offered = [t for t in self.term.terms if loan.rates.get(t) is not None]
            self.term.set_offered(loan.currency, offered, loan.rates)
        elif data is None:
            self._set_inputs_disabled(True)
        self._show_new_api_row(False)
        if data is None or loan is None or coll is None:
            self.loan_hint.value = self.collateral_hint.value = self.preview.value = ""
        else:
            self.loan_amount.placeholder, self.collateral_amount.placeholder = (
                render.placeholders(q)
            )
            self.loan_hint.value = render.loan_hint(q, loan, coll, limits)
            self.collateral_hint.value = render.collateral_hint(q, loan, coll, limits)
            age = data.age(self.market.clock())
            self.preview.value = render.preview(
                q, data, loan, coll, self.term.value, age=age, stale=age > self.cache_ttl,
                notes=[self._limits_note] if self._limits_note else [],
            )
        self._update_buttons()
        return q

    def _update_buttons(self) -> None:
        if self._sending:
            return
        q = self.quote
        label = render.borrow_label(q, self.network)
        self.borrow_button.description = f"Dry run: {label}" if self.dry_run else label
        if q.problems:
            tooltip = "; ".join(q.problems)
        elif self._hold is not None:
            tooltip = f"held: {self._hold.reason}"
        else:
            tooltip = "Show the signed request (nothing is sent)" if self.dry_run else (
                "Send this order")
        self.borrow_button.tooltip = tooltip
        self.borrow_button.disabled = (
            q.request is None or self._hold is not None or self._armed is not None
        )
        self._show_hold_buttons(self._hold is not None)
        self.reconcile_button.disabled = self.send_anyway_button.disabled = self._armed is not None

    def _update_status(self, note: str = "") -> None:
        if self.market.data is None:
            return
        q = self.quote
        lead = f"{note} " if note else ""
        if q.problems and q.problems != NOTHING_TYPED:
            self._enter(FormState.INVALID, q.problems[0], text=lead + q.problems[0])
        elif self._hold is not None:
            self._enter(FormState.HELD, self._hold.reason, text=lead + self._hold.reason,
                        extra=HOLD_HELP)
        elif q.request is None:
            self._enter(FormState.IDLE, text=lead + "Enter an amount to borrow, or collateral to "
                        "pledge.")
        else:
            what = render.describe(q.request, q)
            self._enter(FormState.READY, what, text=f"{lead}Ready: {what}")

    def _ready_request(self) -> BorrowRequest | None:
        """The current form's request, or ``None`` with the reason in the state."""
        q = self._render()
        if q.request is None:
            self._update_status()
        return q.request

    # -- log and errors -------------------------------------------------------------------------

    def _ignored(self, why: str) -> None:
        self.ignored_clicks += 1
        self._log(f"ignored a click: {why}")

    def _crashed(self, where: str, error: BaseException) -> None:
        message = f"{type(error).__name__}: {error}"
        self._enter(FormState.ERROR, message, html=render.crashed(where, message))
        self.output.append_stdout("".join(traceback.format_exception(error)))

    def _log(self, line: str) -> None:
        stamp = datetime.now(timezone.utc).strftime("%H:%M:%S")
        self.output.append_stdout(f"{stamp} UTC  {line}\n")

    # -- public API ------------------------------------------------------------------------------

    def prefill(self, request: BorrowRequest) -> BorrowForm:
        """Fill the form from ``request`` (what ``%borrow --widget USDT 550 BTC`` does).

        The loan amount drives when the request has one, else the collateral
        amount. Nothing is sent. Before the coin data has loaded, the request
        is kept and applied after a successful retry.
        """
        if self.market.data is None:
            self._pending_prefill = request
            return self
        problems = []
        with self._quietly():
            for dropdown, code, what in (
                (self.loan_coin, request.loan_currency, "loan coin"),
                (self.collateral_coin, request.collateral_currency, "collateral coin"),
            ):
                if code in dropdown.options:
                    dropdown.value = code
                else:
                    problems.append(f"{code} is not offered as a {what}")
            if request.term in self.term.terms:
                self.term.value = request.term
            else:
                problems.append(f"the {self.api} loan API offers no {request.term}-day term")
            if request.annual_rate is not None:
                self.annual_rate.value = trimmed(request.annual_rate)
            if request.loan_amount is not None:
                self._driver = "loan"
                self.loan_amount.value = trimmed(request.loan_amount)
                pledge = request.collateral_amount if self.api == "new" else None
                self.collateral_amount.value = "" if pledge is None else trimmed(pledge)
            elif request.collateral_amount is not None:
                self._driver = "collateral"
                self.collateral_amount.value = trimmed(request.collateral_amount)
                self.loan_amount.value = ""
        self._fetch_limits()
        self._after_change()
        if problems:
            self._enter(FormState.INVALID, problems[0], text="; ".join(problems))
        return self

    def refresh(self) -> bool:
        """Refetch coin data, prices and account limits now; ``False`` if that failed."""
        return self._load()

    def _refresh_orders(self) -> None:
        try:
            rows = self._client.ledger.rows(limit=ORDERS_SHOWN)
        except Exception as error:  # the form works without the table
            self.orders_html.value = render.muted(f"ledger unavailable: {error}")
            return
        self.orders_html.value = render.orders_table(rows)
