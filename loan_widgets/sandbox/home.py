"""One sandbox per user that remembers: a background process every kernel shares.

Every kernel and process of a user on the ``sandbox`` network talks to the same
exchange: the first to need it starts ``python -m loan_widgets.sandbox serve-user``
as a detached process; the others find it. Its state (balances, loans, ids, clock
offset, identity) lives on disk and survives kernel restarts and its own.

The folder is ``$LOAN_WIDGETS_SANDBOX_HOME`` or
``platformdirs.user_data_dir("loan_widgets")/sandbox`` (``0700``), holding:

``state.pickle``  the exchange (:mod:`loan_widgets.sandbox.state`), saved after each change
``server.json``   ``pid``, ``port``, ``base_url``, ``identity`` and the admin ``token`` (``0600``)
``lock``          taken (``flock``) while a process finds or starts the server, so two
                  kernels starting at once start one server
``server.lock``   held by the running server for its whole life: a second one exits
``server.log``    the server's output

The server binds 127.0.0.1 (the port it had before when free) and keeps the IP and
UID limits of Bybit. ``LOAN_WIDGETS_SANDBOX_IDLE=SECONDS`` makes it exit after that
long without a request (default: it runs until stopped). Its :attr:`identity` is
created with its state and kept until a reset, which starts a new history (new
identity, new ids), so that ledger rows made before a reset are never mistaken for
rows of the new exchange.

:func:`status`, :func:`reset` and :func:`stop` act on it from Python, like
``python -m loan_widgets.sandbox status|reset|stop``.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from .account import Sandbox
from .admin import ADMIN_PATH, AdminError, RemoteSandbox, answer
from .gateway import Reply
from .server import SandboxServer

__all__ = ["HOME_ENV", "IDLE_ENV", "UserSandbox", "home", "reset", "serve", "status", "stop"]

HOME_ENV = "LOAN_WIDGETS_SANDBOX_HOME"
IDLE_ENV = "LOAN_WIDGETS_SANDBOX_IDLE"
START_TIMEOUT = 30.0
_SPAWNED: list[subprocess.Popen[bytes]] = []  # kept so they are never garbage-collected


def home(folder: Path | None = None) -> Path:
    """The per-user sandbox folder (``folder`` if given), created ``0700``."""
    if folder is None:
        override = os.environ.get(HOME_ENV, "").strip()
        if override:
            folder = Path(override).expanduser()
        else:
            from platformdirs import user_data_dir

            folder = Path(user_data_dir("loan_widgets")) / "sandbox"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        folder.chmod(0o700)
    return folder


@contextlib.contextmanager
def _locked(path: Path, blocking: bool = True) -> Iterator[bool]:
    """An exclusive advisory lock on ``path``; yields False when not blocking and taken."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        got = _lock_fd(fd, blocking)
        yield got
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _lock_fd(fd: int, blocking: bool) -> bool:
    if sys.platform == "win32":  # pragma: no cover - Windows
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_LOCK if blocking else msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
    except BlockingIOError:
        return False
    return True


def _read_info(folder: Path) -> dict[str, Any] | None:
    try:
        info: dict[str, Any] = json.loads((folder / "server.json").read_text())
    except (OSError, ValueError):
        return None
    return info


def _write_info(folder: Path, info: Mapping[str, Any]) -> None:
    temp = folder / f".server.json.{os.getpid()}"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(dict(info), out)
    os.replace(temp, folder / "server.json")


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _answers(info: Mapping[str, Any]) -> bool:
    if not _pid_alive(int(info.get("pid", 0))):
        return False
    try:
        RemoteSandbox(info["base_url"], info["token"], timeout=3.0).call("status")
    except (AdminError, KeyError):
        return False
    return True


class UserSandbox:
    """The user's sandbox process: ``base_url``, ``identity`` and ``sandbox`` (its knobs)."""

    def __init__(self, folder: Path, info: Mapping[str, Any]) -> None:
        self.home = folder
        self._info = dict(info)
        self.sandbox = RemoteSandbox(self._info["base_url"], self._info["token"])
        """The knobs: ``set_price``, ``advance``, ``set_balance``, ``status()``, ``reset()``..."""

    @classmethod
    def connect(cls, folder: Path | None = None) -> UserSandbox:
        """Find the user's sandbox process, or start it (race-safe across processes)."""
        folder = home(folder)
        with _locked(folder / "lock"):
            info = _read_info(folder)
            if info is None or not _answers(info):
                info = _start(folder)
        return cls(folder, info)

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` of the exchange."""
        return str(self._info["base_url"])

    @property
    def port(self) -> int:
        """The TCP port it listens on."""
        return int(self._info["port"])

    @property
    def pid(self) -> int:
        """Its process id."""
        return int(self._info["pid"])

    @property
    def identity(self) -> str:
        """The exchange's stable identity (a new one only after a reset)."""
        info = _read_info(self.home)
        if info is not None and info.get("pid") == self.pid:
            self._info["identity"] = info.get("identity", self._info["identity"])
        return str(self._info["identity"])

    @property
    def running(self) -> bool:
        """True while its process lives."""
        return _pid_alive(self.pid)

    def alive(self) -> bool:
        """True while it lives and answers on the port this handle knows."""
        info = _read_info(self.home)
        return (info is not None and info.get("pid") == self.pid
                and info.get("port") == self.port and self.running)

    def stop(self) -> None:
        """Stop the process (its state stays on disk)."""
        stop(self.home)

    def __repr__(self) -> str:
        return f"<UserSandbox {self.base_url} identity={self.identity[:8]} pid={self.pid}>"


def _start(folder: Path) -> dict[str, Any]:
    """Start ``serve-user`` detached and wait until it answers (the caller holds ``lock``)."""
    env = {k: v for k, v in os.environ.items() if k != "LOAN_WIDGETS_SANDBOX_SEED"}
    env[HOME_ENV] = str(folder)
    log = os.fdopen(os.open(folder / "server.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND,
                            0o600), "ab")
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "loan_widgets.sandbox", "serve-user"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env, close_fds=True,
            start_new_session=True,
        )
    finally:
        log.close()
    _SPAWNED.append(proc)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        info = _read_info(folder)
        if info is not None and info.get("pid") == proc.pid and _answers(info):
            return info
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    tail = (folder / "server.log").read_text(errors="replace")[-2000:]
    raise AdminError(f"the sandbox process did not start (see {folder / 'server.log'}):\n{tail}")


def serve(folder: Path | None = None, idle: float | None = None) -> int:
    """Run the user's sandbox in this process until stopped (``serve-user``); exit status."""
    folder = home(folder)
    with _locked(folder / "server.lock", blocking=False) as mine:
        if not mine:
            print("another sandbox server already serves", folder, file=sys.stderr)
            return 1
        sandbox = Sandbox(seed=secrets.randbelow(1 << 31))
        state_file = folder / "state.pickle"
        try:
            sandbox.attach(state_file)
        except Exception as exc:  # a state this version cannot read: keep it aside
            aside = state_file.with_name(f"state.pickle.unreadable-{int(time.time())}")
            state_file.replace(aside)
            print(f"could not read {state_file} ({exc}); moved it to {aside}", file=sys.stderr)
            sandbox.attach(state_file)
        token = secrets.token_urlsafe(32)
        stopping = threading.Event()
        last_seen = [time.monotonic()]
        saved = _read_info(folder) or {}

        def admin(headers: Mapping[str, str], body: bytes, peer: str) -> Reply:
            reply = answer(sandbox, token, headers, body, peer, stopping.set)
            _publish(folder, server, token)  # the identity changes on a reset
            return reply

        server = _bind(sandbox, int(saved.get("port") or 0), (ADMIN_PATH, admin))
        original = sandbox.gateway.handle

        def handle(*args: Any, **kwargs: Any) -> Reply:
            last_seen[0] = time.monotonic()
            return original(*args, **kwargs)

        # this gateway's handler, wrapped to note activity (the class keeps its own)
        sandbox.gateway.handle = handle  # type: ignore[method-assign]
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stopping.set())
        _publish(folder, server, token)
        port = server.port
        print(f"BASE_URL={server.base_url}", flush=True)
        try:
            while not stopping.wait(0.5):
                if idle and time.monotonic() - last_seen[0] > idle:
                    break
        finally:
            server.stop()
            sandbox.persist()
            info = _read_info(folder)
            if info is not None and info.get("pid") == os.getpid():
                # no pid: not running; the port is tried first at the next start
                _write_info(folder, {"pid": 0, "port": port, "identity": sandbox.identity})
    return 0


def _bind(sandbox: Sandbox, port: int, admin: Any) -> SandboxServer:
    try:
        return SandboxServer(sandbox, port=port, admin=admin).start()
    except OSError:
        return SandboxServer(sandbox, port=0, admin=admin).start()


def _publish(folder: Path, server: SandboxServer, token: str) -> None:
    _write_info(folder, {"pid": os.getpid(), "port": server.port, "base_url": server.base_url,
                         "identity": server.sandbox.identity, "token": token})


def _running(folder: Path) -> dict[str, Any] | None:
    info = _read_info(folder)
    return info if info is not None and _answers(info) else None


def status(folder: Path | None = None) -> dict[str, Any]:
    """``{"running": bool, ...}``: the live status, or what the saved state says."""
    folder = home(folder)
    info = _running(folder)
    if info is not None:
        live = RemoteSandbox(info["base_url"], info["token"]).status()
        return {"running": True, "pid": info["pid"], "base_url": info["base_url"],
                "home": str(folder), **live}
    found: dict[str, Any] = {"running": False, "home": str(folder)}
    state_file = folder / "state.pickle"
    if state_file.exists():
        saved = Sandbox(credentials={})
        saved.load(state_file)
        found.update(saved.status())
    return found


def reset(folder: Path | None = None) -> None:
    """Forget the user's sandbox state (live if it runs, on disk if not)."""
    folder = home(folder)
    with _locked(folder / "lock"):
        info = _running(folder)
        if info is not None:
            RemoteSandbox(info["base_url"], info["token"]).reset()
        else:
            (folder / "state.pickle").unlink(missing_ok=True)


def stop(folder: Path | None = None, timeout: float = 10.0) -> bool:
    """Stop the user's sandbox process; True if one was running."""
    folder = home(folder)
    with _locked(folder / "lock"):
        info = _read_info(folder)
        if info is None or not info.get("pid") or not _pid_alive(int(info["pid"])):
            return False
        pid = int(info["pid"])
        try:
            RemoteSandbox(info["base_url"], info["token"], timeout=3.0).call("stop")
        except AdminError:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _pid_alive(pid) and time.monotonic() < deadline:
            _reap(pid)
            time.sleep(0.05)
        return True


def _reap(pid: int) -> None:
    """Collect our own exited child, so that it does not linger as a zombie."""
    for proc in list(_SPAWNED):
        if proc.pid == pid and proc.poll() is not None:
            _SPAWNED.remove(proc)
