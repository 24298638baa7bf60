"""Servers and page helpers for the real-browser tests in ``tests/browser``.

The fixtures in ``conftest.py`` build on this module; tests import the page helpers from it::

    from .jupyter_harness import open_notebook, run_all_cells

What it does follows ``shared/jupyter-notes.md``:

* every server runs with its own ``JUPYTER_CONFIG_DIR``, ``JUPYTER_DATA_DIR``,
  ``JUPYTER_RUNTIME_DIR`` and ``IPYTHONDIR`` (:class:`JupyterEnv`), token-less, on 127.0.0.1,
  with the JupyterLab news pop-up switched off by a settings file;
* the environment of the server, and so of its kernels, has no ``BYBIT_API_*`` credentials,
  ``LOAN_WIDGETS_NETWORK=sandbox`` and a ``LOAN_WIDGETS_LEDGER`` of its own that a test can read;
* :func:`run_all_cells` waits for the kernel to be idle, clicks Run > Run All Cells in the menu
  (keyboard shortcuts are lost while focus is in a widget) and clicks again if nothing ran.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import nbformat

if TYPE_CHECKING:
    from playwright.sync_api import Page

__all__ = [
    "CHROMIUM",
    "CHROMIUM_ARGS",
    "NOTEBOOKS",
    "REPO",
    "JupyterEnv",
    "JupyterServer",
    "ServerProcess",
    "VoilaServer",
    "cell_errors",
    "free_port",
    "make_notebook",
    "open_notebook",
    "run_all_cells",
    "wait_for_kernel_idle",
]

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
CHROMIUM = Path("/usr/bin/chromium")
#: As root, on a machine whose network is closed: no sandbox, nothing in the background.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

SERVER_START_TIMEOUT = 60.0  # seconds
#: Variables of the test runner that never reach a server or a kernel under test.
_DROPPED_PREFIXES = ("BYBIT_", "LOAN_WIDGETS_", "JUPYTER", "IPYTHONDIR", "JPY_")

_IDLE = ".jp-Notebook-ExecutionIndicator[data-status='idle']"
_PROMPT = ".jp-CodeCell .jp-InputArea-prompt"
_EMPTY_PROMPT = re.compile(r"^\[\s*\]:?$")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_notebook(*cells: str) -> nbformat.NotebookNode:
    """A Python 3 notebook whose code cells hold ``cells``, with the kernelspec set."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    return nb


def _write_notebook(notebook: Path | str | nbformat.NotebookNode, dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(notebook, (str, Path)):
        shutil.copyfile(notebook, dest)
    else:
        nbformat.write(notebook, dest)
    return dest


# --------------------------------------------------------------------------- environment


@dataclass
class JupyterEnv:
    """Isolated Jupyter/IPython directories under ``base``, and the environment that uses them."""

    base: Path
    config_dir: Path = field(init=False)
    data_dir: Path = field(init=False)
    runtime_dir: Path = field(init=False)
    ipython_dir: Path = field(init=False)
    settings_dir: Path = field(init=False)
    workspaces_dir: Path = field(init=False)

    def __post_init__(self) -> None:
        self.config_dir = self.base / "config"
        self.data_dir = self.base / "data"
        self.runtime_dir = self.base / "runtime"
        self.ipython_dir = self.base / "ipython"
        self.settings_dir = self.base / "lab-settings"
        self.workspaces_dir = self.base / "lab-workspaces"
        for path in (
            self.config_dir,
            self.data_dir,
            self.runtime_dir,
            self.ipython_dir,
            self.workspaces_dir,
        ):
            path.mkdir(parents=True, exist_ok=True)
        # No news pop-up, no update check: they cover the page and reach for the network.
        notification = self.settings_dir / "@jupyterlab/apputils-extension"
        notification.mkdir(parents=True, exist_ok=True)
        (notification / "notification.jupyterlab-settings").write_text(
            json.dumps({"fetchNews": "false", "checkForUpdates": False}), encoding="utf-8"
        )

    def environ(self, ledger: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """The environment of a server (and its kernels): isolated, sandbox, no credentials."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(_DROPPED_PREFIXES)}
        bindir = str(Path(sys.executable).parent)
        env.update(
            PATH=os.pathsep.join([bindir, env.get("PATH", "")]),
            JUPYTER_CONFIG_DIR=str(self.config_dir),
            JUPYTER_DATA_DIR=str(self.data_dir),
            JUPYTER_RUNTIME_DIR=str(self.runtime_dir),
            JUPYTER_PLATFORM_DIRS="1",
            IPYTHONDIR=str(self.ipython_dir),
            PYTHONUNBUFFERED="1",
            LOAN_WIDGETS_NETWORK="sandbox",
            LOAN_WIDGETS_LEDGER=str(ledger),
            LOAN_WIDGETS_SANDBOX_SEED=os.environ.get("LOAN_WIDGETS_SANDBOX_SEED", "0"),
            # never the developer's profiles, keyring or per-user sandbox
            LOAN_WIDGETS_CONFIG_DIR=str(self.base / "loan-widgets-config"),
            LOAN_WIDGETS_SANDBOX_HOME=str(self.base / "sandbox-home"),
            PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring",
        )
        env.update(extra or {})
        return env


# --------------------------------------------------------------------------- servers


@dataclass
class ServerProcess:
    """A server started in its own process group, logging to ``log_path``."""

    url: str
    port: int
    proc: subprocess.Popen[bytes]
    log_path: Path
    ledger_path: Path
    env: dict[str, str]

    @classmethod
    def _spawn(cls, argv: Sequence[str], env: dict[str, str], log_path: Path, cwd: Path) -> Any:
        with open(log_path, "wb") as log:
            return subprocess.Popen(
                list(argv),
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def log_tail(self, chars: int = 4000) -> str:
        """The end of the server's log, for error messages."""
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    def wait_ready(self, path: str, timeout: float = SERVER_START_TIMEOUT) -> None:
        """Poll ``GET path`` until it answers 200; fail early if the process died."""
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"server exited with {self.proc.returncode} before answering; log:\n"
                    + self.log_tail()
                )
            try:
                with urllib.request.urlopen(self.url + path, timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"server did not answer {path} within {timeout:.0f} s; log:\n" + self.log_tail()
                )
            time.sleep(0.2)

    def _descendants(self) -> list[Any]:
        try:
            import psutil
        except ImportError:  # pragma: no cover - psutil comes with IPython
            return []
        try:
            return list(psutil.Process(self.proc.pid).children(recursive=True))
        except psutil.Error:
            return []

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server's process group and any kernel it left in a session of its own."""
        if self.proc.poll() is not None:
            return
        children = self._descendants()  # kernels run in sessions of their own
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout)
        for child in children:
            with contextlib.suppress(Exception):
                child.kill()


@dataclass
class JupyterServer(ServerProcess):
    """A token-less JupyterLab server whose root is a temporary folder."""

    root_dir: Path = Path()

    @classmethod
    def start(
        cls,
        jenv: JupyterEnv,
        root_dir: Path,
        ledger: Path,
        extra_env: Mapping[str, str] | None = None,
    ) -> JupyterServer:
        """Start JupyterLab on a free port and wait until ``/api/status`` answers."""
        port = free_port()
        argv = [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            f"--port={port}",
            "--ServerApp.port_retries=0",
            "--ServerApp.token=",
            "--ServerApp.password=",
            "--ServerApp.ip=127.0.0.1",
            "--ServerApp.disable_check_xsrf=True",
            "--allow-root",
            f"--ServerApp.root_dir={root_dir}",
            f"--LabApp.user_settings_dir={jenv.settings_dir}",
            f"--LabApp.workspaces_dir={jenv.workspaces_dir}",
        ]
        env = jenv.environ(ledger, extra_env)
        log_path = jenv.base / f"jupyterlab-{port}.log"
        proc = cls._spawn(argv, env, log_path, cwd=root_dir)
        server = cls(
            url=f"http://127.0.0.1:{port}",
            port=port,
            proc=proc,
            log_path=log_path,
            ledger_path=ledger,
            env=env,
            root_dir=root_dir,
        )
        server.wait_ready("/api/status")
        return server

    def add_notebook(
        self, notebook: Path | str | nbformat.NotebookNode, name: str | None = None
    ) -> str:
        """Copy a notebook file (or write a ``NotebookNode``) into the root; return its path.

        The path is relative to the server root, in URL form, ready for :meth:`lab_url`.
        """
        if name is None:
            if not isinstance(notebook, (str, Path)):
                raise TypeError("name= is needed for a NotebookNode")
            name = Path(notebook).name
        _write_notebook(notebook, self.root_dir / name)
        return Path(name).as_posix()

    def lab_url(self, path: str) -> str:
        """The JupyterLab address of a notebook, with a fresh workspace."""
        return f"{self.url}/lab/tree/{path}?reset"

    def api(self, method: str, path: str) -> Any:
        """Call the REST API; returns the decoded JSON body, or ``None`` when there is none."""
        request = urllib.request.Request(self.url + path, method=method)
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None

    def delete_sessions(self) -> None:
        """Shut down every open notebook session (and so its kernel)."""
        for session in self.api("GET", "/api/sessions") or []:
            with contextlib.suppress(urllib.error.HTTPError):
                self.api("DELETE", f"/api/sessions/{session['id']}")


@dataclass
class VoilaServer(ServerProcess):
    """Voila serving one notebook at ``url`` (a fresh kernel per page load)."""

    notebook: Path = Path()

    @classmethod
    def start(
        cls,
        jenv: JupyterEnv,
        notebook: Path,
        ledger: Path,
        extra_env: Mapping[str, str] | None = None,
        timeout: float = SERVER_START_TIMEOUT,
    ) -> VoilaServer:
        """Start Voila on a free port for ``notebook`` and wait until it answers."""
        port = free_port()
        argv = [
            sys.executable,
            "-m",
            "voila",
            str(notebook),
            "--no-browser",
            f"--port={port}",
            "--Voila.port_retries=0",
            "--Voila.ip=127.0.0.1",
        ]
        env = jenv.environ(ledger, extra_env)
        log_path = jenv.base / f"voila-{port}.log"
        proc = cls._spawn(argv, env, log_path, cwd=notebook.parent)
        server = cls(
            url=f"http://127.0.0.1:{port}",
            port=port,
            proc=proc,
            log_path=log_path,
            ledger_path=ledger,
            env=env,
            notebook=notebook,
        )
        # A static file: ``/`` itself would start a kernel and run the notebook.
        server.wait_ready("/voila/static/voila.js", timeout)
        return server


# --------------------------------------------------------------------------- page helpers


def wait_for_kernel_idle(page: Page, timeout: float = 60_000) -> None:
    """Wait until the notebook's toolbar and the status bar both say the kernel is idle."""
    page.locator(_IDLE).first.wait_for(state="attached", timeout=timeout)
    page.locator(
        "#jp-main-statusbar .jp-StatusBar-TextItem", has_text=re.compile(r"\|\s*Idle$")
    ).first.wait_for(timeout=timeout)


def open_notebook(page: Page, server: JupyterServer, path: str, timeout: float = 60_000) -> None:
    """Open ``path`` (relative to the server root) in JupyterLab and wait for an idle kernel.

    Sessions left from earlier tests are shut down first so that only this notebook's kernel
    runs.
    """
    server.delete_sessions()
    page.goto(server.lab_url(path), timeout=timeout)
    page.locator(".jp-NotebookPanel .jp-Notebook").first.wait_for(timeout=timeout)
    # A notebook without a kernelspec asks which kernel to use: take the default.
    dialog = page.locator(".jp-Dialog .jp-mod-accept")
    if dialog.count():
        dialog.first.click()
    wait_for_kernel_idle(page, timeout)


def _first_prompt(page: Page) -> str:
    prompts = page.locator(_PROMPT)
    if not prompts.count():
        return ""
    return prompts.first.inner_text().strip()


def _click_run_all(page: Page) -> None:
    page.locator("#jp-MainMenu .lm-MenuBar-item", has_text=re.compile(r"^\s*Run\s*$")).click()
    menu = page.locator("#jp-mainmenu-run")
    menu.get_by_role("menuitem", name="Run All Cells", exact=True).click()


def run_all_cells(
    page: Page,
    timeout: float = 120_000,
    retries: int = 3,
    retry_after: float = 10_000,
    allow_errors: bool = False,
) -> None:
    """Run > Run All Cells from the menu, and wait until every cell has run.

    A click made before the kernel connection is ready runs nothing; when the first prompt is
    still empty after ``retry_after`` ms, the click is repeated (``retries`` times in all).
    Unless ``allow_errors``, an error output in any cell fails with the errors' text.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import expect

    wait_for_kernel_idle(page, timeout)
    for attempt in range(1, retries + 1):
        _click_run_all(page)
        deadline = time.monotonic() + retry_after / 1000
        while time.monotonic() < deadline:
            if not _EMPTY_PROMPT.match(_first_prompt(page)):
                break
            page.wait_for_timeout(200)
        else:
            if attempt == retries:
                raise AssertionError(f"Run All Cells ran nothing after {retries} clicks")
            print(f"Run All Cells ran nothing; clicking again ({attempt + 1}/{retries})")
            continue
        break
    try:
        expect(page.locator(_PROMPT, has_text="*")).to_have_count(0, timeout=timeout)
        wait_for_kernel_idle(page, timeout)
    except (AssertionError, PlaywrightTimeout) as exc:
        raise AssertionError(f"cells still running after {timeout / 1000:.0f} s") from exc
    if not allow_errors:
        errors = cell_errors(page)
        if errors:
            raise AssertionError("error output in the notebook:\n" + "\n---\n".join(errors))


_ERROR_TEXT = re.compile(r"Traceback \(most recent call last\)|^\w*(Error|Exception)\b", re.M)


def cell_errors(page: Page) -> list[str]:
    """The text of every error output on the page (JupyterLab renders errors as stderr)."""
    outputs = page.locator(
        ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"
    ).all_inner_texts()
    return [text for text in outputs if _ERROR_TEXT.search(text)]
