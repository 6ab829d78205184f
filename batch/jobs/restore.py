"""A job read back from its folder (``Job.load``): after a restart, or after its process died.

What the record says (``record.py``) is the job: its options, state, progress, edits and
summary; its rows are in ``rows.sqlite3`` (rebuilt from its JSON report when that file is
missing). A record that says the job runs, while no process holds its running mark, is a job
whose process died: ``INTERRUPTED``.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from batch.confirmed import ConfirmedPlan
from batch.errors import BatchError, ExitStatus, InputError
from batch.jobs.edits import EXCLUDED, EditLog
from batch.jobs.options import JOB_OPTIONS, JobOptions, JobOutcome, JobState, ShapeOptions
from batch.jobs.record import JobRecord, Progress, RunningMark, is_record, load, save
from batch.jobs.results import ROWS_FILE, ResultStore
from batch.reporting import summary_json
from batch.reporting.json_report import read_json_report, summary_from_json

if TYPE_CHECKING:
    from batch.jobs.engine import Job

log = logging.getLogger(__name__)


class RecordedError(BatchError):
    """A run-level error as a job's record kept it (its text and exit code)."""

    def __init__(self, message: str, exit_status: ExitStatus) -> None:
        super().__init__(message)
        self.exit_status = exit_status


def load_job(cls: type[Job], folder: Path) -> Job | None:
    """The job of ``folder``, or None when it holds no job record."""
    data = load(folder)
    if data is None or not is_record(data):
        return None
    record = JobRecord.from_json(data)
    try:
        options = JOB_OPTIONS.validate_python(record.options)
    except ValueError:
        log.warning("the job record in %s cannot be read", folder)
        return None
    options.folder, options.keep_results = folder, True
    job = cls(options, bound=ConfirmedPlan.read(folder))  # a live run: what was confirmed
    job.restored = True
    job.run_id = record.run_id
    job.started_at = _when(record.started_at)
    job.ended_at = _when(record.ended_at)
    job.progress = record.progress
    job.edits = _edit_log(record.edits)
    job.columns = list(record.columns)
    job.course_names = dict(record.course_names)
    job.warnings = list(record.warnings)
    job.input_format = record.input_format
    state = JobState(record.state)
    if not state.finished:
        state = JobState.RUNNING if RunningMark.held_elsewhere(folder) else JobState.INTERRUPTED
    job.state = state
    if record.summary is not None:
        try:
            job.summary = summary_from_json(record.summary)
        except ValueError:
            log.warning("the summary in the job record of %s cannot be read", folder)
    if record.error:
        code = record.exit_status if record.exit_status is not None else ExitStatus.USAGE
        job.error = RecordedError(record.error, ExitStatus(code))
    elif record.exit_status is not None and job.summary is not None:
        status = ExitStatus(record.exit_status)
        job.outcome = JobOutcome(
            job.summary,
            status,
            warnings=job.warnings,
            aborted=RecordedError(record.aborted, status) if record.aborted else None,
            cancelled=record.cancelled,
            interrupted=record.interrupted,
        )
    job.rows = _rows(folder, options, record.fields)
    return job


def _rows(folder: Path, options: JobOptions, fields: dict[str, str]) -> ResultStore | None:
    path = folder / ROWS_FILE
    if path.is_file():
        return ResultStore(path, fields)
    report = options.report if options.report is not None else folder / "report.json"
    if not report.is_file() or report.suffix.lower() != ".json":
        return None
    # No row store (a folder of an earlier version, or a lost file): rebuilt from the report.
    try:
        rows = ResultStore(path, fields)
        rows.put(read_json_report(report).rows())
    except (InputError, OSError) as exc:
        log.warning("the rows of %s cannot be read back: %s", folder, exc)
        return None
    return rows


def _edit_log(edits: list[dict[str, str]]) -> EditLog:
    log_ = EditLog()
    for edit in edits:
        row = int(edit.get("row", "0") or 0)
        if not edit.get("column") and edit.get("new") == EXCLUDED:
            log_.exclude(row)
        else:
            log_.change(row, edit.get("column", ""), edit.get("old", ""), edit.get("new", ""))
    return log_


def _when(text: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if text else None
    except ValueError:
        return None


def adopt_report(
    folder: Path,
    report: Path,
    *,
    shape: ShapeOptions,
    dry_run: bool,
    state: JobState,
    state_dir: Path,
    edits: EditLog,
    fields: dict[str, str],
    started: str,
    ended: str | None,
) -> bool:
    """Record, in ``folder``, a job known only by its JSON report (a folder written before jobs
    recorded themselves), so ``Job.load`` reads it back. False when the report is unreadable."""
    try:
        head = read_json_report(report)
    except InputError as exc:
        log.warning("the report %s cannot be adopted: %s", report, exc)
        return False
    summary = head.summary
    options = JobOptions(
        **vars(shape),
        path=Path(summary.input_path if summary is not None else ""),
        dry_run=dry_run,
        report=report,
        state_dir=state_dir,
        command="serve",
        keep_results=True,
    )
    save(
        folder,
        JobRecord(
            state=state.value,
            dry_run=dry_run,
            run_id=summary.run_id if summary is not None else "",
            options=JOB_OPTIONS.dump_python(options, mode="json"),
            edits=edits.for_report(),
            started_at=started,
            ended_at=ended,
            progress=Progress(writes_made=summary.writes_made if summary is not None else 0),
            summary=summary_json(summary) if summary is not None else None,
            exit_status=summary.exit_status if summary is not None else None,
            columns=head.columns,
            input_format="xlsx" if summary and summary.input_path.endswith("xlsx") else "csv",
            fields=fields,
        ),
    )
    return True
