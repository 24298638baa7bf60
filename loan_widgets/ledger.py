"""The order ledger: every submitted order, durably, in one SQLite file.

A row is written as ``pending`` *before* its request is sent, then moved to
one of:

``accepted``      the exchange returned an order id
``rejected``      the exchange (or the HTTP edge, e.g. a CDN 403) refused it
``unknown``       sent, but the answer was lost: it may have been executed
``failed``        no connection was made, so it never reached the exchange
``not_executed``  an ``unknown`` row that reconciliation proved was not executed

``action`` is ``borrow``, ``repay`` or ``adjust``; ``order_id`` is the id the
exchange gave this submission (loan, repayment or adjustment id) and
``ref_id`` the loan order a repayment or adjustment acted on.

Orders refused by local validation are never written. The file is
``$LOAN_WIDGETS_LEDGER`` or ``ledger.sqlite3`` in the per-user data
directory. SQLite in WAL mode lets several processes append at once; a
process killed mid-write leaves every committed row intact.

No credential, header or signature is ever stored: only the order's fields,
its JSON body and the outcome.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .clock import now_ms as _now_ms

if TYPE_CHECKING:
    import pandas as pd

    from .orders import BorrowRequest

__all__ = ["STATUSES", "Ledger", "LedgerRow", "default_ledger", "default_path", "orders"]

STATUSES = ("pending", "accepted", "rejected", "unknown", "failed", "not_executed")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS orders (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    submitted_at_ms     INTEGER NOT NULL,
    updated_at_ms       INTEGER NOT NULL,
    network             TEXT NOT NULL,
    source              TEXT NOT NULL,
    api                 TEXT NOT NULL,
    action              TEXT NOT NULL,
    loan_currency       TEXT,
    loan_amount         TEXT,
    collateral_currency TEXT,
    collateral_amount   TEXT,
    term                TEXT,
    ref_id              TEXT,
    status              TEXT NOT NULL,
    order_id            TEXT,
    ret_code            INTEGER,
    ret_msg             TEXT,
    http_status         INTEGER,
    latency_ms          REAL,
    body                TEXT NOT NULL
);
"""

_COLUMNS = (
    "id",
    "submitted_at_ms",
    "updated_at_ms",
    "network",
    "source",
    "api",
    "action",
    "loan_currency",
    "loan_amount",
    "collateral_currency",
    "collateral_amount",
    "term",
    "ref_id",
    "status",
    "order_id",
    "ret_code",
    "ret_msg",
    "http_status",
    "latency_ms",
    "body",
)


_FRAME_COLUMNS = tuple(c for c in _COLUMNS if c not in ("updated_at_ms", "body"))


def default_path() -> Path:
    """``$LOAN_WIDGETS_LEDGER``, else ``ledger.sqlite3`` in the user data directory."""
    configured = os.environ.get("LOAN_WIDGETS_LEDGER", "").strip()
    if configured:
        return Path(configured).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("loan_widgets", appauthor=False)) / "ledger.sqlite3"


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


def _row(values: tuple[Any, ...]) -> LedgerRow:
    data = dict(zip(_COLUMNS, values, strict=True))
    for key in ("loan_amount", "collateral_amount"):
        if data[key] is not None:
            data[key] = Decimal(data[key])
    return LedgerRow(**data)


SETUP_TIMEOUT_S = 30.0


def _setup(conn: sqlite3.Connection) -> None:
    """WAL mode and the schema, retried while another process creates the same file.

    Switching a new file to WAL can fail at once with "database is locked"
    while another connection writes it (SQLite does not wait there, to avoid a
    deadlock), so the setup backs off and tries again, up to 30 s.
    """
    deadline = time.monotonic() + SETUP_TIMEOUT_S
    delay = 0.005
    while True:
        try:
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(_SCHEMA)
            known = {row[1] for row in conn.execute("PRAGMA table_info(orders)")}
            if "ref_id" not in known:  # ledgers written before repay/adjust were recorded
                conn.execute("ALTER TABLE orders ADD COLUMN ref_id TEXT")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.2)


class Ledger:
    """Append-only record of submissions in a SQLite file."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else default_path()
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._pid = 0

    def __repr__(self) -> str:
        return f"Ledger({str(self.path)!r})"

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None or self._pid != os.getpid():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                self.path, timeout=30.0, isolation_level=None, check_same_thread=False
            )
            try:
                _setup(conn)
            except BaseException:
                conn.close()
                raise
            self._conn, self._pid = conn, os.getpid()
        return self._conn

    def _execute(self, sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        with self._lock:
            return self._connection().execute(sql, params)

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
    ) -> int:
        """Write a ``pending`` row before sending; return its id."""
        now = _now_ms()
        cursor = self._execute(
            "INSERT INTO orders (submitted_at_ms, updated_at_ms, network, source, api, action,"
            " loan_currency, loan_amount, collateral_currency, collateral_amount, term,"
            " ref_id, status, body) VALUES (?,?,?,?,?,?,?,?,?,?,?,?, 'pending', ?)",
            (
                now,
                now,
                network,
                source,
                api,
                action,
                loan_currency,
                None if loan_amount is None else format(loan_amount, "f"),
                collateral_currency,
                None if collateral_amount is None else format(collateral_amount, "f"),
                term,
                ref_id,
                body,
            ),
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def record_borrow(
        self,
        request: BorrowRequest,
        *,
        network: str,
        source: str,
        api: str = "legacy",
        body: str | None = None,
    ) -> int:
        """``record_pending`` for a :class:`~loan_widgets.orders.BorrowRequest`."""
        return self.record_pending(
            network=network,
            source=source,
            api=api,
            action="borrow",
            body=request.to_body() if body is None else body,
            loan_currency=request.loan_currency,
            loan_amount=request.loan_amount,
            collateral_currency=request.collateral_currency,
            collateral_amount=request.collateral_amount,
            term=request.term,
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
    ) -> None:
        """Record the outcome of row ``row_id``."""
        if status not in STATUSES:
            raise ValueError(f"unknown ledger status {status!r}")
        self._execute(
            "UPDATE orders SET status=?, order_id=COALESCE(?, order_id), ret_code=?, ret_msg=?,"
            " http_status=?, latency_ms=COALESCE(?, latency_ms), updated_at_ms=? WHERE id=?",
            (status, order_id, ret_code, ret_msg, http_status, latency_ms, _now_ms(), row_id),
        )

    def get(self, row_id: int) -> LedgerRow:
        """One row by id (``KeyError`` if absent)."""
        found = self._execute(
            f"SELECT {', '.join(_COLUMNS)} FROM orders WHERE id=?", (row_id,)
        ).fetchone()
        if found is None:
            raise KeyError(row_id)
        return _row(found)

    def rows(self, *, status: str | None = None, limit: int | None = None) -> list[LedgerRow]:
        """Rows oldest first; ``limit`` keeps the newest ``limit`` of them."""
        sql = f"SELECT {', '.join(_COLUMNS)} FROM orders"
        params: tuple[Any, ...] = ()
        if status is not None:
            sql += " WHERE status=?"
            params = (status,)
        if limit is not None:
            sql = f"SELECT * FROM ({sql} ORDER BY id DESC LIMIT {int(limit)})"
        sql += " ORDER BY id"
        return [_row(r) for r in self._execute(sql, params).fetchall()]

    def count(self) -> int:
        """Number of rows."""
        return int(self._execute("SELECT COUNT(*) FROM orders").fetchone()[0])

    def to_frame(self, limit: int | None = None) -> pd.DataFrame:
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
