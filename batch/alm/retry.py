"""How long one write keeps trying through transient faults: the budget and its backoff.

A write that meets a transient fault (a 5xx, a dropped connection, a timeout, a lost answer,
a 429 storm the transport gave up on) is not given up: the executor waits (exponential backoff
with jitter), reads ALM's state to learn whether the write landed, and re-sends only when it
did not. ``WriteRetry`` is the budget for that: at most ``retries`` re-sends and ``seconds``
from the first send (``ALM_WRITE_RETRIES`` / ``ALM_WRITE_RETRY_SECONDS``). Time comes from the
client's ``clock`` and ``sleep`` so tests never sleep for real.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from batch.settings import Settings

DEFAULT_WRITE_RETRIES = 8
DEFAULT_WRITE_RETRY_SECONDS = 300.0
BACKOFF_BASE = 0.5  # seconds before the first re-try
BACKOFF_CAP = 30.0  # the longest single wait
PAUSE_SLICE = 0.25  # a wait is cut into slices so a stop (Ctrl-C, an abort) is seen promptly


@dataclass(frozen=True)
class WriteRetry:
    """The retry budget of one write, and the clock it is measured with."""

    retries: int = DEFAULT_WRITE_RETRIES  # re-sends (or re-reads) after the first send
    seconds: float = DEFAULT_WRITE_RETRY_SECONDS  # from the first send to the last try
    base: float = BACKOFF_BASE
    cap: float = BACKOFF_CAP
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    rng: random.Random = field(default_factory=random.Random)

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> WriteRetry:
        return cls(
            retries=settings.write_retries,
            seconds=settings.write_retry_seconds,
            clock=clock,
            sleep=sleep,
            rng=rng or random.Random(),
        )

    def delay(self, failures: int) -> float:
        """The wait after ``failures`` transient failures in a row: exponential (base, 2 x base,
        4 x base ..., capped) with "equal jitter" (a random half to all of the step), so
        workers that failed together do not come back together."""
        step = min(self.cap, self.base * 2.0 ** max(0, failures - 1))
        return step * self.rng.uniform(0.5, 1.0)

    def start(self) -> RetryBudget:
        """The budget of one write, counted from now (its first send)."""
        return RetryBudget(self, self.clock())


class RetryBudget:
    """One write's use of its ``WriteRetry``: how many transient failures, since when."""

    def __init__(self, policy: WriteRetry, started: float) -> None:
        self.policy = policy
        self.started = started
        self.failures = 0

    @property
    def elapsed(self) -> float:
        return max(0.0, self.policy.clock() - self.started)

    def pause(self, stopping: Callable[[], bool] = lambda: False) -> bool:
        """Count one transient failure and wait before the next try.

        True when the budget allows another try (after the wait); False, without waiting,
        when it is spent, and False as soon as ``stopping()`` turns true during the wait.
        """
        self.failures += 1
        if self.failures > self.policy.retries:
            return False
        delay = self.policy.delay(self.failures)
        if self.elapsed + delay > self.policy.seconds:
            return False
        left = delay
        while left > 0:
            if stopping():
                return False
            step = min(PAUSE_SLICE, left)
            self.policy.sleep(step)
            left -= step
        return not stopping()

    def spent(self) -> str:
        """'3 tries in 12 s' for messages (tries = sends, the first included)."""
        tries = self.failures
        return f"{tries} {'try' if tries == 1 else 'tries'} in {self.elapsed:.0f} s"
