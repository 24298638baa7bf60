"""One sandbox per user that remembers: shared by processes, kept across restarts.

Every process here runs with ``LOAN_WIDGETS_SANDBOX_HOME`` in a temporary folder and no
``LOAN_WIDGETS_SANDBOX_SEED``, as a user's kernels do; the sandbox process they start
is stopped when each test ends (and would end by itself after 120 s without requests).
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from loan_widgets.sandbox import SandboxServer, default_server
from loan_widgets.sandbox.admin import AdminError
from loan_widgets.sandbox.home import UserSandbox

BORROWER = """\
import sys
import loan_widgets
from loan_widgets.sandbox import default_server
order = loan_widgets.LoanClient().borrow("USDT", sys.argv[1], "BTC")
print("ORDER", order.order_id, default_server().identity)
"""

READER = """\
import loan_widgets
from loan_widgets.sandbox import default_server
loans = sorted(o["orderId"] for o in loan_widgets.LoanClient().ongoing_orders())
print("LOANS", ",".join(loans), default_server().identity)
"""


def _env(home: Path, ledger: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BYBIT_", "LOAN_WIDGETS_"))}
    env.update(LOAN_WIDGETS_SANDBOX_HOME=str(home), LOAN_WIDGETS_SANDBOX_IDLE="120",
               LOAN_WIDGETS_LEDGER=str(ledger), LOAN_WIDGETS_NETWORK="sandbox")
    return env


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "loan_widgets.sandbox", *args, "--home",
                           str(home)], capture_output=True, text=True, timeout=60)


def _run(code: str, env: dict[str, str], *args: str) -> list[str]:
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                         env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


@pytest.fixture
def home(tmp_path: Path):
    folder = tmp_path / "sandbox-home"
    yield folder
    _cli(folder, "stop")


@pytest.mark.slow
class TestSharedByProcesses:
    """Kernels and processes of one user share one exchange (each test starts several
    Python processes: seconds each)."""

    def test_three_borrowers_and_a_reader(self, home: Path, tmp_path: Path) -> None:
        """Three processes started at once get three distinct order ids on one exchange;
        a fourth sees all three loans. (Their amounts differ: one ledger refuses an order
        identical to one still in flight.)"""
        env = _env(home, tmp_path / "ledger.sqlite3")
        procs = [subprocess.Popen([sys.executable, "-c", BORROWER, amount],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  env=env)
                 for amount in ("550", "551", "552")]
        outputs = [proc.communicate(timeout=120) for proc in procs]
        assert all(proc.returncode == 0 for proc in procs), [err for _, err in outputs]
        words = [out.split() for out, _ in outputs]
        ids = {w[1] for w in words}
        identities = {w[2] for w in words}
        assert len(ids) == 3 and all(len(i) == 19 for i in ids)
        assert len(identities) == 1
        _, loans, identity = _run(READER, env)
        assert set(loans.split(",")) == ids and {identity} == identities
        (info,) = [json.loads((home / "server.json").read_text())]
        assert info["identity"] == identity and info["base_url"].startswith("http://127.0.0.1:")

    def test_state_survives_stop_and_start(self, home: Path, tmp_path: Path) -> None:
        """Stopped, the sandbox keeps its loans and identity on disk; the next process
        starts it again with both; a reset starts a new history."""
        env = _env(home, tmp_path / "ledger.sqlite3")
        _, order_id, identity = _run(BORROWER, env, "550")
        assert _cli(home, "stop").stdout.strip() == "stopped"
        status = _cli(home, "status")
        assert status.returncode == 3
        saved = json.loads(status.stdout)
        assert (saved["running"], saved["legacy_open"], saved["identity"]) == (
            False, 1, identity)
        assert _run(READER, env)[1:] == [order_id, identity]
        live = _cli(home, "status")
        assert live.returncode == 0 and json.loads(live.stdout)["running"] is True
        assert _cli(home, "reset").stdout.strip() == "reset"
        words = _run(READER, env)
        assert len(words) == 2 and words[1] != identity  # no loans, a new identity
        _, new_order, _ = _run(BORROWER, env, "550")
        assert new_order != order_id

    def test_files_are_private(self, home: Path, tmp_path: Path) -> None:
        """The folder is 0700; the state, server and log files 0600."""
        _run(BORROWER, _env(home, tmp_path / "ledger.sqlite3"), "550")
        assert stat.S_IMODE(home.stat().st_mode) == 0o700
        for name in ("state.pickle", "server.json", "server.log"):
            assert stat.S_IMODE((home / name).stat().st_mode) == 0o600, name

    def test_one_server_per_folder(self, home: Path, tmp_path: Path) -> None:
        """A second serve-user for the same folder exits at once with status 1."""
        _run(BORROWER, _env(home, tmp_path / "ledger.sqlite3"), "550")
        second = _cli(home, "serve-user")
        assert second.returncode == 1 and "already serves" in second.stderr


class TestKnobs:
    """default_server().sandbox works the same in-process and in the user's process."""

    def test_remote_knobs(self, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """set_price, set_balance, advance, status and reset through the admin route."""
        monkeypatch.setenv("LOAN_WIDGETS_SANDBOX_IDLE", "120")
        user = UserSandbox.connect(home)
        knobs = user.sandbox
        knobs.set_price("BTC", "60000")
        knobs.set_balance("USDT", Decimal("123.45"))
        knobs.advance(3_600_000)
        assert knobs.prices["BTC"] == Decimal("60000")
        assert knobs.wallet["USDT"] == Decimal("123.45")
        status = knobs.status()
        assert status["offset_ms"] == 3_600_000 and status["identity"] == user.identity
        with pytest.raises(TypeError):
            knobs.set_price("BTC", 60000.5)  # type: ignore[arg-type]
        with pytest.raises(AdminError):
            knobs.set_price("BTC", "-1")
        knobs.reset()
        assert knobs.prices["BTC"] == Decimal("65000") and knobs.status()["offset_ms"] == 0

    def test_admin_route_wants_the_token(self, home: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
        """A wrong token is refused; a server without a token has no admin route."""
        monkeypatch.setenv("LOAN_WIDGETS_SANDBOX_IDLE", "120")
        user = UserSandbox.connect(home)
        from loan_widgets.sandbox.admin import RemoteSandbox

        with pytest.raises(AdminError):
            RemoteSandbox(user.base_url, "not-the-token").status()
        with SandboxServer() as plain, pytest.raises(AdminError):
            RemoteSandbox(plain.base_url, "any").status()

    def test_seeded_default_is_in_process(self) -> None:
        """With LOAN_WIDGETS_SANDBOX_SEED set (as here) the default is a private, seeded
        in-process sandbox with the same knobs."""
        server = default_server()
        assert isinstance(server, SandboxServer) and server.sandbox.seed == 0
        assert server.identity == server.sandbox.status()["identity"]
        before = server.identity
        server.sandbox.set_price("ETH", "2400")
        server.sandbox.reset()
        assert server.sandbox.prices["ETH"] == Decimal("2500") and server.identity != before
