"""How many write workers a live run needs: enough to keep ALM's write allowance busy.

The rate limiter in the client paces every request, so extra workers only wait; too few leave
allowance unused while each waits for its answer (Little's law: workers = rate x latency).
"""

from __future__ import annotations

import math
from typing import Protocol

MIN_CONCURRENCY = 4
MAX_CONCURRENCY = 32
ASSUMED_WRITE_SECONDS = 0.25  # a write's round trip; ALM answers in 50-300 ms
HEADROOM = 2.0  # latency varies: twice the average in flight keeps the pacer, not us, the limit


class HasAllowance(Protocol):
    def allowance_per_minute(self, method: str) -> float: ...


def default_concurrency(writes_per_minute: float) -> int:
    """Workers for a write allowance: at ALM's documented 30 writes/min 4 are plenty; a raised
    limit (or the time-scaled sandbox) needs rate x latency x headroom, up to the cap."""
    needed = writes_per_minute / 60.0 * ASSUMED_WRITE_SECONDS * HEADROOM
    return max(MIN_CONCURRENCY, min(MAX_CONCURRENCY, math.ceil(needed)))


def write_concurrency(client: HasAllowance, cap: int | None) -> int:
    """``--concurrency`` when given, else what the write allowance ALM grants now needs."""
    if cap:
        return cap
    return default_concurrency(client.allowance_per_minute("POST"))
