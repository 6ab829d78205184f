"""What a run waits for while its learner state arrives, and the time left at the account's
limits: what the page's status line says while a dry run fills.

The job's events say it: ``StateStatus`` (where learner state comes from, what the run waits
for, and the time left when it was said) and ``StageProgress`` (the learners read so far).
``StateWait`` keeps the last of them and works out the time left *now*:

- a wait for one of ALM's jobs (the users export, the learner transcript) counts down from the
  time the job is expected to take (told again at each poll); past it, the job is late and the
  time left is 0 (a front end says "any moment now", never a negative time);
- learners read one by one take the share of the estimate still to read: the estimate is at
  the account's read allowance, never the pace of the first seconds, which ALM's burst makes
  look many times faster.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from batch.state_source import StateStatus

JOB_SOURCES = frozenset({"users", "transcript"})  # what a run may wait for: one of ALM's jobs
READS_STAGE = "learner state"  # the stage whose progress counts learners read one by one
DONE_STAGES = frozenset({"plan", "report"})  # every learner's state is in: nothing is awaited


@dataclass(frozen=True, slots=True)
class Waiting:
    """Where learner state stands now."""

    message: str  # "waiting for ALM's learner transcript job 4200003 (in progress, 1 min so far)
    # for 2,000 learners", "reading 28 learners one by one: ...", "learner state as of ...: ..."
    source: str  # "users", "transcript", "snapshot", "per-learner"
    eta_seconds: float | None  # the time left now (None: not known)
    on_job: bool  # waiting for one of ALM's jobs (0 left: it is late)
    as_of: datetime | None  # the transcript's time, once the state came from one


class StateWait:
    """The last ``StateStatus`` of a job and the learners read since (thread-safe: the job's
    threads tell it, a front end asks)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._status: StateStatus | None = None
        self._since = 0.0
        self._reads = (0, 0)  # (done, total) of the learners read one by one
        self._reads_at_status = 0  # learners read when the status was said

    def status(self, event: StateStatus) -> None:
        with self._lock:
            self._status = event
            self._since = self._clock()
            self._reads_at_status = self._reads[0]

    def stage(self, stage: str, done: int, total: int) -> None:
        with self._lock:
            if stage == READS_STAGE:
                self._reads = (done, total)
            elif self._status is not None and (
                stage in DONE_STAGES or _on_job(self._status)  # the run moved on past the job
            ):
                self._status = None

    def current(self) -> Waiting | None:
        """What the run waits for now, or None (nothing said yet, or everything is in)."""
        with self._lock:
            status = self._status
            if status is None:
                return None
            on_job = _on_job(status)
            eta = status.eta_seconds
            if eta is not None and on_job:
                eta = max(0.0, eta - (self._clock() - self._since))
            elif eta is not None:
                done, total = self._reads
                before = self._reads_at_status
                if total > before:
                    eta *= max(0, total - done) / (total - before)
        return Waiting(status.message, status.source, eta, on_job, status.as_of)


def _on_job(status: StateStatus) -> bool:
    return status.source in JOB_SOURCES and status.as_of is None
