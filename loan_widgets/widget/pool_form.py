"""The new loan API's side of the BorrowWidget's form: its data, its quote, its preview.

With the API switch on *New API* the form borrows against the account's
pooled collateral: flexible, or a fixed term at the annual rate offered. What
it shows comes from the exchange's data, fetched by
:class:`~loan_widgets.marketdata.MarketDataCache` when the widget loads, on
Refresh, on a loan-coin change and after every submit, never while typing:

* the new ``loanable-data``: which terms the coin offers (flexible, fixed),
  the minimum per kind, the maximum and the decimal places;
* the new ``collateral-data``: which coins the pool accepts and their bands;
* ``borrow-order-quote``: the rate at which the amount fills now (the *Use*
  button puts it in the rate field);
* ``position`` and ``max-loan`` (signed): the pool's LTV before and after the
  borrow, what the account can borrow now and with the pledge.

The arithmetic is :func:`loan_widgets.pool_quote.new_quote`; the HTML
:mod:`loan_widgets.widget.render_pool`. The loan amount is required; the
pledge is optional (blank: the exchange sizes it when the order is sent, and
the form shows the estimate).
"""

from __future__ import annotations

from typing import Any

from ..errors import LoanWidgetsError
from ..new_market import NewLoanCoin
from ..numbers import trimmed
from ..pool_quote import PoolQuote, new_quote
from ..quote import Quote
from ..terms import FLEXIBLE
from . import render, render_pool
from .common import one_line, reported

__all__ = ["PoolForm"]

DEFAULT_LOAN_COIN = "USDT"
DEFAULT_COLLATERAL_COIN = "BTC"


class PoolForm:
    """The new-API methods of :class:`~loan_widgets.widget.form.BorrowForm` (a mixin)."""

    _pool_note: str = ""
    quote: Quote
    """The last quote shown: the legacy form's, or the new API's :class:`PoolQuote`."""

    def _coin_options(self: Any) -> tuple[list[str], list[str]]:
        """(loan coins, collateral coins) of the chosen API, sorted."""
        if self.api == "new" and self.market.new is not None:
            new = self.market.new
            return sorted(new.loan_coins), sorted(new.tiers)
        data = self.market.data
        if data is None:
            return [], []
        return sorted(data.loan_coins), sorted(data.collateral_coins)

    def _set_coin_options(self: Any, first_load: bool = False) -> None:
        """The dropdowns list the chosen API's coins (the choice is kept when it is offered)."""
        loan_coins, collateral_coins = self._coin_options()
        with self._quietly():
            for dropdown, coins, default in (
                (self.loan_coin, loan_coins, DEFAULT_LOAN_COIN),
                (self.collateral_coin, collateral_coins, DEFAULT_COLLATERAL_COIN),
            ):
                if first_load or set(dropdown.options) != set(coins):
                    current = dropdown.value
                    dropdown.options = coins
                    dropdown.value = next(
                        (c for c in (current, default) if c in coins), coins[0] if coins else None
                    )

    def _switched_api(self: Any, api: str) -> None:
        """The switch moved: the new API's coin tables are loaded the first time it is chosen."""
        if api == "new" and self.market.new is None and self.market.data is not None:
            try:
                self.market.load_new()
            except Exception as error:  # shown; the switch stays where the user put it
                self._show_notice(render.notice_load_failed(one_line(error)), retry=True)
                self._log(f"could not load the new loan API's coin data: {one_line(error)}")
        self._set_coin_options()

    def _fetch_pool(self: Any) -> None:
        """The fixed-rate market of the loan coin, and with a key the pool and ``max-loan``."""
        self._pool_note = ""
        loan = self._pair()[0]
        if self.market.new is None or self.market.data is None or not loan:
            return
        notes = []
        coin = self.market.new.loan_coins.get(loan)
        if coin is not None and coin.fixed:
            try:
                self.market.offers(loan)
            except LoanWidgetsError as error:
                notes.append(f"the fixed-rate market is unavailable ({one_line(error)})")
        if not self._has_credentials:
            notes.append("the pool's LTV and what the account may borrow need an API key")
        elif coin is not None:
            try:
                self.market.account(loan)
            except Exception as error:  # shown beside the preview; the form keeps working
                notes.append(f"the pool could not be read ({one_line(error)})")
        self._pool_note = "; ".join(notes)

    def _render_new(self: Any) -> PoolQuote:
        """Quote and show the new-API form (the hot path: no network)."""
        data, new = self.market.data, self.market.new
        loan_code, coll_code = self._pair()
        term = self.term.value
        q = new_quote(
            new, data.prices if data is not None else {}, loan_code, coll_code, term,
            self.loan_amount.value, self.collateral_amount.value, self.annual_rate.value,
            account=self.market.cached_account(loan_code),
            offers=self.market.cached_offers(loan_code),
            collateral=data.collateral_coins.get(coll_code) if data is not None else None,
        )
        self.quote = q
        coin: NewLoanCoin | None = new.loan_coins.get(loan_code) if new is not None else None
        if coin is not None:
            self.term.set_offered(coin.currency, coin.terms, coin.annual_rates(), annual=True)
        elif new is None:
            self._set_inputs_disabled(True)
            self.api_switch.disabled = False  # back to the legacy API, whose data is there
        fixed = term != FLEXIBLE
        self._show_new_api_row(fixed)
        match = q.pool.match_rate
        self._show_use_rate(
            None if not fixed or match is None or match == q.offered_rate
            else f"Use {render.percent(match)} %"
        )
        self.rate_hint.value = render_pool.rate_hint(q, coin, term) if coin else ""
        if data is None or new is None or coin is None:
            self.loan_hint.value = self.collateral_hint.value = self.preview.value = ""
        else:
            self.loan_amount.placeholder, self.collateral_amount.placeholder = (
                render_pool.placeholders(q)
            )
            self.loan_hint.value = render_pool.loan_hint(q, coin, term)
            self.collateral_hint.value = render_pool.collateral_hint(q, coll_code or "")
            age = data.age(self.market.clock())
            self.preview.value = render_pool.preview(
                q, data.prices, coin, coll_code or "", term, fetched_at=data.fetched_at,
                age=age, stale=age > self.cache_ttl,
                notes=[self._pool_note] if self._pool_note else [],
            )
        self._update_buttons()
        return q

    @reported
    def _on_use_rate(self: Any, _button: Any = None) -> None:
        """Put the rate that fills the amount now into the rate field."""
        q = self.quote
        if isinstance(q, PoolQuote) and q.pool.match_rate is not None:
            self.annual_rate.value = trimmed(q.pool.match_rate)
