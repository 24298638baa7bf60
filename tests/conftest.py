"""Shared fixtures: a real sandbox exchange on loopback, a private ledger, a real shell."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from support import OTHER_KEY, OTHER_SECRET, PLANTED_KEY, PLANTED_SECRET

from loan_widgets.client import LoanClient
from loan_widgets.ledger import Ledger
from loan_widgets.sandbox import DEMO_API_KEY, DEMO_API_SECRET, Sandbox, SandboxServer


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the user's keys, profiles, OS keyring, settings or ledger."""
    for name in (
        "BYBIT_API_KEY",
        "BYBIT_API_SECRET",
        "BYBIT_API_PRIVATE_KEY_FILE",
        *(f"BYBIT_{net}_API_{part}" for net in ("TESTNET", "MAINNET")
          for part in ("KEY", "SECRET", "PRIVATE_KEY_FILE")),
        "LOAN_WIDGETS_NETWORK",
        "LOAN_WIDGETS_BASE_URL",
        "LOAN_WIDGETS_TIMEOUT",
    ):
        monkeypatch.delenv(name, raising=False)
    # Loopback is reached directly even where a proxy is set (a proxy cannot reach this
    # machine's sandboxes); other hosts (pip's) still go through it.
    loopback = "localhost,127.0.0.1,::1"
    for name in ("no_proxy", "NO_PROXY"):
        if os.environ.get(name):
            monkeypatch.setenv(name, f"{loopback},{os.environ[name]}")
    if not os.environ.get("no_proxy"):
        monkeypatch.setenv("no_proxy", loopback)
    monkeypatch.setenv("LOAN_WIDGETS_LEDGER", str(tmp_path / "ledger.sqlite3"))
    # The user's own sandbox is never touched: a seeded in-process one serves
    # network="sandbox", and anything that asks for a per-user one gets a private folder.
    monkeypatch.setenv("LOAN_WIDGETS_SANDBOX_HOME", str(tmp_path / "sandbox-home"))
    if not os.environ.get("LOAN_WIDGETS_SANDBOX_SEED"):
        monkeypatch.setenv("LOAN_WIDGETS_SANDBOX_SEED", "0")
    monkeypatch.setenv("LOAN_WIDGETS_CONFIG_DIR", str(tmp_path / "config"))
    # keyring reads this when first used: a test that forgets `keyring_file` fails, never
    # touching the user's keyring (`keyring_file` puts this backend back afterwards).
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")


@pytest.fixture
def keyring_file(tmp_path: Path) -> Iterator[Any]:
    """A real keyring backend that needs no desktop: keyrings.alt's file, under tmp_path.

    Registered through keyring's own API; the failing backend is put back afterwards.
    """
    import keyring
    from keyring.backends import fail
    from keyrings.alt.file import PlaintextKeyring

    backend = PlaintextKeyring()
    backend.file_path = str(tmp_path / "keyring" / "keyring_pass.cfg")
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(fail.Keyring())


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    """The ledger file this test's orders go to."""
    return Ledger(tmp_path / "ledger.sqlite3")


@pytest.fixture
def exchange() -> Sandbox:
    """A fresh sandbox exchange (seed 0) knowing the demo key and a planted key."""
    sandbox = Sandbox(seed=0)
    sandbox.add_credentials(PLANTED_KEY, secret=PLANTED_SECRET)
    return sandbox


@pytest.fixture
def server(exchange: Sandbox) -> Iterator[SandboxServer]:
    """The exchange served over HTTP on 127.0.0.1."""
    with SandboxServer(exchange) as srv:
        yield srv


@pytest.fixture
def other_server() -> Iterator[SandboxServer]:
    """A second sandbox (seed 7) that knows only OTHER_KEY and the demo key."""
    sandbox = Sandbox(seed=7)
    sandbox.add_credentials(OTHER_KEY, secret=OTHER_SECRET)
    with SandboxServer(sandbox) as srv:
        yield srv


@pytest.fixture(scope="session")
def rsa_key() -> Any:
    """One 2048-bit RSA private key for the session."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def sandbox_client(server: SandboxServer, ledger: Ledger) -> Iterator[Callable[..., LoanClient]]:
    """Makes clients for the sandbox server with the demo key (2 s timeout unless given)."""
    made: list[LoanClient] = []

    def make(**settings: object) -> LoanClient:
        options: dict[str, object] = {"network": "sandbox", "timeout": 2.0, **settings}
        made.append(
            LoanClient(
                base_url=server.base_url,
                api_key=DEMO_API_KEY,
                api_secret=DEMO_API_SECRET,
                ledger=ledger,
                **options,  # type: ignore[arg-type]
            )
        )
        return made[-1]

    yield make
    for made_client in made:
        made_client.close()


@pytest.fixture
def client(sandbox_client: Callable[..., LoanClient]) -> LoanClient:
    """A client for the sandbox server with the demo key and a 2 s timeout."""
    return sandbox_client()


@pytest.fixture
def ip(server: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """A real IPython shell with the extension loaded, pointed at the test sandbox."""
    from IPython.testing.globalipapp import get_ipython

    shell = get_ipython()
    assert shell is not None
    monkeypatch.setenv("LOAN_WIDGETS_BASE_URL", server.base_url)
    shell.run_line_magic("load_ext", "loan_widgets")
    try:
        yield shell
    finally:
        shell.run_line_magic("unload_ext", "loan_widgets")
        shell.config.pop("BorrowMagics", None)


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Every loan_widgets log record at DEBUG."""
    caplog.set_level(logging.DEBUG, logger="loan_widgets")
    return caplog
