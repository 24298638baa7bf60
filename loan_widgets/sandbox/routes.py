"""Every route the sandbox serves, declared once: endpoint -> (book, handler).

The endpoints are :data:`loan_widgets.endpoints.ENDPOINTS`; this table adds, for
each, which part of the account answers it and with which function, and the
retMsg of a success (``"OK"`` for market data and the two ``available-inventory``
pages, ``"request.success"`` for the legacy book, ``"ok"`` for the new API, as
the docs' examples show). :data:`ROUTES` is keyed by path.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .. import endpoints as ep
from . import legacy_endpoints as legacy
from . import new_common, new_fixed, new_flexible, new_supply, public

__all__ = ["ROUTES", "Route"]


def _account(account: Any) -> Any:
    return account


def _legacy(account: Any) -> Any:
    return account.legacy


def _new(account: Any) -> Any:
    return account.new_api


@dataclass(frozen=True)
class Route:
    """One served endpoint: the part of the account that answers it, and how."""

    endpoint: ep.Endpoint
    book: Callable[[Any], Any]
    handler: Callable[[Any, Mapping[str, Any], int], dict[str, Any]]
    ok_msg: str
    stateful: bool = True
    """False for answers that read no state (no lock, no catch-up)."""


_TABLE: tuple[Route, ...] = (
    Route(ep.SERVER_TIME, _account, public.server_time, "OK", stateful=False),
    Route(ep.TICKERS, _account, public.tickers, "OK"),
    # Crypto Loan (legacy)
    Route(ep.COLLATERAL_DATA, _legacy, legacy.collateral_data, "request.success"),
    Route(ep.LOANABLE_DATA, _legacy, legacy.loanable_data, "request.success"),
    Route(ep.BORROW_LIMITS, _legacy, legacy.borrow_limits, "request.success"),
    Route(ep.BORROW, _legacy, legacy.borrow, "request.success"),
    Route(ep.REPAY, _legacy, legacy.repay, "request.success"),
    Route(ep.ONGOING_ORDERS, _legacy, legacy.ongoing_orders, "request.success"),
    Route(ep.REPAYMENT_HISTORY, _legacy, legacy.repayment_history, "request.success"),
    Route(ep.BORROW_HISTORY, _legacy, legacy.borrow_history, "request.success"),
    Route(ep.MAX_COLLATERAL_REDUCTION, _legacy, legacy.max_collateral, "request.success"),
    Route(ep.ADJUST_COLLATERAL, _legacy, legacy.adjust, "request.success"),
    Route(ep.ADJUSTMENT_HISTORY, _legacy, legacy.adjustment_history, "request.success"),
    # Crypto Loan (New): common
    Route(ep.NEW_LOANABLE_DATA, _new, new_common.loanable_data, "ok"),
    Route(ep.NEW_COLLATERAL_DATA, _new, new_common.collateral_data, "ok"),
    Route(ep.NEW_POSITION, _new, new_common.position, "ok"),
    Route(ep.NEW_MAX_LOAN, _new, new_common.max_loan, "ok"),
    Route(ep.NEW_ADJUST_COLLATERAL, _new, new_common.adjust, "ok"),
    Route(ep.NEW_MAX_COLLATERAL_REDUCTION, _new, new_common.max_collateral, "ok"),
    Route(ep.NEW_ADJUSTMENT_HISTORY, _new, new_common.adjustment_history, "ok"),
    # flexible
    Route(ep.FLEXIBLE_BORROW, _new, new_flexible.borrow, "ok"),
    Route(ep.FLEXIBLE_REPAY, _new, new_flexible.repay, "ok"),
    Route(ep.FLEXIBLE_REPAY_COLLATERAL, _new, new_flexible.repay_collateral, "ok"),
    Route(ep.FLEXIBLE_ONGOING, _new, new_flexible.ongoing_coin, "ok"),
    Route(ep.FLEXIBLE_BORROW_HISTORY, _new, new_flexible.borrow_history, "ok"),
    Route(ep.FLEXIBLE_REPAYMENT_HISTORY, _new, new_flexible.repayment_history, "ok"),
    Route(ep.FLEXIBLE_AVAILABLE_INVENTORY, _new, new_flexible.available_inventory, "OK"),
    # fixed
    Route(ep.FIXED_SUPPLY_ORDER_QUOTE, _new, new_supply.supply_order_quote, "ok"),
    Route(ep.FIXED_BORROW_ORDER_QUOTE, _new, new_fixed.borrow_order_quote, "ok"),
    Route(ep.FIXED_BORROW, _new, new_fixed.borrow, "ok"),
    Route(ep.FIXED_RENEW, _new, new_fixed.renew, "ok"),
    Route(ep.FIXED_SUPPLY, _new, new_supply.supply, "ok"),
    Route(ep.FIXED_BORROW_ORDER_CANCEL, _new, new_fixed.borrow_order_cancel, "ok"),
    Route(ep.FIXED_SUPPLY_ORDER_CANCEL, _new, new_supply.supply_order_cancel, "ok"),
    Route(ep.FIXED_BORROW_CONTRACT_INFO, _new, new_fixed.borrow_contract_info, "ok"),
    Route(ep.FIXED_SUPPLY_CONTRACT_INFO, _new, new_supply.supply_contract_info, "ok"),
    Route(ep.FIXED_BORROW_ORDER_INFO, _new, new_fixed.borrow_order_info, "ok"),
    Route(ep.FIXED_RENEW_INFO, _new, new_fixed.renew_info, "ok"),
    Route(ep.FIXED_SUPPLY_ORDER_INFO, _new, new_supply.supply_order_info, "ok"),
    Route(ep.FIXED_FULLY_REPAY, _new, new_fixed.fully_repay, "ok"),
    Route(ep.FIXED_REPAY_COLLATERAL, _new, new_fixed.repay_collateral, "ok"),
    Route(ep.FIXED_REPAYMENT_HISTORY, _new, new_fixed.repayment_history, "ok"),
    Route(ep.FIXED_AVAILABLE_INVENTORY, _new, new_fixed.available_inventory, "OK"),
)

ROUTES: Mapping[str, Route] = {route.endpoint.path: route for route in _TABLE}
"""Every served path -> its :class:`Route`."""
