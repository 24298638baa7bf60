"""Live refresh on the kernel's own event loop, with the blocking reads in one worker thread.

In a Jupyter kernel (ipykernel) cells run inside a running ``asyncio`` loop.
:meth:`Live.start` puts one task on it; the task sleeps until the next refresh
is due (or :meth:`Live.poke` wakes it), hands the blocking HTTP reads to a
single worker thread with ``loop.run_in_executor`` (the loop keeps serving
cells and widget messages meanwhile), and applies the result back on the loop's
thread, where widgets may be touched. One refresh runs at a time; the next is
scheduled only after the last one was applied.

It stops when :meth:`Live.stop` is called (the desk's ``close()``), when
``should_stop()`` says so (the kernel is shutting down), and at interpreter
exit. Without a running loop (a plain script) :meth:`Live.start` returns
``False`` and the desk refreshes only when asked.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import time
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

__all__ = ["Live"]

_RUNNING: weakref.WeakSet[Live] = weakref.WeakSet()
PAUSED_WAIT_S = 3600.0


@atexit.register
def _stop_all() -> None:
    for live in list(_RUNNING):
        live.stop()


class Live:
    """One desk's refresh task.

    Args:
        read: does the blocking reads (runs in the worker thread).
        apply: takes ``read``'s result or the exception it raised (runs on the
            loop's thread) and returns the seconds until the next refresh.
        should_stop: checked before each refresh; True ends the task.
    """

    def __init__(self, read: Callable[[], Any], apply: Callable[[Any], float],
                 should_stop: Callable[[], bool] = lambda: False) -> None:
        self._read = read
        self._apply = apply
        self._should_stop = should_stop
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._executor: ThreadPoolExecutor | None = None
        self.paused = False
        self.due_at: float | None = None
        """``time.monotonic()`` of the next refresh, when one is scheduled."""
        self.refreshes = 0

    @property
    def running(self) -> bool:
        """True while the task is alive."""
        return self._task is not None and not self._task.done()

    def start(self, first_delay: float) -> bool:
        """Schedule refreshes on the running loop; ``False`` when there is none."""
        if self.running:
            return True
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return False
        self._loop = loop
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="loan-desk-read")
        self._wake = asyncio.Event()
        self._task = loop.create_task(self._run(first_delay))
        _RUNNING.add(self)
        return True

    def poke(self) -> None:
        """Refresh as soon as possible (a refresh under way finishes first)."""
        if self._loop is not None and self._wake is not None and self.running:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                self._loop.call_soon_threadsafe(self._wake.set)

    def stop(self) -> None:
        """Cancel the task and let the worker thread go (a read under way is abandoned)."""
        _RUNNING.discard(self)
        task, self._task = self._task, None
        if task is not None and not task.done():
            with contextlib.suppress(RuntimeError):
                task.cancel()
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
        self.due_at = None

    async def _run(self, delay: float) -> None:
        assert self._wake is not None and self._loop is not None
        while True:
            self.due_at = time.monotonic() + delay
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=delay)
            self._wake.clear()
            if self._should_stop():
                self.stop()
                return
            if self.paused:
                delay = PAUSED_WAIT_S
                continue
            self.due_at = None
            executor = self._executor
            if executor is None:
                return
            try:
                result = await self._loop.run_in_executor(executor, self._read)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # handed to apply, which shows it
                result = error
            if self._task is None:  # stopped while reading
                return
            self.refreshes += 1
            delay = self._apply(result)
