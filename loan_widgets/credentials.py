"""Credentials: an API key with its HMAC secret or RSA private key, held privately.

Credentials come from arguments, the environment (``BYBIT_API_KEY`` with
``BYBIT_API_SECRET``, or with ``BYBIT_API_PRIVATE_KEY_FILE`` for an RSA key
in PEM) or, on the sandbox, its built-in demo key. They are never settings:
nothing here stores them in a traitlet, a widget or a file, and nothing
prints them: ``repr`` shows a masked key only.
"""

from __future__ import annotations

import os
from pathlib import Path

from . import signing
from .errors import CredentialsError

__all__ = ["ENV_VARS", "Credentials", "mask", "resolve"]

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
            try:
                private_key = signing.load_private_key(private_key)
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


def resolve(
    network: str,
    *,
    profile: str | None = None,
    environ: dict[str, str] | None = None,
) -> Credentials | None:
    """The credentials for ``network`` from where they are kept, or ``None`` if none are.

    Looked up in the environment (``BYBIT_API_KEY`` with ``BYBIT_API_SECRET`` or
    ``BYBIT_API_PRIVATE_KEY_FILE``). ``profile`` names a stored profile.
    """
    if profile is not None:
        raise CredentialsError(f"no credentials profile named {profile!r}")
    return Credentials.from_env(environ)
