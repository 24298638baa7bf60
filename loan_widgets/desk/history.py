"""The LTV of each position at each refresh since the desk opened (bounded), for the chart."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from decimal import Decimal

from ..portfolio import Snapshot

__all__ = ["History"]


class History:
    """Each key's LTV at each refresh since the desk opened (the last ``size`` refreshes)."""

    def __init__(self, size: int = 720) -> None:
        self.times: deque[int] = deque(maxlen=size)
        self._points: deque[Mapping[str, Decimal]] = deque(maxlen=size)

    def add(self, snap: Snapshot) -> None:
        """Record the snapshot's LTVs."""
        self.times.append(snap.taken_at_ms)
        self._points.append(snap.ltvs())

    def __len__(self) -> int:
        return len(self.times)

    def keys(self) -> list[str]:
        """Every key seen, in order of first appearance."""
        seen: dict[str, None] = {}
        for point in self._points:
            seen.update(dict.fromkeys(point))
        return list(seen)

    def series(self, key: str) -> list[Decimal | None]:
        """The key's LTV at each recorded time (``None`` where it was not open)."""
        return [point.get(key) for point in self._points]
