"""The ledger table fits the notebook in JupyterLab, with plain amounts.

A 1280 px wide window with the file browser open is about the narrowest notebook people use:
the output area there is about 850 px wide. ``loan_widgets.orders()`` after borrows, a refused
order, a repayment and a collateral adjustment must fit it without a horizontal scroll bar.
"""

from __future__ import annotations

from playwright.sync_api import Page

from .jupyter_harness import JupyterServer, make_notebook, open_notebook, run_all_cells

LEDGER_NOTEBOOK = make_notebook(
    (
        "import os, tempfile\n"
        "os.environ['LOAN_WIDGETS_LEDGER'] = os.path.join(tempfile.mkdtemp(), 'l.sqlite3')\n"
        "%load_ext loan_widgets"
    ),
    (
        "r = %borrow USDT 550 BTC\n"
        "%borrow USDT BTC --collateral-amount 0.1 --term 30\n"
        "%borrow ETH 2 USDC --term 7\n"
        "%repay {r.order_id} 100.12345678\n"
        "%collateral add {r.order_id} 0.002"
    ),
    (
        "from loan_widgets import LoanClient, ExchangeError\n"
        "try:\n"
        "    LoanClient().borrow('ETH', '0.00000001', 'BTC')\n"
        "except ExchangeError as error:\n"
        "    print('refused:', error.ret_code)"
    ),
    "import loan_widgets\nloan_widgets.orders()",
)

MEASURE = """() => {
    const outputs = Array.from(document.querySelectorAll('.jp-OutputArea-output'));
    const out = outputs.filter(o => o.querySelector('table.dataframe')).pop();
    const table = out.querySelector('table.dataframe');
    return {area: out.clientWidth, table: table.getBoundingClientRect().width,
            scroll: out.scrollWidth, text: out.innerText};
}"""


def test_ledger_table_fits_the_notebook(jupyter_server: JupyterServer, page: Page) -> None:
    """No horizontal scrolling at 1280 px with the file browser open; 0.00000001, never 1E-8."""
    path = jupyter_server.add_notebook(LEDGER_NOTEBOOK, "ledger-width.ipynb")
    open_notebook(page, jupyter_server, path)
    run_all_cells(page)
    assert page.locator(".jp-FileBrowser").first.is_visible()
    page.locator("table.dataframe").last.wait_for()
    seen = page.evaluate(MEASURE)
    assert seen["table"] <= seen["area"] and seen["scroll"] <= seen["area"], seen
    assert "0.00000001" in seen["text"] and "1E-8" not in seen["text"], seen["text"]
    assert "100.12345678" in seen["text"] and "order_id" in seen["text"]
    assert "columns shown; .full shows all" in seen["text"]
