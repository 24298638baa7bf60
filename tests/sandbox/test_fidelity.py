"""As strict as Bybit: the docs' numbers, cursors, HTTP statuses and limits.

Each test names the docs' wording it follows (from the API reference).
"""

from __future__ import annotations

import http.client
from decimal import Decimal
from typing import ClassVar
from urllib.parse import quote

import pytest
from support.bybit import Api, Clock

from loan_widgets.sandbox import Sandbox, SandboxServer

BORROW = "/v5/crypto-loan/borrow"
ONGOING = "/v5/crypto-loan/ongoing-orders"
FLEX = "/v5/crypto-loan-flexible/"
HOUR = 3_600_000
BORROWED = 1_728_546_174_028  # the docs' completed-loan example


@pytest.fixture
def clock() -> Clock:
    return Clock(BORROWED)


@pytest.fixture
def sandbox(clock: Clock) -> Sandbox:
    return Sandbox(seed=0, clock=clock, new_api_rate_limits=False)


@pytest.fixture
def api(sandbox: Sandbox):
    with SandboxServer(sandbox) as served:
        client = Api(served)
        yield client
        client.close()


class TestInterestAndMaturity:
    """Hourly interest with the docs' rounding, charged per hour of server time."""

    # GET /v5/crypto-loan/borrow-history, the reference's L8 example
    DOC_ROW: ClassVar[dict[str, object]] = {
        "borrowTime": "1728546174028", "collateralCurrency": "BTC",
        "expirationTime": "1729148399000", "hourlyInterestRate": "0.0000010241",
        "initialCollateralAmount": "0.0494727", "initialLoanAmount": "1",
        "loanCurrency": "ETH", "loanTerm": "7", "orderId": "1793569729874260992",
        "repaidInterest": "0.00000515", "repaidPenaltyInterest": "0", "status": 1,
    }

    def _docs_loan(self, api: Api, sandbox: Sandbox, poll: bool) -> dict[str, object]:
        sandbox.next_ids.append("1793569729874260992")
        order_id = api.post(BORROW, {"loanCurrency": "ETH", "loanAmount": "1",
                                     "collateralCurrency": "BTC", "loanTerm": "7",
                                     "collateralAmount": "0.0494727"}).result["orderId"]
        for _ in range(5 * 6 if poll else 1):
            sandbox.advance(HOUR // 6 if poll else 5 * HOUR)
            if poll:
                api.get(ONGOING)
        assert api.post("/v5/crypto-loan/repay", {"orderId": order_id,
                                                  "amount": "1.00000515"}).code == 0
        (row,) = api.get("/v5/crypto-loan/borrow-history").result["list"]
        return row

    def test_docs_completed_loan(self, api: Api, sandbox: Sandbox) -> None:
        """1 ETH at 0.0000010241 for 5 hours repaid 0.00000515 (5 x 0.00000103), and is due
        1729148399000: the start of the borrow hour + 7 days - 1 s."""
        assert self._docs_loan(api, sandbox, poll=False) == self.DOC_ROW

    def test_polling_changes_nothing(self, api: Api, sandbox: Sandbox) -> None:
        """Reading the loan every 10 minutes gives the same interest as never reading it."""
        assert self._docs_loan(api, sandbox, poll=True) == self.DOC_ROW


class TestCursors:
    """Opaque cursors, and cursors on short pages where the docs' examples show them."""

    def test_opaque_and_passed_back_either_way(self, api: Api) -> None:
        """ongoing-orders' cursor holds %, ',' and ':' escapes; sent back as is or encoded
        once more (as ccxt and bybit-api do), it gives the same next page."""
        ids = [api.post(BORROW, {"loanCurrency": "USDT", "loanAmount": "20",
                                 "collateralCurrency": "ETH"}).result["orderId"]
               for _ in range(3)]
        first = api.get(ONGOING, "limit=2").result
        cursor = first["nextPageCursor"]
        assert "%3A" in cursor and "%2C" in cursor and cursor != ids[1]
        for sent in (cursor, quote(cursor, safe="")):
            rest = api.get(ONGOING, f"cursor={sent}&limit=2").result
            assert [r["orderId"] for r in rest["list"]] == ids[:1]
            assert rest["nextPageCursor"] == ""  # the docs' L6 example: "" at the end
        assert api.get(ONGOING, "cursor=abc").code == 10001

    def test_short_page_cursor(self, api: Api) -> None:
        """Flexible repayment-history gives a cursor with 3 rows of 10 (its docs example),
        and that cursor leads to an empty page with ''."""
        api.post(FLEX + "borrow", {"loanCurrency": "USDT", "loanAmount": "100",
                                   "collateralList": [{"currency": "BTC", "amount": "0.01"}]})
        for _ in range(3):
            assert api.post(FLEX + "repay", {"loanCurrency": "USDT", "amount": "1"}).code == 0
        page = api.get(FLEX + "repayment-history").result
        assert len(page["list"]) == 3 and page["nextPageCursor"]
        after = api.get(FLEX + "repayment-history", f"cursor={page['nextPageCursor']}").result
        assert after == {"list": [], "nextPageCursor": ""}


class TestHttpStatuses:
    """The docs' error page: 401, 403, and the IP limit."""

    def test_missing_auth_headers_is_401(self, api: Api) -> None:
        """"Invalid request ... the auth parameters are not in the headers": HTTP 401."""
        answer = api.send("GET", ONGOING)
        assert (answer.status, answer.code) == (401, 10003)
        headers = api.auth(b"")
        del headers["X-BAPI-SIGN"]
        assert api.send("GET", ONGOING, headers=headers).status == 401

    def test_get_with_a_body_is_403(self, api: Api) -> None:
        """"a GET was sent with an empty JSON body": HTTP 403."""
        answer = api.send("GET", ONGOING, body=b"{}", headers=api.auth(b""))
        assert answer.status == 403

    def test_ip_limit(self, sandbox: Sandbox) -> None:
        """"the IP rate limit was breached ("access too frequent")": HTTP 403; the knob
        ``ip_rate_limit`` (600 per 5 s by default) relaxes it."""
        assert sandbox.ip_rate_limit == 600
        sandbox.ip_rate_limit = 5
        sandbox.gateway.ip_window_ms = 60_000
        with SandboxServer(sandbox) as served:
            conn = http.client.HTTPConnection("127.0.0.1", served.port, timeout=5)
            statuses = []
            for _ in range(6):
                conn.request("GET", "/v5/market/time")
                response = conn.getresponse()
                statuses.append(response.status)
                body = response.read()
            assert statuses == [200] * 5 + [403] and b"access too frequent" in body
            sandbox.ip_rate_limit = None
            conn.request("GET", "/v5/market/time")
            assert conn.getresponse().status == 200
            conn.close()


class TestTypes:
    """Field types as the docs' tables give them."""

    def test_colres_is_a_string(self, api: Api) -> None:
        """position's colRes: "string", e.g. "0"."""
        api.post(FLEX + "borrow", {"loanCurrency": "USDT", "loanAmount": "100",
                                   "collateralList": [{"currency": "BTC", "amount": "0.01"}]})
        assert api.get("/v5/crypto-loan-common/position").result["colRes"] == "0"


class TestPriceWalk:
    """Prices can drift on their own, the same way for the same seed."""

    def test_off_by_default_and_deterministic(self) -> None:
        """Off unless switched on; two sandboxes with one walk seed show the same prices
        a day later; stablecoins stay put; switched off, prices stop moving."""
        first, second = Sandbox(clock=Clock(BORROWED)), Sandbox(clock=Clock(BORROWED))
        first.advance(HOUR)
        assert first.prices == Sandbox().prices  # no walk: nothing moved
        second.advance(HOUR)
        for sandbox in (first, second):
            sandbox.set_price_walk(seed=7, step_ms=60_000, volatility="0.002")
            sandbox.advance(24 * HOUR)
        assert first.prices == second.prices
        assert first.prices["BTC"] != Sandbox().prices["BTC"]
        assert all(isinstance(p, Decimal) for p in first.prices.values())
        assert first.prices["USDT"] == first.prices["USDC"] == 1
        first.set_price_walk(False)
        before = dict(first.prices)
        first.advance(HOUR)
        assert first.prices == before
