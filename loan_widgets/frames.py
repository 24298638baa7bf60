"""Exchange lists as pandas DataFrames: exact ``Decimal`` amounts, tz-aware UTC times.

pandas is imported inside the functions, so importing this module is cheap.
"""

from __future__ import annotations

import hashlib
import html
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from .orders import wire_decimal

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["NEAR_MARGIN_CALL", "LoansTable", "history_frame", "loans_frame"]

NEAR_MARGIN_CALL = Decimal("0.05")
"""A loan is flagged when its LTV is within this of the margin-call LTV."""

_HISTORY_COLUMNS: dict[str, dict[str, str]] = {
    # kind -> {wire field: column}; amounts become Decimal, *Time fields datetimes
    "loans": {
        "orderId": "order_id",
        "loanCurrency": "loan_currency",
        "initialLoanAmount": "loan_amount",
        "collateralCurrency": "collateral_currency",
        "initialCollateralAmount": "collateral_amount",
        "loanTerm": "term",
        "hourlyInterestRate": "hourly_interest_rate",
        "repaidInterest": "repaid_interest",
        "repaidPenaltyInterest": "repaid_penalty_interest",
        "borrowTime": "borrowed_at",
        "expirationTime": "expires_at",
        "status": "status",
    },
    "repayments": {
        "repayId": "repay_id",
        "orderId": "order_id",
        "loanCurrency": "loan_currency",
        "repayAmount": "amount",
        "collateralCurrency": "collateral_currency",
        "collateralReturn": "collateral_returned",
        "loanTerm": "term",
        "repayTime": "repaid_at",
        "repayStatus": "status",
        "repayType": "repay_type",
    },
    "adjustments": {
        "adjustId": "adjust_id",
        "orderId": "order_id",
        "collateralCurrency": "collateral_currency",
        "amount": "amount",
        "direction": "direction",
        "preLTV": "ltv_before",
        "afterLTV": "ltv_after",
        "adjustTime": "adjusted_at",
    },
}
_DECIMAL_FIELDS = {
    "initialLoanAmount", "initialCollateralAmount", "hourlyInterestRate", "repaidInterest",
    "repaidPenaltyInterest", "repayAmount", "collateralReturn", "amount", "preLTV", "afterLTV",
    "collateralAmount", "currentLTV", "residualInterest", "residualPenaltyInterest", "totalDebt",
}


def _times(values: Iterable[Any]) -> pd.Series:
    import pandas as pd

    ms = [None if v in (None, "") else int(v) for v in values]
    return pd.to_datetime(pd.Series(ms, dtype="Int64"), unit="ms", utc=True)


def history_frame(kind: str, items: list[Mapping[str, Any]]) -> pd.DataFrame:
    """One of the legacy history lists as a typed DataFrame."""
    import pandas as pd

    columns = _HISTORY_COLUMNS[kind]
    data: dict[str, Any] = {}
    for wire, column in columns.items():
        values = [item.get(wire) for item in items]
        if wire.endswith("Time"):
            data[column] = _times(values)
        elif wire in _DECIMAL_FIELDS:
            data[column] = pd.Series([wire_decimal(v) for v in values], dtype="object")
        elif wire in ("status", "repayStatus", "direction"):
            data[column] = pd.Series(values, dtype="Int64")
        elif wire == "loanTerm":
            data[column] = pd.Series([v or "flexible" for v in values], dtype="string")
        else:
            data[column] = pd.Series([v if v != "" else None for v in values], dtype="string")
    return pd.DataFrame(data)


def loans_frame(
    items: list[Mapping[str, Any]], levels: Mapping[str, Mapping[str, Any]]
) -> pd.DataFrame:
    """Open loans with their LTV next to the collateral coin's margin-call and liquidation LTV.

    ``debt`` is unpaid principal plus interest and penalty interest, in the loan coin.
    ``flag`` says ``liquidation`` / ``margin call`` / ``near margin call`` or is empty.
    """
    import pandas as pd

    rows = []
    for item in items:
        level = levels.get(item["collateralCurrency"], {})
        ltv = wire_decimal(item.get("currentLTV"))
        margin = wire_decimal(level.get("marginCallLTV"))
        liquidation = wire_decimal(level.get("liquidationLTV"))
        principal = wire_decimal(item.get("totalDebt")) or Decimal(0)
        interest = wire_decimal(item.get("residualInterest")) or Decimal(0)
        penalty = wire_decimal(item.get("residualPenaltyInterest")) or Decimal(0)
        flag = ""
        if ltv is not None and liquidation is not None and ltv >= liquidation:
            flag = "liquidation"
        elif ltv is not None and margin is not None and ltv >= margin:
            flag = "margin call"
        elif ltv is not None and margin is not None and ltv >= margin - NEAR_MARGIN_CALL:
            flag = "near margin call"
        rows.append(
            {
                "order_id": item["orderId"],
                "loan_currency": item["loanCurrency"],
                "principal": principal,
                "interest": interest + penalty,
                "debt": principal + interest + penalty,
                "collateral_currency": item["collateralCurrency"],
                "collateral_amount": wire_decimal(item.get("collateralAmount")),
                "current_ltv": ltv,
                "margin_call_ltv": margin,
                "liquidation_ltv": liquidation,
                "hourly_interest_rate": wire_decimal(item.get("hourlyInterestRate")),
                "term": item.get("loanTerm") or "flexible",
                "expires_at": item.get("expirationTime") or None,
                "flag": flag,
            }
        )
    frame = pd.DataFrame(rows, columns=[
        "order_id", "loan_currency", "principal", "interest", "debt", "collateral_currency",
        "collateral_amount", "current_ltv", "margin_call_ltv", "liquidation_ltv",
        "hourly_interest_rate", "term", "expires_at", "flag",
    ])
    frame["expires_at"] = _times(frame["expires_at"].tolist())
    for column in ("order_id", "loan_currency", "collateral_currency", "term", "flag"):
        frame[column] = frame[column].astype("string")
    return frame


class LoansTable:
    """Open loans for display: rows near or past a margin call are highlighted.

    ``.frame`` is the plain DataFrame (see :func:`loans_frame`).
    """

    def __init__(self, frame: pd.DataFrame, network: str) -> None:
        self.frame = frame
        self.network = network

    def __len__(self) -> int:
        return len(self.frame)

    def __repr__(self) -> str:
        if self.frame.empty:
            return f"No open loans on {self.network}."
        return f"Open loans on {self.network}:\n{self.frame.to_string(index=False)}"

    def _repr_html_(self) -> str:
        if self.frame.empty:
            return f"<p>No open loans on {html.escape(self.network)}.</p>"
        colours = {
            "liquidation": "background-color: #f8b4b4",
            "margin call": "background-color: #fbd38d",
            "near margin call": "background-color: #fef3c7",
        }

        def paint(row: pd.Series) -> list[str]:
            return [colours.get(str(row["flag"]), "")] * len(row)

        digest = hashlib.sha1(self.frame.to_csv().encode("utf-8")).hexdigest()[:10]
        styled = (  # a content-derived id keeps the saved HTML the same from run to run
            self.frame.style.set_uuid(f"loans{digest}").apply(paint, axis=1).hide(axis="index")
        )
        caption = f"Open loans on {html.escape(self.network)}"
        return styled.set_caption(caption).to_html()
