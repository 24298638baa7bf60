"""The OS keyring, through the ``keyring`` library: where profiles keep their secrets.

One entry per profile: service ``loan_widgets``, user name the profile's name.
``keyring`` picks the platform's store (macOS Keychain, Windows Credential
Locker, Secret Service on Linux); ``PYTHON_KEYRING_BACKEND`` chooses another
(on a machine without a desktop, for example ``keyrings.alt.file.PlaintextKeyring``,
which keeps secrets unencrypted in a file). ``keyring`` is imported only when a
secret is read or written, so ``import loan_widgets`` stays cheap.

Every backend failure (no keyring, a locked one, an unreachable D-Bus) is a
one-line :class:`~loan_widgets.errors.CredentialsError`; a message a backend
gives is shortened to one line, with the secret blanked out should it appear.
"""

from __future__ import annotations

from typing import Any

from .errors import CredentialsError

__all__ = ["SERVICE", "backend", "delete", "read", "store"]

SERVICE = "loan_widgets"

_NO_KEYRING = (
    "no usable OS keyring here ({reason}): on a machine without a desktop keyring choose a "
    "backend with PYTHON_KEYRING_BACKEND (see the keyring docs), or use the "
    "BYBIT_TESTNET_API_KEY/BYBIT_MAINNET_API_KEY environment variables"
)


def _keyring() -> Any:
    try:
        import keyring
        import keyring.errors
    except ImportError:  # pragma: no cover - a dependency, but a broken install says so
        raise CredentialsError(
            "the keyring package is not installed: pip install keyring, or use the "
            "BYBIT_TESTNET_API_KEY/... environment variables"
        ) from None
    return keyring


def backend() -> str:
    """The keyring backend in use, e.g. ``SecretService Keyring (keyring.backends...)``."""
    try:
        chosen = _keyring().get_keyring()
        return f"{getattr(chosen, 'name', '')} ({type(chosen).__module__})".strip()
    except Exception as exc:  # backends fail in their own ways; none may stop a listing
        return f"unavailable ({_brief(exc)})"


def _brief(exc: BaseException, secret: str | None = None) -> str:
    """An exception in one short line, with ``secret`` blanked out should a backend echo it."""
    lines = str(exc).strip().splitlines()
    text = f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
    if secret:
        text = text.replace(secret, "***")
    return text if len(text) <= 160 else text[:157] + "..."


def read(name: str) -> str | None:
    """The secret stored for profile ``name``, or ``None`` if there is none."""
    keyring = _keyring()
    try:
        secret: str | None = keyring.get_password(SERVICE, name)
        return secret
    except keyring.errors.NoKeyringError as exc:
        raise CredentialsError(_NO_KEYRING.format(reason=_brief(exc))) from None
    except Exception as exc:  # a locked or unreachable keyring: say so in one line
        raise CredentialsError(
            f"cannot read the secret of profile {name!r} from the OS keyring ({_brief(exc)})"
        ) from None


def store(name: str, secret: str) -> None:
    """Keep ``secret`` for profile ``name`` (replacing what was there)."""
    keyring = _keyring()
    try:
        keyring.set_password(SERVICE, name, secret)
    except keyring.errors.NoKeyringError as exc:
        raise CredentialsError(
            _NO_KEYRING.format(reason=_brief(exc, secret)) + "; nothing was stored"
        ) from None
    except Exception as exc:
        raise CredentialsError(
            f"cannot store the secret in the OS keyring ({_brief(exc, secret)}): nothing was "
            "stored"
        ) from None


def delete(name: str) -> None:
    """Forget the secret of profile ``name`` (nothing to do if there is none)."""
    keyring = _keyring()
    try:
        keyring.delete_password(SERVICE, name)
    except keyring.errors.PasswordDeleteError:
        pass  # already gone
    except Exception as exc:
        raise CredentialsError(
            f"cannot remove the secret of profile {name!r} from the OS keyring ({_brief(exc)})"
        ) from None
