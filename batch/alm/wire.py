"""What is on the wire to ALM right now, and how long ALM has given no usable answer.

"In flight" means sent and not yet answered: a request waiting for the pacer, a pool slot or a
retry is not in flight (and is never sent once the run stops: ``HttpClient.stop``). A front end
reads two things from here while a job runs:

- ``writes_in_flight``: the writes a Cancel still waits for (their answers are on their way);
- ``silence()``: how long ALM has not answered usefully (the oldest unanswered request, or a run
  of failed exchanges and 5xx answers) and the last reason, so a page can say within seconds
  that the host is not answering while the retries go on up to the give-up time.

Thread-safe; time comes from the client's clock.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Silence:
    seconds: float  # since ALM last answered usefully (or since the oldest request left)
    reason: str  # the last failure ("connection refused", "HTTP 503 ..."); "" when just slow
    writes_waiting: bool  # a write is among the unanswered requests


class Wire:
    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._ids = itertools.count()
        self._out: dict[int, tuple[bool, float]] = {}  # request -> (is a write, sent at)
        self._failing_since: float | None = None
        self._last_failure = ""
        self.writes_answered = 0  # writes ALM answered (any HTTP status)

    @contextmanager
    def sending(self, *, write: bool) -> Iterator[None]:
        """The exchange of one request: in flight for the duration of the block."""
        with self._lock:
            key = next(self._ids)
            self._out[key] = (write, self._clock())
        try:
            yield
        finally:
            with self._lock:
                self._out.pop(key, None)

    def answered(self, *, write: bool, usable: bool) -> None:
        """ALM answered (``usable``: anything but a 5xx or a gateway's page)."""
        with self._lock:
            if write:
                self.writes_answered += 1
            if usable:
                self._failing_since, self._last_failure = None, ""

    def failed(self, reason: str) -> None:
        """An exchange failed (no answer, or an answer that is no use): ALM is not answering."""
        with self._lock:
            if self._failing_since is None:
                self._failing_since = self._clock()
            self._last_failure = reason

    def writes_in_flight(self) -> int:
        with self._lock:
            return sum(1 for write, _ in self._out.values() if write)

    def silence(self) -> Silence | None:
        """How long ALM has given no usable answer; None while it answers."""
        with self._lock:
            now = self._clock()
            starts = [sent for _, sent in self._out.values()]
            if self._failing_since is not None:
                starts.append(self._failing_since)
            if not starts:
                return None
            waiting = any(write for write, _ in self._out.values())
            return Silence(max(0.0, now - min(starts)), self._last_failure, waiting)
