"""The job engine both front ends use (the CLI and the upload page): options in, typed events
out, cancel, the outcome, and the job as a front end shows it (state, progress, edit log, rows
kept on disk). See ``batch.jobs.engine`` for the life of a job."""

from batch.confirmed import ConfirmedPlan
from batch.jobs.edits import Edit, EditLog
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
from batch.jobs.record import Progress
from batch.jobs.results import StoredRow

__all__ = [
    "ConfirmationNeeded",
    "ConfirmedPlan",
    "Edit",
    "EditLog",
    "Job",
    "JobEvent",
    "JobFinished",
    "JobOptions",
    "JobOutcome",
    "JobState",
    "PlanReady",
    "Progress",
    "RowFinished",
    "RowsPlanned",
    "StageFinished",
    "StageProgress",
    "StageStarted",
    "StoredRow",
    "StateStatus",
    "WriteProgress",
    "new_run_id",
]
