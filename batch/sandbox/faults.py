"""Deterministic fault injection: latency jitter, 5xx answers, dropped connections, lost responses.

One seeded ``random.Random`` behind a lock: a single-threaded client meets the same faults on
every run with the same ``random_seed``. A rate of 0 draws nothing, so turning one fault on does
not shift the sequence of another.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


class Faults:
    def __init__(self, random_seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(random_seed)

    def reseed(self, random_seed: int) -> None:
        with self._lock:
            self._rng = random.Random(random_seed)

    def roll(self, rate: float) -> bool:
        """True with probability ``rate`` (never draws when the rate is 0)."""
        if rate <= 0.0:
            return False
        with self._lock:
            return self._rng.random() < rate

    def choice(self, options: Sequence[T]) -> T:
        with self._lock:
            return self._rng.choice(options)

    def latency(self, low_ms: float, high_ms: float) -> float:
        """Seconds to sleep for one request (0 when no latency is configured)."""
        if high_ms <= 0.0:
            return 0.0
        with self._lock:
            return self._rng.uniform(low_ms, high_ms) / 1000.0
