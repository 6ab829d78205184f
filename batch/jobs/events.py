"""What a job tells its front end while it runs: typed events, delivered to subscribers.

A listener is called from the job's own threads (workers included), so it must be quick and
thread-safe: the CLI updates a tqdm bar, the page puts the event on a queue for its SSE stream.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from batch.models import RowResult, RunSummary
from batch.state_source import StateStatus as StateStatus

if TYPE_CHECKING:
    from batch.jobs.options import JobOutcome


@dataclass(frozen=True, slots=True)
class StageStarted:
    stage: str  # "read", "lookup", "execute", "verify", "report"


@dataclass(frozen=True, slots=True)
class StageProgress:
    stage: str  # finer-grained: "users", "courses", "learner state", "rows" ...
    done: int
    total: int


@dataclass(frozen=True, slots=True)
class StageFinished:
    stage: str


@dataclass(frozen=True, slots=True)
class PlanReady:
    """The dry run's answer: ``summary.counts`` per status, ``writes_planned``,
    ``estimate_seconds`` (at the account's write allowance)."""

    summary: RunSummary


@dataclass(frozen=True, slots=True)
class ConfirmationNeeded:
    """A live run is about to write; the job's ``confirm`` callable is asked next."""

    summary: RunSummary


@dataclass(frozen=True, slots=True)
class WriteProgress:
    """A live run's counts (``jobs/meter.py``): writes count when ALM answers them."""

    rows_done: int
    rows_total: int  # rows with writes planned (the confirmation's when it bound the run)
    writes_done: int  # planned writes settled (answered by ALM, or found done)
    writes_total: int  # planned (the confirmation's when it bound the run): fixed
    writes_made: int  # HTTP writes sent (and answered, or unsure)
    rate_per_s: float  # writes ALM answered per second, over the last minute
    eta_seconds: float | None  # the writes left at the account's write allowance
    throttled: int  # 429 answers met so far
    elapsed: float  # seconds since the first write started
    writes_answered: int = 0  # HTTP writes ALM answered
    writes_in_flight: int = 0  # sent, not yet answered
    rate_per_minute: float = 0.0  # writes ALM answered per minute, over the last minute
    enrolled_not_graded: int = 0  # learners enrolled by this run whose grades were not all sent


@dataclass(frozen=True, slots=True)
class RowsPlanned:
    """Rows of a plan (a dry run, or the plan a person confirms) whose outcome is known before
    the report: those decided without learner state at once, then each learner's as its state
    arrives. ``rows_waiting``: rows still waiting for learner state."""

    results: tuple[RowResult, ...]
    rows_waiting: int


@dataclass(frozen=True, slots=True)
class RowFinished:
    result: RowResult


# ``StateStatus`` (batch.state_source): where learner state comes from ("per-learner", a
# "transcript" job of this run, a kept "snapshot"), what the run waits for ("waiting for ALM's
# learner transcript job 4200003 (in progress, 40 s so far)"; "users": the users export job),
# the transcript's time (``as_of``) and the time left at the account's limits (``eta_seconds``).


@dataclass(frozen=True, slots=True)
class JobFinished:
    outcome: JobOutcome | None  # None when the job failed before writing (``Job.error``)


JobEvent = (
    StageStarted
    | StageProgress
    | StageFinished
    | PlanReady
    | ConfirmationNeeded
    | WriteProgress
    | RowsPlanned
    | StateStatus
    | RowFinished
    | JobFinished
)
