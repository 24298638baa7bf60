"""The collateral-reduction rule, in one place for every entry point.

A reduction may take at most what the exchange allows now
(``max-collateral-amount``); :meth:`LoanClient.adjust_collateral
<loan_widgets.client.LoanClient.adjust_collateral>` checks it before anything
is recorded or sent, so the API, the magic and the widget behave alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from .errors import ValidationError
from .numbers import trimmed
from .orders import AdjustRequest

__all__ = ["MaxReduction", "check_reduction"]


@dataclass(frozen=True)
class MaxReduction:
    """The largest collateral reduction a loan allows now, in its collateral coin."""

    order_id: str
    amount: Decimal
    coin: str | None = None

    def __repr__(self) -> str:
        coin = f" {self.coin}" if self.coin else ""
        return (
            f"At most {trimmed(self.amount)}{coin} collateral can be taken from loan "
            f"{self.order_id} now."
        )


def check_reduction(request: AdjustRequest, most: Decimal) -> None:
    """Refuse a reduction above ``most`` (the exchange's maximum allowed now)."""
    if request.direction == "reduce" and request.amount > most:
        raise ValidationError(
            f"at most {trimmed(most)} can be taken from loan {request.order_id} now "
            "(the exchange's max allowed reduction)"
        )
