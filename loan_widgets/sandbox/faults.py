"""Scripted faults: the ways a real exchange and the network in front of it misbehave.

Two persistent knobs and a one-shot queue, all on ``sandbox.faults``:

``faults.latency = 0.2``
    Seconds to wait before answering every request. The request is executed
    first, so an answer that arrives after the client's timeout still means
    the loan exists. ``faults.set_latency(0.5, path)`` sets it for one path.
``faults.skew_ms = 30_000``
    Offset of the server clock in ms (positive: the server is ahead). A client
    that does not re-sync through ``/v5/market/time`` gets retCode 10002.
``faults.inject(path, kind, times=1, **params)``
    Queue a fault for the next ``times`` requests to ``path`` (exact path, or
    ``"*"`` for any path). Kinds:

    ``"drop"``      execute (``execute=True``), then close the connection with no answer.
    ``"http"``      answer HTTP ``status`` (default 502) with an HTML page, as a CDN or
                    gateway would; ``status=403`` gives a CloudFront-style page.
                    Not executed unless ``execute=True``. ``body=`` replaces the page.
    ``"bad_json"``  execute, then answer 200 with the JSON cut in half
                    (``body=`` replaces it, ``execute=False`` skips execution).
    ``"retcode"``   answer HTTP 200 with retCode ``code`` (and ``msg``) without
                    executing; for 10006 the ``X-Bapi-Limit-Reset-Timestamp``
                    header is ``reset_ms`` (default 200) ahead of the server clock.
    ``"latency"``   execute, then wait ``seconds`` before answering, once.

Every request that arrives is logged in ``sandbox.requests``, faulted or not.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

__all__ = ["FAULT_KINDS", "Fault", "Faults"]

FAULT_KINDS: dict[str, frozenset[str]] = {
    "drop": frozenset({"execute"}),
    "http": frozenset({"status", "body", "execute"}),
    "bad_json": frozenset({"body", "execute"}),
    "retcode": frozenset({"code", "msg", "reset_ms"}),
    "latency": frozenset({"seconds"}),
}
"""Each fault kind with the parameters it takes."""

_EXECUTES_BY_DEFAULT = {"drop": True, "http": False, "bad_json": True, "retcode": False,
                        "latency": True}


@dataclass
class Fault:
    """One queued fault and how many more requests it applies to."""

    kind: str
    times: int
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def executes(self) -> bool:
        """Whether the request is executed before the fault shapes the answer."""
        return bool(self.params.get("execute", _EXECUTES_BY_DEFAULT[self.kind]))


class Faults:
    """The fault knobs of one sandbox (see the module docstring)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: dict[str, deque[Fault]] = {}
        self._latency_by_path: dict[str, float] = {}
        self.latency: float = 0.0
        """Seconds to wait, after executing, before every answer."""
        self.skew_ms: int = 0
        """Server clock offset in ms, added to the sandbox clock."""

    def inject(self, path: str, kind: str, times: int = 1, **params: Any) -> None:
        """Queue ``kind`` for the next ``times`` requests to ``path`` (``"*"``: any)."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}: use one of {', '.join(FAULT_KINDS)}")
        unknown = set(params) - FAULT_KINDS[kind]
        if unknown:
            raise ValueError(f"fault {kind!r} takes no parameter {', '.join(sorted(unknown))}")
        if times < 1:
            raise ValueError("times must be at least 1")
        if kind == "retcode" and not isinstance(params.get("code"), int):
            raise ValueError("a 'retcode' fault needs code=<int retCode>")
        with self._lock:
            self._queue.setdefault(path, deque()).append(Fault(kind, times, dict(params)))

    def set_latency(self, seconds: float, path: str | None = None) -> None:
        """Persistent latency for one path, or for every path when ``path`` is None."""
        if seconds < 0:
            raise ValueError("latency cannot be negative")
        if path is None:
            self.latency = seconds
            return
        with self._lock:
            if seconds:
                self._latency_by_path[path] = seconds
            else:
                self._latency_by_path.pop(path, None)

    def pending(self, path: str | None = None) -> int:
        """How many faulted requests are still queued (for ``path``, or in all)."""
        with self._lock:
            queues = self._queue.values() if path is None else [self._queue.get(path, ())]
            return sum(f.times for q in queues for f in q)

    def clear(self) -> None:
        """Forget every queued fault and reset latency and skew."""
        with self._lock:
            self._queue.clear()
            self._latency_by_path.clear()
        self.latency = 0.0
        self.skew_ms = 0

    def take(self, path: str) -> Fault | None:
        """The fault for this request, if any, consuming one use of it."""
        if not self._queue:
            return None
        with self._lock:
            for key in (path, "*"):
                queue = self._queue.get(key)
                if queue:
                    fault = queue[0]
                    fault.times -= 1
                    if fault.times <= 0:
                        queue.popleft()
                    if not queue:
                        del self._queue[key]
                    return fault
        return None

    def latency_for(self, path: str) -> float:
        """The persistent latency that applies to ``path``."""
        if self._latency_by_path:
            return self._latency_by_path.get(path, self.latency)
        return self.latency
