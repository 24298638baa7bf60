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
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

__all__ = [
    "COLLATERAL_COINS",
    "DEMO_API_KEY",
    "DEMO_API_SECRET",
    "LOAN_COINS",
    "LOAN_TERMS",
    "PRICES",
    "STARTING_BALANCES",
    "TICK_SIZES",
    "VIP_LEVELS",
    "CollateralCoin",
    "LoanCoin",
    "fmt",
]

DEMO_API_KEY = "SANDBOXDEMOKEY0001"
"""The sandbox's built-in API key. Public on purpose: it only works on a sandbox."""

DEMO_API_SECRET = "sandbox-demo-secret-not-a-secret"
"""The HMAC secret of :data:`DEMO_API_KEY`. Public on purpose, like the key."""

LOAN_TERMS = ("7", "14", "30", "90", "180")
"""Fixed loan terms in days, as the API spells them."""

VIP_LEVELS = (
    "VIP0", "VIP1", "VIP2", "VIP3", "VIP4", "VIP5", "VIP99",
    "PRO1", "PRO2", "PRO3", "PRO4", "PRO5", "PRO6",
)
"""Every tier the API accepts as ``vipLevel``; the sandbox uses one table for all."""


def fmt(value: Decimal) -> str:
    """A Decimal as Bybit writes amounts: plain digits, no exponent, no trailing zeros."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"


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
