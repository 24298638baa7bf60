"""The rows of ``%loans``: every open position of both loan APIs, as plain dicts.

Pure ``Decimal`` work on what the exchange answered (no HTTP, no pandas);
:func:`loan_widgets.frames.loans_frame` types the columns. One row per:

``legacy``      an open legacy loan (``ongoing-orders``), with its own collateral and
                the collateral coin's margin-call and liquidation LTV;
``flexible``    the new API's flexible debt in one coin (``ongoing-coin``);
``fixed``       an open fixed contract (``borrow-contract-info``, status 1 or 3), due
                at ``repaymentTime``; its interest for the term was paid when it was
                made, so what it owes is principal plus penalty interest;
``order``       a fixed borrow order still matching (``borrow-order-info``, state 1):
                no debt yet, ``ordered``/``filled`` quantities, and how to cancel it;
``collateral``  one coin of the new API's collateral pool (``position``).

New-API debts share the pool, so their ``collateral_currency`` is ``pool`` and their
``current_ltv`` the account's. Bybit publishes no margin-call or liquidation LTV for
the new API: those stay empty (the :class:`~loan_widgets.desk.LoanDesk` takes them as
an argument). ``to_act`` says which magic line acts on the row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from .numbers import trimmed, wire_decimal

__all__ = ["COLUMNS", "NEAR_MARGIN_CALL", "NewPositions", "legacy_rows", "new_rows", "notes"]

NEAR_MARGIN_CALL = Decimal("0.05")
"""A loan is flagged when its LTV is within this of the margin-call LTV."""

COLUMNS = (
    "order_id", "api", "kind", "loan_currency", "principal", "interest", "debt",
    "collateral_currency", "collateral_amount", "current_ltv", "margin_call_ltv",
    "liquidation_ltv", "hourly_interest_rate", "annual_rate", "term", "expires_at", "ordered",
    "filled", "flag", "to_act",
)
"""Every column of the open-loans frame, in order."""

ZERO = Decimal(0)


@dataclass(frozen=True)
class NewPositions:
    """What the new API holds open: the reads behind its ``%loans`` rows."""

    position: Mapping[str, Any] = field(default_factory=dict)
    flexible: Sequence[Mapping[str, Any]] = ()
    contracts: Sequence[Mapping[str, Any]] = ()
    orders: Sequence[Mapping[str, Any]] = ()
    note: str = ""  # why nothing was read ("" when it was)


def _d(value: Any) -> Decimal | None:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float) or value is None:
        return None  # never a float amount (a NaN from a frame is a gap)
    return wire_decimal(value)


def _row(**values: Any) -> dict[str, Any]:
    return {name: values.get(name) for name in COLUMNS}


def _flag(ltv: Decimal | None, margin: Decimal | None, liquidation: Decimal | None) -> str:
    if ltv is None:
        return ""
    if liquidation is not None and ltv >= liquidation:
        return "liquidation"
    if margin is not None and ltv >= margin:
        return "margin call"
    if margin is not None and ltv >= margin - NEAR_MARGIN_CALL:
        return "near margin call"
    return ""


def legacy_rows(
    items: Sequence[Mapping[str, Any]], levels: Mapping[str, Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Open legacy loans: debt is unpaid principal plus interest and penalty interest."""
    rows = []
    for item in items:
        level = levels.get(str(item.get("collateralCurrency")), {})
        ltv = _d(item.get("currentLTV"))
        margin = _d(level.get("marginCallLTV"))
        liquidation = _d(level.get("liquidationLTV"))
        principal = _d(item.get("totalDebt")) or ZERO
        interest = (_d(item.get("residualInterest")) or ZERO) + (
            _d(item.get("residualPenaltyInterest")) or ZERO)
        order = str(item.get("orderId"))
        rows.append(_row(
            order_id=order, api="legacy", kind="flexible" if not item.get("loanTerm")
            else "fixed", loan_currency=item.get("loanCurrency"), principal=principal,
            interest=interest, debt=principal + interest,
            collateral_currency=item.get("collateralCurrency"),
            collateral_amount=_d(item.get("collateralAmount")), current_ltv=ltv,
            margin_call_ltv=margin, liquidation_ltv=liquidation,
            hourly_interest_rate=_d(item.get("hourlyInterestRate")),
            term=item.get("loanTerm") or "flexible", expires_at=item.get("expirationTime"),
            flag=_flag(ltv, margin, liquidation), to_act=f"%repay {order} AMOUNT (or --all)",
        ))
    return rows


def new_rows(new: NewPositions) -> list[dict[str, Any]]:
    """The new API's flexible debts, open fixed contracts, matching orders and pooled coins."""
    ltv = _d(new.position.get("ltv")) if new.position else None
    rows = []
    for item in new.flexible:
        coin = item.get("loanCurrency")
        principal, interest = _d(item.get("unpaidAmount")), _d(item.get("unpaidInterest"))
        total = _d(item.get("totalDebt"))
        if total is None and principal is not None:
            total = principal + (interest or ZERO)
        rows.append(_row(
            api="new", kind="flexible", loan_currency=coin, principal=principal,
            interest=interest, debt=total, collateral_currency="pool", current_ltv=ltv,
            hourly_interest_rate=_d(item.get("hourlyInterestRate")), term="flexible", flag="",
            to_act=f"%repay {coin} AMOUNT --api new (or --all)",
        ))
    for item in new.contracts:
        if item.get("status") not in (1, 3, "1", "3"):
            continue  # repaid
        loan = str(item.get("loanId"))
        principal = _d(item.get("residualPrincipal")) or ZERO
        penalty = _d(item.get("residualPenaltyInterest")) or ZERO
        rows.append(_row(
            order_id=loan, api="new", kind="fixed", loan_currency=item.get("borrowCurrency"),
            principal=principal, interest=penalty, debt=principal + penalty,
            collateral_currency="pool", current_ltv=ltv, annual_rate=_d(item.get("annualRate")),
            term=str(item.get("term") or ""), expires_at=item.get("repaymentTime"),
            flag="overdue" if item.get("status") in (3, "3") else "",
            to_act=f"%repay --loan-id {loan} --api new",
        ))
    for item in new.orders:
        if item.get("state") not in (1, "1"):
            continue
        order = str(item.get("orderId"))
        rows.append(_row(
            order_id=order, api="new", kind="order", loan_currency=item.get("orderCurrency"),
            collateral_currency="pool", current_ltv=ltv, annual_rate=_d(item.get("annualRate")),
            term=str(item.get("term") or ""), ordered=_d(item.get("orderQty")),
            filled=_d(item.get("filledQty")), flag="matching",
            to_act=f"%borrow --cancel {order} --api new",
        ))
    for item in new.position.get("collateralList") or () if new.position else ():
        coin = item.get("currency")
        rows.append(_row(
            api="new", kind="collateral", collateral_currency=coin,
            collateral_amount=_d(item.get("amount")), current_ltv=ltv, flag="",
            to_act=f"%collateral add|reduce {coin} AMOUNT --api new",
        ))
    return rows


def notes(rows: Sequence[Mapping[str, Any]], new: NewPositions | None = None) -> list[str]:
    """Lines under the table: matching orders and how to cancel them, the new API's magics."""
    found = [new.note] if new is not None and new.note else []
    for row in rows:
        if row["kind"] == "order":
            filled = trimmed(row["filled"] or ZERO)
            ordered = trimmed(row["ordered"] or ZERO)
            found.append(
                f"fixed borrow order {row['order_id']} is still matching ({filled} of {ordered} "
                f"{row['loan_currency']} filled, its collateral in the pool): cancel it with "
                f"{row['to_act']}")
    if any(row["api"] == "new" and row["kind"] in ("flexible", "fixed") for row in rows):
        found.append(
            "new API: %repay COIN AMOUNT --api new repays flexible debt (--all: in full), "
            "%repay --loan-id ID --api new a fixed contract in full, %collateral add|reduce "
            "COIN AMOUNT --api new moves pooled collateral")
    return found
