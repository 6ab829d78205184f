"""``PoolGate``: at most ``size`` calls to ALM in flight at once, from any number of threads.

A slot is held only while a call is out (the write pool's grades side by side share it with the
learners' enrollments), and ``peak`` records the most held at once, for tests and benchmarks.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from batch.errors import NotSent

STOP_POLL = 0.25  # how often a call waiting for a place looks whether the run stopped
_T = TypeVar("_T")
_R = TypeVar("_R")


class PoolGate:
    def __init__(self, size: int) -> None:
        self.size = max(1, size)
        self._slots = threading.BoundedSemaphore(self.size)
        self._lock = threading.Lock()
        self.active = 0
        self.peak = 0  # the most calls in flight at once

    def run(self, fn: Callable[[_T], _R], item: _T) -> _R:
        with self.slot():
            return fn(item)

    @contextmanager
    def slot(self, stopped: Callable[[], bool] | None = None) -> Iterator[None]:
        """Hold one of the ``size`` places for the duration of the block. ``stopped``: looked
        at while waiting for a place (every ``STOP_POLL`` seconds): once it is true the call
        is not made (``NotSent``), whatever the calls holding the places are waiting for."""
        while not self._slots.acquire(timeout=STOP_POLL if stopped is not None else None):
            if stopped is not None and stopped():
                raise NotSent("Not sent: the run is stopping.")
        try:
            if stopped is not None and stopped():
                raise NotSent("Not sent: the run is stopping.")
            with self._lock:
                self.active += 1
                self.peak = max(self.peak, self.active)
            try:
                yield
            finally:
                with self._lock:
                    self.active -= 1
        finally:
            self._slots.release()
