"""Every endpoint of the new loan API through ``client.new``, over loopback HTTP.

What each typed method sends (path, exact body or query), what it returns (documented
fields typed: Decimal amounts, text ids, int times), what it records in the ledger, and
what it refuses before sending anything.
"""

from __future__ import annotations

import json
from decimal import Decimal
from urllib.parse import parse_qs

import pytest
from support import posts

from loan_widgets import LoanClient, ValidationError
from loan_widgets import endpoints as ep
from loan_widgets.ledger import Ledger
from loan_widgets.new_reads import FILTERS
from loan_widgets.sandbox import Sandbox

FLEX_REPAY_COLLATERAL = "/v5/crypto-loan-flexible/repay-collateral"
FIXED_REPAY_COLLATERAL = "/v5/crypto-loan-fixed/repay-collateral"
CANCEL = "/v5/crypto-loan-fixed/borrow-order-cancel"
SUPPLY_CANCEL = "/v5/crypto-loan-fixed/supply-order-cancel"


@pytest.fixture
def relaxed(exchange: Sandbox) -> Sandbox:
    """The sandbox without the new API's 1/s and 5/s limits: these tests act back to back."""
    exchange.rate_limits.clear()
    return exchange


@pytest.fixture
def pooled(client: LoanClient, relaxed: Sandbox) -> LoanClient:
    """A client whose account has 550 USDT of flexible debt against 0.02 BTC in the pool."""
    client.new.borrow("USDT", "550", "BTC", collateral_amount="0.02")
    return client


def gets(exchange: Sandbox, path: str) -> list[dict[str, list[str]]]:
    """The query parameters of every GET to ``path`` the exchange received."""
    return [parse_qs(r.query) for r in exchange.requests if r.method == "GET" and r.path == path]


def body(exchange: Sandbox, path: str) -> dict:
    """The JSON body of the one POST to ``path``."""
    [post] = posts(exchange, path)
    return json.loads(post.body)


class TestRepayWithCollateral:
    """FL3 and FX14: debt repaid by selling pooled collateral; the answer has no id."""

    def test_flexible(self, pooled: LoanClient, relaxed: Sandbox, ledger: Ledger) -> None:
        """The documented body; the row is accepted with no id and says its book."""
        result = pooled.new.flexible_repay_collateral("USDT", "50", "BTC")
        assert body(relaxed, FLEX_REPAY_COLLATERAL) == {
            "loanCurrency": "USDT", "amount": "50", "collateralCoin": "BTC"}
        assert result.id is None and result.action == "repay"
        row = ledger.get(result.ledger_id)
        assert (row.api, row.status, row.order_id, row.term, row.collateral_currency,
                row.loan_amount, row.coin) == ("new", "accepted", None, "flexible", "BTC",
                                                Decimal("50"), "USDT")
        [debt] = pooled.new.flexible_loans("USDT")
        assert debt["unpaidAmount"] == Decimal("500")
        [repayment] = pooled.new.flexible_repayment_history(loanCurrency="USDT")
        assert repayment["repayAmount"] == Decimal("50") and repayment["repayType"] == 7

    def test_result_without_id_displays(self, pooled: LoanClient) -> None:
        """A result with no id still has its text and HTML views (the id shown as none)."""
        result = pooled.new.flexible_repay_collateral("USDT", "50", "BTC")
        assert "id=None" in repr(result)
        html = result._repr_html_()
        assert "<th style='text-align:left'>repay id</th>" in html
        assert "none in the answer" in html and "50 USDT" in html

    def test_fixed_one_contract(self, client: LoanClient, relaxed: Sandbox,
                                ledger: Ledger) -> None:
        """With loanId: that contract's principal falls; the repayment lists it."""
        order = client.new.borrow("USDT", "550", "BTC", "0.02", term=30, annual_rate="0.05")
        [contract] = client.new.fixed_contracts(orderId=order.order_id)
        loan = contract["loanId"]
        result = client.new.fixed_repay_collateral("USDT", "100", "BTC", loan_id=loan)
        assert body(relaxed, FIXED_REPAY_COLLATERAL) == {
            "loanId": loan, "loanCurrency": "USDT", "amount": "100", "collateralCoin": "BTC"}
        row = ledger.get(result.ledger_id)
        assert (row.status, row.order_id, row.ref_id, row.term) == ("accepted", None, loan,
                                                                    "fixed")
        [contract] = client.new.fixed_contracts(loanId=loan)
        assert contract["residualPrincipal"] == Decimal("450")
        [repayment] = client.new.fixed_repayment_history()
        assert repayment["details"] == [
            {"loanCurrency": "USDT", "loanId": loan, "repayAmount": Decimal("100")}]

    def test_several_coins_in_order(self, pooled: LoanClient, relaxed: Sandbox) -> None:
        """collateralCoin lists several coins, comma-separated, in the order given."""
        pooled.new.adjust_collateral("ETH", "1", "add")
        pooled.new.flexible_repay_collateral("USDT", "10", ["eth", "BTC"])
        assert body(relaxed, FLEX_REPAY_COLLATERAL)["collateralCoin"] == "ETH,BTC"


class TestFixedOrders:
    """FX3 with strategyType, FX6 cancel, FX4 renew and FX11 renewals."""

    def test_strategy_full_waits_then_cancel(self, pooled: LoanClient, relaxed: Sandbox,
                                             ledger: Ledger) -> None:
        """FULL is sent before collateralList; the order waits; the cancel's id is the order."""
        order = pooled.new.borrow("USDT", "500", "BTC", "0.01", term=30, annual_rate="0.0001",
                                  strategy="full", repay_type="flexible")
        sent = body(relaxed, "/v5/crypto-loan-fixed/borrow")
        assert list(sent) == ["orderCurrency", "orderAmount", "annualRate", "term",
                              "repayType", "strategyType", "collateralList"]
        assert (sent["strategyType"], sent["repayType"]) == ("FULL", "2")
        [waiting] = pooled.new.fixed_orders(state=1)
        assert (waiting["orderId"], waiting["strategyType"], waiting["state"],
                waiting["filledQty"]) == (order.order_id, "FULL", 1, Decimal(0))
        result = pooled.new.cancel_borrow_order(order.order_id)
        assert body(relaxed, CANCEL) == {"orderId": order.order_id}
        assert result.id == order.order_id
        row = ledger.get(result.ledger_id)
        assert (row.action, row.status, row.order_id, row.ref_id, row.loan_amount) == (
            "cancel", "accepted", order.order_id, order.order_id, Decimal("500"))
        [done] = pooled.new.fixed_orders(orderId=order.order_id)
        assert done["state"] == 4

    @pytest.mark.parametrize(("state", "word"), [("filled", "fully filled"),
                                                 ("cancelled", "cancelled"),
                                                 ("missing", "no fixed borrow order")])
    def test_cancel_refused_before_sending(self, pooled: LoanClient, relaxed: Sandbox,
                                           ledger: Ledger, state: str, word: str) -> None:
        """Only a matching order is cancelled: others are refused, nothing sent or recorded."""
        rate = "0.05" if state == "filled" else "0.0001"
        order = pooled.new.borrow("USDT", "100", "BTC", "0.01", term=7, annual_rate=rate)
        target = order.order_id if state != "missing" else "999999"
        if state == "cancelled":
            pooled.new.cancel_borrow_order(target)
        rows = ledger.count()
        with pytest.raises(ValidationError, match=word):
            pooled.new.cancel_borrow_order(target)
        assert len(posts(relaxed, CANCEL)) == (1 if state == "cancelled" else 0)
        assert ledger.count() == rows

    def test_renew_what_was_repaid(self, client: LoanClient, relaxed: Sandbox,
                                   ledger: Ledger) -> None:
        """FX4 borrows again what was repaid; its orderId (a JSON number) is kept as text."""
        order = client.new.borrow("USDT", "550", "BTC", "0.02", term=30, annual_rate="0.05")
        [contract] = client.new.fixed_contracts(orderId=order.order_id)
        loan = contract["loanId"]
        client.new.fixed_repay_collateral("USDT", "100", "BTC", loan_id=loan)
        result = client.new.renew(loan, {"BTC": "0.001"})
        assert body(relaxed, "/v5/crypto-loan-fixed/renew") == {
            "loanId": loan, "collateralList": [{"currency": "BTC", "amount": "0.001"}]}
        assert isinstance(result.id, str) and result.id.isdigit()
        row = ledger.get(result.ledger_id)
        assert (row.action, row.status, row.order_id, row.ref_id) == ("renew", "accepted",
                                                                      result.id, loan)
        [renewal] = client.new.renewals()
        assert (renewal["orderId"], renewal["loanId"], renewal["amount"]) == (
            result.id, loan, Decimal("100"))
        assert isinstance(renewal["time"], int) and isinstance(renewal["dueTime"], int)
        [contract] = client.new.fixed_contracts(loanId=loan)
        assert contract["residualPrincipal"] == Decimal("550")

    def test_fully_repay_by_coin_lists_contracts(self, client: LoanClient,
                                                 relaxed: Sandbox) -> None:
        """FX13 by coin repays every contract; FX15 splits the repayment per contract."""
        first = client.new.borrow("USDT", "200", "BTC", "0.02", term=7, annual_rate="0.05")
        second = client.new.borrow("USDT", "300", "BTC", "0.02", term=7, annual_rate="0.05")
        loans = {c["loanId"] for c in client.new.fixed_contracts()
                 if c["orderId"] in (first.order_id, second.order_id)}
        result = client.new.fixed_fully_repay(loan_currency="USDT")
        [repayment] = client.new.fixed_repayment_history(repayId=result.id)
        assert {d["loanId"] for d in repayment["details"]} == loans
        assert repayment["repayAmount"] == Decimal("500") and repayment["repayType"] == 1


class TestLending:
    """FX1, FX5, FX7, FX9 and FX12: the supply side of the fixed market."""

    def test_supply_fills_into_a_contract(self, client: LoanClient, relaxed: Sandbox,
                                          ledger: Ledger) -> None:
        """A supply order at or under the borrow demand's rate is lent out at once."""
        demand = client.new.supply_order_quote("USDT", term=7)
        assert demand == [{"annualRate": Decimal("0.022"), "orderCurrency": "USDT",
                           "qty": Decimal("212.1234"), "term": "7"}]
        result = client.new.supply("USDT", "100", "0.02", 7)
        assert body(relaxed, "/v5/crypto-loan-fixed/supply") == {
            "orderCurrency": "USDT", "orderAmount": "100", "annualRate": "0.02", "term": "7"}
        row = ledger.get(result.ledger_id)
        assert (row.action, row.status, row.order_id, row.term) == ("supply", "accepted",
                                                                    result.id, "7")
        [order] = client.new.supply_orders(orderId=result.id)
        assert (order["state"], order["filledQty"], order["term"]) == (3, Decimal("100"), "7")
        [contract] = client.new.supply_contracts(orderId=result.id)
        assert contract["supplyAmount"] == Decimal("100") and contract["status"] == 1
        assert contract["redemptionTime"] - contract["supplyTime"] == 7 * 86_400_000

    def test_supply_waits_then_cancel(self, client: LoanClient, relaxed: Sandbox,
                                      ledger: Ledger) -> None:
        """Above the demand it waits; FX7 returns it (refundedAccount as asked)."""
        before = client.new.supply("USDT", "100", "0.5", 14, available_source="funding")
        assert body(relaxed, "/v5/crypto-loan-fixed/supply")["availableSource"] == "0"
        result = client.new.cancel_supply_order(before.id, refund_to="funding")
        assert body(relaxed, SUPPLY_CANCEL) == {"orderId": before.id, "refundedAccount": "0"}
        row = ledger.get(result.ledger_id)
        assert (row.action, row.status, row.order_id) == ("cancel_supply", "accepted", before.id)
        assert repr(result).startswith(f"<CancelSupplyResult id={before.id} ")
        [order] = client.new.supply_orders(orderId=before.id)
        assert order["state"] == 4


class TestInventory:
    """A1 and A2: what the lending pool can still lend."""

    def test_flexible_and_fixed(self, client: LoanClient, relaxed: Sandbox) -> None:
        """The documented fields, typed; updateTime stays in seconds, as documented."""
        flexible = client.new.flexible_available_inventory("usdt")
        assert flexible["currency"] == "USDT"
        assert flexible["availableInventory"] == Decimal("100000000")
        assert isinstance(flexible["updateTime"], int) and flexible["updateTime"] < 10**11
        fixed = client.new.fixed_available_inventory("USDT", 7, "0.02")
        assert fixed["availableInventory"] == Decimal("50000000") and fixed["term"] == "7"
        [query] = gets(relaxed, "/v5/crypto-loan-fixed/available-inventory")
        assert query == {"currency": ["USDT"], "term": ["7"], "annualRate": ["0.02"]}


class TestReads:
    """Filters are checked, every page is read, fields are typed."""

    @pytest.mark.parametrize("name", sorted(FILTERS))
    def test_unknown_filter_refused(self, client: LoanClient, relaxed: Sandbox,
                                    name: str) -> None:
        """A misspelt filter is a one-line error and sends nothing."""
        with pytest.raises(ValidationError, match="takes no filter 'loan_currency'"):
            getattr(client.new, name)(loan_currency="USDT")
        assert relaxed.count() == 0

    @pytest.mark.parametrize(("kwargs", "message"), [
        ({"state": 5}, "not a filter"), ({"term": 8}, "not offered"),
        ({"limit": 0}, "from 1 to 100"), ({"orderId": "12a"}, "not an id"),
        ({"orderCurrency": "usd t"}, "not a coin"),
    ])
    def test_bad_filter_values(self, client: LoanClient, relaxed: Sandbox, kwargs: dict,
                               message: str) -> None:
        """Values are checked by kind before anything is sent."""
        with pytest.raises(ValidationError, match=message):
            client.new.fixed_orders(**kwargs)
        assert relaxed.count() == 0

    def test_every_page(self, pooled: LoanClient, relaxed: Sandbox) -> None:
        """Five borrows in pages of two: three requests, each passing the cursor back."""
        for _ in range(4):
            pooled.new.borrow("USDT", "20", "BTC", "0.001")
        found = pooled.new.flexible_borrow_history(limit=2)
        assert len(found) == 5 and len({i["orderId"] for i in found}) == 5
        queries = [q for q in gets(relaxed, "/v5/crypto-loan-flexible/borrow-history")
                   if q.get("limit") == ["2"]]  # the others are each borrow's evidence read
        assert len(queries) == 3 and "cursor" not in queries[0]
        assert all("cursor" in q for q in queries[1:])
        repaid = [pooled.new.flexible_repay("USDT", "1").id for _ in range(3)]
        history = pooled.new.flexible_repayment_history(limit=2)  # opaque cursors here
        assert [r["repayId"] for r in history] == repaid[::-1]

    def test_typed_fields(self, pooled: LoanClient) -> None:
        """Amounts Decimal, ids text (FX10 prints them as numbers), times int, term text."""
        order = pooled.new.borrow("USDT", "100", "BTC", "0.01", term=60, annual_rate="0.0001")
        [item] = pooled.new.fixed_orders(orderId=order.order_id)
        assert item["orderId"] == order.order_id and isinstance(item["orderTime"], int)
        assert item["orderQty"] == Decimal("100") and item["term"] == "60"
        position = pooled.new.position()
        assert isinstance(position["ltv"], Decimal) and isinstance(position["colRes"], int)
        assert all(isinstance(c["amount"], Decimal) for c in position["collateralList"])
        for coin in pooled.new.loanable_data():
            assert all(not isinstance(v, float) for v in coin.values())


class TestWriteProofs:
    """What proves each write executed is declared once, on its endpoint."""

    def test_every_write_declares_its_proof(self) -> None:
        """Every state-changing endpoint names its id field, or '' where the answer is {}."""
        proofs = {e.name: e.proof for e in ep.ENDPOINTS.values() if e.writes}
        assert proofs == {
            "borrow": "orderId", "repay": "repayId", "adjust_collateral": "adjustId",
            "new_adjust_collateral": "adjustId", "flexible_borrow": "orderId",
            "flexible_repay": "repayId", "flexible_repay_collateral": "",
            "fixed_borrow": "orderId", "fixed_renew": "orderId", "fixed_supply": "orderId",
            "fixed_borrow_order_cancel": "", "fixed_supply_order_cancel": "",
            "fixed_fully_repay": "repayId", "fixed_repay_collateral": "",
        }
        assert all(e.proof is None for e in ep.ENDPOINTS.values() if not e.writes)

    @pytest.mark.parametrize("name", ["fixed_renew", "fixed_supply", "fixed_borrow_order_cancel",
                                      "flexible_repay_collateral"])
    def test_call_names_the_typed_method(self, client: LoanClient, name: str) -> None:
        """LoanClient.call() refuses a new write and names its typed method."""
        with pytest.raises(ValidationError) as info:
            client.call(ep.ENDPOINTS[name], {})
        assert info.value.suggest_method and info.value.suggest_method.startswith("new.")
        assert hasattr(client.new, info.value.suggest_method.removeprefix("new."))


class TestRequestsRefused:
    """Bad input to a new write: one line, nothing read, sent or recorded."""

    @pytest.mark.parametrize(("call", "message"), [
        (lambda n: n.flexible_repay_collateral("USDT", 0.5, "BTC"), "not float"),
        (lambda n: n.flexible_repay_collateral("USDT", "5", "BTC,BTC"), "twice"),
        (lambda n: n.fixed_repay_collateral("USDT", "5", "BTC", loan_id="x1"), "not an id"),
        (lambda n: n.renew("570", {"BTC": "0"}), "greater than zero"),
        (lambda n: n.supply("USDT", "100", "5", 7), "fraction of 1"),
        (lambda n: n.supply("USDT", "100", "0.05", "flexible"), "fixed term"),
        (lambda n: n.supply("USDT", "100", "0.05", 7, available_source="bank"), "not known"),
        (lambda n: n.cancel_borrow_order("0"), "not an id"),
        (lambda n: n.cancel_supply_order("1", refund_to="wallet"), "not known"),
        (lambda n: n.borrow("USDT", "100", "BTC", "0.01", strategy="FULL"), "fixed-term"),
        (lambda n: n.borrow("USDT", "100", "BTC", "0.01", term=7, annual_rate="0.05",
                            strategy="ALL"), "PARTIAL or FULL"),
        (lambda n: n.borrow("USDT", "100", "BTC", "0.01", term=7, annual_rate="0.05",
                            repay_type="3"), "not known"),
    ])
    def test_refused(self, client: LoanClient, relaxed: Sandbox, ledger: Ledger, call,
                     message: str) -> None:
        """The one-line reason; no request, no ledger row."""
        with pytest.raises(ValidationError, match=message) as info:
            call(client.new)
        assert "\n" not in str(info.value)
        assert relaxed.count() == 0 and ledger.count() == 0
