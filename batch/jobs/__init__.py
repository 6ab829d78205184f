"""The job engine both front ends use (the CLI and the upload page): options in, typed events
out, cancel, and the outcome. See ``batch.jobs.engine`` for the life of a job."""

from batch.jobs.engine import Job, new_run_id
from batch.jobs.events import (
    ConfirmationNeeded,
    JobEvent,
    JobFinished,
    PlanReady,
    RowFinished,
    RowsPlanned,
    StageFinished,
    StageProgress,
    StageStarted,
    StateStatus,
    WriteProgress,
)
from batch.jobs.options import JobOptions, JobOutcome, JobState

__all__ = [
    "ConfirmationNeeded",
    "Job",
    "JobEvent",
    "JobFinished",
    "JobOptions",
    "JobOutcome",
    "JobState",
    "PlanReady",
    "RowFinished",
    "RowsPlanned",
    "StageFinished",
    "StageProgress",
    "StageStarted",
    "StateStatus",
    "WriteProgress",
    "new_run_id",
]
