"""``make app``: the launcher's refusals and environment, and the desk's layering."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from support import REPO

from loan_widgets.desk.app import Refused, is_loopback, plan

KEYS = {"BYBIT_API_KEY": "K" * 18, "BYBIT_API_SECRET": "S" * 36, "PATH": "/usr/bin"}
NOTEBOOK = REPO / "notebooks" / "app.ipynb"


class TestPlan:
    """Loopback by default; keys on another interface only with an explicit opt-in."""

    @pytest.mark.parametrize(("host", "loopback"), [
        ("127.0.0.1", True), ("127.1.2.3", True), ("localhost", True), ("::1", True),
        ("[::1]", True), ("0.0.0.0", False), ("192.0.2.10", False), ("example.test", False),
    ])
    def test_is_loopback(self, host: str, loopback: bool) -> None:
        assert is_loopback(host) is loopback

    @pytest.mark.parametrize("network", ["testnet", "mainnet"])
    def test_keys_on_another_interface_are_refused(self, network: str) -> None:
        with pytest.raises(Refused, match="ALLOW_REMOTE=1"):
            plan("0.0.0.0", 8866, network, False, KEYS, NOTEBOOK)

    def test_opt_in_serves_with_keys(self) -> None:
        argv, env = plan("0.0.0.0", 8866, "testnet", True, KEYS, NOTEBOOK)
        assert "--Voila.ip=0.0.0.0" in argv and env["BYBIT_API_KEY"] == KEYS["BYBIT_API_KEY"]

    def test_loopback_keeps_the_keys_of_testnet(self) -> None:
        argv, env = plan("127.0.0.1", 9000, "testnet", False, KEYS, NOTEBOOK)
        assert argv[-3:] == ["--no-browser", "--port=9000", "--Voila.ip=127.0.0.1"]
        assert str(NOTEBOOK) in argv and env["LOAN_WIDGETS_NETWORK"] == "testnet"
        assert env["BYBIT_API_SECRET"] == KEYS["BYBIT_API_SECRET"]

    @pytest.mark.parametrize("host", ["127.0.0.1", "0.0.0.0"])
    def test_sandbox_drops_the_keys(self, host: str) -> None:
        _, env = plan(host, 8866, None, False, {**KEYS, "BYBIT_API_PRIVATE_KEY_FILE": "/k"},
                      NOTEBOOK)
        assert env["LOAN_WIDGETS_NETWORK"] == "sandbox"
        assert not {k for k in env if k.startswith("BYBIT_")}

    def test_network_from_the_environment(self) -> None:
        with pytest.raises(Refused):
            plan("0.0.0.0", 8866, None, False, {"LOAN_WIDGETS_NETWORK": "mainnet"}, NOTEBOOK)

    @pytest.mark.parametrize(("network", "port", "why"), [
        ("moon", 8866, "not one of"), ("sandbox", 0, "not a TCP port"),
    ])
    def test_bad_settings(self, network: str, port: int, why: str) -> None:
        with pytest.raises(Refused, match=why):
            plan("127.0.0.1", port, network, False, {}, NOTEBOOK)

    def test_the_command_line_refuses_in_one_line(self) -> None:
        """``make app HOST=0.0.0.0 NETWORK=mainnet`` stops with exit status 2, nothing served."""
        done = subprocess.run(
            [sys.executable, "-m", "loan_widgets.desk.app", "--host", "0.0.0.0",
             "--network", "mainnet", "--print"],
            capture_output=True, text=True, check=False, timeout=60,
        )
        assert done.returncode == 2 and done.stdout == ""
        assert len(done.stderr.strip().splitlines()) == 1 and "refusing" in done.stderr

    def test_make_app_serves_the_app_notebook(self) -> None:
        done = subprocess.run(["make", "-n", "app"], cwd=REPO, capture_output=True, text=True,
                              check=False, timeout=60)
        assert "loan_widgets.desk.app" in done.stdout and "notebooks/app.ipynb" in done.stdout


class TestLayering:
    """The desk's model and its UI-free parts import no UI library; the package stays cheap."""

    def test_ui_free_parts(self) -> None:
        code = (
            "import loan_widgets.portfolio, loan_widgets.desk.adapter, loan_widgets.desk.pacing\n"
            "import loan_widgets.desk.live, loan_widgets.desk.history, loan_widgets.desk.app\n"
            "import sys, json; print(json.dumps(sorted(sys.modules)))"
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True, timeout=60)
        loaded = {m.split(".")[0] for m in json.loads(out.stdout.strip().splitlines()[-1])}
        assert not loaded & {"IPython", "ipywidgets", "traitlets", "bqplot", "pandas", "numpy"}

    def test_loan_desk_is_lazy(self) -> None:
        code = (
            "import loan_widgets, sys\n"
            "assert 'bqplot' not in sys.modules and 'ipywidgets' not in sys.modules\n"
            "desk = loan_widgets.LoanDesk\n"
            "assert desk.__name__ == 'LoanDesk' and 'bqplot' in sys.modules\n"
        )
        subprocess.run([sys.executable, "-c", code], check=True, timeout=60)

    def test_app_notebook_places_no_order(self) -> None:
        """The app's code borrows nothing on load: no write call in its cells."""
        cells = json.loads(Path(NOTEBOOK).read_text(encoding="utf-8"))["cells"]
        source = "".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        for call in (".borrow(", ".repay(", ".adjust_collateral(", "flexible_repay(", ".click("):
            assert call not in source
