"""Profiles: named credentials bound to a network (and maybe a host), secrets in the OS keyring.

A profile is a name (``testnet``, ``main``, ``sub-1``), the network it is for
(``testnet`` or ``mainnet``), optionally the one host it may be used against,
the API key, and where its secret is: the OS keyring (service ``loan_widgets``,
user name = the profile's name) or, for a self-generated RSA key, the path of
its PEM file. One profile per network is its default: the first one added, or
the one added with ``default=True``.

Profiles live in ``profiles.json`` in the user's config directory
(``platformdirs.user_config_dir("loan_widgets")``; ``$LOAN_WIDGETS_CONFIG_DIR``
overrides it), written atomically, private to the user (folder 0700, file
0600), and never holding a secret. A profiles file other users may write is
refused: whoever can edit it chooses where keys are sent.

**Bindings.** A profile is used for its own network only. A testnet profile
is never used against a mainnet host, and a mainnet profile only against one;
a profile bound to a host only against that host. Each is a one-line
:class:`~loan_widgets.errors.CredentialsError` before anything is sent.

The secrets go to the OS keyring through :mod:`loan_widgets.keystore`. Setting
profiles up (prompting, checking keys against the exchange) is in
:mod:`loan_widgets.keys`.
"""

from __future__ import annotations

import json
import os
import re
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from . import keystore
from .config import check_base_url, host_network, origin
from .errors import ConfigurationError, CredentialsError

__all__ = [
    "CONFIG_DIR_ENV",
    "NETWORKS",
    "Profile",
    "check_binding",
    "check_host",
    "config_file",
    "delete",
    "get",
    "is_mainnet_host",
    "load",
    "normalize_host",
    "put",
    "read_secret",
    "select",
]

NETWORKS = ("testnet", "mainnet")
CONFIG_DIR_ENV = "LOAN_WIDGETS_CONFIG_DIR"
FILE_NAME = "profiles.json"
MAX_FILE_BYTES = 1 << 20
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")



@dataclass(frozen=True)
class Profile:
    """A named API key bound to a network (and maybe a host); its secret is kept elsewhere.

    ``repr`` leaves the API key out; :func:`loan_widgets.credentials.mask` shows it masked.
    """

    name: str
    network: str
    api_key: str = field(repr=False)
    host: str | None = None
    private_key_file: str | None = None
    default: bool = False

    def __post_init__(self) -> None:
        check_name(self.name)
        if self.network not in NETWORKS:
            raise CredentialsError(
                f"a profile's network is testnet or mainnet, not {str(self.network)[:20]!r}"
            )
        if self.host is not None:
            object.__setattr__(self, "host", normalize_host(self.host))

    @property
    def secret_location(self) -> str:
        """Where the secret is: the OS keyring entry, or the RSA key file."""
        if self.private_key_file:
            return f"RSA key file {self.private_key_file}"
        return f"OS keyring (service {keystore.SERVICE!r}, user {self.name!r})"

    def to_json(self) -> dict[str, Any]:
        """The profile as stored: no secret, only where it is."""
        return {
            "network": self.network,
            "host": self.host,
            "api_key": self.api_key,
            "secret": "file" if self.private_key_file else "keyring",
            "private_key_file": self.private_key_file,
            "default": self.default,
        }


def check_name(name: object) -> str:
    """A profile name: letters, digits, ``.``, ``_`` and ``-``, at most 64, no leading sign."""
    if not isinstance(name, str) or not _NAME.match(name):
        shown = name[:20] if isinstance(name, str) else type(name).__name__
        raise CredentialsError(
            f"profile name {shown!r} is not valid: use letters, digits, '.', '_' and '-' "
            "(at most 64, starting with a letter or digit)"
        )
    return name


def normalize_host(url: str) -> str:
    """``scheme://host[:port]`` of a base URL, lowercase, default port dropped.

    The base-URL rules of :func:`loan_widgets.config.check_base_url` apply (no user
    info, query or fragment; plain ``http://`` only to loopback), and a path is refused.
    """
    try:
        checked = check_base_url(str(url).strip())
    except ConfigurationError as error:
        raise CredentialsError(f"a profile's host: {error}") from None
    if urlsplit(checked).path not in ("", "/"):
        raise CredentialsError("a profile's host is scheme://host[:port], with no path or query")
    return origin(checked)


def _host_name(url: str) -> str:
    """The host name of ``url`` only (never user info), for messages and classification."""
    try:
        return (urlsplit(str(url)).hostname or str(url)).rstrip(".").lower()
    except ValueError:
        return "that host"


def is_mainnet_host(url: str) -> bool:
    """True when ``url`` (a base URL or a bare host name) is a Bybit mainnet host."""
    text = str(url)
    return host_network(_host_name(text) if "://" in text else text) == "mainnet"


# --------------------------------------------------------------------------- bindings


def check_host(bound: str, host: str | None, what: str) -> None:
    """Refuse keys bound to ``bound`` (testnet/mainnet) against a host of the other network."""
    if host is None or bound not in NETWORKS:
        return
    mainnet = is_mainnet_host(host)
    if bound == "testnet" and mainnet:
        raise CredentialsError(
            f"{what} holds testnet keys and {_host_name(host)} is a Bybit mainnet host: "
            "testnet keys are never sent there"
        )
    if bound == "mainnet" and not mainnet:
        raise CredentialsError(
            f"{what} holds mainnet keys and {_host_name(host)} is not a Bybit mainnet host: "
            "mainnet keys are sent to mainnet hosts only"
        )


def check_binding(profile: Profile, network: str, host: str | None) -> None:
    """Refuse ``profile`` for another network, another host, or a host of the other network."""
    what = f"profile {profile.name!r}"
    if profile.network != network:
        raise CredentialsError(
            f"{what} is for {profile.network}, not {network}: choose a {network} profile or "
            f"use {what} with network {profile.network}"
        )
    if profile.host is not None and host is not None and profile.host != _plain(host):
        raise CredentialsError(
            f"{what} is bound to {profile.host}, not {_host_name(host)}: it is used there only"
        )
    check_host(profile.network, host, what)


def _plain(host: str) -> str:
    """``host`` normalised for comparison, or a marker that never equals a profile's host."""
    try:
        return normalize_host(host)
    except CredentialsError:
        return "(not a usable host)"


# --------------------------------------------------------------------------- the file


def config_file(environ: Mapping[str, str] | None = None) -> Path:
    """``profiles.json`` in ``$LOAN_WIDGETS_CONFIG_DIR`` or the user's config directory."""
    env = os.environ if environ is None else environ
    folder = env.get(CONFIG_DIR_ENV, "").strip()
    if not folder:
        import platformdirs

        folder = platformdirs.user_config_dir("loan_widgets", appauthor=False)
    return Path(folder).expanduser() / FILE_NAME


def load(environ: Mapping[str, str] | None = None) -> dict[str, Profile]:
    """Every stored profile by name (none when there is no profiles file)."""
    path = config_file(environ)
    try:
        info = path.stat()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise CredentialsError(f"cannot read the profiles file {path} ({exc.strerror})") from None
    if os.name == "posix" and info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise CredentialsError(
            f"the profiles file {path} is writable by other users, who could redirect your "
            f"keys: run chmod 600 {path}"
        )
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
        data = json.loads(raw) if len(raw) <= MAX_FILE_BYTES else None
        stored = data["profiles"] if isinstance(data, dict) and data.get("version") == 1 else None
        if not isinstance(stored, dict):
            raise ValueError("not a version 1 profiles file")
        return {name: _from_json(name, item) for name, item in stored.items()}
    except (OSError, ValueError, TypeError, KeyError, CredentialsError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else type(exc).__name__
        raise CredentialsError(
            f"the profiles file {path} cannot be used ({reason}): fix it, or remove it and add "
            "the profiles again"
        ) from None


def _from_json(name: str, item: Mapping[str, Any]) -> Profile:
    if not isinstance(item.get("api_key"), str) or item.get("secret") not in ("keyring", "file"):
        raise ValueError(f"profile {name!r} is incomplete")
    key_file = item.get("private_key_file") if item["secret"] == "file" else None
    if item["secret"] == "file" and not isinstance(key_file, str):
        raise ValueError(f"profile {name!r} has no key file")
    return Profile(name, item.get("network", ""), item["api_key"], item.get("host"),
                   key_file, bool(item.get("default")))


def _save(profiles: Mapping[str, Profile], environ: Mapping[str, str] | None) -> Path:
    """Write every profile atomically: folder 0700, file 0600 (a temporary file, then rename)."""
    path = config_file(environ)
    folder = path.parent
    created = not folder.exists()
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    if created:
        folder.chmod(0o700)
    text = json.dumps(
        {"version": 1, "profiles": {n: p.to_json() for n, p in sorted(profiles.items())}},
        indent=2,
    )
    fd, temporary = tempfile.mkstemp(prefix=".profiles-", suffix=".json", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:  # mkstemp makes it 0600
            handle.write(text + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def get(name: str, environ: Mapping[str, str] | None = None) -> Profile:
    """The profile called ``name``, or a one-line error listing the profiles there are."""
    return _named(name, load(environ))


def _named(name: str, stored: Mapping[str, Profile]) -> Profile:
    check_name(name)
    if name not in stored:
        known = ", ".join(sorted(stored)) or "none yet"
        raise CredentialsError(
            f"no credentials profile named {name!r} (profiles: {known}); add it with "
            f"%loan_keys add {name} --network testnet|mainnet"
        )
    return stored[name]


def select(
    network: str, *, host: str | None = None, environ: Mapping[str, str] | None = None
) -> Profile | None:
    """The profile to use for ``network`` at ``host`` when none is named, or ``None``.

    Among the network's profiles that may be used at ``host``: its default, else
    the only one. Several and no default, or profiles that are all bound to other
    hosts, is a one-line error that names them.
    """
    mine = [p for p in load(environ).values() if p.network == network]
    if not mine:
        return None
    fitting = [p for p in mine if p.host is None or host is None or p.host == _plain(host)]
    chosen = next((p for p in fitting if p.default), None)
    if chosen is None and len(fitting) == 1:
        chosen = fitting[0]
    if chosen is None:
        names = ", ".join(sorted(p.name for p in (fitting or mine)))
        if not fitting:
            raise CredentialsError(
                f"no {network} profile may be used at {_host_name(str(host))} (bound to other "
                f"hosts: {names}): choose one with --profile or add one for this host"
            )
        raise CredentialsError(
            f"several {network} profiles fit ({names}) and none is the default: choose one with "
            f"--profile NAME (LoanClient(profile=...)) or make one the default (%loan_keys add "
            f"NAME --network {network} --default)"
        )
    check_host(chosen.network, host, f"profile {chosen.name!r}")
    return chosen


def put(
    profile: Profile, secret: str | None, environ: Mapping[str, str] | None = None
) -> tuple[Profile, bool]:
    """Store ``profile`` (its HMAC ``secret`` in the keyring); the stored profile, and whether
    it replaced one of the same name.

    The first profile of a network becomes its default; ``profile.default``
    moves the default to it. The secret is written first: if the profiles
    file cannot be written afterwards, a secret stored for a new profile is
    taken out of the keyring again.
    """
    stored = load(environ)
    old = stored.get(profile.name)
    if secret is not None:
        keystore.store(profile.name, secret)
    elif old is not None and not old.private_key_file:
        keystore.delete(profile.name)  # it now points at a key file
    others = [p for p in stored.values() if p.network == profile.network and p.name != profile.name]
    if not profile.default and not any(p.default for p in others):
        profile = replace(profile, default=True)
    if profile.default:
        stored.update({p.name: replace(p, default=False) for p in others if p.default})
    stored[profile.name] = profile
    try:
        _save(stored, environ)
    except OSError as exc:
        if secret is not None and old is None:
            keystore.delete(profile.name)
        raise CredentialsError(
            f"cannot write the profiles file {config_file(environ)} ({exc.strerror}): "
            "nothing was stored"
        ) from None
    return profile, old is not None


def delete(name: str, environ: Mapping[str, str] | None = None) -> Profile:
    """Remove profile ``name`` and its keyring secret; the removed profile.

    If it was its network's default and one profile of that network is left,
    that one becomes the default.
    """
    stored = load(environ)
    gone = _named(name, stored)
    if not gone.private_key_file:
        keystore.delete(name)
    del stored[name]
    left = [p for p in stored.values() if p.network == gone.network]
    if gone.default and len(left) == 1:
        stored[left[0].name] = replace(left[0], default=True)
    try:
        _save(stored, environ)
    except OSError as exc:
        raise CredentialsError(
            f"cannot write the profiles file {config_file(environ)} ({exc.strerror})"
        ) from None
    return gone


def read_secret(profile: Profile) -> str:
    """The secret of ``profile`` from the OS keyring."""
    secret = keystore.read(profile.name)
    if secret is None:
        raise CredentialsError(
            f"the secret of profile {profile.name!r} is not in the OS keyring "
            f"({keystore.backend()}): add it again with %loan_keys add {profile.name} "
            f"--network {profile.network}"
        )
    return secret
