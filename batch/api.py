"""The Python front end: ``complete(rows)`` for callers who hold rows, not files.

    import batch
    outcome = batch.complete(rows)                       # a dry run: nothing is written
    outcome = batch.complete(rows, dry_run=False, confirm=True)  # live: both must be said

A third caller of the one job engine (``batch.jobs``), beside the CLI and the page: the rows
(an iterable of mappings or a pandas DataFrame) go through the same reading, questions,
validation, resolution, plan, ledger and reports as a file's rows (``reading.memory``). A live
run never happens by accident: ``dry_run`` defaults to True, and ``dry_run=False`` also needs
``confirm`` (True to write without a question, as ``alm-batch run --yes``; or a callable that
sees the plan and says yes or no), so neither a forgotten argument nor a flipped flag alone
writes a completion. docs/python-api.md is the user's page.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from batch.errors import UsageError
from batch.jobs import Job, JobEvent, JobOptions, JobOutcome
from batch.jobs.options import ROWS_NAME, ShapeOptions
from batch.models import RowResult, RunSummary
from batch.reporting.layout import OUTCOME_KINDS, CellKind, report_layout, typed
from batch.settings import Settings

Confirm = Callable[[RunSummary], bool]
# JobOptions fields a caller of ``complete`` does not set: the input, the dry run (its own
# argument), and what the engine needs for its front ends (the page's folder, kept rows...).
_NOT_OPTIONS = frozenset(
    {"path", "rows", "dry_run", "keep_results", "folder", "command", "skip_rows", "encoding"}
)
_PATHS = frozenset({"report", "state_dir"})
COMMAND = "complete"  # how the report's summary and the account lock name these runs


def complete(
    rows: Any,
    *,
    dry_run: bool = True,
    confirm: Confirm | bool | None = None,
    settings: Settings | None = None,
    name: str | Path | None = None,
    on_event: Callable[[JobEvent], None] | None = None,
    **options: Any,
) -> Outcome:
    """Mark the learners in ``rows`` complete in ALM (by default, only say what would be done).

    ``rows``: an iterable of mappings (header -> value, the headers a file would have) or a
    pandas DataFrame. Row numbers are a spreadsheet's: the header is row 1, the first row 2.
    ``dry_run``: True (the default) reads ALM and plans, writing nothing. A live run needs
    ``dry_run=False`` *and* ``confirm``: True writes without a question (as ``--yes``); a
    callable gets the plan (a ``RunSummary``: counts, writes planned, estimate) once every
    learner is read, and nothing is written unless it returns True.
    ``settings``: the ALM account (default: ``Settings()``, from ``ALM_*`` / ``.env``).
    ``name``: what the rows are called in messages, and where the report goes: beside it,
    ``<name>.report.csv`` (default ``rows``, in the current folder); ``report=`` names it.
    ``on_event``: called with each of the job's events (``batch.jobs.events``), from its thread.
    ``options``: any shape option (``ShapeOptions``: ``mapping``, ``date_format``,
    ``completion_date``...) or run option (``report``, ``state_dir``, ``offline``, ``verify``,
    ``concurrency``...), as the CLI's flags of the same names.

    Returns the ``Outcome``: every row's result, the summary, the exit status and the report's
    paths. Raises ``ShapeQuestion`` when only the caller can say what the rows mean (its
    ``answer()`` gives the options to run again with), another ``BatchError`` for a problem
    that stops the run before anything is written. Ctrl-C cancels as in the CLI: writes in
    flight finish, the ledger and the report are saved, and the outcome says ``interrupted``.
    """
    writes = not (dry_run or options.get("offline"))
    ask = _confirmation(writes, confirm)  # before the rows are taken: a generator stays unread
    job = Job(
        _job_options(rows, dry_run=dry_run, name=name, options=options), settings, confirm=ask
    )
    if on_event is not None:
        job.subscribe(on_event)
    return Outcome.of(job, _run(job))


def _job_options(
    rows: Any, *, dry_run: bool, name: str | Path | None, options: dict[str, Any]
) -> JobOptions:
    shape_names = {n for n, _spec in ShapeOptions.specs()}
    run_names = {f.name for f in fields(JobOptions)} - shape_names - _NOT_OPTIONS
    unknown = sorted(set(options) - shape_names - run_names)
    if unknown:
        known = ", ".join(sorted(shape_names | run_names))
        raise TypeError(f"complete() got unknown option(s) {', '.join(unknown)}; options: {known}")
    shape = ShapeOptions.parse({k: v for k, v in options.items() if k in shape_names})
    run = {k: v for k, v in options.items() if k in run_names}
    for key in _PATHS & set(run):
        run[key] = Path(run[key]) if run[key] is not None else None
    if "exclude" in run:
        run["exclude"] = frozenset(run["exclude"])
    return JobOptions(
        **vars(shape),
        **run,
        rows=rows,
        path=Path(name) if name is not None else ROWS_NAME,
        dry_run=dry_run,
        keep_results=True,
        command=COMMAND,
    )


def _confirmation(writes: bool, confirm: Confirm | bool | None) -> Confirm | None:
    """The job's ``confirm`` (None: write without a question); refuses a live run that the
    caller did not confirm, and a confirmation given to a run that writes nothing."""
    if not writes:
        if confirm is not None and confirm is not False:
            raise UsageError(
                "confirm= is for a live run, and this one writes nothing (a dry run is the "
                "default): pass dry_run=False as well to write to ALM."
            )
        return None
    if confirm is True:
        return None
    if callable(confirm):
        return confirm
    raise UsageError(
        "A live run writes completions to ALM, and says so twice: with dry_run=False, pass "
        "confirm=True to write without a question (as alm-batch run --yes), or confirm=f, "
        "where f(plan) sees the plan (a RunSummary) and returns True to write. Nothing was "
        "read or written."
    )


def _run(job: Job) -> JobOutcome:
    """Run ``job`` in a thread of its own, so that Ctrl-C in the caller's thread cancels it as
    the CLI does (writes in flight finish, ledger and report saved) instead of leaving it
    half-way; a second Ctrl-C stops waiting. Its errors are raised here, tracebacks intact."""
    done: list[JobOutcome] = []
    failed: list[BaseException] = []
    # An Event, not Thread.join: a KeyboardInterrupt inside join() can leave the thread
    # looking finished while it runs (CPython issue 90882).
    finished = threading.Event()

    def target() -> None:
        try:
            done.append(job.run())
        except BaseException as exc:  # raised again in the caller's thread
            failed.append(exc)
        finally:
            finished.set()

    threading.Thread(target=target, name="alm-batch-complete", daemon=True).start()
    try:
        while not finished.wait(0.25):
            pass
    except KeyboardInterrupt:
        job.cancel()
        while not finished.wait(0.25):
            pass
    if failed:
        raise failed[0]
    return done[0]


@dataclass
class Outcome(JobOutcome):
    """What ``complete`` ends with: the job's outcome (``summary``, ``exit_status``,
    ``report_path``, ``failed_path``, ``warnings``, ``aborted``, ``cancelled``,
    ``interrupted``) and every row's result, in row order."""

    results: list[RowResult] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)  # the input's headers, in order

    @classmethod
    def of(cls, job: Job, outcome: JobOutcome) -> Outcome:
        """``outcome`` of ``job`` with its rows (``keep_results``: else no rows)."""
        values = {f.name: getattr(outcome, f.name) for f in fields(JobOutcome)}
        return cls(**values, results=job.results, columns=list(job.columns))

    @property
    def rows(self) -> list[dict[str, Any]]:
        """Every row as the report has it (``row``, the input's columns as read, then
        ``status``, ``message``, ``user_id``, ``course_id``... ``action``), a dict per row:
        the tool's dates are datetimes in UTC, its scores and counts numbers, blanks None."""
        layout = report_layout(self.columns, live=not self.summary.dry_run)
        kinds = layout.kinds
        out = []
        for result in self.results:
            cells = layout.cells(result)
            row: dict[str, Any] = {}
            for header, kind, cell in zip(layout.headers, kinds, cells, strict=True):
                row[header] = _typed(kind, cell)
            out.append(row)
        return out

    def to_dataframe(self) -> Any:
        """The rows as a pandas DataFrame (one row per input row, the report's columns);
        needs pandas: ``pip install 'alm-batch[pandas]'``."""
        pandas = require_pandas("Outcome.to_dataframe()")
        layout = report_layout(self.columns, live=not self.summary.dry_run)
        frame = pandas.DataFrame(self.rows, columns=layout.headers)
        for header, name in zip(layout.outcome_headers, layout.outcome_names, strict=True):
            if OUTCOME_KINDS.get(name) is CellKind.DATETIME:
                frame[header] = pandas.to_datetime(frame[header], utc=True)
        return frame


def _typed(kind: CellKind, cell: Any) -> Any:
    if kind is CellKind.TEXT:
        return cell
    if cell == "" or cell is None:
        return None
    value = typed(kind, cell)
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC)  # ``typed`` gives naive UTC, as an Excel cell holds it
    return value


def require_pandas(what: str) -> Any:
    """The pandas module, or an error that says how to install it."""
    try:
        import pandas
    except ImportError:
        raise UsageError(
            f"{what} needs pandas, which is not installed: pip install 'alm-batch[pandas]' "
            "(or pip install pandas)."
        ) from None
    return pandas
