"""Scratch notebooks made in ``make lab`` change nothing that ``make test`` or ``make lab`` uses.

File > New > Notebook in JupyterLab writes ``notebooks/Untitled.ipynb`` (no code run, so it
fails the notebook checks); a notebook saved under a name of one's own is just as uncommitted.
The notebook tests and the Makefile's nbval and trust steps take only the notebooks git knows.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
import test_notebooks as checks

NOTEBOOKS, REPO, project_notebooks = checks.NOTEBOOKS, checks.REPO, checks.project_notebooks


def _new_notebook() -> nbformat.NotebookNode:
    """What JupyterLab writes for File > New > Notebook until it is saved: no cells."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3", "display_name": "Python 3", "language": "python"
    }
    return nb


@contextlib.contextmanager
def _scratch() -> Iterator[list[Path]]:
    """An ``Untitled`` notebook and an uncommitted one of one's own in ``notebooks/``."""
    tag = uuid.uuid4().hex[:8]
    paths = [REPO / "notebooks" / f"Untitled{tag}.ipynb", REPO / "notebooks" / f"mine-{tag}.ipynb"]
    mine = _new_notebook()
    mine.cells = [nbformat.v4.new_code_cell("1 / 0")]
    for path, nb in zip(paths, (_new_notebook(), mine), strict=True):
        nbformat.write(nb, path)
    try:
        yield paths
    finally:
        for path in paths:
            path.unlink(missing_ok=True)


@pytest.fixture
def scratch() -> Iterator[list[Path]]:
    """:func:`_scratch` for one test."""
    with _scratch() as paths:
        yield paths


def _notebook_tests() -> tuple[list[str], dict[str, int]]:
    """Each notebook test with its outcome, and the counts, from a separate pytest run."""
    argv = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-m", "not slow", "-v",
            "tests/project/test_notebooks.py"]
    ran = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, check=False, timeout=300)
    outcomes = sorted(
        f"{test} {outcome}"
        for test, outcome in re.findall(
            r"^(\S+::\S+) (PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS)", ran.stdout, flags=re.M
        )
    )
    summary = ran.stdout.strip().splitlines()[-1] if ran.stdout.strip() else ""
    counts = {kind: int(n) for n, kind in re.findall(r"(\d+) (passed|failed|errors?)", summary)}
    assert outcomes and counts, ran.stdout[-3000:] + ran.stderr[-2000:]
    return outcomes, counts


def _make_lines(target: str, cwd: Path = REPO) -> str:
    """The commands ``make -n TARGET`` would run (nothing is run)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAKE")}
    result = subprocess.run(["make", "-n", target], cwd=cwd, capture_output=True, text=True,
                            check=True, env=env, timeout=60)
    return result.stdout


def _step(lines: str, marker: str) -> list[str]:
    """The notebook paths on the command line of the step that has ``marker``."""
    command = lines.replace("\\\n", " ")
    [line] = [line for line in command.splitlines() if marker in line]
    return sorted(word for word in line.split() if word.endswith(".ipynb"))


class TestScratchNotebooks:
    """A scratch notebook in notebooks/ is neither tested, nor run by nbval, nor trusted."""

    def test_scratch_notebook_would_fail_the_checks(self, scratch: list[Path]) -> None:
        """Checked as a project notebook, the Untitled one fails ("no code cells")."""
        untitled = scratch[0]
        assert untitled.parent == REPO / "notebooks"
        with pytest.raises(AssertionError, match="no code cells"):
            checks.test_notebook_was_executed_top_to_bottom(untitled)

    def test_notebook_tests_unchanged(self) -> None:
        """The notebook tests collect and pass the same with scratch notebooks present."""
        before = _notebook_tests()
        with _scratch() as scratch:
            after = _notebook_tests()
        assert after == before
        assert after[1].get("passed", 0) >= 3 * len(NOTEBOOKS) and set(after[1]) == {"passed"}
        assert not any(path.name in line for path in scratch for line in after[0])

    def test_nbval_trust_and_execute_take_project_notebooks(self, scratch: list[Path]) -> None:
        """nbval (make test), trust (make lab) and notebooks/execute.py take the git-known ones."""
        expected = sorted(path.relative_to(REPO).as_posix() for path in NOTEBOOKS)
        assert len(expected) >= 4
        assert _step(_make_lines("test"), "--nbval") == expected
        assert _step(_make_lines("lab"), "jupyter trust") == expected
        assert project_notebooks() == NOTEBOOKS
        spec = importlib.util.spec_from_file_location("execute", REPO / "notebooks" / "execute.py")
        assert spec is not None and spec.loader is not None
        execute = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(execute)
        assert execute.project_notebooks() == NOTEBOOKS

    def test_outside_git_scratch_names_are_left_out(self, tmp_path: Path) -> None:
        """In a copy that is not a git checkout, Untitled and -Copy notebooks stay out."""
        copy = tmp_path / "copy"
        copy.mkdir()
        for name in ("Makefile", "pyproject.toml"):
            shutil.copy2(REPO / name, copy / name)
        shutil.copytree(REPO / "notebooks", copy / "notebooks")
        for name in ("Untitled.ipynb", "Untitled1.ipynb", "quickstart-Copy1.ipynb"):
            nbformat.write(_new_notebook(), copy / "notebooks" / name)
        expected = sorted(f"notebooks/{path.name}" for path in NOTEBOOKS)
        assert _step(_make_lines("test", copy), "--nbval") == expected
        assert [p.name for p in project_notebooks(copy)] == [p.name for p in NOTEBOOKS]
