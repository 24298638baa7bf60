"""Forward proxies on 127.0.0.1 for the proxy tests: a real one from PyPI and one of our own.

:class:`ProxyPy` runs ``proxy.py`` (the PyPI package, a test dependency) in a
subprocess: ephemeral port, optional ``--basic-auth``, its access log in a
file (one line per request it relayed, ``CONNECT host:port`` for tunnels).

:class:`ForwardProxy` is a small threaded forward proxy of the tests' own that
records what it sees (``seen``: method, target and headers of every request;
``tunnelled``: every byte the client sent into a CONNECT tunnel) and can
misbehave (``drop_methods``: read a request of those methods, then close
without an answer). Both only ever connect to loopback targets (anything else is refused
with 403), and stop with their context.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import select
import socket
import socketserver
import subprocess
import sys
import time
from base64 import b64encode
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from .loopback import LoopbackServer

__all__ = ["ForwardProxy", "ProxyPy", "Seen"]


def _loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class ProxyPy:
    """``python -m proxy`` (proxy.py) on 127.0.0.1, an ephemeral port, logging to a file."""

    def __init__(self, folder: Path, *, basic_auth: str | None = None) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.port_file = folder / "port"
        self.log_file = folder / "access.log"
        self.basic_auth = basic_auth
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (no credentials)."""
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ProxyPy:
        args = [sys.executable, "-m", "proxy", "--hostname", "127.0.0.1", "--port", "0",
                "--port-file", str(self.port_file), "--log-file", str(self.log_file),
                "--num-workers", "1", "--num-acceptors", "1", "--log-level", "INFO"]
        if self.basic_auth:
            args += ["--basic-auth", self.basic_auth]
        env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     env=env, cwd=self.folder)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            text = self.port_file.read_text().strip() if self.port_file.exists() else ""
            if text.isdigit() and self._listening(int(text)):
                self.port = int(text)
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.__exit__()
        raise RuntimeError("proxy.py did not start")

    @staticmethod
    def _listening(port: int) -> bool:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return True
        return False

    def log(self) -> list[str]:
        """Its access-log lines so far (one per request or tunnel it relayed)."""
        if not self.log_file.exists():
            return []
        return [line for line in self.log_file.read_text().splitlines()
                if "access_log" in line]

    def wait_for(self, pattern: str, count: int = 1, timeout: float = 20.0) -> list[str]:
        """The access-log lines matching ``pattern`` once there are ``count`` of them."""
        deadline = time.monotonic() + timeout
        while True:
            found = [line for line in self.log() if re.search(pattern, line)]
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.05)

    def __exit__(self, *exc_info: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
            if self.proc.stderr is not None:
                self.proc.stderr.close()


@dataclass(frozen=True)
class Seen:
    """One request a :class:`ForwardProxy` received: method, target, headers (lower-case)."""

    method: str
    target: str
    headers: dict[str, str]
    body: bytes


class _Handler(socketserver.StreamRequestHandler):
    server: ForwardProxy

    def handle(self) -> None:
        with self.server.lock:
            self.server.connections += 1
        upstream: dict[tuple[str, int], socket.socket] = {}
        try:
            while self._one(upstream):
                pass
        except OSError:
            pass
        finally:
            for sock in upstream.values():
                sock.close()

    def _one(self, upstream: dict[tuple[str, int], socket.socket]) -> bool:
        line = self.rfile.readline(65537)
        if not line:
            return False
        method, target, _ = line.decode("latin-1").split(" ", 2)
        headers: dict[str, str] = {}
        raw: list[bytes] = []
        while (header := self.rfile.readline(65537)) not in (b"\r\n", b"\n", b""):
            name, _, value = header.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
            raw.append(header)
        body = self.rfile.read(int(headers.get("content-length", "0")))
        srv = self.server
        with srv.lock:
            srv.seen.append(Seen(method, target, headers, body))
        if method in srv.drop_methods:
            return False
        if srv.credentials and headers.get("proxy-authorization") != srv.credentials:
            self.wfile.write(b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                             b"Proxy-Authenticate: Basic realm=\"tests\"\r\nContent-Length: 0"
                             b"\r\n\r\n")
            return method != "CONNECT"
        if method == "CONNECT":
            host, _, port = target.rpartition(":")
            if not _loopback(host):
                self.wfile.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                return False
            far = socket.create_connection((host.strip("[]"), int(port)), timeout=5)
            self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            self.wfile.flush()
            self._relay(far)
            return False
        parts = urlsplit(target)
        if parts.scheme != "http" or not _loopback(parts.hostname or ""):
            self.wfile.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            return True
        where = (parts.hostname or "", parts.port or 80)
        far = upstream.get(where)
        if far is None:
            far = upstream[where] = socket.create_connection(where, timeout=5)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        kept = [h for h in raw if not h.lower().startswith((b"proxy-", b"connection:"))]
        far.sendall(f"{method} {path} HTTP/1.1\r\n".encode("latin-1") + b"".join(kept)
                    + b"\r\n" + body)
        reader = far.makefile("rb")
        status = reader.readline(65537)
        answer = [status]
        length = 0
        while (header := reader.readline(65537)) not in (b"\r\n", b"\n", b""):
            answer.append(header)
            name, _, value = header.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        self.wfile.write(b"".join(answer) + b"\r\n" + reader.read(length))
        return True

    def _relay(self, far: socket.socket) -> None:
        near = self.connection
        srv = self.server
        try:
            while not srv.stopping.is_set():
                ready, _, _ = select.select([near, far], [], [], 0.05)
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    (far if sock is near else near).sendall(data)
                    if sock is near:
                        with srv.lock:
                            srv.tunnelled += data
        finally:
            far.close()


class ForwardProxy(LoopbackServer):
    """A forward proxy on 127.0.0.1 that records what it sees; see the module docstring.

    ``credentials`` (``"user:password"``) makes it answer 407 without them.
    """

    def __init__(self, *, credentials: str | None = None,
                 drop_methods: set[str] | frozenset[str] = frozenset()) -> None:
        super().__init__(_Handler)
        self.credentials = (
            "Basic " + b64encode(credentials.encode()).decode() if credentials else None
        )
        self.drop_methods = frozenset(drop_methods)
        self.seen: list[Seen] = []
        self.connections = 0
        """Client connections accepted so far."""
        self.tunnelled = bytearray()
