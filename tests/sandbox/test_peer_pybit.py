"""Peer cross-check: pybit, the official SDK, against our sandbox exchange.

pybit 5.14+ logs ``self.crypto_loan_legacy_message`` in every legacy
crypto-loan method but never sets it, so each call crashes before sending;
the session gets the attribute here, as the API reference advises.
"""

from __future__ import annotations

import logging

import pytest
from support import PLANTED_KEY, PLANTED_SECRET, posts

pybit_trading = pytest.importorskip("pybit.unified_trading")
pybit_exceptions = pytest.importorskip("pybit.exceptions")


def _session(base_url: str, secret: str):
    logging.getLogger("pybit").setLevel(logging.ERROR)
    session = pybit_trading.HTTP(api_key=PLANTED_KEY, api_secret=secret, max_retries=1)
    session.endpoint = base_url
    session.crypto_loan_legacy_message = "legacy crypto-loan endpoint"
    return session


class TestPybit:
    """The official SDK borrows against the sandbox like against Bybit."""

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
