"""Settings (network, host, recv_window, timeout) and credentials.

Settings come from arguments first, then the environment:

``LOAN_WIDGETS_NETWORK``   sandbox (default), testnet or mainnet
``LOAN_WIDGETS_BASE_URL``  another host for that network (regional host, a sandbox elsewhere)
``LOAN_WIDGETS_TIMEOUT``   seconds to wait for an answer (default 10)
``LOAN_WIDGETS_LEDGER``    the ledger file (see :mod:`loan_widgets.ledger`)

Credentials come from arguments, the environment (``BYBIT_API_KEY`` with
``BYBIT_API_SECRET``, or with ``BYBIT_API_PRIVATE_KEY_FILE`` for an RSA key
in PEM) or, on the sandbox, its built-in demo key. They are never settings:
nothing here stores them in a traitlet, a widget or a file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigurationError, CredentialsError

__all__ = [
    "DEFAULT_RECV_WINDOW",
    "DEFAULT_TIMEOUT",
    "NETWORKS",
    "Credentials",
    "Settings",
    "mask",
]

NETWORKS: dict[str, str | None] = {
    "sandbox": None,  # a local exchange started on loopback on first use
    "testnet": "https://api-testnet.bybit.com",
    "mainnet": "https://api.bybit.com",
}
DEFAULT_RECV_WINDOW = 5000
DEFAULT_TIMEOUT = 10.0
ENV_VARS = "BYBIT_API_KEY + BYBIT_API_SECRET, or BYBIT_API_KEY + BYBIT_API_PRIVATE_KEY_FILE"


def mask(value: str) -> str:
    """Show only the first and last two characters of an identifier."""
    if len(value) <= 6:
        return "***"
    return f"{value[:2]}***{value[-2:]}"


class Credentials:
    """An API key with its HMAC secret or RSA private key.

    The secret is held privately: ``repr`` and ``str`` show a masked key only,
    and the object refuses to be pickled or copied into saved state.
    """

    __slots__ = ("__private_key", "__secret", "api_key", "kind")

    def __init__(
        self,
        api_key: str,
        api_secret: str | None = None,
        *,
        private_key: object | None = None,
    ) -> None:
        if not api_key or not isinstance(api_key, str):
            raise CredentialsError("an API key is needed: set " + ENV_VARS)
        if (api_secret is None) == (private_key is None):
            raise CredentialsError(
                "give exactly one of an API secret or an RSA private key for the API key"
            )
        self.api_key = api_key.strip()
        self.__secret = api_secret
        if private_key is not None and isinstance(private_key, (str, bytes)):
            from .signing import load_private_key

            try:
                private_key = load_private_key(private_key)
            except TypeError:  # cryptography: "Password was not given but private key is encrypted"
                raise CredentialsError(
                    "the RSA private key is encrypted: give an unencrypted PEM (keep the file "
                    "private, e.g. chmod 600) or decrypt it first"
                ) from None
            except ValueError:
                raise CredentialsError("the RSA private key could not be read as PEM") from None
        self.__private_key = private_key
        self.kind = "hmac" if api_secret is not None else "rsa"

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Credentials | None:
        """Credentials from ``BYBIT_API_*`` variables, or ``None`` if none are set."""
        env = os.environ if environ is None else environ
        key = env.get("BYBIT_API_KEY", "").strip()
        secret = env.get("BYBIT_API_SECRET", "")
        key_file = env.get("BYBIT_API_PRIVATE_KEY_FILE", "").strip()
        if not key and not secret and not key_file:
            return None
        if not key:
            raise CredentialsError("BYBIT_API_KEY is not set: set " + ENV_VARS)
        if secret and key_file:
            raise CredentialsError("set only one of BYBIT_API_SECRET or BYBIT_API_PRIVATE_KEY_FILE")
        if key_file:
            try:
                pem = Path(key_file).expanduser().read_bytes()
            except OSError as exc:
                raise CredentialsError(
                    f"cannot read BYBIT_API_PRIVATE_KEY_FILE ({exc.strerror})"
                ) from None
            return cls(key, private_key=pem)
        if not secret:
            raise CredentialsError("BYBIT_API_SECRET is not set: set " + ENV_VARS)
        return cls(key, secret.strip())

    def sign(self, message: bytes) -> str:
        """Sign the exact bytes of a string-to-sign."""
        from . import signing

        if self.__secret is not None:
            return signing.hmac_signature(self.__secret, message)
        return signing.rsa_signature(self.__private_key, message)

    @property
    def masked_key(self) -> str:
        """The API key with all but its ends hidden."""
        return mask(self.api_key)

    def __repr__(self) -> str:
        return f"Credentials(api_key={self.masked_key!r}, kind={self.kind!r})"

    __str__ = __repr__

    def __reduce__(self):  # pickling would write the secret out
        raise TypeError("Credentials cannot be pickled")


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
