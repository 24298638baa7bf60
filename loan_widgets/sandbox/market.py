"""The sandbox's market: coin tables, spot prices and starting balances, as data.

Every number is a :class:`~decimal.Decimal`. The USDT loan terms and the ETH
collateral terms are copied from Bybit's own documentation examples; the
other coins carry plausible values of the same shape.

=========  =========  =======  =========  ==================  ================
coin       price      wallet   loan acc.  loan min / max      terms offered
=========  =========  =======  =========  ==================  ================
USDT       1          100000   4          20 / 8000000        flex, 7, 14, 30
USDC       1          100000   4          20 / 5000000        flex, 7 ... 180
BTC        65000      10       6          0.0005 / 160        flex, 7 ... 90
ETH        2500       100      6          0.01 / 3000         flex, 7, 14, 30
SOL        150        1000     4          0.5 / 50000         flex only
XRP        0.55       100000   2          50 / 2000000        flex, 7, 14, 30
=========  =========  =======  =========  ==================  ================

=========  =========  ==========  =============  ==============  ========
collateral accuracy   initialLTV  marginCallLTV  liquidationLTV  maxLimit
=========  =========  ==========  =============  ==============  ========
ETH        8          0.8         0.87           0.95            32000
BTC        8          0.8         0.87           0.95            1000
SOL        6          0.6         0.75           0.85            200000
XRP        4          0.5         0.7            0.83            5000000
USDT       4          0.9         0.93           0.96            10000000
USDC       4          0.9         0.93           0.96            10000000
=========  =========  ==========  =============  ==============  ========

Crypto Loan (New) has its own tables (:data:`NEW_LOAN_COINS`,
:data:`COLLATERAL_RATIO_GROUPS`, :data:`LIQUIDATION_ORDER`,
:data:`LENDING_OFFERS`). ETH is exactly the docs' ``loanable-data`` example
(rates included: its flexible annual rate is its hourly rate x 8760, and its
only fixed term on offer is 14 days at 0.08); the BTC flexible hourly rate is
the docs' ``position`` example. The fixed ``annualizedInterestRate{N}D`` of
``loanable-data`` is the lowest annual rate on offer for that term in
:data:`LENDING_OFFERS` (``""`` when none), as the docs define it.

=========  ======  ============  =============  ===========  ==========  ===========
coin       fixed   fixed acc.    flexible acc.  max          min fixed   min flexible
=========  ======  ============  =============  ===========  ==========  ===========
USDT       yes     4             4              8000000      100         20
USDC       yes     4             4              5000000      100         20
BTC        yes     6             4              160          0.01        0.0005
ETH        yes     6             4              1100         0.1         0.001
SOL        no      4             4              50000        5           0.5
XRP        no      2             2              2000000      500         50
=========  ======  ============  =============  ===========  ==========  ===========
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from ..numbers import trimmed
from ..terms import LEGACY_TERMS, NEW_API_TERMS

__all__ = [
    "BORROW_DEMAND",
    "COLLATERAL_COINS",
    "COLLATERAL_RATIO_GROUPS",
    "COLLATERAL_REPAY_CAP_USD",
    "DEMO_API_KEY",
    "DEMO_API_SECRET",
    "FLEXIBLE_INVENTORY",
    "HOURS_PER_YEAR",
    "LENDER_SHARE",
    "LENDING_OFFERS",
    "LIQUIDATION_ORDER",
    "LOAN_COINS",
    "LOAN_TERMS",
    "NEW_LOAN_COINS",
    "NEW_LOAN_TERMS",
    "PRICES",
    "REPAY_FEE_RATES",
    "STABLECOINS",
    "STARTING_BALANCES",
    "TICK_SIZES",
    "VIP_LEVELS",
    "CollateralCoin",
    "CollateralTier",
    "LendingOffer",
    "LoanCoin",
    "NewLoanCoin",
    "fmt",
]

DEMO_API_KEY = "SANDBOXDEMOKEY0001"
"""The sandbox's built-in API key. Public on purpose: it only works on a sandbox."""

DEMO_API_SECRET = "sandbox-demo-secret-not-a-secret"
"""The HMAC secret of :data:`DEMO_API_KEY`. Public on purpose, like the key."""

LOAN_TERMS = LEGACY_TERMS
"""Fixed loan terms in days, as the API spells them."""

VIP_LEVELS = (
    "VIP0", "VIP1", "VIP2", "VIP3", "VIP4", "VIP5", "VIP99",
    "PRO1", "PRO2", "PRO3", "PRO4", "PRO5", "PRO6",
)
"""Every tier the API accepts as ``vipLevel``; the sandbox uses one table for all."""


fmt = trimmed
"""A Decimal as Bybit writes amounts: plain digits, no exponent, no trailing zeros."""


def _d(text: str) -> Decimal:
    return Decimal(text)


@dataclass(frozen=True)
class LoanCoin:
    """A borrowable coin (``loanable-data``). ``None`` rates mean the term is not offered."""

    currency: str
    borrowing_accuracy: int
    flexible_rate: Decimal | None
    rates: dict[str, Decimal | None]  # term ("7" ... "180") -> hourly rate
    min_amount: Decimal
    max_amount: Decimal

    def rate_for(self, term: str) -> Decimal | None:
        """The hourly rate for ``term`` ('' = flexible), ``None`` if not offered."""
        return self.flexible_rate if term == "" else self.rates.get(term)

    def to_wire(self) -> dict[str, object]:
        """The L2 list item, field for field."""
        item: dict[str, object] = {
            "borrowingAccuracy": self.borrowing_accuracy,
            "currency": self.currency,
            "flexibleHourlyInterestRate": _rate(self.flexible_rate),
        }
        for term in LOAN_TERMS:
            item[f"hourlyInterestRate{term}D"] = _rate(self.rates.get(term))
        item["maxBorrowingAmount"] = fmt(self.max_amount)
        item["minBorrowingAmount"] = fmt(self.min_amount)
        return dict(sorted(item.items()))  # Bybit sends the keys sorted


def _rate(rate: Decimal | None) -> str:
    return "" if rate is None else fmt(rate)


@dataclass(frozen=True)
class CollateralCoin:
    """A coin accepted as collateral (``collateral-data``)."""

    currency: str
    collateral_accuracy: int
    initial_ltv: Decimal
    margin_call_ltv: Decimal
    liquidation_ltv: Decimal
    max_limit: Decimal

    def to_wire(self) -> dict[str, object]:
        """The L1 list item, field for field."""
        return {
            "collateralAccuracy": self.collateral_accuracy,
            "currency": self.currency,
            "initialLTV": fmt(self.initial_ltv),
            "liquidationLTV": fmt(self.liquidation_ltv),
            "marginCallLTV": fmt(self.margin_call_ltv),
            "maxLimit": fmt(self.max_limit),
        }


def _loan(
    currency: str, accuracy: int, flexible: str, terms: tuple[str, ...], low: str, high: str
) -> LoanCoin:
    rates = {t: (_d(r) if r else None) for t, r in zip(LOAN_TERMS, terms, strict=True)}
    flexible_rate = _d(flexible) if flexible else None
    return LoanCoin(currency, accuracy, flexible_rate, rates, _d(low), _d(high))


LOAN_COINS: dict[str, LoanCoin] = {
    c.currency: c
    for c in (
        # USDT exactly as the docs' loanable-data example.
        _loan("USDT", 4, "0.0000090346",
              ("0.0000180692", "0.0000207796", "0.00002349", "", ""), "20", "8000000"),
        _loan("USDC", 4, "0.0000087123",
              ("0.000017521", "0.0000201344", "0.0000228001", "0.000025123", "0.0000270012"),
              "20", "5000000"),
        _loan("BTC", 6, "0.0000010633",
              ("0.00000121", "0.00000132", "0.00000144", "0.00000163", ""), "0.0005", "160"),
        _loan("ETH", 6, "0.0000018847",
              ("0.0000010241", "0.0000011502", "0.0000012873", "", ""), "0.01", "3000"),
        _loan("SOL", 4, "0.0000045", ("", "", "", "", ""), "0.5", "50000"),
        _loan("XRP", 2, "0.0000039",
              ("0.0000052", "0.0000056", "0.0000061", "", ""), "50", "2000000"),
    )
}
"""Borrowable coins by currency."""

COLLATERAL_COINS: dict[str, CollateralCoin] = {
    c.currency: c
    for c in (
        # ETH exactly as the docs' collateral-data example.
        CollateralCoin("ETH", 8, _d("0.8"), _d("0.87"), _d("0.95"), _d("32000")),
        CollateralCoin("BTC", 8, _d("0.8"), _d("0.87"), _d("0.95"), _d("1000")),
        CollateralCoin("SOL", 6, _d("0.6"), _d("0.75"), _d("0.85"), _d("200000")),
        CollateralCoin("XRP", 4, _d("0.5"), _d("0.7"), _d("0.83"), _d("5000000")),
        CollateralCoin("USDT", 4, _d("0.9"), _d("0.93"), _d("0.96"), _d("10000000")),
        CollateralCoin("USDC", 4, _d("0.9"), _d("0.93"), _d("0.96"), _d("10000000")),
    )
}
"""Collateral coins by currency."""

PRICES: dict[str, Decimal] = {
    "BTC": _d("65000"),
    "ETH": _d("2500"),
    "SOL": _d("150"),
    "XRP": _d("0.55"),
    "USDC": _d("1"),
    "USDT": _d("1"),
}
"""Spot prices in USDT, the starting point of :meth:`Sandbox.set_price`."""

STABLECOINS = frozenset({"USDT", "USDC"})
"""Coins whose price a random walk leaves at 1."""

TICK_SIZES: dict[str, Decimal] = {
    "BTC": _d("0.01"),
    "ETH": _d("0.01"),
    "SOL": _d("0.01"),
    "XRP": _d("0.0001"),
    "USDC": _d("0.0001"),
}
"""Spot tick sizes: the ticker quotes bid and ask one tick either side of the price."""

STARTING_BALANCES: dict[str, Decimal] = {
    "BTC": _d("10"),
    "ETH": _d("100"),
    "SOL": _d("1000"),
    "XRP": _d("100000"),
    "USDT": _d("100000"),
    "USDC": _d("100000"),
}
"""The Funding wallet of a fresh sandbox."""


# -- Crypto Loan (New) ------------------------------------------------------------------

NEW_LOAN_TERMS = tuple(int(days) for days in NEW_API_TERMS)
"""Fixed terms in days the new API accepts (60 exists in practice, see the reference)."""

HOURS_PER_YEAR = 8760
"""Annual rate = hourly rate x 8760 (365 days), the relation the docs' ETH example obeys."""


@dataclass(frozen=True)
class NewLoanCoin:
    """A borrowable coin of the new API (``/v5/crypto-loan-common/loanable-data``)."""

    currency: str
    fixed_borrowable: bool
    fixed_accuracy: int
    flexible_borrowable: bool
    flexible_accuracy: int
    max_amount: Decimal
    min_fixed: Decimal
    min_flexible: Decimal
    hourly_rate: Decimal  # the flexible rate; interest accrues at it every whole hour

    @property
    def annual_rate(self) -> Decimal:
        """``flexibleAnnualizedInterestRate``: the hourly rate x 8760."""
        return self.hourly_rate * HOURS_PER_YEAR


def _new(currency: str, fixed: bool, fixed_acc: int, flex_acc: int, high: str, min_fixed: str,
         min_flex: str, hourly: str) -> NewLoanCoin:
    return NewLoanCoin(currency, fixed, fixed_acc, True, flex_acc, _d(high), _d(min_fixed),
                       _d(min_flex), _d(hourly))


NEW_LOAN_COINS: dict[str, NewLoanCoin] = {
    c.currency: c
    for c in (
        _new("USDT", True, 4, 4, "8000000", "100", "20", "0.0000090346"),
        _new("USDC", True, 4, 4, "5000000", "100", "20", "0.0000087123"),
        _new("BTC", True, 6, 4, "160", "0.01", "0.0005", "0.0000001361462"),
        # ETH exactly as the docs' new loanable-data example (0.001429799316 / 8760).
        _new("ETH", True, 6, 4, "1100", "0.1", "0.001", "0.0000001632191"),
        _new("SOL", False, 4, 4, "50000", "5", "0.5", "0.0000045"),
        _new("XRP", False, 2, 2, "2000000", "500", "50", "0.0000039"),
    )
}
"""New-API borrowable coins by currency."""


@dataclass(frozen=True)
class CollateralTier:
    """One band of a tiered collateral ratio: USD value in ``[min_value, max_value)``."""

    min_value: Decimal
    max_value: Decimal
    ratio: Decimal

    def to_wire(self) -> dict[str, str]:
        """The ``collateralRatioList`` item."""
        return {"collateralRatio": fmt(self.ratio), "maxValue": fmt(self.max_value),
                "minValue": fmt(self.min_value)}


def _tiers(*bands: tuple[str, str, str]) -> tuple[CollateralTier, ...]:
    return tuple(CollateralTier(_d(lo), _d(hi), _d(r)) for lo, hi, r in bands)


COLLATERAL_RATIO_GROUPS: tuple[tuple[tuple[str, ...], tuple[CollateralTier, ...]], ...] = (
    (("BTC", "ETH"), _tiers(("0", "1000000", "1"), ("1000000", "5000000", "0.95"),
                            ("5000000", "99999999999", "0.9"))),
    (("USDT", "USDC"), _tiers(("0", "99999999999", "1"))),
    (("SOL", "XRP"), _tiers(("0", "100000", "0.8"), ("100000", "500000", "0.7"),
                            ("500000", "99999999999", "0.5"))),
)
"""Coins sharing one tiered collateral ratio. The tiers apply per coin, marginally:
a coin's collateral value counts at each band's ratio for the part inside that band."""

LIQUIDATION_ORDER: dict[str, int] = {"USDT": 1, "USDC": 2, "BTC": 3, "ETH": 4, "SOL": 5, "XRP": 6}
"""The order in which pooled collateral is sold when the account is liquidated."""


@dataclass(frozen=True)
class LendingOffer:
    """A supply order on the fixed-rate lending market (``borrow-order-quote``)."""

    term: int
    rate: Decimal  # annual
    qty: Decimal


def _offers(*rows: tuple[int, str, str]) -> tuple[LendingOffer, ...]:
    return tuple(LendingOffer(term, _d(rate), _d(qty)) for term, rate, qty in rows)


LENDING_OFFERS: dict[str, tuple[LendingOffer, ...]] = {
    # USDT 14 days at 0.04 for 988.78 is the docs' borrow-order-quote example; 7 days at
    # 0.02 for 50000000 is the docs' fixed available-inventory example.
    "USDT": _offers((7, "0.02", "50000000"), (14, "0.04", "988.78"), (14, "0.042", "25000"),
                    (30, "0.05", "120000"), (60, "0.055", "80000"), (90, "0.06", "30000")),
    "USDC": _offers((7, "0.04", "40000"), (30, "0.048", "60000"), (180, "0.065", "100000")),
    "BTC": _offers((7, "0.015", "3"), (30, "0.022", "2.5"), (90, "0.025", "1")),
    "ETH": _offers((14, "0.08", "25"), (14, "0.085", "40")),
}
"""Supply on the fixed-rate market by coin (``borrow-order-quote``). A fixed borrow order
fills from the offers of its term whose rate is at most its ``annualRate``, cheapest first;
each offer it takes from becomes one contract and loses that quantity."""

BORROW_DEMAND: dict[str, tuple[LendingOffer, ...]] = {
    # The docs' supply-order-quote example, row for row.
    "USDT": _offers((60, "0.02", "1000.1234"), (7, "0.022", "212.1234")),
    "USDC": _offers((30, "0.03", "20000")),
    "ETH": _offers((30, "0.015", "10")),
}
"""Borrow demand on the fixed-rate market by coin (``supply-order-quote``). A supply order
fills from the demand of its term whose rate is at least its ``annualRate``, dearest first,
and takes that quantity."""

FLEXIBLE_INVENTORY: dict[str, Decimal] = {
    "USDT": _d("100000000"),  # the docs' flexible available-inventory example
    "USDC": _d("50000000"),
    "BTC": _d("500"),
    "ETH": _d("5000"),
    "SOL": _d("100000"),
    "XRP": _d("10000000"),
}
"""What the flexible lending pool holds per coin; flexible debt draws on it (148011 past it)."""

REPAY_FEE_RATES: dict[str, Decimal] = {
    "USDT": _d("0.0005"), "USDC": _d("0.0005"), "BTC": _d("0.001"), "ETH": _d("0.001"),
    "SOL": _d("0.002"), "XRP": _d("0.002"),
}
"""Repayment fee rate per coin for collateral repayments: the higher of the loan coin's and
the collateral coin's applies (the docs give no figures; these are the sandbox's)."""

LENDER_SHARE = _d("0.85")
"""The share of a fixed contract's interest that reaches the lender: the docs' supply
contract (800 USDT, 7 days, 0.01) earns 0.13041095890410959 = 800 x 0.01 x 7 / 365 x 0.85."""

COLLATERAL_REPAY_CAP_USD = _d("300000")
"""The most one collateral repayment may repay, in USD (148047 past it)."""
