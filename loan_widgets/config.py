"""Settings (network, host, recv_window, timeout) and the rules that make them safe.

Settings come from arguments first, then the environment:

``LOAN_WIDGETS_NETWORK``   sandbox (default), testnet or mainnet
``LOAN_WIDGETS_BASE_URL``  another host for that network (regional host, a sandbox elsewhere)
``LOAN_WIDGETS_TIMEOUT``   seconds to wait for an answer (default 10)
``LOAN_WIDGETS_LEDGER``    the ledger file (see :mod:`loan_widgets.ledger`)

**One exchange, two hosts.** ``api.bytick.com`` reaches the same accounts as
``api.bybit.com`` (:func:`same_exchange`): the ledger records the host an order
was sent to, and the duplicate guard and reconciliation treat both as one.

**Mainnet is a host, not a name.** Every Bybit mainnet host (the main one,
the alternate ``api.bytick.com``, the regional hosts and the retired Turkish
and Hong Kong ones; see :data:`BYBIT_DOMAINS`) is mainnet whatever the
network is called. A network name that contradicts its host is refused
before anything is sent; with no network named, the host decides it.
``http://`` is refused for every host that is not loopback, and a base URL
with user info, a query, a fragment, a bad port or whitespace is refused in
one line that never shows the user info.

These are the one home of the checks: the magic's traitlets validators and
the client delegate here. Credentials are not settings: see
:mod:`loan_widgets.credentials`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import urlsplit

from .errors import ConfigurationError

__all__ = [
    "APIS",
    "BYBIT_DOMAINS",
    "DEFAULT_RECV_WINDOW",
    "DEFAULT_TIMEOUT",
    "NETWORKS",
    "Settings",
    "check_api",
    "check_base_url",
    "check_network",
    "check_recv_window",
    "check_timeout",
    "host_network",
    "is_loopback",
    "origin",
    "same_exchange",
]

NETWORKS: dict[str, str | None] = {
    "sandbox": None,  # a local exchange started on loopback on first use
    "testnet": "https://api-testnet.bybit.com",
    "mainnet": "https://api.bybit.com",
}
DEFAULT_RECV_WINDOW = 5000
DEFAULT_TIMEOUT = 10.0
APIS = ("legacy", "new")

BYBIT_DOMAINS = (
    "bybit.com",  # api.bybit.com (main), api-testnet / api-demo (not mainnet)
    "bytick.com",  # api.bytick.com, the alternate mainnet host
    "bybit.nl",  # Netherlands
    "bybit.tr",  # Turkey (since 2026-03-31)
    "bybit-tr.com",  # Turkey, the old host
    "bybit.kz",  # Kazakhstan
    "bybitgeorgia.ge",  # Georgia
    "bybit.ae",  # UAE
    "bybit.eu",  # EEA
    "bybit.id",  # Indonesia
    "manepa.jp",  # Japan: api.manepa.jp (mainnet), api-testnet.manepa.jp
    "moneypartners.co.jp",  # Japan, the old hosts
    "byhkbit.com",  # Hong Kong, removed from the guide in 2025-07
)
"""Registrable domains of Bybit's API hosts (API reference, section 1). A host in one
of them is mainnet unless its first label names testnet or demo."""

ONE_EXCHANGE: tuple[tuple[str, ...], ...] = (
    ("https://api.bybit.com", "https://api.bytick.com"),
)
"""Origins that reach the same exchange and accounts (the API reference lists
``api.bytick.com`` as the alternate of ``api.bybit.com``): an order sent to one is
the same order when repeated through the other."""


def same_exchange(host: str | None) -> tuple[str | None, ...]:
    """``host`` and the origins that reach the same exchange accounts (itself first)."""
    for group in ONE_EXCHANGE:
        if host in group:
            return (host, *(h for h in group if h != host))
    return (host,)


_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP literals (127.0.0.0/8, ::1)."""
    name = host.lower().rstrip(".").strip("[]")
    if name in _LOOPBACK_NAMES:
        return True
    import ipaddress  # only when a base URL is checked

    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def host_network(host: str) -> str | None:
    """``mainnet`` or ``testnet`` for a Bybit host, ``None`` for any other host.

    Case and a trailing dot do not matter; every host under a Bybit domain is
    mainnet unless its first label contains ``testnet`` or ``demo``.
    """
    name = host.lower().rstrip(".")
    for domain in BYBIT_DOMAINS:
        if name == domain or name.endswith("." + domain):
            first = name.split(".", 1)[0]
            return "testnet" if ("testnet" in first or "demo" in first) else "mainnet"
    return None


def origin(base_url: str) -> str:
    """``scheme://host[:port]`` of a checked base URL, lower-case, default port dropped."""
    parts = urlsplit(base_url)
    host = (parts.hostname or "").rstrip(".")
    if ":" in host:
        host = f"[{host}]"
    default = 443 if parts.scheme == "https" else 80
    port = f":{parts.port}" if parts.port not in (None, default) else ""
    return f"{parts.scheme}://{host}{port}"


def _shown_url(text: str) -> str:
    """A base URL as it may be displayed: user info replaced, one short line.

    Everything before the last ``@`` goes, wherever it is: a password holding ``/``,
    ``?`` or ``#`` ends the authority early for ``urlsplit``, yet it is still a password.
    """
    shown = text
    if "@" in text:
        scheme, sep, rest = text.partition("://")
        tail = (rest if sep else text).rsplit("@", 1)[1]
        shown = f"{scheme}://***@{tail}" if sep else f"***@{tail}"
    shown = shown.encode("unicode_escape").decode("ascii")
    return shown if len(shown) <= 80 else shown[:77] + "..."


def check_base_url(base_url: str) -> str:
    """A usable base URL without a trailing slash, or a one-line ``ConfigurationError``."""
    if not isinstance(base_url, str):
        raise ConfigurationError("the base URL must be text such as https://api.bybit.com")
    shown = _shown_url(base_url)
    if "@" in base_url:  # user info, however it is written (a base URL never needs an @)
        raise ConfigurationError(
            f"base URL {shown!r} carries user info: remove it (keys never go in the URL)"
        )
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in base_url):
        raise ConfigurationError(f"base URL {shown!r} contains whitespace or a control character")
    if not base_url.isascii():
        raise ConfigurationError(f"base URL {shown!r} must be ASCII (write IDN hosts as xn--)")
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https"):
        raise ConfigurationError(f"base URL {shown!r} must start with http:// or https://")
    if parts.query or parts.fragment or "?" in base_url or "#" in base_url:
        raise ConfigurationError(f"base URL {shown!r} must have no query or fragment")
    try:
        port = parts.port
    except ValueError:
        raise ConfigurationError(f"base URL {shown!r} has a bad port (1-65535)") from None
    if port == 0 or (parts.netloc.endswith(":") and port is None):
        raise ConfigurationError(f"base URL {shown!r} has a bad port (1-65535)")
    host = parts.hostname or ""
    if not host or host.startswith(".") or ".." in host:
        raise ConfigurationError(f"base URL {shown!r} has no usable host name")
    if parts.scheme == "http" and not is_loopback(host):
        raise ConfigurationError(
            f"base URL {shown!r} is plain http:// to a host that is not loopback: keys and "
            "signed orders would travel in clear text; use https://"
        )
    return base_url.rstrip("/")


def check_network(value: object) -> str:
    """``sandbox``, ``testnet`` or ``mainnet`` (any case), or a one-line error."""
    text = str(value).strip().lower()
    if text not in NETWORKS:
        shown = str(value).encode("unicode_escape").decode("ascii")[:40]
        raise ConfigurationError(f"unknown network {shown!r}: use one of {', '.join(NETWORKS)}")
    return text


def check_api(value: object) -> str:
    """``legacy`` or ``new``, or a one-line error."""
    text = str(value).strip().lower()
    if text not in APIS:
        shown = str(value).encode("unicode_escape").decode("ascii")[:40]
        raise ConfigurationError(f"api {shown!r} is not known: use legacy or new")
    return text


def check_recv_window(value: object) -> int:
    """A whole number of ms from 1 to 60000, or a one-line error."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 60_000:
        raise ConfigurationError("recv_window must be a whole number of ms from 1 to 60000")
    return value


def check_timeout(value: object) -> float:
    """Seconds above 0 and at most 600, or a one-line error."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 600:
        raise ConfigurationError("timeout must be between 0 and 600 seconds")
    return float(value)


@dataclass(frozen=True)
class Settings:
    """Where to send requests and how long to wait.

    ``network`` is what the host really is: a base URL on a Bybit mainnet host
    makes it ``mainnet`` (and a different network name is refused).
    """

    network: str = "sandbox"
    base_url: str | None = None
    recv_window: int = DEFAULT_RECV_WINDOW
    timeout: float = DEFAULT_TIMEOUT

    def __post_init__(self) -> None:
        check_network(self.network)
        if self.network != self.network.strip().lower():
            raise ConfigurationError(f"network {self.network!r} must be lower case")
        if self.base_url is not None:
            object.__setattr__(self, "base_url", check_base_url(self.base_url))
            actual = host_network(urlsplit(self.base_url).hostname or "")
            if actual is not None and actual != self.network:
                raise ConfigurationError(
                    f"network {self.network!r} contradicts its host "
                    f"{origin(self.base_url)}, a Bybit {actual} host: set the network to "
                    f"{actual} or use that network's host"
                )
        check_recv_window(self.recv_window)
        check_timeout(self.timeout)

    @property
    def is_mainnet(self) -> bool:
        """True when requests go to Bybit mainnet (named so, or a mainnet host)."""
        return self.network == "mainnet"

    @classmethod
    def resolve(
        cls,
        network: str | None = None,
        base_url: str | None = None,
        recv_window: int | None = None,
        timeout: float | None = None,
        environ: dict[str, str] | None = None,
    ) -> Settings:
        """Arguments first, then ``LOAN_WIDGETS_*`` variables, then defaults.

        With no network named anywhere, a base URL on a Bybit host decides it.
        """
        env = os.environ if environ is None else environ
        named = network or env.get("LOAN_WIDGETS_NETWORK") or None
        base_url = base_url or env.get("LOAN_WIDGETS_BASE_URL") or None
        if base_url is not None:
            base_url = check_base_url(base_url)
        if named is None:
            inferred = host_network(urlsplit(base_url).hostname or "") if base_url else None
            named = inferred or "sandbox"
        if timeout is None and env.get("LOAN_WIDGETS_TIMEOUT"):
            try:
                timeout = float(env["LOAN_WIDGETS_TIMEOUT"])
            except ValueError:
                given = env["LOAN_WIDGETS_TIMEOUT"].encode("unicode_escape").decode("ascii")
                raise ConfigurationError(
                    f"LOAN_WIDGETS_TIMEOUT={given[:40]!r} is not a number of seconds"
                ) from None
        return cls(
            network=check_network(named),
            base_url=base_url,
            recv_window=DEFAULT_RECV_WINDOW if recv_window is None else recv_window,
            timeout=DEFAULT_TIMEOUT if timeout is None else timeout,
        )
