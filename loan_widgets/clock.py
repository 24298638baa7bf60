"""Local clocks: milliseconds since the epoch and UTC datetimes.

The exchange's clock (its offset from ours, measured through
``/v5/market/time``) is kept by :class:`~loan_widgets.client.LoanClient`;
these are the local readings everything else is built on.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone

__all__ = ["now_ms", "utc", "utc_now"]


def now_ms() -> int:
    """Local wall-clock time in whole milliseconds since the epoch."""
    return time.time_ns() // 1_000_000


def utc(ms: float) -> datetime:
    """A tz-aware UTC datetime from milliseconds since the epoch."""
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


def utc_now() -> datetime:
    """Now, as a tz-aware UTC datetime."""
    return utc(time.time() * 1000)
