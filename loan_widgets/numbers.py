"""Decimal text: the one place that decides how an amount becomes text or JSON.

Money is ``Decimal`` everywhere in ``loan_widgets``; these helpers turn it
into the text the wire, the ledger and people read, and never into a float:

``plain(d)``        exact digits as given, never an exponent: ``550.00`` stays
                    ``550.00`` (request bodies keep what the user typed)
``trimmed(d)``      plain without trailing fractional zeros: ``1.50`` -> ``1.5``
                    (how Bybit writes amounts, and how people read them)
``grouped(d)``      ``trimmed`` with thousands separators: ``8,000,000``
``trim(d)``         a ``Decimal`` without trailing fractional zeros, no exponent
``places(d)``       how many significant fractional digits ``d`` has
``wire_decimal(v)`` a ``Decimal`` from an exchange field (JSON string or integer)
``compact_json(o)`` JSON with no spaces: the exact bytes that are signed and sent
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

__all__ = ["compact_json", "grouped", "places", "plain", "trim", "trimmed", "wire_decimal"]

_ONE = Decimal(1)


def plain(value: Decimal) -> str:
    """Exact plain digits, never an exponent (``Decimal("1E-8")`` -> ``0.00000001``)."""
    return format(value, "f")


def trimmed(value: Decimal) -> str:
    """Plain digits without trailing fractional zeros; ``0`` for any zero."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"


def grouped(value: Decimal) -> str:
    """Thousands separators, no exponent, no trailing fractional zeros."""
    text = format(value, ",f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"


def places(value: Decimal) -> int:
    """Significant fractional digits: ``1.50`` has 1, ``100`` has 0."""
    exponent = value.normalize().as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def trim(value: Decimal) -> Decimal:
    """Drop trailing fractional zeros (``1.500`` -> ``1.5``) without going to an exponent."""
    if places(value) == 0:
        return value.quantize(_ONE)
    return value.normalize()


def wire_decimal(value: object) -> Decimal | None:
    """A Decimal from an exchange field (a JSON string or integer); ``None`` for ``""``/absent."""
    if value is None or value == "":
        return None
    return Decimal(str(value))


def compact_json(value: Any) -> str:
    """``json.dumps`` with no spaces: what is signed is what is sent."""
    return json.dumps(value, separators=(",", ":"))
