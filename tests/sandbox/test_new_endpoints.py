"""The new API's fixed market and collateral repayments, with the docs' example numbers.

Supply orders and contracts, the lending market, cancelling borrow and supply orders,
``strategyType``, renewals, repayment with collateral (flexible and fixed), fixed
repayment history and the two ``available-inventory`` pages, over real HTTP.
"""

from __future__ import annotations

from decimal import ROUND_UP, Decimal
from typing import Any

import pytest
from support.bybit import Answer, Api, Clock

from loan_widgets.sandbox import Sandbox, SandboxServer

COMMON = "/v5/crypto-loan-common/"
FLEX = "/v5/crypto-loan-flexible/"
FIXED = "/v5/crypto-loan-fixed/"
T0 = 1_752_482_751_043  # the docs' supply order time
DAY = 86_400_000


def ok(answer: Answer, msg: str = "ok") -> Any:
    assert answer.status == 200 and answer.code == 0, answer.json
    assert answer.json["retMsg"] == msg
    return answer.result


def btc(amount: str) -> list[dict[str, str]]:
    return [{"currency": "BTC", "amount": amount}]


@pytest.fixture
def sandbox() -> Sandbox:
    return Sandbox(seed=0, clock=Clock(T0), new_api_rate_limits=False)


@pytest.fixture
def api(sandbox: Sandbox):
    with SandboxServer(sandbox) as served:
        client = Api(served)
        yield client
        client.close()


def fixed_borrow(api: Api, **fields: Any) -> Answer:
    body = {"orderCurrency": "USDT", "orderAmount": "1000", "annualRate": "0.05",
            "term": "30", "collateralList": btc("0.05")}
    return api.post(FIXED + "borrow", {**body, **fields})


class TestLendingMarket:
    """supply-order-quote shows borrow demand; the docs' example is the default market."""

    def test_doc_example(self, api: Api) -> None:
        """USDT by apy: 60 days at 0.02 for 1000.1234, 7 days at 0.022 for 212.1234."""
        answer = api.get(FIXED + "supply-order-quote", "orderCurrency=USDT&orderBy=apy",
                         signed=False)
        assert ok(answer) == {"list": [
            {"annualRate": "0.02", "orderCurrency": "USDT", "qty": "1000.1234", "term": 60},
            {"annualRate": "0.022", "orderCurrency": "USDT", "qty": "212.1234", "term": 7},
        ]}

    def test_errors(self, api: Api) -> None:
        """orderBy is required; a term outside the list is 148015."""
        path = FIXED + "supply-order-quote"
        assert api.get(path, "orderCurrency=USDT", signed=False).code == 10001
        assert api.get(path, "orderCurrency=USDT&orderBy=apy&term=8", signed=False).code == 148015


class TestSupply:
    """Supply orders lend from Funding to borrow demand; the docs' chain, number for number."""

    def test_doc_chain(self, api: Api, sandbox: Sandbox) -> None:
        """1020 USDT at 0.01 for 7 days fills 800, is cancelled (state 2) and earns
        0.13041095890410959 (FX12, FX9 and C6 of the reference)."""
        sandbox.new_api.set_demand("USDT", [(7, "0.01", "800")])
        body = {"orderCurrency": "USDT", "orderAmount": "1020", "annualRate": "0.01", "term": "7"}
        assert ok(api.post(FIXED + "supply", body)) == {"orderId": "13564"}
        assert sandbox.wallet["USDT"] == Decimal("98980")
        assert ok(api.post(FIXED + "supply-order-cancel", {"orderId": "13564"})) == {}
        assert sandbox.wallet["USDT"] == Decimal("99200")
        (order,) = ok(api.get(FIXED + "supply-order-info", "orderId=13564"))["list"]
        assert order == {"annualRate": "0.01", "filledQty": "800", "orderCurrency": "USDT",
                         "orderId": 13564, "orderQty": "1020", "orderTime": str(T0),
                         "state": 2, "term": 7}
        page = ok(api.get(FIXED + "supply-contract-info", "supplyCurrency=USDT"))
        (contract,) = page["list"]
        assert page["nextPageCursor"] == "567"
        assert contract["interest"] == contract["interestPaid"] == "0.13041095890410959"
        assert (contract["supplyId"], contract["supplyAmount"], contract["orderId"]) == (
            "567", "800", "13564")
        assert int(contract["redemptionTime"]) - int(contract["supplyTime"]) == 7 * DAY
        assert (contract["status"], contract["term"], contract["annualRate"]) == (1, "7", "0.01")
        position = ok(api.get(COMMON + "position"))
        assert position["supplyList"] == [
            {"amount": "800.13041095890410959", "amountUSD": "800.13", "currency": "USDT"}]
        assert position["totalSupply"] == "800.13"
        sandbox.advance(7 * DAY)
        (contract,) = ok(api.get(FIXED + "supply-contract-info"))["list"]
        assert contract["status"] == 2
        assert sandbox.wallet["USDT"] == Decimal("100000.13041095890410959")

    def test_unmatched_waits_and_errors(self, api: Api, sandbox: Sandbox) -> None:
        """Above every bid the order waits; cancelling twice is 148025, unknown 148030."""
        body = {"orderCurrency": "USDT", "orderAmount": "500", "annualRate": "0.5", "term": "7"}
        order_id = ok(api.post(FIXED + "supply", body))["orderId"]
        (order,) = ok(api.get(FIXED + "supply-order-info", "state=1"))["list"]
        assert (order["state"], order["filledQty"]) == (1, "0")
        ok(api.post(FIXED + "supply-order-cancel", {"orderId": order_id,
                                                     "refundedAccount": "0"}))
        assert sandbox.wallet["USDT"] == Decimal("100000")
        assert api.post(FIXED + "supply-order-cancel", {"orderId": order_id}).code == 148025
        assert api.post(FIXED + "supply-order-cancel", {"orderId": "1"}).code == 148030
        assert api.post(FIXED + "supply", {**body, "orderAmount": "200000"}).code == 148022
        assert api.post(FIXED + "supply", {**body, "availableSource": "3"}).code == 10001


class TestBorrowOrders:
    """Fixed borrow orders fill from offers, wait, and can be cancelled."""

    def test_doc_example_two_contracts(self, api: Api, sandbox: Sandbox) -> None:
        """The docs' order 13007 (1.5 ETH at 0.022, 30 days) fills as contracts 570 and 571."""
        sandbox.new_api.set_offers("ETH", [(30, "0.021", "0.1"), (30, "0.022", "1.4")])
        body = {"orderCurrency": "ETH", "orderAmount": "1.5", "annualRate": "0.022",
                "term": "30", "autoRepay": "true",
                "collateralList": {"currency": "BTC", "amount": "0.1"}}
        assert ok(api.post(FIXED + "borrow", body)) == {"orderId": "13007"}
        page = ok(api.get(FIXED + "borrow-contract-info", "orderCurrency=ETH"))
        rows = [(r["loanId"], r["residualPrincipal"], r["interestPaid"]) for r in page["list"]]
        assert rows == [("571", "1.4", "0.002531506849315069"),
                        ("570", "0.1", "0.00018082191780822")]
        assert all(int(r["repaymentTime"]) - int(r["borrowTime"]) == 30 * DAY
                   for r in page["list"])
        assert all(r["annualRate"] == "0.022" and r["orderId"] == "13007" for r in page["list"])
        assert "%3A" in page["nextPageCursor"] and "%2C" in page["nextPageCursor"]
        assert ok(api.get(FIXED + "borrow-order-quote", "orderCurrency=ETH&orderBy=apy&term=30",
                          signed=False)) == {"list": []}

    def test_partial_fill_then_cancel(self, api: Api, sandbox: Sandbox) -> None:
        """PARTIAL takes the 400 on offer and waits; a cancel leaves state 2."""
        sandbox.new_api.set_offers("USDT", [(30, "0.05", "400")])
        order_id = ok(fixed_borrow(api))["orderId"]
        (order,) = ok(api.get(FIXED + "borrow-order-info", f"orderId={order_id}"))["list"]
        assert (order["state"], order["filledQty"], order["strategyType"]) == (1, "400",
                                                                               "PARTIAL")
        assert ok(api.post(FIXED + "borrow-order-cancel", {"orderId": order_id})) == {}
        (order,) = ok(api.get(FIXED + "borrow-order-info", f"orderId={order_id}"))["list"]
        assert order["state"] == 2
        assert sandbox.new_api.collateral == {"BTC": Decimal("0.05")}  # the contract stays
        assert api.post(FIXED + "borrow-order-cancel", {"orderId": order_id}).code == 148024
        assert api.post(FIXED + "borrow-order-cancel", {"orderId": "99"}).code == 148023

    def test_full_strategy_waits_for_all(self, api: Api, sandbox: Sandbox) -> None:
        """FULL fills nothing until the whole amount is on offer."""
        sandbox.new_api.set_offers("USDT", [(30, "0.05", "400")])
        order_id = ok(fixed_borrow(api, strategyType="FULL"))["orderId"]
        (order,) = ok(api.get(FIXED + "borrow-order-info", f"orderId={order_id}"))["list"]
        assert (order["state"], order["filledQty"], order["strategyType"]) == (1, "0", "FULL")
        sandbox.new_api.set_offers("USDT", [(30, "0.05", "400"), (30, "0.049", "600")])
        (order,) = ok(api.get(FIXED + "borrow-order-info", f"orderId={order_id}"))["list"]
        assert (order["state"], order["filledQty"]) == (3, "1000")
        assert fixed_borrow(api, strategyType="ALL").code == 10001

    def test_cancel_releases_the_collateral(self, api: Api, sandbox: Sandbox) -> None:
        """Below the market the order waits with its collateral; cancelled, it is state 4."""
        order_id = ok(fixed_borrow(api, annualRate="0.01"))["orderId"]
        assert sandbox.wallet["BTC"] == Decimal("9.95")
        ok(api.post(FIXED + "borrow-order-cancel", {"orderId": order_id}))
        (order,) = ok(api.get(FIXED + "borrow-order-info", "state=4"))["list"]
        assert order["orderId"] == int(order_id)
        assert sandbox.wallet["BTC"] == Decimal("10") and sandbox.new_api.collateral == {}


class TestRepayWithCollateral:
    """Collateral repayments, flexible and fixed, and the fixed repayment history."""

    def test_flexible(self, api: Api, sandbox: Sandbox) -> None:
        """500 USDT repaid by selling 500 x 1.001 / 65000 BTC from the pool (repayType 7)."""
        ok(api.post(FLEX + "borrow", {"loanCurrency": "USDT", "loanAmount": "1000",
                                      "collateralList": btc("0.05")}))
        body = {"loanCurrency": "USDT", "amount": "500", "collateralCoin": "BTC"}
        assert ok(api.post(FLEX + "repay-collateral", body)) == {}
        assert sandbox.new_api.collateral == {"BTC": Decimal("0.05") - Decimal("0.0077")}
        (row,) = ok(api.get(FLEX + "ongoing-coin"))["list"]
        assert row["unpaidAmount"] == "500"
        (repay,) = ok(api.get(FLEX + "repayment-history"))["list"]
        assert (repay["repayType"], repay["repayAmount"]) == (7, "500")
        assert sandbox.wallet["USDT"] == Decimal("101000")  # Funding is not touched

    def test_fixed_soonest_maturity_first(self, api: Api, sandbox: Sandbox) -> None:
        """Without loanId the 7-day contract is paid before the 30-day one."""
        ok(fixed_borrow(api))  # loanId 570, 30 days
        ok(fixed_borrow(api, term="7", annualRate="0.02", collateralList=[]))  # 571, 7 days
        body = {"loanCurrency": "USDT", "amount": "1100", "collateralCoin": "BTC"}
        assert ok(api.post(FIXED + "repay-collateral", body)) == {}
        rows = {r["loanId"]: r for r in ok(api.get(FIXED + "borrow-contract-info"))["list"]}
        assert (rows["571"]["status"], rows["571"]["residualPrincipal"]) == (2, "0")
        assert (rows["570"]["status"], rows["570"]["residualPrincipal"]) == (1, "900")
        page = ok(api.get(FIXED + "repayment-history", "loanCurrency=USDT"))
        (repay,) = page["list"]
        assert repay["details"] == [
            {"loanCurrency": "USDT", "loanId": "571", "repayAmount": "1000"},
            {"loanCurrency": "USDT", "loanId": "570", "repayAmount": "100"}]
        assert (repay["repayAmount"], repay["repayType"], repay["repayStatus"]) == ("1100", 7, 1)
        assert page["nextPageCursor"]  # a cursor on the short page, as the docs' example
        sold = (Decimal(1100) * Decimal("1.001") / 65000).quantize(Decimal("1e-8"), ROUND_UP)
        assert sandbox.new_api.collateral == {"BTC": Decimal("0.05") - sold}

    def test_errors(self, api: Api, sandbox: Sandbox) -> None:
        """148032 nothing owed, 148038 above the debt, 148012 coin not pooled, 148047 cap."""
        body = {"loanCurrency": "USDT", "amount": "100", "collateralCoin": "BTC"}
        assert api.post(FIXED + "repay-collateral", body).code == 148032
        ok(fixed_borrow(api))
        assert api.post(FIXED + "repay-collateral", {**body, "amount": "1000.1"}).code == 148038
        assert api.post(FIXED + "repay-collateral", {**body, "collateralCoin": "ETH"}).code == (
            148012)
        assert api.post(FIXED + "repay-collateral", {**body, "collateralCoin": "DOGE"}).code == (
            148004)
        ok(api.post(FLEX + "borrow", {"loanCurrency": "USDT", "loanAmount": "310000",
                                      "collateralList": btc("7")}))
        flex = {"loanCurrency": "USDT", "amount": "300001", "collateralCoin": "BTC"}
        assert api.post(FLEX + "repay-collateral", flex).code == 148047


class TestRenew:
    """renew borrows again what was repaid on a contract; renew-info lists it."""

    def test_renew_after_partial_repayment(self, api: Api, sandbox: Sandbox) -> None:
        """300 repaid on loan 570 is borrowed again under a new numeric orderId."""
        ok(fixed_borrow(api))
        assert api.post(FIXED + "renew", {"loanId": "570"}).code == 148002  # nothing repaid
        ok(api.post(FIXED + "repay-collateral", {"loanId": "570", "loanCurrency": "USDT",
                                                  "amount": "300", "collateralCoin": "BTC"}))
        usdt = sandbox.wallet["USDT"]
        answer = ok(api.post(FIXED + "renew", {"loanId": "570"}))
        assert answer == {"orderId": 13008}
        (contract,) = ok(api.get(FIXED + "borrow-contract-info", "loanId=570"))["list"]
        assert contract["residualPrincipal"] == "1000"
        interest = (Decimal(300) * Decimal("0.05") * 30 / 365).quantize(Decimal("1e-18"),
                                                                        ROUND_UP)
        assert sandbox.wallet["USDT"] == usdt + 300 - interest
        (row,) = ok(api.get(FIXED + "renew-info"))["list"]
        assert {k: row[k] for k in ("amount", "autoRepay", "borrowCurrency", "loanId",
                                    "orderId", "dueTime", "time")} == {
            "amount": "300", "autoRepay": 1, "borrowCurrency": "USDT", "loanId": "570",
            "orderId": 13008, "dueTime": str(T0 + 30 * DAY), "time": str(T0)}
        assert len(row["contractNo"]) == len(row["renewLoanNo"]) == 19
        assert api.post(FIXED + "renew", {"loanId": "999"}).code == 148023


class TestAvailableInventory:
    """The two available-inventory pages (retMsg "OK"), with the docs' example figures."""

    def test_flexible(self, api: Api, sandbox: Sandbox) -> None:
        """USDT holds 100000000; a flexible loan draws on it; past it is 148011."""
        answer = api.get(FLEX + "available-inventory", "currency=USDT")
        assert ok(answer, "OK") == {"currency": "USDT", "availableInventory": "100000000",
                                    "updateTime": str(T0 // 1000)}
        ok(api.post(FLEX + "borrow", {"loanCurrency": "USDT", "loanAmount": "1000",
                                      "collateralList": btc("0.05")}))
        assert ok(api.get(FLEX + "available-inventory", "currency=USDT"), "OK")[
            "availableInventory"] == "99999000"
        sandbox.new_api.inventory["USDT"] = Decimal("1500")
        assert api.post(FLEX + "borrow", {"loanCurrency": "USDT", "loanAmount": "550"}).code == (
            148011)
        assert api.get(FLEX + "available-inventory").code == 10001

    def test_fixed(self, api: Api) -> None:
        """USDT, 7 days, up to 0.02: 50000000 on offer."""
        answer = api.get(FIXED + "available-inventory", "currency=USDT&term=7&annualRate=0.02")
        assert ok(answer, "OK") == {"currency": "USDT", "term": "7", "annualRate": "0.02",
                                    "availableInventory": "50000000",
                                    "updateTime": str(T0 // 1000)}
        assert api.get(FIXED + "available-inventory", "currency=USDT&term=7").code == 10001
