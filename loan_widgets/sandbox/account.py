"""The sandbox account: one Funding wallet, prices, a clock, and two symmetric books.

:class:`Sandbox` composes the front door (:class:`~loan_widgets.sandbox.gateway.Gateway`:
routing, auth, limits, faults, envelopes) with the legacy book
(:class:`~loan_widgets.sandbox.legacy.LegacyBook`, ``/v5/crypto-loan/...``) and the
new API's pooled book (:class:`~loan_widgets.sandbox.new_api.NewApiBook`,
``sandbox.new_api``). Every registered key acts on the same account. All state changes
happen under :attr:`Sandbox.lock`; hold it to change state from a test while a server
runs.

* Ids: legacy ids are 19-digit strings, increasing, the same for the same ``seed``;
  ``next_ids`` (a deque) hands out queued ids first, legacy or new API alike
  (``sandbox.next_ids.extend(["1794267532472646144", ...])`` reproduces the docs).
* Time: :meth:`now_ms` is the clock plus :meth:`advance` offsets plus
  ``faults.skew_ms``; every request first processes the hour marks it passed.
* Prices move only through :meth:`set_price`, unless :meth:`set_price_walk` switches on
  a gentle random walk (deterministic for a seed: each step's moves depend only on the
  seed and the step's number, so replaying time gives the same prices).
* State: :meth:`save` / :meth:`load` write and read everything but the credentials, the
  faults and the request log (:mod:`loan_widgets.sandbox.state`); an account
  :meth:`attached <attach>` to a file saves after every state-changing request.
"""

from __future__ import annotations

import random
import secrets
import threading
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from ..clock import now_ms as wall_clock_ms
from . import market, state
from .faults import Faults
from .gateway import DEFAULT_RATE_LIMIT, IP_RATE_LIMIT, LOG_BYTES, Gateway, Reply, RequestLog
from .legacy import LEGACY_BORROW_DEPRECATED, LegacyBook, RiskEvent
from .market import DEMO_API_KEY, DEMO_API_SECRET
from .new_api import RATE_LIMITS, NewApiBook
from .routes import Route
from .wire import ById, exact

__all__ = ["LEGACY_BORROW_MODES", "Sandbox"]

FIRST_ORDER_ID = 1794267532472646144  # the docs' example orderId: ids start near it
LEGACY_BORROW_MODES = ("serve", "reject", "gone")
_LEGACY_BORROW_PATH = "/v5/crypto-loan/borrow"
WALK_MAX_STEPS = 50_000  # a longer jump in time replays only the last steps


class Sandbox:
    """A local exchange speaking Bybit's V5 crypto-loan API, legacy and new.

    Args:
        seed: makes ids reproducible; different seeds give different ids.
        clock: returns the server time in ms (default: the wall clock).
        credentials: ``{api_key: hmac_secret}``; ``None`` registers the demo key.
        rate_limit: UID requests per rolling second per key and path
            (``rate_limits[path]`` overrides it for one path).
        log_size, log_bytes: bounds of :attr:`requests` (entries, bytes).
        legacy_borrow: ``"serve"``, ``"reject"`` or ``"gone"``: how
            ``POST /v5/crypto-loan/borrow`` is answered (``"reject"``: refused after
            auth with ``legacy_borrow_error``; ``"gone"``: HTTP 404 like an unknown path).
        new_api_rate_limits: install the new API's documented UID limits (1/s writes,
            5/s reads) in :attr:`rate_limits`.
        ip_rate_limit: requests per 5 s of real time per client address (the docs'
            600), HTTP 403 past it; ``None`` switches it off.
    """

    def __init__(self, seed: int = 0, clock: Callable[[], int] | None = None,
                 credentials: Mapping[str, str] | None = None,
                 rate_limit: int = DEFAULT_RATE_LIMIT, log_size: int = 100_000,
                 legacy_borrow: str = "serve", new_api_rate_limits: bool = True,
                 ip_rate_limit: int | None = IP_RATE_LIMIT,
                 log_bytes: int = LOG_BYTES) -> None:
        if legacy_borrow not in LEGACY_BORROW_MODES:
            raise ValueError(f"legacy_borrow must be one of {', '.join(LEGACY_BORROW_MODES)}")
        self.lock = threading.RLock()
        self.seed = seed
        self._clock = clock or wall_clock_ms
        self.gateway = Gateway(self, rate_limit=rate_limit,
                               rate_limits=RATE_LIMITS if new_api_rate_limits else None,
                               ip_rate_limit=ip_rate_limit, log_size=log_size,
                               log_bytes=log_bytes)
        self.legacy_borrow = legacy_borrow
        """``"serve"``, ``"reject"`` or ``"gone"``: how the legacy Borrow is answered."""
        self.legacy_borrow_error: tuple[int, str] = (10017, LEGACY_BORROW_DEPRECATED)
        """(retCode, retMsg) of a legacy Borrow refused under ``"reject"``."""
        self.store: Path | None = None
        """The file this account saves itself to after each change (see :meth:`attach`)."""
        self._fresh_state(seed)
        for key, secret in ({DEMO_API_KEY: DEMO_API_SECRET} if credentials is None
                            else credentials).items():
            self.add_credentials(key, secret)

    def _fresh_state(self, seed: int) -> None:
        self.identity = f"sbx-{uuid.uuid4().hex[:16]}"
        """A name for this exchange's history; a reset starts a new one."""
        self._rng = random.Random(seed)
        self._next_id = FIRST_ORDER_ID + self._rng.randrange(1 << 40)
        self._offset_ms = 0
        self.prices: dict[str, Decimal] = dict(market.PRICES)
        self.wallet: dict[str, Decimal] = dict(market.STARTING_BALANCES)
        """The Funding wallet: coin -> balance."""
        self.next_ids: deque[str] = deque()
        """Ids to hand out before the seeded generators (legacy and new API alike)."""
        self.margin_calls: list[RiskEvent] = []
        """Every margin call, oldest first (legacy loans and the new-API account)."""
        self.liquidations: list[RiskEvent] = []
        """Every liquidation, oldest first (legacy loans and the new-API account)."""
        self.walk: dict[str, Any] | None = None
        self.legacy = LegacyBook(self)
        """The legacy book: loan orders with one collateral coin each."""
        self.new_api = NewApiBook(self, seed)
        """The Crypto Loan (New) book: pooled collateral, flexible and fixed loans."""

    # -- the front door, forwarded ---------------------------------------------------

    @property
    def faults(self) -> Faults:
        """The fault knobs (:mod:`loan_widgets.sandbox.faults`)."""
        return self.gateway.faults

    @property
    def requests(self) -> RequestLog:
        """Every request received, oldest first, bounded by bytes."""
        return self.gateway.requests

    @property
    def rate_limits(self) -> dict[str, int]:
        """Per-path overrides of ``rate_limit``; ``.clear()`` relaxes the documented ones."""
        return self.gateway.rate_limits

    @property
    def rate_limit(self) -> int:
        """UID requests per rolling second per key and path."""
        return self.gateway.rate_limit

    @rate_limit.setter
    def rate_limit(self, value: int) -> None:
        self.gateway.rate_limit = value

    @property
    def ip_rate_limit(self) -> int | None:
        """Requests per 5 s per client address (HTTP 403 past it); None: off."""
        return self.gateway.ip_rate_limit

    @ip_rate_limit.setter
    def ip_rate_limit(self, value: int | None) -> None:
        self.gateway.ip_rate_limit = value

    def add_credentials(self, api_key: str, secret: str | None = None,
                        public_key_pem: bytes | str | None = None) -> None:
        """Register an API key with its HMAC ``secret`` or its RSA ``public_key_pem``."""
        self.gateway.add_credentials(api_key, secret, public_key_pem)

    def remove_credentials(self, api_key: str) -> None:
        """Forget an API key: its requests get retCode 10003 from now on."""
        self.gateway.remove_credentials(api_key)

    def handle(self, method: str, path: str, query: str, headers: Mapping[str, str],
               body: bytes, *, peer: str = "local", counted: bool = False) -> Reply:
        """Answer one HTTP request (see :meth:`Gateway.handle`)."""
        return self.gateway.handle(method, path, query, headers, body, peer=peer,
                                   counted=counted)

    def count(self, path: str | None = None, method: str | None = None) -> int:
        """How many logged requests match ``path`` and ``method`` (None: any)."""
        return self.gateway.count(path, method)

    def serves(self, route: Route) -> bool:
        """Whether ``route`` is served now (the legacy Borrow may be ``"gone"``)."""
        return not (route.endpoint.path == _LEGACY_BORROW_PATH and self.legacy_borrow == "gone")

    @property
    def legacy_borrow_refusal(self) -> tuple[int, str] | None:
        """(retCode, retMsg) refusing the legacy Borrow, or None while it is served."""
        return self.legacy_borrow_error if self.legacy_borrow == "reject" else None

    # -- the legacy book, forwarded ----------------------------------------------------

    @property
    def orders(self) -> ById:
        """Ongoing legacy loans by orderId."""
        return self.legacy.orders

    @property
    def completed(self) -> ById:
        """Fully repaid legacy loans by orderId."""
        return self.legacy.completed

    @property
    def repayments(self) -> list[dict[str, Any]]:
        """Legacy ``repayment-history`` rows, oldest first."""
        return self.legacy.repayments

    @property
    def adjustments(self) -> list[dict[str, Any]]:
        """Legacy ``adjustment-history`` rows, oldest first."""
        return self.legacy.adjustments

    @property
    def loan_coins(self) -> dict[str, market.LoanCoin]:
        """Legacy borrowable coins."""
        return self.legacy.loan_coins

    @property
    def collateral_coins(self) -> dict[str, market.CollateralCoin]:
        """Collateral coins (their accuracy and limits serve both books)."""
        return self.legacy.collateral_coins

    def _pledged(self, coin: str) -> Decimal:
        return self.legacy.pledged(coin)

    # -- configuration -------------------------------------------------------------------

    def set_price(self, coin: str, price: Decimal | str) -> None:
        """Set a spot price in USDT (a Decimal or decimal string, never a float).

        Every open loan is re-evaluated at once: liquidated at or above its
        liquidation LTV, flagged at or above its margin-call LTV.
        """
        value = self._positive(price, "price")
        with self.lock, exact():
            now = self.now_ms()
            self.catch_up(now)
            self.prices[coin] = value
            self.legacy.price_moved(coin, now)
            self.new_api.evaluate(now)
            self.persist()

    def set_flexible_rate(self, coin: str, hourly_rate: Decimal | str) -> None:
        """Change a coin's flexible hourly rate, legacy and new API alike (hours
        already elapsed are charged at the old rate; the new API's annual rate follows)."""
        value = self._positive(hourly_rate, "rate")
        with self.lock, exact():
            now = self.now_ms()
            self.catch_up(now)
            self.legacy.set_flexible_rate(coin, value, now)
            self.new_api.set_flexible_rate(coin, value, now)
            self.persist()

    def set_balance(self, coin: str, amount: Decimal | str) -> None:
        """Set a Funding-wallet balance (a Decimal or decimal string, never a float)."""
        value = Decimal(amount) if isinstance(amount, str) else amount
        if not isinstance(value, Decimal) or not value.is_finite() or value < 0:
            raise TypeError("a balance is a non-negative Decimal or decimal string")
        with self.lock:
            self.wallet[coin] = value
            self.persist()

    def set_price_walk(self, enabled: bool = True, *, seed: int | None = None,
                       step_ms: int = 300_000, volatility: Decimal | str = "0.001") -> None:
        """Let prices drift: every ``step_ms`` of server time each coin but the stablecoins
        (USDT, USDC) moves by a
        random fraction with deviation ``volatility`` (at most 5 % a step), the same for the
        same ``seed`` and step (Decimal arithmetic throughout)."""
        with self.lock, exact():
            now = self.now_ms()
            self.catch_up(now)
            if not enabled:
                self.walk = None
            else:
                if step_ms < 1000:
                    raise ValueError("step_ms must be at least 1000")
                self.walk = {"seed": self.seed if seed is None else seed, "step_ms": step_ms,
                             "volatility": Decimal(volatility), "step": now // step_ms}
            self.persist()

    @staticmethod
    def _positive(value: Decimal | str, what: str) -> Decimal:
        number = Decimal(value) if isinstance(value, str) else value
        if not isinstance(number, Decimal) or not number.is_finite() or number <= 0:
            raise TypeError(f"a {what} is a positive Decimal or decimal string, not {value!r}")
        return number

    # -- time, ids -------------------------------------------------------------------------

    def now_ms(self) -> int:
        """Server time in ms: the clock, plus :meth:`advance` offsets, plus ``faults.skew_ms``."""
        return self._clock() + self._offset_ms + self.faults.skew_ms

    def advance(self, ms: int) -> None:
        """Move server time forward by ``ms``: interest accrues, loans fall due, and
        loans whose LTV crosses a level are flagged or liquidated at once."""
        if not isinstance(ms, int) or ms < 0:
            raise ValueError("advance() takes a non-negative whole number of ms")
        with self.lock, exact():
            self._offset_ms += ms
            self.catch_up(self.now_ms())
            self.persist()

    def catch_up(self, now: int) -> None:
        """Process everything due by ``now``: price steps, hour marks, maturities."""
        if self.walk is not None:
            self._walk_to(now)
        self.legacy.catch_up(now)
        self.new_api.catch_up(now)

    def _walk_to(self, now: int) -> None:
        walk = self.walk
        assert walk is not None
        step_ms, last = walk["step_ms"], walk["step"]
        target = now // step_ms
        first = max(last + 1, target - WALK_MAX_STEPS + 1)
        for step in range(first, target + 1):
            rng = random.Random(f"{walk['seed']}:{step}")
            at = step * step_ms
            self.legacy.catch_up(at)
            self.new_api.catch_up(at)
            for coin in sorted(self.prices):
                if coin in market.STABLECOINS:
                    continue
                # uniform on [-sqrt(3), sqrt(3)] x volatility: mean 0, deviation volatility
                move = walk["volatility"] * Decimal(rng.randint(-1732, 1732)) / 1000
                move = max(Decimal("-0.05"), min(Decimal("0.05"), move))
                tick = market.TICK_SIZES.get(coin, Decimal("0.0001"))
                price = (self.prices[coin] * (1 + move)).quantize(tick)
                self.prices[coin] = max(price, tick)
                self.legacy.price_moved(coin, at)
            self.new_api.evaluate(at)
        walk["step"] = max(last, target)

    def new_id(self) -> str:
        """The next legacy id: a queued ``next_ids`` entry, else the seeded sequence."""
        if self.next_ids:
            return self.next_ids.popleft()
        self._next_id += self._rng.randrange(1 << 16, 1 << 24)
        return str(self._next_id)

    _new_id = new_id

    # -- state -------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """What this exchange holds: identity, clock, balances, prices and book sizes."""
        with self.lock:
            now = self.now_ms()
            new = self.new_api
            return {
                "identity": self.identity, "seed": self.seed, "server_time": now,
                "offset_ms": self._offset_ms,
                "wallet": {c: str(v) for c, v in sorted(self.wallet.items())},
                "prices": {c: str(v) for c, v in sorted(self.prices.items())},
                "price_walk": self.walk is not None,
                "legacy_open": len(self.legacy.orders),
                "legacy_closed": len(self.legacy.completed),
                "flexible_coins": sorted(new.flexible),
                "fixed_open": len(new.open), "fixed_waiting": len(new.pending),
                "supply_contracts": len(new.supply_contracts),
                "requests_logged": len(self.requests),
                "store": str(self.store) if self.store else None,
            }

    def reset(self, new_seed: bool = False) -> None:
        """Forget every loan, balance change, price change and time offset.

        The credentials stay; :attr:`identity` is new, since the history is a new one.
        ``new_seed`` also draws a new seed, so that no id of the old history comes again.
        """
        with self.lock:
            if new_seed:
                self.seed = secrets.randbelow(1 << 31)
            self._fresh_state(self.seed)
            self.requests.clear()
            self.faults.clear()
            self.persist()

    def attach(self, path: Path) -> Sandbox:
        """Load the state in ``path`` if there is one, then save to it after each change."""
        with self.lock:
            if path.exists():
                self.load(path)
            self.store = path
            self.persist()
        return self

    def persist(self) -> None:
        """Save to :attr:`store`, if attached (called after every change)."""
        if self.store is not None:
            self.save(self.store)

    def save(self, path: Path) -> None:
        """Write the state to ``path`` (atomically, owner-only)."""
        with self.lock:
            state.dump(path, self._state())

    def load(self, path: Path) -> None:
        """Replace the state with the one saved in ``path``."""
        data = state.load(path)
        with self.lock:
            self._restore(data)

    def _state(self) -> dict[str, Any]:
        return {
            "version": state.VERSION, "identity": self.identity, "seed": self.seed,
            "rng": self._rng.getstate(), "next_id": self._next_id, "offset_ms": self._offset_ms,
            "prices": self.prices, "wallet": self.wallet, "next_ids": list(self.next_ids),
            "margin_calls": self.margin_calls, "liquidations": self.liquidations,
            "walk": self.walk, "legacy_borrow": self.legacy_borrow,
            "legacy": state.fields(self.legacy, skip=("account",)),
            "new_api": state.fields(self.new_api, skip=("sandbox",)),
        }

    def _restore(self, data: Mapping[str, Any]) -> None:
        if data.get("version") != state.VERSION:
            raise ValueError(f"unknown sandbox state version {data.get('version')!r}")
        self.identity = data["identity"]
        self.seed = data["seed"]
        self._rng = random.Random()
        self._rng.setstate(data["rng"])
        self._next_id = data["next_id"]
        self._offset_ms = data["offset_ms"]
        self.prices, self.wallet = data["prices"], data["wallet"]
        self.next_ids = deque(data["next_ids"])
        self.margin_calls, self.liquidations = data["margin_calls"], data["liquidations"]
        self.walk = data["walk"]
        self.legacy_borrow = data["legacy_borrow"]
        self.legacy = LegacyBook(self)
        self.legacy.__dict__.update(data["legacy"])
        self.new_api = NewApiBook(self, self.seed)
        self.new_api.__dict__.update(data["new_api"])

    def __repr__(self) -> str:
        return (f"<Sandbox seed={self.seed} identity={self.identity[:8]} "
                f"legacy_open={len(self.legacy.orders)}>")
