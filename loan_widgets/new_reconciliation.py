"""Reconciling rows of the new loan API: the same guarantees as legacy rows.

:func:`loan_widgets.reconciliation.reconcile` hands each unsettled new-API row
of its host to :func:`decide`. Every kind of write leaves a record the new API
lists with the exchange's own time (:data:`SOURCES`): a flexible borrow order
(``borrow-history``, ``borrowTime``), a fixed borrow order (``borrow-order-info``,
``orderTime``), a renewal (``renew-info``, ``time``), a supply order
(``supply-order-info``, ``orderTime``), a repayment (flexible or fixed
``repayment-history``, ``repayTime``; a fixed one lists the contracts it paid)
and a pool adjustment (``adjustment-history``, ``adjustTime``). A record is
claimed for a row only when all of these hold:

* it matches the row exactly (coin, amount, term, rate, direction, contract);
* it is **provably new**: its id is not among the ids of that list read just
  before the row was sent (the row's evidence, :mod:`loan_widgets.writes`),
  and its exchange time lies in the row's window (sent at most 60 s before,
  answered or due at most 10 min after, read through the measured clock
  offset);
* **no other row holds it**: no ledger row of the same kind of record (the
  books keep separate id sequences) has its id, and no other unsettled row of
  this host could have made it; a row still in flight makes it wait, a twin
  leaves both ``unknown``; a repayment with collateral accepted by its answer
  carries no id, so a record it could have made is never handed to another
  row;
* a record the exchange marks failed (status 3) is not an execution.

Exactly one such record: ``accepted`` with its id. Several: ``unknown`` with
them listed. None: ``not_executed`` (the lists are read in full).

A **cancel** leaves no record of its own: the order's ``state`` shows it. The
cancel is this row's when the order was matching when the row was sent (its
evidence), is now cancelled (``state`` 2 or 4), and no other row holds that
order's cancel or could have sent it; an order still matching, filled or failed
proves the cancel was not executed. The case no record can tell apart: the same
order cancelled elsewhere (the web site) in the window of a lost answer.

Repayments of ``repayType`` 1 (by the user) and 7 (by currency: the sandbox
uses it for repayments with collateral) can be a row's; the exchange's own
(liquidation, auto repay, overdue, delisting, transfer to flexible) never are.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from .ledger import Ledger, LedgerRow, RowTracking

__all__ = ["SOURCES", "USER_REPAY_TYPES", "Source", "decide", "kind_of"]

USER_REPAY_TYPES = frozenset({1, 7})
"""``repayType`` codes a user's write can leave: 1 by the user, 7 by currency."""
FAILED = 3
"""``status`` / ``repayStatus`` of a record the exchange marks failed."""

Decision = tuple[str, "str | None", str]


class Item(Protocol):
    """An unsettled row as reconciliation holds it."""

    row: LedgerRow
    track: RowTracking
    evidence: frozenset[str] | None
    waits: str


@dataclass(frozen=True)
class Source:
    """Where the records of one kind of write are listed, and how one matches a row."""

    read: str  # the client.new method
    filter: Callable[[LedgerRow], dict[str, str]]  # its filters for a row
    id_key: str
    time_key: str
    match: Callable[[LedgerRow, Mapping[str, Any]], bool]
    books: tuple[str, ...]  # ledger actions whose rows hold records of this list
    what: str  # for people


def _body(row: LedgerRow) -> dict[str, Any]:
    try:
        found = json.loads(row.body)
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def _rate(row: LedgerRow) -> Decimal | None:
    text = _body(row).get("annualRate")
    return Decimal(text) if isinstance(text, str) else None


def _ok(item: Mapping[str, Any], key: str) -> bool:
    return item.get(key) != FAILED


def _coin(row: LedgerRow) -> dict[str, str]:
    coin = row.coin or row.loan_currency
    return {"loanCurrency": coin} if coin else {}


def _repaid(row: LedgerRow, item: Mapping[str, Any]) -> bool:
    return (item.get("repayType") in USER_REPAY_TYPES and _ok(item, "repayStatus")
            and item.get("repayAmount") == row.loan_amount)


def _contracts(item: Mapping[str, Any]) -> set[str]:
    return {str(d.get("loanId")) for d in item.get("details") or [] if isinstance(d, Mapping)}


def _fixed_repaid(row: LedgerRow, item: Mapping[str, Any]) -> bool:
    if item.get("repayType") not in USER_REPAY_TYPES or not _ok(item, "repayStatus"):
        return False
    if row.ref_id is not None and row.ref_id not in _contracts(item):
        return False
    if row.loan_amount is not None:  # a repayment with collateral: that amount
        return item.get("repayAmount") == row.loan_amount
    return row.ref_id is not None or item.get("loanCurrency") == (row.coin or row.loan_currency)


def _fixed_order(row: LedgerRow, item: Mapping[str, Any]) -> bool:
    strategy = _body(row).get("strategyType")
    return (item.get("orderQty") == row.loan_amount and item.get("term") == row.term
            and item.get("annualRate") == _rate(row)
            and (strategy is None or item.get("strategyType") in (None, strategy)))


SOURCES: dict[str, Source] = {
    "flexible_borrow": Source(
        "flexible_borrow_history", lambda r: {"loanCurrency": r.loan_currency or ""},
        "orderId", "borrowTime",
        lambda r, i: i.get("initialLoanAmount") == r.loan_amount and _ok(i, "status"),
        ("borrow",), "flexible borrow order"),
    "fixed_borrow": Source(
        "fixed_orders", lambda r: {"orderCurrency": r.loan_currency or ""}, "orderId",
        "orderTime", _fixed_order, ("borrow", "renew"), "fixed borrow order"),
    "renew": Source(
        "renewals", lambda r: {}, "orderId", "time",
        lambda r, i: i.get("loanId") == r.ref_id, ("borrow", "renew"), "renewal"),
    "supply": Source(
        "supply_orders", lambda r: {"orderCurrency": r.loan_currency or ""}, "orderId",
        "orderTime",
        lambda r, i: (i.get("orderQty") == r.loan_amount and i.get("term") == r.term
                      and i.get("annualRate") == _rate(r)),
        ("supply",), "supply order"),
    "flexible_repay": Source(
        "flexible_repayment_history", _coin, "repayId", "repayTime", _repaid, ("repay",),
        "flexible repayment"),
    "fixed_repay": Source(
        "fixed_repayment_history", lambda r: {} if r.ref_id and not r.coin else _coin(r),
        "repayId", "repayTime", _fixed_repaid, ("repay",), "fixed repayment"),
    "pool_adjust": Source(
        "adjustment_history", lambda r: {"collateralCurrency": r.collateral_currency or ""},
        "adjustId", "adjustTime",
        lambda r, i: (i.get("amount") == r.collateral_amount and _ok(i, "status")
                      and i.get("direction") == (0 if r.direction == "add" else 1)),
        ("adjust",), "pool adjustment"),
}
"""Each kind of new-API write (:func:`kind_of`) -> where its record is listed."""

_CANCELS = {"cancel": "fixed_orders", "cancel_supply": "supply_orders"}
_STATES: dict[object, str] = {1: "still matching", 2: "partially filled and cancelled",
                              3: "fully filled", 4: "cancelled", 5: "failed"}


def kind_of(row: LedgerRow) -> str:
    """The kind of write a ledger row of the new API is (a key of :data:`SOURCES`, or
    ``cancel``/``cancel_supply``)."""
    if row.action == "borrow":
        return "flexible_borrow" if (row.term or "flexible") == "flexible" else "fixed_borrow"
    if row.action == "repay":
        if row.term in ("flexible", "fixed"):  # repayments with collateral say their book
            return f"{row.term}_repay"
        return "fixed_repay" if row.loan_amount is None else "flexible_repay"
    if row.action == "adjust":
        return "pool_adjust"
    return row.action  # renew, supply, cancel, cancel_supply


def _ns(row: LedgerRow) -> str:
    """Which id sequence a row's order id comes from (rows of other books may repeat it)."""
    if row.api != "new":
        return f"legacy {row.action}"
    kind = kind_of(row)
    return {"renew": "fixed_borrow", "flexible_repay": "flexible_repay"}.get(kind, kind)


@dataclass
class Run:
    """What one reconciliation run shares across rows: reads, claims, the clock."""

    client: Any
    ledger: Ledger
    claimed: dict[tuple[str, str], tuple[int, int]]
    offset_ms: float
    in_window: Callable[[Any, int | None, float], bool]
    lists: dict[tuple[str, tuple[tuple[str, str], ...]], list[dict[str, Any]]]

    def read(self, method: str, filters: Mapping[str, str]) -> list[dict[str, Any]]:
        key = (method, tuple(sorted((k, v) for k, v in filters.items() if v)))
        if key not in self.lists:
            self.lists[key] = getattr(self.client.new, method)(**dict(key[1]))
        return self.lists[key]

    def holder(self, row: LedgerRow, actions: tuple[str, ...], rid: str
               ) -> tuple[LedgerRow, str | None] | None:
        """The other ledger row holding record ``rid`` of ``row``'s id sequence."""
        for action in actions:
            held = self.claimed.get((action, rid))
            if held is None or held[0] == row.id:
                continue
            other = self.ledger.get(held[0])
            if other.api == "new" and _ns(other) == _ns(row):
                return other, self.ledger.tracking(other.id).settled_by
        return None


@dataclass(frozen=True)
class _Probe:
    row: LedgerRow
    track: RowTracking


def _clash(run: Run, row: LedgerRow, rid: str) -> LedgerRow | None:
    """A row of another book holding ``rid`` for this action: the ledger keeps one row per
    (host, action, id), so this row could not record it."""
    held = run.claimed.get((row.action, rid))
    if held is None or held[0] == row.id:
        return None
    return run.ledger.get(held[0])


def _shape(row: LedgerRow) -> tuple[Any, ...]:
    return (kind_of(row), row.loan_currency, row.loan_amount, row.collateral_currency,
            row.collateral_amount, row.term, row.ref_id, row.direction, row.coin, _rate(row))


def decide(item: Item, others: list[Any], run: Run) -> Decision:
    """Decide one unsettled new-API row (see the module docstring)."""
    row = item.row
    kind = kind_of(row)
    if kind in _CANCELS:
        return _decide_cancel(item, others, run)
    source = SOURCES.get(kind)
    if source is None:
        return "unknown", None, f"cannot reconcile action {row.action!r} of the new loan API"
    records = run.read(source.read, source.filter(row))
    mine = []
    for record in records:
        rid = str(record.get(source.id_key))
        if not source.match(row, record) or run.holder(row, source.books, rid):
            continue
        if item.evidence is not None and rid in item.evidence:
            continue  # it existed before this row was sent
        if run.in_window(item, record.get(source.time_key), run.offset_ms):
            mine.append((rid, record))
    if len(mine) > 1:
        ids = ", ".join(rid for rid, _ in mine)
        return "unknown", None, f"several unclaimed {source.what}s match ({ids}): check by hand"
    if not mine:
        return "not_executed", None, (
            f"no matching {source.what} appeared on the exchange after this row was sent")
    rid, record = mine[0]
    for other in others:
        rival = other.row
        if _ns(rival) != _ns(row) or not source.match(rival, record) or (
                other.evidence is not None and rid in other.evidence) or not run.in_window(
                other, record.get(source.time_key), run.offset_ms):
            continue
        if other.waits:
            return "unknown", None, (f"{source.what} {rid} may belong to ledger row {rival.id}, "
                                     "still in flight: reconcile again once it is settled")
        return "unknown", None, (f"{source.what} {rid} could be this row's or ledger row "
                                 f"{rival.id}'s (identical orders): check by hand")
    if row.collateral_currency and kind.endswith("_repay"):  # twins accepted with no id
        for accepted in run.ledger.rows(status="accepted", host=row.host):
            if (accepted.id != row.id and accepted.order_id is None and accepted.api == "new"
                    and _shape(accepted) == _shape(row) and run.in_window(
                        _Probe(accepted, run.ledger.tracking(accepted.id)),
                        record.get(source.time_key), run.offset_ms)):
                return "unknown", None, (
                    f"{source.what} {rid} could be ledger row {accepted.id}'s (accepted by "
                    "its answer, which carries no id): check by hand")
    clash = _clash(run, row, rid)
    if clash is not None:
        return "unknown", None, (
            f"{source.what} {rid} is this row's, but ledger row {clash.id} (another kind of "
            f"order) already holds id {rid}: check by hand")
    return "accepted", rid, (
        f"exactly one matching {source.what} that no other row holds and that did not exist "
        "before this row was sent")


def _decide_cancel(item: Item, others: list[Any], run: Run) -> Decision:
    row = item.row
    ref = row.ref_id or ""
    side = "borrow" if row.action == "cancel" else "supply"
    found = [o for o in run.read(_CANCELS[row.action], {"orderId": ref})
             if o.get("orderId") == ref]
    if not found:
        return "unknown", None, f"fixed {side} order {ref} is not listed: check by hand"
    state = found[0].get("state")
    if state not in (2, 4):
        return "not_executed", None, (
            f"fixed {side} order {ref} is {_STATES.get(state, f'in state {state}')}: it was "
            "not cancelled")
    held = run.holder(row, (row.action,), ref)
    if held is not None:
        other, settled_by = held
        if settled_by == "answer":
            return "not_executed", None, (
                f"order {ref} was cancelled by ledger row {other.id} (its answer said so); "
                "an order is cancelled once")
        return "unknown", None, (f"order {ref}'s cancel is held by ledger row {other.id} "
                                 "(by reconciliation): check by hand")
    for other in others:
        if other.row.action == row.action and other.row.ref_id == ref:
            return "unknown", None, (
                f"order {ref} could have been cancelled by this row or by ledger row "
                f"{other.row.id}" + (", still in flight" if other.waits else "")
                + ": check by hand")
    if item.evidence is None or ref not in item.evidence:
        return "unknown", None, (f"no record that order {ref} was matching when this row was "
                                 "sent: check by hand")
    return "accepted", ref, (f"order {ref} was matching when this row was sent and is now "
                             f"{_STATES[state]}; no other row holds its cancel")
