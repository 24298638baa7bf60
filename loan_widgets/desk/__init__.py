"""The loan desk: every open loan, live, in a notebook or a Voila app (:class:`LoanDesk`).

``LoanDesk`` and ``SandboxMarket`` load ipywidgets and bqplot when first asked
for. The UI-free parts: :mod:`loan_widgets.desk.adapter` (reads and actions),
:mod:`~loan_widgets.desk.pacing`, :mod:`~loan_widgets.desk.live`,
:mod:`~loan_widgets.desk.history` and :mod:`~loan_widgets.desk.app` (``make app``);
the model is :mod:`loan_widgets.portfolio`.
"""

from __future__ import annotations

from typing import Any

__all__ = ["LoanDesk", "SandboxMarket"]


def __getattr__(name: str) -> Any:
    if name == "LoanDesk":
        from .widget import LoanDesk

        return LoanDesk
    if name == "SandboxMarket":
        from .market import SandboxMarket

        return SandboxMarket
    raise AttributeError(f"module 'loan_widgets.desk' has no attribute {name!r}")
