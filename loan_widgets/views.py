"""What ``%loans`` reads: open loans of both loan APIs, and each API's histories, as frames.

:func:`open_loans` reads the legacy ``ongoing-orders`` (with the coins' levels)
and the new API's open positions (:meth:`~loan_widgets.new_reads.NewApiReads.open_positions`);
:func:`history` reads one API's completed loans, repayments or adjustments. The
frames are :mod:`loan_widgets.frames`'s: exact ``Decimal`` amounts, UTC times,
``<NA>`` for gaps. pandas is imported only when a frame is asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import ValidationError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["HISTORIES", "history", "open_loans"]

HISTORIES = ("loans", "repayments", "adjustments")
"""The kinds of history of either API."""

_NEW_KINDS: dict[str, dict[str, str]] = {  # column -> kind, for the new API's histories
    "loans": {"order_id": "text", "kind": "text", "loan_currency": "text",
              "loan_amount": "decimal", "filled": "decimal", "annual_rate": "decimal",
              "term": "text", "borrowed_at": "time", "status": "int", "state": "text"},
    "repayments": {"repay_id": "text", "kind": "text", "loan_currency": "text",
                   "amount": "decimal", "contracts": "text", "repaid_at": "time",
                   "status": "int", "repay_type": "int"},
    "adjustments": {"adjust_id": "text", "collateral_currency": "text", "amount": "decimal",
                    "direction": "text", "ltv_before": "decimal", "ltv_after": "decimal",
                    "adjusted_at": "time", "status": "int"},
}
_NEW_COMPACT = {
    "loans": ("order_id", "kind", "loan_currency", "loan_amount", "term", "borrowed_at",
              "state"),
    "repayments": ("repay_id", "kind", "loan_currency", "amount", "contracts", "repaid_at",
                   "status"),
    "adjustments": ("adjust_id", "collateral_currency", "amount", "direction", "ltv_before",
                    "ltv_after", "adjusted_at"),
}
_STATES = {1: "matching", 2: "partly filled, cancelled", 3: "filled", 4: "cancelled",
           5: "failed"}


def _check_api(api: str | None, allow_both: bool) -> None:
    if api is None and allow_both:
        return
    if api not in ("legacy", "new"):
        raise ValidationError(f"api {api!r} is not known: use legacy or new")


def open_loans(client: Any, api: str | None = None) -> pd.DataFrame:
    """Open loans of both APIs, or of ``api`` (``legacy`` or ``new``) only."""
    from .frames import loans_frame

    _check_api(api, allow_both=True)
    items: list[dict[str, Any]] = []
    levels: dict[str, Any] = {}
    if api != "new":
        levels = {c["currency"]: c for c in client.collateral_data()}
        items = client.ongoing_orders()
    return loans_frame(items, levels, client.new.open_positions() if api != "legacy" else None)


def history(client: Any, kind: str = "loans", api: str = "legacy") -> pd.DataFrame:
    """``loans`` (legacy: completed loans; new: flexible borrows and fixed borrow orders),
    ``repayments`` (new: flexible and fixed) or ``adjustments`` (new: the pool's)."""
    from .frames import history_frame, typed_frame

    _check_api(api, allow_both=False)
    if kind not in HISTORIES:
        raise ValidationError(f"history {kind!r}: use loans, repayments or adjustments")
    if api == "legacy":
        fetch = {"loans": client.borrow_history, "repayments": client.repayment_history,
                 "adjustments": client.adjustment_history}
        return history_frame(kind, fetch[kind]())
    new = client.new
    rows: list[dict[str, Any]]
    if kind == "loans":
        rows = [{"order_id": i.get("orderId"), "kind": "flexible",
                 "loan_currency": i.get("loanCurrency"), "loan_amount": i.get("initialLoanAmount"),
                 "term": "flexible", "borrowed_at": i.get("borrowTime"), "status": i.get("status"),
                 "state": "failed" if i.get("status") == 3 else "borrowed"}
                for i in new.flexible_borrow_history()]
        rows += [{"order_id": i.get("orderId"), "kind": "fixed order",
                  "loan_currency": i.get("orderCurrency"), "loan_amount": i.get("orderQty"),
                  "filled": i.get("filledQty"), "annual_rate": i.get("annualRate"),
                  "term": i.get("term"), "borrowed_at": i.get("orderTime"),
                  "status": i.get("state"), "state": _STATES.get(i.get("state"), "")}
                 for i in new.fixed_orders()]
    elif kind == "repayments":
        rows = [{"repay_id": i.get("repayId"), "kind": book, "loan_currency": i.get("loanCurrency"),
                 "amount": i.get("repayAmount"),
                 "contracts": ",".join(str(d.get("loanId")) for d in i.get("details") or []),
                 "repaid_at": i.get("repayTime"), "status": i.get("repayStatus"),
                 "repay_type": i.get("repayType")}
                for book, found in (("flexible", new.flexible_repayment_history()),
                                    ("fixed", new.fixed_repayment_history()))
                for i in found]
    else:
        rows = [{"adjust_id": i.get("adjustId"), "collateral_currency": i.get("collateralCurrency"),
                 "amount": i.get("amount"),
                 "direction": {0: "add", 1: "reduce"}.get(i.get("direction"), ""),
                 "ltv_before": i.get("preLTV"), "ltv_after": i.get("afterLTV"),
                 "adjusted_at": i.get("adjustTime"), "status": i.get("status")}
                for i in new.adjustment_history()]
    return typed_frame(rows, _NEW_KINDS[kind], _NEW_COMPACT[kind])
