"""A planted HMAC secret and a planted RSA private key never show up in anything produced.

Two credentials are planted: ``PLANTED_KEY`` with the HMAC secret ``PLANTED_SECRET``, and a
freshly generated RSA key whose PEM file is given through ``BYBIT_API_PRIVATE_KEY_FILE``.
Every entry point is then driven with each: the magics (borrow, repay, collateral, loans,
dry runs, refusals, lost answers, reconcile, ``%config``), the widget (type, click, refusal,
lost answer), reprs of client, credentials, results and errors, root logging at DEBUG, and a
notebook executed in a real kernel and saved with its widget state.

The BorrowWidget and the LoanDesk are also driven with a keyring profile picked in their
headers (``TestProfileChosen``), and their saved state scanned.

Every artefact is scanned for the secret, for slices of the PEM's base64 body, for the
private exponent (decimal and hex) and for the two full API keys (only masked forms may
appear). Each test also checks that the artefacts hold what the session produced (order ids,
retCodes, widget state, log records, ledger rows), so an empty scan cannot pass.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ipywidgets
import nbformat
import pytest
from IPython.utils.capture import capture_output
from nbclient import NotebookClient
from support import PLANTED_KEY, PLANTED_SECRET, keyring_env, store_profile
from support.scan import (
    RSA_KEY,
    PlantedRsa,
    Scan,
    every_repr,
    ledger_bytes,
    make_planted_rsa,
    needles_for,
    widget_state,
)

from loan_widgets import LoanClient, LoanWidgetsError
from loan_widgets.credentials import mask
from loan_widgets.ledger import default_ledger
from loan_widgets.sandbox import Sandbox

BORROW = "/v5/crypto-loan/borrow"


@pytest.fixture(scope="module")
def planted_rsa() -> PlantedRsa:
    """One RSA key for the module, with needles cut from its PEM body and its numbers."""
    return make_planted_rsa()


# --------------------------------------------------------------------------- in this process


MAGIC_CELLS = [
    "r = %borrow USDT 550 BTC",
    "r",
    "%borrow USDT 550 BTC --dry-run",
    "%repay {r.order_id} 10",
    "%repay {r.order_id} 10 --dry-run",
    "%collateral add {r.order_id} 0.001",
    "%collateral add {r.order_id} 0.001 --dry-run",
    "%collateral reduce {r.order_id}",
    "%loans",
    "%loans --history repayments",
    "%borrow USDT 5 BTC",
    "%borrow USDT 0 BTC",
    "%borrow USDT 550 BTC --bogus",
    "%repay {r.order_id} 1000000",
    "%config BorrowMagics",
    "%config",
    "%borrow --widget USDT 600 BTC",
    "%repay {r.order_id} --all",
    "%loans --history",
]


def run_cell(ip: Any, scan: Scan, cell: str) -> Any:
    """Run one cell; keep what it printed, displayed, returned (every format) and raised."""
    with capture_output() as captured:
        result = ip.run_cell(cell, store_history=False)
    scan.add("magic output", captured.stdout + captured.stderr)
    for output in captured.outputs:
        scan.add("magic output", output.data)
    if result.result is not None:
        every_repr(scan, result.result)
    if result.error_in_exec is not None:
        scan.add_error("exception texts", result.error_in_exec)
    return result


def magic_session(ip: Any, exchange: Sandbox, scan: Scan) -> None:
    """Every magic, including refusals, a lost answer and its reconciliation."""
    for cell in MAGIC_CELLS:
        run_cell(ip, scan, cell)
    exchange.faults.inject(BORROW, "drop")
    run_cell(ip, scan, "%borrow USDT 555 BTC")  # outcome unknown
    run_cell(ip, scan, "%borrow --reconcile")
    ip.run_line_magic("xmode", "Verbose")  # tracebacks with local variables
    try:
        run_cell(ip, scan, "import loan_widgets as lw\nlw.LoanClient().borrow('USDT', '5', 'BTC')")
    finally:
        ip.run_line_magic("xmode", "Context")


def widget_session(exchange: Sandbox, scan: Scan) -> Any:
    """Type, click: accepted, refused locally, refused by the exchange, lost."""
    from loan_widgets.widget import BorrowWidget

    w = BorrowWidget(client=LoanClient(network="testnet"))
    w.rearm_after = 0
    for value, fault in (
        ("600", None),
        ("5\x0050", None),
        ("601", {"kind": "retcode", "code": 177002}),
        ("602", {"kind": "drop"}),
    ):
        if fault:
            exchange.faults.inject(BORROW, **fault)
        w.loan_amount.value = value
        w.borrow_button.click()
        scan.add("widget", w.status)
        scan.add("widget state", ipywidgets.Widget.get_manager_state())
    for part in (w.status_html, w.badge, w.orders_html, w.preview, w.loan_hint):
        scan.add("widget", part.value)
    scan.add("widget", list(w.output.outputs))
    scan.add("widget", repr(w))
    return w


def reprs(scan: Scan, ip: Any) -> None:
    """The objects a user might print."""
    client = LoanClient(network="testnet")
    for obj in (client, client.credentials, client.settings, client.ledger, ip.user_ns["r"]):
        every_repr(scan, obj)
    magics = [m for m in ip.configurables if type(m).__name__ == "BorrowMagics"]
    scan.add("reprs", repr(magics))
    try:
        LoanClient(network="testnet", api_key=client.credentials.api_key, api_secret=None)
    except LoanWidgetsError as error:
        scan.add_error("exception texts", error)


@pytest.fixture
def closes_new_widgets() -> Iterator[None]:
    """Close every widget the test made (and only those) afterwards."""
    from ipywidgets.widgets.widget import _instances

    before = set(_instances)
    yield
    for model_id in set(_instances) - before:
        widget = _instances.get(model_id)
        if widget is not None:
            widget.close()


class TestScanner:
    """The scan finds what it looks for, so a clean result means something."""

    def test_finds_planted_leaks(self, planted_rsa) -> None:
        """The PEM (as saved JSON or joined), its numbers, the secret and the keys: all found."""
        scan = Scan(needles_for(planted_rsa))
        pem = planted_rsa.private_pem.decode()
        scan.add("notebook", json.dumps({"outputs": [pem]}))  # newlines become \\n
        scan.add("joined", "".join(pem.strip().splitlines()[1:-1]))
        scan.add("numbers", f"d={planted_rsa.private_exponent} ({planted_rsa.private_exponent:x})")
        scan.add("log", f"signing with {PLANTED_SECRET} for {PLANTED_KEY}/{RSA_KEY}")
        found = scan.leaks()
        assert {f.split(" in ")[0] for f in found} == set(needles_for(planted_rsa))
        assert {f.split(" in ")[1] for f in found} == {"notebook", "joined", "numbers", "log"}
        with pytest.raises(AssertionError):
            scan.assert_clean({"notebook"})


@pytest.mark.usefixtures("closes_new_widgets")
class TestPlantedCredentialsInProcess:
    """Magics, widget, reprs, errors, root logging and the ledger, with both planted keys."""

    def test_no_artefact_leaks(
        self, ip, exchange: Sandbox, monkeypatch, caplog, tmp_path: Path, planted_rsa
    ) -> None:
        """The secret, the PEM and the full keys appear nowhere; the artefacts are not empty."""
        caplog.set_level(logging.DEBUG)  # the root logger: every library's records
        exchange.add_credentials(RSA_KEY, public_key_pem=planted_rsa.public_pem)
        key_file = tmp_path / "planted-rsa.pem"
        key_file.write_bytes(planted_rsa.private_pem)
        scan = Scan(needles_for(planted_rsa))
        ip.run_line_magic("config", 'BorrowMagics.network = "testnet"')
        widgets_made = []
        for env in (
            {"BYBIT_API_KEY": PLANTED_KEY, "BYBIT_API_SECRET": PLANTED_SECRET},
            {"BYBIT_API_KEY": RSA_KEY, "BYBIT_API_PRIVATE_KEY_FILE": str(key_file)},
        ):
            for name in ("BYBIT_API_SECRET", "BYBIT_API_PRIVATE_KEY_FILE"):
                monkeypatch.delenv(name, raising=False)
            for name, value in env.items():
                monkeypatch.setenv(name, value)
            magic_session(ip, exchange, scan)
            widgets_made.append(widget_session(exchange, scan))
            reprs(scan, ip)
        for record in caplog.records:
            scan.add("log records", logging.Formatter().format(record))
            scan.add("log records", {k: repr(v) for k, v in vars(record).items()})
        ledger = default_ledger()
        scan.add("ledger file", ledger_bytes(ledger.path))
        ledger.close()
        scan.add("ledger file", ledger_bytes(ledger.path))

        # The scan saw a real session: both keys signed accepted orders, in every entry point.
        for key in (PLANTED_KEY, RSA_KEY):
            assert any(
                r.method == "POST" and r.headers.get("x-bapi-api-key") == key and r.ret_code == 0
                for r in exchange.requests
            ), f"no accepted POST signed by {mask(key)}"
        order_ids = [r.order_id for r in ledger.rows() if r.status == "accepted"]
        assert len(order_ids) >= 10
        outputs = scan.text("magic output")
        for expected in ("177009", "177010", "outcome unknown", "Dry run: nothing was sent",
                         "unrecognized arguments", mask(PLANTED_KEY), mask(RSA_KEY),
                         "BorrowMagics", order_ids[0]):
            assert expected in outputs, expected
        assert "Loan accepted" in scan.text("reprs")
        assert "accepted: " in scan.text("widget") and "unknown: " in scan.text("widget")
        assert "Accepted: order" in scan.text("widget state")
        assert all(w.last_order_id in scan.text("widget state") for w in widgets_made)
        assert "177009" in scan.text("exception texts")
        assert len(caplog.records) > 20 and "loanCurrency" in scan.text("ledger file")
        scan.assert_clean(
            {"magic output", "reprs", "exception texts", "widget", "widget state",
             "log records", "ledger file"}
        )


@pytest.mark.usefixtures("closes_new_widgets")
class TestProfileChosen:
    """The BorrowWidget and the LoanDesk acting for a keyring profile picked in their headers."""

    def test_widget_and_desk_state_leak_nothing(
        self, keyring_file, client: LoanClient, server, exchange: Sandbox, ledger, caplog,
        planted_rsa, tmp_path: Path,
    ) -> None:
        """Picked, borrowed (legacy, new API, refused, lost), desk refreshed and acted: the
        planted secret and the whole key are in no widget state, log, ledger or profiles file;
        the state holds the masked key, the profile and the orders."""
        from loan_widgets.desk import LoanDesk
        from loan_widgets.widget import BorrowWidget

        caplog.set_level(logging.DEBUG)
        store_profile("planted", "testnet", PLANTED_KEY, PLANTED_SECRET, host=server.base_url)
        store_profile("spare", "testnet", "SPAREKEY0003", "spare-secret-0003",
                      host=server.base_url)
        scan = Scan(needles_for(planted_rsa))
        w = BorrowWidget(client=client)
        w.rearm_after = 0
        w.profile_picker.value = "planted"
        for api, loan, pledge, fault in (
            ("legacy", "600", "", None),
            ("new", "550", "0.02", None),
            ("new", "5", "", None),  # refused by the form: below the minimum
            ("new", "560", "0.02", "drop"),  # executed, answer lost: held
        ):
            if fault:
                exchange.faults.inject("/v5/crypto-loan-flexible/borrow", fault)
            w.api_switch.value = api
            w.loan_amount.value = loan
            w.collateral_amount.value = pledge
            w.borrow_button.click()
            scan.add("widget state", ipywidgets.Widget.get_manager_state())
        desk = LoanDesk(client, live=False)
        desk.profile_picker.value = "planted"
        legacy = next(p.key for p in desk.snapshot.positions if p.kind == "legacy")
        desk.actions.select(legacy, "repay", "10")
        desk.actions.go.click()
        desk.refresh()
        for root in (w, desk):
            widget_state(scan, root)
        scan.add("widget state", ipywidgets.Widget.get_manager_state())
        for record in caplog.records:
            scan.add("log records", logging.Formatter().format(record))
            scan.add("log records", {k: repr(v) for k, v in vars(record).items()})
        scan.add("ledger file", ledger_bytes(ledger.path))

        # The scan saw a real session, signed with the profile's key.
        accepted = [r for r in exchange.requests if r.method == "POST" and r.ret_code == 0]
        assert {r.headers.get("x-bapi-api-key") for r in accepted} == {PLANTED_KEY}
        assert {r.path for r in accepted} >= {"/v5/crypto-loan/borrow", "/v5/crypto-loan/repay",
                                             "/v5/crypto-loan-flexible/borrow"}
        state = scan.text("widget state")
        for expected in ("profile <b>planted</b>", "PL***42", "planted · testnet · PL***42",
                         "spare · testnet · SP***03", "unknown: ", "Pool LTV",
                         desk.actions.last_result.id, *(r.order_id for r in ledger.rows()
                                                        if r.order_id)):
            assert expected in state, expected
        assert "loanCurrency" in scan.text("ledger file") and len(caplog.records) > 10
        scan.assert_clean({"widget state", "log records", "ledger file"})
        profiles_file = Scan({k: v for k, v in needles_for(planted_rsa).items()
                              if k != "HMAC API key (unmasked)"})
        profiles_file.add("profiles file", (tmp_path / "config" / "profiles.json").read_bytes())
        assert PLANTED_KEY in profiles_file.text("profiles file")  # the key id, by design
        profiles_file.assert_clean({"profiles file"})
        desk.close()


# --------------------------------------------------------------------------- a saved notebook


def start_sandbox(*args: str) -> tuple[subprocess.Popen[str], str]:
    """``python -m loan_widgets.sandbox --port 0 ARGS`` and its base URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "loan_widgets.sandbox", "--port", "0", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    assert line.startswith("BASE_URL=http://127.0.0.1:"), line
    return proc, line.removeprefix("BASE_URL=")


@dataclass
class Sandboxes:
    """Two sandbox processes: one knows the planted HMAC key, the other the planted RSA key."""

    procs: list[subprocess.Popen[str]]
    hmac_url: str
    rsa_url: str

    def stop(self) -> str:
        """Stop both; their stderr, to be scanned too."""
        logs = []
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
            logs.append(proc.communicate(timeout=10)[1])
        return "\n".join(logs)


@pytest.fixture
def sandboxes(tmp_path: Path, planted_rsa) -> Iterator[Sandboxes]:
    """The two sandbox processes, stopped after the test if it did not stop them."""
    public = tmp_path / "planted-rsa.pub.pem"
    public.write_bytes(planted_rsa.public_pem)
    procs: list[subprocess.Popen[str]] = []
    try:
        hmac_proc, hmac_url = start_sandbox(
            "--api-key", PLANTED_KEY, "--api-secret", PLANTED_SECRET
        )
        procs.append(hmac_proc)
        rsa_proc, rsa_url = start_sandbox("--api-key", RSA_KEY, "--rsa-public-key", str(public))
        procs.append(rsa_proc)
        yield Sandboxes(procs, hmac_url, rsa_url)
    finally:
        Sandboxes(procs, "", "").stop()


NOTEBOOK_CELLS = [
    "%load_ext loan_widgets",
    "r = %borrow USDT 550 BTC\nr",
    "%borrow USDT 550 BTC --dry-run",
    "%repay {r.order_id} 10",
    "%collateral add {r.order_id} 0.001",
    "%borrow USDT 5 BTC",
    "%loans",
    "%config BorrowMagics",
    "%config",
    "from loan_widgets import LoanClient\nclient = LoanClient()\nclient, client.credentials",
    "client.borrow('USDT', '5', 'BTC')",
    "%xmode Verbose\nclient.borrow('USDT', '6', 'BTC')",
    "%xmode Context",
    "from loan_widgets.widget import BorrowWidget\nw = BorrowWidget()\nw.rearm_after = 0\n"
    "w.loan_amount.value = '600'\nw.borrow_button.click()\nw",
    "w.loan_amount.value = '5\\x0050'\nw.borrow_button.click()\nw.status",
    # Switch this kernel to the planted RSA key, as a user changing keys would.
    "import os\nos.environ.pop('BYBIT_API_SECRET')\n"
    "os.environ['BYBIT_API_KEY'] = os.environ['PLANTED_RSA_KEY']\n"
    "os.environ['BYBIT_API_PRIVATE_KEY_FILE'] = os.environ['PLANTED_RSA_KEY_FILE']\n"
    "get_ipython().run_line_magic('config', "
    "f\"BorrowMagics.base_url = {os.environ['RSA_BASE_URL']!r}\")",
    "r2 = %borrow USDT 550 BTC\nr2",
    "%borrow USDT 550 BTC --dry-run",
    "%repay {r2.order_id} 10",
    "%borrow USDT 5 BTC",
    "rsa_client = LoanClient(base_url=os.environ['RSA_BASE_URL'])\n"
    "rsa_client, rsa_client.credentials",
    "w2 = BorrowWidget(client=rsa_client)\nw2.rearm_after = 0\n"
    "w2.loan_amount.value = '700'\nw2.borrow_button.click()\nw2",
    "w.status, w2.status",
]


class TestSavedNotebook:
    """A notebook run in a real kernel with both planted keys, saved with widget state."""

    def test_saved_notebook_leaks_nothing(
        self, tmp_path: Path, planted_rsa, sandboxes: Sandboxes
    ) -> None:
        """The .ipynb bytes, the kernel's ledger and the sandboxes' logs hold no needle."""
        hmac_url, rsa_url = sandboxes.hmac_url, sandboxes.rsa_url
        key_file = tmp_path / "planted-rsa.pem"
        key_file.write_bytes(planted_rsa.private_pem)
        ledger_path = tmp_path / "kernel-ledger.sqlite3"
        env = {
            **os.environ,
            "LOAN_WIDGETS_NETWORK": "testnet",
            "LOAN_WIDGETS_BASE_URL": hmac_url,
            "LOAN_WIDGETS_LEDGER": str(ledger_path),
            "BYBIT_API_KEY": PLANTED_KEY,
            "BYBIT_API_SECRET": PLANTED_SECRET,
            "PLANTED_RSA_KEY": RSA_KEY,
            "PLANTED_RSA_KEY_FILE": str(key_file),
            "RSA_BASE_URL": rsa_url,
        }
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell(source) for source in NOTEBOOK_CELLS]
        NotebookClient(
            nb,
            timeout=60,
            kernel_name="python3",
            allow_errors=True,
            store_widget_state=True,
            resources={"metadata": {"path": str(tmp_path)}},
        ).execute(env=env)
        saved = tmp_path / "session.ipynb"
        nbformat.write(nb, saved)
        scan = Scan(needles_for(planted_rsa))
        scan.add("saved notebook", saved.read_bytes())
        scan.add("kernel ledger file", ledger_bytes(ledger_path))

        state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
        assert len(state) > 20
        text = scan.text("saved notebook")
        for expected in ("Loan accepted", "177009", "Dry run: nothing was sent",
                         mask(PLANTED_KEY), mask(RSA_KEY), "ExchangeError", "BorrowMagics",
                         "Accepted: order", "widget-view+json", "RepayResult", "AdjustResult"):
            assert expected in text, expected
        errors = [o for c in nb.cells for o in c.outputs if o.output_type == "error"]
        assert {e.ename for e in errors} == {"ExchangeError"}  # the API's, with tracebacks
        assert text.count("UsageError: Bybit retCode 177009") == 2  # the magics', one line
        assert b"loanCurrency" in ledger_bytes(ledger_path)
        for url, key in ((hmac_url, PLANTED_KEY), (rsa_url, RSA_KEY)):  # both keys borrowed
            secret = PLANTED_SECRET if key == PLANTED_KEY else None
            private = planted_rsa.private_pem if key == RSA_KEY else None
            with LoanClient(
                network="testnet", base_url=url, api_key=key, api_secret=secret,
                private_key=private, ledger=default_ledger(),
            ) as reader:
                assert len(reader.ongoing_orders()) >= 2
        scan.add("sandbox logs", sandboxes.stop() or " ")
        scan.assert_clean({"saved notebook", "kernel ledger file", "sandbox logs"})


# --------------------------------------------------------------------------- keyring, real kernels


class StdinAnswers:
    """Answers a kernel's password prompts through its stdin channel, for chosen cells.

    nbclient turns stdin off; the hooks turn it on for the cells that have answers (and
    leave it off for the others, as a front end without input would) and reply to each
    ``input_request`` in turn, recording the prompt and whether it was a password.
    """

    def __init__(self, answers: dict[int, list[str]]) -> None:
        self.answers = answers
        self.prompts: list[tuple[str, bool]] = []
        self.client: NotebookClient | None = None
        self._task: asyncio.Task[None] | None = None

    def attach(self, client: NotebookClient) -> NotebookClient:
        """Hook into ``client`` (an nbclient NotebookClient)."""
        self.client = client
        client.on_cell_execute = self._before
        client.on_cell_executed = self._after
        return client

    async def _before(self, cell: Any, cell_index: int) -> None:
        kc = self.client.kc  # type: ignore[union-attr]
        kc.allow_stdin = cell_index in self.answers
        if kc.allow_stdin:
            self._task = asyncio.ensure_future(self._answer(kc, list(self.answers[cell_index])))

    async def _answer(self, kc: Any, answers: list[str]) -> None:
        for answer in answers:
            msg = await kc.get_stdin_msg(timeout=60)
            assert msg["header"]["msg_type"] == "input_request", msg["header"]
            self.prompts.append((msg["content"]["prompt"], msg["content"]["password"]))
            kc.input(answer)

    async def _after(self, cell: Any, cell_index: int, execute_reply: Any) -> None:
        if self._task is not None:
            task, self._task = self._task, None
            await asyncio.wait_for(task, timeout=10)  # every answer was asked for


def kernel_env(folder: Path, base_url: str) -> dict[str, str]:
    """A kernel's environment: no BYBIT_* at all, a file keyring and profiles under folder."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BYBIT_", "LOAN_WIDGETS_"))}
    env.update(keyring_env(folder))
    env.update(
        LOAN_WIDGETS_BASE_URL=base_url,
        LOAN_WIDGETS_LEDGER=str(folder / "kernel-ledger.sqlite3"),
        LOAN_WIDGETS_LOG=str(folder / "kernel.log"),
        IPYTHONDIR=str(folder / "ipython"),
    )
    return env


def run_notebook(cells: list[str], env: dict[str, str], folder: Path, name: str,
                 answers: dict[int, list[str]] | None = None) -> tuple[Any, StdinAnswers]:
    """Execute ``cells`` in a fresh kernel, widget state stored; saved as ``name``."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    stdin = StdinAnswers(answers or {})
    stdin.attach(NotebookClient(
        nb, timeout=60, kernel_name="python3", allow_errors=True, store_widget_state=True,
        resources={"metadata": {"path": str(folder)}},
    )).execute(env=env)
    nbformat.write(nb, folder / name)
    return nb, stdin


def outputs_text(nb: Any, index: int) -> str:
    return json.dumps(nb.cells[index].outputs)


LOGGING_CELL = (
    "import logging, os\n"
    "logging.basicConfig(filename=os.environ['LOAN_WIDGETS_LOG'], level=logging.DEBUG, force=True)"
)

SETUP_CELLS = [
    LOGGING_CELL,
    "%load_ext loan_widgets",
    "%loan_keys add testnet --network testnet",  # 2: answered through stdin
    "%loan_keys list",
    "%loan_keys add elsewhere --network testnet",  # 4: no stdin, as in a front end without it
    "from loan_widgets import LoanClient\n"
    "from loan_widgets.widget import BorrowWidget\n"
    "w = BorrowWidget(client=LoanClient(network='testnet'))\n"
    "w.rearm_after = 0\nw.loan_amount.value = '600'\nw.borrow_button.click()\nw",
    "w.status",
    "c = LoanClient(profile='testnet')\nc, c.credentials",
]

FRESH_CELLS = [
    LOGGING_CELL,
    "import os\nprint('BYBIT variables:', sorted(k for k in os.environ if k.startswith('BYBIT_')))",
    "%load_ext loan_widgets",
    "r = %borrow USDT 550 BTC --network testnet\nprint('ORDER', r.order_id)\nr",
    "%loans --network testnet",
    "from loan_widgets import LoanClient\n"
    "print('API ORDER', LoanClient(profile='testnet').borrow('USDT', '551', 'BTC').order_id)",
]


class TestKeyringInRealKernels:
    """%loan_keys add in one kernel, a borrow in a fresh one with no BYBIT_* variables."""

    def test_add_then_borrow_in_a_fresh_kernel(self, tmp_path: Path, planted_rsa) -> None:
        """Both notebooks (widget state saved), the prompts, the profiles file, the ledger, the
        logs and the sandbox's output hold no secret; the fresh kernel borrows with the key."""
        proc, url = start_sandbox("--api-key", PLANTED_KEY, "--api-secret", PLANTED_SECRET)
        sandbox = Sandboxes([proc], url, "")
        try:
            env = kernel_env(tmp_path, url)
            setup, stdin = run_notebook(SETUP_CELLS, env, tmp_path, "setup.ipynb",
                                        {2: [PLANTED_KEY, PLANTED_SECRET]})
            fresh, _ = run_notebook(FRESH_CELLS, env, tmp_path, "fresh.ipynb")
            with LoanClient(network="testnet", base_url=url, api_key=PLANTED_KEY,
                            api_secret=PLANTED_SECRET, ledger=default_ledger()) as reader:
                open_loans = reader.ongoing_orders()
        finally:
            sandbox_log = sandbox.stop()

        # What the session claims: masked prompts, a stored profile, three loans with the key.
        assert stdin.prompts == [("API key for profile 'testnet' (testnet): ", True),
                                 (f"API secret for key {mask(PLANTED_KEY)}: ", True)]
        assert "Stored profile 'testnet' for testnet" in outputs_text(setup, 2)
        assert "testnet (default)" in outputs_text(setup, 3)
        assert "python -m loan_widgets keys add NAME" in outputs_text(setup, 4)
        assert "accepted: " in outputs_text(setup, 6)
        assert "profile='testnet'" in outputs_text(setup, 7)
        assert "BYBIT variables: []" in outputs_text(fresh, 1)
        orders = [line.split()[-1] for line in outputs_text(fresh, 3).split("\\n")
                  if "ORDER" in line]
        assert len(orders) == 1 and len(orders[0].strip('"')) == 19
        assert "API ORDER" in outputs_text(fresh, 5)
        assert len(open_loans) == 3
        from keyrings.alt.file import PlaintextKeyring

        keyring_file = PlaintextKeyring()
        keyring_file.file_path = str(tmp_path / "data" / "python_keyring" / "keyring_pass.cfg")
        assert keyring_file.get_password("loan_widgets", "testnet") == PLANTED_SECRET
        state = setup.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
        assert len(state) > 20

        needles = needles_for(planted_rsa)
        needles["HMAC secret (base64)"] = base64.b64encode(PLANTED_SECRET.encode()).decode()
        scan = Scan(needles)
        scan.add("saved notebooks", (tmp_path / "setup.ipynb").read_bytes())
        scan.add("saved notebooks", (tmp_path / "fresh.ipynb").read_bytes())
        scan.add("prompts", json.dumps(stdin.prompts))
        scan.add("kernel log", (tmp_path / "kernel.log").read_bytes())
        scan.add("kernel ledger file", ledger_bytes(tmp_path / "kernel-ledger.sqlite3"))
        scan.add("sandbox logs", sandbox_log or " ")
        assert "loan_widgets" in scan.text("kernel log")
        scan.assert_clean({"saved notebooks", "prompts", "kernel log", "kernel ledger file",
                           "sandbox logs"})
        config = Scan({k: v for k, v in needles.items() if k != "HMAC API key (unmasked)"})
        config.add("profiles file", (tmp_path / "config" / "profiles.json").read_bytes())
        assert PLANTED_KEY in config.text("profiles file")  # the key id, by design
        config.assert_clean({"profiles file"})
