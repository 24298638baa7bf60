"""Wire helpers shared by the sandbox's gateway and its two books.

Everything a handler needs to read a request and write an answer the way Bybit
does: the retCode table, :class:`ApiError`, strict parameter readers (every
bad parameter is a 10001-family error, never an internal error), Decimal
rounding in a 60-digit context, and paging with Bybit-style cursors.

**Parameters.** A query string is UTF-8, percent-decoded once, and each name
appears once; a JSON body is one object, UTF-8, without duplicate keys. Ids,
limits and timestamps are ASCII digits of bounded length (a fullwidth digit or
a 5,000-digit number is 10001, not a traceback).

**Paging.** Lists are newest first. A cursor is an exclusive upper bound on the
id of the rows still to come. ``style="id"`` writes it as the last row's id
(as the docs' examples of ``adjustment-history``, flexible ``borrow-history``
and ``supply-contract-info`` show); ``style="opaque"`` writes it as Bybit does
elsewhere, ``"<id>%3A<n>%2C<id>%3A<n>"`` (``%``, ``,`` and ``:`` included, so
a client must pass it back untouched; one extra layer of percent-encoding is
undone). ``short_page=True`` gives a cursor on a short last page too (as the
docs' examples of flexible and fixed ``repayment-history``,
``borrow-contract-info``, ``supply-contract-info`` and the legacy
``adjustment-history`` do); that cursor then leads to an empty page with
``""``. A page costs what it holds: rows come from a sorted index
(:class:`sortedcontainers.SortedDict`), are filtered lazily and only the rows
returned are formatted.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from decimal import ROUND_HALF_UP, Context, Decimal, localcontext
from typing import TYPE_CHECKING, Any, TypeVar, cast
from urllib.parse import unquote, unquote_to_bytes

from sortedcontainers import SortedDict

if TYPE_CHECKING:  # how sortedcontainers-stubs call a SortedDict made with a key function
    from sortedcontainers.sorteddict import SortedKeyDict

from ..numbers import places, trimmed

__all__ = [
    "DAY_MS",
    "HOUR_MS",
    "PLAIN",
    "RET_MSGS",
    "ApiError",
    "ById",
    "amount",
    "check_places",
    "digits",
    "exact",
    "fmt",
    "limit",
    "ltv4",
    "page",
    "params_error",
    "parse_body",
    "parse_query",
    "required",
    "rounded",
    "signed_amount",
    "single",
    "text",
]

HOUR_MS = 3_600_000
DAY_MS = 86_400_000
MAX_ID_DIGITS = 20
MAX_NUMBER_CHARS = 64
fmt = trimmed
"""A Decimal as Bybit writes amounts: plain digits, no exponent, no trailing zeros."""

PLAIN = re.compile(r"[0-9]+(?:\.[0-9]+)?")
"""A plain non-negative decimal in ASCII digits (``[0-9]`` matches no fullwidth digit)."""
_NUMBER_CHARS = frozenset("0123456789.+-eE")

RET_MSGS: dict[int, str] = {
    10001: "Request parameter error.",
    10002: "invalid request, please check your server timestamp or recv_window param.",
    10003: "API key is invalid.",
    10004: "error sign!",
    10005: "Permission denied, please check your API key permissions.",
    10006: "Too many visits!",
    10016: "Internal system error.",
    10017: "route not found",
    10018: "access too frequent",
    177002: "Server is busy, please try again later.",
    177003: "Illegal characters in request parameters.",
    177004: "The number of decimal places exceeds the allowed precision.",
    177005: "Order does not exist.",
    177006: "Asset not supported.",
    177007: "The borrowing amount exceeds the maximum.",
    177008: "Borrowing of this asset is disabled.",
    177009: "The borrowing amount is below the minimum.",
    177010: "The repayment amount exceeds the total debt.",
    177011: "Insufficient balance.",
    177012: "Insufficient platform lending quota.",
    177013: "The reduction exceeds the maximum allowed collateral reduction.",
    177014: "Individual loan quota used up.",
    177015: "Collateral amount has reached the limit. Please reduce your collateral amount "
    "or choose other collateral currency.",
    177016: "Insufficient collateral amount.",
    177017: "This currency cannot be used as collateral.",
    177018: "Duplicate request.",
    177019: "Invalid input parameter.",
    148001: "Currency is not supported for flexible savings.",
    148002: "The amount is below the minimum borrowable amount.",
    148003: "The number of decimal places exceeds the precision of this currency.",
    148004: "This currency cannot be used as collateral.",
    148005: "The number of decimal places exceeds the precision of this collateral currency.",
    148006: "The collateral amount exceeds the platform upper limit.",
    148007: "The borrow amount cannot be negative.",
    148008: "The collateral amount cannot be negative.",
    148009: "The LTV exceeds the risk threshold.",
    148010: "Insufficient available quota.",
    148011: "Insufficient funding pool balance.",
    148012: "Insufficient collateral.",
    148013: "A user with no borrowing cannot adjust collateral.",
    148014: "Currency is not supported.",
    148015: "The loan term is out of range.",
    148016: "The lending rate is not supported.",
    148017: "The interest rate has too many decimal places.",
    148022: "Insufficient assets to lend.",
    148023: "The loan order does not exist.",
    148024: "Failed to cancel the borrow order: it is completed or its amount is invalid.",
    148025: "Failed to cancel the supply order: it is completed or its amount is invalid.",
    148028: "The repayment amount has too many decimal places.",
    148029: "Insufficient repayment account balance.",
    148030: "The supply order does not exist.",
    148032: "There is no outstanding debt to repay.",
    148033: "This loan order cannot be repaid.",
    148037: "Insufficient assets, or the adjustment exceeds the maximum.",
    148038: "The repayment amount exceeds the position debt.",
    148039: "Duplicate collateral currencies in the request.",
    148047: "The collateral repayment exceeds the maximum per repayment "
    "(300,000 USD equivalent).",
}
"""The retMsg of every retCode the sandbox gives (paraphrased; Bybit's wording varies)."""


class ApiError(Exception):
    """A request refused with a non-zero retCode (and its HTTP status, 200 by default)."""

    def __init__(self, code: int, msg: str | None = None, status: int = 200) -> None:
        super().__init__(code, msg)
        self.code = code
        self.msg = msg or RET_MSGS.get(code, "error")
        self.status = status


def params_error(detail: str) -> ApiError:
    """retCode 10001 with ``params error: <detail>``."""
    return ApiError(10001, f"params error: {detail}")


# -- request parsing ------------------------------------------------------------------


def parse_query(query: str) -> dict[str, str]:
    """A query string as ``{name: value}``: UTF-8, each name once (else 10001)."""
    params: dict[str, str] = {}
    if not query:
        return params
    try:
        raw = query.encode("utf-8", "strict")  # lone surrogates: bytes that were not UTF-8
    except UnicodeEncodeError:
        raise params_error("the query string is not UTF-8") from None
    for part in raw.split(b"&"):
        if not part:
            continue
        name_raw, _, value_raw = part.partition(b"=")
        try:
            name = unquote_to_bytes(name_raw.replace(b"+", b" ")).decode("utf-8")
            value = unquote_to_bytes(value_raw.replace(b"+", b" ")).decode("utf-8")
        except UnicodeDecodeError:
            raise params_error("the query string is not UTF-8") from None
        if name in params:
            raise params_error(f"{_shown(name)} is given more than once")
        params[name] = value
    return params


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise params_error(f"{_shown(key)} is given more than once")
        out[key] = value
    return out


def parse_body(body: bytes) -> dict[str, Any]:
    """A POST body as one JSON object: UTF-8, no duplicate keys, bounded depth (else 10001)."""
    try:
        data = json.loads(body.decode("utf-8"), object_pairs_hook=_no_duplicates,
                          parse_constant=_no_constant)
    except ApiError:
        raise
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise params_error("the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise params_error("the body must be a JSON object")
    return data


def _no_constant(name: str) -> None:
    raise params_error(f"{name} is not JSON")


def _shown(value: str) -> str:
    text = value.encode("unicode_escape").decode("ascii")
    return text if len(text) <= 40 else text[:37] + "..."


# -- parameters -----------------------------------------------------------------------


def text(params: Mapping[str, Any], name: str) -> str | None:
    """A string parameter; absent, ``null`` and ``""`` all mean not given."""
    value = params.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise params_error(f"{name} must be a string")
    return value


def required(params: Mapping[str, Any], name: str) -> str:
    """A string parameter that must be given (10001 when absent)."""
    value = text(params, name)
    if value is None:
        raise params_error(f"{name} is required")
    return value


def digits(params: Mapping[str, Any], name: str, width: int = MAX_ID_DIGITS) -> str | None:
    """An id given as ASCII digits (at most ``width`` of them), or ``None``."""
    value = text(params, name)
    if value is None:
        return None
    if not (value.isascii() and value.isdigit()) or len(value) > width:
        raise params_error(f"{name} must be a number of at most {width} digits")
    return value


def amount(name: str, value: str) -> Decimal:
    """A positive decimal string (legacy rules: illegal characters are 177003)."""
    if len(value) > MAX_NUMBER_CHARS:
        raise params_error(f"{name} is too long")
    if not PLAIN.fullmatch(value):
        if any(ch not in _NUMBER_CHARS for ch in value):
            raise ApiError(177003, f"{RET_MSGS[177003]} ({name})")
        raise params_error(f"{name} must be a positive decimal string")
    number = Decimal(value)
    if number <= 0:
        raise params_error(f"{name} must be greater than 0")
    return number


def signed_amount(params: Mapping[str, Any], name: str, negative: int) -> Decimal:
    """A required non-negative decimal string; a leading '-' is retCode ``negative``."""
    value = required(params, name)
    if len(value) > MAX_NUMBER_CHARS:
        raise params_error(f"{name} is too long")
    if value.startswith("-") and PLAIN.fullmatch(value[1:]):
        raise ApiError(negative, f"{RET_MSGS[negative]} ({name})")
    if not PLAIN.fullmatch(value):
        kind = "a decimal string" if all(c in _NUMBER_CHARS for c in value) else "digits"
        raise params_error(f"{name} must be {kind}")
    return Decimal(value)


def check_places(value: Decimal, most: int, code: int, name: str) -> None:
    """retCode ``code`` when ``value`` has more than ``most`` significant decimals."""
    if places(value) > most:
        raise ApiError(code, f"{RET_MSGS[code]} ({name}: at most {most} decimals)")


def limit(params: Mapping[str, Any]) -> int:
    """``limit`` in [1, 100], default 10."""
    value = text(params, "limit")
    if value is None:
        return 10
    if not (value.isascii() and value.isdigit()) or len(value) > 3 or not 1 <= int(value) <= 100:
        raise params_error("limit must be from 1 to 100")
    return int(value)


# -- Decimal arithmetic -----------------------------------------------------------------

_EXACT = Context(prec=60)


def exact() -> AbstractContextManager[Context]:
    """The decimal context every state change runs in (60 digits, no float anywhere)."""
    return localcontext(_EXACT)


def rounded(value: Decimal, most: int, rounding: str) -> Decimal:
    """``value`` quantized to ``most`` decimals with ``rounding``."""
    return value.quantize(Decimal(1).scaleb(-most), rounding=rounding)


def ltv4(value: Decimal) -> str:
    """A legacy LTV: 4 decimals, half up, trailing zeros kept (``"0.8000"``)."""
    return format(rounded(value, 4, ROUND_HALF_UP), "f")


# -- paging ---------------------------------------------------------------------------

T = TypeVar("T")


class ById(SortedDict[Any, Any]):
    """Rows or records by id (a digit string or an int), kept sorted by numeric id."""

    def __init__(self, *args: Any) -> None:
        # SortedDict(key, ...) sorts by key(id); the stubs type that form by __new__ only
        super().__init__(int, *args)  # type: ignore[call-arg]

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (list(self.items()),))

    def newest(self, below: int | None = None) -> Iterator[Any]:
        """Values from the highest id down, starting under ``below`` (exclusive)."""
        keyed = cast("SortedKeyDict[Any, Any, int]", self)
        keys = keyed.irange_key(max_key=below, inclusive=(True, False), reverse=True)
        return (self[key] for key in keys)


def _cursor_bound(params: Mapping[str, Any]) -> int | None:
    value = text(params, "cursor")
    if value is None:
        return None
    for _ in range(2):  # undo one extra layer of percent-encoding by a client
        if "%" not in value:
            break
        value = unquote(value, errors="strict")
    match = re.fullmatch(r"([0-9]{1,20})(?::[0-9]{1,9},[0-9]{1,20}:[0-9]{1,9})?", value)
    if match is None:
        raise params_error("cursor is invalid")
    return int(match.group(1))


def _opaque(key: int, count: int) -> str:
    return f"{key}%3A{count}%2C{key}%3A{count}"


def single(found: Any, key: int | str, below: int | None) -> tuple[Any, ...]:
    """A lookup by id as a page source: the item found, unless missing or past the cursor
    (``key`` not below ``below``)."""
    return () if found is None or (below is not None and int(key) >= below) else (found,)


def page(
    source: Callable[[int | None], Iterable[T]],
    params: Mapping[str, Any],
    row: Callable[[T], dict[str, Any]],
    key: Callable[[T], int],
    *,
    match: Callable[[T], bool] | None = None,
    style: str = "opaque",
    short_page: bool = False,
) -> dict[str, Any]:
    """One page: ``{"list": [...], "nextPageCursor": "..."}`` (see the module docstring).

    ``source(below)`` yields items newest first with ids under ``below``
    (``None``: from the newest); ``key`` gives an item's numeric id.
    """
    size = limit(params)
    below = _cursor_bound(params)
    taken: list[T] = []
    for item in source(below):
        if match is None or match(item):
            taken.append(item)
            if len(taken) > size:
                break
    shown = taken[:size]
    more = len(taken) > size
    cursor = ""
    if shown and (more or short_page):
        last = key(shown[-1])
        cursor = str(last) if style == "id" else _opaque(last, len(shown))
    return {"list": [row(item) for item in shown], "nextPageCursor": cursor}
