"""The one shape of every test-side server: a threaded TCP server on a free loopback port.

``with Server(...) as server:`` serves from a daemon thread; leaving the block sets
``stopping`` (so handlers parked on it return), stops serving and closes the socket.
"""

from __future__ import annotations

import socketserver
import threading
from typing import Self

__all__ = ["LoopbackServer"]


class LoopbackServer(socketserver.ThreadingTCPServer):
    """A ``ThreadingTCPServer`` on ``127.0.0.1:0`` with a lock, a stop event and a serving
    thread."""

    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False

    def __init__(self, handler: type[socketserver.BaseRequestHandler]) -> None:
        super().__init__(("127.0.0.1", 0), handler)
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )

    @property
    def port(self) -> int:
        """The port the server listens on."""
        return int(self.server_address[1])

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stopping.set()
        self.shutdown()
        self.server_close()
