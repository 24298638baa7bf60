"""Following ``nextPageCursor``, with an end guaranteed.

Bybit's list endpoints return ``{"list": [...], "nextPageCursor": "..."}``;
the list ends when the cursor is empty (or a page is empty: Bybit may send
a cursor with the last, short page). A server that repeats a cursor, or
never stops, would otherwise keep a loop (and ``%loans``, ``%repay --all``,
``reconcile()``) running for ever: a cursor seen before, or more than
:data:`MAX_PAGES` pages, ends it with a one-line ``BadResponse``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from .errors import BadResponse, RequestInfo, ValidationError

__all__ = ["LIST_FILTERS", "MAX_PAGES", "PAGE_LIMIT", "check_filters", "iter_pages"]

MAX_PAGES = 1000
"""At 100 items a page: 100,000 items, far more than one account's loans or history."""
PAGE_LIMIT = "100"
LIST_FILTERS = {  # the documented filters of the legacy list endpoints (API reference L6-L11)
    "ongoing_orders": ("orderId", "loanCurrency", "collateralCurrency", "loanTermType",
                       "loanTerm", "limit"),
    "repayment_history": ("orderId", "repayId", "loanCurrency", "limit"),
    "borrow_history": ("orderId", "loanCurrency", "collateralCurrency", "limit"),
    "adjustment_history": ("orderId", "adjustId", "collateralCurrency", "limit"),
}


def iter_pages(
    fetch: Callable[[dict[str, Any]], Mapping[str, Any]],
    params: Mapping[str, Any] | None,
    info: RequestInfo,
    *,
    max_pages: int = MAX_PAGES,
) -> Iterator[dict[str, Any]]:
    """Items of every page: ``fetch(query)`` returns one page's ``result``."""
    query = {k: v for k, v in (params or {}).items() if v is not None}
    query.setdefault("limit", PAGE_LIMIT)
    seen: set[str] = set()
    for _ in range(max_pages):
        result = fetch(query)
        items = result.get("list", [])
        if not isinstance(items, list):
            raise BadResponse(f"the answer from {info} has no list of items", request=info)
        yield from items
        cursor = result.get("nextPageCursor") or ""
        if not isinstance(cursor, str):
            raise BadResponse(f"the answer from {info} has a page cursor that is not text",
                              request=info)
        if not cursor or not items:  # an empty page ends the list whatever its cursor
            return
        if cursor in seen or cursor == query.get("cursor"):
            raise BadResponse(
                f"the exchange repeated a page cursor for {info}: stopped after "
                f"{len(seen) + 1} page(s) rather than loop",
                request=info,
            )
        seen.add(cursor)
        query = {**query, "cursor": cursor}
    raise BadResponse(
        f"{info} gave more than {max_pages} pages: stopped rather than read for ever",
        request=info,
    )


def check_filters(name: str, params: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
    """Refuse a filter the endpoint does not document (a misspelt one would match everything)."""
    unknown = sorted(k for k in params if k not in allowed)
    if unknown:
        raise ValidationError(
            f"{name}() takes no filter {', '.join(map(repr, unknown))}: use "
            f"{', '.join(allowed)}"
        )
