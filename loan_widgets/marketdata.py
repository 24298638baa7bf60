"""Market data for quotes: coin tables, prices and account limits, fetched and kept a while.

The one place a form's data comes from the exchange. :class:`MarketDataCache`
asks a :class:`~loan_widgets.client.LoanClient` for

* the coin tables and spot prices: three public GETs (``loanable-data``,
  ``collateral-data``, ``tickers``), parsed by
  :meth:`loan_widgets.quote.MarketData.from_wire`;
* this account's limits for one coin pair (``borrowable-collateralisable-number``,
  signed), which move with the account's balances;

and keeps each for :attr:`MarketDataCache.ttl` seconds, so that a quote, pure
arithmetic in :mod:`loan_widgets.quote`, never waits for the network. The
clock is injected (``clock=``) so that expiry is tested without sleeping.

UI-free: no IPython, no ipywidgets.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

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
        """Drop every kept limit: balances changed (an order was sent), read them again."""
        self._limits.clear()
