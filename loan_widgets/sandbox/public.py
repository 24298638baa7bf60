"""Public market data the sandbox serves besides the loan tables: server time and spot tickers.

Both handlers take ``(account, params, now)``; the account gives the prices.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Protocol

from . import market
from .wire import ApiError, fmt, params_error, required, text

__all__ = ["server_time", "tickers"]


class Priced(Protocol):
    """Anything with spot prices in USDT."""

    prices: dict[str, Decimal]


def server_time(account: object, params: Mapping[str, Any], now: int) -> dict[str, Any]:
    """``GET /v5/market/time``: ``timeSecond`` and ``timeNano`` as strings."""
    return {"timeSecond": str(now // 1000), "timeNano": str(now * 1_000_000)}


def tickers(account: Priced, params: Mapping[str, Any], now: int) -> dict[str, Any]:
    """``GET /v5/market/tickers?category=spot``: one XUSDT row per priced coin."""
    category = required(params, "category")
    if category != "spot":
        raise params_error("the sandbox serves category=spot only")
    symbol = text(params, "symbol")
    rows = []
    for coin, price in list(account.prices.items()):
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
