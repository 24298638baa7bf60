"""When to refresh next: the chosen interval, slowed near the rate limit, backed off on errors.

:meth:`Pacer.after` takes what the last refresh saw and returns the seconds to
wait before the next one:

* every answer's ``X-Bapi-Limit`` / ``X-Bapi-Limit-Status`` /
  ``X-Bapi-Limit-Reset-Timestamp``: with :data:`LOW_SHARE` or less of a limit
  left, the interval doubles, and with nothing left the next refresh waits for
  the reset time as well;
* retCode 10006 (the UID limit): the slow-down factor doubles each time (up to
  :data:`MAX_FACTOR`) and the wait is at least until the reset time;
* HTTP 403 (Bybit's IP limit, "access too frequent"): Bybit asks to stop for 10
  minutes, so the pacer waits :data:`FORBIDDEN_WAIT_S`;
* any other failure: the factor doubles too; a clean refresh halves it again.

Pure: no clock of its own (the server time in ms is passed in), no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = ["FORBIDDEN_WAIT_S", "LOW_SHARE", "MAX_FACTOR", "MIN_INTERVAL_S", "Pace", "Pacer"]

MIN_INTERVAL_S = 1.0
LOW_SHARE = 0.2
MAX_FACTOR = 32
FORBIDDEN_WAIT_S = 600.0


@dataclass(frozen=True)
class Pace:
    """The pacer's decision: seconds to wait, and why (empty when on schedule)."""

    delay: float
    reason: str = ""


def _limit(headers: Mapping[str, str]) -> tuple[int, int, int] | None:
    try:
        return (int(headers["x-bapi-limit"]), int(headers["x-bapi-limit-status"]),
                int(headers.get("x-bapi-limit-reset-timestamp", "0") or 0))
    except (KeyError, ValueError):
        return None


class Pacer:
    """Turns the user's interval and what the exchange said into the next delay."""

    def __init__(self, interval: float = 10.0) -> None:
        self.interval = interval
        self.factor = 1

    @property
    def interval(self) -> float:
        """The interval the user chose, in seconds (at least :data:`MIN_INTERVAL_S`)."""
        return self._interval

    @interval.setter
    def interval(self, seconds: float) -> None:
        self._interval = max(MIN_INTERVAL_S, float(seconds))

    def after(
        self,
        now_ms: int,
        limits: Iterable[Mapping[str, str]] = (),
        *,
        limited: bool = False,
        reset_ms: int | None = None,
        forbidden: bool = False,
        failed: bool = False,
    ) -> Pace:
        """The wait before the next refresh, given the last one's answers and outcome."""
        if forbidden:
            self.factor = MAX_FACTOR
            return Pace(max(FORBIDDEN_WAIT_S, self._interval),
                        "HTTP 403 from the exchange (IP rate limit or region block): "
                        f"waiting {FORBIDDEN_WAIT_S / 60:.0f} min")
        wait_until = reset_ms or 0
        reason = ""
        if limited:
            self.factor = min(MAX_FACTOR, self.factor * 2)
            reason = f"rate limit reached (10006): refreshing {self.factor}x slower"
        elif failed:
            self.factor = min(MAX_FACTOR, self.factor * 2)
            reason = f"the last refresh failed: next one {self.factor}x later"
        else:
            low = False
            for headers in limits:
                parsed = _limit(headers)
                if parsed is None or parsed[0] <= 0:
                    continue
                limit, left, reset = parsed
                if left <= LOW_SHARE * limit:
                    low = True
                    if left <= 0:
                        wait_until = max(wait_until, reset)
            if low:
                self.factor = min(MAX_FACTOR, self.factor * 2)
                reason = f"near the rate limit: refreshing {self.factor}x slower"
            elif self.factor > 1:
                self.factor //= 2
                reason = f"recovering: refreshing {self.factor}x slower" if self.factor > 1 else ""
        delay = self._interval * self.factor
        if wait_until > now_ms:
            delay = max(delay, (wait_until - now_ms) / 1000)
        return Pace(delay, reason)
