"""Bybit's new loan API through the client and %borrow --api new, over loopback HTTP."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from IPython.core.error import UsageError
from support import posts

from loan_widgets import ExchangeError, LoanClient, ValidationError
from loan_widgets.ledger import Ledger, default_ledger

FLEX = "/v5/crypto-loan-flexible/borrow"
FIXED = "/v5/crypto-loan-fixed/borrow"


@pytest.fixture
def relaxed(exchange):
    """The sandbox without the new API's 1/s write limit, for tests that write in bursts."""
    exchange.rate_limits.clear()
    return exchange


class TestBorrowNew:
    """Flexible and fixed borrows map onto the new endpoints and land in the ledger."""

    def test_flexible_with_collateral(self, client: LoanClient, relaxed, ledger: Ledger) -> None:
        """A flexible borrow sends loanCurrency, loanAmount and a one-coin collateralList."""
        result = client.borrow("USDT", "550", "BTC", collateral_amount="0.02", api="new")
        [post] = posts(relaxed, FLEX)
        assert json.loads(post.body) == {
            "loanCurrency": "USDT", "loanAmount": "550",
            "collateralList": [{"currency": "BTC", "amount": "0.02"}],
        }
        row = ledger.get(result.ledger_id)
        assert (row.api, row.status, row.order_id) == ("new", "accepted", result.order_id)
        [debt] = client.new.flexible_loans("USDT")
        assert Decimal(debt["unpaidAmount"]) == Decimal("550")

    def test_collateral_asked_of_max_loan(self, client: LoanClient, relaxed) -> None:
        """Without a collateral amount, max-loan is asked and the pledge just covers the loan."""
        result = client.borrow("USDT", "550", "BTC", api="new")
        need = result.request.collateral_amount
        assert need is not None and need > 0
        position = client.new.position()
        assert Decimal(position["ltv"]) <= Decimal("0.8")
        assert Decimal(position["collateralList"][0]["amount"]) == need
        assert relaxed.count("/v5/crypto-loan-common/max-loan") >= 2

    def test_fixed_with_rate(self, client: LoanClient, relaxed) -> None:
        """--term 30 --rate 0.05 becomes a fixed borrow order that matches into a contract."""
        result = client.borrow(
            "USDT", "550", "BTC", collateral_amount="0.02", term=30, annual_rate="0.05", api="new"
        )
        [post] = posts(relaxed, FIXED)
        assert json.loads(post.body)["annualRate"] == "0.05"
        assert json.loads(post.body)["term"] == "30"
        [order] = client.new.fixed_orders(orderId=result.order_id)
        assert order["state"] == 3
        [contract] = client.new.fixed_contracts(orderId=result.order_id)
        assert Decimal(contract["residualPrincipal"]) == Decimal("550")

    def test_new_api_rules(self, client: LoanClient, relaxed) -> None:
        """A rate needs a fixed term, a fixed term needs a rate, sizing needs a loan amount."""
        for kwargs, message in (
            ({"annual_rate": "0.05"}, "fixed terms only"),
            ({"term": 30}, "needs an annual rate"),
            ({"annual_rate": "5", "term": 30}, "fraction of 1"),
        ):
            with pytest.raises(ValidationError, match=message):
                client.borrow("USDT", "550", "BTC", api="new", **kwargs)
        with pytest.raises(ValidationError, match="needs a loan amount"):
            client.borrow("USDT", None, "BTC", collateral_amount="0.1", api="new")
        with pytest.raises(ValidationError, match="new loan API") as info:
            client.borrow("USDT", "550", "BTC", annual_rate="0.05")
        assert info.value.suggest_api == "new" and "--api" not in str(info.value)
        assert not posts(relaxed, FLEX) and not posts(relaxed, FIXED)

    def test_148xxx_refusal(self, client: LoanClient, relaxed, ledger: Ledger) -> None:
        """Too little collateral is refused with a 148xxx code and recorded with api new."""
        with pytest.raises(ExchangeError) as info:
            client.borrow("USDT", "550", "BTC", collateral_amount="0.0001", api="new")
        assert 148000 < info.value.ret_code < 149000
        row = ledger.get(info.value.ledger_id)
        assert (row.api, row.status) == ("new", "rejected")

    def test_documented_write_limit(self, client: LoanClient, exchange) -> None:
        """Two borrows within a second: the 1/s limit answers 10006, waited out, resent once."""
        client.borrow("USDT", "100", "BTC", collateral_amount="0.01", api="new")
        client.borrow("USDT", "100", "BTC", collateral_amount="0.01", api="new")
        codes = [(p.ret_code, p.status) for p in posts(exchange, FLEX)]
        assert codes[-1] == (0, 200) and len(codes) == 3
        assert codes[1][0] == 10006


class TestLifecycleNew:
    """Repay, pool adjustments and reads of the new API."""

    def test_repay_adjust_and_reads(self, client: LoanClient, relaxed, ledger: Ledger) -> None:
        """Flexible repay, pool add/reduce, fixed full repay, histories and market data."""
        client.borrow("USDT", "550", "BTC", collateral_amount="0.02", api="new")
        repaid = client.new.flexible_repay("USDT", "100")
        [debt] = client.new.flexible_loans("USDT")
        assert Decimal(debt["unpaidAmount"]) == Decimal("450")
        assert client.new.flexible_repayment_history()[0]["repayId"] == repaid.id
        assert client.new.flexible_borrow_history()[0]["loanCurrency"] == "USDT"
        added = client.new.adjust_collateral("BTC", "0.001", "add")
        most = client.new.max_collateral_reduction("BTC")
        assert most > 0
        client.new.adjust_collateral("BTC", most, "reduce")
        history = client.new.adjustment_history()
        assert str(history[-1]["adjustId"]) == added.id or str(history[0]["adjustId"]) == added.id
        fixed = client.borrow(
            "USDT", "100", "BTC", collateral_amount="0.01", term=7, annual_rate="0.2", api="new"
        )
        [contract] = client.new.fixed_contracts(orderId=fixed.order_id)
        full = client.new.fixed_fully_repay(loan_id=contract["loanId"])
        assert full.id
        actions = [(r.api, r.action, r.status) for r in ledger.rows()]
        assert actions == [
            ("new", "borrow", "accepted"), ("new", "repay", "accepted"),
            ("new", "adjust", "accepted"), ("new", "adjust", "accepted"),
            ("new", "borrow", "accepted"), ("new", "repay", "accepted"),
        ]
        assert client.new.max_loan("USDT")["currency"] == "USDT"
        assert client.new.loanable_data("USDT")[0]["currency"] == "USDT"
        assert "collateralRatioConfigList" in client.new.collateral_data()
        assert isinstance(client.new.borrow_order_quote("USDT"), list)


class TestMagicNew:
    """%borrow --api new and %config BorrowMagics.api."""

    def test_magic_api_new(self, ip, relaxed) -> None:
        """--api new borrows on the flexible endpoint; the ledger row says api new."""
        result = ip.run_line_magic("borrow", "USDT 550 BTC --api new --collateral-amount 0.02")
        assert result.api == "new" and len(posts(relaxed, FLEX)) == 1
        assert default_ledger().rows()[-1].api == "new"

    def test_config_api_new_and_fixed(self, ip, relaxed) -> None:
        """%config BorrowMagics.api = "new" makes it the default; --term/--rate go fixed."""
        ip.run_line_magic("config", 'BorrowMagics.api = "new"')
        ip.run_line_magic("borrow", "USDT 550 BTC -c 0.02 --term 30 --rate 0.05")
        assert len(posts(relaxed, FIXED)) == 1
        dry = ip.run_line_magic("borrow", "USDT 550 BTC -c 0.02 --dry-run")
        assert dry.url.endswith(FLEX)

    def test_bad_api_value(self, ip) -> None:
        """An unknown --api is a one-line error."""
        with pytest.raises(UsageError, match="legacy or new"):
            ip.run_line_magic("borrow", "USDT 550 BTC --api v6")

    @pytest.mark.parametrize("mode", ["reject", "gone"])
    def test_legacy_refused_suggests_new(self, ip, exchange, mode: str) -> None:
        """When a server refuses the deprecated legacy Borrow, the error suggests --api new."""
        exchange.legacy_borrow = mode
        with pytest.raises(UsageError, match="--api new") as info:
            ip.run_line_magic("borrow", "USDT 550 BTC")
        assert "\n" not in str(info.value)
        assert default_ledger().rows()[-1].status == "rejected"
