"""Re-execute the example notebooks in place, the way ``make test`` validates them.

Usage (from the repository root)::

    .venv/bin/python notebooks/execute.py                 # every notebook git knows here
    .venv/bin/python notebooks/execute.py notebooks/widget.ipynb

Each run gets the environment ``make test`` gives nbval: no ``BYBIT_API_*`` credentials, no
``LOAN_WIDGETS_BASE_URL``/``LOAN_WIDGETS_TIMEOUT``, ``LOAN_WIDGETS_NETWORK=sandbox``,
``LOAN_WIDGETS_SANDBOX_SEED=0`` and a fresh ``LOAN_WIDGETS_LEDGER`` (one new file for the run,
shared by the notebooks in name order, as nbval runs them). Kernels run this interpreter.

What is saved: the outputs, without widget state (``store_widget_state=False``), without
per-cell timing metadata. A cell whose metadata has ``{"loan_widgets": {"save_png": PATH}}``
also has its PNG output written to ``notebooks/PATH`` (the README's images).

Then check the result::

    .venv/bin/python -m pytest tests/test_notebooks.py
    make test        # nbval compares a fresh run with the saved outputs
"""

from __future__ import annotations

import argparse
import base64
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent

#: Dropped from the kernels' environment, as the Makefile's TEST_ENV does.
DROPPED = (
    "BYBIT_API_KEY",
    "BYBIT_API_SECRET",
    "BYBIT_API_PRIVATE_KEY_FILE",
    "LOAN_WIDGETS_BASE_URL",
    "LOAN_WIDGETS_TIMEOUT",
)


def kernel_env(ledger: Path, seed: str = "0") -> dict[str, str]:
    """The environment of ``make test``'s nbval run, for a kernel of this interpreter."""
    env = {k: v for k, v in os.environ.items() if k not in DROPPED}
    env.update(
        LOAN_WIDGETS_NETWORK="sandbox",
        LOAN_WIDGETS_SANDBOX_SEED=seed,
        LOAN_WIDGETS_LEDGER=str(ledger),
        PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
    )
    return env


def clean(nb: nbformat.NotebookNode) -> None:
    """Drop widget state and timing metadata; keep outputs."""
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        cell.metadata.pop("widgets", None)


def save_images(nb: nbformat.NotebookNode, folder: Path) -> list[Path]:
    """Write the PNG output of cells marked ``loan_widgets.save_png``."""
    written = []
    for cell in nb.cells:
        target = cell.metadata.get("loan_widgets", {}).get("save_png")
        if not target:
            continue
        outputs = cell.get("outputs", [])
        pngs = [o.data["image/png"] for o in outputs if "image/png" in o.get("data", {})]
        if len(pngs) != 1:
            raise SystemExit(f"{target}: expected one PNG output in its cell, found {len(pngs)}")
        path = folder / target
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(pngs[0]))
        written.append(path)
    return written


def execute(path: Path, env: dict[str, str], timeout: int = 180) -> None:
    """Run ``path`` top to bottom in a fresh kernel and save it with its outputs."""
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        store_widget_state=False,
        record_timing=False,
    )
    started = time.perf_counter()
    client.execute(env=env)
    clean(nb)
    nbformat.validate(nb)
    nbformat.write(nb, path)
    images = save_images(nb, path.parent)
    took = time.perf_counter() - started
    extra = "".join(f", {p.relative_to(HERE.parent)}" for p in images)
    print(f"executed {path.relative_to(HERE.parent)} in {took:.1f} s{extra}")


def project_notebooks() -> list[Path]:
    """The notebooks git knows here (as ``make test`` picks them), never scratch ones.

    Outside a git checkout: every ``*.ipynb`` but JupyterLab's scratch names.
    """
    try:
        listed = subprocess.run(
            ["git", "ls-files", "--", "*.ipynb"], cwd=HERE, capture_output=True, text=True,
            check=True,
        ).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        listed = []
    if listed:
        return sorted((HERE / name).resolve() for name in listed if "/" not in name)
    scratch = re.compile(r"Untitled[^/]*|.*-Copy[0-9]*\.ipynb")
    return sorted(p.resolve() for p in HERE.glob("*.ipynb") if not scratch.fullmatch(p.name))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "notebooks", nargs="*", type=Path, help="default: the notebooks git knows here"
    )
    parser.add_argument("--seed", default="0", help="LOAN_WIDGETS_SANDBOX_SEED (0)")
    args = parser.parse_args(argv)
    paths = sorted(p.resolve() for p in args.notebooks) or project_notebooks()
    with tempfile.TemporaryDirectory(prefix="loan-widgets-notebooks-") as tmp:
        env = kernel_env(Path(tmp) / "ledger.sqlite3", args.seed)
        for path in paths:
            execute(path, env)
    return 0


if __name__ == "__main__":
    sys.exit(main())
