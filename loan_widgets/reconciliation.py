"""Reconciliation: settle unsettled ledger rows by reading the exchange, never by resending.

A write whose answer was lost may or may not have been executed. This module
reads the exchange's own records for each ``unknown`` row of the client's
host, and for each ``pending`` row whose writer is provably gone (its process
no longer runs) or whose answer deadline has passed; a ``pending`` row still
in flight is left alone and listed with why it waits. Rows sent to another
host are listed, never read here (a host of the same exchange, such as
``api.bytick.com`` for ``api.bybit.com``, counts as this host:
:func:`loan_widgets.config.same_exchange`).

**A loan is claimed only when it is provably ours**: it matches the row
exactly (coins, term, amounts), no other ledger row of this host holds it,
and it did not exist before the row was sent. Legacy open loans carry no
creation time, so that last proof is the row's *evidence*: the open loans the
client read shortly before sending (see :class:`loan_widgets.writes.OpenLoans`);
completed loans carry their borrow time, checked against the row's time window
on the exchange's clock. A loan that another unsettled row could also have
made (an identical order still in flight, or a second unknown twin) is never
handed out: the row waits, or stays ``unknown`` with the reason.

* exactly one such loan: ``accepted`` with its order id;
* none, and no loan of these coins whose amounts may have changed since:
  ``not_executed``;
* anything else: left as it is, with the reason.

Repayments and collateral adjustments are matched the same way in the loan's
repayment or adjustment history, which carries times. Rows of the new loan
API (borrows, repayments, pool adjustments, renewals, supply orders and
cancels) follow the same rules against the new API's own lists and times,
with the ids read just before each was sent as its evidence
(:mod:`loan_widgets.new_reconciliation`). Decisions are written to the ledger
(``settled_by = 'reconcile'``).
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from . import new_reconciliation, writer
from .clock import now_ms as _now_ms
from .config import same_exchange
from .errors import LoanWidgetsError
from .ledger import Ledger, LedgerRow, RowTracking
from .new_reads import NewApiReads

__all__ = ["STALE_PENDING_MS", "Decision", "Reconciliation", "reconcile"]

STALE_PENDING_MS = 120_000
"""A ``pending`` row with no recorded deadline is waited for this long."""
WINDOW_BEFORE_MS = 60_000
WINDOW_AFTER_MS = 600_000
_DAY_MS = 86_400_000


class ExchangeReader(Protocol):
    """What reconciliation reads (a :class:`~loan_widgets.client.LoanClient`)."""

    @property
    def network(self) -> str: ...

    @property
    def host(self) -> str: ...

    @property
    def clock_offset_ms(self) -> float | None: ...

    def sync_clock(self) -> float: ...

    def ongoing_orders(self, **params: Any) -> list[dict[str, Any]]: ...

    def borrow_history(self, **params: Any) -> list[dict[str, Any]]: ...

    def repayment_history(self, **params: Any) -> list[dict[str, Any]]: ...

    def adjustment_history(self, **params: Any) -> list[dict[str, Any]]: ...

    @property
    def new(self) -> NewApiReads: ...  # the new API's reads (LoanClient.new)


@dataclass(frozen=True)
class Decision:
    """What reconciliation concluded for one ledger row.

    ``status`` is ``accepted`` or ``not_executed`` (settled now), ``unknown``
    (could not be decided) or ``pending`` (still in flight: it waits).
    """

    ledger_id: int
    action: str
    status: str
    order_id: str | None
    reason: str


@dataclass
class Reconciliation:
    """The outcome of one reconciliation run."""

    network: str
    decisions: list[Decision] = field(default_factory=list)
    host: str = ""
    elsewhere: list[Decision] = field(default_factory=list)

    @property
    def undecided(self) -> list[Decision]:
        """Rows of this host still ``unknown`` or ``pending``, with the reason."""
        return [d for d in self.decisions if d.status in ("unknown", "pending")]

    def __repr__(self) -> str:
        if not self.decisions and not self.elsewhere:
            return f"Nothing to reconcile on {self.network}: no pending or unknown ledger rows."
        lines = [f"Reconciled {len(self.decisions)} ledger row(s) on {self.network}"
                 + (f" ({self.host})" if self.host else "") + ":"]
        for d in self.decisions:
            oid = f" order {d.order_id}" if d.order_id else ""
            lines.append(f"  row {d.ledger_id} ({d.action}): {d.status}{oid} - {d.reason}")
        if self.elsewhere:
            lines.append(f"Not read here ({len(self.elsewhere)} row(s) sent to other hosts):")
            lines += [f"  row {d.ledger_id} ({d.action}): {d.status} - {d.reason}"
                      for d in self.elsewhere]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        if not self.decisions and not self.elsewhere:
            return f"<p>{html.escape(repr(self))}</p>"
        body = "".join(
            "<tr>" + "".join(
                f"<td style='text-align:left'>{html.escape(str(v))}</td>"
                for v in (d.ledger_id, d.action, d.status, d.order_id or "", d.reason)
            ) + "</tr>"
            for d in [*self.decisions, *self.elsewhere]
        )
        head = "".join(
            f"<th style='text-align:left'>{h}</th>"
            for h in ("row", "action", "now", "order id", "why")
        )
        return (
            f"<table><caption>Reconciliation on {html.escape(self.network)}</caption>"
            f"<tr>{head}</tr>{body}</table>"
        )


@dataclass(frozen=True)
class _Loan:
    order_id: str
    loan_currency: str
    collateral_currency: str
    term: str
    loan_amount: Decimal
    collateral_amount: Decimal
    borrowed_at: int | None  # exchange clock, ms; None for open loans
    open: bool


def _loans(client: ExchangeReader) -> list[_Loan]:
    """Open and completed legacy loans, in one shape."""
    found = [
        _Loan(
            str(item["orderId"]), item["loanCurrency"], item["collateralCurrency"],
            item.get("loanTerm") or "flexible", Decimal(item["totalDebt"]),
            Decimal(item["collateralAmount"]), None, True,
        )
        for item in client.ongoing_orders()
    ]
    found += [
        _Loan(
            str(item["orderId"]), item["loanCurrency"], item["collateralCurrency"],
            item.get("loanTerm") or "flexible", Decimal(item["initialLoanAmount"]),
            Decimal(item["initialCollateralAmount"]),
            int(item["borrowTime"]) if item.get("borrowTime") else None, False,
        )
        for item in client.borrow_history()
    ]
    return found


@dataclass
class _Row:
    row: LedgerRow
    track: RowTracking
    evidence: frozenset[str] | None
    evidence_at: int | None = None  # when the evidence was read (local ms)
    waits: str = ""  # why a pending row is left alone ("" if it can be decided)


def _window(row: LedgerRow, track: RowTracking) -> tuple[int, int]:
    end = max(row.updated_at_ms, track.deadline_ms or 0) + WINDOW_AFTER_MS
    return row.submitted_at_ms - WINDOW_BEFORE_MS, end


def _in_window(item: _Row, at_ms: int | None, offset_ms: float) -> bool:
    if at_ms is None:
        return False
    start, end = _window(item.row, item.track)
    return start <= at_ms - offset_ms <= end  # the exchange's clock, read on ours


def _could_be(item: _Row, loan: _Loan, offset_ms: float) -> bool:
    """The loan may be this row's: it did not provably exist before the row was sent."""
    if item.evidence is not None and loan.order_id in item.evidence:
        return False
    if loan.open:
        return item.evidence is not None
    return _in_window(item, loan.borrowed_at, offset_ms)


def _contradicts(item: _Row, loan: _Loan, holder: tuple[int, int] | None) -> bool:
    """A row accepted this open loan before the evidence was read, yet the evidence lacks it:
    the records disagree (an id reused by a restarted exchange?), so nothing is decided."""
    if holder is None or not loan.open or item.evidence_at is None:
        return False
    return holder[0] != item.row.id and holder[1] < item.evidence_at


def _same_order(row: LedgerRow, loan: _Loan, exact: bool) -> bool:
    same = (
        loan.loan_currency == row.loan_currency
        and loan.collateral_currency == row.collateral_currency
        and loan.term == (row.term or "flexible")
    )
    if not same or not exact:
        return same
    return (row.loan_amount is None or loan.loan_amount == row.loan_amount) and (
        row.collateral_amount is None or loan.collateral_amount == row.collateral_amount
    )


def _decide_borrow(
    item: _Row, others: list[_Row], loans: list[_Loan],
    claimed: dict[tuple[str, str], tuple[int, int]], offset_ms: float,
) -> tuple[str, str | None, str]:
    row = item.row
    free = [loan for loan in loans if ("borrow", loan.order_id) not in claimed]
    odd = [loan for loan in loans if _contradicts(item, loan, claimed.get(("borrow",
           loan.order_id))) and _same_order(row, loan, True) and _could_be(item, loan,
           offset_ms)]
    if odd:
        taken = ", ".join(f"{loan.order_id} (ledger row {claimed[('borrow', loan.order_id)][0]})"
                          for loan in odd)
        return "unknown", None, (
            f"a matching open loan missing from the loans read before this row was sent is "
            f"held by a row settled before that read: {taken}; check by hand"
        )
    mine = [loan for loan in free if _same_order(row, loan, True) and _could_be(
        item, loan, offset_ms)]
    if len(mine) > 1:
        ids = ", ".join(loan.order_id for loan in mine)
        return "unknown", None, f"several unclaimed loans match ({ids}): check them by hand"
    if len(mine) == 1:
        loan = mine[0]
        rivals = [o for o in others if _same_order(o.row, loan, True)
                  and _could_be(o, loan, offset_ms)]
        if rivals:
            rival = rivals[0]
            if rival.waits:
                return "unknown", None, (
                    f"loan {loan.order_id} may belong to ledger row {rival.row.id}, still in "
                    "flight: reconcile again once it is settled"
                )
            return "unknown", None, (
                f"loan {loan.order_id} could be this row's or ledger row {rival.row.id}'s "
                "(identical orders): check by hand"
            )
        return "accepted", loan.order_id, (
            "exactly one matching loan that no other row holds and that did not exist "
            "before this row was sent"
        )
    unproven = [loan for loan in free if _same_order(row, loan, True) and loan.open
                and item.evidence is None]
    if unproven:
        ids = ", ".join(loan.order_id for loan in unproven)
        return "unknown", None, (
            f"open loan(s) {ids} match, but there is no record of the loans open before this "
            "row was sent: check by hand"
        )
    changed = [loan.order_id for loan in free if _same_order(row, loan, False)
               and _could_be(item, loan, offset_ms)]
    if changed:
        return "unknown", None, (
            f"unclaimed {row.loan_currency}/{row.collateral_currency} loan(s) "
            f"{', '.join(changed)} differ in amount (repaid or adjusted since?): check by hand"
        )
    return "not_executed", None, (
        f"no {row.loan_currency}/{row.collateral_currency} {row.term or 'flexible'} loan with "
        "these amounts appeared on the exchange after this row was sent, open or completed"
    )


def _decide_history(
    item: _Row, items: list[dict[str, Any]], claimed: dict[tuple[str, str], tuple[int, int]],
    offset_ms: float,
) -> tuple[str, str | None, str]:
    row = item.row
    if row.action == "repay":
        exact = [(str(i["repayId"]), int(i["repayTime"])) for i in items
                 if Decimal(i["repayAmount"]) == row.loan_amount]
    else:
        wire = 0 if row.direction == "add" else 1
        exact = [(str(i["adjustId"]), int(i["adjustTime"])) for i in items
                 if Decimal(i["amount"]) == row.collateral_amount and int(i["direction"]) == wire]
    free = [(i, t) for i, t in exact
            if (row.action, i) not in claimed and _in_window(item, t, offset_ms)]
    if len(free) == 1:
        return "accepted", free[0][0], f"exactly one unclaimed {row.action} matches in time"
    if len(free) > 1:
        ids = ", ".join(i for i, _ in free)
        return "unknown", None, f"several unclaimed {row.action}s match ({ids}): check by hand"
    return "not_executed", None, f"loan {row.ref_id} shows no such {row.action} in its time"


def _why_waiting(row: LedgerRow, track: RowTracking, now: int) -> str:
    """'' when a pending row can be decided now, else why it waits."""
    deadline = track.deadline_ms or row.submitted_at_ms + STALE_PENDING_MS
    if now > deadline:
        return ""
    alive = writer.alive(track.writer)
    if alive is False:
        return ""
    left = f"its answer is due within {(deadline - now) / 1000:.0f} s"
    pid = (track.writer or "::").split(":")[1]
    if alive:
        return f"in flight in process {pid} on this machine; {left}"
    return f"sent by a process this machine cannot check; {left}"


def reconcile(client: ExchangeReader, ledger: Ledger) -> Reconciliation:
    """Decide the client's host's unsettled rows (see the module docstring)."""
    host = client.host
    result = Reconciliation(client.network, host=host)
    now = _now_ms()
    mine: list[_Row] = []
    ours = same_exchange(host)  # api.bybit.com and api.bytick.com are one exchange
    for row, track in ledger.unsettled():
        if row.host not in ours:
            result.elsewhere.append(Decision(
                row.id, row.action, row.status, None,
                f"sent to {row.host or 'an unrecorded host'}: reconcile with a client for it",
            ))
            continue
        found = ledger.evidence(track.evidence_id) if track.evidence_id is not None else None
        waits = _why_waiting(row, track, now) if row.status == "pending" else ""
        mine.append(_Row(row, track, found[1] if found else None,
                         found[0] if found else None, waits))
    if not mine:
        return result
    claimed = ledger.claimed(host)
    offset_ms = client.clock_offset_ms
    loans: list[_Loan] | None = None
    histories: dict[tuple[str, str], list[dict[str, Any]]] = {}
    run: new_reconciliation.Run | None = None
    for item in mine:
        row = item.row
        if item.waits:
            result.decisions.append(Decision(row.id, row.action, "pending", None, item.waits))
            continue
        try:
            if offset_ms is None:
                offset_ms = client.sync_clock()
            if row.api == "new":
                if run is None:
                    run = new_reconciliation.Run(client, ledger, claimed, offset_ms,
                                                 _in_window, {})
                others = [o for o in mine if o is not item and o.row.api == "new"
                          and o.row.status in ("pending", "unknown")]
                decision = new_reconciliation.decide(item, others, run)
            elif row.api != "legacy":
                decision = ("unknown", None, f"rows of loan API {row.api!r} are not known here")
            elif row.action == "borrow":
                if loans is None:
                    loans = _loans(client)
                others = [o for o in mine if o is not item and o.row.action == "borrow"]
                decision = _decide_borrow(item, others, loans, claimed, offset_ms)
            elif row.action in ("repay", "adjust") and row.ref_id:
                key = (row.action, row.ref_id)
                if key not in histories:
                    fetch = (client.repayment_history if row.action == "repay"
                             else client.adjustment_history)
                    histories[key] = fetch(orderId=row.ref_id)
                decision = _decide_history(item, histories[key], claimed, offset_ms)
            else:
                decision = ("unknown", None, f"cannot reconcile action {row.action!r}")
        except LoanWidgetsError as error:
            decision = ("unknown", None, f"could not read the exchange: {error}")
        status, order_id, reason = decision
        if status != "unknown":
            ledger.settle(row.id, status, order_id=order_id, ret_msg=f"reconciled: {reason}",
                          http_status=row.http_status, by="reconcile")
            if order_id:
                claimed[(row.action, order_id)] = (row.id, _now_ms())
        elif row.status == "pending":
            ledger.settle(row.id, "unknown", ret_msg=f"reconciled: {reason}",
                          http_status=row.http_status, by="reconcile")
        result.decisions.append(Decision(row.id, row.action, status, order_id, reason))
    return result
