"""Crypto Loan (New) in the sandbox, over real HTTP on loopback.

Common, flexible and fixed endpoints: field names and JSON types as in the
docs' examples, pooled collateral with tiered ratios, hourly interest, the
fixed-rate market, 148xxx validation, the documented UID rate limits, risk
handling, the separation from the legacy book and the legacy-Borrow knob.
Requests are signed by ``support.bybit`` with ``hmac`` directly.
"""

from __future__ import annotations

import http.client
import json
import select
import subprocess
import sys
from decimal import ROUND_UP, Decimal
from typing import Any, ClassVar

import pytest
from support import bybit
from support.bybit import Answer, Clock

from loan_widgets.endpoints import NEW_API_ENDPOINTS
from loan_widgets.sandbox import (
    LEGACY_BORROW_DEPRECATED,
    Sandbox,
    SandboxServer,
)

COMMON = "/v5/crypto-loan-common/"
FLEX = "/v5/crypto-loan-flexible/"
FIXED = "/v5/crypto-loan-fixed/"
LEGACY_BORROW = "/v5/crypto-loan/borrow"
T0 = 1_752_569_209_643
HOUR = 3_600_000
DAY = 86_400_000
USDT_HOURLY = Decimal("0.0000090346")


class Api(bybit.Api):
    """The shared test client, with new-API shortcuts that check for success."""

    def ok(self, answer: Answer) -> Any:
        assert answer.status == 200
        assert answer.code == 0, answer.json
        assert answer.json["retMsg"] == "ok"
        return answer.result

    def flex_borrow(self, coin: str = "USDT", amount: str = "550",
                    collateral: list[dict[str, str]] | None = None) -> str:
        body: dict[str, Any] = {"loanCurrency": coin, "loanAmount": amount}
        if collateral is not None:
            body["collateralList"] = collateral
        return self.ok(self.post(FLEX + "borrow", body))["orderId"]

    def fixed_borrow(self, **fields: Any) -> Answer:
        body = {"orderCurrency": "USDT", "orderAmount": "1000", "annualRate": "0.05",
                "term": "30", "collateralList": [{"currency": "BTC", "amount": "0.05"}]}
        return self.post(FIXED + "borrow", {**body, **fields})


def btc(amount: str) -> list[dict[str, str]]:
    return [{"currency": "BTC", "amount": amount}]


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def sandbox(clock: Clock) -> Sandbox:
    """A sandbox without the new API's 1/s and 5/s limits (TestRateLimits puts them back)."""
    return Sandbox(seed=0, clock=clock, new_api_rate_limits=False)


@pytest.fixture
def api(sandbox: Sandbox):
    with SandboxServer(sandbox) as server:
        client = Api(server)
        yield client
        client.close()


class TestPublicTables:
    """loanable-data, collateral-data and borrow-order-quote need no auth."""

    def test_loanable_data_matches_doc_example(self, api: Api) -> None:
        """ETH at VIP5 is the documented item, keys in the documented order."""
        answer = api.get(COMMON + "loanable-data", "currency=ETH&vipLevel=VIP5", signed=False)
        doc = {
            "currency": "ETH", "fixedBorrowable": True, "fixedBorrowingAccuracy": 6,
            "flexibleBorrowable": True, "flexibleBorrowingAccuracy": 4,
            "maxBorrowingAmount": "1100", "minFixedBorrowingAmount": "0.1",
            "minFlexibleBorrowingAmount": "0.001", "vipLevel": "VIP5",
            "annualizedInterestRate14D": "0.08", "annualizedInterestRate180D": "",
            "annualizedInterestRate30D": "", "annualizedInterestRate60D": "",
            "annualizedInterestRate7D": "", "annualizedInterestRate90D": "",
            "flexibleAnnualizedInterestRate": "0.001429799316",
        }
        (row,) = api.ok(answer)["list"]
        assert row == doc and list(row) == list(doc)
        assert list(answer.json) == ["retCode", "retMsg", "result", "retExtInfo", "time"]

    def test_loanable_data_types_and_rates(self, api: Api) -> None:
        """Every coin is listed flat; fixed rates are the lowest offer or ''."""
        rows = {r["currency"]: r for r in api.ok(api.get(COMMON + "loanable-data", signed=False))
                ["list"]}
        assert set(rows) == {"USDT", "USDC", "BTC", "ETH", "SOL", "XRP"}
        for row in rows.values():
            for name in ("fixedBorrowable", "flexibleBorrowable"):
                assert isinstance(row[name], bool)
            for name in ("fixedBorrowingAccuracy", "flexibleBorrowingAccuracy"):
                assert isinstance(row[name], int)
            assert row["vipLevel"] == "VIP0"
            assert all(isinstance(v, str) for k, v in row.items() if "Rate" in k)
        usdt = rows["USDT"]
        assert usdt["annualizedInterestRate14D"] == "0.04"  # the lower of 0.04 and 0.042
        assert usdt["annualizedInterestRate180D"] == ""
        assert Decimal(usdt["flexibleAnnualizedInterestRate"]) == USDT_HOURLY * 8760
        assert rows["SOL"]["fixedBorrowable"] is False
        assert rows["SOL"]["annualizedInterestRate7D"] == ""

    def test_collateral_data(self, api: Api) -> None:
        """Groups list a comma list of coins and tiers; currency= filters both lists."""
        result = api.ok(api.get(COMMON + "collateral-data", signed=False))
        groups = {g["currencies"]: g["collateralRatioList"]
                  for g in result["collateralRatioConfigList"]}
        assert groups["SOL,XRP"] == [
            {"collateralRatio": "0.8", "maxValue": "100000", "minValue": "0"},
            {"collateralRatio": "0.7", "maxValue": "500000", "minValue": "100000"},
            {"collateralRatio": "0.5", "maxValue": "99999999999", "minValue": "500000"},
        ]
        assert all(isinstance(i["liquidationOrder"], int)
                   for i in result["currencyLiquidationList"])
        one = api.ok(api.get(COMMON + "collateral-data", "currency=BTC", signed=False))
        assert [g["currencies"] for g in one["collateralRatioConfigList"]] == ["BTC,ETH"]
        assert one["currencyLiquidationList"] == [{"currency": "BTC", "liquidationOrder": 3}]

    def test_borrow_order_quote(self, api: Api) -> None:
        """Offers sort by apy, term or quantity, filter by term, and carry term as a number."""
        path = FIXED + "borrow-order-quote"
        rows = api.ok(api.get(path, "orderCurrency=USDT&orderBy=apy&term=14",
                              signed=False))["list"]
        assert rows == [
            {"annualRate": "0.04", "orderCurrency": "USDT", "qty": "988.78", "term": 14},
            {"annualRate": "0.042", "orderCurrency": "USDT", "qty": "25000", "term": 14},
        ]
        rows = api.ok(api.get(path, "orderCurrency=USDT&orderBy=term&sort=1&limit=2",
                              signed=False))["list"]
        assert [r["term"] for r in rows] == [90, 60]
        assert api.get(path, "orderCurrency=USDT", signed=False).code == 10001
        assert api.get(path, "orderCurrency=USDT&orderBy=size", signed=False).code == 10001
        assert api.ok(api.get(path, "orderCurrency=SOL&orderBy=apy", signed=False)) == {
            "list": []}


class TestFlexibleLoans:
    """Flexible borrow, interest, repay and their histories."""

    def test_borrow_pools_collateral(self, api: Api, sandbox: Sandbox) -> None:
        """The first order id is '1363'; collateral leaves Funding for the pool."""
        assert api.flex_borrow(collateral=btc("0.02")) == "1363"
        assert sandbox.wallet["USDT"] == Decimal("100550")
        assert sandbox.wallet["BTC"] == Decimal("9.98")
        assert sandbox.new_api.collateral == {"BTC": Decimal("0.02")}
        assert api.flex_borrow(amount="100") == "1364"  # the pool already covers it
        assert sandbox.new_api.collateral == {"BTC": Decimal("0.02")}

    def test_ongoing_coin_accrues_hourly(self, api: Api, sandbox: Sandbox) -> None:
        """Whole hours of interest at the hourly rate; totalDebt is principal plus interest."""
        api.flex_borrow(collateral=btc("0.02"))
        sandbox.advance(3 * HOUR - 1)
        (row,) = api.ok(api.get(FLEX + "ongoing-coin"))["list"]
        assert row == {"hourlyInterestRate": "0.0000090346", "loanCurrency": "USDT",
                       "totalDebt": "550.00993806", "unpaidAmount": "550",
                       "unpaidInterest": "0.00993806"}  # 550 x 0.0000090346 x 2
        assert api.ok(api.get(FLEX + "ongoing-coin", "loanCurrency=BTC")) == {"list": []}

    def test_ongoing_coin_matches_doc_example(self, api: Api, sandbox: Sandbox) -> None:
        """0.1 ETH for one hour at 0.0000018847396 is the documented item."""
        sandbox.set_flexible_rate("ETH", "0.0000018847396")
        api.flex_borrow("ETH", "0.1", btc("0.01"))
        sandbox.advance(HOUR)
        assert api.ok(api.get(FLEX + "ongoing-coin", "loanCurrency=ETH")) == {"list": [{
            "hourlyInterestRate": "0.0000018847396", "loanCurrency": "ETH",
            "totalDebt": "0.10000019", "unpaidAmount": "0.1", "unpaidInterest": "0.00000019",
        }]}

    def test_repay_interest_first_then_release(self, api: Api, sandbox: Sandbox) -> None:
        """Partial repay keeps the pool; clearing the debt returns it to Funding."""
        api.flex_borrow(collateral=btc("0.02"))
        sandbox.advance(HOUR)
        interest = 550 * USDT_HOURLY
        assert api.ok(api.post(FLEX + "repay", {"loanCurrency": "USDT", "amount": "50"})) == {
            "repayId": "1771"}
        (row,) = api.ok(api.get(FLEX + "ongoing-coin"))["list"]
        assert row["unpaidInterest"] == "0"
        assert Decimal(row["unpaidAmount"]) == 500 + interest
        assert sandbox.new_api.collateral == {"BTC": Decimal("0.02")}
        api.ok(api.post(FLEX + "repay", {"loanCurrency": "USDT", "amount": row["totalDebt"]}))
        assert api.ok(api.get(FLEX + "ongoing-coin")) == {"list": []}
        assert sandbox.wallet["BTC"] == Decimal("10") and sandbox.new_api.collateral == {}
        assert sandbox.wallet["USDT"] == Decimal("100000") - interest

    def test_histories(self, api: Api) -> None:
        """borrow-history and repayment-history carry numeric times, types and statuses."""
        ids = [api.flex_borrow(amount="20", collateral=btc("0.02"))]
        ids += [api.flex_borrow(amount="20") for _ in range(2)]
        page = api.ok(api.get(FLEX + "borrow-history", "limit=2"))
        assert [r["orderId"] for r in page["list"]] == ids[:0:-1]
        assert page["nextPageCursor"] == ids[1]
        rest = api.ok(api.get(FLEX + "borrow-history", f"limit=2&cursor={ids[1]}"))
        assert [r["orderId"] for r in rest["list"]] == ids[:1]
        assert rest["nextPageCursor"] == ""
        row = rest["list"][0]
        assert row == {"borrowTime": T0, "initialLoanAmount": "20", "loanCurrency": "USDT",
                       "orderId": ids[0], "status": 1}
        repay_id = api.ok(api.post(FLEX + "repay", {"loanCurrency": "USDT", "amount": "5"}))[
            "repayId"]
        (repay,) = api.ok(api.get(FLEX + "repayment-history", f"repayId={repay_id}"))["list"]
        assert repay == {"loanCurrency": "USDT", "repayAmount": "5", "repayId": repay_id,
                         "repayStatus": 1, "repayTime": T0, "repayType": 1}


class TestCommon:
    """position, max-loan, adjust-ltv, max-collateral-amount and adjustment-history."""

    def test_position(self, api: Api) -> None:
        """Debt and tiered collateral in coins and USD; ltv to 6 decimals."""
        api.flex_borrow(collateral=btc("0.02"))
        assert api.ok(api.get(COMMON + "position")) == {
            "borrowList": [{
                "fixedTotalDebt": "0", "fixedTotalDebtUSD": "0",
                "flexibleHourlyInterestRate": "0.0000090346", "flexibleTotalDebt": "550",
                "flexibleTotalDebtUSD": "550", "loanCurrency": "USDT",
            }],
            "collateralList": [{"amount": "0.02", "amountUSD": "1300", "currency": "BTC"}],
            "ltv": "0.423077",
            "supplyList": [],
            "totalCollateral": "1300",
            "totalDebt": "550",
            "totalSupply": "0",
            "colRes": "0",
        }

    def test_tiered_collateral(self, api: Api) -> None:
        """1000 SOL at 150 counts 100000 x 0.8 + 50000 x 0.7 = 115000 USD."""
        api.flex_borrow(amount="1000", collateral=[{"currency": "SOL", "amount": "1000"}])
        position = api.ok(api.get(COMMON + "position"))
        assert position["collateralList"] == [
            {"amount": "1000", "amountUSD": "115000", "currency": "SOL"}]
        assert api.ok(api.get(COMMON + "max-collateral-amount", "currency=SOL")) == {
            "maxCollateralAmount": "989.583333"}  # leaves 1250 USD x 0.8 for 1000 USDT
        assert api.ok(api.post(COMMON + "max-loan", {"currency": "USDT"}))["maxLoan"] == "91000"

    def test_max_loan(self, api: Api) -> None:
        """max-loan counts the pool plus hypothetical Funding collateral (ccy/amount)."""
        api.flex_borrow(collateral=btc("0.02"))
        assert api.ok(api.post(COMMON + "max-loan", {"currency": "USDT"})) == {
            "currency": "USDT", "maxLoan": "490", "notionalUsd": "490",
            "remainingQuota": "7999450"}
        more = api.ok(api.post(COMMON + "max-loan", {
            "currency": "BTC", "collateralList": [{"ccy": "ETH", "amount": "1"}]}))
        assert more == {"currency": "BTC", "maxLoan": "0.0383", "notionalUsd": "2489.5",
                        "remainingQuota": "160"}  # (1300 + 2500) x 0.8 - 550 = 2490 USD
        assert api.post(COMMON + "max-loan", {"currency": "BTC", "collateralList": [
            {"ccy": "ETH", "amount": "101"}]}).code == 148037
        assert api.post(COMMON + "max-loan", {"currency": "BTC", "collateralList": [
            {"currency": "ETH", "amount": "1"}]}).code == 10001
        assert api.post(COMMON + "max-loan", {"currency": "DOGE"}).code == 148014

    def test_adjust_and_history(self, api: Api, sandbox: Sandbox) -> None:
        """adjustId is a number; reductions stop at max-collateral-amount (148037)."""
        api.flex_borrow(collateral=btc("0.02"))
        top = api.ok(api.get(COMMON + "max-collateral-amount", "currency=BTC"))
        assert top == {"maxCollateralAmount": "0.00942307"}  # (1300 - 550 / 0.8) / 65000
        over = {"currency": "BTC", "amount": "0.00942308", "direction": "1"}
        assert api.post(COMMON + "adjust-ltv", over).code == 148037
        reduce = api.ok(api.post(COMMON + "adjust-ltv", {**over, "amount": "0.00942307"}))
        assert reduce == {"adjustId": 27511}
        add = api.ok(api.post(COMMON + "adjust-ltv", {"currency": "ETH", "amount": "1",
                                                      "direction": "0"}))
        assert add == {"adjustId": 27512}
        assert sandbox.wallet["ETH"] == Decimal("99")
        page = api.ok(api.get(COMMON + "adjustment-history", "limit=1"))
        assert page["nextPageCursor"] == "27512"
        (row,) = api.ok(api.get(COMMON + "adjustment-history",
                                "collateralCurrency=BTC"))["list"]
        assert row == {"adjustId": 27511, "adjustTime": T0, "afterLTV": "0.799999",
                       "amount": "0.00942307", "collateralCurrency": "BTC", "direction": 1,
                       "preLTV": "0.423077", "status": 1}

    def test_adjust_errors(self, api: Api) -> None:
        """Nothing borrowed is 148013; unknown coin 148004; short Funding 148037."""
        body = {"currency": "BTC", "amount": "0.01", "direction": "0"}
        assert api.post(COMMON + "adjust-ltv", body).code == 148013
        api.flex_borrow(collateral=btc("0.02"))
        assert api.post(COMMON + "adjust-ltv", {**body, "currency": "DOGE"}).code == 148004
        assert api.post(COMMON + "adjust-ltv", {**body, "amount": "11"}).code == 148037
        assert api.post(COMMON + "adjust-ltv", {**body, "amount": "0.123456789"}).code == 148005
        assert api.post(COMMON + "adjust-ltv", {**body, "direction": "2"}).code == 10001
        assert api.get(COMMON + "max-collateral-amount").code == 10001


class TestFixedLoans:
    """Fixed orders, matching, contracts, maturity and full repayment."""

    def test_order_fills_at_the_market_rate(self, api: Api, sandbox: Sandbox) -> None:
        """annualRate at the lowest 30-day offer fills at once; interest is charged upfront."""
        assert api.ok(api.fixed_borrow()) == {"orderId": "13007"}
        (order,) = api.ok(api.get(FIXED + "borrow-order-info", "orderId=13007"))["list"]
        assert order == {"annualRate": "0.05", "filledQty": "1000", "orderCurrency": "USDT",
                         "orderId": 13007, "orderQty": "1000", "orderTime": str(T0),
                         "repayType": "1", "state": 3, "strategyType": "PARTIAL", "term": 30}
        (contract,) = api.ok(api.get(FIXED + "borrow-contract-info", "orderId=13007"))["list"]
        interest = (Decimal(1000) * Decimal("0.05") * 30 / 365).quantize(Decimal("1e-18"),
                                                                          ROUND_UP)
        assert contract == {
            "annualRate": "0.05", "autoRepay": "true", "borrowCurrency": "USDT",
            "borrowTime": str(T0), "interestPaid": str(interest), "loanId": "570",
            "orderId": "13007", "repayType": "1", "repaymentTime": str(T0 + 30 * DAY),
            "residualPenaltyInterest": "0", "residualPrincipal": "1000", "status": 1,
            "term": "30",
        }
        assert sandbox.wallet["USDT"] == 101000 - interest
        position = api.ok(api.get(COMMON + "position"))
        assert position["borrowList"][0]["fixedTotalDebt"] == "1000"

    def test_order_below_market_waits(self, api: Api, sandbox: Sandbox) -> None:
        """Below the lowest offer the order stays matching until an offer covers it."""
        assert api.ok(api.fixed_borrow(annualRate="0.049", repayType="2"))["orderId"] == "13007"
        (order,) = api.ok(api.get(FIXED + "borrow-order-info", "state=1"))["list"]
        assert (order["state"], order["filledQty"]) == (1, "0")
        assert api.ok(api.get(FIXED + "borrow-contract-info")) == {"list": [],
                                                                   "nextPageCursor": ""}
        assert sandbox.wallet["USDT"] == Decimal("100000")
        assert sandbox.new_api.collateral == {"BTC": Decimal("0.05")}
        assert api.ok(api.post(COMMON + "max-loan", {"currency": "USDT"}))["maxLoan"] == "1600"
        sandbox.new_api.set_offers("USDT", [(30, "0.045", "5000")])
        (order,) = api.ok(api.get(FIXED + "borrow-order-info"))["list"]
        assert order["state"] == 3
        (contract,) = api.ok(api.get(FIXED + "borrow-contract-info"))["list"]
        assert contract["annualRate"] == "0.049" and contract["repayType"] == "2"
        assert contract["autoRepay"] == "false"

    def test_fully_repay(self, api: Api, sandbox: Sandbox) -> None:
        """By loanId, then by loanCurrency; the pool returns when nothing is owed."""
        api.ok(api.fixed_borrow())
        api.ok(api.fixed_borrow(orderAmount="200", collateralList=[]))
        first = api.ok(api.post(FIXED + "fully-repay", {"loanId": "570"}))
        assert first == {"repayId": "1771"}
        assert api.post(FIXED + "fully-repay", {"loanId": "570"}).code == 148032
        assert sandbox.new_api.collateral == {"BTC": Decimal("0.05")}
        api.ok(api.post(FIXED + "fully-repay", {"loanCurrency": "USDT"}))
        statuses = [c["status"] for c in api.ok(api.get(FIXED + "borrow-contract-info"))["list"]]
        assert statuses == [2, 2]
        assert sandbox.new_api.collateral == {} and sandbox.wallet["BTC"] == Decimal("10")
        assert api.post(FIXED + "fully-repay", {"loanCurrency": "USDT"}).code == 148032
        assert api.post(FIXED + "fully-repay", {"loanId": "999"}).code == 148023
        assert api.post(FIXED + "fully-repay", {}).code == 10001

    def test_auto_repay_at_maturity(self, api: Api, sandbox: Sandbox) -> None:
        """repayType 1 repays from Funding at repaymentTime and releases the pool."""
        api.ok(api.fixed_borrow())
        sandbox.advance(30 * DAY)
        (contract,) = api.ok(api.get(FIXED + "borrow-contract-info"))["list"]
        assert contract["status"] == 2 and contract["residualPrincipal"] == "0"
        assert sandbox.new_api.collateral == {}

    def test_transfer_to_flexible_at_maturity(self, api: Api, sandbox: Sandbox) -> None:
        """repayType 2 turns the principal into flexible debt at repaymentTime."""
        api.ok(api.fixed_borrow(repayType="2"))
        sandbox.advance(30 * DAY + HOUR)
        (row,) = api.ok(api.get(FLEX + "ongoing-coin"))["list"]
        assert row["unpaidAmount"] == "1000"
        assert Decimal(row["unpaidInterest"]) == 1000 * USDT_HOURLY

    def test_overdue_then_liquidated(self, api: Api, sandbox: Sandbox) -> None:
        """Short of funds at maturity: overdue with 3x penalty, liquidated 48 h later."""
        api.ok(api.fixed_borrow())
        sandbox.set_balance("USDT", "0")
        sandbox.advance(30 * DAY + 2 * HOUR)
        (contract,) = api.ok(api.get(FIXED + "borrow-contract-info"))["list"]
        per_hour = Decimal(1000) * Decimal("0.05") * 3 / 8760
        assert contract["status"] == 3
        assert contract["residualPenaltyInterest"] == str(
            (per_hour * 2).quantize(Decimal("1e-18"), ROUND_UP))
        sandbox.advance(46 * HOUR)
        (contract,) = api.ok(api.get(FIXED + "borrow-contract-info"))["list"]
        assert contract["status"] == 2
        (event,) = sandbox.liquidations
        assert (event.book, event.ref, event.reason) == ("new", "570", "overdue")
        assert sandbox.new_api.collateral == {}
        assert sandbox.wallet["BTC"] == Decimal("10") - event.detail["sold"]["BTC"]


class TestValidation:
    """Every rejection has its 148xxx code and changes nothing."""

    @pytest.mark.parametrize(("body", "code"), [
        ({"loanCurrency": "DOGE"}, 148014),
        ({"loanAmount": "19.9999"}, 148002),
        ({"loanAmount": "20.00001"}, 148003),
        ({"loanAmount": "-5"}, 148007),
        ({"loanAmount": "5e2"}, 10001),
        ({"loanAmount": None}, 10001),
        ({"loanAmount": 550}, 10001),
        ({"loanAmount": "8000001"}, 148010),
        ({"collateralList": btc("0.001")}, 148012),
        ({"collateralList": []}, 148012),
        ({"collateralList": btc("11")}, 148037),
        ({"collateralList": [{"currency": "DOGE", "amount": "1"}]}, 148004),
        ({"collateralList": btc("0.123456789")}, 148005),
        ({"collateralList": btc("-1")}, 148008),
        ({"collateralList": btc("0.01") + btc("0.01")}, 148039),
        ({"collateralList": [{"currency": "ETH", "amount": "40000"}]}, 148006),
        ({"collateralList": [{"currency": "BTC"}]}, 10001),
        ({"collateralList": btc("0.02") * 101}, 10001),
        ({"collateralList": "BTC"}, 10001),
    ])
    def test_flexible_borrow(self, api: Api, sandbox: Sandbox, body: dict[str, Any],
                             code: int) -> None:
        """A refused flexible borrow moves no funds and opens no debt."""
        sandbox.set_balance("ETH", "50000")
        before = dict(sandbox.wallet)
        base = {"loanCurrency": "USDT", "loanAmount": "550", "collateralList": btc("0.02")}
        answer = api.post(FLEX + "borrow", {**base, **body})
        assert (answer.code, answer.result) == (code, {}), answer.json
        assert answer.json["retMsg"]
        assert sandbox.wallet == before and sandbox.new_api.flexible == {}
        assert sandbox.new_api.collateral == {}

    @pytest.mark.parametrize(("body", "code"), [
        ({"orderCurrency": "SOL", "orderAmount": "10"}, 148014),
        ({"term": "21"}, 148015),
        ({"term": "seven"}, 148015),
        ({"annualRate": "0.05123"}, 148017),
        ({"annualRate": "0"}, 148016),
        ({"annualRate": "1.5"}, 148016),
        ({"annualRate": "-0.05"}, 148016),
        ({"orderAmount": "99"}, 148002),
        ({"orderAmount": "100.00001"}, 148003),
        ({"repayType": "3"}, 10001),
        ({"collateralList": btc("0.01")}, 148012),
    ])
    def test_fixed_borrow(self, api: Api, sandbox: Sandbox, body: dict[str, Any],
                          code: int) -> None:
        """A refused fixed borrow creates no order."""
        before = dict(sandbox.wallet)
        answer = api.fixed_borrow(**body)
        assert (answer.code, answer.result) == (code, {}), answer.json
        assert sandbox.wallet == before and sandbox.new_api.fixed_orders == {}

    def test_collateral_list_as_object(self, api: Api) -> None:
        """The fixed-borrow doc example's single object is accepted as a one-item list."""
        assert api.fixed_borrow(collateralList={"currency": "BTC", "amount": "0.05"}).code == 0

    def test_repay_errors(self, api: Api, sandbox: Sandbox) -> None:
        """148032 nothing owed, 148038 above the debt, 148028 decimals, 148029 short funds."""
        repay = FLEX + "repay"
        assert api.post(repay, {"loanCurrency": "USDT", "amount": "1"}).code == 148032
        api.flex_borrow(collateral=btc("0.02"))
        assert api.post(repay, {"loanCurrency": "USDT", "amount": "550.00000001"}).code == 148038
        assert api.post(repay, {"loanCurrency": "USDT", "amount": "1.123456789"}).code == 148028
        assert api.post(repay, {"loanCurrency": "USDT"}).code == 10001
        sandbox.set_balance("USDT", "10")
        assert api.post(repay, {"loanCurrency": "USDT", "amount": "11"}).code == 148029


class TestRateLimits:
    """The documented UID limits: 1/s for writes, 5/s for queries, per key and path."""

    @pytest.fixture
    def limited(self, clock: Clock):
        sandbox = Sandbox(seed=0, clock=clock)
        sandbox.add_credentials("OTHERKEY", "other-secret")
        with SandboxServer(sandbox) as server:
            client = Api(server)
            yield sandbox, client, server
            client.close()

    def test_writes_one_per_second(self, limited: Any, clock: Clock) -> None:
        """A second borrow within the second is 10006 and executes nothing."""
        sandbox, api, _ = limited
        assert api.flex_borrow(collateral=btc("0.02"))
        answer = api.post(FLEX + "borrow", {"loanCurrency": "USDT", "loanAmount": "20"})
        assert answer.code == 10006 and answer.json["retMsg"] == "Too many visits!"
        assert answer.headers["x-bapi-limit"] == "1"
        assert answer.headers["x-bapi-limit-reset-timestamp"] == str(T0 + 1000)
        assert len(sandbox.new_api.borrow_orders) == 1
        clock.t += 1000
        assert api.flex_borrow(amount="20")

    def test_queries_five_per_second(self, limited: Any) -> None:
        """The sixth query in a second (max-loan POST included) is 10006."""
        _, api, _ = limited
        codes = [api.get(FLEX + "ongoing-coin").code for _ in range(6)]
        assert codes == [0] * 5 + [10006]
        codes = [api.post(COMMON + "max-loan", {"currency": "USDT"}).code for _ in range(6)]
        assert codes == [0] * 5 + [10006]

    def test_per_key_and_relaxing(self, limited: Any) -> None:
        """Another key has its own window; rate_limits.clear() lifts the limits."""
        sandbox, api, server = limited
        api.flex_borrow(collateral=btc("0.02"))
        other = Api(server, key="OTHERKEY", secret="other-secret")
        assert other.flex_borrow(amount="20")
        other.close()
        sandbox.rate_limits.clear()
        assert all(api.flex_borrow(amount="20") for _ in range(3))
        assert api.get(FLEX + "ongoing-coin").headers["x-bapi-limit"] == "5000"

    def test_public_paths_keep_the_default(self, limited: Any) -> None:
        """The public market-data pages have no documented UID limit."""
        _, api, _ = limited
        answer = api.get(COMMON + "loanable-data", signed=False)
        assert answer.headers["x-bapi-limit"] == "5000"


class TestRisk:
    """The pooled account is flagged, then liquidated, as prices move."""

    def test_margin_call_then_liquidation(self, api: Api, sandbox: Sandbox) -> None:
        """ltv 0.859 flags the account; 0.917 sells just enough BTC and returns the rest."""
        api.flex_borrow(collateral=btc("0.02"))
        sandbox.set_price("BTC", "32000")
        assert sandbox.new_api.margin_call
        assert [(e.kind, e.book) for e in sandbox.margin_calls] == [("margin_call", "new")]
        assert api.ok(api.get(COMMON + "position"))["ltv"] == "0.859375"
        sandbox.set_price("BTC", "30000")
        assert not sandbox.new_api.margin_call
        assert api.ok(api.get(FLEX + "ongoing-coin")) == {"list": []}
        (row,) = api.ok(api.get(FLEX + "repayment-history"))["list"]
        assert (row["repayType"], row["repayAmount"]) == (2, "550")
        sold = Decimal("0.01833334")  # 550 / 30000 rounded up to 8 decimals
        assert sandbox.wallet["BTC"] == Decimal("9.98") + Decimal("0.02") - sold
        (event,) = sandbox.liquidations
        assert event.detail["sold"] == {"BTC": sold}
        assert api.ok(api.get(COMMON + "position"))["collateralList"] == []

    def test_interest_counts_over_time(self, api: Api, sandbox: Sandbox) -> None:
        """Hourly interest is part of the debt the account is judged on."""
        api.flex_borrow(amount="800", collateral=btc("0.016"))  # 800 / 1040: ltv 0.769231
        sandbox.set_price("BTC", "55000")  # ltv 0.909091: a margin call only
        assert sandbox.new_api.margin_call and not sandbox.liquidations
        sandbox.set_flexible_rate("USDT", "0.0001")
        sandbox.advance(HOUR)  # 800.08 / 880 = 0.909182: still under 0.91
        assert not sandbox.liquidations
        sandbox.advance(12 * HOUR)
        assert len(sandbox.liquidations) == 1


class TestBooksAndRoutes:
    """Legacy and new books stay apart; every new endpoint is served as declared."""

    def test_books_are_separate(self, api: Api) -> None:
        """A legacy order is not in the new endpoints, nor a new loan in the legacy ones."""
        legacy = api.post(LEGACY_BORROW, {"loanCurrency": "USDT", "loanAmount": "550",
                                          "collateralCurrency": "BTC"})
        assert legacy.json["retMsg"] == "request.success"
        assert api.ok(api.get(FLEX + "ongoing-coin")) == {"list": []}
        assert api.ok(api.get(COMMON + "position"))["borrowList"] == []
        api.flex_borrow(collateral=btc("0.02"))
        rows = api.get("/v5/crypto-loan/ongoing-orders").result["list"]
        assert [r["orderId"] for r in rows] == [legacy.result["orderId"]]

    def test_every_endpoint_is_served(self, api: Api) -> None:
        """Each NEW_API_ENDPOINTS path answers its method; signed ones want a key."""
        for endpoint in NEW_API_ENDPOINTS:
            wrong = "GET" if endpoint.method == "POST" else "POST"
            answer = api.send(wrong, endpoint.path, body=b"{}" if wrong == "POST" else None,
                              signed=False)
            assert (answer.status, answer.code) == (405, 10017), endpoint.path
            body = b"{}" if endpoint.method == "POST" else None
            answer = api.send(endpoint.method, endpoint.path, body=body, signed=False)
            assert answer.status == (401 if endpoint.signed else 200), endpoint.path
            if endpoint.signed:
                assert answer.code == 10003, endpoint.path
            else:
                assert answer.code in (0, 10001), endpoint.path


class TestLegacyBorrowKnob:
    """legacy_borrow='reject' or 'gone' emulates a live Bybit that retired the path."""

    BODY: ClassVar[dict[str, str]] = {
        "loanCurrency": "USDT", "loanAmount": "550", "collateralCurrency": "BTC"}

    def test_reject(self, clock: Clock) -> None:
        """After auth, the borrow is refused with 10017 and a deprecation message."""
        sandbox = Sandbox(clock=clock, legacy_borrow="reject")
        with SandboxServer(sandbox) as server:
            api = Api(server)
            answer = api.post(LEGACY_BORROW, self.BODY)
            assert (answer.status, answer.code) == (200, 10017)
            assert answer.json["retMsg"] == LEGACY_BORROW_DEPRECATED
            assert "crypto-loan-flexible/borrow" in answer.json["retMsg"]
            assert sandbox.orders == {} and sandbox.wallet["USDT"] == Decimal("100000")
            api.key = "NOTAKEY"
            assert api.post(LEGACY_BORROW, self.BODY).code == 10003
            api.close()

    def test_gone_and_back(self, api: Api, sandbox: Sandbox) -> None:
        """'gone' answers 404 route not found; 'serve' restores the historical contract."""
        sandbox.legacy_borrow = "gone"
        answer = api.post(LEGACY_BORROW, self.BODY)
        assert (answer.status, answer.code, answer.json["retMsg"]) == (
            404, 10017, "route not found")
        assert api.get("/v5/crypto-loan/ongoing-orders").code == 0  # the rest still works
        sandbox.legacy_borrow = "serve"
        assert api.post(LEGACY_BORROW, self.BODY).code == 0

    def test_custom_error_and_bad_mode(self, api: Api, sandbox: Sandbox) -> None:
        """legacy_borrow_error sets the refusal; an unknown mode is a ValueError."""
        sandbox.legacy_borrow = "reject"
        sandbox.legacy_borrow_error = (10005, "Permission denied")
        assert api.post(LEGACY_BORROW, self.BODY).code == 10005
        with pytest.raises(ValueError):
            Sandbox(legacy_borrow="maybe")

    def test_command_line_flags(self) -> None:
        """--legacy-borrow gone and --no-new-api-rate-limits reach the served sandbox."""
        proc = subprocess.Popen(
            [sys.executable, "-m", "loan_widgets.sandbox", "--legacy-borrow", "gone",
             "--no-new-api-rate-limits"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        try:
            ready, _, _ = select.select([proc.stdout], [], [], 15)
            assert ready, "no BASE_URL line within 15 s"
            line = proc.stdout.readline().decode()  # type: ignore[union-attr]
            port = int(line.strip().rsplit(":", 1)[1])
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("POST", LEGACY_BORROW, body=b"{}")
            response = conn.getresponse()
            assert (response.status, json.loads(response.read())["retCode"]) == (404, 10017)
            conn.request("GET", COMMON + "loanable-data")
            response = conn.getresponse()
            assert json.loads(response.read())["retMsg"] == "ok"
            conn.close()
        finally:
            proc.terminate()
            proc.communicate(timeout=10)


class TestIds:
    """New-API ids: the docs' example ids for seed 0, elsewhere for other seeds."""

    @staticmethod
    def first_ids(seed: int, clock: Clock) -> tuple[str, str]:
        sandbox = Sandbox(seed=seed, clock=clock, new_api_rate_limits=False)
        with SandboxServer(sandbox) as server:
            api = Api(server)
            flexible = api.flex_borrow(collateral=btc("0.05"))
            fixed = api.ok(api.fixed_borrow(collateralList=[]))["orderId"]
            api.close()
        return flexible, fixed

    def test_seeds(self, clock: Clock) -> None:
        """Seed 0 starts at 1363 / 13007; another seed starts elsewhere, reproducibly."""
        assert self.first_ids(0, clock) == ("1363", "13007")
        assert self.first_ids(5, clock) == self.first_ids(5, clock) != ("1363", "13007")
