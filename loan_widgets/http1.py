"""HTTP/1.1 framing on an open connection: a request out in one write, its answer in.

:func:`request_head` builds the request's head (checked: nothing that cannot be
sent as is goes out); the transport writes head and body with one
``sendall``. :func:`read_answer` reads the answer (status, headers, body by
``Content-Length``, ``chunked`` or until close) within one deadline for the
whole answer, and says whether the connection may be kept.

Hand-written, on the sockets ``http.client`` opens (TCP, the proxy's CONNECT
tunnel, TLS), because ``http.client``'s request and answer objects were the
largest share of the client's CPU time per call on a loopback borrow (profiled
with cProfile, pyinstrument and per-phase CPU timers over 2,000 borrows against
the sandbox): ``putrequest`` and nine ``putheader`` calls 43 us, ``endheaders``
(two sends: head, then body, two segments and two wake-ups of the server) 33
us, ``getresponse`` with its ``email``-package header parser 90 us (with the
``recv``); here :func:`request_head` takes ~10 us, one ``sendall`` goes out and
:func:`read_answer` ~55 us (with the ``recv``). Side by side against pybit in
the same runs, the borrow round trip went from 0.50-0.61x pybit's time to
0.43-0.51x. Malformed answers raise ``http.client``'s own exceptions
(``BadStatusLine``, ``RemoteDisconnected``, ``IncompleteRead``,
``LineTooLong``), so the transport maps them as before.
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Mapping
from http.client import (
    BadStatusLine,
    HTTPException,
    IncompleteRead,
    LineTooLong,
    RemoteDisconnected,
)
from typing import NamedTuple

__all__ = ["Answer", "Unsendable", "read_answer", "request_head"]

MAX_HEAD = 64 * 1024
"""An answer's status line and headers together, at most (bytes)."""
MAX_HEADERS = 100
MAX_BODY = 64 * 1024 * 1024
"""An answer's body, at most (bytes): Bybit's largest pages are far below."""
RECV_SIZE = 65536

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_VALUE = re.compile(r"[\x20-\x7e\t]*")
_BAD_TARGET = re.compile(r"[^\x21-\x7e]")
_HEAD_END = re.compile(rb"\r?\n\r?\n")
_NO_BODY = frozenset((204, 304))


class Unsendable(ValueError):
    """A method, target or header that cannot be sent as is (nothing was sent)."""


class Answer(NamedTuple):
    """One answer: status, headers (lower-case names, the last of repeated ones), body."""

    status: int
    headers: dict[str, str]
    body: bytes
    keep_alive: bool


def request_head(
    method: str,
    target: str,
    host: str,
    headers: Mapping[str, str],
    body_length: int | None,
    *,
    first: Mapping[str, str] | None = None,
) -> bytes:
    """The request line and headers, ending in the blank line: ASCII bytes.

    ``Host`` comes first, then ``first`` and ``headers`` in their order, then
    ``Content-Length`` when there is a body. A method that is not a token, a
    target with whitespace or a control or non-ASCII character, a header
    name that is not a token or a value that is not visible ASCII (spaces and
    tabs allowed) raises :class:`Unsendable` without saying the value.
    """
    if not _TOKEN.fullmatch(method) or _BAD_TARGET.search(target) or not target:
        raise Unsendable("the request line cannot be sent")
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}"]
    for given in (first, headers) if first else (headers,):
        for name, value in given.items():
            if not _TOKEN.fullmatch(name) or not _VALUE.fullmatch(value):
                raise Unsendable(f"the {name!r} header cannot be sent"[:80])
            lines.append(f"{name}: {value}")
    if body_length is not None:
        lines.append(f"Content-Length: {body_length}")
    lines.append("\r\n")
    return "\r\n".join(lines).encode("ascii")


class _Reader:
    """Reads a socket into a buffer, each ``recv`` bounded by what is left of the deadline."""

    __slots__ = ("buffer", "deadline", "sock")

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.sock = sock
        self.deadline = deadline
        self.buffer = bytearray()

    def more(self) -> bool:
        """Read what the socket has (waiting up to the deadline); False at end of stream."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the answer's deadline passed")
        self.sock.settimeout(left)
        chunk = self.sock.recv(RECV_SIZE)
        if not chunk:
            return False
        self.buffer += chunk
        return True

    def take(self, size: int, *, partial: bytes = b"") -> bytes:
        """Exactly ``size`` bytes (``IncompleteRead`` if the stream ends first)."""
        while len(self.buffer) < size:
            if not self.more():
                got = bytes(self.buffer)
                raise IncompleteRead(partial + got, size - len(got))
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data

    def line(self, limit: int = MAX_HEAD) -> bytes:
        """One line without its line end (``IncompleteRead`` if the stream ends first)."""
        while (end := self.buffer.find(b"\n")) < 0:
            if len(self.buffer) > limit:
                raise LineTooLong("chunk line")
            if not self.more():
                raise IncompleteRead(bytes(self.buffer))
        data = bytes(self.buffer[:end]).rstrip(b"\r")
        del self.buffer[: end + 1]
        return data

    def head(self) -> bytes:
        """The status line and headers, up to and without the blank line."""
        while (found := _HEAD_END.search(self.buffer)) is None:
            if len(self.buffer) > MAX_HEAD:
                raise LineTooLong("answer head")
            if not self.more():
                if not self.buffer:
                    raise RemoteDisconnected("Remote end closed connection without response")
                if self.buffer.startswith(b"HTTP/"):
                    raise RemoteDisconnected("Remote end closed connection inside the headers")
                raise BadStatusLine(_shown(bytes(self.buffer)))
        if found.start() > MAX_HEAD:
            raise LineTooLong("answer head")
        data = bytes(self.buffer[: found.start()])
        del self.buffer[: found.end()]
        return data


def _shown(data: bytes) -> str:
    return repr(data[:60])


def read_answer(sock: socket.socket, deadline: float, method: str) -> Answer:
    """Read one answer from ``sock`` within ``deadline`` (``time.monotonic()``).

    ``TimeoutError`` when the deadline passes; ``http.client``'s exceptions
    for an answer that is not HTTP/1.x or ends early; ``OSError`` from the
    socket.
    """
    reader = _Reader(sock, deadline)
    while True:
        version, status, headers = _parse_head(reader.head())
        if not 100 <= status < 200:
            break  # 1xx answers are interim: the real one follows
    connection = headers.get("connection", "").lower()
    keep_alive = (
        "close" not in connection if version == "HTTP/1.1" else "keep-alive" in connection
    )
    coding = headers.get("transfer-encoding", "").lower()
    if method == "HEAD" or status in _NO_BODY:
        body = b""
    elif coding:
        if coding.rsplit(",", 1)[-1].strip() != "chunked":
            body, keep_alive = _until_close(reader), False
        else:
            body = _chunked(reader)
    elif "content-length" in headers:
        length = headers["content-length"].strip()
        if not length.isdigit() or int(length) > MAX_BODY:
            raise HTTPException(f"the answer's Content-Length is not usable ({length[:20]!r})")
        body = reader.take(int(length))
    else:
        body, keep_alive = _until_close(reader), False
    if reader.buffer:  # bytes past the answer: the connection is out of step
        keep_alive = False
    return Answer(status, headers, body, keep_alive)


def _parse_head(head: bytes) -> tuple[str, int, dict[str, str]]:
    text = head.decode("latin-1")  # one decode for the whole head, as http.client reads it
    status_line, _, rest = text.partition("\n")
    parts = status_line.rstrip("\r").split(None, 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not (
        len(parts[1]) == 3 and parts[1].isdigit() and parts[1].isascii()
    ):
        raise BadStatusLine(_shown(head.partition(b"\n")[0]))
    headers: dict[str, str] = {}
    name = ""
    lines = rest.split("\n") if rest else []
    if len(lines) > MAX_HEADERS:
        raise HTTPException(f"got more than {MAX_HEADERS} headers")
    for line in lines:
        if line and line[0] in " \t" and name:  # an obsolete folded line continues the last
            headers[name] = f"{headers[name]} {line.strip()}"
            continue
        key, sep, value = line.partition(":")
        if not sep:
            continue  # not a header: skipped, as http.client does
        name = key.strip().lower()
        headers[name] = value.strip()
    return parts[0], int(parts[1]), headers


_HEX = b"0123456789abcdefABCDEF"


def _chunked(reader: _Reader) -> bytes:
    body = bytearray()
    while True:
        size_line = reader.line(1024).split(b";", 1)[0].strip()
        if not 0 < len(size_line) <= 16 or size_line.strip(_HEX):  # no sign, 0x or _
            raise IncompleteRead(bytes(body))
        size = int(size_line, 16)
        if size == 0:
            while reader.line():  # trailer fields, up to the blank line
                pass
            return bytes(body)
        if len(body) + size > MAX_BODY:
            raise HTTPException("the answer's body is too large")
        body += reader.take(size, partial=bytes(body))
        reader.take(2)  # the CRLF that ends the chunk


def _until_close(reader: _Reader) -> bytes:
    while reader.more():
        if len(reader.buffer) > MAX_BODY:
            raise HTTPException("the answer's body is too large")
    body = bytes(reader.buffer)
    reader.buffer.clear()
    return body
