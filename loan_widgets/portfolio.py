"""Open loans as one snapshot: debt, collateral, LTV against its levels, what-if, alerts.

Pure ``Decimal`` arithmetic on what the exchange answered (no HTTP, no widgets),
so the :class:`~loan_widgets.desk.LoanDesk` and its tests share one model:

* :func:`snapshot` turns one refresh's reads (:class:`Reads`: spot prices, the
  legacy ``ongoing-orders``, the new API's ``position``, flexible debts, fixed
  contracts and matching fixed orders) into a :class:`Snapshot` of
  :class:`Position` rows and the new API's pooled :class:`Pool`;
* each position knows its LTV, its margin-call and liquidation levels, the
  collateral price fall that would reach each (``1 - LTV / level``: LTV is
  debt value over collateral value, so it grows as ``1 / price``), the
  trigger prices and its time to maturity;
* :func:`what_if` applies price shocks per coin and says which positions would
  be margin-called or liquidated;
* :func:`crossings` is the alert rule: an alert fires when an LTV reaches its
  threshold from below, once, and re-arms only after the LTV fell back
  :data:`REARM_GAP` under it.

The new API's pool counts each coin at a tiered ratio of its USD value
(``collateral-data``'s bands, applied like tax brackets); its LTV is the
account's total debt in USD over that. Bybit publishes no margin-call or
liquidation LTV for the new API: :data:`NEW_API_LEVELS` are the sandbox's
(0.85 and 0.91), and the desk takes the account's own levels as an argument.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from .numbers import wire_decimal

__all__ = [
    "DEFAULT_ALERT_GAP",
    "NEW_API_LEVELS",
    "REARM_GAP",
    "AlertEvent",
    "Levels",
    "Pool",
    "Position",
    "Reads",
    "Shocked",
    "Snapshot",
    "Tier",
    "crossings",
    "fall_to",
    "levels_from_wire",
    "risk",
    "snapshot",
    "threshold_for",
    "tiered_value",
    "tiers_from_wire",
    "what_if",
]

ZERO = Decimal(0)
ONE = Decimal(1)
DEFAULT_ALERT_GAP = Decimal("0.03")
"""The default alert threshold sits this far (3 LTV points) below the margin-call LTV."""
REARM_GAP = Decimal("0.005")
"""An alert re-arms once the LTV is this far (half a point) back under its threshold."""


@dataclass(frozen=True)
class Levels:
    """A position's LTV levels: start (``initial``), margin call and liquidation."""

    margin_call: Decimal | None
    liquidation: Decimal | None
    initial: Decimal | None = None


NEW_API_LEVELS = Levels(Decimal("0.85"), Decimal("0.91"), Decimal("0.8"))
"""The new API's account levels as the sandbox sets them (the API publishes none)."""


@dataclass(frozen=True)
class Tier:
    """One band of a tiered collateral ratio: USD value in ``[low, high)`` counts at ``ratio``."""

    low: Decimal
    high: Decimal
    ratio: Decimal


def tiered_value(value: Decimal, tiers: Sequence[Tier]) -> Decimal:
    """USD value after the tiered ratio (bands applied like tax brackets)."""
    counted = ZERO
    for tier in tiers:
        if value <= tier.low:
            break
        counted += (min(value, tier.high) - tier.low) * tier.ratio
    return counted


def fall_to(ltv: Decimal | None, level: Decimal | None) -> Decimal | None:
    """The collateral price fall (a fraction) that takes ``ltv`` to ``level``; 0 when there."""
    if ltv is None or level is None or level <= 0 or ltv <= 0:
        return None
    return max(ZERO, ONE - ltv / level)


def risk(ltv: Decimal | None, levels: Levels, threshold: Decimal | None = None) -> str:
    """``liquidation``, ``margin call``, ``alert`` (at or past ``threshold``) or ``ok``."""
    if ltv is None:
        return "ok"
    if levels.liquidation is not None and ltv >= levels.liquidation:
        return "liquidation"
    if levels.margin_call is not None and ltv >= levels.margin_call:
        return "margin call"
    if threshold is not None and ltv >= threshold:
        return "alert"
    return "ok"


# --------------------------------------------------------------------------- wire parsing


def levels_from_wire(items: Iterable[Mapping[str, Any]]) -> dict[str, Levels]:
    """Legacy ``collateral-data`` rows -> levels per collateral coin."""
    found = {}
    for item in items:
        coin = item.get("currency")
        if coin:
            found[str(coin)] = Levels(
                wire_decimal(item.get("marginCallLTV")),
                wire_decimal(item.get("liquidationLTV")),
                wire_decimal(item.get("initialLTV")),
            )
    return found


def tiers_from_wire(result: Mapping[str, Any]) -> dict[str, tuple[Tier, ...]]:
    """The new API's ``collateral-data`` -> ratio bands per coin, lowest band first."""
    found: dict[str, tuple[Tier, ...]] = {}
    for group in result.get("collateralRatioConfigList") or []:
        bands = sorted(
            (
                Tier(Decimal(str(b["minValue"])), Decimal(str(b["maxValue"])),
                     Decimal(str(b["collateralRatio"])))
                for b in group.get("collateralRatioList") or []
            ),
            key=lambda t: t.low,
        )
        for coin in str(group.get("currencies", "")).split(","):
            if coin.strip():
                found[coin.strip()] = tuple(bands)
    return found


def _d(value: Any) -> Decimal:
    return wire_decimal(value) or ZERO


def _ms(value: Any) -> int | None:
    text = str(value or "").strip()
    return int(text) if text.isdigit() and int(text) > 0 else None


# --------------------------------------------------------------------------- the model


@dataclass(frozen=True)
class Position:
    """One row of the desk: a legacy loan, the pool, a flexible debt, a contract or an order.

    ``key`` is stable across refreshes: ``legacy:<orderId>``, ``pool``,
    ``flexible:<coin>``, ``fixed:<loanId>``, ``order:<orderId>``. Flexible
    debts and fixed contracts share the pool's collateral, so their ``ltv`` is
    the pool's (``pooled`` is True). Amounts are in the loan coin;
    ``collateral`` is ``((coin, amount), ...)``.
    """

    key: str
    kind: str
    api: str
    loan_coin: str | None = None
    principal: Decimal | None = None
    interest: Decimal | None = None
    collateral: tuple[tuple[str, Decimal], ...] = ()
    ltv: Decimal | None = None
    levels: Levels = Levels(None, None)
    term: str = "flexible"
    due_ms: int | None = None
    rate: Decimal | None = None
    rate_per: str = "hour"
    pooled: bool = False
    quantity: Decimal | None = None
    filled: Decimal | None = None
    ref: str = ""

    @property
    def debt(self) -> Decimal | None:
        """Principal plus interest and penalty interest, in the loan coin."""
        if self.principal is None:
            return None
        return self.principal + (self.interest or ZERO)

    @property
    def collateral_coin(self) -> str | None:
        """The (first) collateral coin."""
        return self.collateral[0][0] if self.collateral else None

    @property
    def fall_to_margin_call(self) -> Decimal | None:
        """Collateral price fall that reaches the margin-call LTV (fraction)."""
        return fall_to(self.ltv, self.levels.margin_call)

    @property
    def fall_to_liquidation(self) -> Decimal | None:
        """Collateral price fall that reaches the liquidation LTV (fraction)."""
        return fall_to(self.ltv, self.levels.liquidation)

    def trigger_price(self, price: Decimal | None, level: Decimal | None) -> Decimal | None:
        """The collateral price at which ``level`` is reached (loan coin price unchanged)."""
        if price is None or self.ltv is None or level is None or level <= 0:
            return None
        return price * self.ltv / level

    def time_left_ms(self, now_ms: int) -> int | None:
        """Milliseconds to maturity (negative when overdue); ``None`` when open-ended."""
        return None if self.due_ms is None else self.due_ms - now_ms


@dataclass(frozen=True)
class Pool:
    """The new API's pooled collateral and debts, in coins and USD, with its account LTV."""

    ltv: Decimal
    levels: Levels
    collateral: tuple[tuple[str, Decimal], ...]
    debts: tuple[tuple[str, Decimal], ...]
    collateral_usd: Decimal
    debt_usd: Decimal
    tiers: Mapping[str, tuple[Tier, ...]] = field(default_factory=dict)
    ratios: Mapping[str, Decimal] = field(default_factory=dict)
    """For coins without bands: counted USD over market USD, as ``position`` reported it."""

    def value(self, prices: Mapping[str, Decimal], shocks: Mapping[str, Decimal]) -> tuple[
        Decimal, Decimal
    ]:
        """(debt USD, counted collateral USD) at ``prices`` moved by ``shocks`` (fractions)."""
        def price(coin: str) -> Decimal:
            return prices.get(coin, ZERO) * (ONE + shocks.get(coin, ZERO))

        debt = sum((amount * price(c) for c, amount in self.debts), ZERO)
        counted = ZERO
        for coin, amount in self.collateral:
            value = amount * price(coin)
            tiers = self.tiers.get(coin)
            counted += tiered_value(value, tiers) if tiers else value * self.ratios.get(coin, ONE)
        return debt, counted

    def shocked_ltv(self, prices: Mapping[str, Decimal], shocks: Mapping[str, Decimal]) -> (
        Decimal | None
    ):
        """The pool's LTV after ``shocks``, scaled so that no shock gives the exchange's LTV."""
        base_debt, base_coll = self.value(prices, {})
        debt, coll = self.value(prices, shocks)
        if debt <= 0:
            return ZERO
        if coll <= 0:
            return None  # nothing left to count: beyond any level
        if base_debt <= 0 or base_coll <= 0 or self.ltv <= 0:
            return debt / coll
        return self.ltv * (debt / coll) / (base_debt / base_coll)

    def fall_to(self, prices: Mapping[str, Decimal], level: Decimal | None) -> Decimal | None:
        """The fall of every collateral price together that reaches ``level`` (bisection)."""
        if level is None or self.ltv <= 0:
            return None
        if self.ltv >= level:
            return ZERO
        coins = [c for c, _ in self.collateral if c not in dict(self.debts)]
        if not coins:
            return fall_to(self.ltv, level)
        low, high = ZERO, ONE
        for _ in range(48):  # 2**-48 of a price: far finer than any LTV is shown
            middle = (low + high) / 2
            ltv = self.shocked_ltv(prices, {c: -middle for c in coins})
            if ltv is None or ltv >= level:
                high = middle
            else:
                low = middle
        return high


@dataclass(frozen=True)
class Reads:
    """The raw answers of one refresh (``None``: that book was not read)."""

    taken_at_ms: int
    prices: Mapping[str, Decimal]
    legacy_orders: Sequence[Mapping[str, Any]] | None = None
    legacy_levels: Mapping[str, Levels] = field(default_factory=dict)
    position: Mapping[str, Any] | None = None
    flexible: Sequence[Mapping[str, Any]] | None = None
    contracts: Sequence[Mapping[str, Any]] | None = None
    orders: Sequence[Mapping[str, Any]] | None = None
    tiers: Mapping[str, tuple[Tier, ...]] = field(default_factory=dict)
    new_levels: Levels = NEW_API_LEVELS
    reads: int = 0
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Snapshot:
    """Every open position at ``taken_at_ms``, valued at ``prices`` (read at that time)."""

    taken_at_ms: int
    prices: Mapping[str, Decimal]
    positions: tuple[Position, ...]
    pool: Pool | None = None
    reads: int = 0
    notes: tuple[str, ...] = ()

    def get(self, key: str) -> Position | None:
        """The position with ``key``, if open."""
        return next((p for p in self.positions if p.key == key), None)

    def ltvs(self) -> dict[str, Decimal]:
        """LTV by key, for the positions that carry their own (legacy loans and the pool)."""
        return {p.key: p.ltv for p in self.positions if p.ltv is not None and not p.pooled}

    @property
    def collateral_coins(self) -> tuple[str, ...]:
        """Every coin pledged, sorted."""
        return tuple(sorted({c for p in self.positions for c, _ in p.collateral}))


def _legacy(item: Mapping[str, Any], levels: Mapping[str, Levels]) -> Position:
    coin = str(item["collateralCurrency"])
    return Position(
        key=f"legacy:{item['orderId']}",
        kind="legacy",
        api="legacy",
        loan_coin=str(item["loanCurrency"]),
        principal=_d(item.get("totalDebt")),
        interest=_d(item.get("residualInterest")) + _d(item.get("residualPenaltyInterest")),
        collateral=((coin, _d(item.get("collateralAmount"))),),
        ltv=wire_decimal(item.get("currentLTV")),
        levels=levels.get(coin, Levels(None, None)),
        term=str(item.get("loanTerm") or "flexible"),
        due_ms=_ms(item.get("expirationTime")),
        rate=wire_decimal(item.get("hourlyInterestRate")),
        ref=str(item["orderId"]),
    )


def _pool(reads: Reads) -> Pool | None:
    result = reads.position
    if not result:
        return None
    items = [c for c in result.get("collateralList") or [] if _d(c.get("amount")) > 0]
    collateral = tuple((str(c["currency"]), _d(c.get("amount"))) for c in items)
    ratios = {}
    for c in items:  # what position's amountUSD implies, for coins without bands
        market = _d(c.get("amount")) * reads.prices.get(str(c["currency"]), ZERO)
        if market > 0 and wire_decimal(c.get("amountUSD")) is not None:
            ratios[str(c["currency"])] = _d(c.get("amountUSD")) / market
    debts = tuple(
        (str(b["loanCurrency"]), _d(b.get("flexibleTotalDebt")) + _d(b.get("fixedTotalDebt")))
        for b in result.get("borrowList") or []
    )
    debts = tuple((c, a) for c, a in debts if a > 0)
    if not collateral and not debts:
        return None
    return Pool(
        ltv=_d(result.get("ltv")),
        levels=reads.new_levels,
        collateral=collateral,
        debts=debts,
        collateral_usd=_d(result.get("totalCollateral")),
        debt_usd=_d(result.get("totalDebt")),
        tiers=reads.tiers,
        ratios=ratios,
    )


def _new_positions(reads: Reads, pool: Pool | None) -> list[Position]:
    levels = reads.new_levels
    ltv = pool.ltv if pool is not None else None
    rows = []
    if pool is not None:
        rows.append(Position(
            key="pool", kind="pool", api="new", collateral=pool.collateral, ltv=pool.ltv,
            levels=levels, principal=None, ref="pool",
        ))
    for item in reads.flexible or ():
        coin = str(item["loanCurrency"])
        rows.append(Position(
            key=f"flexible:{coin}", kind="flexible", api="new", loan_coin=coin,
            principal=_d(item.get("unpaidAmount")), interest=_d(item.get("unpaidInterest")),
            ltv=ltv, levels=levels, rate=wire_decimal(item.get("hourlyInterestRate")),
            pooled=True, ref=coin,
        ))
    for item in reads.contracts or ():
        if int(item.get("status", 1)) not in (1, 3):
            continue  # fully repaid
        rows.append(Position(
            key=f"fixed:{item['loanId']}", kind="fixed", api="new",
            loan_coin=str(item["borrowCurrency"]),
            principal=_d(item.get("residualPrincipal")),
            interest=_d(item.get("residualPenaltyInterest")),
            ltv=ltv, levels=levels, term=str(item.get("term", "")),
            due_ms=_ms(item.get("repaymentTime")), rate=wire_decimal(item.get("annualRate")),
            rate_per="year", pooled=True, ref=str(item["loanId"]),
        ))
    for item in reads.orders or ():
        if int(item.get("state", 1)) != 1:
            continue  # filled, cancelled or failed: not waiting any more
        rows.append(Position(
            key=f"order:{item['orderId']}", kind="order", api="new",
            loan_coin=str(item["orderCurrency"]), term=str(item.get("term", "")),
            rate=wire_decimal(item.get("annualRate")), rate_per="year", pooled=True,
            quantity=_d(item.get("orderQty")), filled=_d(item.get("filledQty")),
            ref=str(item["orderId"]),
        ))
    return rows


def snapshot(reads: Reads) -> Snapshot:
    """One refresh's reads as positions: legacy loans first (riskiest first), then the pool."""
    legacy = [_legacy(item, reads.legacy_levels) for item in reads.legacy_orders or ()]
    legacy.sort(key=lambda p: (-(p.ltv or ZERO), p.key))
    pool = _pool(reads)
    rows = legacy + _new_positions(reads, pool)
    return Snapshot(reads.taken_at_ms, dict(reads.prices), tuple(rows), pool, reads.reads,
                    reads.notes)


# --------------------------------------------------------------------------- what-if


@dataclass(frozen=True)
class Shocked:
    """One position under a price shock: its LTV now and after, and what that would mean."""

    key: str
    ltv: Decimal | None
    ltv_after: Decimal | None
    outcome: str  # risk() of ltv_after: ok, alert, margin call, liquidation


def what_if(snap: Snapshot, shocks: Mapping[str, Decimal],
            thresholds: Mapping[str, Decimal] | None = None) -> tuple[Shocked, ...]:
    """Each position's LTV if each coin's price moved by ``shocks[coin]`` (``-0.2``: 20 % down).

    A legacy loan's LTV scales with its loan coin's price over its collateral
    coin's; the pool is revalued coin by coin through its tiered ratios.
    """
    thresholds = thresholds or {}
    pool_after = (
        snap.pool.shocked_ltv(snap.prices, shocks) if snap.pool is not None else None
    )
    found = []
    for p in snap.positions:
        if p.kind == "order":
            continue
        if p.api == "new":
            after = pool_after
        elif p.ltv is None:
            after = None
        else:
            up = ONE + shocks.get(p.loan_coin or "", ZERO)
            down = ONE + shocks.get(p.collateral_coin or "", ZERO)
            after = p.ltv * up / down if down > 0 else None
        found.append(Shocked(p.key, p.ltv, after, risk(after, p.levels, thresholds.get(p.key))))
    return tuple(found)


# --------------------------------------------------------------------------- alerts


@dataclass(frozen=True)
class AlertEvent:
    """An LTV reached its alert threshold (from below)."""

    key: str
    ltv: Decimal
    threshold: Decimal
    levels: Levels
    at_ms: int
    outcome: str  # risk() at the crossing: alert, margin call or liquidation


def threshold_for(position: Position, per_key: Mapping[str, Decimal],
                  everywhere: Decimal | None, gap: Decimal = DEFAULT_ALERT_GAP) -> Decimal | None:
    """The alert threshold of ``position``: its own, else the global one, else ``gap``
    under its margin-call LTV (``None`` when it has no LTV or no level)."""
    if position.key in per_key:
        return per_key[position.key]
    if everywhere is not None:
        return everywhere
    if position.levels.margin_call is None:
        return None
    return position.levels.margin_call - gap


def crossings(
    snap: Snapshot,
    thresholds: Mapping[str, Decimal],
    fired: frozenset[str],
    rearm_gap: Decimal = REARM_GAP,
) -> tuple[tuple[AlertEvent, ...], frozenset[str]]:
    """The alerts ``snap`` fires, and the keys that stay fired.

    ``fired`` holds the keys whose alert already fired and has not re-armed.
    A key fires when its LTV is at or over its threshold and it is not in
    ``fired``; it leaves ``fired`` when its LTV falls ``rearm_gap`` under the
    threshold, or when the position closes.
    """
    events = []
    still = set()
    for key, ltv in snap.ltvs().items():
        threshold = thresholds.get(key)
        if threshold is None:
            continue
        position = snap.get(key)
        assert position is not None
        if ltv >= threshold:
            still.add(key)
            if key not in fired:
                events.append(AlertEvent(key, ltv, threshold, position.levels,
                                         snap.taken_at_ms, risk(ltv, position.levels, threshold)))
        elif key in fired and ltv > threshold - rearm_gap:
            still.add(key)  # not far enough under to re-arm
    return tuple(events), frozenset(still)
