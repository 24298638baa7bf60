"""The committed example notebooks: executed, saved without widget state, free of secrets.

nbval (``make test``) checks that a fresh run reproduces the saved outputs; these tests check
what nbval does not: that the saved notebooks were executed top to bottom, that no widget state
(where a ``Password`` value would be saved in plain text) and nothing that looks like a key,
a secret or a private key was committed, and that the notebooks also pass nbval in the
environment Binder builds from ``binder/``.

Refresh the notebooks with ``.venv/bin/python notebooks/execute.py``.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

from loan_widgets.sandbox import DEMO_API_KEY, DEMO_API_SECRET

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK_DIR = REPO / "notebooks"
SCRATCH = re.compile(r"Untitled[^/]*|.*-Copy[0-9]*\.ipynb")
"""JupyterLab's names for new and duplicated notebooks (git-ignored)."""


def project_notebooks(repo: Path = REPO) -> list[Path]:
    """The notebooks git knows (committed or added), as the Makefile's nbval step picks them.

    Outside a git checkout: every ``notebooks/*.ipynb`` but scratch names.
    """
    try:
        listed = subprocess.run(
            ["git", "ls-files", "--", "notebooks/*.ipynb"],
            cwd=repo, capture_output=True, text=True, check=True,
        ).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        listed = []
    if listed:
        return sorted(repo / name for name in listed)
    return sorted(p for p in (repo / "notebooks").glob("*.ipynb") if not SCRATCH.fullmatch(p.name))


NOTEBOOKS = project_notebooks()
SANITIZE = NOTEBOOK_DIR / "sanitize.cfg"
BINDER = REPO / "binder"

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
BINARY_MIME = ("image/png", "image/jpeg", "image/gif")
VIEW_KEYS = {"model_id", "version_major", "version_minor"}

#: Variables whose values, when set where the tests run, must appear in no notebook.
SECRET_VARS = ("BYBIT_API_KEY", "BYBIT_API_SECRET")

# ---------------------------------------------------------------------------- the scan

KEY_PATTERNS: dict[str, re.Pattern[str]] = {
    # a PEM private key of any kind (RSA, EC, PKCS#8, encrypted)
    "PEM private key": re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----|PRIVATE KEY-----"),
    # an HMAC-SHA256 signature (64) or a hex secret such as secrets.token_hex(16) (32)
    "long hex string": re.compile(r"(?<![0-9A-Za-z])[0-9a-fA-F]{32,}(?![0-9A-Za-z])"),
    # an RSA signature, a DER key or any long base64 run
    "long base64 string": re.compile(r"(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{40,}={0,2}"),
    # Bybit's key ids are 18 and its secrets 36 letters and digits
    "Bybit key-shaped token": re.compile(
        r"(?<![A-Za-z0-9])(?:[A-Za-z0-9]{18}|[A-Za-z0-9]{36})(?![A-Za-z0-9])"
    ),
}
#: Sandbox order ids are 19 digits: numbers, not keys.
ORDER_ID = re.compile(r"[0-9]{19}")
#: ``export BYBIT_API_SECRET=...``: the value must be a placeholder, not a literal.
ASSIGNED = re.compile(r"\b(BYBIT_API_[A-Z_]+)\s*=\s*['\"]?([^\s'\"`#)]+)")
PLACEHOLDER = re.compile(r"x+|X+|\.\.\.|<[^>]*>|/path/to/[\w./-]+|\$\w+")


def _mixed(token: str) -> bool:
    """True when ``token`` mixes digits with letters, or upper with lower case: key-like."""
    has_digit = any(c.isdigit() for c in token)
    has_lower = any(c.islower() for c in token)
    has_upper = any(c.isupper() for c in token)
    return (has_digit and (has_lower or has_upper)) or (has_lower and has_upper and len(token) > 40)


def literal_secrets() -> dict[str, str]:
    """Strings that must appear nowhere: the sandbox demo credentials, and real ones if set."""
    found = {"sandbox demo secret": DEMO_API_SECRET, "sandbox demo key": DEMO_API_KEY}
    for name in SECRET_VARS:
        value = os.environ.get(name, "").strip()
        if len(value) >= 6:
            found[f"${name}"] = value
    key_file = os.environ.get("BYBIT_API_PRIVATE_KEY_FILE", "").strip()
    if key_file and Path(key_file).is_file():
        body = "".join(
            line
            for line in Path(key_file).read_text(errors="replace").splitlines()
            if line and not line.startswith("-----")
        )
        if len(body) >= 40:
            found["$BYBIT_API_PRIVATE_KEY_FILE"] = body[:40]
    return found


def key_like(text: str, literals: dict[str, str] | None = None) -> list[str]:
    """What in ``text`` looks like a credential (empty when nothing does).

    Names of variables (``BYBIT_API_SECRET``, ``api_secret``), sandbox order ids, obvious
    placeholders (``xxxx``) and ordinary words pass; long hex or base64 runs, key-shaped
    tokens, PEM private keys, the demo secret and the values of real credentials do not.
    """
    problems = []
    for what, value in (literal_secrets() if literals is None else literals).items():
        if value in text:
            problems.append(f"{what} ({value[:2]}...)")
    for what, pattern in KEY_PATTERNS.items():
        for match in pattern.finditer(text):
            token = match.group(0)
            if what == "PEM private key":
                problems.append(what)
            elif ORDER_ID.fullmatch(token) or token.isdigit():
                continue  # a number: an order id, a timestamp
            elif what == "long hex string" or _mixed(token):
                problems.append(f"{what}: {token[:6]}...")
    for match in ASSIGNED.finditer(text):
        name, value = match.groups()
        if not PLACEHOLDER.fullmatch(value):
            problems.append(f"{name} assigned a literal value ({value[:2]}...)")
    return problems


def texts(nb: nbformat.NotebookNode) -> Iterator[tuple[str, str]]:
    """``(where, text)`` for every source and every textual output of ``nb``."""
    for index, cell in enumerate(nb.cells):
        yield f"cell {index} source", cell.source
        for number, output in enumerate(cell.get("outputs", [])):
            where = f"cell {index} output {number}"
            if "text" in output:
                yield where, output.text
            for key in ("ename", "evalue"):
                if key in output:
                    yield where, str(output[key])
            for line in output.get("traceback", []):
                yield where, line
            for mime, data in output.get("data", {}).items():
                if mime in BINARY_MIME or mime == WIDGET_VIEW:
                    continue  # images are base64 by nature; widget views are checked apart
                yield f"{where} {mime}", data if isinstance(data, str) else json.dumps(data)
    yield "notebook metadata", json.dumps(nb.metadata)


def _ids(path: Path) -> str:
    return path.name


def _read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


# ---------------------------------------------------------------------------- the tests


def test_the_example_notebooks_exist() -> None:
    names = {p.name for p in NOTEBOOKS}
    assert {
        "quickstart.ipynb", "widget.ipynb", "networks-and-keys.ipynb", "lifecycle.ipynb"
    } <= names
    assert SANITIZE.is_file()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids)
def test_notebook_was_executed_top_to_bottom(path: Path) -> None:
    """Every code cell ran, in order, in one kernel; errors only where a cell expects them."""
    nb = _read(path)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, "no code cells"
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1)), (
        "execution counts are not 1..N: re-run notebooks/execute.py"
    )
    assert sum(len(c.outputs) for c in code) >= len(code) // 2, "most cells have no output"
    for cell in code:
        tags = cell.metadata.get("tags", [])
        errors = [o for o in cell.outputs if o.output_type == "error"]
        stderr = "".join(
            o.text for o in cell.outputs if o.output_type == "stream" and o.name == "stderr"
        )
        if "raises-exception" in tags:
            assert errors or "Error" in stderr, f"tagged raises-exception, did not: {cell.source}"
        else:
            assert not errors, f"error output in: {cell.source}"
            assert "Traceback" not in stderr and "Warning" not in stderr, (
                f"stderr in: {cell.source}\n{stderr}"
            )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids)
def test_notebook_has_no_widget_state(path: Path) -> None:
    """No saved widget state anywhere: only the views' model ids, which hold no values."""
    nb = _read(path)
    assert "widgets" not in nb.metadata, "widget state saved: execute with store_widget_state=False"
    for index, cell in enumerate(nb.cells):
        assert "widgets" not in cell.metadata, f"cell {index}"
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            assert WIDGET_STATE not in data, f"cell {index}: widget state in an output"
            if WIDGET_VIEW in data:
                keys = set(data[WIDGET_VIEW])
                assert keys <= VIEW_KEYS, f"cell {index}: widget view with {keys}"
                assert "state" not in output.get("metadata", {}), f"cell {index}"
                assert "# NBVAL_IGNORE_OUTPUT" in cell.source, (
                    f"cell {index} displays a widget: mark it # NBVAL_IGNORE_OUTPUT"
                )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids)
def test_notebook_holds_nothing_key_like(path: Path) -> None:
    nb = _read(path)
    literals = literal_secrets()
    problems = [
        f"{where}: {problem}" for where, text in texts(nb) for problem in key_like(text, literals)
    ]
    assert not problems, "\n".join(problems)


def test_key_scan_flags_secrets_and_passes_names() -> None:
    """The scan itself: what it must catch, and what it must let through."""
    literals = {"sandbox demo secret": DEMO_API_SECRET}
    signature = "3f" * 32
    rsa_signature = base64.b64encode(bytes(range(200))).decode()
    flagged = [
        f"X-BAPI-SIGN: {signature}",
        f"signature {rsa_signature}",
        "-----BEGIN PRIVATE KEY-----\nMIIEv...",
        "-----BEGIN RSA PRIVATE KEY-----",
        f"secret = '{DEMO_API_SECRET}'",
        "key Ab3dE5gH7jK9mN1pQ2",  # 18 letters and digits: a Bybit key id
        "export BYBIT_API_SECRET=Zx81kq0pLmN3",
        "api_secret = 'c0ffee00c0ffee00c0ffee00c0ffee00'",
    ]
    for text in flagged:
        assert key_like(text, literals), text
    passed = [
        'os.environ["BYBIT_API_SECRET"] = api_secret',
        "os.environ.pop('BYBIT_API_PRIVATE_KEY_FILE')",
        "export BYBIT_API_KEY=xxxxxxxxxxxxxxxxxx",
        "export BYBIT_API_PRIVATE_KEY_FILE=/path/to/private.pem",
        "`export BYBIT_API_SECRET=...`",
        "from loan_widgets.sandbox import DEMO_API_SECRET",
        "<BorrowResult order_id=1794268382220749593 550 USDT against BTC>",
        "X-BAPI-TIMESTAMP: 1795619099008",
        "X-BAPI-API-KEY: SA***01",
        "X-BAPI-SIGN: <64 characters, hidden>",
        "/v5/crypto-loan/borrowable-collateralisable-number",
        "Credentials(api_key='NO***EY', kind='rsa')",
        "the_quick_brown_fox_jumps_over_the_lazy_dog_twice_over",
    ]
    for text in passed:
        assert not key_like(text, literals), (text, key_like(text, literals))


def test_sanitize_file_parses_like_nbval() -> None:
    """nbval reads ``regex:``/``replace:`` line pairs; every regex must compile."""
    from nbval.plugin import get_sanitize_patterns

    patterns = get_sanitize_patterns(SANITIZE.read_text(encoding="utf-8"))
    assert len(patterns) >= 4
    for regex, _ in patterns:
        re.compile(regex)
    masked = "BorrowResult at 2026-01-02 03:04:05 UTC (12 ms) via http://127.0.0.1:40123"
    for regex, replace in patterns:
        masked = re.sub(regex, replace, masked)
    assert masked == "BorrowResult at <datetime> UTC (<n> ms) via http://127.0.0.1:<port>"
    untouched = "order 1794268382220749593"
    for regex, replace in patterns:
        untouched = re.sub(regex, replace, untouched)
    assert untouched == "order 1794268382220749593"


def test_readme_images_match_the_notebook_outputs() -> None:
    """Images the notebooks export (``loan_widgets.save_png``) are the saved outputs."""
    exported = 0
    for path in NOTEBOOKS:
        for cell in _read(path).cells:
            target = cell.metadata.get("loan_widgets", {}).get("save_png")
            if not target:
                continue
            [png] = [o.data["image/png"] for o in cell.outputs if "image/png" in o.get("data", {})]
            image = NOTEBOOK_DIR / target
            assert image.is_file(), f"{image} missing: run notebooks/execute.py"
            assert image.read_bytes() == base64.b64decode(png), f"{image} differs from {path.name}"
            exported += 1
    assert exported >= 1


# ---------------------------------------------------------------------------- Binder


def _copy_repo(dest: Path) -> None:
    """What repo2docker sees of the repository, minus caches and build output."""
    ignore = shutil.ignore_patterns(
        "__pycache__", "*.pyc", ".ipynb_checkpoints", "*.sqlite3*", "*.egg-info", "build"
    )
    dest.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (REPO / name).is_file():
            shutil.copy2(REPO / name, dest / name)
    for name in ("loan_widgets", "binder", "notebooks"):
        shutil.copytree(REPO / name, dest / name, ignore=ignore)


def _run(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(argv, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]
    if result.returncode != 0:
        pytest.fail(
            f"{' '.join(map(str, argv))} exited {result.returncode}\n"
            f"--- stdout\n{result.stdout[-6000:]}\n--- stderr\n{result.stderr[-4000:]}"
        )
    return result


@pytest.mark.slow
def test_notebooks_pass_nbval_in_the_binder_environment(tmp_path: Path) -> None:
    """A fresh venv from binder/requirements.txt plus binder/postBuild runs the notebooks.

    mybinder.org cannot be reached from here; this is the closest check: the pinned
    requirements install, postBuild installs the package, and nbval passes with the same
    environment ``make test`` gives it.
    """
    repo = tmp_path / "repo"
    _copy_repo(repo)
    venv = tmp_path / "venv"
    bindir = venv / "bin"
    _run([sys.executable, "-m", "venv", str(venv)])
    pip = [str(bindir / "python"), "-m", "pip", "--disable-pip-version-check", "--quiet"]
    _run([*pip, "install", "-r", str(repo / "binder" / "requirements.txt")])

    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("BYBIT_", "LOAN_WIDGETS_", "VIRTUAL_ENV", "PYTHONPATH", "JUPYTER"))
    }
    env = {
        **clean,
        "PATH": os.pathsep.join([str(bindir), clean.get("PATH", "")]),
        "JUPYTER_DATA_DIR": str(tmp_path / "jupyter-data"),  # where postBuild trusts them
    }
    built = _run(["bash", str(repo / "binder" / "postBuild")], cwd=repo, env=env)
    assert "Signing notebook: notebooks/quickstart.ipynb" in built.stdout + built.stderr
    where = _run(
        [str(bindir / "python"), "-c", "import loan_widgets; print(loan_widgets.__file__)"],
        cwd=tmp_path,
        env=env,
    )
    assert str(venv) in where.stdout, where.stdout
    # a first matplotlib import may print "building the font cache" into a cell's output
    _run([str(bindir / "python"), "-c", "import matplotlib.font_manager"], cwd=tmp_path, env=env)

    (tmp_path / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    nbval_env = {
        **env,
        "LOAN_WIDGETS_NETWORK": "sandbox",
        "LOAN_WIDGETS_SANDBOX_SEED": "0",
        "LOAN_WIDGETS_LEDGER": str(tmp_path / "ledger.sqlite3"),
    }
    _run(
        [
            str(bindir / "python"),
            "-m",
            "pytest",
            "-c",
            str(tmp_path / "pytest.ini"),
            "-p",
            "no:cacheprovider",
            "-q",
            "--nbval",
            "--nbval-current-env",
            "--nbval-sanitize-with",
            "notebooks/sanitize.cfg",
            *(path.relative_to(REPO).as_posix() for path in NOTEBOOKS),
        ],
        cwd=repo,
        env=nbval_env,
    )
