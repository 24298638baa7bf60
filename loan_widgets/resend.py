"""When a request is sent again: one table, read without a socket.

A failed attempt is first sorted into a *kind* (:func:`kind_of`); the table
then says, for a read (GET, or a read-only POST) and for a write, whether the
request goes out again and after how long (:func:`decide`)::

    kind          what happened                          read (3 tries)     write
    connect       no connection: nothing was sent        after 0.05 s x n   raise
    lost          sent, no answer (timeout, dropped)     at once            raise (unknown)
    timestamp     retCode 10002                          re-sync, at once   re-sync, once
    rate_limit    retCode 10006                          at reset (<= 5 s)  at reset, once
    server_error  HTTP 5xx/429 page, not an envelope     after 0.1 s x n    raise
    bad_answer    any other answer that is not Bybit's   raise              raise
    refused       any other retCode, or unknown outcome  raise              raise

A write is resent at most once in all, and only after an answer that proves
it was not executed (10002, 10006), freshly signed with the same body: never
after a lost answer, a gateway page or an internal error.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import (
    AnswerLost,
    BadResponse,
    ConnectError,
    RateLimitError,
    TimestampError,
)

__all__ = ["MAX_RATE_LIMIT_WAIT_S", "READ_ATTEMPTS", "RULES", "Rule", "decide", "kind_of"]

READ_ATTEMPTS = 3
"""A read is sent at most this many times."""
MAX_RATE_LIMIT_WAIT_S = 5.0
"""Longest wait for a rate limit's reset before a resend; longer ones are raised."""


@dataclass(frozen=True)
class Rule:
    """What one kind of failure allows."""

    read: bool  # a read may be sent again (up to READ_ATTEMPTS in all)
    write: bool  # a write may be sent again, once
    step_s: float = 0.0  # wait step_s x attempt before the next try
    resync: bool = False  # measure the exchange clock again first
    at_reset: bool = False  # wait for the rate limit's reset time


RULES: dict[str, Rule] = {
    "connect": Rule(read=True, write=False, step_s=0.05),
    "lost": Rule(read=True, write=False),
    "timestamp": Rule(read=True, write=True, resync=True),
    "rate_limit": Rule(read=True, write=True, at_reset=True),
    "server_error": Rule(read=True, write=False, step_s=0.1),
    "bad_answer": Rule(read=False, write=False),
    "refused": Rule(read=False, write=False),
}


def kind_of(error: BaseException) -> str:
    """The table's kind for a failed attempt."""
    if isinstance(error, ConnectError):
        return "connect"
    if isinstance(error, AnswerLost):
        return "lost"
    if isinstance(error, TimestampError):
        return "timestamp"
    if isinstance(error, RateLimitError):
        return "rate_limit"
    if isinstance(error, BadResponse):
        status = error.http_status or 0
        return "server_error" if status >= 500 or status == 429 else "bad_answer"
    return "refused"


def decide(
    kind: str,
    *,
    writes: bool,
    attempt: int,
    resent: bool = False,
    reset_wait_s: float = 0.0,
) -> float | None:
    """Seconds to wait before sending again, or ``None`` to raise.

    ``attempt`` counts the tries made so far (1 after the first); ``resent``
    says a write was already sent a second time; ``reset_wait_s`` is how long
    until a rate limit resets (for ``rate_limit``).
    """
    rule = RULES[kind]
    if writes:
        if not rule.write or resent:
            return None
    elif not rule.read or attempt >= READ_ATTEMPTS:
        return None
    if rule.at_reset:
        return reset_wait_s if reset_wait_s <= MAX_RATE_LIMIT_WAIT_S else None
    return rule.step_s * attempt
