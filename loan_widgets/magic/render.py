"""What the magics show: core errors as one-line flag text, and the mainnet confirmation.

Core errors carry structured suggestions (``reconcile``, ``suggest_api``);
only here (and in the widget) do they become the magics' own words.
"""

from __future__ import annotations

from typing import Any

from IPython.core.error import StdinNotImplementedError, UsageError

from ..errors import DuplicateOrderError, LoanWidgetsError

__all__ = ["confirm_mainnet", "usage_error"]


def usage_error(error: LoanWidgetsError) -> UsageError:
    """The one-line ``UsageError`` for a core error, with its suggestions as flags."""
    text = " ".join(str(error).split())
    if error.suggest_api == "new":
        text += " (add --api new)"
    elif error.suggest_api == "legacy":
        text += " (add --api legacy)"
    if isinstance(error, DuplicateOrderError):
        text += ": run %borrow --reconcile first, or add --force to send it anyway"
    elif error.reconcile:
        text += ": run %borrow --reconcile"
    return UsageError(text)


def confirm_mainnet(client: Any, what: str, verb: str, profile: str | None) -> None:
    """Ask for a typed ``yes`` before a mainnet write (credentials are checked first)."""
    client.check_credentials()  # no keys: say so before asking anything
    who = f"key {client.account}" + (f" (profile {profile})" if profile else "")
    prompt = (
        f"{verb}: {what} on MAINNET ({client.host}) with {who}, real funds? "
        "Type 'yes' to confirm: "
    )
    try:
        answer = input(prompt)
    except (EOFError, OSError, RuntimeError, StdinNotImplementedError):
        raise UsageError(
            f"mainnet {verb.lower()} needs confirmation and there is no interactive input: "
            "add --yes to confirm"
        ) from None
    if answer.strip().lower() != "yes":
        raise UsageError(f"mainnet {verb.lower()} cancelled: nothing was sent")
