"""How long ALM takes to answer, per verb: a moving average the pool sizes follow."""

from __future__ import annotations

import threading

ALPHA = 0.2  # weight of the newest answer: follows a change within ~10 answers


class LatencyMeter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._avg: dict[str, float] = {}

    def observe(self, method: str, seconds: float) -> None:
        verb = method.upper()
        with self._lock:
            old = self._avg.get(verb)
            self._avg[verb] = seconds if old is None else old + ALPHA * (seconds - old)

    def seconds(self, method: str) -> float | None:
        """The average answer time of this verb so far (None before its first answer)."""
        with self._lock:
            return self._avg.get(method.upper())
