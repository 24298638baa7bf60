"""The form's state: a :class:`FormState` plus a message, and the ``status`` derived from them.

::

    LOADING ─► IDLE ◄──► READY ──click──► SENDING ─► ACCEPTED | REJECTED | UNKNOWN | ERROR
                 ▲  INVALID ◄─┘ │ mainnet      ▲              (UNKNOWN holds Borrow)
                 │              └─► CONFIRM ───┘
                 └── HELD: Borrow held while an order that may have been executed is unsettled
                     DRY_RUN: a signed request was shown, nothing was sent

``message`` is the detail that goes with the state: why the form is invalid
or held, the order id of an accepted order, ``retCode retMsg`` of a rejection,
the question a mainnet confirmation asks, the description of a ready order.
``status`` keeps the strings the widget always had: the bare state for
``loading``, ``idle``, ``ready`` and ``sending``, else ``"state: message"``
(``"accepted: 1794…"``, ``"invalid: 10 USDT is below the minimum loan of 20"``).

No ipywidgets here: the table is tested on its own.
"""

from __future__ import annotations

from enum import Enum

__all__ = ["BARE", "COLOURS", "FormState", "status_text"]


class FormState(Enum):
    """What the BorrowWidget is doing, or what its last order did."""

    LOADING = "loading"
    """Coin data and prices are being fetched (or could not be, see ``ERROR``)."""
    IDLE = "idle"
    """Nothing typed yet."""
    READY = "ready"
    """The form holds a valid order; Borrow sends it."""
    INVALID = "invalid"
    """The form cannot be sent; the message says why."""
    CONFIRM = "confirm"
    """A mainnet order waits for Confirm or Cancel."""
    SENDING = "sending"
    """An order is on its way."""
    ACCEPTED = "accepted"
    """The exchange accepted the order; the message is its order id."""
    REJECTED = "rejected"
    """The exchange refused the order (``retCode retMsg``): it was not executed."""
    UNKNOWN = "unknown"
    """The order may have been executed: Borrow is held until it is settled."""
    HELD = "held"
    """Borrow is held: an earlier order that may have been executed is unsettled."""
    DRY_RUN = "dry_run"
    """The signed request was shown; nothing was sent (``dry_run=True``)."""
    ERROR = "error"
    """Something failed that is not the exchange's answer (loading, a bug)."""


BARE = frozenset({FormState.LOADING, FormState.IDLE, FormState.READY, FormState.SENDING})
"""States whose ``status`` is the state's value alone."""

COLOURS: dict[FormState, str] = {
    FormState.LOADING: "#57606a",
    FormState.IDLE: "#57606a",
    FormState.READY: "#57606a",
    FormState.INVALID: "#c62828",
    FormState.CONFIRM: "#c62828",
    FormState.SENDING: "#1565c0",
    FormState.ACCEPTED: "#2e7d32",
    FormState.REJECTED: "#c62828",
    FormState.UNKNOWN: "#ef6c00",
    FormState.HELD: "#ef6c00",
    FormState.DRY_RUN: "#1565c0",
    FormState.ERROR: "#c62828",
}
"""The colour the status line is written in, per state."""


def status_text(state: FormState, message: str) -> str:
    """The ``status`` string of ``state`` with ``message`` (one line)."""
    if state in BARE or not message:
        return state.value
    return f"{state.value}: {' '.join(message.split())}"
