"""A local exchange that speaks Bybit's V5 crypto-loan API, legacy and new.

The sandbox runs on loopback over real HTTP/1.1 and checks every request the
way Bybit does: API key, ``X-BAPI-TIMESTAMP`` against ``X-BAPI-RECV-WINDOW``,
and the HMAC-SHA256 or RSA signature over the exact bytes received. It keeps a
Funding wallet and loan orders, and it can misbehave on request (latency,
dropped connections, HTML gateway errors, broken JSON, forced retCodes, clock
skew). Nothing real is ever borrowed. Use it to try ``loan_widgets`` offline,
or point any Bybit client (pybit, ccxt, curl) at it::

    from loan_widgets.sandbox import SandboxServer, DEMO_API_KEY, DEMO_API_SECRET

    with SandboxServer() as server:
        print(server.base_url)          # http://127.0.0.1:54321
        ...                             # sign requests with the demo key
        server.sandbox.wallet["USDT"]   # Decimal('100550') after borrowing 550 USDT

or from a shell::

    python -m loan_widgets.sandbox --port 8080        # prints BASE_URL=http://127.0.0.1:8080

**Demo credentials.** :data:`DEMO_API_KEY` = ``SANDBOXDEMOKEY0001`` with the HMAC
secret :data:`DEMO_API_SECRET` = ``sandbox-demo-secret-not-a-secret``. They are
public on purpose and work only against a sandbox. Register your own keys with
``sandbox.add_credentials(key, secret)`` or, for a self-generated RSA key,
``sandbox.add_credentials(key, public_key_pem=pem)``.

**Endpoints.** Public: ``GET /v5/market/time``, ``GET /v5/market/tickers?category=spot``,
``GET /v5/crypto-loan/collateral-data``, ``GET /v5/crypto-loan/loanable-data``.
Signed: ``GET borrowable-collateralisable-number``, ``POST borrow``, ``POST repay``,
``GET ongoing-orders``, ``GET repayment-history``, ``GET borrow-history``,
``GET max-collateral-amount``, ``POST adjust-ltv``, ``GET adjustment-history`` (all
under ``/v5/crypto-loan/``), and the Crypto Loan (New) endpoints of
:data:`loan_widgets.endpoints.NEW_API_ENDPOINTS` under ``/v5/crypto-loan-common/``,
``/v5/crypto-loan-flexible/`` and ``/v5/crypto-loan-fixed/`` (retMsg ``"ok"``, 148xxx
errors, documented UID limits of 1/s for writes and 5/s for reads, relaxed with
``sandbox.rate_limits.clear()``; see :mod:`loan_widgets.sandbox.new_api`).
Anything else is HTTP 404 with retCode 10017.
Successful crypto-loan answers are
``{"retCode":0,"retMsg":"request.success","result":{...},"retExtInfo":{},"time":<ms>}``;
amounts are JSON strings. Every envelope carries ``X-Bapi-Limit``,
``X-Bapi-Limit-Status`` and ``X-Bapi-Limit-Reset-Timestamp`` (per key and path,
rolling one second, ``Sandbox(rate_limit=5000)``; over it: retCode 10006).

**Borrow rules.** ``loanTerm`` absent, ``null`` or ``""`` is a flexible loan,
otherwise ``"7"``, ``"14"``, ``"30"``, ``"90"`` or ``"180"`` if the coin offers it.
Given only ``loanAmount``, the collateral is ``loan * loanPrice / (initialLTV *
collateralPrice)`` rounded up to ``collateralAccuracy``; given only
``collateralAmount``, the loan is ``collateral * collateralPrice * initialLTV /
loanPrice`` rounded down to ``borrowingAccuracy``; given both, the collateral
must cover the loan at ``initialLTV``. Collateral leaves the Funding wallet and
the loan arrives in it. Order ids are 19-digit strings, increasing, and the
same for the same ``seed``. Interest accrues every whole hour of server time
(:meth:`Sandbox.advance` moves it), three times the rate past a fixed loan's due
time. :meth:`Sandbox.set_price` and the passing of time liquidate a loan at its
``liquidationLTV`` and flag it at its ``marginCallLTV`` (``sandbox.margin_calls``);
``Sandbox(legacy_borrow="reject")`` refuses the deprecated legacy Borrow as live
Bybit may (see :mod:`loan_widgets.sandbox.exchange`). The coin tables, prices and
starting balances are in
:mod:`loan_widgets.sandbox.market`; the retCodes and auth order in
:mod:`loan_widgets.sandbox.exchange`; the fault knobs in
:mod:`loan_widgets.sandbox.faults`.

:func:`default_server` is one process-wide server, started on first use with
the seed from ``LOAN_WIDGETS_SANDBOX_SEED`` (default 0).
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
