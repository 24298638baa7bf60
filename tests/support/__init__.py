"""Test-side helpers shared by every test folder (importable as ``support``).

``tests/`` is on ``sys.path`` (``pythonpath`` in ``pyproject.toml``), so any test
can ``from support import ...``. Nothing here talks to an exchange by itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

TESTS = Path(__file__).resolve().parents[1]
"""The ``tests/`` folder."""
REPO = TESTS.parent
"""The repository root."""
FIXTURES = TESTS / "fixtures"
"""Recorded data: signing vectors and the like."""
SCRIPTS = TESTS / "scripts"
"""Helper programs that tests run in their own processes."""

PLANTED_SECRET = "PLANTED-SECRET-7f3a9c1e5b2d4680"
"""A secret registered with the test sandboxes; secret scans look for it everywhere."""
PLANTED_KEY = "PLANTEDKEY0042"
"""The API key that goes with :data:`PLANTED_SECRET`."""


def posts(exchange: Any, path: str = "/v5/crypto-loan/borrow") -> list:
    """The POSTs to ``path`` the exchange received."""
    return [r for r in exchange.requests if r.method == "POST" and r.path == path]


def keyring_env(folder: Path) -> dict[str, str]:
    """Variables that give a child process (a kernel, the CLI) a file keyring and profiles
    under ``folder``, never the user's."""
    return {
        "PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring",
        "XDG_DATA_HOME": str(folder / "data"),  # where PlaintextKeyring keeps its file
        "LOAN_WIDGETS_CONFIG_DIR": str(folder / "config"),
    }
