"""Outcomes the ledger could not take, kept in a small file until it can.

When the exchange has answered but the ledger cannot be written (another
program holds a write transaction, the disk is full), the outcome (row,
status, order id, ...) is appended as one JSON line to ``<ledger>.unsaved.jsonl``
beside the ledger file, created private to the user (0600). The ledger merges
the file the next time it opens, so no order id is lost.

Appending and merging take an exclusive ``flock`` on the file where the
platform has one; a merge removes the file only after every line is in the
ledger, and an appender that finds its file removed under it writes again to
a new one.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

if sys.platform != "win32":  # Windows has no advisory locks
    import fcntl

__all__ = ["append", "journal_path", "merge"]


def journal_path(ledger_path: Path) -> Path:
    """``ledger.sqlite3`` -> ``ledger.sqlite3.unsaved.jsonl`` (same folder)."""
    return ledger_path.with_name(ledger_path.name + ".unsaved.jsonl")


def _lock(fd: int) -> None:
    if sys.platform != "win32":
        fcntl.flock(fd, fcntl.LOCK_EX)


def append(path: Path, outcome: dict[str, Any]) -> None:
    """Append one outcome durably (fsync'd); raises ``OSError`` if even that fails."""
    line = (json.dumps(outcome, sort_keys=True, default=str) + "\n").encode("utf-8")
    for _ in range(10):
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            _lock(fd)
            try:
                same = os.fstat(fd).st_ino == os.stat(path).st_ino
            except FileNotFoundError:
                same = False
            if not same:  # merged and removed while we waited: write to a new file
                continue
            os.write(fd, line)
            os.fsync(fd)
            return
        finally:
            os.close(fd)
    raise OSError(f"could not append to {path}")


def merge(path: Path, apply: Callable[[dict[str, Any]], None]) -> int:
    """Apply every outcome in the file (oldest first), then remove it; the count applied.

    If ``apply`` fails the file is kept whole for the next try.
    """
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return 0
    try:
        _lock(fd)
        with os.fdopen(os.dup(fd), "rb") as stream:
            lines = stream.read().splitlines()
        outcomes = []
        for raw in lines:
            try:
                outcomes.append(json.loads(raw))
            except ValueError:
                continue  # a line cut short by a crash: nothing usable in it
        for outcome in outcomes:
            apply(outcome)
        os.unlink(path)
        return len(outcomes)
    finally:
        os.close(fd)
