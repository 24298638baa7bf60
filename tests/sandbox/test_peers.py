"""Peer cross-check: pybit (the official SDK) and ccxt against the sandbox exchange.

Each client walks every documented crypto-loan endpoint, legacy and new, with the
sandbox's planted key; every call must come back ``retCode`` 0. What they send is
their own business (pybit sorts GET keys and writes bodies with ``json.dumps``'
default separators; ccxt signs its own way): the sandbox verifies the bytes it got.

pybit 5.14+ logs ``self.crypto_loan_legacy_message`` in every legacy method but
never sets it, so each call crashes before sending; the session gets the attribute
here, as the API reference advises. pybit's ``adjust_collateral_amount`` sends GET to
the POST endpoint ``/v5/crypto-loan/adjust-ltv`` (HTTP 405 here: the only endpoint it
cannot reach), its ``create_borrowing_order_fixed_crypto_loan`` posts to
``borrow-order-cancel`` (so that is how pybit cancels a borrow order), and it has no
method for the two ``available-inventory`` pages (reached through its own
``_submit_request``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from support import PLANTED_KEY, PLANTED_SECRET, posts

from loan_widgets.endpoints import ENDPOINTS

pybit_trading = pytest.importorskip("pybit.unified_trading")
pybit_exceptions = pytest.importorskip("pybit.exceptions")
ccxt = pytest.importorskip("ccxt")

LOAN_ENDPOINTS = {(e.method, e.path) for e in ENDPOINTS.values()
                  if e.path.startswith("/v5/crypto-loan")}
LEGACY_ADJUST = ("POST", "/v5/crypto-loan/adjust-ltv")


def _session(base_url: str, secret: str):
    logging.getLogger("pybit").setLevel(logging.ERROR)
    session = pybit_trading.HTTP(api_key=PLANTED_KEY, api_secret=secret, max_retries=1)
    session.endpoint = base_url
    session.crypto_loan_legacy_message = "legacy crypto-loan endpoint"
    return session


def _reached(exchange) -> set[tuple[str, str]]:
    return {(r.method, r.path) for r in exchange.requests if r.ret_code == 0}


def _walk(call: Callable[[str, dict[str, Any]], dict[str, Any]]) -> None:
    """Every crypto-loan endpoint once, in an order that gives each something to act on.

    ``call(name, params)`` maps an :data:`ENDPOINTS` name to the client's own method.
    """
    def ok(name: str, **params: Any) -> dict[str, Any]:
        answer = call(name, params)
        assert answer["retCode"] == 0, (name, answer)
        return answer["result"]

    ok("collateral_data", currency="ETH")
    ok("loanable_data", currency="USDT")
    ok("borrow_limits", loanCurrency="USDT", collateralCurrency="BTC")
    order_id = ok("borrow", loanCurrency="USDT", loanAmount="550",
                  collateralCurrency="BTC")["orderId"]
    ok("repay", orderId=order_id, amount="50")
    ok("ongoing_orders", orderId=order_id)
    ok("repayment_history", orderId=order_id)
    ok("max_collateral_reduction", orderId=order_id)
    ok("adjust_collateral", orderId=order_id, amount="0.001", direction="0")
    ok("adjustment_history", orderId=order_id)
    ok("repay", orderId=order_id, amount="500")
    ok("borrow_history", orderId=order_id)
    ok("new_loanable_data", currency="ETH")
    ok("new_collateral_data", currency="BTC")
    ok("flexible_borrow", loanCurrency="USDT", loanAmount="1000",
       collateralList=[{"currency": "BTC", "amount": "0.1"}])
    ok("new_position")
    ok("new_max_loan", currency="USDT")
    ok("new_max_collateral_reduction", currency="BTC")
    ok("new_adjust_collateral", currency="BTC", amount="0.01", direction="0")
    ok("new_adjustment_history", collateralCurrency="BTC")
    ok("flexible_repay", loanCurrency="USDT", amount="100")
    ok("flexible_repay_collateral", loanCurrency="USDT", collateralCoin="BTC", amount="100")
    ok("flexible_ongoing", loanCurrency="USDT")
    ok("flexible_borrow_history", loanCurrency="USDT")
    ok("flexible_repayment_history", loanCurrency="USDT")
    ok("flexible_available_inventory", currency="USDT")
    ok("fixed_supply_order_quote", orderCurrency="USDT", orderBy="apy")
    ok("fixed_borrow_order_quote", orderCurrency="USDT", orderBy="apy")
    ok("fixed_borrow", orderCurrency="USDT", orderAmount="1000", annualRate="0.05", term="30")
    (contract,) = ok("fixed_borrow_contract_info", orderCurrency="USDT")["list"]
    waiting = ok("fixed_borrow", orderCurrency="USDT", orderAmount="500", annualRate="0.01",
                 term="30", strategyType="FULL")["orderId"]
    ok("fixed_borrow_order_info", orderId=waiting)
    ok("fixed_borrow_order_cancel", orderId=waiting)
    ok("fixed_supply", orderCurrency="USDT", orderAmount="500", annualRate="0.02", term="60")
    lent = ok("fixed_supply", orderCurrency="USDT", orderAmount="500", annualRate="0.5",
              term="7")["orderId"]
    ok("fixed_supply_order_info", orderId=lent)
    ok("fixed_supply_order_cancel", orderId=lent)
    ok("fixed_supply_contract_info", supplyCurrency="USDT")
    ok("fixed_repay_collateral", loanId=contract["loanId"], loanCurrency="USDT",
       collateralCoin="BTC", amount="100")
    ok("fixed_renew", loanId=contract["loanId"])
    ok("fixed_renew_info")
    ok("fixed_available_inventory", currency="USDT", term="7", annualRate="0.02")
    ok("fixed_fully_repay", loanCurrency="USDT")
    ok("fixed_repayment_history", loanCurrency="USDT")


PYBIT_METHODS = {
    "collateral_data": "get_collateral_coins",
    "loanable_data": "get_borrowable_coins",
    "borrow_limits": "get_account_borrowable_or_collateralizable_limit",
    "borrow": "borrow_crypto_loan",
    "repay": "repay_crypto_loan",
    "ongoing_orders": "get_unpaid_loans",
    "repayment_history": "get_loan_repayment_history",
    "borrow_history": "get_completed_loan_history",
    "max_collateral_reduction": "get_max_allowed_collateral_reduction_amount",
    "adjustment_history": "get_crypto_loan_ltv_adjustment_history",
    "new_loanable_data": "get_borrowable_coins_new_crypto_loan",
    "new_collateral_data": "get_collateral_coins_new_crypto_loan",
    "new_position": "get_position_new_crypto_loan",
    "new_max_loan": "get_max_loan_amount_new_crypto_loan",
    "new_max_collateral_reduction": "get_max_allowed_collateral_reduction_amount_new_crypto_loan",
    "new_adjust_collateral": "adjust_collateral_amount_new_crypto_loan",
    "new_adjustment_history": "get_ltv_adjustment_history_new_crypto_loan",
    "flexible_borrow": "borrow_flexible_crypto_loan",
    "flexible_repay": "repay_flexible_crypto_loan",
    "flexible_repay_collateral": "collateral_repayment_flexible_crypto_loan",
    "flexible_ongoing": "get_flexible_loans_flexible_crypto_loan",
    "flexible_borrow_history": "get_borrowing_history_flexible_crypto_loan",
    "flexible_repayment_history": "get_repayment_history_flexible_crypto_loan",
    "fixed_supply_order_quote": "get_lending_market_fixed_crypto_loan",
    "fixed_borrow_order_quote": "get_borrowing_market_fixed_crypto_loan",
    "fixed_borrow": "borrow_fixed_crypto_loan",
    "fixed_renew": "renew_fixed_crypto_loan",
    "fixed_supply": "create_lending_order_fixed_crypto_loan",
    "fixed_borrow_order_cancel": "create_borrowing_order_fixed_crypto_loan",  # pybit's name
    "fixed_supply_order_cancel": "cancel_lending_order_fixed_crypto_loan",
    "fixed_borrow_contract_info": "get_borrowing_contract_info_fixed_crypto_loan",
    "fixed_supply_contract_info": "get_lending_contract_info_fixed_crypto_loan",
    "fixed_borrow_order_info": "get_borrowing_orders_fixed_crypto_loan",
    "fixed_renew_info": "get_renewal_orders_fixed_crypto_loan",
    "fixed_supply_order_info": "get_lending_orders_fixed_crypto_loan",
    "fixed_fully_repay": "repay_fixed_crypto_loan",
    "fixed_repay_collateral": "collateral_repayment_fixed_crypto_loan",
    "fixed_repayment_history": "get_repayment_history_fixed_crypto_loan",
}


class TestPybit:
    """The official SDK against the sandbox, endpoint by endpoint."""

    def test_borrow_succeeds(self, server, exchange) -> None:
        """pybit's borrow_crypto_loan gets a 19-digit order id from the sandbox."""
        answer = _session(server.base_url, PLANTED_SECRET).borrow_crypto_loan(
            loanCurrency="USDT", loanAmount="550", collateralCurrency="BTC"
        )
        assert answer["retCode"] == 0 and answer["retMsg"] == "request.success"
        order_id = answer["result"]["orderId"]
        assert len(order_id) == 19 and order_id in exchange.orders
        # pybit drops None values and serialises with json.dumps' default separators
        assert posts(exchange)[0].body == (
            b'{"loanCurrency": "USDT", "loanAmount": "550", "collateralCurrency": "BTC"}'
        )

    def test_reads_ongoing_orders(self, server) -> None:
        """pybit's signed GET (sorted query) passes the sandbox's signature check."""
        session = _session(server.base_url, PLANTED_SECRET)
        order_id = session.borrow_crypto_loan(
            loanCurrency="USDT", loanAmount="550", collateralCurrency="BTC"
        )["result"]["orderId"]
        listed = session.get_unpaid_loans(orderId=order_id, limit="10")
        assert [o["orderId"] for o in listed["result"]["list"]] == [order_id]

    def test_wrong_secret_gets_10004(self, server, exchange) -> None:
        """With a wrong secret pybit receives retCode 10004 and no loan is made."""
        with pytest.raises(pybit_exceptions.InvalidRequestError) as info:
            _session(server.base_url, "not-the-secret").borrow_crypto_loan(
                loanCurrency="USDT", loanAmount="550", collateralCurrency="BTC"
            )
        assert info.value.status_code == 10004
        assert not exchange.orders

    def test_every_endpoint(self, server, exchange) -> None:
        """Every crypto-loan endpoint answers pybit with retCode 0, but the legacy adjust."""
        exchange.rate_limits.clear()
        session = _session(server.base_url, PLANTED_SECRET)

        def call(name: str, params: dict[str, Any]) -> dict[str, Any]:
            endpoint = ENDPOINTS[name]
            method = PYBIT_METHODS.get(name)
            if method is not None:
                answer: dict[str, Any] = getattr(session, method)(**params)
                return answer
            if name == "adjust_collateral":  # pybit sends GET: refused as the wrong method
                with pytest.raises(pybit_exceptions.FailedRequestError):
                    session.adjust_collateral_amount(**params)
                return {"retCode": 0, "result": {}}
            return session._submit_request(method=endpoint.method,
                                           path=session.endpoint + endpoint.path,
                                           query=params, auth=True)

        _walk(call)
        assert _reached(exchange) == LOAN_ENDPOINTS - {LEGACY_ADJUST}


class TestCcxt:
    """ccxt's implicit Bybit API against the sandbox, endpoint by endpoint."""

    def test_every_endpoint(self, server, exchange) -> None:
        """Every crypto-loan endpoint answers ccxt with retCode 0."""
        exchange.rate_limits.clear()
        client = ccxt.bybit({"apiKey": PLANTED_KEY, "secret": PLANTED_SECRET,
                             "enableRateLimit": False})
        client.urls["api"] = {name: server.base_url for name in client.urls["api"]}

        def call(name: str, params: dict[str, Any]) -> dict[str, Any]:
            endpoint = ENDPOINTS[name]
            scope = "private" if endpoint.signed else "public"
            method = f"{scope}_{endpoint.method.lower()}" + endpoint.path.replace(
                "/", "_").replace("-", "_")
            answer: dict[str, Any] = getattr(client, method)(params)
            return {**answer, "retCode": int(answer["retCode"])}

        _walk(call)
        assert _reached(exchange) == LOAN_ENDPOINTS
