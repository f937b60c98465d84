"""A trailing-edge debouncer for search-as-you-type.

Inside a Jupyter kernel the widget callbacks run on the kernel's asyncio loop, so the delayed
call is scheduled on that loop (``call_later``) and runs on the same thread as every other
widget callback: no locking, no cross-thread widget updates. Elsewhere (a plain script, a
test) a ``threading.Timer`` does the waiting: a loop that merely looks running there (e.g.
Playwright's sync API leaves one set on the main thread) may never run our callback.
``delay <= 0`` calls at once, which is what tests and benchmarks use.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["Debouncer", "in_kernel", "running_loop"]


class Debouncer:
    """Call ``fn`` once, ``delay`` seconds after the last :meth:`trigger`."""

    def __init__(
        self, fn: Callable[[], Any], delay: float, *, use_loop: bool | None = None
    ) -> None:
        self.fn = fn
        self.delay = float(delay)
        # None: the running loop inside a Jupyter kernel, else a timer thread.
        self.use_loop = use_loop
        self._handle: asyncio.TimerHandle | threading.Timer | None = None
        self._generation = 0
        self._lock = threading.Lock()

    @property
    def pending(self) -> bool:
        """True while a call is scheduled and has not run yet."""
        return self._handle is not None

    def trigger(self) -> None:
        """(Re)start the wait; with no delay, call now."""
        self.cancel()
        if self.delay <= 0:
            self.fn()
            return
        loop = running_loop() if self.use_loop is not False else None
        if loop is not None and self.use_loop is None and not in_kernel():
            loop = None
        with self._lock:
            self._generation += 1
            generation = self._generation
            if loop is not None:
                self._handle = loop.call_later(self.delay, self._fire, generation)
            else:
                timer = threading.Timer(self.delay, self._fire, args=(generation,))
                timer.daemon = True
                self._handle = timer
                timer.start()

    def cancel(self) -> None:
        """Forget a scheduled call, if any."""
        with self._lock:
            handle, self._handle = self._handle, None
        if handle is not None:
            handle.cancel()

    def flush(self) -> None:
        """Run a scheduled call now (and only once)."""
        handle = self._handle
        if handle is not None:
            handle.cancel()
            self._fire(self._generation)

    def _fire(self, generation: int) -> None:
        with self._lock:
            if self._handle is None or generation != self._generation:
                return  # cancelled, or superseded by a later trigger
            self._handle = None
        self.fn()


def running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def in_kernel() -> bool:
    """True inside a Jupyter kernel (IPython with a kernel attached); never imports IPython."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return getattr(shell, "kernel", None) is not None
