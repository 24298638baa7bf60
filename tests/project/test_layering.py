"""The core stays UI-free and `import loan_widgets` stays cheap."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import loan_widgets

UI = ("loan_widgets.magic", "loan_widgets.widget", "loan_widgets.desk")
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


def _import_graph() -> dict[str, set[str]]:
    """Module -> the package modules it imports (relative or absolute, at any depth)."""
    package = Path(loan_widgets.__file__).parent
    files = {}
    for path in package.rglob("*.py"):
        name = ".".join(path.relative_to(package.parent).with_suffix("").parts)
        files[name.removesuffix(".__init__")] = path
    edges: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        base = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    parts = base.split(".")[: len(base.split(".")) - node.level + 1]
                    target = ".".join(parts + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                subs = [f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in files]
                # `from . import x` imports module x; `from .m import f` imports module m
                found = subs if subs and len(subs) == len(node.names) else [target, *subs]
            elif isinstance(node, ast.Import):
                found = [a.name for a in node.names]
            else:
                continue
            edges[name] |= {t for t in found if t in files and t != name}
    return edges


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return groups


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

    def test_no_import_cycles(self) -> None:
        """No module of the package (sandbox included) reaches itself through its imports,
        function-level imports counted."""
        edges = _import_graph()
        assert edges, "no modules found"
        assert _cycles(edges) == []

    def test_cycle_finder_finds_a_cycle(self) -> None:
        """The finder itself reports a planted two-module cycle (it can fail)."""
        edges = _import_graph()
        edges["loan_widgets.numbers"] = edges["loan_widgets.numbers"] | {"loan_widgets.client"}
        assert any("loan_widgets.numbers" in c for c in _cycles(edges))

    def test_no_module_over_600_lines(self) -> None:
        """Every module stays under 600 lines (past ~500 a module usually holds two jobs)."""
        package = Path(loan_widgets.__file__).parent
        sizes = {p.relative_to(package).as_posix(): len(p.read_text().splitlines())
                 for p in package.rglob("*.py")}
        assert len(sizes) > 50
        assert {name: n for name, n in sizes.items() if n > 600} == {}

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
