"""The loan desk: every open loan, live, in a notebook or a Voila app (:class:`LoanDesk`).

UI package: it imports ipywidgets and bqplot. Its UI-free parts are
:mod:`loan_widgets.desk.adapter` (reads and actions), :mod:`~loan_widgets.desk.pacing`,
:mod:`~loan_widgets.desk.live` and :mod:`~loan_widgets.desk.history`; the model is
:mod:`loan_widgets.portfolio`.
"""

from __future__ import annotations

from .market import SandboxMarket
from .widget import LoanDesk

__all__ = ["LoanDesk", "SandboxMarket"]
