"""Fixtures for the real-browser tests: JupyterLab, Voila and a headless Chromium page.

Every test in this folder is marked ``browser`` and is skipped only when ``/usr/bin/chromium``
is missing (``.ci/run`` installs it). Typical use::

    from .jupyter_harness import make_notebook, open_notebook, run_all_cells

    def test_something(jupyter_server, page):
        path = jupyter_server.add_notebook(make_notebook("import ipywidgets"), "x.ipynb")
        open_notebook(page, jupyter_server, path)
        run_all_cells(page)

    def test_in_voila(voila_server, page):
        server = voila_server(NOTEBOOKS / "widget.ipynb")  # from .jupyter_harness
        page.goto(server.url)

``jupyter_server.ledger_path`` and ``server.ledger_path`` are the ``LOAN_WIDGETS_LEDGER`` files of
the kernels. The JupyterLab server is shared by the whole session (its ledger too); each Voila
server gets a ledger of its own. A failing test leaves a screenshot and the server logs in
``.test-artifacts/browser/``.
"""

from __future__ import annotations

import contextlib
import re
import shutil
from collections.abc import Callable, Generator, Iterator, Mapping
from pathlib import Path

import nbformat
import pytest
from playwright.sync_api import BrowserContext, Page, Playwright, sync_playwright

from .jupyter_harness import CHROMIUM, CHROMIUM_ARGS, JupyterEnv, JupyterServer, VoilaServer

HERE = Path(__file__).parent
ARTIFACTS = HERE.parent.parent / ".test-artifacts" / "browser"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test under this folder ``browser``."""
    for item in items:
        if HERE in Path(item.path).parents:
            item.add_marker(pytest.mark.browser)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Keep each phase's report on the item, so fixtures can tell that the test failed."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


def _failed(request: pytest.FixtureRequest) -> bool:
    report = getattr(request.node, "rep_call", None)
    return report is not None and report.failed


def _artifact_name(request: pytest.FixtureRequest) -> str:
    return re.sub(r"[^\w.-]+", "_", request.node.nodeid.split("::", 1)[-1])


# --------------------------------------------------------------------------- servers


@pytest.fixture(scope="session")
def chromium_executable() -> Path:
    """``/usr/bin/chromium``; the test is skipped when it is missing."""
    if not CHROMIUM.exists():
        pytest.skip(
            f"{CHROMIUM} not found: browser tests need Debian's chromium "
            "(apt-get install chromium; .ci/run does it)"
        )
    return CHROMIUM


@pytest.fixture(scope="session")
def jupyter_env(tmp_path_factory: pytest.TempPathFactory, chromium_executable: Path) -> JupyterEnv:
    """Isolated JUPYTER_* and IPYTHONDIR folders shared by every server of the session."""
    return JupyterEnv(tmp_path_factory.mktemp("jupyter-env"))


@pytest.fixture(scope="session")
def jupyter_server(
    tmp_path_factory: pytest.TempPathFactory,
    jupyter_env: JupyterEnv,
    request: pytest.FixtureRequest,
) -> Iterator[JupyterServer]:
    """A token-less JupyterLab server for the whole session, root in a temporary folder.

    ``add_notebook(src, name=None) -> path`` puts a notebook into its root, ``lab_url(path)``
    is the page to open, ``ledger_path`` is the kernels' ``LOAN_WIDGETS_LEDGER``.
    """
    base = tmp_path_factory.mktemp("jupyterlab")
    root = base / "root"
    root.mkdir()
    server = JupyterServer.start(jupyter_env, root, ledger=base / "ledger.sqlite3")
    try:
        yield server
    finally:
        server.stop()
        _keep_log(server.log_path, failed=request.session.testsfailed > 0, prefix="session")


VoilaFactory = Callable[..., VoilaServer]


@pytest.fixture
def voila_server(
    tmp_path: Path, jupyter_env: JupyterEnv, request: pytest.FixtureRequest
) -> Iterator[VoilaFactory]:
    """A factory: ``voila_server(notebook, name=None, env=None) -> VoilaServer``.

    ``notebook`` is a path (copied) or a ``NotebookNode`` (written, ``name`` defaults to
    ``app.ipynb``) put into a temporary folder; ``env`` adds variables for the kernel. Open
    ``server.url`` in the page; ``server.ledger_path`` is the kernel's ledger. Every server
    started is stopped at the end of the test.
    """
    started: list[VoilaServer] = []

    def start(
        notebook: Path | str | nbformat.NotebookNode,
        name: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> VoilaServer:
        folder = tmp_path / f"voila-{len(started)}"
        folder.mkdir()
        if isinstance(notebook, (str, Path)):
            dest = folder / (name or Path(notebook).name)
            shutil.copyfile(notebook, dest)
        else:
            dest = folder / (name or "app.ipynb")
            nbformat.write(notebook, dest)
        server = VoilaServer.start(jupyter_env, dest, folder / "ledger.sqlite3", env)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
        _keep_log(server.log_path, failed=_failed(request), prefix=_artifact_name(request))


def _keep_log(log: Path, failed: bool, prefix: str = "") -> None:
    if failed and log.exists():
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(log, ARTIFACTS / f"{prefix}-{log.name}")


# --------------------------------------------------------------------------- browser


@pytest.fixture(scope="module")
def playwright_instance(chromium_executable: Path) -> Iterator[Playwright]:
    """One Playwright driver per test module: its sync API runs an asyncio loop in this
    thread, which must be gone before tests that run a loop of their own."""
    with sync_playwright() as p:
        yield p


@pytest.fixture
def page(
    playwright_instance: Playwright,
    chromium_executable: Path,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> Iterator[Page]:
    """A page in a fresh headless Chromium profile; screenshot to ``.test-artifacts`` on failure."""
    context: BrowserContext = playwright_instance.chromium.launch_persistent_context(
        str(tmp_path / "chromium-profile"),
        executable_path=str(chromium_executable),
        headless=True,
        args=CHROMIUM_ARGS,
        viewport={"width": 1280, "height": 900},
    )
    context.set_default_timeout(30_000)
    page = context.pages[0] if context.pages else context.new_page()
    try:
        yield page
    finally:
        if _failed(request):
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(Exception):
                page.screenshot(path=str(ARTIFACTS / f"{_artifact_name(request)}.png"))
        context.close()
