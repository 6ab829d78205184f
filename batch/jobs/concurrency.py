"""How many requests a job keeps in flight: enough to use ALM's allowance, and no more.

The rate limiter in the client paces every request, so extra workers only wait; too few leave
allowance unused while each waits for its answer. Little's law gives the number: requests in
flight = rate x latency. The rate is what ALM grants now (its ``x-rate-limit`` headers, else
the settings) and the latency is what ALM's answers took so far; both are asked again before
each request, so the pool follows them during a run. ``--concurrency`` caps the writers.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Protocol

MIN_CONCURRENCY = 4
MAX_CONCURRENCY = 32  # writers: ALM's write allowance is tens per second at most
MAX_READERS = 96  # learner-state reads: the read allowance is several times the write one
ASSUMED_SECONDS = 0.25  # a round trip before the first answer is timed; ALM answers in 50-300 ms
HEADROOM = 2.0  # latency varies: twice the average in flight keeps the pacer, not us, the limit


class PacedClient(Protocol):
    def allowance_per_minute(self, method: str) -> float: ...

    def latency_seconds(self, method: str) -> float | None: ...


def workers_for(per_minute: float, latency: float | None, cap: int = MAX_CONCURRENCY) -> int:
    """Little's law with headroom, between MIN_CONCURRENCY and ``cap``."""
    seconds = ASSUMED_SECONDS if latency is None else latency
    needed = per_minute / 60.0 * seconds * HEADROOM
    return max(min(MIN_CONCURRENCY, cap), min(cap, math.ceil(needed)))


def write_concurrency(client: PacedClient, cap: int | None) -> int:
    """Writers for ALM's current write allowance and latency (at most ``cap`` when given).
    Before this run's first answer the allowance is what an earlier run saw ALM grant on this
    host (the engine primes the pacer with it), else the settings."""
    limit = cap or MAX_CONCURRENCY
    per_minute = client.allowance_per_minute("POST")
    return workers_for(per_minute, client.latency_seconds("POST"), limit)


def writers(client: PacedClient, cap: int | None) -> Callable[[], int]:
    """The live target for the write pool, asked again before each write."""
    return lambda: write_concurrency(client, cap)


def readers(client: PacedClient, cap: int | None = None) -> Callable[[], int]:
    """The live target for the read pool (learner state, course details, per-email lookups)."""
    limit = cap or MAX_READERS
    return lambda: workers_for(
        client.allowance_per_minute("GET"), client.latency_seconds("GET"), limit
    )
