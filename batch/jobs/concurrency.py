"""How many requests a job keeps in flight: a fixed pool, sized from ALM's documented limits.

The client's pacer holds every request to ALM's allowance, so a pool only has to be large
enough to use it: requests in flight = rate x answer time (Little's law). At the highest rate
ALM documents, ``x-rate-limit: 600r/m`` (10 a second), and answers of 300-600 ms, that is 3 to
6; ``DEFAULT_POOL`` leaves a third more. The admin table's rates (GET 100/min, POST 30/min) need
one or two. ``bench/bench_pools.py`` measured it: 8 readers use 97 % of a 600r/m allowance, as
did pools sized from the live allowance and latency, which were removed (docs/performance.md).
An account with a raised allowance, or an ALM that answers slower, takes ``--concurrency N``.
"""

from __future__ import annotations

DEFAULT_POOL = 8


def pool_size(concurrency: int | None) -> int:
    """Requests in flight for each of the read and the write pools: ``--concurrency`` or the
    default."""
    return concurrency if concurrency and concurrency > 0 else DEFAULT_POOL
