"""``PoolGate``: lets at most ``target()`` of a thread pool's workers call ALM at once.

A pool is started with as many threads as it may ever need (the cap); the gate admits as many
as the current target, asked again each time a call starts, so the number of requests in
flight follows ALM's live allowance and latency during a run without restarting the pool.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

_T = TypeVar("_T")
_R = TypeVar("_R")


class PoolGate:
    def __init__(self, target: Callable[[], int]) -> None:
        self._target = target
        self._cond = threading.Condition()
        self.active = 0
        self.peak = 0  # the most calls in flight at once (for tests and benchmarks)

    def run(self, fn: Callable[[_T], _R], item: _T) -> _R:
        with self.slot():
            return fn(item)

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one of the ``target()`` places for the duration of the block."""
        with self._cond:
            while self.active >= max(1, self._target()):
                # Re-asked every 50 ms: a target that grows (new headers, slower answers)
                # admits waiting workers without a notify.
                self._cond.wait(0.05)
            self.active += 1
            self.peak = max(self.peak, self.active)
        try:
            yield
        finally:
            with self._cond:
                self.active -= 1
                self._cond.notify()
