"""marketdata.py: coin data, prices and account limits fetched from the sandbox and kept a while.

Real HTTP to the test sandbox; the cache's clock is a plain counter the test moves, so expiry is
tested without sleeping.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from loan_widgets.client import LoanClient
from loan_widgets.errors import LoanWidgetsError
from loan_widgets.marketdata import MarketDataCache
from loan_widgets.sandbox import Sandbox

LIMITS = "/v5/crypto-loan/borrowable-collateralisable-number"
PUBLIC = ("/v5/crypto-loan/loanable-data", "/v5/crypto-loan/collateral-data", "/v5/market/tickers")


class SecondsClock:
    """Epoch seconds that move only when the test says so."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> SecondsClock:
    """A clock the test moves."""
    return SecondsClock()


@pytest.fixture
def cache(client: LoanClient, clock: SecondsClock) -> MarketDataCache:
    """A cache on the test sandbox, 30 s TTL."""
    return MarketDataCache(client, ttl=30.0, clock=clock)


def gets(exchange: Sandbox, path: str) -> int:
    """GETs to ``path`` the sandbox answered."""
    return sum(1 for r in exchange.requests if r.method == "GET" and r.path == path)


class TestCoinData:
    """load() fetches coin tables and prices; stale and age follow the injected clock."""

    def test_load_reads_three_public_endpoints(
        self, cache: MarketDataCache, exchange: Sandbox, clock: SecondsClock
    ) -> None:
        """loanable-data, collateral-data and tickers, once each, with no key."""
        assert cache.data is None and cache.age() is None and not cache.stale
        data = cache.load()
        for path in PUBLIC:
            (request,) = [r for r in exchange.requests if r.path == path]
            assert not any(k.lower().startswith("x-bapi") for k in request.headers)
        assert data is cache.data and data.fetched_at == clock.now
        assert data.prices["BTC"] == Decimal(65000) and data.prices["USDT"] == Decimal(1)
        assert data.loan_coins["USDT"].min_amount == Decimal(20)
        assert data.collateral_coins["BTC"].initial_ltv == Decimal("0.8")

    def test_staleness_follows_the_ttl(self, cache: MarketDataCache, clock: SecondsClock) -> None:
        """Fresh for ttl seconds, then stale; age is measured on the injected clock."""
        cache.load()
        clock.now += 30
        assert cache.age() == 30 and not cache.stale
        clock.now += 0.5
        assert cache.stale

    def test_failed_load_keeps_the_last_data(
        self, cache: MarketDataCache, exchange: Sandbox
    ) -> None:
        """A refresh that fails raises and leaves the kept data as it was."""
        first = cache.load()
        exchange.faults.inject("/v5/market/tickers", "http", status=502, times=3)
        with pytest.raises(LoanWidgetsError, match="HTTP 502"):
            cache.load()
        assert cache.data is first

    def test_prices_move_only_on_load(self, cache: MarketDataCache, exchange: Sandbox) -> None:
        """A new price at the exchange is seen after the next load, not before."""
        cache.load()
        exchange.set_price("BTC", "60000")
        assert cache.data.prices["BTC"] == Decimal(65000)
        assert cache.load().prices["BTC"] == Decimal(60000)


class TestLimits:
    """Account limits per pair: one signed GET, kept for ttl, dropped on demand."""

    def test_limits_are_kept_for_the_ttl(
        self, cache: MarketDataCache, exchange: Sandbox, clock: SecondsClock
    ) -> None:
        """Two reads within the TTL cost one GET; after it, another."""
        assert cache.cached_limits("USDT", "BTC") is None
        first = cache.limits("USDT", "BTC")
        assert cache.limits("USDT", "BTC") is first and gets(exchange, LIMITS) == 1
        assert (first.max_collateral, first.max_loan) == (Decimal(10), Decimal(520000))
        assert cache.cached_limits("USDT", "BTC") is first
        clock.now += 31
        assert cache.limits("USDT", "BTC") is not first and gets(exchange, LIMITS) == 2

    def test_forget_limits_reads_balances_again(
        self, cache: MarketDataCache, exchange: Sandbox, client: LoanClient
    ) -> None:
        """After a borrow the kept limits are stale; forgetting them shows the new balance."""
        cache.limits("USDT", "BTC")
        client.borrow("USDT", "550", "BTC")
        assert cache.limits("USDT", "BTC").max_collateral == Decimal(10)  # kept
        cache.forget_limits()
        assert cache.cached_limits("USDT", "BTC") is None
        assert cache.limits("USDT", "BTC").max_collateral == Decimal("9.98942307")

    def test_load_forgets_limits(self, cache: MarketDataCache, exchange: Sandbox) -> None:
        """Fresh coin data comes with fresh limits."""
        cache.load()
        cache.limits("USDT", "BTC")
        cache.load()
        assert cache.cached_limits("USDT", "BTC") is None

    def test_refusal_is_raised(self, cache: MarketDataCache) -> None:
        """The exchange refuses a pair of one coin: its error is raised, nothing is kept."""
        with pytest.raises(LoanWidgetsError, match="177019"):
            cache.limits("USDT", "USDT")
        assert cache.cached_limits("USDT", "USDT") is None


NEW_PUBLIC = ("/v5/crypto-loan-common/loanable-data", "/v5/crypto-loan-common/collateral-data")
QUOTE = "/v5/crypto-loan-fixed/borrow-order-quote"
POSITION = "/v5/crypto-loan-common/position"
MAX_LOAN = "/v5/crypto-loan-common/max-loan"


def posts_to(exchange: Sandbox, path: str) -> int:
    """POSTs to ``path`` the sandbox answered (max-loan is a POST that only reads)."""
    return sum(1 for r in exchange.requests if r.method == "POST" and r.path == path)


class TestNewApiData:
    """The new API's tables, market and pool: fetched on demand, kept for the TTL."""

    def test_load_new_reads_two_public_endpoints(
        self, cache: MarketDataCache, exchange: Sandbox
    ) -> None:
        """The new loanable-data and collateral-data, once each, with no key."""
        assert cache.new is None
        new = cache.load_new()
        for path in NEW_PUBLIC:
            (request,) = [r for r in exchange.requests if r.path == path]
            assert not any(k.lower().startswith("x-bapi") for k in request.headers)
        assert new.loan_coins["USDT"].min_fixed == Decimal(100)
        assert [t.ratio for t in new.tiers["BTC"]] == [Decimal(1), Decimal("0.95"), Decimal("0.9")]

    def test_offers_are_kept_for_the_ttl(
        self, cache: MarketDataCache, exchange: Sandbox, clock: SecondsClock
    ) -> None:
        """One public GET per coin while fresh; another once older than the TTL."""
        assert cache.cached_offers("USDT") is None
        offers = cache.offers("USDT")
        assert cache.offers("USDT") is offers and cache.cached_offers("USDT") is offers
        assert gets(exchange, QUOTE) == 1
        clock.now += 31
        cache.offers("USDT")
        assert gets(exchange, QUOTE) == 2
        assert {o.term for o in offers} == {"7", "14", "30", "60", "90"}

    def test_account_reads_position_and_max_loan(
        self, cache: MarketDataCache, exchange: Sandbox, client: LoanClient, clock: SecondsClock
    ) -> None:
        """Signed position and max-loan, kept for the TTL and forgotten after an order."""
        with pytest.raises(LoanWidgetsError, match="coin data is not loaded"):
            cache.account("USDT")
        cache.load()
        cache.load_new()
        empty = cache.account("USDT")
        assert empty.pool is None and empty.max_loan == 0 and empty.quota == Decimal(8000000)
        assert cache.account("USDT") is empty
        assert (gets(exchange, POSITION), posts_to(exchange, MAX_LOAN)) == (1, 1)
        client.borrow("USDT", "550", "BTC", collateral_amount="0.02", api="new")
        assert cache.cached_account("USDT") is empty  # kept until told
        cache.forget_limits()
        after = cache.account("USDT")
        assert after.ltv == Decimal("0.423077") and after.max_loan == Decimal(490)
        assert after.pool is not None and dict(after.pool.collateral) == {"BTC": Decimal("0.02")}
        assert (gets(exchange, POSITION), posts_to(exchange, MAX_LOAN)) == (2, 2)
