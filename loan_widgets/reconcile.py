"""Reconciliation: decide ``unknown`` ledger rows by reading the exchange, never by resending.

A write whose answer was lost may or may not have been executed. For each
such row (and each ``pending`` row older than :data:`STALE_PENDING_MS`, left by
a process that died mid-send) this module reads the exchange's own records:

* a borrow: open loans (``ongoing-orders``) and completed loans
  (``borrow-history``) with the same coins, term and amounts. Exactly one
  that no other ledger row of this network claims, within the row's time
  window: ``accepted`` with its order id. None with these amounts, and no
  unclaimed loan of these coins whose amounts may have changed since:
  ``not_executed``. Anything else (several candidates, a match claimed by
  another row or outside the window): left ``unknown``, with the reason.
* a repayment or collateral adjustment: the loan's repayment or adjustment
  history, matched on amount (and direction) the same way.

Exchange times are read on the local clock through the measured clock
offset, since the ledger's times are local.

Decisions are written to the ledger; undecided rows are listed with a reason.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from .clock import now_ms as _now_ms
from .errors import LoanWidgetsError
from .ledger import Ledger, LedgerRow

if TYPE_CHECKING:
    from .client import LoanClient

__all__ = ["STALE_PENDING_MS", "Decision", "Reconciliation", "reconcile"]

STALE_PENDING_MS = 120_000
WINDOW_BEFORE_MS = 60_000
WINDOW_AFTER_MS = 600_000
_DAY_MS = 86_400_000
_HOUR_MS = 3_600_000


@dataclass(frozen=True)
class Decision:
    """What reconciliation concluded for one ledger row."""

    ledger_id: int
    action: str
    status: str  # accepted, not_executed or unknown (undecided)
    order_id: str | None
    reason: str


@dataclass
class Reconciliation:
    """The outcome of one reconciliation run."""

    network: str
    decisions: list[Decision] = field(default_factory=list)

    @property
    def undecided(self) -> list[Decision]:
        """Rows still ``unknown``, with the reason."""
        return [d for d in self.decisions if d.status == "unknown"]

    def __repr__(self) -> str:
        if not self.decisions:
            return f"Nothing to reconcile on {self.network}: no unknown ledger rows."
        lines = [f"Reconciled {len(self.decisions)} ledger row(s) on {self.network}:"]
        for d in self.decisions:
            oid = f" order {d.order_id}" if d.order_id else ""
            lines.append(f"  row {d.ledger_id} ({d.action}): {d.status}{oid} - {d.reason}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        if not self.decisions:
            return f"<p>{html.escape(repr(self))}</p>"
        body = "".join(
            "<tr>" + "".join(
                f"<td style='text-align:left'>{html.escape(str(v))}</td>"
                for v in (d.ledger_id, d.action, d.status, d.order_id or "", d.reason)
            ) + "</tr>"
            for d in self.decisions
        )
        head = "".join(
            f"<th style='text-align:left'>{h}</th>"
            for h in ("row", "action", "now", "order id", "why")
        )
        return (
            f"<table><caption>Reconciliation on {html.escape(self.network)}</caption>"
            f"<tr>{head}</tr>{body}</table>"
        )


def _loan_candidates(client: LoanClient) -> list[dict[str, Any]]:
    """Open and completed legacy loans, normalised to one shape."""
    found = []
    for item in client.ongoing_orders():
        expires = item.get("expirationTime") or ""
        term = item.get("loanTerm") or "flexible"
        borrowed: tuple[int, int] | None = None
        if expires and term != "flexible":
            # Bybit's expirationTime is the start of the borrow hour + term - 1 s: the
            # borrow time is known to the hour.
            start = int(expires) + 1000 - int(term) * _DAY_MS
            borrowed = (start, start + _HOUR_MS - 1)
        found.append({
            "order_id": item["orderId"],
            "loan_currency": item["loanCurrency"],
            "collateral_currency": item["collateralCurrency"],
            "term": term,
            "loan_amount": Decimal(item["totalDebt"]),
            "collateral_amount": Decimal(item["collateralAmount"]),
            "borrowed_at": borrowed,
        })
    for item in client.borrow_history():
        found.append({
            "order_id": item["orderId"],
            "loan_currency": item["loanCurrency"],
            "collateral_currency": item["collateralCurrency"],
            "term": item.get("loanTerm") or "flexible",
            "loan_amount": Decimal(item["initialLoanAmount"]),
            "collateral_amount": Decimal(item["initialCollateralAmount"]),
            "borrowed_at": int(item["borrowTime"]) if item.get("borrowTime") else None,
        })
    return found


def _in_window(row: LedgerRow, at_ms: int | tuple[int, int] | None, offset_ms: float) -> bool:
    """Whether an exchange time (``at_ms``, exchange clock; or a ``(first, last)`` span when
    it is known only that well) falls in the row's window."""
    if at_ms is None:
        return True
    first, last = at_ms if isinstance(at_ms, tuple) else (at_ms, at_ms)
    # the exchange's clock, read on ours
    return (first - offset_ms <= row.updated_at_ms + WINDOW_AFTER_MS
            and last - offset_ms >= row.submitted_at_ms - WINDOW_BEFORE_MS)


def _pick(
    row: LedgerRow,
    exact: list[tuple[str, Any]],
    claimed: dict[str, int],
    offset_ms: float,
    what: str,
) -> tuple[str, str | None, str] | None:
    """Decide from the exchange records that match the row exactly: ``(id, time)`` pairs.

    ``None`` when there is no exact match at all (the caller decides then).
    """
    if not exact:
        return None
    free = [
        (i, t) for i, t in exact if i not in claimed and _in_window(row, t, offset_ms)
    ]
    if len(free) == 1:
        return "accepted", free[0][0], f"exactly one unclaimed {what} matches"
    if len(free) > 1:
        ids = ", ".join(i for i, _ in free)
        return "unknown", None, f"several unclaimed {what}s match ({ids}): check them by hand"
    taken = [f"{i} (ledger row {claimed[i]})" for i, _ in exact if i in claimed]
    if taken:
        return "unknown", None, (
            f"a matching {what} exists but another ledger row claims it: "
            f"{', '.join(taken)}; check by hand"
        )
    return "unknown", None, (
        f"a matching {what} exists outside this row's time window "
        f"({', '.join(i for i, _ in exact)}): check by hand"
    )


def _decide_borrow(
    row: LedgerRow, candidates: list[dict[str, Any]], claimed: dict[str, int], offset_ms: float
) -> tuple[str, str | None, str]:
    same_coins = [
        c for c in candidates
        if c["loan_currency"] == row.loan_currency
        and c["collateral_currency"] == row.collateral_currency
        and c["term"] == (row.term or "flexible")
    ]
    exact = [
        (c["order_id"], c["borrowed_at"]) for c in same_coins
        if (row.loan_amount is None or c["loan_amount"] == row.loan_amount)
        and (row.collateral_amount is None or c["collateral_amount"] == row.collateral_amount)
    ]
    decided = _pick(row, exact, claimed, offset_ms, "loan")
    if decided is not None:
        return decided
    changed = [
        c["order_id"] for c in same_coins
        if c["order_id"] not in claimed and _in_window(row, c["borrowed_at"], offset_ms)
    ]
    if changed:
        return "unknown", None, (
            f"unclaimed {row.loan_currency}/{row.collateral_currency} loan(s) "
            f"{', '.join(changed)} differ in amount (repaid or adjusted since?): check by hand"
        )
    return "not_executed", None, (
        f"no {row.loan_currency}/{row.collateral_currency} {row.term or 'flexible'} loan "
        "with these amounts exists on the exchange, open or completed"
    )


def _decide_history(
    row: LedgerRow, items: list[dict[str, Any]], claimed: dict[str, int], offset_ms: float
) -> tuple[str, str | None, str]:
    if row.action == "repay":
        exact = [
            (str(i["repayId"]), int(i["repayTime"])) for i in items
            if Decimal(i["repayAmount"]) == row.loan_amount
        ]
    else:
        wire = 0 if row.term == "add" else 1
        exact = [
            (str(i["adjustId"]), int(i["adjustTime"])) for i in items
            if Decimal(i["amount"]) == row.collateral_amount and int(i["direction"]) == wire
        ]
    decided = _pick(row, exact, claimed, offset_ms, row.action)
    if decided is not None:
        return decided
    return "not_executed", None, f"loan {row.ref_id} shows no such {row.action}"


def reconcile(client: LoanClient, ledger: Ledger) -> Reconciliation:
    """Decide the client's network's unknown (and stale pending) legacy rows."""
    result = Reconciliation(client.network)
    rows = [
        r for r in ledger.rows()
        if r.network == client.network
        and (
            r.status == "unknown"
            or (r.status == "pending" and r.updated_at_ms < _now_ms() - STALE_PENDING_MS)
        )
    ]
    if not rows:
        return result
    claimed = {
        r.order_id: r.id
        for r in ledger.rows(status="accepted")
        if r.order_id and r.network == client.network
    }
    offset_ms = client.clock_offset_ms
    if offset_ms is None:
        offset_ms = client.sync_clock()
    candidates: list[dict[str, Any]] | None = None
    histories: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        try:
            if row.api != "legacy":
                decision = ("unknown", None, "rows of the new loan API are not reconciled yet")
            elif row.action == "borrow":
                if candidates is None:
                    candidates = _loan_candidates(client)
                decision = _decide_borrow(row, candidates, claimed, offset_ms)
            elif row.action in ("repay", "adjust") and row.ref_id:
                key = (row.action, row.ref_id)
                if key not in histories:
                    fetch = (
                        client.repayment_history if row.action == "repay"
                        else client.adjustment_history
                    )
                    histories[key] = fetch(orderId=row.ref_id)
                decision = _decide_history(row, histories[key], claimed, offset_ms)
            else:
                decision = ("unknown", None, f"cannot reconcile action {row.action!r}")
        except LoanWidgetsError as error:
            decision = ("unknown", None, f"could not read the exchange: {error}")
        status, order_id, reason = decision
        if status != "unknown":
            ledger.settle(
                row.id,
                status,
                order_id=order_id,
                ret_msg=f"reconciled: {reason}",
                http_status=row.http_status,
            )
            if order_id:
                claimed[order_id] = row.id
        result.decisions.append(Decision(row.id, row.action, status, order_id, reason))
    return result
