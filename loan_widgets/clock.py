"""Clocks: local milliseconds and UTC datetimes, and the exchange's clock.

:class:`ExchangeClock` keeps the exchange clock's offset from ours, measured
by the client through ``/v5/market/time``; the rest are the local readings
everything else is built on.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone

__all__ = ["CLOCK_MAX_AGE_S", "ExchangeClock", "now_ms", "utc", "utc_now"]


def now_ms() -> int:
    """Local wall-clock time in whole milliseconds since the epoch."""
    return time.time_ns() // 1_000_000


def utc(ms: float) -> datetime:
    """A tz-aware UTC datetime from milliseconds since the epoch."""
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


def utc_now() -> datetime:
    """Now, as a tz-aware UTC datetime."""
    return utc(time.time() * 1000)


CLOCK_MAX_AGE_S = 1800.0
"""How long a measured exchange-clock offset is trusted before it is measured again."""


class ExchangeClock:
    """The exchange's clock, read on ours through a measured offset (ms).

    ``measure(before, after, server_ms)`` takes one ``/v5/market/time`` round
    trip (local ``time.time()`` before and after, the server's ms) and keeps
    the offset from the round trip's midpoint. Thread-safe; no I/O here: the
    client does the request.
    """

    __slots__ = ("_lock", "_noise_ms", "_offset_ms", "_synced_at")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._offset_ms: float | None = None
        self._noise_ms = 0.0
        self._synced_at = 0.0

    @property
    def offset_ms(self) -> float | None:
        """Last measured offset of the exchange clock from ours, or ``None``."""
        return self._offset_ms

    def stale(self, max_age_s: float = CLOCK_MAX_AGE_S) -> bool:
        """True when never measured or measured more than ``max_age_s`` ago."""
        return self._offset_ms is None or time.time() - self._synced_at > max_age_s

    def measure(self, before: float, after: float, server_ms: float) -> float:
        """Keep the offset from one round trip; return it (ms).

        The midpoint estimate is off by at most half the round trip (plus 1 ms
        for a server clock read in whole ms), so a new measurement whose range
        overlaps the known one's keeps the known offset: the clock never steps
        back by measurement noise (a resend is never signed earlier than the
        attempt before it), while a real jump is taken at once.
        """
        with self._lock:
            measured = server_ms - (before + after) * 500.0
            noise = max(0.0, after - before) * 500.0 + 1.0
            known = self._offset_ms
            if known is None or abs(measured - known) > noise + self._noise_ms:
                self._offset_ms, self._noise_ms = measured, noise
            self._synced_at = after
            return self._offset_ms if self._offset_ms is not None else measured

    def now_ms(self) -> int:
        """The exchange's time now in ms (our clock if never measured)."""
        return int(time.time() * 1000 + (self._offset_ms or 0.0))
