"""The order ledger: every submitted order, durably, in one SQLite file.

A row is written as ``pending`` *before* its request is sent, then settled
(updated once, by the answer or by reconciliation) to one of:

``accepted``      the exchange returned an order id
``rejected``      the exchange (or the HTTP edge, e.g. a CDN 403) refused it
``unknown``       sent, but the answer was lost: it may have been executed
``failed``        it never reached the exchange (no connection, interrupted before sending)
``not_executed``  an ``unknown`` row that reconciliation proved was not executed

``action`` is ``borrow``, ``repay`` or ``adjust``; ``order_id`` is the id the
exchange gave this submission (loan, repayment or adjustment id), ``ref_id``
the loan order a repayment or adjustment acted on, ``direction`` an
adjustment's ``add`` or ``reduce``, ``coin`` the coin of a by-coin action (the
new API's repayments) and ``host`` where the order was sent. No two rows share
an order id for the same host and action (a unique index). The schema and its
migrations are in :mod:`loan_widgets.ledger_schema`.

Orders refused by local validation are never written. The file is
``$LOAN_WIDGETS_LEDGER`` or ``ledger.sqlite3`` in the per-user data
directory, created private to the user (file 0600, new folders 0700). SQLite
in WAL mode lets several processes append at once; a process killed
mid-write leaves every committed row intact. A path that cannot hold a
ledger (a folder, a text file, a corrupt or read-only database, a device) is
a one-line :class:`~loan_widgets.errors.LedgerError` before anything is sent;
an outcome that cannot be written after the exchange answered goes to a
small journal file beside the ledger (:mod:`loan_widgets.journal`) and is
merged the next time the ledger opens.

No credential, header or signature is ever stored: only the order's fields,
its JSON body and the outcome.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import journal
from .clock import now_ms as _now_ms
from .config import same_exchange
from .errors import DuplicateOrderError, LedgerError
from .ledger_file import COLUMNS, default_path, fingerprint, open_ledger, unusable

if TYPE_CHECKING:
    import pandas as pd

    from .frames import CompactFrame

__all__ = [
    "STATUSES",
    "Ledger",
    "LedgerRow",
    "RowTracking",
    "default_ledger",
    "default_path",
    "orders",
]

log = logging.getLogger(__name__)

STATUSES = ("pending", "accepted", "rejected", "unknown", "failed", "not_executed")
UNSETTLED = ("pending", "unknown")
DEFAULT_TIMEOUT_S = 10.0
"""How long a statement waits for another process's write transaction."""

_COMPARED = ("loan_currency", "loan_amount", "collateral_currency", "collateral_amount", "term",
             "ref_id", "direction", "coin")
"""The fields the duplicate guard compares (with the action), in ``fingerprint``'s order."""
_TRACKING = ("fingerprint", "writer", "deadline_ms", "evidence_id", "settled_by", "duplicate_of")
_COLUMNS = tuple(c for c in COLUMNS if c not in _TRACKING)
_FRAME_COLUMNS = tuple(c for c in _COLUMNS if c not in ("updated_at_ms", "body"))
_SELECT = ", ".join(_COLUMNS)
_INSERTED = (
    "submitted_at_ms", "updated_at_ms", "network", "source", "api", "action", "loan_currency",
    "loan_amount", "collateral_currency", "collateral_amount", "term", "ref_id", "status",
    "ret_msg", "body", "host", "direction", "coin", "fingerprint", "writer", "deadline_ms",
    "evidence_id",
)
_INSERT = (
    f"INSERT INTO orders ({', '.join(_INSERTED)}) VALUES ({','.join('?' * len(_INSERTED))})"
)
_INSERT_UNLESS_TWIN = (  # the duplicate guard: checked and written in one statement
    f"INSERT INTO orders ({', '.join(_INSERTED)}) SELECT {','.join('?' * len(_INSERTED))} "
    "WHERE NOT EXISTS (SELECT 1 FROM orders WHERE {hosts} AND fingerprint = ? "
    "AND status IN ('pending', 'unknown'))"
)


def _hosts(host: str | None) -> tuple[str, tuple[str | None, ...]]:
    """``host IS ?`` for ``host`` and every origin of the same exchange (config.same_exchange),
    with its parameters: the duplicate guard and reconciliation see them as one."""
    hosts = same_exchange(host)
    return "(" + " OR ".join(["host IS ?"] * len(hosts)) + ")", hosts


@dataclass(frozen=True)
class LedgerRow:
    """One submission as stored (amounts as exact ``Decimal``)."""

    id: int
    submitted_at_ms: int
    updated_at_ms: int
    network: str
    source: str
    api: str
    action: str
    loan_currency: str | None
    loan_amount: Decimal | None
    collateral_currency: str | None
    collateral_amount: Decimal | None
    term: str | None
    ref_id: str | None
    status: str
    order_id: str | None
    ret_code: int | None
    ret_msg: str | None
    http_status: int | None
    latency_ms: float | None
    body: str
    host: str | None
    direction: str | None
    coin: str | None


@dataclass(frozen=True)
class RowTracking:
    """What the safety rules keep about a row beside the order itself."""

    fingerprint: str | None
    writer: str | None
    deadline_ms: int | None
    evidence_id: int | None
    settled_by: str | None
    duplicate_of: int | None


def _row(values: tuple[Any, ...]) -> LedgerRow:
    data = dict(zip(_COLUMNS, values, strict=True))
    for key in ("loan_amount", "collateral_amount"):
        if data[key] is not None:
            data[key] = Decimal(data[key])
    return LedgerRow(**data)


def _text(amount: Decimal | None) -> str | None:
    return None if amount is None else format(amount, "f")


class Ledger:
    """The record of submissions in a SQLite file: rows are appended, then settled once.

    Args:
        path: the file (default: :func:`default_path`).
        timeout: seconds a statement waits for another process's write
            transaction before giving up (then: :class:`LedgerError` before
            sending, the journal after an answer).
    """

    def __init__(
        self, path: str | os.PathLike[str] | None = None, *, timeout: float = DEFAULT_TIMEOUT_S
    ) -> None:
        self.path = Path(path) if path is not None else default_path()
        self.timeout = timeout
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._pid = 0
        self._journal_waiting = False

    def __repr__(self) -> str:
        return f"Ledger({str(self.path)!r})"

    @property
    def journal_path(self) -> Path:
        """Where outcomes wait when the ledger cannot take them."""
        return journal.journal_path(self.path)

    # -- opening -------------------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None or self._pid != os.getpid():
            self._conn = None
            self._conn, self._pid = open_ledger(self.path, self.timeout), os.getpid()
            self._journal_waiting = True  # another process may have left outcomes
        if self._journal_waiting:
            self._journal_waiting = False
            self._merge_journal()
        return self._conn

    def ready(self) -> None:
        """Open (or create) the ledger now: a one-line ``LedgerError`` if it cannot be used."""
        with self._lock:
            self._connection()

    def _execute(self, sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        with self._lock:
            conn = self._connection()
            try:
                return conn.execute(sql, params)
            except sqlite3.IntegrityError:
                raise
            except sqlite3.Error as error:
                raise unusable(self.path, self.timeout, error) from None

    # -- writing -------------------------------------------------------------------------

    def record_pending(
        self,
        *,
        network: str,
        source: str,
        body: str,
        api: str = "legacy",
        action: str = "borrow",
        loan_currency: str | None = None,
        loan_amount: Decimal | None = None,
        collateral_currency: str | None = None,
        collateral_amount: Decimal | None = None,
        term: str | None = None,
        ref_id: str | None = None,
        host: str | None = None,
        direction: str | None = None,
        coin: str | None = None,
        writer: str | None = None,
        deadline_ms: int | None = None,
        evidence_id: int | None = None,
        status: str = "pending",
        ret_msg: str | None = None,
        refuse_unsettled_twin: bool = False,
        same_as: Mapping[str, Any] | None = None,
    ) -> int:
        """Write a row before sending (``pending``) and return its id.

        With ``refuse_unsettled_twin``, an identical order (same host, action,
        coins, amounts, term, loan, direction) still ``pending`` or ``unknown``
        makes it a :class:`DuplicateOrderError` instead, checked and written
        in one statement so two processes cannot both pass. ``same_as`` replaces
        fields in that comparison (e.g. a pledge the client sized, compared as
        not given); the row keeps the fields as given.
        """
        if status not in STATUSES:
            raise ValueError(f"unknown ledger status {status!r}")
        now = _now_ms()
        compared = (loan_currency, loan_amount, collateral_currency, collateral_amount, term,
                    ref_id, direction, coin)
        if same_as:
            compared = tuple(same_as.get(name, value) for name, value in zip(
                _COMPARED, compared, strict=True))
        mark = fingerprint(action, *compared)
        values = (
            now, now, network, source, api, action, loan_currency, _text(loan_amount),
            collateral_currency, _text(collateral_amount), term, ref_id, status, ret_msg, body,
            host, direction, coin, mark, writer, deadline_ms, evidence_id,
        )
        if not refuse_unsettled_twin:
            cursor = self._execute(_INSERT, values)
        else:
            where, hosts = _hosts(host)
            cursor = self._execute(_INSERT_UNLESS_TWIN.format(hosts=where),
                                   (*values, *hosts, mark))
            if cursor.rowcount == 0:
                raise self._duplicate(host, mark, action)
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def check_no_unsettled_twin(
        self,
        *,
        host: str | None,
        action: str,
        loan_currency: str | None = None,
        loan_amount: Decimal | None = None,
        collateral_currency: str | None = None,
        collateral_amount: Decimal | None = None,
        term: str | None = None,
        ref_id: str | None = None,
        direction: str | None = None,
        coin: str | None = None,
        **_other: Any,
    ) -> None:
        """Raise :class:`DuplicateOrderError` if an identical order is still unsettled."""
        mark = fingerprint(
            action, loan_currency, loan_amount, collateral_currency, collateral_amount, term,
            ref_id, direction, coin,
        )
        where, hosts = _hosts(host)
        found = self._execute(
            f"SELECT 1 FROM orders WHERE {where} AND fingerprint = ? "
            "AND status IN ('pending', 'unknown') LIMIT 1",
            (*hosts, mark),
        ).fetchone()
        if found is not None:
            raise self._duplicate(host, mark, action)

    def has_unsettled(self, host: str | None) -> bool:
        """True while any row sent to ``host`` (or a host of the same exchange) is
        ``pending`` or ``unknown``."""
        where, hosts = _hosts(host)
        return self._execute(
            f"SELECT 1 FROM orders WHERE {where} AND status IN ('pending', 'unknown') LIMIT 1",
            hosts,
        ).fetchone() is not None

    def _duplicate(self, host: str | None, mark: str, action: str) -> DuplicateOrderError:
        where, hosts = _hosts(host)
        twins = self._execute(
            f"SELECT id, status FROM orders WHERE {where} AND fingerprint = ? "
            "AND status IN ('pending', 'unknown') ORDER BY id",
            (*hosts, mark),
        ).fetchall()
        rows = ", ".join(f"row {i} ({s})" for i, s in twins)
        return DuplicateOrderError(
            f"an identical {action} is not settled yet (ledger {rows}): it may have been "
            "executed, so it was not sent again; reconcile first, or force it",
            ledger_ids=tuple(i for i, _ in twins),
            ledger_id=twins[-1][0] if twins else None,
        )

    def settle(
        self,
        row_id: int,
        status: str,
        *,
        order_id: str | None = None,
        ret_code: int | None = None,
        ret_msg: str | None = None,
        http_status: int | None = None,
        latency_ms: float | None = None,
        by: str = "answer",
    ) -> None:
        """Record the outcome of row ``row_id`` (``by``: answer, reconcile or journal).

        An order id already held by another row of the same host and action:
        an answer outranks a reconciliation's claim (that row goes back to
        ``unknown``); between two answers, the later row is kept with its id
        and marked ``duplicate_of`` the earlier one, never dropped.
        """
        if status not in STATUSES:
            raise ValueError(f"unknown ledger status {status!r}")
        sql = (
            "UPDATE orders SET status=?, order_id=COALESCE(?, order_id), ret_code=?, ret_msg=?,"
            " http_status=?, latency_ms=COALESCE(?, latency_ms), updated_at_ms=?, settled_by=?"
            " WHERE id=?"
        )
        params = (status, order_id, ret_code, ret_msg, http_status, latency_ms, _now_ms(), by,
                  row_id)
        try:
            self._execute(sql, params)
        except sqlite3.IntegrityError:
            with self._lock:
                self._settle_taken(row_id, order_id, by, sql, params)

    def _settle_taken(
        self, row_id: int, order_id: str | None, by: str, sql: str, params: tuple[Any, ...]
    ) -> None:
        conn = self._connection()
        try:
            conn.execute("BEGIN IMMEDIATE")
            holder = conn.execute(
                "SELECT o.id, o.settled_by FROM orders o JOIN orders me ON me.id = ? "
                "WHERE o.host IS me.host AND o.action = me.action AND o.order_id = ? "
                "AND o.duplicate_of IS NULL AND o.id != me.id",
                (row_id, order_id),
            ).fetchone()
            if holder is not None and holder[1] == "reconcile" and by != "reconcile":
                conn.execute(
                    "UPDATE orders SET status='unknown', order_id=NULL, settled_by=NULL, "
                    "ret_msg=?, updated_at_ms=? WHERE id=?",
                    (f"reconciled claim of {order_id} withdrawn: ledger row {row_id} got it "
                     "in the exchange's answer", _now_ms(), holder[0]),
                )
                conn.execute(sql, params)
            elif holder is not None and by != "reconcile":
                conn.execute("UPDATE orders SET duplicate_of=? WHERE id=?", (holder[0], row_id))
                conn.execute(sql, params)
                log.warning(
                    "ledger row %s got order id %s, already on row %s of the same host: both "
                    "kept (row %s marked duplicate_of)", row_id, order_id, holder[0], row_id,
                )
            conn.execute("COMMIT")
        except BaseException as error:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if isinstance(error, sqlite3.Error):
                raise unusable(self.path, self.timeout, error) from None
            raise

    def settle_or_keep(self, row_id: int, status: str, **outcome: Any) -> str | None:
        """:meth:`settle`, or when the ledger cannot be written, keep the outcome in the
        journal beside it; returns a one-line notice then (``None`` when settled)."""
        try:
            self.settle(row_id, status, **outcome)
            return None
        except LedgerError as error:
            reason = str(error)
        record = {"row": row_id, "status": status, "at_ms": _now_ms(), **outcome}
        try:
            journal.append(self.journal_path, record)
        except OSError as error:
            order = outcome.get("order_id")
            return (
                f"ledger row {row_id} could not be written ({reason}) nor kept beside it "
                f"({error.strerror}): it is {status}"
                + (f" with order id {order}" if order else "")
            )
        self._journal_waiting = True
        order = outcome.get("order_id")
        return (
            f"ledger row {row_id} is {status}" + (f" (order {order})" if order else "")
            + f" but the ledger could not be written now: kept in {self.journal_path}, "
            "merged when the ledger next opens"
        )

    def _merge_journal(self) -> None:
        def apply(outcome: dict[str, Any]) -> None:
            fields = {k: outcome.get(k) for k in
                      ("order_id", "ret_code", "ret_msg", "http_status", "latency_ms")}
            current = self._execute(
                "SELECT status FROM orders WHERE id=?", (outcome["row"],)
            ).fetchone()
            if current is not None and current[0] in UNSETTLED:
                self.settle(int(outcome["row"]), str(outcome["status"]), by="journal", **fields)

        try:
            merged = journal.merge(self.journal_path, apply)
        except (LedgerError, OSError, KeyError, ValueError) as error:
            self._journal_waiting = True
            log.debug("journal not merged yet: %s", error)
            return
        if merged:
            log.info("merged %d outcome(s) kept beside the ledger into it", merged)

    def record_evidence(self, host: str, order_ids: frozenset[str] | set[str]) -> int:
        """Keep the open loans known on ``host`` now; return the evidence id."""
        cursor = self._execute(
            "INSERT INTO evidence (host, taken_at_ms, order_ids) VALUES (?,?,?)",
            (host, _now_ms(), ",".join(sorted(order_ids))),
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def evidence(self, evidence_id: int) -> tuple[int, frozenset[str]] | None:
        """(taken at ms, open order ids) of a piece of evidence, or ``None``."""
        found = self._execute(
            "SELECT taken_at_ms, order_ids FROM evidence WHERE id=?", (evidence_id,)
        ).fetchone()
        if found is None:
            return None
        return int(found[0]), frozenset(i for i in str(found[1]).split(",") if i)

    # -- reading -------------------------------------------------------------------------

    def get(self, row_id: int) -> LedgerRow:
        """One row by id (``KeyError`` if absent)."""
        found = self._execute(f"SELECT {_SELECT} FROM orders WHERE id=?", (row_id,)).fetchone()
        if found is None:
            raise KeyError(row_id)
        return _row(found)

    def tracking(self, row_id: int) -> RowTracking:
        """The safety bookkeeping of row ``row_id`` (``KeyError`` if absent)."""
        found = self._execute(
            f"SELECT {', '.join(_TRACKING)} FROM orders WHERE id=?", (row_id,)
        ).fetchone()
        if found is None:
            raise KeyError(row_id)
        return RowTracking(*found)

    def rows(
        self, *, status: str | None = None, host: str | None = None, limit: int | None = None
    ) -> list[LedgerRow]:
        """Rows oldest first; ``limit`` keeps the newest ``limit`` of them."""
        sql = f"SELECT {_SELECT} FROM orders"
        where: list[str] = []
        params: list[str | None] = []
        if status is not None:
            where.append("status=?")
            params.append(status)
        if host is not None:  # with the hosts of the same exchange
            clause, hosts = _hosts(host)
            where.append(clause)
            params.extend(hosts)
        if where:
            sql += " WHERE " + " AND ".join(where)
        if limit is not None:
            sql = f"SELECT * FROM ({sql} ORDER BY id DESC LIMIT {int(limit)})"
        sql += " ORDER BY id"
        return [_row(r) for r in self._execute(sql, tuple(params)).fetchall()]

    def unsettled(self) -> list[tuple[LedgerRow, RowTracking]]:
        """Every ``pending`` or ``unknown`` row, oldest first, with its bookkeeping."""
        found = self._execute(
            f"SELECT {_SELECT}, {', '.join(_TRACKING)} FROM orders "
            "WHERE status IN ('pending', 'unknown') ORDER BY id"
        ).fetchall()
        split = len(_COLUMNS)
        return [(_row(r[:split]), RowTracking(*r[split:])) for r in found]

    def claimed(self, host: str | None) -> dict[tuple[str, str], tuple[int, int]]:
        """``(action, order id) -> (row, when it was settled, ms)`` for every order id the
        ledger holds for ``host`` and the hosts of the same exchange (the first row, where
        old rows repeat one)."""
        where, hosts = _hosts(host)
        found = self._execute(
            f"SELECT action, order_id, id, updated_at_ms FROM orders WHERE {where} AND "
            "order_id IS NOT NULL AND duplicate_of IS NULL ORDER BY id DESC",
            hosts,
        ).fetchall()
        return {(a, o): (i, t) for a, o, i, t in found}

    def count(self) -> int:
        """Number of rows."""
        return int(self._execute("SELECT COUNT(*) FROM orders").fetchone()[0])

    def to_frame(self, limit: int | None = None) -> CompactFrame:
        """The ledger as a DataFrame, one row per submission, newest last.

        Times are tz-aware UTC, amounts exact ``Decimal`` in plain notation; it displays
        its compact columns and holds all of them (see :mod:`loan_widgets.frames`).
        """
        from .frames import ledger_frame

        sql = f"SELECT {', '.join(_FRAME_COLUMNS)} FROM orders"
        if limit is not None:
            sql = f"SELECT * FROM ({sql} ORDER BY id DESC LIMIT {int(limit)}) "
        sql += " ORDER BY id"
        with self._lock:
            conn = self._connection()
            declared = {row[1]: row[2] for row in conn.execute("PRAGMA table_info(orders)")}
            raw = conn.execute(sql).fetchall()
        return ledger_frame([(name, declared[name]) for name in _FRAME_COLUMNS], raw)

    def close(self) -> None:
        """Close the connection (it reopens on next use)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


_default: dict[Path, Ledger] = {}
_default_lock = threading.Lock()


def default_ledger() -> Ledger:
    """The process-wide ledger for :func:`default_path` (re-read on every call)."""
    path = default_path()
    with _default_lock:
        if path not in _default:
            _default[path] = Ledger(path)
        return _default[path]


def orders(limit: int | None = None, *, full: bool = False) -> pd.DataFrame:
    """Every submitted order as a pandas DataFrame, newest last.

    It holds every column and displays the compact ones; ``full=True`` (the same as
    ``orders().full``) displays them all. ``limit`` keeps the newest rows.
    """
    frame = default_ledger().to_frame(limit=limit)
    return frame.full if full else frame
