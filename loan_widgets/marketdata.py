"""Market data for quotes: coin tables, prices and account limits, fetched and kept a while.

The one place a form's data comes from the exchange. :class:`MarketDataCache`
asks a :class:`~loan_widgets.client.LoanClient` for

* the coin tables and spot prices: three public GETs (``loanable-data``,
  ``collateral-data``, ``tickers``), parsed by
  :meth:`loan_widgets.quote.MarketData.from_wire`;
* this account's limits for one coin pair (``borrowable-collateralisable-number``,
  signed), which move with the account's balances;
* for the new loan API (:meth:`MarketDataCache.load_new` and on demand): its
  coin tables (``loanable-data``, ``collateral-data``, public), the fixed-rate
  market of one coin (``borrow-order-quote``, public) and the account's pool
  with ``max-loan`` of one coin (``position``, ``max-loan``, signed), parsed
  by :mod:`loan_widgets.new_market`;

and keeps each for :attr:`MarketDataCache.ttl` seconds, so that a quote, pure
arithmetic in :mod:`loan_widgets.quote`, never waits for the network. The
clock is injected (``clock=``) so that expiry is tested without sleeping.

UI-free: no IPython, no ipywidgets.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from .errors import LoanWidgetsError
from .new_market import NewMarket, Offer, PoolAccount, offers_from_wire
from .quote import Limits, MarketData

if TYPE_CHECKING:
    from .client import LoanClient

__all__ = ["DEFAULT_TTL_S", "MarketDataCache"]

DEFAULT_TTL_S = 30.0
"""Seconds coin data, prices and limits are reused."""


class MarketDataCache:
    """Coin data, prices and per-pair account limits of one client, each kept ``ttl`` seconds.

    Args:
        client: where the data comes from.
        ttl: seconds a fetch stays fresh.
        clock: epoch seconds now (default :func:`time.time`).
    """

    def __init__(
        self,
        client: LoanClient,
        *,
        ttl: float = DEFAULT_TTL_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.ttl = ttl
        self.clock = clock
        self.data: MarketData | None = None
        """The last coin tables and prices fetched (``None`` before the first success)."""
        self._limits: dict[tuple[str, str], Limits] = {}
        self.new: NewMarket | None = None
        """The new API's coin tables (``None`` until :meth:`load_new` succeeds)."""
        self._offers: dict[str, tuple[float, tuple[Offer, ...]]] = {}
        self._accounts: dict[str, PoolAccount] = {}

    def load(self) -> MarketData:
        """Fetch coin tables and prices now; on success they replace the kept ones.

        Forgets every kept limit too (they are read again on demand). Raises
        whatever the client raises; the kept data then stays as it was.
        """
        loan_items = self.client.loanable_data()
        collateral_items = self.client.collateral_data()
        prices = self.client.prices()
        self.data = MarketData.from_wire(loan_items, collateral_items, prices, self.clock())
        self._limits.clear()
        return self.data

    def age(self) -> float | None:
        """Seconds since the kept coin data was fetched (``None``: nothing fetched yet)."""
        return None if self.data is None else self.data.age(self.clock())

    @property
    def stale(self) -> bool:
        """True when the kept coin data is older than :attr:`ttl`."""
        age = self.age()
        return age is not None and age > self.ttl

    def cached_limits(self, loan_currency: str, collateral_currency: str) -> Limits | None:
        """The kept limits for a pair, fresh or not; never calls the network."""
        return self._limits.get((loan_currency, collateral_currency))

    def limits(self, loan_currency: str, collateral_currency: str) -> Limits:
        """This account's limits for a pair: kept ones while fresh, else one signed GET.

        Raises what the client raises (a missing key, the exchange's refusal).
        """
        pair = (loan_currency, collateral_currency)
        kept = self._limits.get(pair)
        now = self.clock()
        if kept is not None and now - kept.fetched_at < self.ttl:
            return kept
        fresh = Limits.from_wire(self.client.borrow_limits(*pair), now)
        self._limits[pair] = fresh
        return fresh

    def forget_limits(self) -> None:
        """Drop every kept limit, pool and market: an order was sent, read them again."""
        self._limits.clear()
        self._accounts.clear()
        self._offers.clear()

    # -- the new loan API ---------------------------------------------------------------

    def load_new(self) -> NewMarket:
        """Fetch the new API's coin tables now (two public GETs); they replace the kept ones.

        Forgets the kept pools and markets too. Raises what the client raises.
        """
        loan_items = self.client.new.loanable_data()
        collateral = self.client.new.collateral_data()
        self.new = NewMarket.from_wire(loan_items, collateral, self.clock())
        self._accounts.clear()
        self._offers.clear()
        return self.new

    def _fresh(self, fetched_at: float) -> bool:
        return self.clock() - fetched_at < self.ttl

    def cached_offers(self, coin: str) -> tuple[Offer, ...] | None:
        """The kept fixed-rate market of ``coin``, fresh or not; never calls the network."""
        kept = self._offers.get(coin)
        return None if kept is None else kept[1]

    def offers(self, coin: str) -> tuple[Offer, ...]:
        """Lenders' offers for ``coin``, every term (``borrow-order-quote``, one public GET)."""
        kept = self._offers.get(coin)
        if kept is not None and self._fresh(kept[0]):
            return kept[1]
        found = offers_from_wire(self.client.new.borrow_order_quote(coin, "apy", limit=100))
        self._offers[coin] = (self.clock(), found)
        return found

    def cached_account(self, loan_coin: str) -> PoolAccount | None:
        """The kept pool and ``max-loan`` of ``loan_coin``, fresh or not; no network."""
        return self._accounts.get(loan_coin)

    def account(self, loan_coin: str) -> PoolAccount:
        """The account's pool and what it may borrow of ``loan_coin`` (two signed reads).

        Needs :attr:`data` (its prices value the pool) and :attr:`new` (its bands).
        """
        kept = self._accounts.get(loan_coin)
        if kept is not None and self._fresh(kept.fetched_at):
            return kept
        if self.data is None or self.new is None:
            raise LoanWidgetsError("coin data is not loaded")
        position = self.client.new.position()
        most = self.client.new.max_loan(loan_coin)
        found = PoolAccount.from_wire(loan_coin, position, most, self.data.prices,
                                      self.new.tiers, self.clock())
        self._accounts[loan_coin] = found
        return found
