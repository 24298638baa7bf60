"""``BorrowWidget``: a form to borrow with, on the same client, signer and ledger as ``%borrow``.

::

    ┌ badge: SANDBOX · account SA***01 · host ─────────────────────── [↻ Refresh] ┐
    │ Borrow      [ 550             ] [USDT ▾]   min 20 · max 8,000,000 USDT      │
    │ Collateral  [ ≈ 0.01057693    ] [BTC  ▾]   ≈ estimate at initial LTV 80 %   │
    │ Term        [Flexible][7 days][14 days][30 days][90 days][180 days]          │
    │ preview: collateral, LTV vs margin call / liquidation, rate, interest, price │
    │ [Borrow 550 USDT]  [Confirm …]  [Cancel]   status                            │
    │ recent orders (the ledger's last rows)                                       │
    │ output (a log of what happened)                                              │
    └──────────────────────────────────────────────────────────────────────────────┘

Data flow: widget text → :func:`~loan_widgets.orders.parse_amount` (``Decimal``) →
:class:`~loan_widgets.orders.BorrowRequest` → :meth:`LoanClient.borrow
<loan_widgets.client.LoanClient.borrow>` → ledger. Floats never appear.

Coin data and prices are fetched when the widget is built and kept for
:attr:`BorrowWidget.cache_ttl` seconds; typing only recomputes
:func:`loan_widgets.quote.quote` (pure ``Decimal`` arithmetic on that cache,
in the UI-free core, no network). A coin change after
the cache expired refreshes it; ``refresh_button`` does so on demand.

The Borrow click runs the request synchronously, with the button disabled and
``status == "sending"`` set first. A lock, not only the ``disabled``
attribute, keeps a second click from sending twice (``Button.click()`` from
Python ignores ``disabled``); clicks that arrive within :attr:`rearm_after`
seconds of an answer (a double click queued behind the first) are ignored too.
On mainnet the first click only arms a confirmation naming amount, coin and
network; ``confirm_button`` sends.

Every outcome lands in widget state: the ``status`` and ``last_order_id``
traits, ``status_html`` and the ``output`` log. No widget and no trait holds a
credential: the client is a plain attribute and only its masked key is shown.
"""

from __future__ import annotations

import functools
import html
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timezone
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import Any, TypeVar
from urllib.parse import urlsplit

import ipywidgets as widgets
from traitlets import TraitError, Unicode, observe, validate

from .client import LoanClient
from .errors import (
    CredentialsError,
    ExchangeError,
    LoanWidgetsError,
    OutcomeUnknown,
    ValidationError,
)
from .ledger import LedgerRow
from .numbers import grouped as _grouped
from .numbers import trim as _trim
from .numbers import trimmed as _plain
from .orders import TERMS, BorrowRequest, BorrowResult
from .quote import (
    _CENT,
    _HUNDRED,
    HOURS_PER_YEAR,
    CollateralCoinInfo,
    Limits,
    LoanCoinInfo,
    MarketData,
    Quote,
    quote,
)

__all__ = ["BorrowWidget", "TermPicker"]

CACHE_TTL_S = 30.0
REARM_AFTER_S = 1.0
CONFIRM_WINDOW_S = 60.0
ORDERS_SHOWN = 5
DEFAULT_LOAN_COIN = "USDT"
DEFAULT_COLLATERAL_COIN = "BTC"

NETWORK_COLOURS = {"sandbox": "#2e7d32", "testnet": "#ef6c00", "mainnet": "#c62828"}
STATUS_COLOURS = {
    "accepted": "#2e7d32",
    "rejected": "#c62828",
    "failed": "#c62828",
    "unknown": "#ef6c00",
    "pending": "#1565c0",
    "not_executed": "#616161",
}

_F = TypeVar("_F", bound=Callable[..., Any])


def _reported(method: _F) -> _F:
    """Run a callback; any exception lands in ``status`` and ``output``, never nowhere."""

    @functools.wraps(method)
    def wrapper(self: BorrowWidget, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except Exception as error:  # ipywidgets would swallow it
            self._crashed(method.__name__, error)
            return None

    return wrapper  # type: ignore[return-value]


def _term_label(term: str) -> str:
    return "Flexible" if term == "flexible" else f"{term} days"


def _percent(ratio: Decimal, places: str = "0.01") -> str:
    return _plain((ratio * _HUNDRED).quantize(Decimal(places), rounding=ROUND_HALF_UP))


class TermPicker(widgets.HBox):
    """A row of ToggleButtons, one per loan term; terms not offered are really disabled.

    ``value`` is ``"flexible"`` or the days as text (``"7"`` ... ``"180"``). A
    click on a disabled button (possible only from Python) is undone.
    """

    value = Unicode("flexible", help="The selected term: flexible, 7, 14, 30, 90 or 180")

    def __init__(self, **kwargs: Any) -> None:
        self.buttons: dict[str, widgets.ToggleButton] = {
            term: widgets.ToggleButton(
                value=term == "flexible",
                button_style="info" if term == "flexible" else "",
                description=_term_label(term),
                tooltip=_term_label(term),
                layout=widgets.Layout(width="84px"),
            )
            for term in TERMS
        }
        self._syncing = False
        for term, button in self.buttons.items():
            button.observe(functools.partial(self._on_toggle, term), names="value")
        super().__init__(children=tuple(self.buttons.values()), **kwargs)
        self.add_class("lw-term")

    @validate("value")
    def _check_value(self, proposal: Any) -> str:
        value = str(proposal["value"]).strip().lower().removesuffix("d")
        if value not in TERMS:
            raise TraitError(f"term must be one of {', '.join(TERMS)}, not {value!r}")
        return value

    @observe("value")
    def _show_value(self, change: Any) -> None:
        self._syncing = True
        try:
            for term, button in self.buttons.items():
                button.value = term == change["new"]
                button.button_style = "info" if button.value else ""
        finally:
            self._syncing = False

    def _on_toggle(self, term: str, change: Any) -> None:
        if self._syncing:
            return
        button = self.buttons[term]
        if change["new"] and not button.disabled:
            self.value = term
            return
        # Un-pressing the selected term, or pressing a disabled one: put it back.
        self._syncing = True
        try:
            button.value = term == self.value
        finally:
            self._syncing = False

    def set_offered(self, rates: Mapping[str, Decimal | None], coin: str) -> None:
        """Enable the terms ``coin`` offers (rate not ``None``); disable the others."""
        for term, button in self.buttons.items():
            rate = rates.get(term)
            button.disabled = rate is None
            if rate is None:
                button.tooltip = (
                    f"{coin} cannot be borrowed flexibly"
                    if term == "flexible"
                    else f"{coin} offers no {term}-day term"
                )
            else:
                annual = _percent(rate * HOURS_PER_YEAR)
                button.tooltip = (
                    f"{_term_label(term)}: {_plain(rate * _HUNDRED)} % per hour "
                    f"(≈ {annual} % a year)"
                )

    @property
    def offered(self) -> tuple[str, ...]:
        """The terms that can be picked."""
        return tuple(t for t, b in self.buttons.items() if not b.disabled)


class BorrowWidget(widgets.VBox):
    """A form to borrow crypto against collateral, with a live preview and a one-shot Borrow.

    Args:
        client: the :class:`~loan_widgets.client.LoanClient` to use (default:
            ``LoanClient()``, the local sandbox). Its ledger records every order.
        source: the ledger's ``source`` for orders sent from here.

    Sub-widgets (for layout and tests): ``badge``, ``loan_coin``,
    ``collateral_coin``, ``loan_amount``, ``collateral_amount``, ``loan_hint``,
    ``collateral_hint``, ``term`` (a :class:`TermPicker`), ``preview``,
    ``borrow_button``, ``confirm_button``, ``cancel_button``, ``status_html``,
    ``notice``, ``retry_button``, ``refresh_button``, ``orders_html``, ``output``.

    Traits: ``status`` (``loading``, ``idle``, ``ready``, ``invalid: ...``,
    ``confirm: ...``, ``sending``, ``accepted: <id>``, ``rejected: <retCode> ...``,
    ``unknown: ...``, ``error: ...``) and ``last_order_id``.

    Also: :meth:`prefill`, :meth:`refresh`, ``quote`` (the last :class:`Quote`),
    ``sending``, ``ignored_clicks``, ``client``, ``network``, and the tunables
    ``cache_ttl``, ``rearm_after`` and ``confirm_window`` (seconds).
    """

    status = Unicode("loading", help="What the widget is doing or what the last order did")
    last_order_id = Unicode("", help="The order id of the last accepted order")

    cache_ttl: float = CACHE_TTL_S
    """Seconds coin data and prices are reused before a coin change refetches them."""
    rearm_after: float = REARM_AFTER_S
    """Seconds after an answer during which Borrow clicks are ignored (queued double clicks)."""
    confirm_window: float = CONFIRM_WINDOW_S
    """Seconds a mainnet confirmation stays armed."""

    def __init__(self, client: LoanClient | None = None, *, source: str = "widget") -> None:
        super().__init__()
        self._client = client if client is not None else LoanClient()
        self.source = source
        self._market: MarketData | None = None
        self._limits: dict[tuple[str, str], Limits] = {}
        self._limits_note = ""
        self._has_credentials = False
        self._driver: str | None = None
        self._quiet = 0
        self._click_lock = threading.Lock()
        self._sending = False
        self._answered_at = float("-inf")
        self._hold = ""
        self._armed: tuple[BorrowRequest, float] | None = None
        self._pending_prefill: BorrowRequest | None = None
        self.quote = Quote(None, problems=("coin data is not loaded",))
        self.ignored_clicks = 0
        self._build()
        self._load()

    # -- construction --------------------------------------------------------------------

    def _build(self) -> None:
        label_width = "92px"
        desc = {"description_width": label_width}
        self.badge = widgets.HTML(layout=widgets.Layout(flex="1 1 auto"))
        self.refresh_button = widgets.Button(
            description="Refresh",
            icon="refresh",
            tooltip="Reload coin data and prices from the exchange",
            layout=widgets.Layout(width="96px", flex="0 0 auto"),
        )
        self.loan_amount = widgets.Text(
            description="Borrow",
            placeholder="amount to borrow",
            style=desc,
            layout=widgets.Layout(width="300px", flex="0 0 auto"),
        )
        self.loan_coin = widgets.Dropdown(
            options=[],
            layout=widgets.Layout(width="96px", flex="0 0 auto"),
            tooltip="Coin to borrow",
        )
        self.loan_hint = widgets.HTML(layout=widgets.Layout(flex="1 1 auto"))
        self.collateral_amount = widgets.Text(
            description="Collateral",
            placeholder="or collateral to pledge",
            style=desc,
            layout=widgets.Layout(width="300px", flex="0 0 auto"),
        )
        self.collateral_coin = widgets.Dropdown(
            options=[],
            layout=widgets.Layout(width="96px", flex="0 0 auto"),
            tooltip="Coin to pledge",
        )
        self.collateral_hint = widgets.HTML(layout=widgets.Layout(flex="1 1 auto"))
        self.term = TermPicker()
        self.preview = widgets.HTML()
        self.borrow_button = widgets.Button(
            description="Borrow",
            button_style="primary",
            disabled=True,
            layout=widgets.Layout(width="auto", min_width="180px", flex="0 0 auto"),
        )
        self.confirm_button = widgets.Button(
            description="Confirm",
            button_style="danger",
            icon="exclamation-triangle",
            layout=widgets.Layout(width="auto", display="none", flex="0 0 auto"),
        )
        self.cancel_button = widgets.Button(
            description="Cancel",
            layout=widgets.Layout(width="80px", display="none", flex="0 0 auto"),
        )
        self.status_html = widgets.HTML(
            layout=widgets.Layout(flex="1 1 240px", min_width="240px", margin="0 0 0 8px")
        )
        self.notice = widgets.HTML(layout=widgets.Layout(flex="1 1 auto"))
        self.retry_button = widgets.Button(
            description="Retry", icon="refresh", button_style="warning",
            layout=widgets.Layout(width="96px", flex="0 0 auto"),
        )
        self.orders_html = widgets.HTML()
        self.output = widgets.Output(
            layout=widgets.Layout(max_height="110px", overflow="auto")
        )

        for w, name in (
            (self.loan_amount, "lw-loan-amount"),
            (self.loan_coin, "lw-loan-coin"),
            (self.collateral_amount, "lw-collateral-amount"),
            (self.collateral_coin, "lw-collateral-coin"),
            (self.preview, "lw-preview"),
            (self.borrow_button, "lw-borrow"),
            (self.confirm_button, "lw-confirm"),
            (self.status_html, "lw-status"),
            (self.orders_html, "lw-orders"),
            (self.retry_button, "lw-retry"),
            (self.badge, "lw-badge"),
        ):
            w.add_class(name)

        row = widgets.Layout(align_items="center", width="100%", margin="0 0 2px 0")
        term_label = widgets.HTML(
            "<div style='text-align:right;padding-right:8px'>Term</div>",
            layout=widgets.Layout(width=label_width, margin="0 4px 0 0"),
        )
        self._notice_row = widgets.HBox(
            [self.notice, self.retry_button],
            layout=widgets.Layout(
                align_items="center", display="none", border="1px solid #ef9a9a",
                padding="4px 8px", margin="4px 0",
            ),
        )
        self.children = (
            widgets.HBox([self.badge, self.refresh_button], layout=row),
            self._notice_row,
            widgets.HBox([self.loan_amount, self.loan_coin, self.loan_hint], layout=row),
            widgets.HBox(
                [self.collateral_amount, self.collateral_coin, self.collateral_hint], layout=row
            ),
            widgets.HBox([term_label, self.term], layout=row),
            self.preview,
            widgets.HBox(
                [self.borrow_button, self.confirm_button, self.cancel_button, self.status_html],
                layout=widgets.Layout(
                    align_items="center", width="100%", margin="6px 0", flex_flow="row wrap"
                ),
            ),
            self.orders_html,
            self.output,
        )
        self.layout = widgets.Layout(
            width="100%", max_width="860px", border="1px solid #d0d7de", padding="8px 12px"
        )
        self.add_class("lw-borrow-widget")

        self.loan_amount.observe(functools.partial(self._on_typed, "loan"), names="value")
        self.collateral_amount.observe(
            functools.partial(self._on_typed, "collateral"), names="value"
        )
        self.loan_coin.observe(self._on_pair, names="value")
        self.collateral_coin.observe(self._on_pair, names="value")
        self.term.observe(self._on_form, names="value")
        self.borrow_button.on_click(self._on_borrow)
        self.confirm_button.on_click(self._on_confirm)
        self.cancel_button.on_click(self._on_cancel)
        self.retry_button.on_click(self._on_retry)
        self.refresh_button.on_click(self._on_refresh)
        self._show_badge()

    @property
    def client(self) -> LoanClient:
        """The client orders go through (not a trait: it is never synced or saved)."""
        return self._client

    @property
    def network(self) -> str:
        """The client's network: ``sandbox``, ``testnet`` or ``mainnet``."""
        return self._client.network

    @contextmanager
    def _quietly(self) -> Iterator[None]:
        self._quiet += 1
        try:
            yield
        finally:
            self._quiet -= 1

    def _show_badge(self) -> None:
        network = self._client.network
        colour = NETWORK_COLOURS.get(network, "#455a64")
        account = html.escape(self._client.account)
        host = ""
        if self._client.settings.base_url is not None or network != "sandbox":
            parts = urlsplit(self._client.settings.base_url or self._client.base_url)
            host = f" · <span style='color:#57606a'>{html.escape(parts.netloc)}</span>"
        warning = (
            " · <b style='color:#c62828'>real funds</b>" if network == "mainnet" else ""
        )
        self.badge.value = (
            f"<span style='background:{colour};color:#fff;border-radius:4px;padding:2px 8px;"
            f"font-weight:700;letter-spacing:.06em;font-size:12px'>{network.upper()}</span>"
            f"&nbsp; <b>Crypto loan</b> · account <code>{account}</code>{host}{warning}"
        )

    # -- loading data ----------------------------------------------------------------------

    def _load(self) -> bool:
        """Fetch coin data and prices; on failure show a message and the retry button."""
        self.status = "loading"
        try:
            market = MarketData.fetch(self._client)
        except Exception as error:  # shown in the widget, not raised
            message = " ".join(str(error).split()) or type(error).__name__
            if self._market is None:
                self._show_notice(
                    "<div style='line-height:1.35'><b>Could not load the coin list and "
                    f"prices</b> from the exchange: {html.escape(message)}</div>",
                    retry=True,
                )
                self.status = f"error: could not load coin data: {message}"
                self._log(f"could not load coin data: {message}")
                self._render()
                return False
            self._show_notice(
                "<div style='line-height:1.35'>Prices could not be refreshed "
                f"({html.escape(message)}); showing data from "
                f"{_clock(self._market.fetched_at)} UTC.</div>",
                retry=True,
            )
            self._log(f"could not refresh prices: {message}")
            self._render()
            self._update_status()
            return False
        first_load = self._market is None
        self._market = market
        if first_load:
            self._set_inputs_disabled(False)
        self._show_notice("", retry=False)
        with self._quietly():
            if first_load or set(self.loan_coin.options) != set(market.loan_coins):
                self.loan_coin.options = sorted(market.loan_coins)
                self.loan_coin.value = _pick(
                    sorted(market.loan_coins), self.loan_coin.value, DEFAULT_LOAN_COIN
                )
            if first_load or set(self.collateral_coin.options) != set(market.collateral_coins):
                self.collateral_coin.options = sorted(market.collateral_coins)
                self.collateral_coin.value = _pick(
                    sorted(market.collateral_coins),
                    self.collateral_coin.value,
                    DEFAULT_COLLATERAL_COIN,
                )
        self._has_credentials = self._credentials_available()
        self._limits.clear()
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

    def _fetch_limits(self) -> None:
        """This account's limits for the current pair (signed GET), when there is a key."""
        pair = (self.loan_coin.value or "", self.collateral_coin.value or "")
        self._limits_note = ""
        if not self._has_credentials or not all(pair) or pair[0] == pair[1]:
            return
        cached = self._limits.get(pair)
        if cached is not None and time.time() - cached.fetched_at < self.cache_ttl:
            return
        try:
            result = self._client.borrow_limits(*pair)
            self._limits[pair] = Limits.from_wire(result, time.time())
        except LoanWidgetsError as error:
            self._limits_note = f"account limits unavailable ({' '.join(str(error).split())})"

    def _current_limits(self) -> Limits | None:
        return self._limits.get((self.loan_coin.value or "", self.collateral_coin.value or ""))

    def _show_notice(self, text: str, *, retry: bool) -> None:
        self.notice.value = text
        self._notice_row.layout.display = "flex" if text else "none"
        self.retry_button.layout.display = "" if retry else "none"

    # -- callbacks -----------------------------------------------------------------------

    @_reported
    def _on_typed(self, which: str, change: Any) -> None:
        if self._quiet:
            return
        text = str(change["new"]).strip()
        other = self.collateral_amount if which == "loan" else self.loan_amount
        if text:
            self._driver = which
            with self._quietly():
                other.value = ""
        elif self._driver == which:
            self._driver = None
        self._after_change()

    @_reported
    def _on_pair(self, change: Any) -> None:
        if self._quiet:
            return
        stale = self._market is not None and self._market.age() > self.cache_ttl
        if stale and self._load():
            return  # fresh coin data, prices and limits; the form is re-rendered
        self._fetch_limits()
        self._after_change()

    @_reported
    def _on_form(self, change: Any) -> None:
        if self._quiet:
            return
        self._after_change()

    @_reported
    def _on_retry(self, _button: Any = None) -> None:
        self._load()

    @_reported
    def _on_refresh(self, _button: Any = None) -> None:
        if self._sending:
            return
        self._load()

    def _after_change(self) -> None:
        """The user changed the form: forget a pending confirmation or hold, re-quote."""
        self._disarm()
        self._hold = ""
        self._render()
        self._update_status()

    # -- rendering (the hot path: no network) ---------------------------------------------

    def _render(self) -> Quote:
        market = self._market
        loan_code = self.loan_coin.value
        coll_code = self.collateral_coin.value
        q = quote(
            market,
            loan_code,
            coll_code,
            self.term.value,
            self.loan_amount.value,
            self.collateral_amount.value,
            self._driver,
            self._current_limits(),
        )
        self.quote = q
        loan = market.loan_coins.get(loan_code or "") if market else None
        coll = market.collateral_coins.get(coll_code or "") if market else None
        if loan is not None:
            self.term.set_offered(loan.rates, loan.currency)
        elif market is None:
            self._set_inputs_disabled(True)
        self._render_fields(q, loan, coll)
        self.preview.value = self._preview_html(q, loan, coll)
        self._update_button()
        return q

    def _render_fields(
        self, q: Quote, loan: LoanCoinInfo | None, coll: CollateralCoinInfo | None
    ) -> None:
        limits = self._current_limits()
        if loan is None or coll is None:
            self.loan_hint.value = self.collateral_hint.value = ""
            return
        if q.driver == "collateral" and q.loan_amount is not None:
            self.loan_amount.placeholder = f"≈ {_plain(q.loan_amount)}"
        else:
            self.loan_amount.placeholder = "amount to borrow"
        if q.driver == "loan" and q.collateral_amount is not None:
            self.collateral_amount.placeholder = f"≈ {_plain(q.collateral_amount)}"
        else:
            self.collateral_amount.placeholder = "or collateral to pledge"

        bounds = f"min {_grouped(loan.min_amount)}"
        if loan.max_amount is not None:
            bounds += f" · max {_grouped(loan.max_amount)}"
        if limits is not None and limits.max_loan is not None:
            bounds += f" · account max {_grouped(limits.max_loan)}"
        loan_info = f"{bounds} {loan.currency} · {loan.accuracy} decimals"
        if q.loan_problem:
            self.loan_hint.value = _bad(q.loan_problem)
        elif q.driver == "collateral" and q.loan_amount is not None:
            self.loan_hint.value = _estimate(
                f"the most this collateral supports at {_percent(coll.initial_ltv, '1')} % LTV, "
                f"rounded down to {loan.accuracy} decimals"
            )
        else:
            self.loan_hint.value = _muted(loan_info)

        if q.collateral_problem:
            self.collateral_hint.value = _bad(q.collateral_problem)
        elif q.driver == "loan" and q.collateral_amount is not None:
            self.collateral_hint.value = _estimate(
                f"needed at initial LTV {_percent(coll.initial_ltv, '1')} %, "
                f"rounded up to {coll.accuracy} decimals"
            )
        else:
            info = f"{coll.accuracy} decimals"
            if limits is not None and limits.max_collateral is not None:
                available = _trim(limits.max_collateral.quantize(coll.step, ROUND_DOWN))
                info = f"up to {_grouped(available)} {coll.currency} available · {info}"
            elif coll.max_limit is not None:
                info = f"limit {_grouped(coll.max_limit)} {coll.currency} · {info}"
            self.collateral_hint.value = _muted(info)

    def _preview_html(
        self, q: Quote, loan: LoanCoinInfo | None, coll: CollateralCoinInfo | None
    ) -> str:
        market = self._market
        if market is None or loan is None or coll is None:
            return ""
        rows: list[tuple[str, str]] = []
        loan_price = market.prices.get(loan.currency)
        coll_price = market.prices.get(coll.currency)
        if q.collateral_amount is not None:
            value = (
                f" (≈ {_money(q.collateral_amount * coll_price)} USDT)"
                if coll_price is not None
                else ""
            )
            verb = "≈ " if q.driver == "loan" else ""
            locked = f"<b>{verb}{_grouped(q.collateral_amount)} {coll.currency}</b>{value}"
            rows.append(("Collateral locked", locked))
        if q.loan_amount is not None:
            verb = "≈ " if q.driver == "collateral" else ""
            rows.append(("You receive", f"<b>{verb}{_grouped(q.loan_amount)} {loan.currency}</b>"))
        thresholds = []
        if coll.margin_call_ltv is not None:
            thresholds.append(f"margin call at {_percent(coll.margin_call_ltv)} %")
        if coll.liquidation_ltv is not None:
            thresholds.append(f"liquidation at {_percent(coll.liquidation_ltv)} %")
        if q.ltv is not None:
            colour = "#2e7d32"
            if coll.margin_call_ltv is not None and q.ltv >= coll.margin_call_ltv:
                colour = "#c62828"
            ltv = (q.ltv * _HUNDRED).quantize(_CENT, rounding=ROUND_HALF_UP)
            ltv_text = f"<b style='color:{colour}'>{ltv} %</b>"
            if q.liquidation_price is not None and coll_price:
                drop = _plain(((1 - q.liquidation_price / coll_price) * _HUNDRED).quantize(
                    Decimal("0.1")
                ))
                thresholds.append(
                    f"liquidated if {coll.currency} falls {drop} % "
                    f"to {_money(q.liquidation_price)} USDT"
                )
        else:
            ltv_text = f"{_percent(coll.initial_ltv)} % at start (initial LTV)"
        rows.append(("LTV", f"{ltv_text} · " + " · ".join(thresholds)))
        term = self.term.value
        if q.hourly_rate is not None:
            rows.append(
                (
                    f"Rate ({_term_label(term).lower()})",
                    f"{_plain(q.hourly_rate * _HUNDRED)} % per hour = "
                    f"<b>{_percent(q.hourly_rate * HOURS_PER_YEAR)} % a year</b> "
                    "<span style='color:#57606a'>(annualised: hourly × 24 × 365)</span>",
                )
            )
        if q.interest is not None:
            span = "per day while open" if term == "flexible" else f"over {term} days"
            rows.append(("Interest", f"≈ {_grouped(q.interest)} {loan.currency} {span}"))
        age = market.age()
        stale = age > self.cache_ttl
        price_parts = [
            f"{c} {_grouped(p)} USDT"
            for c, p in ((coll.currency, coll_price), (loan.currency, loan_price))
            if p is not None and c != "USDT"
        ]
        age_text = f"as of {_clock(market.fetched_at)} UTC ({_age(age)} ago)"
        if stale:
            age_text = f"<span style='color:#ef6c00'>{age_text}: stale, press Refresh</span>"
        rows.append(("Price used", " · ".join([*price_parts, age_text])))
        notes = list(q.warnings) + ([self._limits_note] if self._limits_note else [])
        if notes:
            rows.append(("Note", _muted("; ".join(notes))))
        body = "".join(
            f"<tr><td style='color:#57606a;padding:1px 12px 1px 0;white-space:nowrap;"
            f"vertical-align:top'>{html.escape(k)}</td><td style='padding:1px 0'>{v}</td></tr>"
            for k, v in rows
        )
        return (
            "<div style='background:#f6f8fa;border:1px solid #d0d7de;border-radius:6px;"
            "padding:6px 10px;margin:4px 0;font-size:12.5px;line-height:1.45'>"
            f"<table style='border-collapse:collapse'>{body}</table></div>"
        )

    def _update_button(self) -> None:
        q = self.quote
        request = q.request
        if self._sending:
            return
        if request is None:
            self.borrow_button.description = "Borrow"
        elif request.loan_amount is not None:
            self.borrow_button.description = (
                f"Borrow {_grouped(request.loan_amount)} {request.loan_currency}"
            )
        else:
            assert request.collateral_amount is not None
            self.borrow_button.description = (
                f"Borrow ≈ {_grouped(q.loan_amount)} {request.loan_currency}"
                if q.loan_amount is not None
                else f"Borrow {request.loan_currency}"
            )
        if self.network == "mainnet" and request is not None:
            self.borrow_button.description += " on MAINNET…"
        self.borrow_button.tooltip = (
            "; ".join(q.problems) if q.problems else self._hold or "Send this order"
        )
        self.borrow_button.disabled = (
            request is None or bool(self._hold) or self._armed is not None
        )

    def _update_status(self) -> None:
        if self._market is None:
            return
        q = self.quote
        if q.driver is None and q.problems == ("enter a loan amount or a collateral amount",):
            self._set_status("idle", "Enter an amount to borrow, or collateral to pledge.")
        elif q.problems:
            self._set_status(f"invalid: {q.problems[0]}", q.problems[0], colour="#c62828")
        else:
            assert q.request is not None
            self._set_status("ready", f"Ready: {self._describe(q.request)}")

    def _set_status(self, status: str, text: str, colour: str = "#57606a", extra: str = "") -> None:
        self.status = status
        self.status_html.value = (
            f"<div style='color:{colour};line-height:1.35'>{html.escape(text)}{extra}</div>"
        )

    # -- sending -------------------------------------------------------------------------

    @property
    def sending(self) -> bool:
        """True while an order is on its way."""
        return self._sending

    @_reported
    def _on_borrow(self, _button: Any = None) -> None:
        if not self._click_lock.acquire(blocking=False):
            self._ignored("an order is being sent")
            return
        try:
            if self._sending or self._armed is not None:
                self._ignored(
                    "an order is being sent" if self._sending else "confirm or cancel first"
                )
                return
            since = time.monotonic() - self._answered_at
            if since < self.rearm_after:
                self._ignored(f"it came {since:.2f} s after the last answer (double-click guard)")
                return
            request = self._ready_request()
            if request is None:
                return
            if self.network == "mainnet":
                self._arm(request)
                return
            self._submit(request)
        finally:
            self._click_lock.release()

    @_reported
    def _on_confirm(self, _button: Any = None) -> None:
        if not self._click_lock.acquire(blocking=False):
            self._ignored("an order is being sent")
            return
        try:
            armed, self._armed = self._armed, None
            self._show_confirm(None)
            if armed is None or self._sending:
                self._ignored("nothing is waiting for confirmation")
                return
            request, armed_at = armed
            if time.monotonic() - armed_at > self.confirm_window:
                self._set_status(
                    "invalid: the confirmation expired",
                    "The confirmation expired: press Borrow again.",
                    colour="#c62828",
                )
                self._update_button()
                return
            current = self._ready_request()
            if current != request:
                if current is not None:
                    self._set_status(
                        "invalid: the form changed after Borrow was pressed",
                        "The form changed: press Borrow again.",
                        colour="#c62828",
                    )
                self._update_button()
                return
            self._submit(request)
        finally:
            self._click_lock.release()

    @_reported
    def _on_cancel(self, _button: Any = None) -> None:
        if self._armed is None:
            return
        self._disarm()
        self._log("mainnet order cancelled: nothing was sent")
        self._update_button()
        self._update_status()

    def _ready_request(self) -> BorrowRequest | None:
        """The current form's request, or ``None`` with the reason in ``status``."""
        q = self._render()
        if self._hold:
            self._set_status(f"invalid: {self._hold}", self._hold, colour="#ef6c00")
            return None
        if q.request is None:
            self._update_status()
            return None
        return q.request

    def _describe(self, request: BorrowRequest) -> str:
        """``550 USDT against ≈ 0.01057693 BTC, 30 days``: the request with its estimate."""
        q = self.quote
        if request.loan_amount is not None:
            loan = f"{_grouped(request.loan_amount)} {request.loan_currency}"
        elif q.loan_amount is not None:
            loan = f"≈ {_grouped(q.loan_amount)} {request.loan_currency}"
        else:
            loan = request.loan_currency
        if request.collateral_amount is not None:
            coll = f"{_grouped(request.collateral_amount)} {request.collateral_currency}"
        elif q.collateral_amount is not None:
            coll = f"≈ {_grouped(q.collateral_amount)} {request.collateral_currency}"
        else:
            coll = request.collateral_currency
        term = "flexible" if request.term == "flexible" else f"{request.term} days"
        return f"{loan} against {coll}, {term}"

    def _arm(self, request: BorrowRequest) -> None:
        self._armed = (request, time.monotonic())
        text = f"borrow {self._describe(request)}, on MAINNET with real funds?"
        self._show_confirm(request)
        self._update_button()
        self._set_status(
            f"confirm: {text}",
            f"Confirm: {text} Press Confirm to send it once, or Cancel.",
            colour="#c62828",
        )

    def _disarm(self) -> None:
        if self._armed is not None:
            self._armed = None
            self._show_confirm(None)

    def _show_confirm(self, request: BorrowRequest | None) -> None:
        if request is None:
            self.confirm_button.layout.display = "none"
            self.cancel_button.layout.display = "none"
            return
        if request.loan_amount is not None:
            what = f"{_grouped(request.loan_amount)} {request.loan_currency}"
        else:
            assert request.collateral_amount is not None
            estimate = self.quote.loan_amount
            what = (
                (f"≈ {_grouped(estimate)} " if estimate is not None else "")
                + f"{request.loan_currency} against "
                f"{_grouped(request.collateral_amount)} {request.collateral_currency}"
            )
        self.confirm_button.description = f"Confirm: borrow {what} on MAINNET"
        self.confirm_button.tooltip = f"Sends {request.describe()} to Bybit mainnet, once"
        self.confirm_button.layout.display = ""
        self.cancel_button.layout.display = ""

    def _submit(self, request: BorrowRequest) -> None:
        """Send once, synchronously; the outcome lands in the traits, the status and the log."""
        self._sending = True
        self._set_inputs_disabled(True)
        self.refresh_button.disabled = True
        self.borrow_button.disabled = True
        self.borrow_button.description = "Sending…"
        self.borrow_button.icon = "spinner spin"
        timeout = self._client.settings.timeout
        self._set_status(
            "sending",
            f"Sending {self._describe(request)} to {self.network}… (up to {timeout:g} s)",
            colour="#1565c0",
        )
        try:
            result = self._client.borrow(request=request, source=self.source)
        except ExchangeError as error:
            self._rejected(request, error)
        except OutcomeUnknown as error:
            self._unknown(request, error)
        except ValidationError as error:
            self._set_status(f"invalid: {error}", str(error), colour="#c62828")
            self._log(f"not sent: {error}")
        except LoanWidgetsError as error:
            message = " ".join(str(error).split())
            self._set_status(f"error: {message}", message, colour="#c62828")
            self._log(f"{request.describe()}: error: {message}")
        except Exception as error:  # shown, with its traceback, in the widget
            self._crashed("borrow", error)
        else:
            self._accepted(result)
        finally:
            self._sending = False
            self._answered_at = time.monotonic()
            self.borrow_button.icon = ""
            self._set_inputs_disabled(False)
            self.refresh_button.disabled = False
            self._refresh_orders()
            self._render()

    def _accepted(self, result: BorrowResult) -> None:
        self.last_order_id = result.order_id
        text = (
            f"Accepted: order {result.order_id}: {result.request.describe()} "
            f"({result.latency_ms:.0f} ms)"
        )
        self._set_status(f"accepted: {result.order_id}", text, colour="#2e7d32")
        self._log(
            f"accepted: order {result.order_id}: {result.request.describe()} on {result.network}"
        )

    def _rejected(self, request: BorrowRequest, error: ExchangeError) -> None:
        hint = f" ({error.hint})" if error.hint else ""
        self._set_status(
            f"rejected: {error.ret_code} {error.ret_msg}",
            f"Rejected by the exchange: retCode {error.ret_code}: {error.ret_msg}{hint}",
            colour="#c62828",
        )
        self._log(
            f"rejected: {request.describe()}: retCode {error.ret_code}: {error.ret_msg}{hint}"
        )

    def _unknown(self, request: BorrowRequest, error: OutcomeUnknown) -> None:
        message = " ".join(str(error).split())
        self._hold = (
            "the last order's outcome is unknown: check the exchange's open loans before "
            "sending again; change the form to re-enable Borrow"
        )
        self._set_status(
            f"unknown: {message}",
            f"Outcome unknown: {message}. Borrow is locked until you change the form.",
            colour="#ef6c00",
        )
        self._log(f"UNKNOWN outcome: {request.describe()}: {message}")

    def _set_inputs_disabled(self, disabled: bool) -> None:
        for w in (self.loan_amount, self.collateral_amount, self.loan_coin, self.collateral_coin):
            w.disabled = disabled
        if disabled:
            for button in self.term.buttons.values():
                button.disabled = True
        # Re-enabling the terms is _render's job (only the offered ones).

    def _ignored(self, why: str) -> None:
        self.ignored_clicks += 1
        self._log(f"ignored a click: {why}")

    def _crashed(self, where: str, error: BaseException) -> None:
        message = f"{type(error).__name__}: {error}"
        self.status = f"error: {message}"
        self.status_html.value = (
            f"<span style='color:#c62828'>Internal error in {html.escape(where)}: "
            f"{html.escape(message)} (details below)</span>"
        )
        self.output.append_stdout("".join(traceback.format_exception(error)))

    def _log(self, line: str) -> None:
        stamp = datetime.now(timezone.utc).strftime("%H:%M:%S")
        self.output.append_stdout(f"{stamp} UTC  {line}\n")

    # -- public API ----------------------------------------------------------------------

    def prefill(self, request: BorrowRequest) -> BorrowWidget:
        """Fill the form from ``request`` (what ``%borrow --widget USDT 550 BTC`` does).

        The loan amount drives when the request has one, else the collateral
        amount. Nothing is sent. Before the coin data has loaded, the request
        is kept and applied after a successful retry.
        """
        if self._market is None:
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
            self.term.value = request.term
            if request.loan_amount is not None:
                self._driver = "loan"
                self.loan_amount.value = _plain(request.loan_amount)
                self.collateral_amount.value = ""
            elif request.collateral_amount is not None:
                self._driver = "collateral"
                self.collateral_amount.value = _plain(request.collateral_amount)
                self.loan_amount.value = ""
        self._fetch_limits()
        self._after_change()
        if problems:
            self._set_status(f"invalid: {problems[0]}", "; ".join(problems), colour="#c62828")
        return self

    def refresh(self) -> bool:
        """Refetch coin data, prices and account limits now; ``False`` if that failed."""
        return self._load()

    def _refresh_orders(self) -> None:
        try:
            rows = self._client.ledger.rows(limit=ORDERS_SHOWN)
        except Exception as error:  # the form works without the table
            self.orders_html.value = _muted(f"ledger unavailable: {html.escape(str(error))}")
            return
        self.orders_html.value = _orders_table(rows)


# --------------------------------------------------------------------------- helpers


def _pick(options: list[str], current: str | None, default: str) -> str | None:
    for choice in (current, default):
        if choice in options:
            return choice
    return options[0] if options else None


def _money(value: Decimal) -> str:
    """USDT value with two decimals and thousands separators."""
    return format(value.quantize(_CENT, rounding=ROUND_HALF_UP), ",f")


def _clock(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%H:%M:%S")


def _age(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min"


def _muted(text: str) -> str:
    return (
        f"<div style='color:#57606a;font-size:12px;line-height:1.35'>{html.escape(text)}</div>"
    )


def _bad(text: str) -> str:
    return (
        "<div style='color:#c62828;font-size:12px;line-height:1.35'>"
        f"⚠ {html.escape(text)}</div>"
    )


def _estimate(text: str) -> str:
    return (
        "<div style='font-size:12px;line-height:1.35'><span style='background:#fff3cd;"
        "color:#7a5d00;border-radius:3px;padding:0 4px'>≈ estimate</span> "
        f"<span style='color:#57606a'>{html.escape(text)}</span></div>"
    )


def _orders_table(rows: list[LedgerRow]) -> str:
    if not rows:
        return _muted("No orders yet. Orders sent here, by %borrow or LoanClient show up here.")
    head = "".join(
        f"<th style='text-align:left;padding:2px 8px;border-bottom:1px solid #d0d7de'>{h}</th>"
        for h in ("#", "time (UTC)", "network", "source", "loan", "collateral", "term",
                  "status", "order id / message")
    )
    body = []
    for row in reversed(rows):
        when = datetime.fromtimestamp(row.submitted_at_ms / 1000, tz=timezone.utc)
        loan = (
            f"{_plain(row.loan_amount)} {row.loan_currency}"
            if row.loan_amount is not None
            else f"{row.loan_currency}"
        )
        coll = (
            f"{_plain(row.collateral_amount)} {row.collateral_currency}"
            if row.collateral_amount is not None
            else f"{row.collateral_currency}"
        )
        term = "flexible" if row.term in (None, "flexible") else f"{row.term} d"
        detail = row.order_id or (
            f"{row.ret_code} {row.ret_msg}" if row.ret_code else row.ret_msg or ""
        )
        colour = STATUS_COLOURS.get(row.status, "#24292f")
        cells = (
            str(row.id), f"{when:%Y-%m-%d %H:%M:%S}", row.network, row.source, loan, coll,
            term, f"<b style='color:{colour}'>{html.escape(row.status)}</b>",
            html.escape(detail[:80]),
        )
        body.append(
            "<tr>"
            + "".join(
                f"<td style='padding:1px 8px'>{c if i in (7, 8) else html.escape(c)}</td>"
                for i, c in enumerate(cells)
            )
            + "</tr>"
        )
    return (
        "<div style='font-size:12px;line-height:1.5;margin-top:4px'><b>Recent orders</b> "
        "<span style='color:#57606a'>(ledger, newest first)</span>"
        f"<table class='lw-orders-table' style='border-collapse:collapse;margin-top:2px'>"
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
    )
