"""Test-side helpers shared by every test folder (importable as ``support``).

``tests/`` is on ``sys.path`` (``pythonpath`` in ``pyproject.toml``), so any test
can ``from support import ...``. Nothing here talks to an exchange by itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable
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
OTHER_KEY = "OTHERKEY0077"
"""A second account's API key (the ``other_server`` sandbox knows it)."""
OTHER_SECRET = "other-secret-5e1f9a"
"""The secret of :data:`OTHER_KEY`."""


def wait_until(predicate: Callable[[], object], timeout: float = 5.0) -> None:
    """Poll ``predicate`` (set by another thread or process) until it is true, up to a
    deadline: never a fixed sleep."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.005)


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


def signed_by(exchange: Any) -> set[str]:
    """The API keys of the signed requests the exchange accepted."""
    return {r.headers.get("x-bapi-api-key") for r in exchange.requests
            if r.headers.get("x-bapi-api-key") and r.ret_code == 0}


def store_profile(name: str, network: str, key: str, secret: str, **options: Any) -> Any:
    """A credentials profile stored without checking the key at an exchange (sends nothing)."""
    from loan_widgets import keys

    return keys.add(name, network=network, api_key=key, api_secret=secret, check=False,
                    **options)


def pem(key: Any, fmt: Any = None, encryption: Any = None) -> bytes:
    """A private key as PEM (PKCS#8, unencrypted unless told)."""
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(
        serialization.Encoding.PEM,
        fmt or serialization.PrivateFormat.PKCS8,
        encryption or serialization.NoEncryption(),
    )


MAINNET_HOSTS = (
    "api.bybit.com", "api.bytick.com", "api.bybit.nl", "api.bybit.tr", "api.bybit-tr.com",
    "api.bybit.kz", "api.bybitgeorgia.ge", "api.bybit.ae", "api.bybit.eu", "api.bybit.id",
    "api.manepa.jp", "api.byhkbit.com",
)
"""Every Bybit mainnet REST host of the API reference's hosts table (regional and former)."""
