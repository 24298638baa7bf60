"""The newcomer's path, in fresh processes: no keys, the embedded sandbox, the ledger."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SESSION = """\
%load_ext loan_widgets
r = %borrow USDT 550 BTC
print("ORDER", r.order_id)
d = %borrow USDT 550 BTC --dry-run
print("DRY", d.body)
"""

READER = """\
from decimal import Decimal
import loan_widgets
df = loan_widgets.orders()
row = df.iloc[-1]
assert row["loan_amount"] == Decimal("550") and isinstance(row["loan_amount"], Decimal)
print("ROW", row["order_id"], row["status"], row["source"], row["network"], len(df))
"""


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BYBIT_", "LOAN_WIDGETS_"))}
    env["LOAN_WIDGETS_LEDGER"] = str(tmp_path / "ledger.sqlite3")
    env["IPYTHONDIR"] = str(tmp_path / "ipython")
    env["LOAN_WIDGETS_SANDBOX_HOME"] = str(tmp_path / "sandbox-home")  # the user's own sandbox
    env["LOAN_WIDGETS_SANDBOX_IDLE"] = "120"  # ends by itself if a test is interrupted
    return env


@pytest.fixture(autouse=True)
def _stop_user_sandbox(tmp_path: Path):
    """The fresh processes share a per-user sandbox process; it is stopped afterwards."""
    yield
    subprocess.run([sys.executable, "-m", "loan_widgets.sandbox", "stop", "--home",
                    str(tmp_path / "sandbox-home")], capture_output=True, timeout=60)


class TestFreshSession:
    """A fresh IPython with no keys borrows on the embedded sandbox; a new process sees it."""

    def test_borrow_then_read_in_new_process(self, tmp_path: Path) -> None:
        """%borrow gives a 19-digit id; another interpreter reads it back as accepted."""
        script = tmp_path / "session.ipy"
        script.write_text(SESSION)
        out = subprocess.run(
            [sys.executable, "-m", "IPython", "--no-banner", "--quick", str(script)],
            capture_output=True,
            text=True,
            env=_env(tmp_path),
            timeout=120,
            cwd=tmp_path,
        )
        assert out.returncode == 0, out.stderr
        lines = dict(line.split(" ", 1) for line in out.stdout.splitlines() if " " in line)
        order_id = lines["ORDER"]
        assert len(order_id) == 19 and order_id.isdigit()
        assert lines["DRY"] == (
            '{"loanCurrency":"USDT","loanAmount":"550","collateralCurrency":"BTC",'
            '"loanTerm":null,"collateralAmount":null}'
        )
        read = subprocess.run(
            [sys.executable, "-c", READER],
            capture_output=True,
            text=True,
            env=_env(tmp_path),
            timeout=120,
            cwd=tmp_path,
        )
        assert read.returncode == 0, read.stderr
        assert read.stdout.split() == ["ROW", order_id, "accepted", "magic", "sandbox", "1"]

    def test_standalone_sandbox_serves_other_clients(self, tmp_path: Path) -> None:
        """`python -m loan_widgets.sandbox` prints BASE_URL and our client borrows from it."""
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "loan_widgets.sandbox",
                "--port",
                "0",
                "--seed",
                "5",
                "--api-key",
                "STANDALONEKEY1",
                "--api-secret",
                "standalone-secret",
            ],
            stdout=subprocess.PIPE,
            text=True,
            env=_env(tmp_path),
        )
        try:
            assert proc.stdout is not None
            first = proc.stdout.readline().strip()
            assert first.startswith("BASE_URL=http://127.0.0.1:")
            from loan_widgets import Ledger, LoanClient

            with LoanClient(
                network="testnet",
                base_url=first.split("=", 1)[1],
                api_key="STANDALONEKEY1",
                api_secret="standalone-secret",
                ledger=Ledger(tmp_path / "l.sqlite3"),
            ) as client:
                assert len(client.borrow("USDT", "550", "BTC").order_id) == 19
        finally:
            proc.terminate()
            proc.wait(timeout=10)
