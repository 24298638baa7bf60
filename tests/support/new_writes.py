"""The new loan API's writes as a table: how to set each up, send it, and find what it made.

Used by the reconciliation tests (``tests/core``) and the fault tests (``tests/evidence``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from loan_widgets import LoanClient

__all__ = ["CASES", "Case", "contract", "matching", "newest"]


@dataclass(frozen=True)
class Case:
    """One new-API write: how to set it up, send it, and find the id the exchange gave it."""

    name: str
    path: str
    setup: Callable[[LoanClient], dict]
    send: Callable[[LoanClient, dict], object]
    made: Callable[[LoanClient, dict], str | None]  # the id reconcile should find

    def __str__(self) -> str:
        return self.name


def contract(c: LoanClient, repaid: str | None = None) -> dict:
    """A fixed contract of 550 USDT (``repaid`` of it repaid with BTC collateral)."""
    order = c.new.borrow("USDT", "550", "BTC", "0.02", term=30, annual_rate="0.05")
    [made] = c.new.fixed_contracts(orderId=order.order_id)
    if repaid:
        c.new.fixed_repay_collateral("USDT", repaid, "BTC", loan_id=made["loanId"])
    return {"loan": made["loanId"]}


def matching(c: LoanClient) -> dict:
    """A fixed borrow order below the market: it stays matching."""
    order = c.new.borrow("USDT", "100", "BTC", "0.01", term=7, annual_rate="0.0001")
    return {"order": order.order_id}


def newest(items: list[dict], key: str) -> str:
    """The id of the newest item."""
    return str(max(items, key=lambda i: int(i[key]))[key])


CASES = [
    Case("flexible borrow", "/v5/crypto-loan-flexible/borrow", lambda c: {},
         lambda c, s: c.new.borrow("USDT", "77", "BTC", "0.01"),
         lambda c, s: newest(c.new.flexible_borrow_history(), "orderId")),
    Case("fixed borrow order", "/v5/crypto-loan-fixed/borrow", lambda c: {},
         lambda c, s: c.new.borrow("USDT", "120", "BTC", "0.01", term=14, annual_rate="0.05",
                                   strategy="FULL"),
         lambda c, s: newest(c.new.fixed_orders(), "orderId")),
    Case("flexible repay", "/v5/crypto-loan-flexible/repay", lambda c: {},
         lambda c, s: c.new.flexible_repay("USDT", "33"),
         lambda c, s: newest(c.new.flexible_repayment_history(), "repayId")),
    Case("flexible repay with collateral", "/v5/crypto-loan-flexible/repay-collateral",
         lambda c: {}, lambda c, s: c.new.flexible_repay_collateral("USDT", "34", "BTC"),
         lambda c, s: newest(c.new.flexible_repayment_history(), "repayId")),
    Case("fixed full repay", "/v5/crypto-loan-fixed/fully-repay", contract,
         lambda c, s: c.new.fixed_fully_repay(loan_id=s["loan"]),
         lambda c, s: newest(c.new.fixed_repayment_history(), "repayId")),
    Case("fixed repay with collateral", "/v5/crypto-loan-fixed/repay-collateral", contract,
         lambda c, s: c.new.fixed_repay_collateral("USDT", "35", "BTC", loan_id=s["loan"]),
         lambda c, s: newest(c.new.fixed_repayment_history(), "repayId")),
    Case("pool add", "/v5/crypto-loan-common/adjust-ltv", lambda c: {},
         lambda c, s: c.new.adjust_collateral("BTC", "0.003", "add"),
         lambda c, s: newest(c.new.adjustment_history(), "adjustId")),
    Case("pool reduce", "/v5/crypto-loan-common/adjust-ltv", lambda c: {},
         lambda c, s: c.new.adjust_collateral("BTC", "0.001", "reduce"),
         lambda c, s: newest(c.new.adjustment_history(), "adjustId")),
    Case("renew", "/v5/crypto-loan-fixed/renew", lambda c: contract(c, "50"),
         lambda c, s: c.new.renew(s["loan"]),
         lambda c, s: newest(c.new.renewals(), "orderId")),
    Case("supply", "/v5/crypto-loan-fixed/supply", lambda c: {},
         lambda c, s: c.new.supply("USDT", "150", "0.3", 30),
         lambda c, s: newest(c.new.supply_orders(), "orderId")),
    Case("cancel borrow order", "/v5/crypto-loan-fixed/borrow-order-cancel", matching,
         lambda c, s: c.new.cancel_borrow_order(s["order"]), lambda c, s: s["order"]),
    Case("cancel supply order", "/v5/crypto-loan-fixed/supply-order-cancel",
         lambda c: {"order": c.new.supply("USDT", "150", "0.3", 30).id},
         lambda c, s: c.new.cancel_supply_order(s["order"]), lambda c, s: s["order"]),
]
