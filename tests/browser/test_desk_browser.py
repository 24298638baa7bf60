"""LoanDesk in a real browser: JupyterLab and the Voila app, Chromium driven by Playwright.

The kernels run the embedded sandbox (the default network); their ledger is the server's
``LOAN_WIDGETS_LEDGER``, read here after the clicks. Prices are moved from the page through
the sandbox market panel; the desk picks them up on its own timer, with no cell re-run. Every
request the page makes must stay on loopback: the chart library draws with no CDN.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import nbformat
import pytest
from playwright.sync_api import Page, Request, expect

from loan_widgets.ledger import Ledger

from .jupyter_harness import (
    NOTEBOOKS,
    JupyterEnv,
    JupyterServer,
    make_notebook,
    open_notebook,
    run_all_cells,
)

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
# The README's screenshot is refreshed only on request (LOAN_WIDGETS_UPDATE_SCREENSHOT=1);
# otherwise it goes to the test artefacts, so a test run never edits tracked files.
SCREENSHOT = (
    REPO / "notebooks" / "img" / "loan-desk.png"
    if os.environ.get("LOAN_WIDGETS_UPDATE_SCREENSHOT") == "1"
    else REPO / ".test-artifacts" / "browser" / "loan-desk.png"
)
LOOPBACK = re.compile(r"^(https?|wss?)://(127\.0\.0\.1|localhost)(:\d+)?/|^(data|blob):")
# Voila's own page template links Font Awesome's stylesheets on a CDN (its JavaScript bundles
# the same icons, so an offline page loses nothing): the only outside requests allowed.
VOILA_TEMPLATE = re.compile(r"^https://cdn\.jsdelivr\.net/npm/@fortawesome/fontawesome-free@")
ORDER_ID = re.compile(r"order (\d{19})")

def desk_notebook(ledger: str) -> nbformat.NotebookNode:
    """Two loans and a live desk, with the market panel; the kernel's ledger is ``ledger``
    in the server's root (the session's ledger is shared with the other browser tests, whose
    sandboxes hand out the same seeded order ids)."""
    return make_notebook(
        "import os\n"
        f"os.environ['LOAN_WIDGETS_LEDGER'] = os.path.abspath({ledger!r})\n"
        "from loan_widgets import LoanClient, LoanDesk\n"
        "client = LoanClient()\n"
        "loans = [client.borrow('USDT', '550', 'BTC'), client.borrow('USDT', '1100', 'BTC')]\n"
        "desk = LoanDesk(client, interval=1)\n"
        "desk",
        "from loan_widgets.desk import SandboxMarket\nSandboxMarket()",
    )


def _watch_requests(page: Page) -> list[str]:
    """Every URL the page requests that is not on loopback (must stay empty)."""
    outside: list[str] = []

    def seen(request: Request) -> None:
        if not LOOPBACK.match(request.url) and not VOILA_TEMPLATE.match(request.url):
            outside.append(request.url)

    page.on("request", seen)
    return outside


def _set_btc(page: Page, price: str) -> None:
    market = page.locator(".lw-sandbox-market").first
    market.locator(".lw-market-btc input").fill(price)
    market.locator("button.lw-market-set-btc").click()
    expect(market).to_contain_text(f"BTC set to {price} USDT")


def _repay_in_page(page: Page, order_id: str, amount: str) -> None:
    """Choose the loan, Repay, type the amount, press the button; wait for the answer."""
    desk = page.locator(".lw-loan-desk").first
    select = desk.locator(".lw-desk-target select")
    option = select.locator("option", has_text=order_id[-6:])
    select.select_option(label=option.inner_text().strip())
    repay = desk.locator(".lw-desk-action button", has_text=re.compile(r"^\s*Repay\s*$"))
    repay.click()
    desk.locator(".lw-desk-amount input").fill(amount)
    go = desk.locator("button.lw-desk-go")
    expect(go).to_contain_text(f"Repay {amount} USDT", timeout=15_000)
    expect(go).to_be_enabled()
    go.click()
    expect(desk.locator(".lw-desk-action-status")).to_contain_text("Done: Repay", timeout=30_000)


def _repay_row(ledger: Path, order_id: str, amount: str) -> None:
    rows = [r for r in Ledger(ledger).rows() if r.action == "repay" and r.ref_id == order_id]
    assert len(rows) == 1, rows
    row = rows[0]
    assert (row.status, row.source, row.network, str(row.loan_amount)) == (
        "accepted", "desk", "sandbox", amount)
    assert row.order_id and row.order_id.isdigit()


class TestLoanDeskInBrowser:
    """The desk shows loans, follows the sandbox's prices by itself and repays from the page."""

    def test_desk_in_jupyterlab(self, jupyter_server: JupyterServer, page: Page) -> None:
        """Two loans; BTC to 60,000 from the market panel shows up alone; a repay lands."""
        outside = _watch_requests(page)
        path = jupyter_server.add_notebook(desk_notebook("desk-ledger.sqlite3"), "loan-desk.ipynb")
        ledger = jupyter_server.root_dir / "desk-ledger.sqlite3"
        open_notebook(page, jupyter_server, path)
        run_all_cells(page)
        desk = page.locator(".lw-loan-desk").first
        expect(desk).to_be_visible(timeout=60_000)
        expect(desk.locator(".lw-desk-badge")).to_contain_text("SANDBOX")
        table = desk.locator(".lw-desk-table")
        expect(table.locator("tr.lw-row")).to_have_count(2, timeout=30_000)
        expect(table).to_contain_text("80.00 %")
        expect(desk.locator(".lw-desk-status")).to_contain_text("live")
        # bqplot draws the history once two refreshes are in, from its bundled lab extension
        expect(desk.locator(".lw-chart path.line").first).to_be_attached(timeout=30_000)

        _set_btc(page, "60000")  # no cell runs: the desk's own refresh brings the new LTV
        expect(table).to_contain_text("86.67 %", timeout=20_000)
        expect(table).to_contain_text("60,000")
        expect(desk.locator(".lw-desk-notice")).to_contain_text("reached the alert",
                                                                timeout=20_000)
        expect(table.locator("tr.lw-alerting").first).to_be_visible()

        ledger_rows = Ledger(ledger).rows()
        order_id = next(r.order_id for r in reversed(ledger_rows)  # the 550 USDT loan
                        if r.action == "borrow" and r.source == "api"
                        and str(r.loan_amount) == "550")
        assert order_id is not None
        _repay_in_page(page, order_id, "100")
        _repay_row(ledger, order_id, "100")
        expect(table).to_contain_text("450", timeout=20_000)
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.set_viewport_size({"width": 1280, "height": 1900})  # the whole desk in view
        desk.scroll_into_view_if_needed()
        desk.screenshot(path=str(SCREENSHOT))
        assert SCREENSHOT.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert not outside, outside

    def test_app_in_voila(self, voila_server, page: Page) -> None:
        """``make app``'s notebook: borrow, watch the desk follow the price, repay: one page."""
        outside = _watch_requests(page)
        server = voila_server(NOTEBOOKS / "app.ipynb")
        page.goto(server.url, timeout=60_000)
        desk = page.locator(".lw-loan-desk")
        expect(desk).to_be_visible(timeout=60_000)
        expect(desk.locator(".lw-desk-table")).to_contain_text("No open loans")
        assert Ledger(server.ledger_path).rows() == []  # the app places no order on load

        form = page.locator(".lw-borrow-widget")
        form.locator(".lw-loan-amount input").fill("550")
        button = form.locator("button.lw-borrow")
        expect(button).to_contain_text("Borrow 550 USDT", timeout=15_000)
        button.click()
        status = form.locator(".lw-status")
        expect(status).to_contain_text(ORDER_ID, timeout=30_000)
        match = ORDER_ID.search(status.inner_text())
        assert match is not None
        order_id = match.group(1)
        table = desk.locator(".lw-desk-table")
        expect(table).to_contain_text(order_id[-6:], timeout=20_000)
        expect(table).to_contain_text("80.00 %")

        _set_btc(page, "58500")
        expect(table).to_contain_text("88.89 %", timeout=20_000)  # margin call (87 %)
        expect(table.locator("tr.lw-risk-margin-call")).to_have_count(1)

        _repay_in_page(page, order_id, "50")
        _repay_row(server.ledger_path, order_id, "50")
        expect(desk.locator(".lw-chart path.line").first).to_be_attached(timeout=30_000)
        assert not outside, outside

    def test_chart_draws_from_a_saved_notebook(self, jupyter_server: JupyterServer,
                                               jupyter_env: JupyterEnv, page: Page) -> None:
        """Saved with its widget state, the notebook shows the LTV chart again, nothing re-run."""
        settings = jupyter_env.settings_dir / "@jupyter-widgets" / "jupyterlab-manager"
        settings.mkdir(parents=True, exist_ok=True)
        settings_file = settings / "plugin.jupyterlab-settings"
        settings_file.write_text(json.dumps({"saveState": True}), encoding="utf-8")
        outside = _watch_requests(page)
        try:
            path = jupyter_server.add_notebook(desk_notebook("saved-desk-ledger.sqlite3"),
                                               "saved-desk.ipynb")
            open_notebook(page, jupyter_server, path)
            run_all_cells(page)
            chart = page.locator(".lw-loan-desk .lw-chart path.line")
            expect(chart.first).to_be_attached(timeout=30_000)
            page.locator(".jp-NotebookPanel-toolbar [data-command='docmanager:save']").click()
            saved = jupyter_server.root_dir / path
            state = "application/vnd.jupyter.widget-state+json"
            for _ in range(100):
                if state in saved.read_text(encoding="utf-8"):
                    break
                page.wait_for_timeout(100)
            assert state in saved.read_text(encoding="utf-8")
            jupyter_server.delete_sessions()
            page.goto(jupyter_server.lab_url(path))
            page.locator(".jp-NotebookPanel .jp-Notebook").first.wait_for()
            expect(page.locator(".lw-loan-desk .lw-chart path.line").first).to_be_attached(
                timeout=30_000)
            expect(page.locator(".jp-CodeCell .jp-InputArea-prompt").first).not_to_contain_text(
                "*")
        finally:
            settings_file.unlink()
        assert not outside, outside
