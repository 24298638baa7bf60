"""The core stays UI-free and `import loan_widgets` stays cheap."""

from __future__ import annotations

import json
import subprocess
import sys

CORE = [
    "loan_widgets",
    "loan_widgets.errors",
    "loan_widgets.config",
    "loan_widgets.orders",
    "loan_widgets.endpoints",
    "loan_widgets.signing",
    "loan_widgets.transport",
    "loan_widgets.client",
    "loan_widgets.ledger",
    "loan_widgets.frames",
    "loan_widgets.quote",
    "loan_widgets.marketdata",
    "loan_widgets.reconcile",
    "loan_widgets.sandbox",
]


def _loaded_after(code: str) -> set[str]:
    probe = code + "\nimport sys, json; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return {m.split(".")[0] for m in json.loads(out.stdout.strip().splitlines()[-1])}


class TestLayering:
    """Import checks run in a fresh interpreter each."""

    def test_import_is_cheap(self) -> None:
        """`import loan_widgets` loads none of IPython, ipywidgets, pandas, requests, urllib3."""
        loaded = _loaded_after("import loan_widgets")
        assert not loaded & {"IPython", "ipywidgets", "pandas", "requests", "urllib3", "traitlets"}

    def test_core_never_imports_ui(self) -> None:
        """Importing every core module (and starting the sandbox) pulls in no UI library."""
        code = "\n".join(f"import {m}" for m in CORE)
        code += "\nfrom loan_widgets.sandbox import default_server; default_server()"
        loaded = _loaded_after(code)
        assert not loaded & {"IPython", "ipywidgets", "traitlets", "ipykernel"}

    def test_core_borrow_path_never_imports_ui(self) -> None:
        """A full borrow on the sandbox, ledger frame included, imports no UI library."""
        code = (
            "import os, tempfile\n"
            "os.environ['LOAN_WIDGETS_LEDGER'] = os.path.join(tempfile.mkdtemp(), 'l.sqlite3')\n"
            "import loan_widgets\n"
            "r = loan_widgets.LoanClient().borrow('USDT', '550', 'BTC')\n"
            "assert len(r.order_id) == 19\n"
            "loan_widgets.orders()\n"
        )
        loaded = _loaded_after(code)
        assert not loaded & {"IPython", "ipywidgets", "traitlets", "ipykernel", "requests"}

    def test_load_ext_stays_lazy(self) -> None:
        """`%load_ext loan_widgets` imports neither pandas, ipywidgets nor requests."""
        code = (
            "from IPython.testing.globalipapp import start_ipython\n"
            "ip = start_ipython()\n"
            "ip.run_line_magic('load_ext', 'loan_widgets')\n"
            "assert 'borrow' in ip.magics_manager.magics['line']\n"
        )
        loaded = _loaded_after(code)
        assert not loaded & {"pandas", "ipywidgets", "requests"}
