"""The ledger keeps every submission durably and shows it as a DataFrame."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path

import pytest

from loan_widgets.ledger import Ledger
from loan_widgets.orders import BorrowRequest


def _append(ledger: Ledger, amount: str = "550") -> int:
    request = BorrowRequest("USDT", "BTC", amount)
    return ledger.record_pending(
        network="sandbox", source="api", body=request.to_body(), loan_currency="USDT",
        loan_amount=request.loan_amount, collateral_currency="BTC", term=request.term,
    )


class TestStates:
    """Rows start pending and are settled with the outcome."""

    def test_pending_then_accepted(self, tmp_path: Path) -> None:
        """A row is pending until settled, then carries the order id."""
        ledger = Ledger(tmp_path / "l.sqlite3")
        row = _append(ledger)
        assert ledger.get(row).status == "pending"
        ledger.settle(row, "accepted", order_id="1794267532472646144", ret_code=0, latency_ms=1.5)
        got = ledger.get(row)
        assert (got.status, got.order_id, got.ret_code) == ("accepted", "1794267532472646144", 0)
        assert got.loan_amount == Decimal("550") and isinstance(got.loan_amount, Decimal)

    def test_rejected_keeps_code_and_message(self, tmp_path: Path) -> None:
        """Rejections keep Bybit's retCode and retMsg."""
        ledger = Ledger(tmp_path / "l.sqlite3")
        row = _append(ledger)
        ledger.settle(row, "rejected", ret_code=177009, ret_msg="below minimum")
        assert (ledger.get(row).ret_code, ledger.get(row).ret_msg) == (177009, "below minimum")

    def test_unknown_status_refused(self, tmp_path: Path) -> None:
        """Only the documented statuses can be written."""
        ledger = Ledger(tmp_path / "l.sqlite3")
        with pytest.raises(ValueError):
            ledger.settle(_append(ledger), "done")

    def test_body_is_the_exact_wire_body(self, tmp_path: Path) -> None:
        """The stored body is the JSON that was signed and sent."""
        ledger = Ledger(tmp_path / "l.sqlite3")
        row = _append(ledger, "550.10")
        assert ledger.get(row).body == BorrowRequest("USDT", "BTC", "550.10").to_body()


class TestFrame:
    """to_frame() gives exact, typed columns, newest last."""

    def test_columns_and_types(self, tmp_path: Path) -> None:
        """Times are tz-aware UTC, amounts Decimal, newest row last."""
        ledger = Ledger(tmp_path / "l.sqlite3")
        first = _append(ledger, "550")
        second = _append(ledger, "0.00000001")
        ledger.settle(first, "accepted", order_id="1", latency_ms=2.0)
        frame = ledger.to_frame()
        assert list(frame.index) == [first, second]
        assert str(frame["submitted_at"].dt.tz) == "UTC"
        assert frame["loan_amount"].tolist() == [Decimal("550"), Decimal("0.00000001")]
        assert all(isinstance(v, Decimal) for v in frame["loan_amount"])
        assert frame["status"].tolist() == ["accepted", "pending"]
        assert frame["collateral_amount"].isna().all()

    def test_empty_ledger_frame(self, tmp_path: Path) -> None:
        """An empty ledger still gives the full set of columns."""
        frame = Ledger(tmp_path / "l.sqlite3").to_frame()
        assert len(frame) == 0 and "order_id" in frame.columns

    def test_limit_keeps_newest(self, tmp_path: Path) -> None:
        """limit=N keeps the newest N rows, still oldest first."""
        ledger = Ledger(tmp_path / "l.sqlite3")
        ids = [_append(ledger, str(i + 1)) for i in range(5)]
        assert list(ledger.to_frame(limit=2).index) == ids[-2:]


_WRITER = textwrap.dedent(
    """
    import sys
    from loan_widgets.ledger import Ledger
    from loan_widgets.orders import BorrowRequest
    ledger = Ledger(sys.argv[1])
    for i in range(int(sys.argv[2])):
        request = BorrowRequest("USDT", "BTC", str(i + 1))
        row = ledger.record_pending(network="sandbox", source=sys.argv[3],
                                    body=request.to_body(), loan_amount=request.loan_amount)
        ledger.settle(row, "accepted", order_id=f"{sys.argv[3]}-{i}")
    """
)


class TestProcesses:
    """Other processes see the same rows and can append at the same time."""

    def test_new_process_sees_rows(self, tmp_path: Path) -> None:
        """A row written here is read back by a fresh interpreter."""
        path = tmp_path / "l.sqlite3"
        ledger = Ledger(path)
        row = _append(ledger)
        ledger.settle(row, "accepted", order_id="1794267532472646144")
        out = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; from loan_widgets.ledger import Ledger; "
                "r = Ledger(sys.argv[1]).rows()[-1]; print(r.order_id, r.loan_amount, r.status)",
                str(path),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        assert out.stdout.split() == ["1794267532472646144", "550", "accepted"]

    def test_two_processes_append_at_once(self, tmp_path: Path) -> None:
        """Two writers running together lose and duplicate nothing."""
        path = tmp_path / "l.sqlite3"
        Ledger(path).count()  # create the file first
        procs = [
            subprocess.Popen([sys.executable, "-c", _WRITER, str(path), "200", name])
            for name in ("a", "b")
        ]
        assert [p.wait(timeout=120) for p in procs] == [0, 0]
        rows = Ledger(path).rows()
        assert len(rows) == 400
        ids = [r.order_id for r in rows]
        assert len(set(ids)) == 400
        assert {r.status for r in rows} == {"accepted"}


_OLD_SCHEMA = """
CREATE TABLE orders (
    id INTEGER PRIMARY KEY AUTOINCREMENT, submitted_at_ms INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL, network TEXT NOT NULL, source TEXT NOT NULL,
    api TEXT NOT NULL, action TEXT NOT NULL, loan_currency TEXT, loan_amount TEXT,
    collateral_currency TEXT, collateral_amount TEXT, term TEXT, status TEXT NOT NULL,
    order_id TEXT, ret_code INTEGER, ret_msg TEXT, http_status INTEGER, latency_ms REAL,
    body TEXT NOT NULL
);
"""


class TestMigration:
    """Ledgers written by older versions open with one meaning per column, nothing lost."""

    def _old(self, path: Path) -> None:
        import sqlite3

        conn = sqlite3.connect(path)
        conn.executescript(_OLD_SCHEMA)
        rows = [
            ("testnet", "legacy", "borrow", "USDT", "550", None, "accepted", "111"),
            ("testnet", "legacy", "borrow", "USDT", "550", None, "accepted", "111"),  # repeated
            ("testnet", "legacy", "adjust", None, None, "add", "accepted", "222"),
            ("mainnet", "new", "repay", "USDT", "10", None, "unknown", None),
        ]
        for network, api, action, coin, amount, term, status, order_id in rows:
            conn.execute(
                "INSERT INTO orders (submitted_at_ms, updated_at_ms, network, source, api, "
                "action, loan_currency, loan_amount, term, status, order_id, body) "
                "VALUES (1, 1, ?, 'api', ?, ?, ?, ?, ?, ?, ?, '{}')",
                (network, api, action, coin, amount, term, status, order_id),
            )
        conn.commit()
        conn.execute("ALTER TABLE orders ADD COLUMN ref_id TEXT")
        conn.execute("UPDATE orders SET ref_id = 'USDT' WHERE action = 'repay'")
        conn.commit()
        conn.close()

    def test_columns_mean_one_thing(self, tmp_path: Path) -> None:
        """direction from term, coin from ref_id, host from the network; duplicates kept."""
        path = tmp_path / "old.sqlite3"
        self._old(path)
        ledger = Ledger(path)
        borrow, repeated, adjust, repay = ledger.rows()
        assert (adjust.direction, adjust.term) == ("add", None)
        assert (repay.coin, repay.ref_id, repay.host) == ("USDT", None, "https://api.bybit.com")
        assert borrow.host == "https://api-testnet.bybit.com"
        assert (repeated.order_id, ledger.tracking(repeated.id).duplicate_of) == ("111", 1)
        assert ledger.tracking(repay.id).fingerprint is not None

    def test_unique_order_ids_after_migration(self, tmp_path: Path) -> None:
        """A migrated ledger refuses a new row repeating an order id of its host."""
        import sqlite3

        path = tmp_path / "old.sqlite3"
        self._old(path)
        ledger = Ledger(path)
        row = ledger.record_pending(network="testnet", source="api", body="{}",
                                    host="https://api-testnet.bybit.com")
        conn = sqlite3.connect(path)
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute("UPDATE orders SET order_id = '111' WHERE id = ?", (row,))
        conn.close()
        assert int(sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0]) == 1


class TestDuplicateGuard:
    """An identical order is refused while an earlier one is pending or unknown."""

    def test_refused_in_one_statement(self, tmp_path: Path) -> None:
        """The check and the insert are one statement; another host is another order."""
        from loan_widgets import DuplicateOrderError

        ledger = Ledger(tmp_path / "l.sqlite3")
        fields = {"network": "sandbox", "source": "api", "body": "{}", "loan_currency": "USDT",
                  "loan_amount": Decimal("550"), "collateral_currency": "BTC", "host": "h"}
        first = ledger.record_pending(**fields, refuse_unsettled_twin=True)
        with pytest.raises(DuplicateOrderError) as info:
            ledger.record_pending(**{**fields, "loan_amount": Decimal("550.00")},
                                  refuse_unsettled_twin=True)
        assert info.value.ledger_ids == (first,) and ledger.count() == 1
        ledger.record_pending(**{**fields, "host": "other"}, refuse_unsettled_twin=True)
        ledger.settle(first, "accepted", order_id="1")
        ledger.record_pending(**fields, refuse_unsettled_twin=True)
        assert ledger.count() == 3
