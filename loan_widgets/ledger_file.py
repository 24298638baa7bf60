"""The ledger's file: where it is, how it is created and opened, its schema and migrations.

The file is ``$LOAN_WIDGETS_LEDGER`` or ``ledger.sqlite3`` in the user data
directory. A new one is created private to the user (0600, new folders 0700);
a path that cannot hold a ledger (a folder, a device, a text file, a corrupt
database) is a one-line :class:`~loan_widgets.errors.LedgerError`.

Version 1 (``PRAGMA user_version = 1``) gives every column one meaning:

``host``          where the order was sent (``https://api.bybit.com``, ``sandbox:<id>``)
``direction``     ``add`` / ``reduce`` for collateral adjustments (was kept in ``term``)
``coin``          the coin a by-coin action acts on (new-API repayments; was in ``ref_id``)
``ref_id``        the loan a repayment or adjustment acted on: an id, never a coin
``fingerprint``   the order's identity for the duplicate guard (host excluded)
``writer``        the process that sent it: host name, pid, start time, boot id
``deadline_ms``   when its answer is due at the latest (local clock)
``evidence_id``   the open loans known shortly before it was sent (``evidence`` table)
``settled_by``    ``answer``, ``reconcile`` or ``journal``
``duplicate_of``  set on old rows that repeat an earlier row's order id (kept readable)

and a unique index: no two rows share an order id for the same host and action
(old duplicates are marked ``duplicate_of`` and stay as they were).
"""

from __future__ import annotations

import functools
import os
import sqlite3
import time
from decimal import Decimal, InvalidOperation
from pathlib import Path

from .errors import LedgerError

__all__ = [
    "COLUMNS",
    "SCHEMA_VERSION",
    "default_path",
    "fingerprint",
    "migrate",
    "open_ledger",
    "unusable",
]

SETUP_TIMEOUT_S = 30.0

SCHEMA_VERSION = 1

_ORDERS = """
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
    body                TEXT NOT NULL,
    host                TEXT,
    direction           TEXT,
    coin                TEXT,
    fingerprint         TEXT,
    writer              TEXT,
    deadline_ms         INTEGER,
    evidence_id         INTEGER,
    settled_by          TEXT,
    duplicate_of        INTEGER
)
"""

_EVIDENCE = """
CREATE TABLE IF NOT EXISTS evidence (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    host         TEXT NOT NULL,
    taken_at_ms  INTEGER NOT NULL,
    order_ids    TEXT NOT NULL
)
"""

_INDEXES = (
    "CREATE UNIQUE INDEX IF NOT EXISTS orders_one_row_per_order ON orders(host, action, "
    "order_id) WHERE order_id IS NOT NULL AND duplicate_of IS NULL",
    "CREATE INDEX IF NOT EXISTS orders_unsettled ON orders(host, fingerprint) "
    "WHERE status IN ('pending', 'unknown')",
)

COLUMNS = (
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
    "host",
    "direction",
    "coin",
    "fingerprint",
    "writer",
    "deadline_ms",
    "evidence_id",
    "settled_by",
    "duplicate_of",
)

_ADDED = {  # columns added since the first released schema, with their types
    "ref_id": "TEXT",
    "host": "TEXT",
    "direction": "TEXT",
    "coin": "TEXT",
    "fingerprint": "TEXT",
    "writer": "TEXT",
    "deadline_ms": "INTEGER",
    "evidence_id": "INTEGER",
    "settled_by": "TEXT",
    "duplicate_of": "INTEGER",
}

_OLD_HOSTS = {"mainnet": "https://api.bybit.com", "testnet": "https://api-testnet.bybit.com"}


def _amount(text: object) -> str:
    if text is None or text == "":
        return ""
    try:
        return format(Decimal(str(text)).normalize(), "f")
    except InvalidOperation:
        return str(text)


@functools.lru_cache(maxsize=1024)  # a pure function of text and Decimal: every borrow asks it
def fingerprint(
    action: str,
    loan_currency: str | None = None,
    loan_amount: object = None,
    collateral_currency: str | None = None,
    collateral_amount: object = None,
    term: str | None = None,
    ref_id: str | None = None,
    direction: str | None = None,
    coin: str | None = None,
) -> str:
    """What makes two writes the same order: action, coins, amounts (``550`` = ``550.0``),
    term, loan and direction. The loan API is left out on purpose: a legacy and a new
    borrow of the same coins and amounts are both a second loan."""
    parts = (
        action,
        loan_currency or "",
        _amount(loan_amount),
        collateral_currency or "",
        _amount(collateral_amount),
        (term or "flexible") if action == "borrow" else (term or ""),
        ref_id or "",
        direction or "",
        coin or "",
    )
    return "|".join(parts)


def migrate(conn: sqlite3.Connection) -> None:
    """Create or upgrade the schema, in one immediate transaction (safe with other processes)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if version >= SCHEMA_VERSION:
            conn.execute("COMMIT")
            return
        conn.execute(_ORDERS)
        conn.execute(_EVIDENCE)
        known = {row[1] for row in conn.execute("PRAGMA table_info(orders)")}
        for name, kind in _ADDED.items():
            if name not in known:
                conn.execute(f"ALTER TABLE orders ADD COLUMN {name} {kind}")
        _upgrade_rows(conn)
        for statement in _INDEXES:
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _upgrade_rows(conn: sqlite3.Connection) -> None:
    """Give old rows' columns their one meaning; keep every value readable."""
    conn.execute(
        "UPDATE orders SET direction = term, term = NULL "
        "WHERE action = 'adjust' AND term IN ('add', 'reduce') AND direction IS NULL"
    )
    conn.execute(
        "UPDATE orders SET coin = ref_id, ref_id = NULL "
        "WHERE ref_id IS NOT NULL AND ref_id != '' AND ref_id GLOB '*[^0-9]*'"
    )
    conn.execute(
        "UPDATE orders SET host = CASE network WHEN 'mainnet' THEN ? WHEN 'testnet' THEN ? "
        "ELSE 'sandbox:unrecorded' END WHERE host IS NULL",
        (_OLD_HOSTS["mainnet"], _OLD_HOSTS["testnet"]),
    )
    conn.execute(
        "UPDATE orders SET duplicate_of = (SELECT MIN(o.id) FROM orders o WHERE o.host = "
        "orders.host AND o.action = orders.action AND o.order_id = orders.order_id) "
        "WHERE order_id IS NOT NULL AND duplicate_of IS NULL AND id > (SELECT MIN(o.id) FROM "
        "orders o WHERE o.host = orders.host AND o.action = orders.action "
        "AND o.order_id = orders.order_id)"
    )
    unsettled = conn.execute(
        "SELECT id, action, loan_currency, loan_amount, collateral_currency, collateral_amount,"
        " term, ref_id, direction, coin FROM orders WHERE status IN ('pending', 'unknown')"
    ).fetchall()
    for row_id, *fields in unsettled:
        conn.execute(
            "UPDATE orders SET fingerprint = ? WHERE id = ?", (fingerprint(*fields), row_id)
        )


def default_path() -> Path:
    """``$LOAN_WIDGETS_LEDGER``, else ``ledger.sqlite3`` in the user data directory."""
    configured = os.environ.get("LOAN_WIDGETS_LEDGER", "").strip()
    if configured:
        return Path(configured).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("loan_widgets", appauthor=False)) / "ledger.sqlite3"


def _prepare(path: Path) -> None:
    """Refuse a path that cannot hold a ledger; create a new one private to the user."""
    if path.exists() or path.is_symlink():
        if path.is_dir():
            raise LedgerError(f"the ledger path {path} is a folder, not a file")
        if not path.is_file():
            raise LedgerError(f"the ledger path {path} is not a regular file")
        return
    missing = []
    parent = path.parent
    while not parent.exists():
        missing.append(parent)
        parent = parent.parent
    if not parent.is_dir():
        raise LedgerError(f"the ledger path {path} is inside {parent}, which is not a folder")
    try:
        for folder in reversed(missing):
            folder.mkdir(mode=0o700, exist_ok=True)
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        os.close(fd)
    except FileExistsError:
        pass
    except OSError as error:
        raise LedgerError(f"the ledger {path} cannot be created ({error.strerror})") from None


def _reason(error: BaseException) -> str:
    return " ".join(str(error).split())[:120] or type(error).__name__


def open_ledger(path: Path, timeout: float) -> sqlite3.Connection:
    """A connection to a checked, migrated ledger file, or a one-line ``LedgerError``."""
    _prepare(path)
    try:
        conn = sqlite3.connect(path, timeout=timeout, isolation_level=None,
                               check_same_thread=False)
    except sqlite3.Error as error:
        raise unusable(path, timeout, error) from None
    try:
        _setup(conn, timeout)
    except sqlite3.Error as error:
        conn.close()
        raise unusable(path, timeout, error) from None
    except BaseException:
        conn.close()
        raise
    return conn


def _setup(conn: sqlite3.Connection, timeout: float) -> None:
    """WAL mode and the schema, retried while another process creates the same file.

    Switching a new file to WAL can fail at once with "database is locked"
    while another connection writes it (SQLite does not wait there, to avoid
    a deadlock), so the setup backs off and tries again, up to 30 s.
    """
    deadline = time.monotonic() + max(SETUP_TIMEOUT_S, timeout)
    delay = 0.005
    while True:
        try:
            conn.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            migrate(conn)
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.2)


def unusable(path: Path, timeout: float, error: BaseException) -> LedgerError:
    """The one-line error for a ledger SQLite refused to open or write."""
    text = " ".join(str(error).split())[:120] or type(error).__name__
    if "locked" in text:
        return LedgerError(
            f"the ledger {path} is locked by another program (waited {timeout:g} s): "
            "close it, then try again; nothing was sent"
        )
    return LedgerError(
        f"the ledger {path} cannot be used ({text}): set LOAN_WIDGETS_LEDGER to a writable "
        "file; nothing was sent"
    )
