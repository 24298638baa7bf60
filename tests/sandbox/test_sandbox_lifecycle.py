"""The legacy loan lifecycle in the sandbox, over real HTTP on loopback.

Repayment order, collateral release, histories and their pages, hourly
interest, margin calls and liquidation (by price, by interest, overdue), and
the API reference's section-8 example chain reproduced to the digit. Requests
are signed by ``support.bybit`` with ``hmac`` directly, not with ``loan_widgets.signing``.
"""

from __future__ import annotations

from decimal import ROUND_UP, Decimal
from typing import Any

import pytest
from support import bybit
from support.bybit import Answer, Clock

from loan_widgets.sandbox import Sandbox, SandboxServer

BORROW = "/v5/crypto-loan/borrow"
REPAY = "/v5/crypto-loan/repay"
ONGOING = "/v5/crypto-loan/ongoing-orders"
REPAYMENTS = "/v5/crypto-loan/repayment-history"
COMPLETED = "/v5/crypto-loan/borrow-history"
MAX_REDUCE = "/v5/crypto-loan/max-collateral-amount"
ADJUST = "/v5/crypto-loan/adjust-ltv"
ADJUSTMENTS = "/v5/crypto-loan/adjustment-history"
DOC_BODY = (
    b'{"loanCurrency":"USDT","loanAmount":"550","collateralCurrency":"BTC",'
    b'"loanTerm":null,"collateralAmount":null}'
)
T0 = 1_728_629_356_551
HOUR = 3_600_000
DAY = 86_400_000
USDT_FLEX = Decimal("0.0000090346")  # USDT's flexible hourly rate (docs' example)
USDT_7D = Decimal("0.0000180692")


class Api(bybit.Api):
    """The shared test client, with legacy-book shortcuts that check for success."""

    def ok(self, method: str, path: str, arg: Any = "") -> dict[str, Any]:
        answer = self.get(path, arg) if method == "GET" else self.post(path, arg)
        assert answer["retCode"] == 0, answer.json
        assert answer["retMsg"] == "request.success"
        return answer["result"]

    def borrow(self, **fields: Any) -> str:
        return self.ok("POST", BORROW, fields)["orderId"]

    def repay(self, order_id: str, amount: str) -> Answer:
        return self.post(REPAY, {"orderId": order_id, "amount": amount})

    def loan(self, order_id: str) -> dict[str, Any]:
        (row,) = self.ok("GET", ONGOING, f"orderId={order_id}")["list"]
        return row


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def sandbox(clock: Clock) -> Sandbox:
    return Sandbox(seed=0, clock=clock)


@pytest.fixture
def api(sandbox: Sandbox):
    with SandboxServer(sandbox) as server:
        client = Api(server)
        yield client
        client.close()


def eth_loan(api: Api) -> str:
    """1000 USDT against 0.5 ETH at 2500: LTV exactly 0.8."""
    return api.borrow(loanCurrency="USDT", loanAmount="1000", collateralCurrency="ETH",
                      collateralAmount="0.5")


class TestRepayment:
    """Repayments settle penalty, then interest, then principal; the last one closes."""

    def test_interest_is_paid_before_principal(self, api: Api, clock: Clock) -> None:
        """A repayment smaller than the interest leaves the principal untouched."""
        order_id = api.post(BORROW, DOC_BODY)["result"]["orderId"]
        clock.t += 2 * HOUR
        assert api.repay(order_id, "0.004")["retCode"] == 0
        row = api.loan(order_id)
        assert row["totalDebt"] == "550"
        assert Decimal(row["residualInterest"]) == 550 * USDT_FLEX * 2 - Decimal("0.004")

    def test_penalty_is_paid_before_interest(self, api: Api, sandbox: Sandbox) -> None:
        """Past due, a repayment first clears penalty interest, then normal interest."""
        order_id = api.borrow(loanCurrency="USDT", loanAmount="1000", collateralCurrency="ETH",
                              loanTerm="7")
        sandbox.advance(7 * DAY + 2 * HOUR)
        row = api.loan(order_id)
        penalty = Decimal(row["residualPenaltyInterest"])
        assert penalty == 1000 * USDT_7D * 3 * 2
        assert api.repay(order_id, format(penalty + Decimal("0.001"), "f"))["retCode"] == 0
        after = api.loan(order_id)
        assert after["residualPenaltyInterest"] == "0"
        assert Decimal(after["residualInterest"]) == Decimal(row["residualInterest"]) - Decimal(
            "0.001")
        assert after["totalDebt"] == "1000"

    def test_partial_repay_keeps_collateral(self, api: Api, sandbox: Sandbox) -> None:
        """A partial repayment returns no collateral: collateralReturn is '0'."""
        order_id = api.post(BORROW, DOC_BODY)["result"]["orderId"]
        btc = sandbox.wallet["BTC"]
        assert api.repay(order_id, "100")["retCode"] == 0
        assert sandbox.wallet["BTC"] == btc
        assert api.loan(order_id)["collateralAmount"] == "0.01057693"
        (row,) = api.ok("GET", REPAYMENTS, f"orderId={order_id}")["list"]
        assert row["collateralReturn"] == "0" and row["repayType"] == "1"

    def test_full_repay_closes_the_loan(self, api: Api, sandbox: Sandbox) -> None:
        """The closing repayment returns all collateral and lists the loan as status 1."""
        order_id = api.post(BORROW, DOC_BODY)["result"]["orderId"]
        assert api.repay(order_id, "550")["retCode"] == 0
        assert api.ok("GET", ONGOING)["list"] == []
        assert sandbox.wallet["BTC"] == Decimal("10")
        assert sandbox._pledged("BTC") == 0
        (row,) = api.ok("GET", REPAYMENTS, f"orderId={order_id}")["list"]
        assert row["collateralReturn"] == "0.01057693"
        (done,) = api.ok("GET", COMPLETED, f"orderId={order_id}")["list"]
        assert done["status"] == 1 and done["initialCollateralAmount"] == "0.01057693"

    def test_repay_errors(self, api: Api) -> None:
        """More than the debt is 177010; unknown and closed orders are 177005."""
        order_id = api.post(BORROW, DOC_BODY)["result"]["orderId"]
        assert api.repay(order_id, "550.0001")["retCode"] == 177010
        assert api.repay("1234", "1")["retCode"] == 177005
        assert api.repay(order_id, "550")["retCode"] == 0
        assert api.repay(order_id, "1")["retCode"] == 177005


class TestCollateralReduction:
    """Reductions are bounded by max-collateral-amount."""

    def test_reduce_up_to_the_maximum(self, api: Api, sandbox: Sandbox) -> None:
        """Exactly the maximum is accepted, one unit more is 177013."""
        order_id = api.borrow(loanCurrency="USDT", loanAmount="1000", collateralCurrency="ETH",
                              collateralAmount="0.6")
        top = api.ok("GET", MAX_REDUCE, f"orderId={order_id}")["maxCollateralAmount"]
        assert top == "0.1"  # 0.6 - 1000 / (0.8 x 2500)
        over = format(Decimal(top) + Decimal("0.00000001"), "f")
        answer = api.post(ADJUST, {"orderId": order_id, "amount": over, "direction": "1"})
        assert answer["retCode"] == 177013 and answer["result"] == {}
        api.ok("POST", ADJUST, {"orderId": order_id, "amount": top, "direction": "1"})
        assert api.ok("GET", MAX_REDUCE, f"orderId={order_id}")["maxCollateralAmount"] == "0"
        assert api.loan(order_id)["currentLTV"] == "0.8000"
        assert sandbox.wallet["ETH"] == Decimal("99.5")

    def test_interest_shrinks_the_maximum(self, api: Api, sandbox: Sandbox) -> None:
        """Accrued interest counts as debt when the maximum reduction is computed."""
        order_id = api.borrow(loanCurrency="USDT", loanAmount="1000", collateralCurrency="ETH",
                              collateralAmount="0.6")
        sandbox.advance(10 * HOUR)
        top = Decimal(api.ok("GET", MAX_REDUCE, f"orderId={order_id}")["maxCollateralAmount"])
        need = ((1000 + 1000 * USDT_FLEX * 10) / (Decimal("0.8") * 2500)).quantize(
            Decimal("1e-8"), ROUND_UP)
        assert top == Decimal("0.6") - need


class TestHistoryPages:
    """repayment-history, borrow-history and adjustment-history page with limit/cursor."""

    @staticmethod
    def walk(api: Api, path: str, key: str, query: str) -> tuple[list[int], list[str]]:
        sizes, ids, cursor = [], [], ""
        while True:
            result = api.ok("GET", path, query + (f"&cursor={cursor}" if cursor else ""))
            sizes.append(len(result["list"]))
            ids += [row[key] for row in result["list"]]
            cursor = result["nextPageCursor"]
            assert isinstance(cursor, str)
            if not cursor:
                return sizes, ids

    def test_repayments_page(self, api: Api) -> None:
        """Twelve repayments come back newest first in pages of 5, 5 and 2."""
        order_id = eth_loan(api)
        placed = [api.ok("POST", REPAY, {"orderId": order_id, "amount": "1"})["repayId"]
                  for _ in range(12)]
        sizes, ids = self.walk(api, REPAYMENTS, "repayId", f"orderId={order_id}&limit=5")
        assert sizes == [5, 5, 2] and ids == placed[::-1]

    def test_completed_loans_page(self, api: Api) -> None:
        """Closed loans page like the others, newest first."""
        closed = []
        for _ in range(3):
            order_id = api.borrow(loanCurrency="USDT", loanAmount="20", collateralCurrency="ETH")
            assert api.repay(order_id, "20")["retCode"] == 0
            closed.append(order_id)
        sizes, ids = self.walk(api, COMPLETED, "orderId", "limit=2")
        assert sizes == [2, 1] and ids == closed[::-1]

    def test_adjustments_page(self, api: Api) -> None:
        """Adjustments page and filter by orderId."""
        order_id = eth_loan(api)
        other = eth_loan(api)
        placed = [api.ok("POST", ADJUST, {"orderId": order_id, "amount": "0.01",
                                          "direction": "0"})["adjustId"] for _ in range(3)]
        api.ok("POST", ADJUST, {"orderId": other, "amount": "0.01", "direction": "0"})
        sizes, ids = self.walk(api, ADJUSTMENTS, "adjustId", f"orderId={order_id}&limit=2")
        assert sizes == [2, 1, 0] and ids == placed[::-1]  # a cursor on the short page too
        assert len(api.ok("GET", ADJUSTMENTS)["list"]) == 4


class TestInterest:
    """Interest accrues per whole hour at the loan's hourly rate."""

    def test_advance_accrues(self, api: Api, sandbox: Sandbox) -> None:
        """advance() by 5 h shows 5 hours of interest in residualInterest."""
        order_id = api.post(BORROW, DOC_BODY)["result"]["orderId"]
        sandbox.advance(5 * HOUR + 59 * 60_000)
        assert Decimal(api.loan(order_id)["residualInterest"]) == 550 * USDT_FLEX * 5

    def test_flexible_follows_the_current_rate(self, api: Api, sandbox: Sandbox) -> None:
        """A flexible loan charges the old rate before a change and the new one after."""
        order_id = api.post(BORROW, DOC_BODY)["result"]["orderId"]
        sandbox.advance(2 * HOUR)
        sandbox.set_flexible_rate("USDT", "0.00001")
        sandbox.advance(3 * HOUR)
        row = api.loan(order_id)
        assert row["hourlyInterestRate"] == "0.00001"
        assert Decimal(row["residualInterest"]) == (
            550 * USDT_FLEX * 2 + 550 * Decimal("0.00001") * 3
        )

    def test_fixed_keeps_its_locked_rate(self, api: Api, sandbox: Sandbox) -> None:
        """A fixed loan ignores later changes of the coin's rates."""
        order_id = api.borrow(loanCurrency="USDT", loanAmount="1000", collateralCurrency="ETH",
                              loanTerm="7")
        sandbox.set_flexible_rate("USDT", "0.001")
        sandbox.advance(4 * HOUR)
        row = api.loan(order_id)
        assert row["hourlyInterestRate"] == "0.0000180692"
        assert Decimal(row["residualInterest"]) == 1000 * USDT_7D * 4

    def test_accrues_on_the_unpaid_principal(self, api: Api, sandbox: Sandbox) -> None:
        """After a partial repayment, interest runs on what is left of the principal."""
        order_id = api.post(BORROW, DOC_BODY)["result"]["orderId"]
        assert api.repay(order_id, "150")["retCode"] == 0
        sandbox.advance(3 * HOUR)
        assert Decimal(api.loan(order_id)["residualInterest"]) == 400 * USDT_FLEX * 3


class TestMarginCall:
    """At or above marginCallLTV the loan is flagged, never sold."""

    def test_flag_once_per_crossing(self, api: Api, sandbox: Sandbox) -> None:
        """Crossing 0.87 records one event; falling back clears the flag; re-crossing adds one."""
        order_id = eth_loan(api)
        sandbox.set_price("ETH", "2250")  # LTV 0.8889
        assert sandbox.orders[order_id].margin_call
        sandbox.set_price("ETH", "2200")  # 0.9091: still flagged, no new event
        assert [(e.kind, e.book, e.ref) for e in sandbox.margin_calls] == [
            ("margin_call", "legacy", order_id)]
        assert round(sandbox.margin_calls[0].ltv, 6) == Decimal("0.888889")
        assert api.loan(order_id)["currentLTV"] == "0.9091"
        assert sandbox.wallet["ETH"] == Decimal("99.5")  # nothing sold
        sandbox.set_price("ETH", "2500")
        assert not sandbox.orders[order_id].margin_call
        sandbox.set_price("ETH", "2250")
        assert len(sandbox.margin_calls) == 2 and sandbox.liquidations == []

    def test_adding_collateral_clears_the_flag(self, api: Api, sandbox: Sandbox) -> None:
        """Topping up collateral below marginCallLTV ends the margin call."""
        order_id = eth_loan(api)
        sandbox.set_price("ETH", "2250")
        api.ok("POST", ADJUST, {"orderId": order_id, "amount": "0.2", "direction": "0"})
        assert not sandbox.orders[order_id].margin_call


class TestLiquidation:
    """At liquidationLTV, or 48 h overdue, collateral repays the whole debt."""

    def test_price_drop_liquidates(self, api: Api, sandbox: Sandbox) -> None:
        """Just enough ETH is sold at the sandbox price; the rest returns to Funding."""
        order_id = eth_loan(api)
        sandbox.set_price("ETH", "2100")  # LTV 0.9524 >= 0.95
        sold = Decimal("0.47619048")  # 1000 / 2100 rounded up to 8 decimals
        assert api.ok("GET", ONGOING)["list"] == []
        assert sandbox.wallet["ETH"] == Decimal("99.5") + (Decimal("0.5") - sold)
        assert sandbox.wallet["USDT"] == Decimal("101000")  # the loan is kept
        assert sandbox._pledged("ETH") == 0
        (done,) = api.ok("GET", COMPLETED, f"orderId={order_id}")["list"]
        assert done["status"] == 2
        (row,) = api.ok("GET", REPAYMENTS, f"orderId={order_id}")["list"]
        assert row["repayType"] == "2" and row["repayStatus"] == 1
        assert row["repayAmount"] == "1000" and row["collateralReturn"] == "0.02380952"
        (event,) = sandbox.liquidations
        assert (event.kind, event.book, event.ref, event.reason) == (
            "liquidation", "legacy", order_id, "ltv")
        assert event.detail == {"sold": sold, "returned": Decimal("0.02380952"),
                                "repaid": Decimal(1000)}
        assert api.repay(order_id, "1")["retCode"] == 177005

    def test_only_loans_on_the_moved_coin(self, api: Api, sandbox: Sandbox) -> None:
        """A BTC price crash leaves a loan against ETH alone."""
        eth = eth_loan(api)
        api.post(BORROW, DOC_BODY)
        sandbox.set_price("BTC", "30000")
        assert [row["orderId"] for row in api.ok("GET", ONGOING)["list"]] == [eth]

    def test_interest_tips_it_over_with_advance(self, api: Api, sandbox: Sandbox) -> None:
        """At 0.95 minus a hair, one hour of interest crosses the level on advance()."""
        order_id = eth_loan(api)
        sandbox.set_price("ETH", "2105.27")  # LTV 0.9499969: margin call only
        assert sandbox.orders[order_id].margin_call and not sandbox.liquidations
        sandbox.advance(HOUR - 1)
        assert order_id in sandbox.orders
        sandbox.advance(1)
        assert order_id not in sandbox.orders
        (row,) = api.ok("GET", REPAYMENTS, f"orderId={order_id}")["list"]
        assert Decimal(row["repayAmount"]) == 1000 + 1000 * USDT_FLEX
        (done,) = api.ok("GET", COMPLETED)["list"]
        assert done["status"] == 2 and Decimal(done["repaidInterest"]) == 1000 * USDT_FLEX

    def test_interest_tips_it_over_with_the_clock(self, api: Api, sandbox: Sandbox,
                                                   clock: Clock) -> None:
        """Time passing on the server clock is noticed by the next request of any kind."""
        order_id = eth_loan(api)
        sandbox.set_price("ETH", "2105.27")
        clock.t += HOUR
        assert api.ok("GET", ONGOING)["list"] == []
        assert sandbox.completed[order_id].status == 2

    def test_overdue_fixed_loan(self, api: Api, sandbox: Sandbox) -> None:
        """A fixed loan unpaid 48 h past its due time is liquidated, penalty included."""
        order_id = api.borrow(loanCurrency="USDT", loanAmount="1000", collateralCurrency="ETH",
                              loanTerm="7", collateralAmount="1")
        sandbox.advance(7 * DAY + 47 * HOUR)
        assert order_id in sandbox.orders  # LTV ~0.4: only time can close it
        sandbox.advance(HOUR)
        (done,) = api.ok("GET", COMPLETED, f"orderId={order_id}")["list"]
        assert done["status"] == 2
        assert Decimal(done["repaidPenaltyInterest"]) == 1000 * USDT_7D * 3 * 48
        assert Decimal(done["repaidInterest"]) == 1000 * USDT_7D * 168
        (event,) = sandbox.liquidations
        assert event.reason == "overdue" and event.ref == order_id
        (row,) = api.ok("GET", REPAYMENTS, f"orderId={order_id}")["list"]
        assert row["repayType"] == "2"
        sold = Decimal(1000 + 1000 * USDT_7D * (168 + 144)) / 2500
        assert Decimal(row["collateralReturn"]) == 1 - sold.quantize(Decimal("1e-8"), ROUND_UP)


class TestDocExampleChain:
    """Section 8: order 1794267532472646144, repaid by 100, reduced by 0.001 BTC."""

    BORROWED = 1_728_629_357_820
    REPAID = 1_728_629_786_875
    ADJUSTED = 1_728_635_422_814
    IDS = ("1794267532472646144", "1794271131730737664", "1794318409405331968")

    def test_chain(self, api: Api, sandbox: Sandbox, clock: Clock) -> None:
        """Ids, times, preLTV 0.6546, afterLTV 0.7164 and max 0.00210611 as documented.

        At BTC = 59348.6 the doc body pledges 0.0115841 BTC (initialLTV 0.8).
        After repaying 100 the LTV reads 0.6545; the adjustment comes 1 h 41 min
        after the borrow, so one hour of interest (450 x 0.0000090346 =
        0.00406557 USDT) lifts it to 0.6546, and removing 0.001 BTC gives 0.7164.
        """
        sandbox.set_price("BTC", "59348.6")
        sandbox.next_ids.extend(self.IDS)
        clock.t = self.BORROWED
        assert api.ok("POST", BORROW, DOC_BODY) == {"orderId": self.IDS[0]}
        assert api.loan(self.IDS[0])["collateralAmount"] == "0.0115841"
        clock.t = self.REPAID
        assert api.ok("POST", REPAY, {"orderId": self.IDS[0], "amount": "100"}) == {
            "repayId": self.IDS[1]}
        assert api.loan(self.IDS[0])["currentLTV"] == "0.6545"
        clock.t = self.ADJUSTED
        assert api.loan(self.IDS[0])["currentLTV"] == "0.6546"
        assert api.ok("GET", MAX_REDUCE, f"orderId={self.IDS[0]}") == {
            "maxCollateralAmount": "0.00210611"}
        body = {"orderId": self.IDS[0], "amount": "0.001", "direction": "1"}
        assert api.ok("POST", ADJUST, body) == {"adjustId": self.IDS[2]}
        history = api.ok("GET", ADJUSTMENTS, f"orderId={self.IDS[0]}")
        assert history == {"list": [{
            "adjustId": "1794318409405331968", "adjustTime": "1728635422814", "afterLTV": "0.7164",
            "amount": "0.001", "collateralCurrency": "BTC", "direction": 1,
            "orderId": "1794267532472646144", "preLTV": "0.6546",
        }], "nextPageCursor": "1794318409405331968%3A1%2C1794318409405331968%3A1"}
        repayments = api.ok("GET", REPAYMENTS, f"repayId={self.IDS[1]}")
        assert repayments == {"list": [{
            "collateralCurrency": "BTC", "collateralReturn": "0", "loanCurrency": "USDT",
            "loanTerm": "", "orderId": "1794267532472646144", "repayAmount": "100",
            "repayId": "1794271131730737664", "repayStatus": 1, "repayTime": "1728629786875",
            "repayType": "1",
        }], "nextPageCursor": ""}
        row = api.loan(self.IDS[0])
        assert row["currentLTV"] == "0.7164" and row["collateralAmount"] == "0.0105841"
        assert row["residualInterest"] == "0.00406557" and row["totalDebt"] == "450"

    def test_ids_fall_back_to_the_seed(self, api: Api, sandbox: Sandbox) -> None:
        """Once next_ids is used up, ids come from the seeded generator again."""
        sandbox.next_ids.append("1794267532472646144")
        first = api.post(BORROW, DOC_BODY)["result"]["orderId"]
        second = api.post(BORROW, DOC_BODY)["result"]["orderId"]
        assert first == "1794267532472646144"
        assert len(second) == 19 and second != first and not sandbox.next_ids
