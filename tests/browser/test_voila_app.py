"""``make app``: notebooks/widget.ipynb served by Voila and used in a real browser.

Voila runs the committed notebook top to bottom in a fresh kernel (with its own sandbox and
the server's ``LOAN_WIDGETS_LEDGER``) and shows its outputs: the app's form first, then the
walkthrough's form and prints. The test uses the app's form the way a person would.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from loan_widgets.ledger import Ledger

from .jupyter_harness import NOTEBOOKS

pytestmark = pytest.mark.browser

APP = NOTEBOOKS / "widget.ipynb"
ORDER_ID = re.compile(r"order (\d{19})")
STDERR = ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"


def test_widget_notebook_as_a_voila_app(voila_server, page: Page) -> None:
    """Type a loan amount, click Borrow: the order id shows and the ledger has the row."""
    server = voila_server(APP)
    page.goto(server.url, timeout=60_000)

    forms = page.locator(".lw-borrow-widget")
    expect(forms).to_have_count(2, timeout=60_000)  # the app's form, the walkthrough's form
    # The walkthrough ran to its end on page load, without an error, and borrowed on the sandbox.
    expect(page.get_by_text(re.compile(r"last order id: \d{19}"))).to_be_visible(timeout=60_000)
    expect(page.get_by_text("terms offered: ('flexible',)")).to_be_visible(timeout=60_000)
    expect(page.locator(STDERR)).to_have_count(0)
    expect(page.get_by_text("w.rearm_after = 0")).not_to_be_visible()  # an app: code is hidden
    walkthrough_ids = set(re.findall(r"\d{19}", forms.nth(1).inner_text()))

    form = forms.first
    expect(form.locator(".lw-badge")).to_contain_text("SANDBOX")
    form.locator(".lw-loan-amount input").fill("550")
    expect(form.locator(".lw-preview")).to_contain_text("0.01057693 BTC", timeout=15_000)
    button = form.locator("button.lw-borrow")
    expect(button).to_be_enabled()
    expect(button).to_contain_text("Borrow 550 USDT")
    button.click()

    status = form.locator(".lw-status")
    expect(status).to_contain_text(ORDER_ID, timeout=30_000)
    match = ORDER_ID.search(status.inner_text())
    assert match is not None
    order_id = match.group(1)
    assert order_id not in walkthrough_ids
    expect(form.locator(".lw-orders")).to_contain_text(order_id)

    ledger = Ledger(server.ledger_path)
    rows = [r for r in ledger.rows() if r.order_id == order_id]
    assert len(rows) == 1, ledger.rows()
    row = rows[0]
    assert (row.source, row.status, row.network) == ("widget", "accepted", "sandbox")
    assert (row.loan_currency, str(row.loan_amount), row.collateral_currency, row.term) == (
        "USDT",
        "550",
        "BTC",
        "flexible",
    )
    # The walkthrough's three orders went to the same ledger, also from a widget.
    widget_rows = [r for r in ledger.rows() if r.source == "widget" and r.status == "accepted"]
    assert len(widget_rows) == 4
