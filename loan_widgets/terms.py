"""Loan terms: flexible, or a fixed number of days, per loan API.

The legacy crypto-loan API offers fixed terms of 7, 14, 30, 90 and 180 days;
the new loan API adds 60. Which of them a coin offers right now is the
exchange's data (``loanable-data``); these are the terms each API can carry.
"""

from __future__ import annotations

from .errors import ValidationError

__all__ = ["FLEXIBLE", "LEGACY_TERMS", "NEW_API_TERMS", "TERMS", "parse_term", "term_label"]

FLEXIBLE = "flexible"
LEGACY_TERMS = ("7", "14", "30", "90", "180")
"""Fixed terms (days) of the legacy API."""
NEW_API_TERMS = ("7", "14", "30", "60", "90", "180")
"""Fixed terms (days) of the new API's fixed loans."""
TERMS = (FLEXIBLE, *LEGACY_TERMS)
"""Every term of the legacy API, flexible first."""
_BY_API = {"legacy": (FLEXIBLE, *LEGACY_TERMS), "new": (FLEXIBLE, *NEW_API_TERMS)}
_ANY = (FLEXIBLE, *NEW_API_TERMS)


def _shown(value: object) -> str:
    text = value if isinstance(value, str) else repr(value)
    text = text.encode("unicode_escape").decode("ascii")
    return text if len(text) <= 40 else text[:37] + "..."


def parse_term(value: object, api: str | None = None) -> str:
    """``'flexible'`` or a fixed term in days (``"30"``, ``30`` or ``"30d"``).

    ``api`` ``"legacy"`` or ``"new"`` checks the term against that API;
    ``None`` accepts a term of either.
    """
    if value is None:
        return FLEXIBLE
    allowed = _ANY if api is None else _BY_API[api]
    text = "" if isinstance(value, (bool, float)) else str(value).strip().lower()
    text = text.removesuffix("d") if text[:-1].isdigit() else text
    if text not in allowed:
        days = ", ".join(allowed[1:-1]) + f" or {allowed[-1]}"
        raise ValidationError(f"term {_shown(value)} is not offered: use flexible, {days} (days)")
    return text


def term_label(term: str) -> str:
    """``Flexible`` or ``30 days``."""
    return "Flexible" if term == FLEXIBLE else f"{term} days"
