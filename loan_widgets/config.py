"""Settings (network, host, recv_window, timeout) and credentials.

Settings come from arguments first, then the environment:

``LOAN_WIDGETS_NETWORK``   sandbox (default), testnet or mainnet
``LOAN_WIDGETS_BASE_URL``  another host for that network (regional host, a sandbox elsewhere)
``LOAN_WIDGETS_TIMEOUT``   seconds to wait for an answer (default 10)
``LOAN_WIDGETS_LEDGER``    the ledger file (see :mod:`loan_widgets.ledger`)

Credentials are not settings: see :mod:`loan_widgets.credentials`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from .errors import ConfigurationError

__all__ = ["DEFAULT_RECV_WINDOW", "DEFAULT_TIMEOUT", "NETWORKS", "Settings"]

NETWORKS: dict[str, str | None] = {
    "sandbox": None,  # a local exchange started on loopback on first use
    "testnet": "https://api-testnet.bybit.com",
    "mainnet": "https://api.bybit.com",
}
DEFAULT_RECV_WINDOW = 5000
DEFAULT_TIMEOUT = 10.0


@dataclass(frozen=True)
class Settings:
    """Where to send requests and how long to wait."""

    network: str = "sandbox"
    base_url: str | None = None
    recv_window: int = DEFAULT_RECV_WINDOW
    timeout: float = DEFAULT_TIMEOUT

    def __post_init__(self) -> None:
        if self.network not in NETWORKS:
            raise ConfigurationError(
                f"unknown network {self.network!r}: use one of {', '.join(NETWORKS)}"
            )
        if self.base_url is not None and not self.base_url.startswith(("http://", "https://")):
            raise ConfigurationError(
                f"base URL {self.base_url!r} must start with http:// or https://"
            )
        if not isinstance(self.recv_window, int) or not 1 <= self.recv_window <= 60_000:
            raise ConfigurationError("recv_window must be a whole number of ms from 1 to 60000")
        if not 0 < self.timeout <= 600:
            raise ConfigurationError("timeout must be between 0 and 600 seconds")

    @classmethod
    def resolve(
        cls,
        network: str | None = None,
        base_url: str | None = None,
        recv_window: int | None = None,
        timeout: float | None = None,
        environ: dict[str, str] | None = None,
    ) -> Settings:
        """Arguments first, then ``LOAN_WIDGETS_*`` variables, then defaults."""
        env = os.environ if environ is None else environ
        network = (network or env.get("LOAN_WIDGETS_NETWORK") or "sandbox").strip().lower()
        base_url = base_url or env.get("LOAN_WIDGETS_BASE_URL") or None
        if timeout is None and env.get("LOAN_WIDGETS_TIMEOUT"):
            try:
                timeout = float(env["LOAN_WIDGETS_TIMEOUT"])
            except ValueError:
                given = env["LOAN_WIDGETS_TIMEOUT"]
                raise ConfigurationError(
                    f"LOAN_WIDGETS_TIMEOUT={given!r} is not a number of seconds"
                ) from None
        return cls(
            network=network,
            base_url=base_url.rstrip("/") if base_url else None,
            recv_window=DEFAULT_RECV_WINDOW if recv_window is None else recv_window,
            timeout=DEFAULT_TIMEOUT if timeout is None else timeout,
        )
