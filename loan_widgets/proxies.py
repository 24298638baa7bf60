"""Which proxy a request goes through: the standard proxy variables, as requests and curl read them.

:func:`proxy_for` answers, for one ``(scheme, host, port)``, the :class:`Proxy`
to go through or ``None`` for a direct connection. The transport asks once per
host and keeps the answer with that host's connections (a new client, or
``client.close()``, reads the variables again), so a call costs nothing extra.

The variables:

* ``https_proxy`` / ``HTTPS_PROXY`` for ``https://`` hosts, ``http_proxy`` /
  ``HTTP_PROXY`` for ``http://`` hosts, else ``all_proxy`` / ``ALL_PROXY``.
  The lower-case name wins over the upper-case one; an empty value unsets it.
  They are read by the standard library's ``urllib.request.getproxies_environment``
  (which also ignores ``HTTP_PROXY`` inside a CGI request, CVE-2016-1000110);
  that module is imported only when some ``*_proxy`` variable is set.
* The proxy URL is ``http://[user:password@]host[:port]`` (no scheme means
  ``http://``, no port means 80, as in requests). Credentials are
  percent-decoded and sent as ``Proxy-Authorization: Basic``, never shown: every
  message and ``repr`` shows the proxy as ``http://***:***@host:port``. Proxies
  spoken to over TLS (``https://``) or SOCKS are refused in one line: the
  standard library cannot tunnel TLS inside TLS, and this package has no SOCKS
  client.
* ``no_proxy`` / ``NO_PROXY``: comma- (or space-) separated entries, any of
  which sends the host directly (:func:`bypassed`):

  ``*``                    every host
  ``example.com``          that host and every name under it (``api.example.com``);
                           a leading ``.`` or ``*.`` means the same
  ``example.com:8443``     the same, on that port only
  ``127.0.0.1``, ``::1``   that IP address (``[::1]:8080`` with a port)
  ``10.0.0.0/8``           any IP address in that network (IPv4 or IPv6)

  Names are compared as text, never resolved: ``localhost`` does not cover
  ``127.0.0.1`` nor the other way round (as in curl).

**Loopback goes through the proxy too** unless ``NO_PROXY`` covers it, as
requests and curl do: a sandbox on ``127.0.0.1`` is reached directly only with
``NO_PROXY=127.0.0.1`` (or ``localhost``, ``127.0.0.0/8``...). The usual
company setting ``NO_PROXY=localhost,127.0.0.1`` does exactly that.

Hand-written here: the ``NO_PROXY`` match. The standard library's
``proxy_bypass_environment`` knows only host-name suffixes: it has no IP
networks (``10.0.0.0/8``), no bracketed IPv6 and only a lone ``*``, all of
which curl (7.86+) and requests accept. The proxy URL parsing is
``urllib.parse``'s.
"""

from __future__ import annotations

import base64
import ipaddress
import os
from collections.abc import Mapping
from urllib.parse import unquote, urlsplit

from .errors import ConfigurationError

__all__ = ["Proxy", "bypassed", "environment_proxies", "proxy_for"]


class Proxy:
    """An HTTP proxy: where it is, and the ``Proxy-Authorization`` it needs (never shown)."""

    __slots__ = ("_authorization", "host", "port", "shown", "variable")

    def __init__(
        self, host: str, port: int, authorization: str | None, variable: str
    ) -> None:
        self.host = host
        self.port = port
        self._authorization = authorization
        self.variable = variable
        """The variable it came from (``HTTPS_PROXY``...), for messages."""
        netloc = f"[{host}]" if ":" in host else host
        self.shown = f"http://{'***:***@' if authorization else ''}{netloc}:{port}"
        """The proxy as messages show it: credentials masked."""

    @property
    def headers(self) -> dict[str, str]:
        """``Proxy-Authorization``, when the proxy URL carries credentials."""
        return {"Proxy-Authorization": self._authorization} if self._authorization else {}

    def __repr__(self) -> str:
        return f"Proxy({self.shown!r}, from {self.variable})"


def environment_proxies() -> dict[str, str]:
    """``{'https': URL, 'http': URL, 'all': URL, 'no': LIST}`` from the environment.

    Empty when no ``*_proxy`` variable is set (then ``urllib.request`` is not
    even imported); else ``urllib.request.getproxies_environment()``.
    """
    if not any(name[-6:].lower() == "_proxy" for name in os.environ):
        return {}
    from urllib.request import getproxies_environment

    return getproxies_environment()


def proxy_for(
    scheme: str, host: str, port: int, proxies: Mapping[str, str] | None = None
) -> Proxy | None:
    """The proxy a request to ``scheme://host:port`` goes through, or ``None`` (direct).

    ``proxies`` is a mapping as :func:`environment_proxies` returns (default:
    the environment). A proxy URL that cannot be used is a one-line
    :class:`~loan_widgets.errors.ConfigurationError` naming its variable.
    """
    found = environment_proxies() if proxies is None else proxies
    for key in (scheme, "all"):
        url = (found.get(key) or "").strip()
        if url:
            break
    else:
        return None
    if bypassed(host, port, found.get("no") or ""):
        return None
    return _parse(url, f"{key.upper()}_PROXY")


def _parse(url: str, variable: str) -> Proxy:
    """A :class:`Proxy` from its URL, or a one-line error that never shows its credentials."""
    text = url if "://" in url else f"http://{url}"
    try:
        parts = urlsplit(text)
        host, port = parts.hostname, parts.port
    except ValueError:
        parts, host, port = None, None, None
    shown = _masked(text)
    user_info = text.partition("://")[2].rpartition("@")[0]
    if any(c in user_info for c in "/?#"):  # urlsplit would end the authority there
        raise ConfigurationError(
            f"{variable}={shown}: its user name or password holds '/', '?' or '#', which end "
            "the host part of a URL: percent-encode them (%2F, %3F, %23)"
        )
    if parts is None or not host:
        raise ConfigurationError(
            f"{variable}={shown} is not a proxy URL: use http://host:port "
            "(or http://user:password@host:port)"
        )
    if parts.scheme.lower() != "http":
        raise ConfigurationError(
            f"{variable}={shown}: only http:// proxies are supported (the request is tunnelled "
            "through them with CONNECT, TLS to the exchange end to end); use the proxy's "
            "http:// address"
        )
    authorization = None
    if parts.username is not None or parts.password is not None:
        pair = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}"
        authorization = "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")
    return Proxy(host, port or 80, authorization, variable)


def _masked(url: str) -> str:
    """``url`` with everything before its last ``@`` replaced by ``***:***@`` (a password
    may hold ``/``, ``?`` or ``#``, so the ``@`` is looked for everywhere); one line, bounded."""
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        rest = "***:***@" + rest.rpartition("@")[2]
    shown = f"{scheme}{sep}{rest}"
    return " ".join(shown.split())[:200]


def bypassed(host: str, port: int, no_proxy: str) -> bool:
    """True when an entry of ``no_proxy`` covers ``host`` (and ``port``); see the module doc."""
    name = host.lower().rstrip(".").strip("[]")
    address = _ip(name)
    for entry in no_proxy.replace(" ", ",").split(","):
        entry = entry.strip().lower()
        if not entry:
            continue
        if entry == "*":
            return True
        entry, entry_port = _split_port(entry)
        if entry_port is not None and entry_port != port:
            continue
        if "/" in entry:
            if address is not None and _in_network(address, entry):
                return True
            continue
        entry = entry.rstrip(".")
        if entry.startswith("*."):
            entry = entry[2:]
        entry = entry.lstrip(".")
        entry_ip = _ip(entry)
        if entry_ip is not None or address is not None:
            if entry_ip is not None and entry_ip == address:
                return True
            continue
        if name == entry or name.endswith("." + entry):
            return True
    return False


def _split_port(entry: str) -> tuple[str, int | None]:
    """``host:port``, ``[v6]:port`` or a bare entry (an IPv6 address has colons of its own)."""
    if entry.startswith("["):
        inside, _, rest = entry[1:].partition("]")
        if rest.startswith(":") and rest[1:].isdigit():
            return inside, int(rest[1:])
        return inside, None
    if entry.count(":") == 1:
        name, _, port = entry.partition(":")
        if port.isdigit():
            return name, int(port)
    return entry, None


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.split("%")[0])
    except ValueError:
        return None


def _in_network(address: ipaddress.IPv4Address | ipaddress.IPv6Address, entry: str) -> bool:
    try:
        return address in ipaddress.ip_network(entry, strict=False)
    except (ValueError, TypeError):
        return False
