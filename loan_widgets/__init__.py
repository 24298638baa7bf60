"""Borrow crypto from a notebook through Bybit's V5 crypto-loan API.

``%load_ext loan_widgets`` registers ``%borrow``; ``BorrowWidget`` is the
form; ``LoanDesk`` watches and manages every open loan live; ``LoanClient``
the client they use; ``orders()`` the ledger as a
DataFrame. With no settings everything runs against a local sandbox
exchange on loopback, with no keys and no network.

Importing this package is cheap: IPython, ipywidgets, pandas and the HTTP
library load only when first needed.
"""

from __future__ import annotations

from typing import Any

from .client import LoanClient, PreparedRequest
from .config import Settings
from .credentials import Credentials
from .errors import (
    AmbiguousAnswer,
    AnswerLost,
    BadResponse,
    ConfigurationError,
    ConnectError,
    CredentialsError,
    DuplicateOrderError,
    ExchangeError,
    LedgerError,
    LoanWidgetsError,
    OutcomeUnknown,
    RateLimitError,
    TimestampError,
    TransportError,
    ValidationError,
)
from .ledger import Ledger, orders
from .orders import ActionResult, AdjustRequest, BorrowRequest, BorrowResult, RepayRequest

__version__ = "0.1.0"

__all__ = [
    "ActionResult",
    "AdjustRequest",
    "AmbiguousAnswer",
    "AnswerLost",
    "BadResponse",
    "BorrowRequest",
    "BorrowResult",
    "BorrowWidget",
    "ConfigurationError",
    "ConnectError",
    "Credentials",
    "CredentialsError",
    "DuplicateOrderError",
    "ExchangeError",
    "Ledger",
    "LedgerError",
    "LoanClient",
    "LoanDesk",
    "LoanWidgetsError",
    "OutcomeUnknown",
    "PreparedRequest",
    "RateLimitError",
    "RepayRequest",
    "Settings",
    "TimestampError",
    "TransportError",
    "ValidationError",
    "load_ipython_extension",
    "loans",
    "orders",
    "reconcile",
    "unload_ipython_extension",
]


def reconcile(network: str | None = None, *, profile: str | None = None) -> Any:
    """Settle unsettled ledger rows of ``network``'s host by reading the exchange (never
    resending); rows still in flight are listed with why they wait."""
    with LoanClient(network=network, profile=profile) as client:
        return client.reconcile()


def loans(network: str | None = None, *, profile: str | None = None,
          api: str | None = None) -> Any:
    """Open loans on ``network`` as a DataFrame (exact Decimal amounts, tz-aware times): both
    loan APIs, or ``api`` (``legacy`` or ``new``) only."""
    with LoanClient(network=network, profile=profile) as client:
        return client.loans(api)


def __getattr__(name: str) -> Any:
    if name == "BorrowWidget":  # ipywidgets loads only when the widget is asked for
        from .widget import BorrowWidget

        return BorrowWidget
    if name == "LoanDesk":  # so do ipywidgets and bqplot for the desk
        from .desk import LoanDesk

        return LoanDesk
    raise AttributeError(f"module 'loan_widgets' has no attribute {name!r}")


def load_ipython_extension(ip: Any) -> None:
    """``%load_ext loan_widgets``: register the ``%borrow`` magic."""
    from .magic import load_ipython_extension as load

    load(ip)


def unload_ipython_extension(ip: Any) -> None:
    """``%unload_ext loan_widgets``: remove the magic."""
    from .magic import unload_ipython_extension as unload

    unload(ip)
