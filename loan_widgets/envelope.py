"""An answer, checked: a Bybit envelope, or exactly one error from the error tree.

:func:`check` turns a raw HTTP answer into the parsed envelope or raises:

* not JSON, not an envelope, retCode not an integer, no result object:
  ``BadResponse`` (a read) or ``OutcomeUnknown`` (a write that may have
  reached the exchange: HTTP 200 or 5xx);
* retCode != 0: the most specific ``ExchangeError`` (``AmbiguousAnswer`` for
  10000/10016 on a write);
* retCode 0 on a write is success whatever the HTTP status (a 201 or a 500
  with an order id is still an executed order); on a read only a 2xx is.

:func:`answer_id` accepts an order id only if it looks like one (decimal
digits, or a JSON integer, above zero) and :func:`server_time_ms` reads
``/v5/market/time``; both raise one-line errors for anything else.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Protocol, TypeGuard

from .errors import (
    BadResponse,
    ExchangeError,
    OutcomeUnknown,
    RequestInfo,
    exchange_error,
)

__all__ = ["Answer", "answer_id", "check", "server_time_ms"]

_ID = re.compile(r"[0-9]{1,30}", re.ASCII)
_MAX_ID_DIGITS = 30


class Answer(Protocol):
    """What the transport returns: status, lower-case headers, raw body."""

    @property
    def status(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def body(self) -> bytes: ...


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and abs(value) < 1 << 62


def _describe_body(headers: Mapping[str, str], body: bytes) -> str:
    ctype = headers.get("content-type", "")
    head = body[:200].lstrip().lower()
    if "html" in ctype or head.startswith((b"<!doctype", b"<html")):
        return "the answer is an HTML page, not JSON"
    if not body.strip():
        return "the answer is empty"
    return "the answer is not valid JSON"


_HINTS = {
    401: " (the key or the auth headers were refused)",
    403: (
        " (forbidden at the edge: the IP rate limit was exceeded, or requests from this "
        "region are blocked)"
    ),
    404: " (no such path on this host: check base_url)",
    429: " (system-level rate protection: try again shortly)",
    502: " (a gateway could not reach the exchange)",
    503: " (the exchange is unavailable)",
    504: " (a gateway timed out waiting for the exchange)",
}


def status_hint(status: int) -> str:
    """A short parenthesised reading of an HTTP status ('' for plain ones)."""
    return _HINTS.get(status, " (a server error)" if status >= 500 else "")


def _parse(answer: Answer) -> tuple[dict[str, Any] | None, str]:
    """The envelope, or ``None`` with what is wrong with the answer."""
    try:
        envelope = json.loads(answer.body, parse_float=Decimal)
    except (ValueError, RecursionError):
        return None, _describe_body(answer.headers, answer.body)
    if not isinstance(envelope, dict):
        return None, "the answer is JSON but not a Bybit envelope (not an object)"
    code = envelope.get("retCode")
    if not _is_int(code):
        shown = "missing" if code is None else f"{type(code).__name__} {_short(code)}"
        return None, f"the answer is not a Bybit envelope (retCode is {shown}, not an integer)"
    if code == 0 and not isinstance(envelope.get("result"), dict):
        return None, "a success envelope without a result object"
    return envelope, ""


def _short(value: Any) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else repr(value)
    text = text.encode("unicode_escape").decode("ascii")
    return text if len(text) <= 24 else text[:21] + "..."


def check(
    answer: Answer, info: RequestInfo, *, writes: bool, name: str,
    hide: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """The envelope of a successful answer, or the one error that says what came back.

    ``writes`` marks a state-changing request (``name`` is its endpoint's name).
    ``hide`` is ``(text, shown)``: ``text`` (the API key) is replaced by ``shown`` in the
    exchange's message, which may repeat it (Bybit's 10004 quotes the string it signed).
    """
    status = answer.status
    envelope, problem = _parse(answer)
    if envelope is None:
        message = f"HTTP {status} from {info}: {problem}{status_hint(status)}"
        if writes and (status >= 500 or 200 <= status < 300):
            raise OutcomeUnknown(
                f"outcome unknown: {message}; the {name.replace('_', ' ')} may have been "
                "executed",
                request=info,
                http_status=status,
            )
        raise BadResponse(message, request=info, http_status=status)
    ret_code = envelope["retCode"]
    if ret_code == 0 and (writes or 200 <= status < 300):
        return envelope
    if ret_code == 0:
        raise BadResponse(
            f"HTTP {status} from {info}{status_hint(status)}", request=info, http_status=status
        )
    reset = answer.headers.get("x-bapi-limit-reset-timestamp", "")
    raise exchange_error(
        ret_code,
        _one_line(_hidden(str(envelope.get("retMsg", "")), hide)),
        request=info,
        http_status=status,
        write=writes,
        reset_at_ms=int(reset) if reset.isdigit() and len(reset) < 19 else None,
    )


def _hidden(text: str, hide: tuple[str, str] | None) -> str:
    return text.replace(hide[0], hide[1]) if hide and hide[0] else text


def _one_line(text: str) -> str:
    flat = " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())
    return flat if len(flat) <= 300 else flat[:297] + "..."


def answer_id(result: Mapping[str, Any], key: str) -> tuple[str | None, str]:
    """The id under ``key`` if it looks like one, else ``(None, why not)``.

    An id is a string of 1-30 ASCII digits or a JSON integer, above zero.
    """
    value = result.get(key)
    if value is None or value == "":
        return None, f"no id ({key}) in the answer"
    if _is_int(value) and value > 0:
        return str(value), ""
    if isinstance(value, str) and _ID.fullmatch(value) and int(value) > 0:
        return value, ""
    return None, f"the answer's {key} {_short(value)} is not an id"


def server_time_ms(envelope: Mapping[str, Any], info: RequestInfo) -> float:
    """The exchange's time (ms) from a ``/v5/market/time`` envelope, or ``BadResponse``."""
    result = envelope.get("result")
    if isinstance(result, Mapping):
        nano = result.get("timeNano")
        if isinstance(nano, str) and nano.isascii() and nano.isdigit() and 13 <= len(nano) <= 22:
            return int(nano) / 1e6
        second = result.get("timeSecond")
        if isinstance(second, str) and second.isascii() and second.isdigit() and len(second) < 13:
            return int(second) * 1000.0
    stamp = envelope.get("time")
    if _is_int(stamp) and 10**11 < stamp < 10**14:
        return float(stamp)
    raise BadResponse(
        f"the answer from {info} carries no usable server time (timeNano, timeSecond or time)",
        request=info,
    )


def is_exchange_refusal(error: BaseException) -> bool:
    """True for a plain refusal by the exchange (not one that hides an execution)."""
    return isinstance(error, ExchangeError) and not isinstance(error, OutcomeUnknown)
