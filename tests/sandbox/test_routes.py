"""The sandbox's route table is the endpoint table, and every docs link is a real page."""

from __future__ import annotations

import subprocess
import sys
from urllib.parse import unquote

from support import FIXTURES

from loan_widgets.endpoints import ENDPOINTS, NEW_API_ENDPOINTS
from loan_widgets.sandbox.routes import ROUTES

DOCS = "https://bybit-exchange.github.io/docs/v5/"
OUTSIDE_THE_REFERENCE = {"tickers"}  # market data the reference does not cover


def _pages() -> set[str]:
    lines = (FIXTURES / "bybit-docs-pages.txt").read_text().splitlines()
    return {line for line in lines if line and not line.startswith("#")}


class TestRoutes:
    """Routes are declared once, from endpoints.py."""

    def test_served_routes_equal_the_endpoint_table(self) -> None:
        """Every endpoint is served at its path and method, and nothing else is."""
        served = {(r.endpoint.name, r.endpoint.method, path) for path, r in ROUTES.items()}
        assert served == {(e.name, e.method, e.path) for e in ENDPOINTS.values()}
        assert all(ROUTES[e.path].endpoint is e for e in ENDPOINTS.values())

    def test_handlers_are_functions(self) -> None:
        """Each route names its handler as a function, not a method-name string."""
        assert all(callable(r.handler) and callable(r.book) for r in ROUTES.values())

    def test_new_api_is_complete(self) -> None:
        """The 28 pages of Crypto Loan (New) plus the two available-inventory pages."""
        assert len(NEW_API_ENDPOINTS) == 30
        assert len({e.path for e in NEW_API_ENDPOINTS}) == 30

    def test_importing_a_module_changes_no_other(self) -> None:
        """Importing the new API's book first or last gives the same route table."""
        code = ("import loan_widgets.sandbox.{first}\n"
                "from loan_widgets.sandbox.routes import ROUTES\n"
                "print(sorted(ROUTES))")
        outputs = {subprocess.run([sys.executable, "-c", code.format(first=first)],
                                  capture_output=True, text=True, check=True).stdout
                   for first in ("new_api", "legacy", "gateway")}
        assert len(outputs) == 1


class TestDocsLinks:
    """Each endpoint's docs link points at a page the API reference names."""

    def test_every_link_is_a_known_page(self) -> None:
        """``docs/v5/<link>.mdx`` is in the reference's list of pages."""
        pages = _pages()
        for endpoint in ENDPOINTS.values():
            if endpoint.name in OUTSIDE_THE_REFERENCE:
                continue
            assert endpoint.doc.startswith(DOCS), endpoint.name
            page = "docs/v5/" + unquote(endpoint.doc.removeprefix(DOCS)) + ".mdx"
            assert page in pages, (endpoint.name, page)

    def test_max_loan_links_max_loan_amt(self) -> None:
        """max-loan's page is max-loan-amt (there is no max-loan page)."""
        assert ENDPOINTS["new_max_loan"].doc == DOCS + "new-crypto-loan/max-loan-amt"
