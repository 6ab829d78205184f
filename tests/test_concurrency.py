"""Requests in flight: a fixed pool per stage (reads, writes), sized from ALM's documented
limits, raised with --concurrency; the gate holds any number of threads to it."""

from __future__ import annotations

import threading
import time

import pytest

from batch.gate import PoolGate
from batch.jobs.concurrency import DEFAULT_POOL, pool_size

# The highest rate ALM documents (x-rate-limit: 600r/m) and the slowest answers it is known for.
DOCUMENTED_PER_SECOND = 600 / 60
SLOWEST_ANSWER_SECONDS = 0.6


def test_the_default_pool_keeps_the_highest_documented_allowance_busy() -> None:
    """Little's law: 10 requests a second answered in 0.6 s are 6 in flight."""
    assert pool_size(None) == DEFAULT_POOL
    assert DEFAULT_POOL >= DOCUMENTED_PER_SECOND * SLOWEST_ANSWER_SECONDS


@pytest.mark.parametrize("concurrency", [1, 3, 8, 32])
def test_concurrency_sets_the_pool_above_or_below_the_default(concurrency: int) -> None:
    assert pool_size(concurrency) == concurrency


@pytest.mark.parametrize("size", [1, 3])
def test_the_gate_holds_any_number_of_threads_to_its_size(size: int) -> None:
    gate = PoolGate(size)
    inside, peak = [0], [0]
    lock = threading.Lock()

    def call(_: int) -> None:
        with lock:
            inside[0] += 1
            peak[0] = max(peak[0], inside[0])
        time.sleep(0.05)  # long enough for the others to queue at the gate
        with lock:
            inside[0] -= 1

    threads = [threading.Thread(target=gate.run, args=(call, n)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert peak[0] == gate.peak == size and gate.active == 0
