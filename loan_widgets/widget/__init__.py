"""The BorrowWidget: a form to borrow with, on the same client, signer and ledger as ``%borrow``.

==================  =====================================================================
module              what it holds
==================  =====================================================================
``state``           :class:`FormState` and the ``status`` text derived from state + message
``render``          pure functions from quotes, coin data and ledger rows to HTML
``render_pool``     the same for the new API's form: pool, pledge, market rate
``hold``            which ledger rows hold Borrow, and whether they are settled
``common``          callbacks that report their errors, the API a widget starts on
``term_picker``     :class:`TermPicker`, one toggle button per term of the chosen API
``profile_picker``  ``ProfilePicker``: the credentials profile a widget acts for
``view``            the sub-widgets and their layout (one ``children`` assignment)
``pool_form``       the new API's part of the form: its data, quote and preview
``form``            coin data, typing, the live quote and the status (``BorrowForm``)
``borrow``          :class:`BorrowWidget`: clicks, sending, outcomes, the hold
==================  =====================================================================

The data the form quotes from is kept by the UI-free
:class:`loan_widgets.marketdata.MarketDataCache`; the arithmetic is
:func:`loan_widgets.quote.quote` (legacy) and
:func:`loan_widgets.pool_quote.new_quote` (the new API). ``state``,
``render``, ``render_pool`` and ``hold`` import no ipywidgets: this package
loads ipywidgets only when :class:`BorrowWidget` or :class:`TermPicker` is
asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .state import FormState

if TYPE_CHECKING:
    from .borrow import BorrowWidget
    from .term_picker import TermPicker

__all__ = ["BorrowWidget", "FormState", "TermPicker"]


def __getattr__(name: str) -> Any:
    if name == "BorrowWidget":
        from .borrow import BorrowWidget

        return BorrowWidget
    if name == "TermPicker":
        from .term_picker import TermPicker

        return TermPicker
    raise AttributeError(f"module 'loan_widgets.widget' has no attribute {name!r}")
