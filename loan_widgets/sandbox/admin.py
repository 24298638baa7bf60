"""The admin route of a sandbox served for one user: the knobs, over loopback, with a token.

``POST /sandbox/admin`` with header ``X-Sandbox-Token: <token>`` and a JSON body
``{"op": NAME, "args": {...}}`` answers ``{"ok": true, "result": ...}`` (HTTP 200),
``{"ok": false, "error": "..."}`` (HTTP 400) for a refused call, and HTTP 403 for a
missing or wrong token or a caller that is not on loopback. Amounts travel as
decimal strings. The route exists only on a server given a token
(``python -m loan_widgets.sandbox serve-user``); it never touches the exchange's own
routes, rate limits or request log.

:data:`OPS` maps each operation to its function; :class:`RemoteSandbox` is the client
side, with the same methods as a :class:`~loan_widgets.sandbox.account.Sandbox`
for the knobs it exposes.
"""

from __future__ import annotations

import hmac
import http.client
import json
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from .account import Sandbox
from .gateway import Reply
from .legacy import RiskEvent

__all__ = ["ADMIN_PATH", "OPS", "AdminError", "RemoteSandbox", "answer"]

ADMIN_PATH = "/sandbox/admin"
TOKEN_HEADER = "x-sandbox-token"


class AdminError(RuntimeError):
    """An admin call the sandbox refused, or could not be reached for."""


def _money(args: Mapping[str, Any], name: str) -> str:
    value = args.get(name)
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a decimal string")
    return value


def _events(events: list[RiskEvent]) -> list[dict[str, Any]]:
    def plain(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return str(value) if isinstance(value, Decimal) else value

    return [{"time": e.time, "kind": e.kind, "book": e.book, "ref": e.ref, "ltv": str(e.ltv),
             "reason": e.reason, "detail": plain(e.detail)} for e in events]


def _snapshot(sandbox: Sandbox, args: Mapping[str, Any]) -> dict[str, Any]:
    with sandbox.lock:
        return {"prices": {c: str(v) for c, v in sandbox.prices.items()},
                "wallet": {c: str(v) for c, v in sandbox.wallet.items()},
                "margin_calls": _events(sandbox.margin_calls),
                "liquidations": _events(sandbox.liquidations)}


def _inject(sandbox: Sandbox, args: Mapping[str, Any]) -> None:
    params = args.get("params") or {}
    if not isinstance(params, dict):
        raise ValueError("params must be an object")
    sandbox.faults.inject(str(args.get("path")), str(args.get("kind")),
                          int(args.get("times", 1)), **params)


def _walk(sandbox: Sandbox, args: Mapping[str, Any]) -> None:
    seed = args.get("seed")
    sandbox.set_price_walk(bool(args.get("enabled", True)),
                           seed=None if seed is None else int(seed),
                           step_ms=int(args.get("step_ms", 300_000)),
                           volatility=str(args.get("volatility", "0.001")))


OPS: dict[str, Callable[[Sandbox, Mapping[str, Any]], Any]] = {
    "status": lambda s, a: s.status(),
    "reset": lambda s, a: s.reset(new_seed=True),
    "snapshot": _snapshot,
    "set_price": lambda s, a: s.set_price(str(a.get("coin")), _money(a, "price")),
    "set_balance": lambda s, a: s.set_balance(str(a.get("coin")), _money(a, "amount")),
    "set_flexible_rate": lambda s, a: s.set_flexible_rate(str(a.get("coin")),
                                                          _money(a, "hourly_rate")),
    "advance": lambda s, a: s.advance(int(a.get("ms", -1))),
    "set_price_walk": _walk,
    "faults_inject": _inject,
    "faults_clear": lambda s, a: s.faults.clear(),
    "rate_limits_clear": lambda s, a: s.rate_limits.clear(),
}
"""Every admin operation; ``stop`` is the server's own (it ends the process)."""


def _reply(status: int, payload: dict[str, Any]) -> Reply:
    return Reply(status, {"Content-Type": "application/json"},
                 json.dumps(payload, separators=(",", ":")).encode())


def answer(sandbox: Sandbox, token: str, headers: Mapping[str, str], body: bytes,
           peer: str, stop: Callable[[], None]) -> Reply:
    """Run one admin call for the server (see the module docstring)."""
    given = headers.get(TOKEN_HEADER, "")
    if peer not in ("127.0.0.1", "::1", "local") or not hmac.compare_digest(given, token):
        return _reply(403, {"ok": False, "error": "forbidden"})
    try:
        call = json.loads(body)
        op = call["op"]
        args = call.get("args") or {}
        if op == "stop":
            stop()
            return _reply(200, {"ok": True, "result": None})
        result = OPS[op](sandbox, args)
    except KeyError as exc:
        return _reply(400, {"ok": False, "error": f"unknown operation or argument {exc}"})
    except (ValueError, TypeError, ArithmeticError) as exc:
        return _reply(400, {"ok": False, "error": str(exc)})
    return _reply(200, {"ok": True, "result": result})


class RemoteFaults:
    """``faults.inject`` and ``faults.clear`` of a sandbox in another process."""

    def __init__(self, remote: RemoteSandbox) -> None:
        self._remote = remote

    def inject(self, path: str, kind: str, times: int = 1, **params: Any) -> None:
        """Queue ``kind`` for the next ``times`` requests to ``path`` (``"*"``: any)."""
        self._remote.call("faults_inject", path=path, kind=kind, times=times, params=params)

    def clear(self) -> None:
        """Forget every queued fault and reset latency and skew."""
        self._remote.call("faults_clear")


class RemoteRateLimits:
    """``rate_limits.clear()`` of a sandbox in another process."""

    def __init__(self, remote: RemoteSandbox) -> None:
        self._remote = remote

    def clear(self) -> None:
        """Lift the documented per-path UID limits."""
        self._remote.call("rate_limits_clear")


def _decimal_text(value: Decimal | str, what: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (Decimal, str)):
        raise TypeError(f"a {what} is a Decimal or decimal string, not {value!r}")
    return str(value)


def _event(row: Mapping[str, Any]) -> RiskEvent:
    def back(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: back(v) for k, v in value.items()}
        return Decimal(value) if isinstance(value, str) else value

    return RiskEvent(row["time"], row["kind"], row["book"], row["ref"], Decimal(row["ltv"]),
                     row["reason"], back(row["detail"]))


class RemoteSandbox:
    """The knobs of a sandbox running in another process, through its admin route."""

    def __init__(self, base_url: str, token: str, timeout: float = 10.0) -> None:
        parts = urlsplit(base_url)
        self._host, self._port = parts.hostname or "127.0.0.1", parts.port or 80
        self._token = token
        self._timeout = timeout
        self.faults = RemoteFaults(self)
        self.rate_limits = RemoteRateLimits(self)

    def call(self, op: str, **args: Any) -> Any:
        """Run admin operation ``op``; raises :class:`AdminError` when refused."""
        conn = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)
        try:
            body = json.dumps({"op": op, "args": args}).encode()
            conn.request("POST", ADMIN_PATH, body=body, headers={
                "Content-Type": "application/json", "X-Sandbox-Token": self._token})
            response = conn.getresponse()
            payload = json.loads(response.read() or b"{}")
        except (OSError, ValueError) as exc:
            raise AdminError(f"the sandbox at {self._host}:{self._port} did not answer: "
                             f"{exc}") from None
        finally:
            conn.close()
        if not payload.get("ok"):
            raise AdminError(f"sandbox admin {op}: {payload.get('error', 'refused')}")
        return payload.get("result")

    def status(self) -> dict[str, Any]:
        """What the exchange holds (see :meth:`Sandbox.status`)."""
        result: dict[str, Any] = self.call("status")
        return result

    def reset(self) -> None:
        """Forget every loan and balance change (a new identity, a new id sequence)."""
        self.call("reset")

    def set_price(self, coin: str, price: Decimal | str) -> None:
        """Set a spot price in USDT (loans are re-evaluated at once)."""
        self.call("set_price", coin=coin, price=_decimal_text(price, "price"))

    def set_balance(self, coin: str, amount: Decimal | str) -> None:
        """Set a Funding-wallet balance."""
        self.call("set_balance", coin=coin, amount=_decimal_text(amount, "balance"))

    def set_flexible_rate(self, coin: str, hourly_rate: Decimal | str) -> None:
        """Change a coin's flexible hourly rate."""
        self.call("set_flexible_rate", coin=coin, hourly_rate=_decimal_text(hourly_rate, "rate"))

    def advance(self, ms: int) -> None:
        """Move server time forward by ``ms`` (kept across restarts)."""
        self.call("advance", ms=ms)

    def set_price_walk(self, enabled: bool = True, *, seed: int | None = None,
                       step_ms: int = 300_000, volatility: Decimal | str = "0.001") -> None:
        """Switch the gentle random walk of prices on or off."""
        self.call("set_price_walk", enabled=enabled, seed=seed, step_ms=step_ms,
                  volatility=_decimal_text(volatility, "volatility"))

    @property
    def prices(self) -> dict[str, Decimal]:
        """Spot prices now (a copy)."""
        return {c: Decimal(v) for c, v in self.call("snapshot")["prices"].items()}

    @property
    def wallet(self) -> dict[str, Decimal]:
        """The Funding wallet now (a copy)."""
        return {c: Decimal(v) for c, v in self.call("snapshot")["wallet"].items()}

    @property
    def margin_calls(self) -> list[RiskEvent]:
        """Every margin call so far."""
        return [_event(row) for row in self.call("snapshot")["margin_calls"]]

    @property
    def liquidations(self) -> list[RiskEvent]:
        """Every liquidation so far."""
        return [_event(row) for row in self.call("snapshot")["liquidations"]]

    def __repr__(self) -> str:
        return f"<RemoteSandbox http://{self._host}:{self._port}>"
