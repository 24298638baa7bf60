"""Proof that nothing is resolved or connected off this machine: Python audit hooks.

``with loopback_only() as seen:`` records every ``socket.getaddrinfo`` and
``socket.connect`` of this process in ``seen`` and blocks (raises) any whose
host is not loopback. The hook is installed once per process (audit hooks
cannot be removed) and does nothing outside the block.
"""

from __future__ import annotations

import ipaddress
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["loopback_only"]

_lock = threading.Lock()
_seen: list[list[tuple[str, str]]] = []
_installed = False


def _is_loopback(host: object) -> bool:
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if host is None:
        return True  # getaddrinfo(None, ...): the local wildcard, not a remote host
    text = str(host).lower().rstrip(".")
    if text in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(text.split("%")[0]).is_loopback
    except ValueError:
        return False


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if not _seen or event not in ("socket.getaddrinfo", "socket.connect"):
        return
    if event == "socket.getaddrinfo":
        host = args[0]
    else:
        address = args[1]
        host = address[0] if isinstance(address, tuple) else None
        if host is None:  # a Unix socket: not the network
            return
    with _lock:
        for seen in _seen:
            seen.append((event, str(host)))
    if not _is_loopback(host):
        raise ConnectionRefusedError(f"blocked by the test: {event} to {host!r} is not loopback")


@contextmanager
def loopback_only() -> Iterator[list[tuple[str, str]]]:
    """Record resolves and connects in the block; refuse any that is not loopback."""
    global _installed
    if not _installed:
        sys.addaudithook(_hook)
        _installed = True
    seen: list[tuple[str, str]] = []
    with _lock:
        _seen.append(seen)
    try:
        yield seen
    finally:
        with _lock:
            _seen.remove(seen)
