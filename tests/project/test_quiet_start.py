"""``make lab`` and ``make app`` start without warnings the project can avoid.

Each target is started for real (on a free port, with its own Jupyter and IPython folders and
ledger), used the way a person would (the notebook opened, a kernel started, the app page
loaded, which runs the notebook), then stopped; its whole log is then read. A browser is not
needed: ``BROWSER=true`` makes the "open a browser" step succeed without one.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow

#: Lines that are noise the project can avoid: deprecations, untrusted notebooks, warnings.
NOISE = re.compile(
    r"deprecat|is not trusted|Warning|\[W |WARNING|without encryption", re.IGNORECASE
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str, token: str = "", data: bytes | None = None, timeout: float = 10) -> tuple:
    request = urllib.request.Request(url, data=data, method="POST" if data else "GET")
    if token:
        request.add_header("Authorization", f"token {token}")
    if data:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.status, response.read()


def _wait(url: str, token: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    while True:
        if proc.poll() is not None:
            pytest.fail(f"exited {proc.returncode} before answering:\n{log.read_text()[-4000:]}")
        with contextlib.suppress(urllib.error.URLError, ConnectionError, TimeoutError):
            if _get(url, token, timeout=2)[0] == 200:
                return
        if time.monotonic() > deadline:
            pytest.fail(f"{url} did not answer in 120 s:\n{log.read_text()[-4000:]}")
        time.sleep(0.3)


@contextlib.contextmanager
def _make(
    target: str, tmp_path: Path, **variables: str
) -> Iterator[tuple[subprocess.Popen[bytes], Path, str]]:
    """``make TARGET`` in its own process group; yields it, its log file and the token."""
    token = uuid.uuid4().hex
    env = {
        k: v for k, v in os.environ.items()
        if not k.startswith(("BYBIT_", "LOAN_WIDGETS_", "JUPYTER", "IPYTHON", "JPY_", "MAKE"))
    }
    env.update(
        BROWSER="true",
        JUPYTER_TOKEN=token,
        JUPYTER_CONFIG_DIR=str(tmp_path / "config"),
        JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
        IPYTHONDIR=str(tmp_path / "ipython"),
        LOAN_WIDGETS_LEDGER=str(tmp_path / "ledger.sqlite3"),
        LOAN_WIDGETS_SANDBOX_SEED="0",  # private sandboxes: nothing outlives the test
        LOAN_WIDGETS_SANDBOX_HOME=str(tmp_path / "sandbox"),
        PYTHONUNBUFFERED="1",
    )
    log = tmp_path / f"{target}.log"
    argv = ["make", target, *(f"{k}={v}" for k, v in variables.items())]
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield proc, log, token
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)  # make, the server, and what it started
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        print(log.read_text(errors="replace"))


def _run_in_kernel(connection_file: Path) -> None:
    """Run code in the kernel over its encrypted channels (CurveZMQ keys in the file)."""
    from jupyter_client import BlockingKernelClient

    deadline = time.monotonic() + 60
    while not connection_file.exists():
        assert time.monotonic() < deadline, f"no {connection_file}"
        time.sleep(0.2)
    info = json.loads(connection_file.read_text())
    assert info["transport"] == "tcp" and info.get("curve_publickey"), sorted(info)
    client = BlockingKernelClient(connection_file=str(connection_file))
    client.load_connection_file()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=60)
        outputs: list[str] = []
        reply = client.execute_interactive(
            "print(6 * 7)", timeout=60,
            output_hook=lambda msg: outputs.append(msg["content"].get("text", "")),
        )
    finally:
        client.stop_channels()
    assert reply["content"]["status"] == "ok" and "42" in "".join(outputs)


def _state(base: str, token: str, kernel: str) -> str:
    return str(json.loads(_get(f"{base}/api/kernels/{kernel}", token)[1])["execution_state"])


def _noise(log: Path) -> list[str]:
    return [line for line in log.read_text(errors="replace").splitlines() if NOISE.search(line)]


class TestQuietStart:
    """Both servers log no deprecation, no untrusted notebook, no warning."""

    def test_make_lab_is_quiet(self, tmp_path: Path) -> None:
        """JupyterLab: open the quickstart, start its kernel, load the page; nothing to warn."""
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        with _make("lab", tmp_path, LAB_PORT=str(port)) as (proc, log, token):
            _wait(f"{base}/api/status", token, proc, log)
            status, body = _get(f"{base}/api/contents/quickstart.ipynb?content=1", token)
            assert status == 200 and json.loads(body)["type"] == "notebook"
            session = {"path": "quickstart.ipynb", "type": "notebook", "name": "",
                       "kernel": {"name": "python3"}}
            status, body = _get(f"{base}/api/sessions", token, json.dumps(session).encode())
            assert status == 201
            kernel = json.loads(body)["kernel"]["id"]
            _run_in_kernel(tmp_path / "runtime" / f"kernel-{kernel}.json")
            deadline = time.monotonic() + 60  # the server follows the kernel's iopub too
            while _state(base, token, kernel) != "idle":
                assert time.monotonic() < deadline, "the server never saw the kernel idle"
                time.sleep(0.3)
            assert _get(f"{base}/lab", token)[0] == 200
            time.sleep(1)  # let the last log lines arrive
        text = log.read_text(errors="replace")
        assert "jupyter lab" in text and ("Signing notebook" in text or "already signed" in text)
        assert not _noise(log), "\n".join(_noise(log))

    def test_make_app_is_quiet(self, tmp_path: Path) -> None:
        """Voila: load the app page, which runs widget.ipynb in a fresh kernel; nothing to warn."""
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        with _make("app", tmp_path, APP_PORT=str(port)) as (proc, log, _):
            _wait(f"{base}/voila/static/voila.js", "", proc, log)
            status, page = _get(f"{base}/", timeout=180)
            assert status == 200 and b"BorrowWidget" in page, page[-2000:]
            time.sleep(2)  # the kernel's first log lines come as the page finishes
        text = log.read_text(errors="replace")
        assert "voila" in text and "Kernel started" in text
        assert not _noise(log), "\n".join(_noise(log))
