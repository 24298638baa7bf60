"""Every error ``loan_widgets`` raises, in one tree.

::

    LoanWidgetsError
    ├── ValidationError          bad input, rejected locally: nothing was sent
    ├── ConfigurationError       a setting is wrong (network, URL, timeout)
    │   ├── CredentialsError     credentials missing or unreadable
    │   └── LedgerError          the ledger file cannot be used (nothing was sent)
    ├── TransportError           the HTTP exchange failed (``.http_status`` if any)
    │   ├── ConnectError         no connection was made: nothing was sent
    │   ├── AnswerLost           sent, but no answer came (timeout, dropped)
    │   └── BadResponse          an answer that is not a Bybit envelope
    │                            (HTML 403 from a CDN, 502 page, broken JSON)
    ├── ExchangeError            Bybit answered with retCode != 0
    │   │                        (``.ret_code``, ``.ret_msg``, ``.hint``, ``.http_status``)
    │   ├── TimestampError       10002: timestamp outside recv_window
    │   ├── RateLimitError       10006: too many visits (``.reset_at_ms``)
    │   └── AmbiguousAnswer      10000/10016 to a write: also an OutcomeUnknown
    └── OutcomeUnknown           a write was sent and may or may not have been
                                 executed (lost answer, timeout, interrupt,
                                 gateway 5xx, 10000/10016): never resend it,
                                 reconcile by reading the exchange

``DuplicateOrderError`` (a ``ValidationError``) refuses a write identical to one
whose outcome is not settled yet.

Errors carry structured suggestions instead of UI text: ``.reconcile`` (read
the exchange before doing anything else), ``.suggest_api`` (the loan API that
would take this request), ``.suggest_method`` (the typed client method to use)
and ``.ledger_id`` (the row that recorded it). The magic and the widget turn
them into their own words.

Errors are immutable once built: ``str(e) == e.args[0]`` always, and a layer
that knows more (the ledger row, a suggestion) builds a new error with
:meth:`LoanWidgetsError.derive` instead of changing the one it caught.

The HTTP status and Bybit's ``retCode`` are kept apart: ``http_status`` is
what the HTTP layer said, ``ret_code`` what the exchange said in its body.
Errors carry the redacted request (method, path, body) as ``.request``; never
headers, keys, secrets or signatures.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

__all__ = [
    "AMBIGUOUS_CODES",
    "AmbiguousAnswer",
    "AnswerLost",
    "BadResponse",
    "ConfigurationError",
    "ConnectError",
    "CredentialsError",
    "DuplicateOrderError",
    "ExchangeError",
    "LedgerError",
    "LoanWidgetsError",
    "OutcomeUnknown",
    "RateLimitError",
    "RequestInfo",
    "TimestampError",
    "TransportError",
    "ValidationError",
    "exchange_error",
    "hint_for",
]


@dataclass(frozen=True)
class RequestInfo:
    """What was (or would have been) sent, safe to show: no headers, no secrets."""

    method: str
    url: str
    body: str = ""

    def __str__(self) -> str:
        return f"{self.method} {self.url}"


class LoanWidgetsError(Exception):
    """Root of every error raised by ``loan_widgets``.

    Args:
        message: one line for people.
        request: what was (or would have been) sent, redacted.
        http_status: the HTTP status of the answer, if one came.
        ledger_id: the ledger row that recorded the order, if any.
        suggest_api: ``"new"`` or ``"legacy"`` when the other loan API would take it.
        suggest_method: the typed ``LoanClient`` method to use instead (e.g. ``"borrow"``).
        reconcile: True when the exchange must be read (reconciled) before
            anything is sent again.

    Attributes set here (and by subclasses' constructors) cannot be changed
    afterwards; :meth:`derive` makes a changed copy.
    """

    request: RequestInfo | None = None

    def __init__(
        self,
        message: str,
        *,
        request: RequestInfo | None = None,
        http_status: int | None = None,
        ledger_id: int | None = None,
        suggest_api: str | None = None,
        suggest_method: str | None = None,
        reconcile: bool = False,
    ) -> None:
        super().__init__(message)
        self.request = request
        self.http_status = http_status
        self.ledger_id = ledger_id
        self.suggest_api = suggest_api
        self.suggest_method = suggest_method
        self.reconcile = reconcile

    @property
    def message(self) -> str:
        """The one-line text (``args[0]``)."""
        return str(self.args[0]) if self.args else ""

    def __str__(self) -> str:
        return self.message

    def __setattr__(self, name: str, value: Any) -> None:
        if name in self.__dict__ and name not in _MUTABLE_ALWAYS:
            raise AttributeError(
                f"{type(self).__name__}.{name} is fixed once built: use derive() for a changed copy"
            )
        super().__setattr__(name, value)

    def derive(self, message: str | None = None, **fields: Any) -> LoanWidgetsError:
        """A copy of this error (same class) with another message and/or fields."""
        state = dict(self.__dict__)
        unknown = set(fields) - set(state)
        if unknown:
            raise TypeError(f"{type(self).__name__} has no field {', '.join(sorted(unknown))}")
        state.update(fields)
        return _rebuild(type(self), self.message if message is None else message, state)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.message, dict(self.__dict__)))


_MUTABLE_ALWAYS = frozenset({"__notes__", "__traceback__", "__cause__", "__context__"})


_E = TypeVar("_E", bound=LoanWidgetsError)


def _rebuild(cls: type[_E], message: str, state: dict[str, Any]) -> _E:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    for name, value in state.items():
        object.__setattr__(error, name, value)
    return error


class ValidationError(LoanWidgetsError, ValueError):
    """Input rejected before anything was sent."""


class ConfigurationError(LoanWidgetsError):
    """A setting is wrong or missing."""


class CredentialsError(ConfigurationError):
    """Credentials are missing or cannot be read."""


class LedgerError(ConfigurationError):
    """The ledger file cannot be opened or written (checked before anything is sent)."""


class TransportError(LoanWidgetsError):
    """The HTTP exchange itself failed."""


class ConnectError(TransportError):
    """No connection could be made, so nothing was sent."""


class AnswerLost(TransportError):
    """The request went out but no answer came back (timeout, dropped connection)."""


class BadResponse(TransportError):
    """The server answered, but not with a Bybit JSON envelope."""


class OutcomeUnknown(LoanWidgetsError):
    """A state-changing request was sent and may or may not have been executed.

    It is never resent automatically: read the exchange (reconcile) to find
    out. ``reconcile`` is always True.
    """

    def __init__(self, message: str, **kwargs: Any) -> None:
        kwargs["reconcile"] = True
        super().__init__(message, **kwargs)


class DuplicateOrderError(ValidationError):
    """An identical write is still ``pending`` or ``unknown``: reconcile it first.

    ``ledger_ids`` are the unsettled rows; sending anyway needs an explicit
    ``force``. Nothing was sent.
    """

    def __init__(self, message: str, *, ledger_ids: tuple[int, ...] = (), **kwargs: Any) -> None:
        kwargs.setdefault("reconcile", True)
        super().__init__(message, **kwargs)
        self.ledger_ids = tuple(ledger_ids)


_HINTS: dict[int, str] = {
    10001: "a request parameter is missing or malformed",
    10002: (
        "the request timestamp is outside recv_window: the local clock differs "
        "from the exchange's; loan_widgets re-syncs with /v5/market/time, "
        "if it persists raise recv_window or fix the system clock (NTP)"
    ),
    10003: (
        "the API key is not known to this host: keys for mainnet, testnet and "
        "demo trading are separate, check BYBIT_API_KEY against the network"
    ),
    10004: (
        "signature mismatch: check BYBIT_API_SECRET (or the RSA private key) "
        "belongs to BYBIT_API_KEY"
    ),
    10005: "the API key lacks permission: crypto loans need 'Spot trade' on the key",
    10006: "rate limit reached: wait until the limit resets and try again",
    10010: "this machine's IP address is not in the key's bound IP list",
    10016: "the exchange reported an internal error: check ongoing orders before retrying",
    10017: "route not found: this host does not serve that endpoint",
    177002: "the loan service is busy: try again later",
    177003: "a parameter contains illegal characters",
    177004: "too many decimal places for this coin (see borrowingAccuracy / collateralAccuracy)",
    177005: "the loan order does not exist",
    177006: "this coin is not supported for crypto loans",
    177007: "the amount is above the maximum borrowable amount",
    177008: "borrowing this coin is currently disabled",
    177009: "the amount is below the minimum borrowing amount",
    177010: "the repay amount is larger than the outstanding debt",
    177011: "insufficient balance in the Funding wallet",
    177012: "the platform does not have enough of this coin to lend right now",
    177013: "this reduction would take collateral below the allowed minimum",
    177014: "the individual loan quota is used up",
    177015: "the collateral amount is at its limit: reduce it or use other collateral",
    177016: "not enough collateral for this loan",
    177017: "this coin cannot be used as collateral",
    177018: "duplicate request",
    177019: "invalid input parameter",
    177020: "the account does not support this asset",
    177021: "repayment failed",
}


def hint_for(ret_code: int) -> str:
    """A one-line human hint for a Bybit retCode ('' when none is known)."""
    return _HINTS.get(ret_code, "")


class ExchangeError(LoanWidgetsError):
    """Bybit answered with a non-zero retCode."""

    def __init__(
        self, ret_code: int, ret_msg: str, *, http_status: int | None = 200, **kwargs: Any
    ) -> None:
        hint = hint_for(ret_code)
        text = f"Bybit retCode {ret_code}: {ret_msg}"
        if hint:
            text += f" - {hint}"
        super().__init__(text, http_status=http_status, **kwargs)
        self.ret_code = ret_code
        self.ret_msg = ret_msg
        self.hint = hint


class TimestampError(ExchangeError):
    """10002: the timestamp fell outside the recv_window rule."""


class RateLimitError(ExchangeError):
    """10006: the per-UID rate limit was hit (``.reset_at_ms``: when it resets, exchange time)."""

    def __init__(
        self, ret_code: int, ret_msg: str, *, reset_at_ms: int | None = None, **kwargs: Any
    ) -> None:
        super().__init__(ret_code, ret_msg, **kwargs)
        self.reset_at_ms = reset_at_ms


class AmbiguousAnswer(ExchangeError, OutcomeUnknown):
    """10000 or 10016 in answer to a write: an internal error that does not prove
    the order was not executed. Handled as an :class:`OutcomeUnknown`."""


AMBIGUOUS_CODES = frozenset({10000, 10016})
"""retCodes of a write that do not prove it was not executed (server timeout, internal error)."""


def exchange_error(
    ret_code: int,
    ret_msg: str,
    *,
    request: RequestInfo | None = None,
    http_status: int | None = 200,
    write: bool = False,
    reset_at_ms: int | None = None,
) -> ExchangeError:
    """Build the most specific ``ExchangeError`` subclass for a retCode.

    ``write`` marks an answer to a state-changing request: then 10000/10016
    give an :class:`AmbiguousAnswer`. ``reset_at_ms`` goes with 10006.
    """
    if write and ret_code in AMBIGUOUS_CODES:
        return AmbiguousAnswer(ret_code, ret_msg, request=request, http_status=http_status)
    if ret_code == 10006:
        return RateLimitError(
            ret_code, ret_msg, request=request, http_status=http_status, reset_at_ms=reset_at_ms
        )
    cls = TimestampError if ret_code == 10002 else ExchangeError
    return cls(ret_code, ret_msg, request=request, http_status=http_status)
