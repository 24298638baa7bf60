"""The Borrow hold: which ledger rows may hold an executed order, and whether they are settled.

After an answer that may mean the order was executed (any
:class:`~loan_widgets.errors.OutcomeUnknown`) or a refusal because an
identical order is still unsettled
(:class:`~loan_widgets.errors.DuplicateOrderError`), the widget holds its
Borrow button on those ledger rows. The hold ends only when every row is
settled (no longer ``pending`` or ``unknown``), which reconciliation does by
reading the exchange; never because the form changed.

No ipywidgets here: the rules are tested against a real ledger file alone.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..ledger import Ledger

__all__ = ["UNSETTLED", "Hold", "rows_text", "unsettled_since"]

UNSETTLED = frozenset({"pending", "unknown"})
"""Ledger statuses of an order whose outcome is not known yet."""


@dataclass(frozen=True)
class Hold:
    """Borrow is held on ``rows`` (ledger ids) for ``reason`` (one line)."""

    rows: tuple[int, ...]
    reason: str

    def unsettled(self, ledger: Ledger) -> tuple[int, ...]:
        """The held rows still ``pending`` or ``unknown`` (a row not found counts as unsettled)."""
        waiting = []
        for row_id in self.rows:
            try:
                status = ledger.get(row_id).status
            except KeyError:
                status = "unknown"
            if status in UNSETTLED:
                waiting.append(row_id)
        return tuple(waiting)

    def with_rows(self, rows: tuple[int, ...], reason: str) -> Hold:
        """This hold extended by ``rows`` (each kept once), for ``reason``."""
        return Hold(tuple(dict.fromkeys((*self.rows, *rows))), reason)


def rows_text(rows: tuple[int, ...]) -> str:
    """``ledger row 3``, ``ledger rows 3, 4``, or ``the last order`` when no row is known."""
    if not rows:
        return "the last order"
    return f"ledger row{'s' if len(rows) > 1 else ''} {', '.join(str(r) for r in rows)}"


def unsettled_since(ledger: Ledger, after_id: int, network: str) -> tuple[int, ...]:
    """Ids of this network's unsettled rows written after row ``after_id``.

    How the widget finds the row of an order whose error carries no ledger
    id (an interrupt while waiting for the answer, for example).
    """
    newer = ledger.rows(limit=50)
    return tuple(
        r.id for r in newer if r.id > after_id and r.network == network and r.status in UNSETTLED
    )
