"""A rate limiter shared by every worker thread of one client.

ALM limits each verb class (GET, POST, PATCH, ...) with a rate and a burst that it announces in
``x-rate-limit`` / ``x-burst`` headers, and admin ``GET /users`` / ``GET /learningObjects`` with a
much tighter hourly budget (alm-api.md §7). A 429 tells us to send nothing more to that bucket
until its ``retry-after`` has passed, and the sandbox counts every request that arrives too
early. So each bucket carries, besides its tokens, a shared "not before" time: every thread waits
for it before sending, not only the thread that met the 429.

Every request takes its turn through ``RateLimiter.sending``, which hands the answer back on
every path: no state of a bucket waits for anything but an answer or the clock.

Time is injected (``clock``/``sleep``) so tests never wait for real.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from batch.errors import NotSent

# Per-minute (rate, burst) for verbs Settings has no knob for: the published admin table (§7).
OTHER_VERB_DEFAULTS: dict[str, tuple[float, int]] = {
    "PUT": (20.0, 10),
    "PATCH": (60.0, 20),
    "DELETE": (25.0, 10),
}

_RATE = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*(?:r(?:eq(?:uests)?)?)?\s*(?:/\s*([a-z]+))?\s*$", re.I)
_UNIT_SECONDS = {
    "s": 1.0,
    "sec": 1.0,
    "second": 1.0,
    "m": 60.0,
    "min": 60.0,
    "minute": 60.0,
    "h": 3600.0,
    "hr": 3600.0,
    "hour": 3600.0,
}


_EPSILON = 1e-9
_MIN_SLEEP = 0.001
_PROBE_POLL = 0.005  # how often a request waiting for a probe's answer looks again
STOP_POLL = 0.25  # how often a request waiting for its turn looks whether the run stopped
# Pace a little under the rate ALM announces, so a small mismatch between ALM's counting and
# ours (clock drift, a per-minute window instead of a bucket) never adds up to a 429.
HEADER_RATE_MARGIN = 0.995
# Arrival jitter the pacing absorbs: of ALM's burst we use all but ``rate x JITTER_SECONDS``
# (at most half of it). Requests leave at the paced rate but reach ALM bunched by the network
# and by thread scheduling; the tokens we leave in ALM's bucket take that bunching. (A margin
# on the rate would cost that share of the whole run; this reserve costs a fraction of a
# second once, at the start.)
JITTER_SECONDS = 0.5


def parse_rate(text: str | None) -> tuple[float, str] | None:
    """Parse ``600r/m`` / ``5r/s`` / ``500r/h`` into (requests per second, unit letter).

    A bare number is read as per minute (the unit ALM's table uses). None when unreadable.
    """
    if not text:
        return None
    match = _RATE.match(text)
    if not match:
        return None
    count = float(match.group(1))
    unit = (match.group(2) or "m").lower()
    seconds = _UNIT_SECONDS.get(unit) or _UNIT_SECONDS.get(unit.rstrip("s"))
    if seconds is None or count <= 0:
        return None
    return count / seconds, unit[0]


def jitter_reserve(rate: float, burst: float) -> float:
    """Tokens of ALM's burst left unused to absorb arrival jitter: ``rate x JITTER_SECONDS``,
    at most half the burst (an hourly bucket's reserve is next to nothing)."""
    return max(0.0, min(burst / 2.0, rate * JITTER_SECONDS))


def usable_burst(rate: float, burst: float) -> float:
    """Of a burst of ``burst`` tokens at ``rate`` per second, what the pool may spend at once."""
    burst = max(1.0, float(burst))
    return max(1.0, burst - jitter_reserve(rate, burst))


@dataclass
class Turn:
    """What one request's answer says to the pacer (see ``RateLimiter.sending``)."""

    waited: float = 0.0  # seconds the request waited for its turn
    delay: float | None = None  # a 429: nothing more to its bucket for this many seconds
    rate_header: str | None = None  # the 429's x-rate-limit (which bucket it names)

    def throttled(self, delay: float, rate_header: str | None) -> None:
        self.delay, self.rate_header = delay, rate_header


@dataclass
class Bucket:
    """A token bucket plus the shared "not before" time a 429 sets."""

    name: str
    rate: float  # tokens per second
    capacity: float  # of ALM's burst, what we use (the rest is the jitter reserve)
    tokens: float
    updated: float
    burst: float = 1.0  # ALM's burst (capacity + reserve)
    not_before: float = 0.0
    # The rate is ALM's (its header, this run or remembered from an earlier one), not a
    # guess: a 429 then only means "bunched", and the pool resumes paced, without a probe.
    known: bool = False
    # "Probe" mode, at the start and after a 429: one request goes alone and the others wait
    # for its answer, so a pool never bursts into a bucket whose state on ALM's side is unknown.
    # A probe is out from the request's turn (``acquire``) until its answer (``settled`` or
    # ``throttled``); ``RateLimiter.sending`` pairs them on every path, so nothing but an answer
    # (or a failure to send) ends the wait of the others: no timeout is needed to end it.
    probing: bool = True
    probe_out: bool = False

    @property
    def reserve(self) -> float:
        return max(0.0, self.burst - self.capacity)

    def set_burst(self, burst: float) -> bool:
        """Take ALM's burst (at this bucket's rate); True when what we may spend changed."""
        burst = max(1.0, float(burst))
        capacity = usable_burst(self.rate, burst)
        changed = capacity != self.capacity
        self.burst, self.capacity = burst, capacity
        return changed

    def refill(self, now: float) -> None:
        if now > self.updated:
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
            self.updated = now

    def wait_time(self, now: float) -> float:
        """Seconds until this bucket lets one request go (0 when it can go now)."""
        wait = max(0.0, self.not_before - now)
        if self.probing and self.probe_out:
            wait = max(wait, _PROBE_POLL)
        if self.tokens < 1.0 - _EPSILON:
            wait = max(wait, (1.0 - self.tokens) / self.rate if self.rate > 0 else 3600.0)
        return wait


class RateLimiter:
    """Buckets per verb class, per rate-limited endpoint and one global ``max_rps`` ceiling.

    ``verb_limits`` maps a verb to (per-minute rate, burst); ``endpoint_limits`` maps an
    endpoint key ("GET /users") to (per-hour rate, burst). ``endpoint_of`` maps a request's
    endpoint template to its endpoint key (or None).
    """

    def __init__(
        self,
        *,
        verb_limits: Mapping[str, tuple[float, int]],
        endpoint_limits: Mapping[str, tuple[float, int]],
        endpoint_of: Callable[[str, str], str | None],
        max_rps: float | None = None,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._endpoint_of = endpoint_of
        now = clock()
        self._verbs: dict[str, Bucket] = {}
        for verb, (per_minute, burst) in {**OTHER_VERB_DEFAULTS, **verb_limits}.items():
            self._verbs[verb] = self._bucket(verb, per_minute / 60.0, burst, now)
        self._endpoints = {
            key: self._bucket(key, per_hour / 3600.0, burst, now)
            for key, (per_hour, burst) in endpoint_limits.items()
        }
        self._announced: dict[str, float] = {}  # verb -> requests/s ALM's headers granted
        self._announced_burst: dict[str, float] = {}  # verb -> ALM's x-burst
        self._global = self._bucket("max_rps", max_rps, 1, now) if max_rps and max_rps > 0 else None
        if self._global is not None:
            self._global.probing = False  # our own ceiling: nothing to discover

    @staticmethod
    def _bucket(name: str, rate: float, burst: float, now: float) -> Bucket:
        capacity = usable_burst(rate, burst)
        return Bucket(name, rate, capacity, capacity, now, burst=max(1.0, float(burst)))

    def expect(self, method: str, per_minute: float, burst: float | None = None) -> None:
        """Pace a verb class from the allowance an earlier run saw ALM grant on this host
        (``x-rate-limit`` per minute, ``x-burst``), before this run's first answer: no probe,
        the pool starts at the known rate. ALM's own headers re-pace it from the first answer;
        a 429 (the allowance changed, or someone else spends it) is honoured as always."""
        if per_minute <= 0:
            return
        with self._lock:
            now = self._clock()
            bucket = self._verb_bucket(method)
            bucket.refill(now)
            bucket.rate = per_minute / 60.0 * HEADER_RATE_MARGIN
            bucket.set_burst(burst if burst is not None and burst >= 1 else bucket.burst)
            bucket.tokens = min(bucket.tokens, bucket.capacity)
            bucket.known = True
            bucket.probing = bucket.probe_out = False

    def _verb_bucket(self, method: str) -> Bucket:
        verb = method.upper()
        if verb not in self._verbs:
            self._verbs[verb] = self._bucket(verb, 20.0 / 60.0, 10, self._clock())
        return self._verbs[verb]

    def buckets_for(self, method: str, template: str) -> list[Bucket]:
        """Every bucket a request must pass: its verb, its endpoint (if limited), the ceiling."""
        buckets = [self._verb_bucket(method)]
        key = self._endpoint_of(method, template)
        if key is not None and key in self._endpoints:
            buckets.append(self._endpoints[key])
        if self._global is not None:
            buckets.append(self._global)
        return buckets

    def _acquire(
        self, method: str, template: str, stopped: Callable[[], bool] | None = None
    ) -> float:
        """Block until the request may go, take its tokens, return the seconds waited.
        ``stopped`` (the run is stopping) is looked at while waiting: ``NotSent`` then, and
        the request never takes a token."""
        waited = 0.0
        while True:
            if stopped is not None and stopped():
                raise NotSent("Not sent: the run is stopping.")
            with self._lock:
                now = self._clock()
                buckets = self.buckets_for(method, template)
                wait = 0.0
                for bucket in buckets:
                    bucket.refill(now)
                    wait = max(wait, bucket.wait_time(now))
                if wait <= _EPSILON:
                    for bucket in buckets:
                        bucket.tokens -= 1.0
                        if bucket.probing:
                            bucket.probe_out = True
                    return waited
            wait = max(wait, _MIN_SLEEP)  # float dust must not spin the loop
            if stopped is not None:
                wait = min(wait, STOP_POLL)
            self._sleep(wait)
            waited += wait

    @contextmanager
    def sending(
        self, method: str, template: str, stopped: Callable[[], bool] | None = None
    ) -> Iterator[Turn]:
        """One request's turn, the only way to take one: waits for it, and when the block ends,
        whatever way, hands the answer back: ``throttled`` when the block called
        ``turn.throttled`` (a 429), else the answer ends probe mode (any other answer, a
        failure, or a request never sent). So a probe is out exactly as long as its request.
        A request whose run stops while it waits (``stopped``) raises ``NotSent``."""
        turn = Turn(waited=self._acquire(method, template, stopped))
        try:
            yield turn
        finally:
            if turn.delay is None:
                self._settled(method, template)
            else:
                self.throttled(method, template, turn.delay, turn.rate_header)

    def throttled(
        self, method: str, template: str, delay: float, rate_header: str | None = None
    ) -> None:
        """A 429: nothing more for these buckets before ``delay`` seconds, and no burst after.

        When the 429 names its limit (``x-rate-limit``), only that bucket is blocked: an hourly
        rate is the endpoint's bucket, any other the verb's. Without it both are blocked (the
        safe choice: no request may reach a bucket ALM said is empty). The global ceiling is
        left alone: it is ours, not ALM's.
        """
        parsed = parse_rate(rate_header)
        with self._lock:
            now = self._clock()
            verb = self._verb_bucket(method)
            key = self._endpoint_of(method, template)
            endpoint = self._endpoints.get(key) if key is not None else None
            targets = [verb] if endpoint is None else [verb, endpoint]
            if parsed is not None and endpoint is not None:
                targets = [endpoint] if parsed[1] == "h" else [verb]
            for bucket in self.buckets_for(method, template):
                # A 429 is an answer: the probe that met it is no longer out. (Left out, every
                # request of the bucket, the probe's own retry included, waited for an answer
                # that had already come, until a 60 s timeout.)
                bucket.probe_out = False
            for bucket in targets:
                bucket.refill(now)
                bucket.not_before = max(bucket.not_before, now + delay)
                if bucket.known:
                    # ALM's bucket is empty now and its rate is known: resume paced once it
                    # holds one token plus the jitter reserve again (a fraction of a second),
                    # never in a burst, and without a probe.
                    bucket.tokens = min(bucket.tokens, 1.0 - delay * bucket.rate - bucket.reserve)
                    bucket.probing = False
                else:
                    # An allowance we never saw announced: one request goes alone when the
                    # wait ends, and the others wait for its answer (and its headers).
                    bucket.tokens = min(bucket.tokens, 1.0 - delay * bucket.rate)
                    bucket.probing = True

    def _settled(self, method: str, template: str) -> None:
        """A request of these buckets got an answer other than 429 (or failed): end probe mode."""
        with self._lock:
            for bucket in self.buckets_for(method, template):
                if bucket.probe_out or bucket.probing:
                    bucket.probing = bucket.probe_out = False

    def observe(
        self, method: str, template: str, rate_header: str | None, burst_header: str | None
    ) -> None:
        """Re-pace a bucket from ALM's ``x-rate-limit`` / ``x-burst`` headers.

        An hourly rate belongs to the endpoint's own bucket when it has one (admin GET /users
        answers "500r/h"); any other rate paces the whole verb class.
        """
        parsed = parse_rate(rate_header)
        burst: float | None = None
        if burst_header:
            try:
                burst = max(1.0, float(burst_header.strip()))
            except ValueError:
                burst = None
        if parsed is None and burst is None:
            return
        with self._lock:
            now = self._clock()
            bucket = self._verb_bucket(method)
            key = self._endpoint_of(method, template)
            if parsed is not None and parsed[1] == "h" and key in self._endpoints:
                bucket = self._endpoints[key]
            bucket.refill(now)
            if parsed is not None:
                bucket.rate = parsed[0] * HEADER_RATE_MARGIN
                bucket.known = True
                if bucket is self._verbs.get(method.upper()):
                    self._announced[method.upper()] = parsed[0]
            if burst is not None and bucket is self._verbs.get(method.upper()):
                self._announced_burst[method.upper()] = burst
            if bucket.set_burst(bucket.burst if burst is None else burst):
                # The answer itself used one of ALM's tokens: at most one less are left.
                bucket.tokens = min(bucket.tokens, max(bucket.capacity - 1.0, 0.0))

    def allowance(self, method: str) -> float:
        """The requests per second this verb class is paced at now: ALM's ``x-rate-limit``
        once an answer carried it (less the safety margin), else the configured default."""
        with self._lock:
            return self._verb_bucket(method).rate

    def announced(self, method: str) -> float | None:
        """Requests per second ALM's own headers granted this verb class (None: not seen)."""
        with self._lock:
            return self._announced.get(method.upper())

    def announced_burst(self, method: str) -> float | None:
        """The burst ALM's own ``x-burst`` granted this verb class (None: not seen)."""
        with self._lock:
            return self._announced_burst.get(method.upper())

    def describe(self) -> dict[str, str]:
        """Current pacing per bucket, for doctor and logs: ``{"GET": "100.0/min, burst 10"}``."""
        with self._lock:
            out = {}
            for bucket in [*self._verbs.values(), *self._endpoints.values()]:
                per_minute = bucket.rate * 60.0
                out[bucket.name] = f"{per_minute:g}/min, burst {bucket.burst:g}"
            return out
