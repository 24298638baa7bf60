"""Setting up credentials: add, list and remove profiles (Python, ``%loan_keys``, command line).

::

    from loan_widgets import keys
    keys.add("testnet", network="testnet")   # asks for the key and secret, checks, stores
    keys.list_profiles()                      # masked keys, where each secret is
    keys.remove("testnet")

``add`` asks for the API key and secret with a password prompt (``getpass``:
nothing is echoed, and Jupyter front ends never save the answer in the
notebook), checks them with a signed read (the account's borrow limits for
USDT against BTC) at the host the profile will be used with, and only then
stores the secret in the OS keyring and the profile in the profiles file (see
:mod:`loan_widgets.profiles`). A refused key stores nothing.

``%loan_keys`` (:mod:`loan_widgets.magic.keys`) and ``python -m loan_widgets keys``
share :func:`build_parser`'s grammar.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import keystore, profiles
from .client import LoanClient
from .credentials import Credentials, check_key_path, check_text, mask, read_key_file
from .errors import CredentialsError, ExchangeError, LoanWidgetsError
from .profiles import Profile

__all__ = ["Added", "ProfileList", "add", "build_parser", "list_profiles", "remove"]

CHECK_PAIR = ("USDT", "BTC")
"""The coin pair whose borrow limits are read to check a key (a signed GET on every host)."""


_REFUSALS = {
    10003: "the key is not known to this host: testnet and mainnet keys are separate",
    10004: "the secret does not belong to this key",
}


def _ask(prompt: str) -> str:
    import getpass  # looked up at call time: ipykernel swaps in its own masked prompt

    return getpass.getpass(prompt)


@dataclass(frozen=True)
class Added:
    """What :func:`add` stored, where, and where the key was checked."""

    profile: Profile
    replaced: bool
    checked_at: str | None
    config_file: Path
    keyring: str | None

    def __str__(self) -> str:
        p = self.profile
        verb = "Replaced" if self.replaced else "Stored"
        where = p.secret_location if p.private_key_file else f"the OS keyring [{self.keyring}]"
        text = (
            f"{verb} profile {p.name!r} for {p.network} (key {mask(p.api_key)}"
            f"{', the default' if p.default else ''}{', bound to ' + p.host if p.host else ''}): "
            f"secret in {where}, profile in {self.config_file}"
        )
        if self.checked_at:
            return text + f"; the exchange at {self.checked_at} accepted the key."
        return text + "; the key was not checked."

    __repr__ = __str__


class ProfileList(tuple[Profile, ...]):
    """Stored profiles with masked keys; ``repr`` is a small table."""

    def __repr__(self) -> str:
        if not self:
            return "No credentials profiles yet: %loan_keys add NAME --network testnet|mainnet"
        rows = [("profile", "network", "key", "host", "secret")]
        rows += [
            (
                p.name + (" (default)" if p.default else ""),
                p.network,
                mask(p.api_key),
                p.host or "the network's host",
                p.secret_location,
            )
            for p in self
        ]
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        return "\n".join(
            "  ".join(cell.ljust(w) for cell, w in zip(r[:4], widths, strict=True)) + "  " + r[4]
            for r in rows
        )

    __str__ = __repr__

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))


def add(
    name: str,
    *,
    network: str,
    host: str | None = None,
    api_key: str | None = None,
    api_secret: str | None = None,
    private_key_file: str | Path | None = None,
    default: bool = False,
    check: bool = True,
    check_at: str | None = None,
    prompt: Callable[[str], str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Added:
    """Check and store a profile: its secret in the OS keyring, the rest in the profiles file.

    Args:
        name: the profile's name (letters, digits, ``.``, ``_``, ``-``).
        network: ``testnet`` or ``mainnet``: the only network it is used for.
        host: bind it to this host too (e.g. a regional mainnet host).
        api_key, api_secret: asked for with ``prompt`` when not given (a secret
            is not asked for with ``private_key_file``).
        private_key_file: a self-generated RSA key's PEM file; its path is stored.
        default: make it its network's default (the first one of a network is).
        check: read the account's borrow limits with the key first, at ``host``,
            else at ``check_at``, else at the network's host
            (``$LOAN_WIDGETS_BASE_URL`` included); a refusal stores nothing.
        prompt: asks for a value without echoing it (default ``getpass.getpass``).
    """
    ask = prompt or _ask
    profiles.check_name(name)
    if network not in profiles.NETWORKS:
        raise CredentialsError(f"a profile's network is testnet or mainnet, not {network[:20]!r}")
    host = profiles.normalize_host(host) if host else None
    prompted = api_key is None or (api_secret is None and private_key_file is None)
    key_path, pem = None, b""
    if private_key_file is not None:  # read before anything is asked for
        if api_secret is not None:
            raise CredentialsError("give an API secret or an RSA key file, not both")
        key_path = check_key_path(private_key_file, "the private key file given").resolve()
        pem = read_key_file(key_path, f"the key file {key_path}")
    if api_key is None:
        api_key = ask(f"API key for profile {name!r} ({network}): ")
    source = "the prompt" if prompted else "arguments"
    if key_path is not None:
        credentials = Credentials(api_key, private_key=pem, source=source, profile=name)
    else:
        api_key = check_text(api_key, "API key", source)  # before asking for the secret
        if api_secret is None:
            api_secret = ask(f"API secret for key {mask(api_key)}: ")
        api_secret = check_text(api_secret, "API secret", source)
        credentials = Credentials(api_key, api_secret, source=source, profile=name)
    profile = Profile(name, network, credentials.api_key, host,
                      str(key_path) if key_path else None, default)
    checked_at = _check(profile, credentials, check_at) if check else None
    secret = None if key_path else api_secret
    stored, replaced = profiles.put(profile, secret, environ)
    backend = None if key_path else keystore.backend()
    return Added(stored, replaced, checked_at, profiles.config_file(environ), backend)


def _check(profile: Profile, credentials: Credentials, check_at: str | None) -> str:
    """A signed read with ``credentials`` where ``profile`` will be used; the host checked."""
    with LoanClient(
        network=profile.network, base_url=profile.host or check_at, credentials=credentials
    ) as client:
        url = client.base_url
        profiles.check_binding(profile, profile.network, url)
        try:
            client.borrow_limits(*CHECK_PAIR)
        except ExchangeError as error:
            why = _REFUSALS.get(error.ret_code, error.hint)
            raise CredentialsError(
                f"{url} refused the key for profile {profile.name!r} (retCode {error.ret_code}: "
                f"{error.ret_msg}{' - ' + why if why else ''}): nothing was stored"
            ) from None
        except LoanWidgetsError as error:
            raise CredentialsError(
                f"could not check the key for profile {profile.name!r} at {url} "
                f"({error.message}): nothing was stored; check the host, or store it unchecked "
                "(--no-check, check=False)"
            ) from None
    return url


def list_profiles(environ: Mapping[str, str] | None = None) -> ProfileList:
    """Every stored profile, sorted by network then name (no keyring access)."""
    stored = profiles.load(environ).values()
    return ProfileList(sorted(stored, key=lambda p: (p.network, p.name)))


def remove(name: str, environ: Mapping[str, str] | None = None) -> Profile:
    """Remove profile ``name``: its secret from the OS keyring, its entry from the file."""
    return profiles.delete(name, environ)


def build_parser(
    prog: str, *, cls: type[argparse.ArgumentParser] = argparse.ArgumentParser, cli: bool = True
) -> argparse.ArgumentParser:
    """The ``add | list | remove`` grammar shared by ``%loan_keys`` and the command line."""
    parser = cls(prog=prog, description="Credentials profiles: API keys by network, secrets "
                 "in the OS keyring.", add_help=cli)
    actions = parser.add_subparsers(dest="action", metavar="add|list|remove")
    new = actions.add_parser("add", help="check and store a profile (asks for key and secret)",
                             add_help=cli)
    new.add_argument("name", metavar="NAME", help="the profile's name, e.g. testnet, main, sub-1")
    new.add_argument("--network", "-n", required=True, choices=profiles.NETWORKS,
                     help="the only network the profile is used for")
    new.add_argument("--host", metavar="URL", help="bind the profile to this host as well")
    new.add_argument("--private-key-file", metavar="FILE",
                     help="a self-generated RSA key's PEM file (its path is stored, not the key)")
    new.add_argument("--default", action="store_true", help="make it the network's default")
    new.add_argument("--no-check", action="store_true",
                     help="store without the signed read that checks the key")
    if cli:
        new.add_argument("--stdin", action="store_true",
                         help="read the API key, then the secret, one per line from stdin")
    actions.add_parser("list", help="the stored profiles, keys masked", add_help=cli)
    gone = actions.add_parser("remove", help="remove a profile and its keyring secret",
                              add_help=cli)
    gone.add_argument("name", metavar="NAME")
    return parser
