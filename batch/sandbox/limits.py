"""Rate limiting as ALM's gateway does it: token buckets, 429s, fractional retry-after.

Each request draws one token from its verb bucket (GET, POST, PUT, PATCH, DELETE per minute)
and, for admin GET /users[/{id}] and GET /learningObjects[/{id}], also from an hourly bucket.
Buckets run on the sandbox clock, which ``time_scale`` speeds up, so an hour-long limit can be
exercised in a second; ``retry-after`` is converted back to real seconds.

The limiter also keeps the books' ``early_requests``: a request that reaches a bucket after the
sandbox answered 429 for it (plus a grace for requests already on the wire) but before that
429's retry-after has passed. A well-behaved client keeps this at zero.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass

from batch.sandbox.config import SandboxConfig


class SandboxClock:
    """Monotonic time that runs ``time_scale`` times faster than real time.

    Changing the scale re-bases the clock so sandbox time never jumps.
    """

    def __init__(self, time_scale: float = 1.0) -> None:
        self._lock = threading.Lock()
        self._scale = time_scale
        self._real0 = time.monotonic()
        self._sandbox0 = 0.0

    @property
    def scale(self) -> float:
        return self._scale

    def set_scale(self, time_scale: float) -> None:
        with self._lock:
            now = time.monotonic()
            self._sandbox0 += (now - self._real0) * self._scale
            self._real0 = now
            self._scale = time_scale

    def now(self) -> float:
        """Sandbox seconds since start."""
        with self._lock:
            return self._sandbox0 + (time.monotonic() - self._real0) * self._scale


class ManualClock(SandboxClock):
    """A sandbox clock that moves only when told to (tests: job delays, link expiry, roll-up).

    ``scale`` still converts sandbox seconds to the real seconds a client is told to wait.
    """

    def __init__(self, time_scale: float = 1.0, start: float = 0.0) -> None:
        super().__init__(time_scale)
        self._manual = start

    def set_scale(self, time_scale: float) -> None:
        with self._lock:
            self._scale = time_scale

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._manual += seconds

    def now(self) -> float:
        with self._lock:
            return self._manual


@dataclass(slots=True)
class Bucket:
    """One token bucket: ``rate`` tokens per sandbox second, at most ``burst`` tokens."""

    name: str
    rate: float
    burst: int
    header: str  # the x-rate-limit value, e.g. "100r/m"
    tokens: float = 0.0
    stamp: float = 0.0
    last_429: float = -math.inf  # real monotonic time of the last 429 sent for this bucket
    retry_until: float = -math.inf  # real monotonic time that 429's retry-after ends

    def refill(self, now: float) -> None:
        self.tokens = min(float(self.burst), self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now


@dataclass(slots=True)
class Decision:
    """The limiter's answer for one request."""

    allowed: bool
    headers: dict[str, str]
    retry_after: float = 0.0  # real seconds, when not allowed
    early: bool = False


VERB_BUCKETS = ("GET", "POST", "PUT", "PATCH", "DELETE")


class RateLimiter:
    """All buckets of one sandbox; thread-safe."""

    def __init__(self, config: SandboxConfig, clock: SandboxClock) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._buckets: dict[str, Bucket] = {}
        self.reconfigure(config)

    def reconfigure(self, config: SandboxConfig) -> None:
        """Rebuild the buckets (full) from ``config``; called when a limit changes."""
        now = self._clock.now()
        specs = {
            "GET": (config.get_per_minute, config.get_burst, "m"),
            "POST": (config.post_per_minute, config.post_burst, "m"),
            "PUT": (config.put_per_minute, config.put_burst, "m"),
            "PATCH": (config.patch_per_minute, config.patch_burst, "m"),
            "DELETE": (config.delete_per_minute, config.delete_burst, "m"),
            "users": (config.users_per_hour, config.users_burst, "h"),
            "learningObjects": (config.lo_per_hour, config.lo_burst, "h"),
        }
        with self._lock:
            self._grace = config.early_grace
            self._buckets = {}
            for name, (per, burst, unit) in specs.items():
                rate = per / (60.0 if unit == "m" else 3600.0)
                # The header states the allowance in REAL time, as a client experiences it:
                # at time_scale 60, "100r/m" of sandbox time is 6000 requests per real minute.
                # A client that paces from the header then uses the whole (scaled) allowance.
                real_per = per * config.time_scale
                self._buckets[name] = Bucket(
                    name, rate, burst, f"{_fmt_rate(real_per)}r/{unit}", float(burst), now
                )

    def bucket_names(self, method: str, template: str) -> list[str]:
        """Verb bucket first, then the hourly bucket that applies (if any)."""
        names = [method if method in VERB_BUCKETS else "GET"]
        if method == "GET" and template in ("/users", "/users/{id}"):
            names.append("users")
        if method == "GET" and template in ("/learningObjects", "/learningObjects/{id}"):
            names.append("learningObjects")
        return names

    def headers_for(self, names: list[str]) -> dict[str, str]:
        """``x-rate-limit`` / ``x-burst`` of the strictest bucket the request is subject to."""
        bucket = self._buckets[names[-1]]
        return {"x-rate-limit": bucket.header, "x-burst": str(bucket.burst)}

    def check(self, names: list[str], enabled: bool) -> Decision:
        """Take one token from every named bucket, or none and say how long to wait."""
        real = time.monotonic()
        with self._lock:
            buckets = [self._buckets[n] for n in names]
            headers = self.headers_for(names)
            early = any(b.last_429 + self._grace < real < b.retry_until for b in buckets)
            if not enabled:
                return Decision(True, headers, early=False)
            now = self._clock.now()
            short: list[tuple[Bucket, float]] = []
            for bucket in buckets:
                bucket.refill(now)
                if bucket.tokens < 1.0:
                    short.append((bucket, (1.0 - bucket.tokens) / bucket.rate))
            if not short:
                for bucket in buckets:
                    bucket.tokens -= 1.0
                return Decision(True, headers, early=early)
            wait_sandbox = max(w for _, w in short)
            retry_after = math.ceil(wait_sandbox / self._clock.scale * 1000.0) / 1000.0
            retry_after = max(retry_after, 0.001)
            for bucket, _ in short:
                bucket.last_429 = real
                bucket.retry_until = max(bucket.retry_until, real + retry_after)
            return Decision(False, headers, retry_after=retry_after, early=early)


def _fmt_rate(per: float) -> str:
    return str(int(per)) if float(per).is_integer() else f"{per:g}"
