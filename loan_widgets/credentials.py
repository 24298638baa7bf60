"""Credentials: an API key with its HMAC secret or RSA private key, held privately.

Where they come from, first match wins (:func:`resolve`):

1. arguments (``LoanClient(api_key=..., api_secret=...)``: the client's business),
   or a profile named explicitly (``LoanClient(profile="main")``);
2. per-network environment variables: ``BYBIT_TESTNET_API_KEY`` with
   ``BYBIT_TESTNET_API_SECRET`` or ``BYBIT_TESTNET_API_PRIVATE_KEY_FILE``, and the
   same with ``MAINNET``;
3. ``BYBIT_API_KEY`` with ``BYBIT_API_SECRET`` or ``BYBIT_API_PRIVATE_KEY_FILE``
   (one pair for every network);
4. the network's profile, its secret in the OS keyring (:mod:`loan_widgets.profiles`).

Everything loaded is checked first: a key or secret is printable ASCII with no
whitespace inside (surrounding whitespace, such as a pasted newline, is dropped),
a private-key file is a regular file of at most 64 KiB holding an unencrypted
RSA private key in PEM. A failed check is a one-line :class:`CredentialsError`
that says where the value came from and what is wrong with it, never the value.

Credentials are never settings: nothing here puts them in a traitlet, a widget
or a file, and nothing prints them: ``repr`` shows a masked key only.
"""

from __future__ import annotations

import logging
import os
import stat
import unicodedata
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from . import profiles, signing
from .errors import CredentialsError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

__all__ = [
    "ACCEPTED_KEYS",
    "ENV_VARS",
    "MAX_KEY_FILE_BYTES",
    "VARIABLES",
    "Credentials",
    "check_key_path",
    "check_text",
    "mask",
    "missing",
    "read_key_file",
    "resolve",
]

ENV_VARS = "BYBIT_API_KEY + BYBIT_API_SECRET, or BYBIT_API_KEY + BYBIT_API_PRIVATE_KEY_FILE"
VARIABLES = tuple(
    f"BYBIT_{prefix}API_{part}"
    for prefix in ("", "TESTNET_", "MAINNET_")
    for part in ("KEY", "SECRET", "PRIVATE_KEY_FILE")
)
"""Every environment variable credentials are read from."""
ACCEPTED_KEYS = (
    "Bybit accepts an HMAC secret (a system-generated API key) or an RSA private key in PEM "
    "(a self-generated API key)"
)
log = logging.getLogger(__name__)

MAX_KEY_FILE_BYTES = 64 * 1024
"""A 16384-bit RSA key in PEM is about 13 KB; anything larger is not a key file."""
MAX_TEXT = 256
"""Longest key or secret accepted (Bybit's are 18 and 36 characters)."""


def mask(value: str) -> str:
    """Show only the first and last two characters of an identifier."""
    if len(value) <= 6:
        return "***"
    return f"{value[:2]}***{value[-2:]}"


def check_text(value: object, what: str, source: str) -> str:
    """``value`` without surrounding whitespace, if it is printable ASCII with no space inside.

    ``what`` is ``API key`` or ``API secret``; ``source`` where it came from
    (``arguments``, a variable's name, ``the prompt``). The error never shows it.
    """
    origin = f"the {what} " + ("given" if source == "arguments" else f"from {source}")
    if not isinstance(value, str):
        raise CredentialsError(f"{origin} must be text")
    text = value.strip()
    if not text:
        raise CredentialsError(f"{origin} is empty")
    if len(text) > MAX_TEXT:
        raise CredentialsError(
            f"{origin} is {len(text)} characters long, more than any Bybit {what} "
            f"({MAX_TEXT} at most): copy it again from Bybit's API management page"
        )
    for position, char in enumerate(text, 1):
        if not "!" <= char <= "~":
            raise CredentialsError(
                f"{origin} has {_describe(char)} at position {position}: "
                "API keys and secrets are printable ASCII with no spaces; copy it again from "
                "Bybit's API management page"
            )
    return text


def _describe(char: str) -> str:
    """A character named without showing it (it may be invisible or a control code)."""
    names = {" ": "a space", "\n": "a line break", "\r": "a carriage return", "\t": "a tab"}
    if char in names:
        return names[char]
    name = unicodedata.name(char, "a control character")
    return f"U+{ord(char):04X} ({name})"


def check_key_path(path: str | os.PathLike[str], source: str) -> Path:
    """``path`` as a key file's path, or a one-line error if it holds a key instead.

    A PEM (or anything with a line break) pasted where the path goes is refused
    without being shown: messages name the ``source``, never the value.
    """
    text = os.fsdecode(path)
    if "-----BEGIN" in text or any(c in text for c in "\r\n\x00"):
        raise CredentialsError(
            f"{source} holds the key itself, not the path of its file: save the PEM in a file "
            "(readable by you only, e.g. chmod 600) and give that file's path"
        )
    return Path(text).expanduser()


def read_key_file(path: str | os.PathLike[str], source: str) -> bytes:
    """The bytes of a private-key file: a regular file of at most :data:`MAX_KEY_FILE_BYTES`.

    An unreadable path is reported by its ``source`` only, and without the ``OSError``
    as context: that error holds the path, which may be a secret given by mistake.
    """
    where = check_key_path(path, source)
    reason = None
    try:  # O_NONBLOCK: a FIFO named by mistake must not hang the kernel
        fd = os.open(where, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
    if reason is not None:
        raise CredentialsError(f"cannot read {source} ({reason})")
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise CredentialsError(f"{source} is not a regular file: give the PEM key file")
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(MAX_KEY_FILE_BYTES + 1)
    if len(data) > MAX_KEY_FILE_BYTES:
        raise CredentialsError(
            f"{source} is larger than {MAX_KEY_FILE_BYTES // 1024} KiB, so it is not a private "
            f"key: {ACCEPTED_KEYS}"
        )
    return data


def _rsa_private_key(pem: bytes | str, source: str) -> RSAPrivateKey:
    """Parse ``pem`` as an unencrypted RSA private key, or say what it is instead."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    data = pem.encode("utf-8", "replace") if isinstance(pem, str) else pem
    if b"-----BEGIN OPENSSH PRIVATE KEY-----" in data:
        raise CredentialsError(
            f"{source} is an OpenSSH private key: {ACCEPTED_KEYS}; convert an RSA one to PEM "
            "with ssh-keygen -p -m PKCS8 -f FILE"
        )
    if b"PRIVATE KEY-----" not in data and (b"PUBLIC KEY-----" in data or b"CERTIFICATE" in data):
        raise CredentialsError(
            f"{source} holds a public key or a certificate, not a private key: Bybit keeps the "
            "public half, loan_widgets needs the RSA private key in PEM"
        )
    try:
        key = load_pem_private_key(data, password=None)
    except TypeError:  # cryptography: "Password was not given but private key is encrypted"
        raise CredentialsError(
            f"{source} is encrypted: give an unencrypted PEM (keep the "
            "file private, e.g. chmod 600) or decrypt it first"
        ) from None
    except UnsupportedAlgorithm:
        raise CredentialsError(f"{source} holds a key of a type that is not supported: "
                               f"{ACCEPTED_KEYS}") from None
    except ValueError:
        raise CredentialsError(
            f"{source} could not be read as a PEM private key: {ACCEPTED_KEYS}"
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise CredentialsError(f"{source} holds {_key_kind(key)}: {ACCEPTED_KEYS}")
    return key


def _key_kind(key: object) -> str:
    """``an Ed25519 key``, ``an EC key (secp256r1)``...: what a non-RSA key is."""
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, x448, x25519

    if isinstance(key, ec.EllipticCurvePrivateKey):
        return f"an EC private key ({key.curve.name})"
    kinds = {
        ed25519.Ed25519PrivateKey: "an Ed25519 private key",
        ed448.Ed448PrivateKey: "an Ed448 private key",
        dsa.DSAPrivateKey: "a DSA private key",
        x25519.X25519PrivateKey: "an X25519 private key",
        x448.X448PrivateKey: "an X448 private key",
    }
    return next((text for cls, text in kinds.items() if isinstance(key, cls)),
                f"a {type(key).__name__}")


class Credentials:
    """An API key with its HMAC secret or RSA private key.

    The secret is held privately: ``repr`` and ``str`` show a masked key only,
    and the object refuses to be pickled or copied into saved state. ``source``
    says where the credentials were loaded from (``arguments``, an environment
    variable, ``profile 'main'``) and ``profile`` names the profile, if any.
    """

    __slots__ = ("__private_key", "__secret", "api_key", "kind", "profile", "source")

    def __init__(
        self,
        api_key: str,
        api_secret: str | None = None,
        *,
        private_key: object | None = None,
        source: str = "arguments",
        profile: str | None = None,
    ) -> None:
        if not api_key:
            raise CredentialsError(
                "an API key is needed: add a profile (%loan_keys add) or set " + ENV_VARS
            )
        if (api_secret is None) == (private_key is None):
            raise CredentialsError(
                "give exactly one of an API secret or an RSA private key for the API key"
            )
        self.api_key = check_text(api_key, "API key", source)
        self.__secret = None if api_secret is None else check_text(api_secret, "API secret", source)
        where = "the private key " + ("given" if source == "arguments" else f"from {source}")
        key: RSAPrivateKey | None = None
        if isinstance(private_key, (str, bytes)):
            key = _rsa_private_key(private_key, where)
        elif private_key is not None:
            from cryptography.hazmat.primitives.asymmetric import rsa

            if not isinstance(private_key, rsa.RSAPrivateKey):
                raise CredentialsError(f"{where} is {_key_kind(private_key)}: {ACCEPTED_KEYS}")
            key = private_key
        self.__private_key = key
        self.kind = "hmac" if api_secret is not None else "rsa"
        self.source = source
        self.profile = profile

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Credentials | None:
        """Credentials from ``BYBIT_API_*`` variables, or ``None`` if none are set."""
        return _from_env(os.environ if environ is None else environ, "BYBIT_API")

    def sign(self, message: bytes) -> str:
        """Sign the exact bytes of a string-to-sign."""
        if self.__secret is not None:
            return signing.hmac_signature(self.__secret, message)
        assert self.__private_key is not None  # __init__ takes exactly one of the two
        return signing.rsa_signature(self.__private_key, message)

    @property
    def masked_key(self) -> str:
        """The API key with all but its ends hidden."""
        return mask(self.api_key)

    def __repr__(self) -> str:
        shown = f", profile={self.profile!r}" if self.profile else ""
        return f"Credentials(api_key={self.masked_key!r}, kind={self.kind!r}{shown})"

    __str__ = __repr__

    def __reduce__(self) -> NoReturn:  # pickling would write the secret out
        raise TypeError("Credentials cannot be pickled")


def _from_env(env: Mapping[str, str], prefix: str) -> Credentials | None:
    """Credentials from ``{prefix}_KEY`` with ``_SECRET`` or ``_PRIVATE_KEY_FILE``, or ``None``."""
    key_var, secret_var = f"{prefix}_KEY", f"{prefix}_SECRET"
    file_var = f"{prefix}_PRIVATE_KEY_FILE"
    key, secret = env.get(key_var, ""), env.get(secret_var, "")
    key_file = env.get(file_var, "").strip()
    if not key.strip() and not secret.strip() and not key_file:
        return None
    if not key.strip():
        given = secret_var if secret.strip() else file_var
        raise CredentialsError(f"{key_var} is not set but {given} is: set both")
    if secret.strip() and key_file:
        raise CredentialsError(f"set only one of {secret_var} or {file_var}")
    key = check_text(key, "API key", key_var)
    if key_file:
        pem = read_key_file(key_file, file_var)
        return Credentials(key, private_key=pem, source=file_var)
    if not secret.strip():
        raise CredentialsError(
            f"{secret_var} is not set: set {key_var} with {secret_var} or {file_var}"
        )
    return Credentials(key, check_text(secret, "API secret", secret_var), source=key_var)


def _from_profile(profile: profiles.Profile) -> Credentials:
    """The credentials a profile names: its key, and its secret from the keyring or a file."""
    source = f"profile {profile.name!r}"
    if profile.private_key_file:
        pem = read_key_file(profile.private_key_file, f"the key file of {source}")
        return Credentials(profile.api_key, private_key=pem, source=source, profile=profile.name)
    secret = profiles.read_secret(profile)
    return Credentials(profile.api_key, secret, source=source, profile=profile.name)


def resolve(
    network: str,
    *,
    host: str | None = None,
    profile: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Credentials | None:
    """The credentials for ``network`` (at ``host``) from where they are kept, or ``None``.

    ``profile`` names a stored profile and wins over the environment. Otherwise
    the per-network variables (``BYBIT_TESTNET_API_KEY``...), then ``BYBIT_API_KEY``...,
    then the network's profile. Credentials bound to a network (a profile, a
    per-network variable) are never used for another network, nor against a host
    of another network (a testnet key never goes to a mainnet host, nor the
    reverse): that is a one-line :class:`CredentialsError`.
    """
    env = os.environ if environ is None else environ
    found = _lookup(network, host, profile, env)
    if found is not None:
        log.debug("credentials for %s from %s (key %s)", network, found.source, found.masked_key)
    return found


def _lookup(
    network: str, host: str | None, profile: str | None, env: Mapping[str, str]
) -> Credentials | None:
    if profile is not None:
        chosen = profiles.get(profile, environ=env)
        profiles.check_binding(chosen, network, host)
        return _from_profile(chosen)
    if network in profiles.NETWORKS:
        prefix = f"BYBIT_{network.upper()}_API"
        found = _from_env(env, prefix)
        if found is not None:
            profiles.check_host(network, host, f"{prefix}_KEY")
            return found
    found = _from_env(env, "BYBIT_API")
    if found is not None:
        return found
    selected = profiles.select(network, host=host, environ=env)
    return None if selected is None else _from_profile(selected)


def missing(network: str) -> str:
    """The one-line message for a network with no credentials anywhere: how to add them."""
    upper = network.upper()
    return (
        f"no API credentials for {network}: add a profile with %loan_keys add NAME --network "
        f"{network} (or python -m loan_widgets keys add ...; the secret goes to the OS keyring), "
        f"or set BYBIT_{upper}_API_KEY and BYBIT_{upper}_API_SECRET, or BYBIT_API_KEY and "
        "BYBIT_API_SECRET (BYBIT_API_PRIVATE_KEY_FILE for an RSA key) in the environment"
    )
