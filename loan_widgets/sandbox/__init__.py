"""A local exchange that speaks Bybit's V5 crypto-loan API, legacy and new.

The sandbox runs on loopback over real HTTP/1.1 and checks every request the
way Bybit does: API key, ``X-BAPI-TIMESTAMP`` against ``X-BAPI-RECV-WINDOW``,
and the HMAC-SHA256 or RSA signature over the exact bytes received. It keeps a
Funding wallet, legacy loan orders and the new API's pooled account, and it can
misbehave on request (latency, dropped connections, HTML gateway errors, broken
JSON, forced retCodes, clock skew). Nothing real is ever borrowed. Point any
Bybit client (pybit, ccxt, curl) at it::

    from loan_widgets.sandbox import SandboxServer, DEMO_API_KEY, DEMO_API_SECRET

    with SandboxServer() as server:
        print(server.base_url)          # http://127.0.0.1:54321
        ...                             # sign requests with the demo key
        server.sandbox.wallet["USDT"]   # Decimal('100550') after borrowing 550 USDT

or from a shell: ``python -m loan_widgets.sandbox --port 8080`` (prints
``BASE_URL=http://127.0.0.1:8080``).

**Demo credentials.** :data:`DEMO_API_KEY` = ``SANDBOXDEMOKEY0001`` with the HMAC
secret :data:`DEMO_API_SECRET` = ``sandbox-demo-secret-not-a-secret``. They are
public on purpose and work only against a sandbox. Register your own keys with
``sandbox.add_credentials(key, secret)`` or, for a self-generated RSA key,
``sandbox.add_credentials(key, public_key_pem=pem)``.

**Where things are.** The endpoints served are exactly
:data:`loan_widgets.endpoints.ENDPOINTS` (:mod:`~loan_widgets.sandbox.routes`); the
checks, limits and statuses are in :mod:`~loan_widgets.sandbox.gateway`; the legacy
rules in :mod:`~loan_widgets.sandbox.legacy` and
:mod:`~loan_widgets.sandbox.legacy_endpoints`; the new API's in
:mod:`~loan_widgets.sandbox.new_api` (``sandbox.new_api``); the coin tables, prices and
starting balances in :mod:`~loan_widgets.sandbox.market`; the fault knobs in
:mod:`~loan_widgets.sandbox.faults`; the account (wallet, clock, ids, ``set_price``,
``advance``, ``status``, ``reset``, saving) in :mod:`~loan_widgets.sandbox.account`.

:func:`default_server` is the sandbox behind ``network="sandbox"``: the user's own
sandbox process, shared by every kernel and kept on disk
(:mod:`~loan_widgets.sandbox.home`), or, with ``LOAN_WIDGETS_SANDBOX_SEED`` set (tests,
nbval), a private in-process one with that seed.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from .account import Sandbox
from .faults import Faults
from .gateway import Reply, RequestLog, RequestRecord
from .legacy import LEGACY_BORROW_DEPRECATED, RiskEvent
from .market import DEMO_API_KEY, DEMO_API_SECRET
from .new_api import NewApiBook
from .server import SandboxServer

__all__ = [
    "DEMO_API_KEY",
    "DEMO_API_SECRET",
    "LEGACY_BORROW_DEPRECATED",
    "Faults",
    "NewApiBook",
    "Reply",
    "RequestLog",
    "RequestRecord",
    "RiskEvent",
    "Sandbox",
    "SandboxServer",
    "default_server",
]

SEED_ENV = "LOAN_WIDGETS_SANDBOX_SEED"
_default: Any = None
_default_lock = threading.Lock()


def default_server() -> Any:
    """The sandbox behind ``network="sandbox"``: ``.base_url``, ``.identity``, ``.sandbox``.

    With ``LOAN_WIDGETS_SANDBOX_SEED`` set (tests, nbval), a private in-process
    :class:`SandboxServer` seeded with it, started on the first call. Otherwise the
    user's own sandbox process, shared by every kernel and process of the user and
    kept on disk (:mod:`loan_widgets.sandbox.home`), started on first use.
    """
    global _default
    with _default_lock:
        text = os.environ.get(SEED_ENV, "").strip()
        if text:
            if not isinstance(_default, SandboxServer) or not _default.running:
                _default = SandboxServer(Sandbox(seed=_seed(text))).start()
            return _default
        from .home import UserSandbox

        if not isinstance(_default, UserSandbox) or not _default.alive():
            _default = UserSandbox.connect()
        return _default


def _seed(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        from ..errors import ConfigurationError

        raise ConfigurationError(f"{SEED_ENV}={text!r} is not a whole number") from None
