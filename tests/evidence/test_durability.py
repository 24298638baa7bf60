"""A process killed in the middle of ledger writes loses nothing it reported as written.

``tests/scripts/ledger_writer.py`` appends and settles rows in a tight loop, printing each
row id (flushed) only after the write returned. It is SIGKILLed at different moments: before
its first row, after a few rows, and after enough rows for SQLite to checkpoint its WAL.
Afterwards the file passes ``PRAGMA integrity_check``, every reported row is there with the
reported status, and the ledger takes new rows.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest
from support import SCRIPTS

from loan_widgets.ledger import Ledger

WRITER = SCRIPTS / "ledger_writer.py"


def run_and_kill(path: Path, after_lines: int, delay: float = 0.0) -> list[tuple[str, int]]:
    """Start the writer, SIGKILL it after it reported ``after_lines`` lines (+ ``delay`` s).

    Returns every line it reported, including those still in the pipe when it died.
    """
    proc = subprocess.Popen(
        [sys.executable, str(WRITER), str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    lines: list[str] = []
    try:
        while len(lines) < after_lines:
            line = proc.stdout.readline()
            assert line, f"the writer died by itself: {proc.stderr.read()}"
            lines.append(line)
        if delay:
            time.sleep(delay)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    lines += proc.stdout.read().splitlines()
    proc.stdout.close()
    proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    return [(word, int(number)) for word, number in (line.split() for line in lines)]


def integrity(path: Path) -> str:
    """``PRAGMA integrity_check`` of the file, opened fresh (WAL recovery included)."""
    conn = sqlite3.connect(path)
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()


MOMENTS = [
    pytest.param(0, 0.0, False, id="before-the-first-row"),
    pytest.param(0, 0.15, False, id="while-starting"),
    pytest.param(1, 0.0, False, id="after-the-first-pending"),
    pytest.param(7, 0.0, False, id="mid-row"),
    pytest.param(50, 0.0, False, id="after-25-rows"),
    pytest.param(300, 0.002, False, id="after-150-rows"),
    pytest.param(3000, 0.0, True, id="past-a-wal-checkpoint"),
]
"""(lines reported before the kill, extra delay in s, whether the WAL was checkpointed)."""


class TestKilledWriter:
    """SIGKILL during a tight loop of commits: the file is sound and holds every reported row."""

    @pytest.mark.parametrize(("after_lines", "delay", "checkpointed"), MOMENTS)
    def test_killed_mid_write(
        self, tmp_path: Path, after_lines: int, delay: float, checkpointed: bool
    ) -> None:
        """Every row reported pending or settled is there, as reported; the file is intact."""
        path = tmp_path / "ledger.sqlite3"
        reported = run_and_kill(path, after_lines, delay)
        assert len(reported) >= after_lines
        if not path.exists():  # killed before the file was created: nothing was reported
            assert reported == []
            return
        if checkpointed:  # rows had reached the main file, not only the -wal, before the kill
            assert path.stat().st_size > 16 * 4096
        assert integrity(path) == "ok"
        rows = {row.id: row for row in Ledger(path).rows()}
        for word, row_id in reported:
            assert row_id in rows, f"reported row {row_id} is missing"
            if word == "settled":
                assert (rows[row_id].status, rows[row_id].order_id) == ("accepted", f"9{row_id}")
            else:
                assert rows[row_id].status in ("pending", "accepted")
        assert sorted(rows) == list(range(1, len(rows) + 1))  # no gaps, no duplicates
        for row in rows.values():  # a row is either still pending or fully settled
            assert (row.status, row.order_id) in (("pending", None), ("accepted", f"9{row.id}"))
            assert row.loan_amount == Decimal(row.id)

    def test_ledger_takes_new_rows_after_a_kill(self, tmp_path: Path) -> None:
        """After a kill, another writer appends after the last committed row."""
        path = tmp_path / "ledger.sqlite3"
        first = run_and_kill(path, 40)
        second = run_and_kill(path, 40)
        last_before = max(row_id for _, row_id in first)
        assert min(row_id for _, row_id in second) > last_before
        assert integrity(path) == "ok"
        ledger = Ledger(path)
        new = ledger.record_pending(network="sandbox", source="api", body="{}")
        assert new == ledger.count() and ledger.get(new).status == "pending"
        assert integrity(path) == "ok"

    def test_killed_writer_beside_a_live_one(self, tmp_path: Path) -> None:
        """A writer killed mid-loop does not disturb a reader in this process."""
        path = tmp_path / "ledger.sqlite3"
        ledger = Ledger(path)
        mine = ledger.record_pending(network="sandbox", source="api", body="{}")
        reported = run_and_kill(path, 200, 0.001)
        ledger.settle(mine, "failed", ret_msg="killed beside")
        assert ledger.get(mine).status == "failed"
        ids = {row.id for row in ledger.rows()}
        assert {row_id for _, row_id in reported} <= ids
        assert integrity(path) == "ok"
