"""The README's "Install into an existing Jupyter", followed as written, in a fresh venv.

The commands come from the README itself, so the section and this test cannot drift: the
``bash`` block builds and installs the wheel into a venv that holds only ``ipykernel`` (the
"existing Jupyter"), the first ``python`` block runs in a real kernel of that venv and
borrows on the sandbox through the magic, and the profile setting of the second ``python``
block makes the magic available without ``%load_ext``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SECTION = "## Install into an existing Jupyter"
#: What the build must not print (setuptools' deprecations, any backend warning).
BUILD_NOISE = re.compile(r"deprecat|BuildBackendWarning|SetuptoolsWarning", re.IGNORECASE)
#: Test-only or server-side packages a user's kernel environment need not have.
NOT_DECLARED = ("pytest", "jupyterlab", "voila", "nbval", "playwright", "pybit", "hypothesis")

pytestmark = pytest.mark.slow

# Runs in the fresh venv: start a kernel the way Jupyter does (its python3 kernelspec),
# execute each cell, report every output as JSON.
KERNEL_DRIVER = r"""
import json, sys
from jupyter_client.manager import start_new_kernel

cells = json.loads(sys.argv[1])
km, kc = start_new_kernel(kernel_name="python3", startup_timeout=120)
results = []
try:
    for code in cells:
        outputs = []
        reply = kc.execute_interactive(
            code, timeout=120, output_hook=lambda msg: outputs.append(
                {"type": msg["msg_type"], "content": msg["content"]}
            ),
        )
        results.append({"status": reply["content"]["status"], "outputs": outputs})
finally:
    kc.stop_channels()
    km.shutdown_kernel(now=True)
print("RESULTS " + json.dumps(results, default=str))
"""

CHECK_CELL = """\
import importlib.metadata, loan_widgets
row = loan_widgets.orders().iloc[-1]
print("ROW", row["order_id"], row["status"], row["source"], row["network"])
print("FROM", loan_widgets.__file__)
print("VERSION", importlib.metadata.version("loan_widgets"), loan_widgets.__version__)
"""


def readme_blocks() -> dict[str, list[str]]:
    """The fenced code blocks of the install section, by language, in order."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    section = text[start : end if end != -1 else len(text)]
    blocks: dict[str, list[str]] = {}
    for lang, body in re.findall(r"```(\w+)\n(.*?)```", section, flags=re.S):
        blocks.setdefault(lang, []).append(body)
    return blocks


def _run(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(argv, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]
    if result.returncode != 0:
        pytest.fail(
            f"{' '.join(map(str, argv))} exited {result.returncode}\n"
            f"--- stdout\n{result.stdout[-6000:]}\n--- stderr\n{result.stderr[-4000:]}"
        )
    return result


def _source_copy(dest: Path) -> Path:
    """The files a clone has (tracked, or new and not ignored), copied to ``dest``."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO, capture_output=True, text=True, check=False,
    )
    names = [n for n in listed.stdout.split("\0") if n] if listed.returncode == 0 else []
    if not names:  # not a git checkout: what a wheel is built from
        names = ["pyproject.toml", "README.md", "LICENSE", "loan_widgets/py.typed"]
        names += [p.relative_to(REPO).as_posix() for p in (REPO / "loan_widgets").rglob("*.py")]
    for name in names:
        source = REPO / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    return dest


def _kernel(python: Path, cells: list[str], env: dict[str, str], cwd: Path) -> list[dict]:
    out = _run([str(python), "-c", KERNEL_DRIVER, json.dumps(cells)], env=env, cwd=cwd,
               timeout=600)
    [line] = [line for line in out.stdout.splitlines() if line.startswith("RESULTS ")]
    return json.loads(line.removeprefix("RESULTS "))


def _text(result: dict) -> str:
    """Everything a cell showed, as text."""
    parts = []
    for output in result["outputs"]:
        content = output["content"]
        if output["type"] == "stream":
            parts.append(content["text"])
        elif output["type"] in ("execute_result", "display_data"):
            parts.append(content["data"].get("text/plain", ""))
        elif output["type"] == "error":
            parts.append("\n".join(content["traceback"]))
    return "\n".join(parts)


class TestReadmeInstall:
    """A wheel installed into a plain kernel environment borrows through the magic."""

    def test_readme_install_section_works_in_fresh_venv(self, tmp_path: Path) -> None:
        """Build, install, %load_ext, %borrow on the sandbox; then the profile setting."""
        blocks = readme_blocks()
        [commands] = blocks["bash"]
        session, profile = blocks["python"]
        assert session.lstrip().startswith("%load_ext loan_widgets") and "%borrow" in session
        assert "c.InteractiveShellApp.extensions" in profile

        clone = _source_copy(tmp_path / "clone")
        venv = tmp_path / "venv"
        python = venv / "bin" / "python"
        _run([sys.executable, "-m", "venv", str(venv)])
        home = tmp_path / "home"
        clean = {
            k: v for k, v in os.environ.items()
            if not k.startswith(("BYBIT_", "LOAN_WIDGETS_", "JUPYTER", "IPYTHON", "JPY_"))
            and k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")
        }
        env = {
            **clean,
            "PATH": os.pathsep.join([str(venv / "bin"), clean.get("PATH", "")]),
            "VIRTUAL_ENV": str(venv),
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "JUPYTER_CONFIG_DIR": str(home / "jupyter-config"),
            "JUPYTER_DATA_DIR": str(home / "jupyter-data"),
            "JUPYTER_RUNTIME_DIR": str(home / "jupyter-runtime"),
            "IPYTHONDIR": str(home / "ipython"),
            "LOAN_WIDGETS_LEDGER": str(home / "ledger.sqlite3"),
            # a private sandbox in the kernel: nothing left running, nothing in the user's folders
            "LOAN_WIDGETS_SANDBOX_SEED": "0",
            "LOAN_WIDGETS_SANDBOX_HOME": str(home / "sandbox"),
        }
        # The existing Jupyter environment: a kernel, nothing of this project.
        _run([str(python), "-m", "pip", "install", "--quiet", "ipykernel"], env=env, timeout=600)

        started = time.monotonic()
        built = _run(["bash", "-euo", "pipefail", "-c", commands], cwd=clone, env=env,
                     timeout=900)
        took = time.monotonic() - started
        noise = [line for line in (built.stdout + built.stderr).splitlines()
                 if BUILD_NOISE.search(line)]
        assert not noise, "\n".join(noise)
        [wheel] = (clone / "dist").glob("loan_widgets-*-py3-none-any.whl")
        with zipfile.ZipFile(wheel) as built:
            packed = set(built.namelist())
        assert "loan_widgets/py.typed" in packed, "the wheel lacks the PEP 561 marker"
        assert "loan_widgets/__init__.py" in packed
        print(f"wheel {wheel.name}: {wheel.stat().st_size:,} bytes; built and installed in "
              f"{took:.1f} s")

        listed = _run([str(python), "-m", "pip", "list", "--format=json"], env=env)
        installed = {p["name"].lower().replace("_", "-") for p in json.loads(listed.stdout)}
        assert "loan-widgets" in installed
        assert not installed & set(NOT_DECLARED), installed & set(NOT_DECLARED)
        _run([str(python), "-m", "pip", "check"], env=env)

        work = tmp_path / "work"  # not the clone: the installed package must be the one used
        work.mkdir()
        borrowed, checked = _kernel(python, [session, CHECK_CELL], env, work)
        assert borrowed["status"] == "ok", _text(borrowed)
        shown = _text(borrowed)
        order_ids = re.findall(r"order_id=([0-9]{19})", shown)
        assert len(order_ids) == 1, shown
        assert checked["status"] == "ok", _text(checked)
        lines = dict(line.split(" ", 1) for line in _text(checked).splitlines() if " " in line)
        assert lines["ROW"] == f"{order_ids[0]} accepted magic sandbox"
        assert lines["FROM"].startswith(str(venv)), lines["FROM"]
        version, attribute = lines["VERSION"].split()
        assert version == attribute == wheel.name.split("-")[1]

        profile_file = Path(env["IPYTHONDIR"]) / "profile_default" / "ipython_config.py"
        assert profile.lstrip().startswith("# ~/.ipython/profile_default/ipython_config.py")
        profile_file.parent.mkdir(parents=True, exist_ok=True)
        profile_file.write_text(profile, encoding="utf-8")
        [auto] = _kernel(python, ["%borrow USDT 550 BTC --dry-run"], env, work)
        assert auto["status"] == "ok", _text(auto)
        assert '"loanAmount":"550"' in _text(auto), _text(auto)
