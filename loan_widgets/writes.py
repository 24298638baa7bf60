"""The write protocol: record, send once, settle. Used by every state-changing request.

Every borrow, repayment and collateral adjustment, on either loan API, goes
through :func:`submit`:

1. **Checks that send nothing**: the ledger opens, the credentials are
   usable, and no identical order (same host, action, coins, amounts, term,
   loan, direction, as the user asked them: ``Write.same_as``) is still
   ``pending`` or ``unknown`` (else
   :class:`~loan_widgets.errors.DuplicateOrderError`, unless ``force``).
2. **Reads before sending**: the exchange clock if stale and, for a legacy
   borrow, the open loans known shortly before sending (:class:`OpenLoans`);
   for a new-API write, the ids its ``Write.evidence`` read returns (the
   records of its kind that already exist): the evidence reconciliation needs
   to claim only records that are provably ours. If they fail, nothing was
   sent: the row is written ``failed``.
3. **Record** the row ``pending`` (with its host, its writer process and its
   answer deadline), refusing an identical unsettled twin in the same
   statement.
4. **Send** once (the client's resend table may resend after 10002/10006 only).
5. **Settle** by :data:`STATUS_TABLE` (an error class to a ledger status). What
   proves a retCode-0 answer executed is declared per endpoint
   (:attr:`~loan_widgets.endpoints.Endpoint.proof`, passed as ``Write.id_key``):
   its id field, accepted only if it looks like an id (else ``unknown``); or,
   where the docs give the answer no field (``result: {}``: cancels, repayments
   with collateral), retCode 0 itself, and the row records ``Write.acted_on``
   (the order the write acted on, or no id). ``KeyboardInterrupt`` or any
   other exception while sending settles ``unknown``, drops the connection and
   is re-raised with a one-line note. If the ledger cannot be written then,
   the outcome goes to the journal beside it and a one-line notice is logged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from . import writer
from .clock import now_ms
from .endpoints import Endpoint
from .envelope import answer_id
from .errors import (
    AmbiguousAnswer,
    AnswerLost,
    BadResponse,
    ConnectError,
    ExchangeError,
    LedgerError,
    LoanWidgetsError,
    OutcomeUnknown,
    RequestInfo,
)
from .ledger import Ledger

__all__ = [
    "EVIDENCE_MAX_AGE_S",
    "STATUS_TABLE",
    "OpenLoans",
    "Write",
    "WriteSession",
    "Written",
    "status_for",
    "submit",
]

log = logging.getLogger(__name__)

EVIDENCE_MAX_AGE_S = 30.0
"""Open loans read longer ago than this are read again before a legacy borrow."""

STATUS_TABLE: tuple[tuple[type[BaseException], str], ...] = (
    (OutcomeUnknown, "unknown"),  # lost answer, 5xx page, 10000/10016 (AmbiguousAnswer)
    (AnswerLost, "unknown"),
    (ExchangeError, "rejected"),  # any other retCode
    (BadResponse, "rejected"),  # an edge refusal: CDN 403, 429 page, 404
    (ConnectError, "failed"),  # no connection: it never left
    (LoanWidgetsError, "failed"),  # refused before it left (e.g. a header that cannot be sent)
)
"""The ledger status of a write that ended in this error (first matching class wins).
Anything that is not a ``LoanWidgetsError`` (an interrupt, a bug) is ``unknown`` once the
request may have left, ``failed`` before."""


def status_for(error: BaseException, *, sent: bool = True) -> str:
    """The ledger status a write ending in ``error`` gets (see :data:`STATUS_TABLE`)."""
    for cls, status in STATUS_TABLE:
        if isinstance(error, cls):
            return status
    return "unknown" if sent else "failed"


class WriteSession(Protocol):
    """What :func:`submit` needs of a client."""

    source: str

    @property
    def network(self) -> str: ...

    @property
    def host(self) -> str: ...

    @property
    def ledger(self) -> Ledger: ...

    @property
    def answer_budget_s(self) -> float: ...

    def check_credentials(self) -> None: ...

    def sync_clock_if_stale(self) -> None: ...

    def open_loan_ids(self) -> set[str]: ...

    def send_write(self, endpoint: Endpoint, body: str) -> tuple[dict[str, Any], int]: ...

    def discard_connections(self) -> None: ...


@dataclass(frozen=True)
class Write:
    """One state-changing request and what the ledger records about it."""

    endpoint: Endpoint
    body: str
    action: str  # borrow, repay, adjust; new API also cancel, supply, cancel_supply, renew
    id_key: str  # the endpoint's proof: orderId, repayId, adjustId, or "" (retCode 0 proves it)
    api: str = "legacy"
    source: str = "api"
    force: bool = False
    fields: Mapping[str, Any] = field(default_factory=dict)
    acted_on: str | None = None  # the id recorded when ``id_key`` is "" (e.g. the cancelled order)
    evidence: Callable[[], Iterable[str]] | None = None  # ids existing before sending (new API)
    same_as: Mapping[str, Any] = field(default_factory=dict)
    """Fields compared by the duplicate guard instead of ``fields``' own: what the user
    asked where the client filled in the rest (a pledge it sized is compared as not given,
    since a second sizing after the first loan differs)."""

    @property
    def needs_evidence(self) -> bool:
        """Legacy borrows: open loans carry no creation time, so keep what was open before."""
        return self.action == "borrow" and self.api == "legacy"


@dataclass(frozen=True)
class Written:
    """An accepted write: its envelope, ledger row, id and timings."""

    envelope: dict[str, Any]
    ledger_id: int
    order_id: str | None  # None only for a write whose proof is retCode 0 and acts on no id
    latency_ms: float
    submitted_at: float
    notice: str | None = None


class OpenLoans:
    """The legacy loans known open on one host shortly before sending, plus ids seen since.

    Read again when older than :data:`EVIDENCE_MAX_AGE_S` or while the ledger
    holds unsettled rows for the host; kept as one evidence row per reading, so
    back-to-back borrows cost one ledger insert each and no extra request.
    """

    def __init__(self) -> None:
        self._taken = 0.0
        self._evidence_id: int | None = None
        self._ids: set[str] = set()

    def evidence_id(self, session: WriteSession, ledger: Ledger, unsettled: bool) -> int:
        """The evidence to record with the next legacy borrow (read again if stale, or
        while ``unsettled`` rows of the host exist)."""
        stale = time.monotonic() - self._taken > EVIDENCE_MAX_AGE_S
        if stale or self._evidence_id is None or unsettled:
            ids = session.open_loan_ids()
            self._evidence_id = ledger.record_evidence(session.host, ids)
            self._ids, self._taken = ids, time.monotonic()
        return self._evidence_id

    def saw(self, order_id: str) -> None:
        """An id this process saw accepted (it is in the ledger too)."""
        self._ids.add(order_id)


def _unknown_text(message: str, row: int, action: str) -> str:
    """What an unknown outcome adds to ``message``: its row, once that it may have been
    executed, and not to resend."""
    said = "may have been executed" in message or "probably executed" in message
    return (
        f"; ledger row {row} is 'unknown'"
        + ("" if said else f": the {action} may have been executed")
        + ". Do not resend: reconcile first (it reads the exchange, never resends)"
    )


def _noted(error: BaseException, text: str) -> None:
    add_note = getattr(error, "add_note", None)
    if add_note is not None:
        add_note(text)
    log.warning("%s", text)


def submit(session: WriteSession, write: Write, known: OpenLoans | None = None) -> Written:
    """Record, send once, settle: the one write path (see the module docstring)."""
    ledger = session.ledger
    ledger.ready()
    session.check_credentials()
    host = session.host
    record = {
        "network": session.network, "source": write.source, "api": write.api,
        "action": write.action, "body": write.body, "host": host, **write.fields,
    }
    unsettled = ledger.has_unsettled(host)  # one indexed read; the hot path has none
    if unsettled and not write.force:
        ledger.check_no_unsettled_twin(**{**record, **write.same_as})
    try:
        session.sync_clock_if_stale()
        evidence = (known or OpenLoans()).evidence_id(session, ledger, unsettled) if (
            write.needs_evidence) else None
        if write.evidence is not None:
            evidence = ledger.record_evidence(host, set(write.evidence()))
    except LedgerError:
        raise  # the ledger itself refused: nothing was sent and no row can be written
    except LoanWidgetsError as error:  # nothing was sent: the order never left
        row = ledger.record_pending(**record, status="failed", ret_msg=f"not sent: {error}")
        raise error.derive(ledger_id=row) from None
    budget_ms = int(session.answer_budget_s * 1000)
    row = ledger.record_pending(
        **record, writer=writer.token(), deadline_ms=now_ms() + budget_ms, evidence_id=evidence,
        refuse_unsettled_twin=not write.force, same_as=write.same_as,
    )
    submitted = time.time()
    started = time.perf_counter()
    try:
        envelope, status_code = session.send_write(write.endpoint, write.body)
    except LoanWidgetsError as error:
        raise _settled_error(session, ledger, row, write, error, started) from None
    except BaseException as error:  # an interrupt (or a bug) once the request may have left
        session.discard_connections()
        status = status_for(error)
        ledger.settle_or_keep(
            row, status, ret_msg=f"interrupted while sending ({type(error).__name__})",
            latency_ms=(time.perf_counter() - started) * 1e3,
        )
        note = f"loan_widgets: interrupted while sending: ledger row {row} is '{status}'"
        if status == "unknown":
            note += f": the {write.action} may have been executed; reconcile before sending again"
        _noted(error, note)
        raise
    latency = (time.perf_counter() - started) * 1e3
    result = envelope.get("result") or {}
    if write.id_key:
        order_id, why_not = answer_id(result, write.id_key)
    else:  # the documented answer has no field: retCode 0 is the proof
        order_id, why_not = write.acted_on, ""
    if order_id is None and write.id_key:  # executed (retCode 0), but which order?
        said = (f"outcome unknown: HTTP {status_code} with retCode 0 but {why_not}; the "
                f"{write.action} was probably executed")
        lost = OutcomeUnknown(
            said + _unknown_text(said, row, write.action),
            request=RequestInfo(write.endpoint.method, write.endpoint.path, write.body),
            http_status=status_code, ledger_id=row,
        )
        _keep(ledger, row, "unknown", ret_code=0, ret_msg=str(lost), http_status=status_code,
              latency_ms=latency)
        raise lost
    notice = ledger.settle_or_keep(
        row, "accepted", order_id=order_id, ret_code=0, ret_msg=envelope.get("retMsg"),
        http_status=status_code, latency_ms=latency,
    )
    if notice:
        log.warning("%s", notice)
    if known is not None and write.action == "borrow" and order_id:
        known.saw(order_id)
    return Written(envelope, row, order_id, latency, submitted, notice)


def _keep(ledger: Ledger, row: int, status: str, **outcome: Any) -> None:
    notice = ledger.settle_or_keep(row, status, **outcome)
    if notice:
        log.warning("%s", notice)


def _settled_error(
    session: WriteSession,
    ledger: Ledger,
    row: int,
    write: Write,
    error: LoanWidgetsError,
    started: float,
) -> LoanWidgetsError:
    """Settle the row by the status table; the error to raise, with its ledger row."""
    latency = (time.perf_counter() - started) * 1e3
    status = status_for(error)
    if isinstance(error, AnswerLost):
        error = OutcomeUnknown(
            f"outcome unknown: {error}; the {write.action} may have been executed",
            request=error.request,
        )
    if status in ("unknown", "failed") and not isinstance(error, ExchangeError):
        session.discard_connections()
    outcome: dict[str, Any] = {
        "ret_code": getattr(error, "ret_code", None),
        "ret_msg": getattr(error, "ret_msg", None) or str(error),
        "http_status": error.http_status,
        "latency_ms": latency,
    }
    _keep(ledger, row, status, **outcome)
    message = str(error)
    if status == "unknown":
        message += _unknown_text(message, row, write.action)
    fields: dict[str, Any] = {"ledger_id": row}
    if status == "unknown" and not isinstance(error, OutcomeUnknown | AmbiguousAnswer):
        fields["reconcile"] = True
    if write.action == "borrow" and write.api == "legacy" and _legacy_borrow_gone(error):
        message += (
            ". Bybit deprecated the legacy Borrow endpoint on 2025-11-17: borrow through "
            "the new loan API"
        )
        fields["suggest_api"] = "new"
    return error.derive(message, **fields)


def _legacy_borrow_gone(error: LoanWidgetsError) -> bool:
    """A refusal that says the legacy Borrow path is retired (10017, 404/405, deprecated)."""
    if not isinstance(error, ExchangeError | BadResponse):
        return False
    code = getattr(error, "ret_code", None)
    text = (getattr(error, "ret_msg", "") or str(error)).lower()
    return code == 10017 or error.http_status in (404, 405) or "deprecat" in text
