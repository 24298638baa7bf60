"""The one adapter between the desk and :class:`~loan_widgets.client.LoanClient`: reads and actions.

**Reads.** :meth:`Reader.read` costs a fixed few requests however many loans
are open: spot prices (1), the legacy ``ongoing-orders`` (pages of 100), and,
when the account has anything in the new API's pool, ``position``, the flexible
debts, the fixed contracts and the matching fixed orders (pages of 100). Lists
are read at most :attr:`Reader.max_pages` pages deep. The coins' levels and
collateral bands (public ``collateral-data``) are read on the first refresh and
again every :attr:`Reader.levels_ttl` seconds. A host that does not serve one
loan API (404 / 10017) is remembered, and that API is no longer read.

**Actions.** :data:`KIND_ACTIONS` says what can be done to each kind of row;
:func:`perform` does it through the same client methods as the magics
(``repay``, ``repay_all``, ``adjust_collateral``, ``new.flexible_repay``,
``new.flexible_repay_all``, ``new.fixed_fully_repay``, ``new.adjust_collateral``,
``new.cancel_borrow_order``), so every action is a ledger row like any other,
and reconciliation settles new-API rows as it does legacy ones: a hold on a
new-API action is released once its rows settle. A client without
``client.new.cancel_borrow_order`` (another implementation) says the cancel is
not available. ``force=True`` (the user chose to send although an identical
write is unsettled) is passed to clients whose write methods take it.

UI-free: this module imports no widget library.
"""

from __future__ import annotations

import inspect
import itertools
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from .. import endpoints as ep
from ..errors import BadResponse, ExchangeError, ValidationError
from ..numbers import wire_decimal
from ..orders import ActionResult, parse_amount
from ..portfolio import NEW_API_LEVELS, Levels, Position, Reads, Snapshot, levels_from_wire
from ..portfolio import tiers_from_wire as _tiers

if TYPE_CHECKING:
    from ..client import LoanClient

__all__ = [
    "ACTIONS",
    "CANCEL_METHOD",
    "KIND_ACTIONS",
    "Action",
    "Reader",
    "Target",
    "max_reduction",
    "perform",
    "targets",
    "unavailable",
]

PAGE = "100"
CANCEL_METHOD = "cancel_borrow_order"
"""The ``client.new`` method that cancels a matching fixed borrow order (FX6)."""


def _not_served(error: Exception) -> bool:
    """True when the host answered that it has no such route (the API is not served)."""
    if isinstance(error, ExchangeError) and error.ret_code == 10017:
        return True
    return isinstance(error, BadResponse) and error.http_status == 404


class Reader:
    """Reads one refresh's worth of the exchange (blocking: run it off the event loop).

    ``rate_limits`` holds the ``x-bapi-limit*`` headers of every answer of the
    last :meth:`read`, for the pacer.
    """

    levels_ttl: float = 600.0
    """Seconds the coins' levels and collateral bands are reused."""
    max_pages: int = 3
    """Pages of 100 read at most per list and refresh."""

    def __init__(self, client: LoanClient, *, new_levels: Levels = NEW_API_LEVELS,
                 clock: Callable[[], float] = time.time) -> None:
        self.client = client
        self.new_levels = new_levels
        self.clock = clock
        self.legacy_api = True
        self.new_api = True
        self._levels: dict[str, Levels] = {}
        self._tiers: dict[str, Any] = {}
        self._levels_at = float("-inf")
        self._reads = 0
        self.rate_limits: list[dict[str, str]] = []

    def _call(self, endpoint: ep.Endpoint, params: Mapping[str, Any] | None = None) -> Any:
        self._reads += 1
        try:
            return self.client.call(endpoint, params or {})
        finally:
            headers = self.client.rate_limit(endpoint.path)
            if headers:
                self.rate_limits.append(headers)

    def _pages(self, endpoint: ep.Endpoint, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Items of a paged list, at most ``max_pages`` pages of 100."""
        def pages() -> Iterator[list[dict[str, Any]]]:
            query = {**params, "limit": PAGE}
            while True:
                result = self._call(endpoint, query)
                yield list(result.get("list") or [])
                cursor = result.get("nextPageCursor") or ""
                if not cursor or cursor == query.get("cursor"):
                    return
                query = {**query, "cursor": cursor}

        return [item for page in itertools.islice(pages(), self.max_pages) for item in page]

    def _prices(self) -> dict[str, Decimal]:
        result = self._call(ep.TICKERS, {"category": "spot"})
        prices = {"USDT": Decimal(1)}
        for item in result.get("list", []):
            symbol, last = str(item.get("symbol", "")), wire_decimal(item.get("lastPrice"))
            if symbol.endswith("USDT") and last:
                prices[symbol[:-4]] = last
        return prices

    def read(self) -> Reads:
        """Everything one refresh needs; raises the first error that stops it."""
        self._reads = 0
        self.rate_limits = []
        notes = []
        if self.clock() - self._levels_at > self.levels_ttl:
            self._levels = levels_from_wire(self.client.collateral_data())
            self._reads += 1
            if self.new_api:
                try:
                    self._tiers = _tiers(self._call(ep.NEW_COLLATERAL_DATA))
                except (ExchangeError, BadResponse) as error:
                    if not _not_served(error):
                        raise
                    self.new_api = False
            self._levels_at = self.clock()
        prices = self._prices()
        taken = int(self.clock() * 1000)
        legacy = None
        if self.legacy_api:
            try:
                legacy = self._pages(ep.ONGOING_ORDERS, {})
            except (ExchangeError, BadResponse) as error:
                if not _not_served(error):
                    raise
                self.legacy_api = False
        position = flexible = contracts = orders = None
        if self.new_api:
            try:
                position = self._call(ep.NEW_POSITION)
            except (ExchangeError, BadResponse) as error:
                if not _not_served(error):
                    raise
                self.new_api = False
            if position and (position.get("collateralList") or position.get("borrowList")):
                flexible = list(self._call(ep.FLEXIBLE_ONGOING).get("list") or [])
                contracts = self._pages(ep.FIXED_BORROW_CONTRACT_INFO, {})
                orders = self._pages(ep.FIXED_BORROW_ORDER_INFO, {"state": "1"})
        if not self.legacy_api:
            notes.append("this host does not serve the legacy loan API")
        if not self.new_api:
            notes.append("this host does not serve the new loan API")
        for name, items in (("legacy loans", legacy), ("fixed contracts", contracts),
                            ("fixed orders", orders)):
            if items is not None and len(items) >= self.max_pages * int(PAGE):
                notes.append(f"only the newest {len(items)} {name} are shown")
        return Reads(
            taken_at_ms=taken, prices=prices, legacy_orders=legacy, legacy_levels=self._levels,
            position=position, flexible=flexible, contracts=contracts, orders=orders,
            tiers=self._tiers, new_levels=self.new_levels, reads=self._reads, notes=tuple(notes),
        )


# --------------------------------------------------------------------------- actions


@dataclass(frozen=True)
class Action:
    """Something the desk can do to a row. ``family`` groups actions held together."""

    name: str
    label: str
    family: str
    amount: bool


ACTIONS: dict[str, Action] = {
    a.name: a
    for a in (
        Action("repay", "Repay", "repay", True),
        Action("repay_all", "Repay all", "repay", False),
        Action("add", "Add collateral", "add", True),
        Action("reduce", "Reduce collateral", "reduce", True),
        Action("cancel", "Cancel order", "cancel", False),
    )
}
KIND_ACTIONS: dict[str, tuple[str, ...]] = {
    "legacy": ("repay", "repay_all", "add", "reduce"),
    "pool": ("add", "reduce"),
    "flexible": ("repay", "repay_all"),
    "fixed": ("repay_all",),
    "order": ("cancel",),
}


@dataclass(frozen=True)
class Target:
    """What an action acts on: a position, or one coin of the pool (``pool:BTC``)."""

    key: str
    kind: str
    ref: str
    coin: str | None
    position: Position

    @property
    def actions(self) -> tuple[str, ...]:
        """The names of the actions this target offers."""
        return KIND_ACTIONS.get(self.kind, ())

    def amount_coin(self, action: str) -> str | None:
        """The coin an amount of ``action`` is in."""
        if action in ("add", "reduce"):
            return self.coin
        return self.position.loan_coin


def targets(snap: Snapshot) -> list[Target]:
    """Every row actions can act on, in the snapshot's order; the pool once per coin."""
    found = []
    for p in snap.positions:
        if p.kind == "pool":
            found += [Target(f"pool:{coin}", "pool", coin, coin, p) for coin, _ in p.collateral]
        elif p.kind == "legacy":
            found.append(Target(p.key, p.kind, p.ref, p.collateral_coin, p))
        else:
            found.append(Target(p.key, p.kind, p.ref, p.loan_coin, p))
    return found


def unavailable(client: LoanClient, target: Target, action: str) -> str:
    """Why ``action`` cannot be done to ``target`` with this client ('' when it can)."""
    if action not in target.actions:
        return f"{ACTIONS[action].label.lower()} does not apply to this row"
    if action == "cancel" and getattr(client.new, CANCEL_METHOD, None) is None:
        return (
            "cancelling a matching fixed borrow order needs a client with "
            f"client.new.{CANCEL_METHOD}()"
        )
    return ""


def max_reduction(client: LoanClient, target: Target) -> Decimal:
    """The most collateral that can be taken from ``target`` now (one read)."""
    if target.kind == "legacy":
        return client.max_collateral_reduction(target.ref)
    if target.kind == "pool" and target.coin:
        return client.new.max_collateral_reduction(target.coin)
    raise ValidationError("collateral is reduced on a legacy loan or a coin of the pool")


def _accepts_force(method: Callable[..., Any]) -> bool:
    try:
        return "force" in inspect.signature(method).parameters
    except (TypeError, ValueError):
        return False


def perform(
    client: LoanClient, target: Target, action: str, amount: Any = None, *,
    source: str = "desk", force: bool = False,
) -> ActionResult:
    """Do ``action`` to ``target`` through the client's write path (one ledger row)."""
    reason = unavailable(client, target, action)
    if reason:
        raise ValidationError(reason)
    if ACTIONS[action].amount:
        amount = parse_amount(amount, "amount")
    new = client.new
    call: Callable[..., ActionResult]
    args: tuple[Any, ...]
    if target.kind == "legacy":
        legacy: dict[str, tuple[Callable[..., ActionResult], tuple[Any, ...]]] = {
            "repay": (client.repay, (target.ref, amount)),
            "repay_all": (client.repay_all, (target.ref,)),
            "add": (client.adjust_collateral, (target.ref, amount, "add")),
            "reduce": (client.adjust_collateral, (target.ref, amount, "reduce")),
        }
        call, args = legacy[action]
    elif target.kind == "pool":
        call, args = new.adjust_collateral, (target.coin, amount, action)
    elif target.kind == "flexible" and action == "repay_all":
        call, args = new.flexible_repay_all, (target.ref,)
    elif target.kind == "flexible":
        call, args = new.flexible_repay, (target.ref, amount)
    elif target.kind == "fixed":
        call, args = new.fixed_fully_repay, (target.ref,)
    else:
        call, args = getattr(new, CANCEL_METHOD), (target.ref,)
    if action == "reduce":
        most = max_reduction(client, target)
        if amount > most:
            raise ValidationError(
                f"at most {format(most, 'f')} {target.coin} can be taken now "
                "(the exchange's max allowed reduction)"
            )
    extra: dict[str, Any] = {"force": True} if force and _accepts_force(call) else {}
    return call(*args, source=source, **extra)
