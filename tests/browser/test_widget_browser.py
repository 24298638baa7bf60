"""BorrowWidget in a real browser: JupyterLab and Voila, Chromium driven by Playwright.

The notebook's kernel runs the embedded sandbox (the default network); the kernel's ledger is
the server's ``LOAN_WIDGETS_LEDGER``, read here after the click.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from support import PLANTED_KEY, PLANTED_SECRET, keyring_env

from loan_widgets.ledger import Ledger, LedgerRow

from .jupyter_harness import JupyterServer, make_notebook, open_notebook, run_all_cells

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
# The README's screenshot is refreshed only on request (LOAN_WIDGETS_UPDATE_SCREENSHOT=1);
# otherwise it goes to the test artefacts, so a test run never edits tracked files.
SCREENSHOTS = (
    REPO / "notebooks" / "img"
    if os.environ.get("LOAN_WIDGETS_UPDATE_SCREENSHOT") == "1"
    else REPO / ".test-artifacts" / "browser"
)
SCREENSHOT = SCREENSHOTS / "borrow-widget.png"
NEW_API_SCREENSHOT = SCREENSHOTS / "borrow-widget-new-api.png"

WIDGET_NOTEBOOK = make_notebook(
    "from loan_widgets import BorrowWidget\nw = BorrowWidget()\nw",
)
# A sandbox of the notebook's own (so it can script a fault): the next borrow is executed, then
# answered with retCode 10016, which does not prove it failed.
HELD_NOTEBOOK = make_notebook(
    "import json\n"
    "from loan_widgets import BorrowWidget, LoanClient\n"
    "from loan_widgets.sandbox import DEMO_API_KEY, DEMO_API_SECRET, Sandbox, SandboxServer\n"
    "exchange = Sandbox(seed=0)\n"
    "server = SandboxServer(exchange).start()\n"
    "client = LoanClient(network='sandbox', base_url=server.base_url, api_key=DEMO_API_KEY,\n"
    "                    api_secret=DEMO_API_SECRET)\n"
    "exchange.faults.inject('/v5/crypto-loan/borrow', 'bad_json', execute=True, body=json.dumps(\n"
    "    {'retCode': 10016, 'retMsg': 'Internal system error', 'result': {}, 'time': 1}))\n"
    "w = BorrowWidget(client=client)\nw",
)

# A profile stored in the kernel (file keyring, isolated config folder), bound to a sandbox of
# the kernel's own that knows its key.
PROFILE_NOTEBOOK = make_notebook(
    "from loan_widgets import BorrowWidget, keys\n"
    "from loan_widgets.sandbox import Sandbox, SandboxServer\n"
    f"exchange = Sandbox(seed=0)\nexchange.add_credentials({PLANTED_KEY!r}, "
    f"secret={PLANTED_SECRET!r})\n"
    "server = SandboxServer(exchange).start()\n"
    f"keys.add('tn', network='testnet', host=server.base_url, api_key={PLANTED_KEY!r},\n"
    f"         api_secret={PLANTED_SECRET!r}, check=False)\n"
    "w = BorrowWidget()\nw",
)
NEW_API_NOTEBOOK = make_notebook(
    "from loan_widgets import BorrowWidget\nw = BorrowWidget(api='new')\nw",
)

ORDER_ID = re.compile(r"order (\d{19})")
NEW_ORDER_ID = re.compile(r"order (\d+)")


def _borrow_in_page(page: Page, screenshot: Path | None = None, double: bool = False) -> str:
    """Type 550 USDT, check the estimate, pick 30 days, click Borrow; return the order id.

    ``double`` double-clicks Borrow instead: the second click must not send a second order.
    """
    widget = page.locator(".lw-borrow-widget")
    expect(widget).to_be_visible(timeout=60_000)
    expect(widget.locator(".lw-badge")).to_contain_text("SANDBOX")
    collateral = widget.locator(".lw-collateral-amount input")
    expect(collateral).to_have_attribute("placeholder", "or collateral to pledge")

    widget.locator(".lw-loan-amount input").fill("550")
    # 550 USDT / (0.8 × 65000 USDT/BTC), rounded up to 8 places
    expect(collateral).to_have_attribute("placeholder", "≈ 0.01057693", timeout=15_000)
    expect(widget.locator(".lw-preview")).to_contain_text("0.01057693 BTC")

    thirty = widget.locator(".lw-term button", has_text="30 days")
    thirty.click()
    expect(thirty).to_have_class(re.compile(r"mod-active"))
    expect(widget.locator(".lw-preview")).to_contain_text("over 30 days")
    expect(widget.locator(".lw-term button", has_text="90 days")).to_be_disabled()

    button = widget.locator("button.lw-borrow")
    expect(button).to_be_enabled()
    expect(button).to_contain_text("Borrow 550 USDT")
    if double:
        button.dblclick()
    else:
        button.click()
    status = widget.locator(".lw-status")
    expect(status).to_contain_text(ORDER_ID, timeout=30_000)
    match = ORDER_ID.search(status.inner_text())
    assert match is not None
    order_id = match.group(1)
    expect(widget.locator(".lw-orders")).to_contain_text(order_id)
    if screenshot is not None:  # the filled form, its preview and the accepted order
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        widget.screenshot(path=str(screenshot))
    return order_id


def _ledger_row(path: Path, order_id: str) -> LedgerRow:
    """The ledger's row for ``order_id``: a 30-day 550 USDT loan against BTC from the widget."""
    rows = [r for r in Ledger(path).rows() if r.order_id == order_id]
    assert len(rows) == 1
    row = rows[0]
    assert (row.source, row.status, row.network, row.term) == (
        "widget",
        "accepted",
        "sandbox",
        "30",
    )
    assert (row.loan_currency, str(row.loan_amount), row.collateral_currency) == (
        "USDT",
        "550",
        "BTC",
    )
    return row


class TestBorrowWidgetInBrowser:
    """The widget works where users use it: JupyterLab and Voila."""

    def test_borrow_in_jupyterlab(self, jupyter_server: JupyterServer, page: Page) -> None:
        """Type, see the estimate, pick 30 days, Borrow: the order id shows and is in the ledger."""
        path = jupyter_server.add_notebook(WIDGET_NOTEBOOK, "borrow-widget.ipynb")
        open_notebook(page, jupyter_server, path)
        run_all_cells(page)
        order_id = _borrow_in_page(page, screenshot=SCREENSHOT)
        _ledger_row(jupyter_server.ledger_path, order_id)
        assert SCREENSHOT.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    def test_borrow_in_voila(self, voila_server, page: Page) -> None:
        """Voila runs the notebook as an app; the same borrow lands in its kernel's ledger."""
        server = voila_server(WIDGET_NOTEBOOK, "borrow-widget.ipynb")
        page.goto(server.url, timeout=60_000)
        order_id = _borrow_in_page(page)
        _ledger_row(server.ledger_path, order_id)

    def test_double_click_borrows_once(self, voila_server, page: Page) -> None:
        """A real double click on Borrow (second click queued in the kernel) sends one order."""
        server = voila_server(WIDGET_NOTEBOOK, "borrow-widget.ipynb")
        page.goto(server.url, timeout=60_000)
        order_id = _borrow_in_page(page, double=True)
        page.wait_for_timeout(1_500)  # time for a second order to show up, if one were sent
        _ledger_row(server.ledger_path, order_id)
        assert len(Ledger(server.ledger_path).rows()) == 1
        expect(page.locator(".lw-borrow-widget .widget-output")).to_contain_text("ignored a click")

    def test_ambiguous_answer_holds_until_checked(self, voila_server, page: Page) -> None:
        """Executed, then 10016: 'may have been executed', Borrow held; Check the exchange
        finds the loan and gives Borrow back. One order in the ledger, accepted."""
        server = voila_server(HELD_NOTEBOOK, "held-widget.ipynb")
        page.goto(server.url, timeout=60_000)
        widget = page.locator(".lw-borrow-widget")
        expect(widget).to_be_visible(timeout=60_000)
        check = widget.locator("button.lw-reconcile")
        anyway = widget.locator("button.lw-send-anyway")
        expect(check).to_be_hidden()
        widget.locator(".lw-loan-amount input").fill("550")
        button = widget.locator("button.lw-borrow")
        expect(button).to_contain_text("Borrow 550 USDT", timeout=15_000)
        button.click()
        status = widget.locator(".lw-status")
        expect(status).to_contain_text("may have been executed", timeout=30_000)
        expect(button).to_be_disabled()
        expect(check).to_be_visible()
        expect(anyway).to_be_visible()
        widget.screenshot(path=str(REPO / ".test-artifacts" / "browser" / "held-widget.png"))
        widget.locator(".lw-loan-amount input").fill("551")  # a new amount does not release it
        expect(status).to_contain_text("may have been executed", timeout=15_000)
        expect(button).to_be_disabled()
        check.click()
        expect(status).to_contain_text("the order was executed", timeout=30_000)
        expect(status).to_contain_text(ORDER_ID)
        expect(button).to_be_enabled()
        expect(check).to_be_hidden()
        rows = Ledger(server.ledger_path).rows()
        assert [(r.status, r.source) for r in rows] == [("accepted", "widget")]

    def test_new_api_form_in_voila(self, voila_server, page: Page, tmp_path: Path) -> None:
        """The new API's form: the pool's LTV before and after a pledge, the rate that fills a
        14-day order now (the Use button), Borrow: a fixed order in the kernel's ledger."""
        server = voila_server(NEW_API_NOTEBOOK, "borrow-widget-new-api.ipynb",
                              env={"LOAN_WIDGETS_CONFIG_DIR": str(tmp_path / "no-profiles")})
        page.goto(server.url, timeout=60_000)
        widget = page.locator(".lw-borrow-widget")
        expect(widget).to_be_visible(timeout=60_000)
        expect(widget.locator(".lw-badge")).to_contain_text("new loan API")
        widget.locator(".lw-loan-amount input").fill("1000")
        widget.locator(".lw-collateral-amount input").fill("0.03")
        preview = widget.locator(".lw-preview")
        # 1000 USDT against 0.03 BTC (1,950 USD, counted at 1 in the first band): 51.28 %
        expect(preview).to_contain_text("after 51.28 %", timeout=15_000)
        expect(preview).to_contain_text("before 0 % (no debt)")
        widget.locator(".lw-term button", has_text="14 days").click()
        use = widget.locator("button.lw-use-rate")
        expect(use).to_have_text("Use 4.2 %", timeout=15_000)
        use.click()
        expect(widget.locator(".lw-annual-rate input")).to_have_value("0.042", timeout=15_000)
        expect(preview).to_contain_text("fills now")
        button = widget.locator("button.lw-borrow")
        expect(button).to_contain_text("Borrow 1,000 USDT")
        expect(button).to_be_enabled()
        NEW_API_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        widget.screenshot(path=str(NEW_API_SCREENSHOT))
        button.click()
        status = widget.locator(".lw-status")
        expect(status).to_contain_text("Accepted: order", timeout=30_000)
        match = NEW_ORDER_ID.search(status.inner_text())
        assert match is not None
        rows = [r for r in Ledger(server.ledger_path).rows() if r.order_id == match.group(1)]
        assert [(r.api, r.term, r.source, r.status, str(r.loan_amount)) for r in rows] == [
            ("new", "14", "widget", "accepted", "1000")]
        assert NEW_API_SCREENSHOT.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    def test_profile_picker_in_voila(self, voila_server, page: Page, tmp_path: Path) -> None:
        """A configured profile is offered beside the badge; picking it makes the widget act
        for it: TESTNET, its masked key, its host; the order lands in the ledger as testnet."""
        server = voila_server(PROFILE_NOTEBOOK, "profile-widget.ipynb",
                              env=keyring_env(tmp_path / "kernel-keys"))
        page.goto(server.url, timeout=60_000)
        widget = page.locator(".lw-borrow-widget")
        expect(widget).to_be_visible(timeout=60_000)
        badge = widget.locator(".lw-badge")
        expect(badge).to_contain_text("SANDBOX")
        picker = widget.locator(".lw-profile select")
        expect(picker).to_be_visible()
        picker.select_option(label="tn · testnet · PL***42")
        expect(badge).to_contain_text("TESTNET", timeout=15_000)
        expect(badge).to_contain_text("profile tn · key PL***42")
        expect(badge).not_to_contain_text(PLANTED_KEY)
        widget.locator(".lw-loan-amount input").fill("550")
        button = widget.locator("button.lw-borrow")
        expect(button).to_contain_text("Borrow 550 USDT", timeout=15_000)
        widget.screenshot(path=str(REPO / ".test-artifacts" / "browser" / "profile-widget.png"))
        button.click()
        status = widget.locator(".lw-status")
        expect(status).to_contain_text(ORDER_ID, timeout=30_000)
        match = ORDER_ID.search(status.inner_text())
        assert match is not None
        rows = [r for r in Ledger(server.ledger_path).rows() if r.order_id == match.group(1)]
        assert [(r.network, r.source, r.status) for r in rows] == [
            ("testnet", "widget", "accepted")]
