"""The core stays UI-free and `import loan_widgets` stays cheap."""

from __future__ import annotations

import json
import subprocess
import sys

UI = ("loan_widgets.magic", "loan_widgets.widget", "loan_widgets.desk", "loan_widgets.keys_magic")
"""The UI edge: the only modules that may import IPython, ipywidgets or traitlets."""


def _package_modules() -> list[str]:
    """Every module of the package, found on disk (so a new module is checked at once)."""
    import pkgutil

    import loan_widgets

    found = ["loan_widgets"]
    for info in pkgutil.walk_packages(loan_widgets.__path__, "loan_widgets."):
        if not info.name.endswith("__main__"):
            found.append(info.name)
    return sorted(found)


CORE = [m for m in _package_modules() if not m.startswith(UI)]


_MODULES: list[str] = []


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

    def test_no_import_cycles_in_the_core(self) -> None:
        """No module of the client side imports one that imports it back (any import counts)."""
        import ast
        from pathlib import Path

        import loan_widgets

        package = Path(loan_widgets.__file__).parent
        edges: dict[str, set[str]] = {}
        _MODULES.clear()
        for path in package.rglob("*.py"):
            name = ".".join(path.relative_to(package.parent).with_suffix("").parts)
            _MODULES.append(name.removesuffix(".__init__"))
        for path in package.rglob("*.py"):
            if "sandbox" in path.parts:
                continue
            name = ".".join(path.relative_to(package.parent).with_suffix("").parts)
            name = name.removesuffix(".__init__")
            base = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
            found = set()
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom) and node.level:
                    parts = base.split(".")[: len(base.split(".")) - node.level + 1]
                    target = ".".join(parts + ([node.module] if node.module else []))
                    subs = {f"{target}.{a.name}" for a in node.names}
                    found |= subs if subs <= set(_MODULES) else subs | {target}
            edges[name] = found
        for name, found in edges.items():  # `from . import x` means module x, not the package
            edges[name] = {t for t in found if t in edges}

        def reaches(start: str, goal: str, seen: set[str]) -> bool:
            for nxt in edges.get(start, ()):
                if nxt == goal:
                    return True
                if nxt in edges and nxt not in seen:
                    seen.add(nxt)
                    if reaches(nxt, goal, seen):
                        return True
            return False

        cyclic = sorted(m for m in edges if m != "loan_widgets" and reaches(m, m, set()))
        assert cyclic == []

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
