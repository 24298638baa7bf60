"""The browser harness works end to end: a widget round trip in JupyterLab and in Voila.

A Button whose click handler sets an HTML widget's value: the click happens in Chromium, the
handler runs in the kernel, the new value comes back over the comm and shows in the DOM.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from .jupyter_harness import JupyterServer, make_notebook, open_notebook, run_all_cells

pytestmark = pytest.mark.browser

CLICK_NOTEBOOK = make_notebook(
    "import ipywidgets as w",
    (
        "out = w.HTML(value='<b>waiting</b>')\n"
        "button = w.Button(description='Press me')\n"
        "def on_click(_):\n"
        "    out.value = '<b>pressed 1</b>'\n"
        "button.on_click(on_click)\n"
        "w.VBox([button, out])"
    ),
)


def _click_and_check(page: Page) -> None:
    button = page.locator("button.widget-button", has_text="Press me")
    html = page.locator(".widget-html", has_text="waiting")
    expect(button).to_be_visible(timeout=30_000)
    expect(html).to_be_visible()
    button.click()
    expect(page.locator(".widget-html", has_text="pressed 1")).to_be_visible(timeout=15_000)
    expect(page.locator(".widget-html", has_text="waiting")).to_have_count(0)


def test_button_click_updates_html_in_jupyterlab(jupyter_server: JupyterServer, page: Page) -> None:
    """Run All in JupyterLab, then a click in the page changes the HTML widget's text."""
    path = jupyter_server.add_notebook(CLICK_NOTEBOOK, "click.ipynb")
    open_notebook(page, jupyter_server, path)
    run_all_cells(page)
    _click_and_check(page)


def test_button_click_updates_html_in_voila(voila_server, page: Page) -> None:
    """Voila runs the notebook on page load; a click changes the HTML widget's text."""
    server = voila_server(CLICK_NOTEBOOK, "click.ipynb")
    page.goto(server.url)
    _click_and_check(page)


def test_run_all_cells_reports_error_output(jupyter_server: JupyterServer, page: Page) -> None:
    """An exception in a cell makes run_all_cells fail with the traceback's text."""
    notebook = make_notebook("1 + 1", "raise ValueError('boom')")
    path = jupyter_server.add_notebook(notebook, "error.ipynb")
    open_notebook(page, jupyter_server, path)
    with pytest.raises(AssertionError, match="ValueError"):
        run_all_cells(page)
