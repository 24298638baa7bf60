"""The sandbox exchange: state and rules of Bybit's legacy crypto-loan API, transport-free.

:class:`Sandbox` answers ``handle(method, path, query, headers, body)`` with a
:class:`Reply`, checking each request the way Bybit does:

1. route: unknown path -> HTTP 404, retCode 10017; wrong method -> HTTP 405, 10017;
2. rate limit per API key and path over a rolling second -> retCode 10006;
3. on signed endpoints, in this order: API key (10003), ``X-BAPI-SIGN-TYPE``
   absent or ``2`` (10001), timestamp rule
   ``server_time - recv_window <= timestamp < server_time + 1000`` (10002),
   signature over the raw bytes received (10004);
4. parameters and business rules (10001, 177xxx), then execution.

When ``X-BAPI-RECV-WINDOW`` is absent the window is 5000 ms and the string to
sign may hold either nothing or ``5000`` in its place; both are accepted.

There is one account: every registered key acts on the same Funding wallet
(:attr:`Sandbox.wallet`) and loans (:attr:`Sandbox.orders`). All state
changes happen under :attr:`Sandbox.lock`; hold it to change state from a
test while a server is running.

**Legacy loan lifecycle.**

* Interest accrues every whole hour after the borrow time, on the unpaid
  principal: a flexible loan at the coin's *current* flexible rate
  (:meth:`Sandbox.set_flexible_rate` settles the hours before a change at the
  old rate), a fixed loan at the rate locked when it was opened; past a fixed
  loan's due time it accrues as penalty interest at 3x the rate.
* A repayment settles **penalty interest first, then interest, then
  principal**. A partial repayment releases no collateral. The repayment
  that clears the debt returns all the collateral to the Funding wallet
  (``collateralReturn`` in ``repayment-history``) and moves the loan to
  ``borrow-history`` with ``status`` 1. More than the debt is 177010.
* Collateral can be reduced by at most ``max-collateral-amount``: what keeps
  the debt at or under ``initialLTV`` (177013 beyond it).
* LTV is ``debt x loan price / (collateral x collateral price)`` with debt =
  principal + interest + penalty. It is re-evaluated on every
  :meth:`Sandbox.set_price` and whenever server time passes one of the loan's
  hour marks (checked before each request and by :meth:`Sandbox.advance`):

  - at or above the collateral coin's ``liquidationLTV`` the loan is
    **liquidated**: just enough collateral (rounded up to
    ``collateralAccuracy``) is sold at the sandbox price to repay principal,
    interest and penalty in full (no fee), the rest goes back to the Funding
    wallet, the loan moves to ``borrow-history`` with ``status`` 2 and
    ``repayment-history`` gets a row with ``repayType`` ``"2"``;
  - at or above ``marginCallLTV`` nothing is sold, but the loan is flagged:
    ``Loan.margin_call`` is True and a :class:`RiskEvent` is appended to
    :attr:`Sandbox.margin_calls` (once per crossing: the flag clears when LTV
    falls back under the level);
  - a fixed loan still unpaid 48 h after its due time is liquidated the same
    way (the warning box of ``loanable-data``).

  Every liquidation is also appended to :attr:`Sandbox.liquidations`.
* ``Sandbox.next_ids`` (a deque) hands out queued ids before the seeded
  generator does: ``sandbox.next_ids.extend(["1794267532472646144", ...])``
  reproduces the docs' ids exactly. It applies to every id the sandbox makes,
  legacy or new API (new-API ids must be decimal digits).

**Legacy Borrow knob.** ``Sandbox(legacy_borrow=...)`` or the attribute
``sandbox.legacy_borrow``: ``"serve"`` (default) serves the historical
contract; ``"reject"`` authenticates ``POST /v5/crypto-loan/borrow`` as usual,
then refuses it without executing with ``sandbox.legacy_borrow_error``
(default retCode 10017, retMsg :data:`LEGACY_BORROW_DEPRECATED`, HTTP 200);
``"gone"`` answers it like an unknown path (HTTP 404, retCode 10017,
``route not found``) before any check.

**Crypto Loan (New)** lives in :mod:`loan_widgets.sandbox.new_api`
(``sandbox.new_api``); its routes share this dispatcher, auth, rate limits and
envelope. Its documented UID limits are installed in :attr:`Sandbox.rate_limits`
unless ``Sandbox(new_api_rate_limits=False)``.
"""

from __future__ import annotations

import heapq
import json
import logging
import random
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from decimal import ROUND_DOWN, ROUND_HALF_UP, ROUND_UP, Context, Decimal, localcontext
from typing import Any
from urllib.parse import parse_qsl

from ..credentials import mask
from ..signing import load_public_key, verify_hmac, verify_rsa
from . import market
from .faults import Fault, Faults
from .market import DEMO_API_KEY, DEMO_API_SECRET, fmt

__all__ = [
    "LEGACY_BORROW_DEPRECATED",
    "RET_MSGS",
    "ROUTES",
    "ApiError",
    "Loan",
    "Reply",
    "RequestRecord",
    "RiskEvent",
    "Sandbox",
]

logger = logging.getLogger(__name__)

HOUR_MS = 3_600_000
DAY_MS = 86_400_000
FIRST_ORDER_ID = 1794267532472646144  # the docs' example orderId: ids start near it
DEFAULT_RECV_WINDOW = 5000
DEFAULT_RATE_LIMIT = 5000
INTEREST_PLACES = 8
OVERDUE_LIQUIDATION_MS = 48 * HOUR_MS  # a fixed loan unpaid this long past due is liquidated
LEGACY_BORROW_MODES = ("serve", "reject", "gone")
_LEGACY_BORROW_PATH = "/v5/crypto-loan/borrow"
LEGACY_BORROW_DEPRECATED = (
    "The legacy crypto loan borrow API is deprecated. Please use "
    "/v5/crypto-loan-flexible/borrow or /v5/crypto-loan-fixed/borrow."
)
"""The retMsg of a legacy Borrow refused under ``legacy_borrow="reject"``."""

RET_MSGS: dict[int, str] = {
    10001: "Request parameter error.",
    10002: "invalid request, please check your server timestamp or recv_window param.",
    10003: "API key is invalid.",
    10004: "error sign!",
    10005: "Permission denied, please check your API key permissions.",
    10006: "Too many visits!",
    10016: "Internal system error.",
    10017: "route not found",
    177002: "Server is busy, please try again later.",
    177003: "Illegal characters in request parameters.",
    177004: "The number of decimal places exceeds the allowed precision.",
    177005: "Order does not exist.",
    177006: "Asset not supported.",
    177007: "The borrowing amount exceeds the maximum.",
    177008: "Borrowing of this asset is disabled.",
    177009: "The borrowing amount is below the minimum.",
    177010: "The repayment amount exceeds the total debt.",
    177011: "Insufficient balance.",
    177012: "Insufficient platform lending quota.",
    177013: "The reduction exceeds the maximum allowed collateral reduction.",
    177014: "Individual loan quota used up.",
    177015: "Collateral amount has reached the limit. Please reduce your collateral amount "
    "or choose other collateral currency.",
    177016: "Insufficient collateral amount.",
    177017: "This currency cannot be used as collateral.",
    177018: "Duplicate request.",
    177019: "Invalid input parameter.",
}
"""The retMsg the sandbox gives for each retCode (paraphrased; Bybit's wording varies)."""


class ApiError(Exception):
    """A request rejected with a non-zero retCode."""

    def __init__(self, code: int, msg: str | None = None) -> None:
        super().__init__(code, msg)
        self.code = code
        self.msg = msg or RET_MSGS.get(code, "error")


@dataclass
class Reply:
    """What the exchange answers: HTTP status, headers and body bytes.

    ``drop`` means: close the connection without answering. ``ret_code`` is the
    envelope's retCode, ``None`` when the body is not an envelope.
    """

    status: int
    headers: dict[str, str]
    body: bytes
    drop: bool = False
    ret_code: int | None = None


@dataclass(slots=True)
class RequestRecord:
    """One request as it arrived, and what became of it.

    ``ret_code`` is the retCode the exchange produced (``None`` when it never
    executed the request, e.g. an HTML fault); ``status`` the HTTP status sent
    (0 when the connection was dropped); ``fault`` the fault kind applied.
    """

    method: str
    path: str
    query: str
    body: bytes
    headers: dict[str, str]
    time: int
    status: int = 0
    ret_code: int | None = None
    fault: str | None = None


@dataclass
class Loan:
    """One loan order. Amounts are Decimal; times are server ms."""

    order_id: str
    loan_currency: str
    collateral_currency: str
    principal: Decimal
    collateral: Decimal
    term: str  # "" for flexible
    locked_rate: Decimal | None  # fixed loans keep their rate; flexible follow the table
    borrow_time: int
    initial_loan: Decimal
    initial_collateral: Decimal
    interest: Decimal = Decimal(0)
    penalty: Decimal = Decimal(0)
    repaid_interest: Decimal = Decimal(0)
    repaid_penalty: Decimal = Decimal(0)
    accrued_to: int = 0
    status: int = 0  # 0 ongoing, 1 fully repaid by the user, 2 fully repaid by liquidation
    margin_call: bool = False  # LTV is at or above marginCallLTV (and below liquidationLTV)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def expiration(self) -> int | None:
        """Maturity in ms (borrow time + term), ``None`` for flexible loans."""
        return self.borrow_time + int(self.term) * DAY_MS if self.term else None

    @property
    def debt(self) -> Decimal:
        """Principal plus interest plus penalty interest still owed."""
        return self.principal + self.interest + self.penalty


@dataclass(frozen=True)
class RiskEvent:
    """A margin call or a liquidation, as recorded in ``margin_calls`` / ``liquidations``.

    ``book`` is ``"legacy"`` (``ref`` = the loan's orderId) or ``"new"`` (``ref`` =
    ``""`` for the whole account, or the loanId of an overdue fixed contract);
    ``ltv`` is the LTV that triggered it (0 for an overdue liquidation);
    ``reason`` is ``"ltv"`` or ``"overdue"``; for liquidations ``detail`` holds
    ``sold``, ``returned`` and ``repaid``: Decimals for a legacy loan (in its
    collateral, collateral and loan coin), ``{coin: Decimal}`` dicts for the new book.
    """

    time: int
    kind: str  # "margin_call" or "liquidation"
    book: str
    ref: str
    ltv: Decimal
    reason: str = "ltv"
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _Route:
    method: str
    signed: bool
    handler: Callable[[Sandbox, dict[str, Any], int], dict[str, Any]]
    ok_msg: str = "request.success"


def _wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


_PLAIN = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_NUMBER_CHARS = frozenset("0123456789.+-eE")
_JSON = {"Content-Type": "application/json"}


def _text(params: Mapping[str, Any], name: str) -> str | None:
    """A string parameter; absent, ``null`` and ``""`` all mean not given."""
    value = params.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ApiError(10001, f"params error: {name} must be a string")
    return value


def _required(params: Mapping[str, Any], name: str) -> str:
    value = _text(params, name)
    if value is None:
        raise ApiError(10001, f"params error: {name} is required")
    return value


def _parse_amount(name: str, text: str) -> Decimal:
    if not _PLAIN.fullmatch(text):
        if any(ch not in _NUMBER_CHARS for ch in text):
            raise ApiError(177003, f"{RET_MSGS[177003]} ({name})")
        raise ApiError(10001, f"params error: {name} must be a positive decimal string")
    value = Decimal(text)
    if value <= 0:
        raise ApiError(10001, f"params error: {name} must be greater than 0")
    return value


def _places(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def _check_places(name: str, value: Decimal, places: int) -> None:
    if _places(value) > places:
        raise ApiError(177004, f"{RET_MSGS[177004]} ({name}: at most {places} decimals)")


def _round(value: Decimal, places: int, rounding: str) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-places), rounding=rounding)


def _ltv_text(value: Decimal) -> str:
    return format(_round(value, 4, ROUND_HALF_UP), "f")


_EXACT = Context(prec=60)


def _exact() -> AbstractContextManager[Context]:
    """The decimal context every state change runs in (60 digits, no float anywhere)."""
    return localcontext(_EXACT)


def _limit(params: Mapping[str, Any]) -> int:
    text = _text(params, "limit")
    if text is None:
        return 10
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 100:
        raise ApiError(10001, "params error: limit must be from 1 to 100")
    return int(text)


def _page(items: Iterable[dict[str, Any]], key: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """Newest first; the cursor is the id of the last item of the previous page (a string)."""
    limit = _limit(params)
    rows = sorted(items, key=lambda row: int(row[key]), reverse=True)
    cursor = _text(params, "cursor")
    if cursor is not None:
        if not (cursor.isascii() and cursor.isdigit()):
            raise ApiError(10001, "params error: cursor is invalid")
        rows = [row for row in rows if int(row[key]) < int(cursor)]
    page = rows[:limit]
    return {"list": page, "nextPageCursor": str(page[-1][key]) if len(rows) > limit else ""}


_HTML_PAGES = {
    403: (
        '<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN" '
        '"http://www.w3.org/TR/html4/loose.dtd">\n<HTML><HEAD><META HTTP-EQUIV="Content-Type" '
        'CONTENT="text/html; charset=iso-8859-1">\n<TITLE>ERROR: The request could not be '
        "satisfied</TITLE>\n</HEAD><BODY>\n<H1>403 ERROR</H1>\n<H2>The request could not be "
        "satisfied.</H2>\n<HR noshade size=\"1px\">\nRequest blocked.\nWe can't connect to the "
        "server for this app or website at this time.\n<BR clear=\"all\">\n<HR noshade "
        'size="1px">\n<PRE>\nGenerated by cloudfront (CloudFront)\nRequest ID: '
        "SANDBOX-0000000000000000000000000000000000000000000000000==\n</PRE>\n<ADDRESS>\n"
        "</ADDRESS>\n</BODY></HTML>"
    ),
}
_REASONS = {403: "Forbidden", 429: "Too Many Requests", 500: "Internal Server Error",
            502: "Bad Gateway", 503: "Service Temporarily Unavailable", 504: "Gateway Time-out"}


def _html_page(status: int) -> bytes:
    if status in _HTML_PAGES:
        return _HTML_PAGES[status].encode("latin-1")
    title = f"{status} {_REASONS.get(status, 'Error')}"
    return (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1>"
        "</center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    ).encode("ascii")


class Sandbox:
    """A local exchange speaking Bybit's V5 crypto-loan API, legacy and new.

    The legacy book is :attr:`orders` / :attr:`completed`; the new one is
    :attr:`new_api`. Both share :attr:`wallet`, :attr:`prices` and the clock.

    Args:
        seed: makes order, repay and adjust ids reproducible (19-digit strings,
            increasing); different seeds give different ids.
        clock: returns the server time in ms (default: the wall clock).
            :meth:`advance` and ``faults.skew_ms`` are added to it.
        credentials: ``{api_key: hmac_secret}`` to register; ``None`` registers
            the demo key (:data:`DEMO_API_KEY` / :data:`DEMO_API_SECRET`).
            Add RSA keys with :meth:`add_credentials`.
        rate_limit: requests per rolling second per API key and path
            (``rate_limits[path]`` overrides it for one path).
        log_size: how many requests :attr:`requests` keeps.
        legacy_borrow: ``"serve"``, ``"reject"`` or ``"gone"``: how
            ``POST /v5/crypto-loan/borrow`` is answered (module docstring).
        new_api_rate_limits: install the new API's documented UID limits
            (1/s for writes, 5/s for reads) in :attr:`rate_limits`; ``False``
            leaves those paths at ``rate_limit``. Relax them later with
            ``sandbox.rate_limits.update(...)`` or ``sandbox.rate_limits.clear()``.
    """

    def __init__(
        self,
        seed: int = 0,
        clock: Callable[[], int] | None = None,
        credentials: Mapping[str, str] | None = None,
        rate_limit: int = DEFAULT_RATE_LIMIT,
        log_size: int = 100_000,
        legacy_borrow: str = "serve",
        new_api_rate_limits: bool = True,
    ) -> None:
        from .new_api import RATE_LIMITS, NewApiBook  # registers the new routes too

        self.lock = threading.RLock()
        self.seed = seed
        self._rng = random.Random(seed)
        self._next_id = FIRST_ORDER_ID + self._rng.randrange(1 << 40)
        self._clock = clock or _wall_clock_ms
        self._offset_ms = 0
        self.faults = Faults()
        self.rate_limit = rate_limit
        self.rate_limits: dict[str, int] = dict(RATE_LIMITS) if new_api_rate_limits else {}
        """Per-path overrides of ``rate_limit`` (requests per rolling second per key)."""
        self._windows: dict[tuple[str, str], deque[int]] = {}
        self._keys: dict[str, tuple[str, Any]] = {}
        self.loan_coins: dict[str, market.LoanCoin] = dict(market.LOAN_COINS)
        self.collateral_coins: dict[str, market.CollateralCoin] = dict(market.COLLATERAL_COINS)
        self.prices: dict[str, Decimal] = dict(market.PRICES)
        self.wallet: dict[str, Decimal] = dict(market.STARTING_BALANCES)
        """The Funding wallet: coin -> balance."""
        self.orders: dict[str, Loan] = {}
        """Ongoing (not fully repaid) loans by orderId."""
        self._pledged_by_coin: dict[str, Decimal] = {}
        self.completed: dict[str, Loan] = {}
        """Fully repaid loans by orderId."""
        self.repayments: list[dict[str, Any]] = []
        self.adjustments: list[dict[str, Any]] = []
        self._repayments_by_order: dict[str, list[dict[str, Any]]] = {}
        self._adjustments_by_order: dict[str, list[dict[str, Any]]] = {}
        self._timeline: list[tuple[int, str]] = []  # (next hour mark, orderId), a heap
        self.requests: deque[RequestRecord] = deque(maxlen=log_size)
        """Every request received, oldest first, faulted and rejected ones included."""
        self.next_ids: deque[str] = deque()
        """Ids to hand out before the seeded generator (legacy and new API alike)."""
        self.margin_calls: list[RiskEvent] = []
        """Every margin call, oldest first (legacy loans and the new-API account)."""
        self.liquidations: list[RiskEvent] = []
        """Every liquidation, oldest first (legacy loans and the new-API account)."""
        if legacy_borrow not in LEGACY_BORROW_MODES:
            raise ValueError(f"legacy_borrow must be one of {', '.join(LEGACY_BORROW_MODES)}")
        self.legacy_borrow = legacy_borrow
        """``"serve"``, ``"reject"`` or ``"gone"``: how the legacy Borrow is answered."""
        self.legacy_borrow_error: tuple[int, str] = (10017, LEGACY_BORROW_DEPRECATED)
        """(retCode, retMsg) of a legacy Borrow refused under ``"reject"``."""
        self.new_api = NewApiBook(self, seed)
        """The Crypto Loan (New) book: pooled collateral, flexible and fixed loans."""
        for key, secret in ({DEMO_API_KEY: DEMO_API_SECRET} if credentials is None
                            else credentials).items():
            self.add_credentials(key, secret)

    # -- configuration -------------------------------------------------------------

    def add_credentials(
        self, api_key: str, secret: str | None = None, public_key_pem: bytes | str | None = None
    ) -> None:
        """Register an API key with its HMAC ``secret`` or its RSA ``public_key_pem``."""
        if not api_key:
            raise ValueError("the API key cannot be empty")
        if (secret is None) == (public_key_pem is None):
            raise ValueError("give exactly one of secret or public_key_pem")
        entry: tuple[str, Any] = (
            ("hmac", secret) if secret is not None else ("rsa", load_public_key(public_key_pem))
        )
        with self.lock:
            self._keys[api_key] = entry

    def remove_credentials(self, api_key: str) -> None:
        """Forget an API key: its requests get retCode 10003 from now on."""
        with self.lock:
            self._keys.pop(api_key, None)

    def set_price(self, coin: str, price: Decimal | str) -> None:
        """Set a spot price in USDT (a Decimal or decimal string, never a float).

        Every open loan is re-evaluated at once: liquidated at or above its
        liquidation LTV, flagged at or above its margin-call LTV.
        """
        value = self._positive(price, "price")
        with self.lock, _exact():
            now = self.now_ms()
            self._catch_up(now)
            self.prices[coin] = value
            for loan in list(self.orders.values()):
                if coin in (loan.loan_currency, loan.collateral_currency):
                    self._check_loan(loan, now)
            self.new_api.evaluate(now)

    def set_flexible_rate(self, coin: str, hourly_rate: Decimal | str) -> None:
        """Change a coin's flexible hourly rate, legacy and new API alike.

        The whole hours already elapsed are charged at the old rate first; the
        new API's annualised rate follows (hourly x 8760).
        """
        value = self._positive(hourly_rate, "rate")
        with self.lock, _exact():
            now = self.now_ms()
            self._catch_up(now)
            for loan in self.orders.values():
                if loan.loan_currency == coin and not loan.term:
                    self._settle(loan, now)
            if coin in self.loan_coins:
                self.loan_coins[coin] = replace(self.loan_coins[coin], flexible_rate=value)
            self.new_api.set_flexible_rate(coin, value, now)

    def set_balance(self, coin: str, amount: Decimal | str) -> None:
        """Set a Funding-wallet balance (a Decimal or decimal string, never a float)."""
        value = Decimal(amount) if isinstance(amount, str) else amount
        if not isinstance(value, Decimal) or value < 0:
            raise TypeError("a balance is a non-negative Decimal or decimal string")
        with self.lock:
            self.wallet[coin] = value

    @staticmethod
    def _positive(value: Decimal | str, what: str) -> Decimal:
        number = Decimal(value) if isinstance(value, str) else value
        if not isinstance(number, Decimal) or not number.is_finite() or number <= 0:
            raise TypeError(f"a {what} is a positive Decimal or decimal string, not {value!r}")
        return number

    # -- time ----------------------------------------------------------------------

    def now_ms(self) -> int:
        """Server time in ms: the clock, plus :meth:`advance` offsets, plus ``faults.skew_ms``."""
        return self._clock() + self._offset_ms + self.faults.skew_ms

    def advance(self, ms: int) -> None:
        """Move server time forward by ``ms``: interest accrues, fixed loans fall due,
        and loans whose LTV crosses a level are flagged or liquidated at once."""
        with self.lock, _exact():
            self._offset_ms += ms
            self._catch_up(self.now_ms())

    # -- introspection -------------------------------------------------------------

    def count(self, path: str | None = None, method: str | None = None) -> int:
        """How many logged requests match ``path`` and ``method`` (None: any)."""
        with self.lock:
            return sum(
                1
                for r in self.requests
                if (path is None or r.path == path) and (method is None or r.method == method)
            )

    # -- the request entry point -----------------------------------------------------

    def handle(
        self, method: str, path: str, query: str, headers: Mapping[str, str], body: bytes
    ) -> Reply:
        """Answer one HTTP request.

        ``query`` is the raw query string (no ``?``) and ``body`` the raw bytes,
        exactly as received: signatures are checked over them. Header names
        are matched case-insensitively. Blocks for any configured latency.
        """
        now = self.now_ms()
        lowered = {k.lower(): v for k, v in headers.items()}
        record = RequestRecord(method, path, query, body, lowered, now)
        with self.lock:
            self.requests.append(record)
        fault = self.faults.take(path)
        if fault is not None and not fault.executes:
            reply = self._fault_reply(fault, path, lowered, now)
        else:
            reply = self._dispatch(method, path, query, lowered, body, now)
            record.ret_code = reply.ret_code
            if fault is not None:
                reply = self._shape(fault, reply)
        if fault is not None:
            record.fault = fault.kind
        record.status = 0 if reply.drop else reply.status
        delay = self.faults.latency_for(path)
        if fault is not None and fault.kind == "latency":
            delay += float(fault.params.get("seconds", 0.0))
        if delay > 0:
            time.sleep(delay)
        return reply

    def _dispatch(
        self, method: str, path: str, query: str, headers: dict[str, str], body: bytes, now: int
    ) -> Reply:
        route = _ROUTES.get(path)
        if route is None or (path == _LEGACY_BORROW_PATH and self.legacy_borrow == "gone"):
            return self._envelope(10017, RET_MSGS[10017], now, status=404)
        if method != route.method:
            reply = self._envelope(10017, RET_MSGS[10017], now, status=405)
            reply.headers["Allow"] = route.method
            return reply
        key = headers.get("x-bapi-api-key", "") if route.signed else ""
        limit_headers, limited = self._count_rate(key, path, now)
        if limited:
            return self._envelope(10006, RET_MSGS[10006], now, limit_headers)
        try:
            if route.signed:
                self._authenticate(method, query, headers, body, now)
            params = self._params(method, query, body)
            with self.lock, _exact():
                self._catch_up(now)
                result = route.handler(self, params, now)
        except ApiError as exc:
            return self._envelope(exc.code, exc.msg, now, limit_headers)
        except Exception:
            logger.exception("sandbox: internal error on %s %s", method, path)
            return self._envelope(10016, RET_MSGS[10016], now, limit_headers)
        return self._envelope(0, route.ok_msg, now, limit_headers, result)

    def _envelope(
        self,
        code: int,
        msg: str,
        now: int,
        limit_headers: dict[str, str] | None = None,
        result: dict[str, Any] | None = None,
        status: int = 200,
    ) -> Reply:
        body = json.dumps(
            {"retCode": code, "retMsg": msg, "result": result or {}, "retExtInfo": {},
             "time": now},
            separators=(",", ":"),
        ).encode("utf-8")
        headers = {**_JSON, **(limit_headers or {})}
        return Reply(status, headers, body, ret_code=code)

    # -- rate limit, auth, parameters --------------------------------------------------

    def _count_rate(self, key: str, path: str, now: int) -> tuple[dict[str, str], bool]:
        limit = self.rate_limits.get(path, self.rate_limit)
        bucket = (key if key in self._keys else "", path)
        with self.lock:
            window = self._windows.get(bucket)
            if window is None:
                window = self._windows[bucket] = deque()
            cutoff = now - 1000
            while window and window[0] <= cutoff:
                window.popleft()
            if len(window) >= limit:
                reset = window[0] + 1000 if window else now + 1000
                return _limit_headers(limit, 0, reset), True
            window.append(now)
            return _limit_headers(limit, limit - len(window), now), False

    def _authenticate(
        self, method: str, query: str, headers: dict[str, str], body: bytes, now: int
    ) -> None:
        key = headers.get("x-bapi-api-key", "")
        entry = self._keys.get(key) if key else None
        if entry is None:
            raise ApiError(10003)
        if headers.get("x-bapi-sign-type", "2") != "2":
            raise ApiError(10001, "params error: X-BAPI-SIGN-TYPE must be 2")
        stamp = headers.get("x-bapi-timestamp", "")
        if not (stamp.isascii() and stamp.isdigit()):
            raise ApiError(10001, "params error: X-BAPI-TIMESTAMP must be ms since the epoch")
        window_text = headers.get("x-bapi-recv-window")
        if window_text is None:
            window, signed_windows = DEFAULT_RECV_WINDOW, ("", str(DEFAULT_RECV_WINDOW))
        elif window_text.isascii() and window_text.isdigit():
            window, signed_windows = int(window_text), (window_text,)
        else:
            raise ApiError(10001, "params error: X-BAPI-RECV-WINDOW must be a whole number of ms")
        stamp_ms = int(stamp)
        if not now - window <= stamp_ms < now + 1000:
            raise ApiError(
                10002,
                f"{RET_MSGS[10002]} req_timestamp[{stamp}],server_timestamp[{now}],"
                f"recv_window[{window}]",
            )
        payload = body if method == "POST" else query.encode("utf-8", "surrogateescape")
        signature = headers.get("x-bapi-sign", "")
        kind, secret = entry
        for signed_window in signed_windows:
            message = (stamp + key + signed_window).encode("utf-8") + payload
            ok = (
                verify_hmac(secret, message, signature)
                if kind == "hmac"
                else verify_rsa(secret, message, signature)
            )
            if ok:
                return
        shown = payload.decode("utf-8", "replace")
        raise ApiError(
            10004, f"error sign! origin_string[{stamp}{mask(key)}{signed_windows[-1]}{shown}]"
        )

    @staticmethod
    def _params(method: str, query: str, body: bytes) -> dict[str, Any]:
        if method != "POST":
            params: dict[str, Any] = {}
            for name, value in parse_qsl(query, keep_blank_values=True):
                params.setdefault(name, value)
            return params
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise ApiError(10001, "params error: the body is not valid JSON") from None
        if not isinstance(data, dict):
            raise ApiError(10001, "params error: the body must be a JSON object")
        return data

    # -- faults --------------------------------------------------------------------

    def _fault_reply(self, fault: Fault, path: str, headers: dict[str, str], now: int) -> Reply:
        """The answer of a fault that skips execution."""
        if fault.kind == "retcode":
            code = int(fault.params["code"])
            msg = str(fault.params.get("msg") or RET_MSGS.get(code, "error"))
            limit = self.rate_limits.get(path, self.rate_limit)
            if code == 10006:
                reset = now + int(fault.params.get("reset_ms", 200))
                limit_headers = _limit_headers(limit, 0, reset)
            else:
                limit_headers = _limit_headers(limit, limit - 1, now)
            return self._envelope(code, msg, now, limit_headers)
        if fault.kind == "drop":
            return Reply(0, {}, b"", drop=True)
        empty = self._envelope(0, "request.success", now)
        return self._shape(fault, empty)

    @staticmethod
    def _shape(fault: Fault, reply: Reply) -> Reply:
        """Turn an executed request's answer into the faulty one."""
        if fault.kind == "drop":
            return Reply(0, {}, b"", drop=True, ret_code=reply.ret_code)
        if fault.kind == "http":
            status = int(fault.params.get("status", 502))
            body = fault.params.get("body")
            raw = _html_page(status) if body is None else _bytes(body)
            return Reply(status, {"Content-Type": "text/html"}, raw)
        if fault.kind == "bad_json":
            body = fault.params.get("body")
            raw = reply.body[: len(reply.body) // 2] if body is None else _bytes(body)
            return Reply(200, dict(reply.headers), raw)
        return reply

    # -- business helpers ------------------------------------------------------------

    def _new_id(self) -> str:
        if self.next_ids:
            return self.next_ids.popleft()
        self._next_id += self._rng.randrange(1 << 16, 1 << 24)
        return str(self._next_id)

    # -- time-driven events: accrual marks, margin calls, liquidation ---------------------

    def _catch_up(self, now: int) -> None:
        """Process every loan whose next hour mark is due (O(1) when none is).

        Each open legacy loan sits in a heap at its next whole hour after the
        last accrual; at that mark its interest is settled and its LTV checked.
        The new-API book keeps its own timeline.
        """
        timeline = self._timeline
        while timeline and timeline[0][0] <= now:
            _, order_id = heapq.heappop(timeline)
            loan = self.orders.get(order_id)
            if loan is None:
                continue  # repaid or liquidated since it was scheduled
            self._settle(loan, now)
            self._check_loan(loan, now)
            if loan.status == 0:
                heapq.heappush(timeline, (loan.accrued_to + HOUR_MS, order_id))
        self.new_api.catch_up(now)

    def _check_loan(self, loan: Loan, now: int) -> None:
        """Liquidate, flag or clear the margin call of one open loan (settled by the caller)."""
        coll = self.collateral_coins.get(loan.collateral_currency)
        due = loan.expiration
        if due is not None and now >= due + OVERDUE_LIQUIDATION_MS and loan.debt > 0:
            self._liquidate(loan, now, Decimal(0), "overdue")
            return
        if coll is None:
            return
        ltv = self._ltv(loan)
        if ltv >= coll.liquidation_ltv:
            self._liquidate(loan, now, ltv, "ltv")
        elif ltv >= coll.margin_call_ltv:
            if not loan.margin_call:
                loan.margin_call = True
                self.margin_calls.append(
                    RiskEvent(now, "margin_call", "legacy", loan.order_id, ltv)
                )
        else:
            loan.margin_call = False

    def _clear_margin_call(self, loan: Loan) -> None:
        coll = self.collateral_coins.get(loan.collateral_currency)
        if loan.margin_call and coll is not None and self._ltv(loan) < coll.margin_call_ltv:
            loan.margin_call = False

    def _liquidate(self, loan: Loan, now: int, ltv: Decimal, reason: str) -> None:
        """Sell just enough collateral to repay the whole debt; return the rest."""
        coll_ccy = loan.collateral_currency
        coll = self.collateral_coins.get(coll_ccy)
        places = coll.collateral_accuracy if coll is not None else 8
        debt = loan.debt
        coll_price = self.prices.get(coll_ccy, Decimal(0))
        loan_price = self.prices.get(loan.loan_currency, Decimal(0))
        if coll_price > 0:
            need = _round(debt * loan_price / coll_price, places, ROUND_UP)
        else:
            need = loan.collateral
        sold = min(need, loan.collateral)
        returned = loan.collateral - sold
        self.wallet[coll_ccy] = self.wallet.get(coll_ccy, Decimal(0)) + returned
        self._pledge(coll_ccy, -loan.collateral)
        loan.repaid_interest += loan.interest
        loan.repaid_penalty += loan.penalty
        loan.interest = loan.penalty = loan.principal = Decimal(0)
        loan.extra.update(closed_time=now, liquidated_collateral=sold,
                          collateral_before=loan.collateral)
        loan.collateral = Decimal(0)
        loan.status = 2
        loan.margin_call = False
        del self.orders[loan.order_id]
        self.completed[loan.order_id] = loan
        self._record_repayment(loan, debt, returned, now, "2")
        self.liquidations.append(RiskEvent(
            now, "liquidation", "legacy", loan.order_id, ltv, reason,
            {"sold": sold, "returned": returned, "repaid": debt},
        ))

    def _record_repayment(
        self, loan: Loan, amount: Decimal, returned: Decimal, now: int, repay_type: str
    ) -> str:
        repay_id = self._new_id()
        row = {
            "collateralCurrency": loan.collateral_currency,
            "collateralReturn": fmt(returned),
            "loanCurrency": loan.loan_currency,
            "loanTerm": loan.term,
            "orderId": loan.order_id,
            "repayAmount": fmt(amount),
            "repayId": repay_id,
            "repayStatus": 1,
            "repayTime": str(now),
            "repayType": repay_type,
        }
        self.repayments.append(row)
        self._repayments_by_order.setdefault(loan.order_id, []).append(row)
        return repay_id

    def _price(self, coin: str, code: int) -> Decimal:
        price = self.prices.get(coin)
        if price is None:
            raise ApiError(code)
        return price

    def _loan_coin(self, coin: str) -> market.LoanCoin:
        found = self.loan_coins.get(coin)
        if found is None:
            raise ApiError(177006, f"{RET_MSGS[177006]} ({coin})")
        return found

    def _collateral_coin(self, coin: str) -> market.CollateralCoin:
        found = self.collateral_coins.get(coin)
        if found is None:
            raise ApiError(177017, f"{RET_MSGS[177017]} ({coin})")
        return found

    def _pledged(self, coin: str) -> Decimal:
        """Collateral of ``coin`` locked in open loans (kept as a running total)."""
        return self._pledged_by_coin.get(coin, Decimal(0))

    def _pledge(self, coin: str, delta: Decimal) -> None:
        self._pledged_by_coin[coin] = self._pledged(coin) + delta

    def _rate_of(self, loan: Loan) -> Decimal:
        if loan.locked_rate is not None:
            return loan.locked_rate
        coin = self.loan_coins.get(loan.loan_currency)
        rate = coin.flexible_rate if coin is not None else None
        return rate if rate is not None else Decimal(0)

    def _settle(self, loan: Loan, now: int) -> None:
        """Charge interest for every whole hour since the last settlement (3x past due)."""
        hours = (now - loan.accrued_to) // HOUR_MS
        if hours <= 0:
            return
        rate = self._rate_of(loan)
        end = loan.accrued_to + hours * HOUR_MS
        normal = hours
        due = loan.expiration
        if due is not None and end > due:
            normal = max(0, (due - loan.accrued_to) // HOUR_MS)
        overdue = hours - normal
        if normal:
            loan.interest += _round(loan.principal * rate * normal, INTEREST_PLACES, ROUND_UP)
        if overdue:
            loan.penalty += _round(loan.principal * rate * 3 * overdue, INTEREST_PLACES, ROUND_UP)
        loan.accrued_to = end

    def _ltv(self, loan: Loan, collateral: Decimal | None = None) -> Decimal:
        amount = loan.collateral if collateral is None else collateral
        value = amount * self.prices.get(loan.collateral_currency, Decimal(0))
        if value <= 0:
            return Decimal(0)
        return loan.debt * self.prices.get(loan.loan_currency, Decimal(0)) / value

    def _min_collateral(self, loan: Loan) -> Decimal:
        coin = self.collateral_coins[loan.collateral_currency]
        need = (
            loan.debt * self._price(loan.loan_currency, 177006)
            / (coin.initial_ltv * self._price(loan.collateral_currency, 177017))
        )
        return _round(need, coin.collateral_accuracy, ROUND_UP)

    def _order(self, params: Mapping[str, Any], now: int) -> Loan:
        order_id = _required(params, "orderId")
        loan = self.orders.get(order_id)
        if loan is None:
            raise ApiError(177005)
        self._settle(loan, now)
        return loan

    # -- endpoints -----------------------------------------------------------------

    def _server_time(self, params: Mapping[str, Any], now: int) -> dict[str, Any]:
        return {"timeSecond": str(now // 1000), "timeNano": str(now * 1_000_000)}

    def _tickers(self, params: Mapping[str, Any], now: int) -> dict[str, Any]:
        category = _required(params, "category")
        if category != "spot":
            raise ApiError(10001, "params error: the sandbox serves category=spot only")
        symbol = _text(params, "symbol")
        rows = []
        for coin, price in self.prices.items():
            if coin == "USDT" or (symbol is not None and symbol != coin + "USDT"):
                continue
            tick = market.TICK_SIZES.get(coin, Decimal("0.0001"))
            rows.append({
                "symbol": coin + "USDT",
                "bid1Price": fmt(price - tick),
                "bid1Size": "1",
                "ask1Price": fmt(price + tick),
                "ask1Size": "1",
                "lastPrice": fmt(price),
                "prevPrice24h": fmt(price),
                "price24hPcnt": "0",
                "highPrice24h": fmt(price),
                "lowPrice24h": fmt(price),
                "turnover24h": "0",
                "volume24h": "0",
                "usdIndexPrice": fmt(price),
            })
        if symbol is not None and not rows:
            raise ApiError(10001, "Not supported symbols")
        return {"category": "spot", "list": rows}

    def _vip_lists(self, params: Mapping[str, Any], table: Mapping[str, Any]) -> dict[str, Any]:
        vip = _text(params, "vipLevel")
        if vip is not None and vip not in market.VIP_LEVELS:
            raise ApiError(10001, "params error: vipLevel is invalid")
        currency = _text(params, "currency")
        rows = [c.to_wire() for name, c in table.items() if currency in (None, name)]
        levels = market.VIP_LEVELS if vip is None else (vip,)
        return {"vipCoinList": [{"list": rows, "vipLevel": level} for level in levels]}

    def _collateral_data(self, params: Mapping[str, Any], now: int) -> dict[str, Any]:
        return self._vip_lists(params, self.collateral_coins)

    def _loanable_data(self, params: Mapping[str, Any], now: int) -> dict[str, Any]:
        return self._vip_lists(params, self.loan_coins)

    def _borrow_limits(self, params: Mapping[str, Any], now: int) -> dict[str, Any]:
        loan_ccy = _required(params, "loanCurrency")
        coll_ccy = _required(params, "collateralCurrency")
        coin = self._loan_coin(loan_ccy)
        coll = self._collateral_coin(coll_ccy)
        if loan_ccy == coll_ccy:
            raise ApiError(177019, f"{RET_MSGS[177019]} (same loan and collateral currency)")
        loan_price = self._price(loan_ccy, 177006)
        coll_value = coll.initial_ltv * self._price(coll_ccy, 177017)  # loan value per coin
        room = max(Decimal(0), coll.max_limit - self._pledged(coll_ccy))
        max_coll = min(self.wallet.get(coll_ccy, Decimal(0)), room,
                       coin.max_amount * loan_price / coll_value)
        max_loan = min(coin.max_amount, _round(max_coll * coll_value / loan_price,
                                               coin.borrowing_accuracy, ROUND_DOWN))
        min_coll = coin.min_amount * loan_price / coll_value
        return {
            "collateralCurrency": coll_ccy,
            "loanCurrency": loan_ccy,
            "maxCollateralAmount": fmt(_round(max_coll, 18, ROUND_DOWN)),
            "maxLoanAmount": fmt(max_loan),
            "minCollateralAmount": fmt(_round(min_coll, 18, ROUND_UP)),
            "minLoanAmount": fmt(coin.min_amount),
        }

    def _borrow(self, params: Mapping[str, Any], now: int) -> dict[str, Any]:
        if self.legacy_borrow == "reject":
            code, msg = self.legacy_borrow_error
            raise ApiError(code, msg)
        loan_ccy = _required(params, "loanCurrency")
        coll_ccy = _required(params, "collateralCurrency")
        loan_text = _text(params, "loanAmount")
        coll_text = _text(params, "collateralAmount")
        if loan_text is None and coll_text is None:
            raise ApiError(10001, "params error: loanAmount or collateralAmount is required")
        term = _text(params, "loanTerm") or ""
        loan_amt = None if loan_text is None else _parse_amount("loanAmount", loan_text)
        coll_amt = None if coll_text is None else _parse_amount("collateralAmount", coll_text)
        if term and term not in market.LOAN_TERMS:
            raise ApiError(177019, f"{RET_MSGS[177019]} (loanTerm must be 7, 14, 30, 90 or 180)")
        coin = self._loan_coin(loan_ccy)
        coll = self._collateral_coin(coll_ccy)
        if loan_ccy == coll_ccy:
            raise ApiError(177019, f"{RET_MSGS[177019]} (same loan and collateral currency)")
        rate = coin.rate_for(term)
        if rate is None:
            if not term:
                raise ApiError(177008)
            raise ApiError(177019, f"{RET_MSGS[177019]} ({loan_ccy} has no {term}-day term)")
        if loan_amt is not None:
            _check_places("loanAmount", loan_amt, coin.borrowing_accuracy)
        if coll_amt is not None:
            _check_places("collateralAmount", coll_amt, coll.collateral_accuracy)
        loan_price = self._price(loan_ccy, 177006)
        coll_price = self._price(coll_ccy, 177017)
        ltv = coll.initial_ltv
        if loan_amt is not None:
            if loan_amt < coin.min_amount:
                raise ApiError(177009, f"{RET_MSGS[177009]} ({fmt(coin.min_amount)} {loan_ccy})")
            if loan_amt > coin.max_amount:
                raise ApiError(177007, f"{RET_MSGS[177007]} ({fmt(coin.max_amount)} {loan_ccy})")
        room = coll.max_limit - self._pledged(coll_ccy)
        if coll_amt is not None and coll_amt > room:
            raise ApiError(177015)
        if loan_amt is None:
            assert coll_amt is not None
            loan_amt = _round(coll_amt * coll_price * ltv / loan_price, coin.borrowing_accuracy,
                              ROUND_DOWN)
            if loan_amt < coin.min_amount:
                raise ApiError(177016, f"{RET_MSGS[177016]} (the loan would be "
                                       f"{fmt(loan_amt)} {loan_ccy}, below the minimum)")
            if loan_amt > coin.max_amount:
                raise ApiError(177007, f"{RET_MSGS[177007]} ({fmt(coin.max_amount)} {loan_ccy})")
        need = loan_amt * loan_price / (ltv * coll_price)
        if coll_amt is None:
            coll_amt = _round(need, coll.collateral_accuracy, ROUND_UP)
            if coll_amt > room:
                raise ApiError(177015)
        elif coll_amt < need:
            raise ApiError(177016)
        if self.wallet.get(coll_ccy, Decimal(0)) < coll_amt:
            raise ApiError(177011, f"{RET_MSGS[177011]} ({coll_ccy} in the Funding wallet)")
        self.wallet[coll_ccy] -= coll_amt
        self.wallet[loan_ccy] = self.wallet.get(loan_ccy, Decimal(0)) + loan_amt
        order_id = self._new_id()
        self._pledge(coll_ccy, coll_amt)
        self.orders[order_id] = Loan(
            order_id=order_id,
            loan_currency=loan_ccy,
            collateral_currency=coll_ccy,
            principal=loan_amt,
            collateral=coll_amt,
            term=term,
            locked_rate=rate if term else None,
            borrow_time=now,
            initial_loan=loan_amt,
            initial_collateral=coll_amt,
            accrued_to=now,
        )
        heapq.heappush(self._timeline, (now + HOUR_MS, order_id))
        return {"orderId": order_id}

    def _ongoing_orders(self, params: Mapping[str, Any], now: int) -> dict[str, Any]:
        order_id = _text(params, "orderId")
        loan_ccy = _text(params, "loanCurrency")
        coll_ccy = _text(params, "collateralCurrency")
        term_type = _text(params, "loanTermType")
        term = _text(params, "loanTerm")
        if term_type not in (None, "1", "2"):
            raise ApiError(10001, "params error: loanTermType must be 1 (fixed) or 2 (flexible)")
        if term_type == "1" and term is None:
            raise ApiError(10001, "params error: loanTerm is required when loanTermType=1")
        if term is not None and term not in market.LOAN_TERMS:
            raise ApiError(10001, "params error: loanTerm must be 7, 14, 30, 90 or 180")
        rows = []
        if order_id is not None:
            found = self.orders.get(order_id)
            candidates: Iterable[Loan] = () if found is None else (found,)
        else:
            candidates = self.orders.values()
        for loan in candidates:
            if (
                (order_id is not None and loan.order_id != order_id)
                or (loan_ccy is not None and loan.loan_currency != loan_ccy)
                or (coll_ccy is not None and loan.collateral_currency != coll_ccy)
                or (term_type == "2" and loan.term)
                or (term_type == "1" and not loan.term)
                or (term is not None and term_type != "2" and loan.term != term)
            ):
                continue
            self._settle(loan, now)
            due = loan.expiration
            rows.append({
                "collateralAmount": fmt(loan.collateral),
                "collateralCurrency": loan.collateral_currency,
                "currentLTV": _ltv_text(self._ltv(loan)),
                "expirationTime": "" if due is None else str(due),
                "hourlyInterestRate": fmt(self._rate_of(loan)),
                "loanCurrency": loan.loan_currency,
                "loanTerm": loan.term,
                "orderId": loan.order_id,
                "residualInterest": fmt(loan.interest),
                "residualPenaltyInterest": fmt(loan.penalty),
                "totalDebt": fmt(loan.principal),
            })
        return _page(rows, "orderId", params)

    def _repay(self, params: Mapping[str, Any], now: int) -> dict[str, Any]:
        loan = self._order(params, now)
        amount = _parse_amount("amount", _required(params, "amount"))
        coin = self.loan_coins.get(loan.loan_currency)
        places = max(INTEREST_PLACES, coin.borrowing_accuracy if coin else 0)
        _check_places("amount", amount, places)
        if amount > loan.debt:
            raise ApiError(177010)
        if self.wallet.get(loan.loan_currency, Decimal(0)) < amount:
            raise ApiError(177011, f"{RET_MSGS[177011]} ({loan.loan_currency})")
        self.wallet[loan.loan_currency] -= amount
        left = amount
        paid = min(left, loan.penalty)
        loan.penalty -= paid
        loan.repaid_penalty += paid
        left -= paid
        paid = min(left, loan.interest)
        loan.interest -= paid
        loan.repaid_interest += paid
        left -= paid
        loan.principal -= left
        returned = Decimal(0)
        if loan.debt == 0:
            returned = loan.collateral
            self.wallet[loan.collateral_currency] = (
                self.wallet.get(loan.collateral_currency, Decimal(0)) + returned
            )
            loan.status = 1
            loan.margin_call = False
            loan.extra["closed_time"] = now
            del self.orders[loan.order_id]
            self._pledge(loan.collateral_currency, -returned)
            self.completed[loan.order_id] = loan
        else:
            self._clear_margin_call(loan)  # a repayment can end a margin call
        return {"repayId": self._record_repayment(loan, amount, returned, now, "1")}

    def _repayment_history(self, params: Mapping[str, Any], now: int) -> dict[str, Any]:
        wanted = {k: _text(params, k) for k in ("orderId", "repayId", "loanCurrency")}
        source = self.repayments
        if wanted["orderId"] is not None:
            source = self._repayments_by_order.get(wanted["orderId"], [])
        rows = [r for r in source if all(v is None or r[k] == v for k, v in wanted.items())]
        return _page(rows, "repayId", params)

    def _borrow_history(self, params: Mapping[str, Any], now: int) -> dict[str, Any]:
        wanted = {k: _text(params, k) for k in ("orderId", "loanCurrency", "collateralCurrency")}
        rows = []
        source: Iterable[Loan] = self.completed.values()
        if wanted["orderId"] is not None:
            found = self.completed.get(wanted["orderId"])
            source = () if found is None else (found,)
        for loan in source:
            row = {
                "borrowTime": str(loan.borrow_time),
                "collateralCurrency": loan.collateral_currency,
                "expirationTime": "" if loan.expiration is None else str(loan.expiration),
                "hourlyInterestRate": fmt(self._rate_of(loan)),
                "initialCollateralAmount": fmt(loan.initial_collateral),
                "initialLoanAmount": fmt(loan.initial_loan),
                "loanCurrency": loan.loan_currency,
                "loanTerm": loan.term,
                "orderId": loan.order_id,
                "repaidInterest": fmt(loan.repaid_interest),
                "repaidPenaltyInterest": fmt(loan.repaid_penalty),
                "status": loan.status,
            }
            if all(v is None or row[k] == v for k, v in wanted.items()):
                rows.append(row)
        return _page(rows, "orderId", params)

    def _max_reduction(self, loan: Loan) -> Decimal:
        return max(Decimal(0), loan.collateral - self._min_collateral(loan))

    def _max_collateral(self, params: Mapping[str, Any], now: int) -> dict[str, Any]:
        loan = self._order(params, now)
        return {"maxCollateralAmount": fmt(self._max_reduction(loan))}

    def _adjust(self, params: Mapping[str, Any], now: int) -> dict[str, Any]:
        loan = self._order(params, now)
        amount = _parse_amount("amount", _required(params, "amount"))
        direction = _required(params, "direction")
        if direction not in ("0", "1"):
            raise ApiError(10001, "params error: direction must be 0 (add) or 1 (reduce)")
        coll = self.collateral_coins[loan.collateral_currency]
        _check_places("amount", amount, coll.collateral_accuracy)
        ccy = loan.collateral_currency
        if direction == "0":
            if amount > coll.max_limit - self._pledged(ccy):
                raise ApiError(177015)
            if self.wallet.get(ccy, Decimal(0)) < amount:
                raise ApiError(177011, f"{RET_MSGS[177011]} ({ccy} in the Funding wallet)")
            after = loan.collateral + amount
            self.wallet[ccy] -= amount
        else:
            if amount > self._max_reduction(loan):
                raise ApiError(177013)
            after = loan.collateral - amount
            self.wallet[ccy] = self.wallet.get(ccy, Decimal(0)) + amount
        before_ltv = self._ltv(loan)
        self._pledge(ccy, after - loan.collateral)
        loan.collateral = after
        adjust_id = self._new_id()
        row = {
            "adjustId": adjust_id,
            "adjustTime": str(now),
            "afterLTV": _ltv_text(self._ltv(loan)),
            "amount": fmt(amount),
            "collateralCurrency": ccy,
            "direction": int(direction),
            "orderId": loan.order_id,
            "preLTV": _ltv_text(before_ltv),
        }
        self.adjustments.append(row)
        self._adjustments_by_order.setdefault(loan.order_id, []).append(row)
        self._clear_margin_call(loan)  # adding collateral can end a margin call
        return {"adjustId": adjust_id}

    def _adjustment_history(self, params: Mapping[str, Any], now: int) -> dict[str, Any]:
        wanted = {k: _text(params, k) for k in ("orderId", "adjustId", "collateralCurrency")}
        source = self.adjustments
        if wanted["orderId"] is not None:
            source = self._adjustments_by_order.get(wanted["orderId"], [])
        rows = [r for r in source if all(v is None or r[k] == v for k, v in wanted.items())]
        return _page(rows, "adjustId", params)


def _limit_headers(limit: int, remaining: int, reset_ms: int) -> dict[str, str]:
    return {
        "X-Bapi-Limit": str(limit),
        "X-Bapi-Limit-Status": str(max(0, remaining)),
        "X-Bapi-Limit-Reset-Timestamp": str(reset_ms),
    }


def _bytes(value: object) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode("utf-8")


_ROUTES: dict[str, _Route] = {
    "/v5/market/time": _Route("GET", False, Sandbox._server_time, "OK"),
    "/v5/market/tickers": _Route("GET", False, Sandbox._tickers, "OK"),
    "/v5/crypto-loan/collateral-data": _Route("GET", False, Sandbox._collateral_data),
    "/v5/crypto-loan/loanable-data": _Route("GET", False, Sandbox._loanable_data),
    "/v5/crypto-loan/borrowable-collateralisable-number": _Route(
        "GET", True, Sandbox._borrow_limits
    ),
    "/v5/crypto-loan/borrow": _Route("POST", True, Sandbox._borrow),
    "/v5/crypto-loan/repay": _Route("POST", True, Sandbox._repay),
    "/v5/crypto-loan/ongoing-orders": _Route("GET", True, Sandbox._ongoing_orders),
    "/v5/crypto-loan/repayment-history": _Route("GET", True, Sandbox._repayment_history),
    "/v5/crypto-loan/borrow-history": _Route("GET", True, Sandbox._borrow_history),
    "/v5/crypto-loan/max-collateral-amount": _Route("GET", True, Sandbox._max_collateral),
    "/v5/crypto-loan/adjust-ltv": _Route("POST", True, Sandbox._adjust),
    "/v5/crypto-loan/adjustment-history": _Route("GET", True, Sandbox._adjustment_history),
}
"""Every path the sandbox serves, with its method, auth and handler."""

ROUTES: dict[str, tuple[str, bool]] = {p: (r.method, r.signed) for p, r in _ROUTES.items()}
"""Every served path -> (method, signed)."""
