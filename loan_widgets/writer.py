"""Which process sent an order, and whether it is provably gone.

A ledger row records its writer as ``host name:pid:start time:boot id``. A
``pending`` row whose writer is gone can be reconciled at once; one whose
writer still runs is waited for (until its answer deadline). The start time
(Linux ``/proc/<pid>/stat``, in clock ticks since boot) and the boot id tell a
reused pid apart from the writer; where they cannot be read, only "no such
process on this host" counts as gone.
"""

from __future__ import annotations

import os

__all__ = ["alive", "token"]

_cached: tuple[int, str] | None = None


def _stat(pid: int) -> tuple[str, str]:
    """(state, start time in ticks) from ``/proc/<pid>/stat``, or ``("", "")``."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            text = stat.read().decode("ascii", "replace")
    except OSError:
        return "", ""
    fields = text[text.rfind(")") + 2 :].split()  # after "pid (comm) "
    if len(fields) <= 19:
        return "", ""
    return fields[0], fields[19]  # fields 3 and 22 of the whole line


def _start_ticks(pid: int) -> str:
    return _stat(pid)[1]


def _boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as boot:
            return boot.read().strip()
    except OSError:
        return ""


def _host() -> str:
    import socket  # loaded on the first write, not with the package

    return socket.gethostname().replace(":", "_") or "localhost"


def token() -> str:
    """This process's writer token (computed once per process)."""
    global _cached
    pid = os.getpid()
    if _cached is None or _cached[0] != pid:
        _cached = (pid, f"{_host()}:{pid}:{_start_ticks(pid)}:{_boot_id()}")
    return _cached[1]


def alive(writer: str | None) -> bool | None:
    """``False`` when the writer is provably gone, ``True`` when it runs, ``None`` if unknowable.

    Unknowable: no writer recorded, or another machine's process.
    """
    if not writer:
        return None
    parts = writer.split(":")
    if len(parts) != 4 or not parts[1].isdigit():
        return None
    host, pid_text, ticks, boot = parts
    if host != _host():
        return None
    if boot and _boot_id() and boot != _boot_id():
        return False  # the machine restarted since
    pid = int(pid_text)
    if pid == os.getpid():
        return ticks == _start_ticks(pid) or not ticks
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    except OSError:
        return None
    state, now = _stat(pid)
    if state == "Z":
        return False  # exited, not yet reaped
    return not (ticks and now and now != ticks)  # else the pid was reused by another process
