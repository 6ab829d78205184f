"""The job engine: one job from file to report, for every front end.

    job = Job(JobOptions(path=Path("march.xlsx"), dry_run=True))
    job.subscribe(print)          # typed events (batch.jobs.events)
    outcome = job.run()           # or job.start(); job.wait()
    job.cancel()                  # from any thread: Ctrl-C semantics

read -> validate -> (offline: stop) -> resolve -> plan -> (dry run: stop) -> confirm ->
execute -> verify -> report. The engine prints nothing and asks nothing itself: progress goes out
as events (and into ``job.progress``), the one question (proceed with the writes?) goes to the
``confirm`` callable, and the outcome carries the exit status of product.md. A run-level
problem found before anything was written raises ``BatchError`` from ``run()`` (and is kept in
``Job.error``); later aborts come back in the outcome with the report of what was done.

A job is the one model both front ends hold: its state and progress, its edit log (cells a
person changed, rows left out), its rows (``keep_results``: ``job.rows``, on disk in the job's
folder when it has one) and its outcome. A job with a folder records itself there as it goes
(``record.py``), so a job whose process died is read back (``Job.load``) as interrupted, with
the rows it finished, and its remaining rows can be run (``remaining_options``).
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import nullcontext
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from batch.alm.wire import Wire
from batch.confirmed import CONFIRMED_FILE, ConfirmedPlan
from batch.errors import BatchError, EmptyInput, ExitStatus, InputError, UsageError
from batch.jobs.account import AccountLock
from batch.jobs.edits import EditLog
from batch.jobs.events import (
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
from batch.jobs.fixes import Fix, recheck
from batch.jobs.online import OnlineRun, offline_result, require_credentials
from batch.jobs.options import JOB_OPTIONS, JobOptions, JobOutcome, JobState
from batch.jobs.record import JobRecord, Progress, RunningMark, Throttle
from batch.jobs.record import save as save_record
from batch.jobs.remaining import remaining_bound, remaining_options
from batch.jobs.restore import load_job
from batch.jobs.results import ROWS_FILE, ResultStore
from batch.jobs.waiting import StateWait
from batch.journal import Journal
from batch.models import CheckedRow, RowResult, RowStatus, RunSummary, exit_status_for
from batch.reader import Table, open_rows, open_table
from batch.reporting import ReportPaths, summary_json, write_reports
from batch.settings import PRIVATE_FILE, Settings, write_private_text
from batch.validate import ValidationOptions, check_rows

log = logging.getLogger(__name__)

Listener = Callable[[JobEvent], None]
Confirm = Callable[[RunSummary], bool]
EXCLUDED_MESSAGE = "Left out of the run (excluded)."
_CHUNK = 1000


def new_run_id(now: datetime) -> str:
    return f"{now:%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


class Job:
    """One ``run`` / ``validate`` job. Thread-safe to cancel and observe; run it once."""

    def __init__(
        self,
        options: JobOptions,
        settings: Settings | None = None,
        *,
        confirm: Confirm | None = None,
        bound: ConfirmedPlan | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.options = options
        self.confirm = confirm
        # A live run of a confirmed plan (the page's "Run live now", "Run the remaining rows"):
        # it sends no write outside it, and its totals are the plan's (``batch.confirmed``).
        self.bound = bound
        self.now = now
        self.state = JobState.QUEUED
        self.outcome: JobOutcome | None = None
        self.error: BatchError | None = None
        self.table: Table | None = None
        self.course_names: dict[str, str] = {}  # course id -> name, for the report's chart
        self.run_id = ""
        self.started_at: datetime | None = None
        self.ended_at: datetime | None = None
        self.summary: RunSummary | None = None  # the run's summary, from the plan on
        self.progress = Progress()
        self.version = 0  # moves on every change a front end shows (the page's live view)
        self.edits = EditLog.from_cells(options.edits, options.exclude, {})
        self.rows: ResultStore | None = None  # with keep_results, once the file is open
        self.columns: list[str] = []
        self.input_format = ""  # csv or xlsx: the failed-rows file is written in it
        self.restored = False  # read back from its folder (Job.load): view and download only
        self.warnings: list[str] = []
        # What a dry run read from ALM (its resolver), kept while rows can still be fixed, so
        # a fix re-decides rows without reading again (``fixes.py``); None otherwise.
        self.lookups: object | None = None
        self.wire: Wire | None = None  # while it talks to ALM: requests in flight, silence
        self.last_fix: Fix | None = None  # the rows the last fix re-decided (``fixes.py``)
        # What the run waits for while learner state arrives, and the time left for it.
        self.waiting = StateWait()
        self.fix_lock = threading.Lock()
        self._settings = settings
        self._listeners: list[Listener] = []
        self._stop = threading.Event()
        self._also_on_cancel: list[threading.Event] = []
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._account: AccountLock | None = None
        self._saves = Throttle()
        self._mark = RunningMark(options.folder) if options.folder is not None else None

    # --- the front end's side ------------------------------------------------------------
    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def cancel(self) -> None:
        """Stop as Ctrl-C does: no new lookup or write starts, writes in flight finish, the
        ledger and the report are saved. A job that has not started will not start."""
        self._stop.set()
        for event in self._also_on_cancel:
            event.set()
        with self._lock:
            self.progress.cancel_requested = True
        self._touch()

    def on_cancel(self, event: threading.Event) -> None:
        """Set ``event`` too when the job is cancelled (now, if it already is)."""
        self._also_on_cancel.append(event)
        if self._stop.is_set():
            event.set()

    @property
    def cancelling(self) -> bool:
        return self._stop.is_set()

    @property
    def stop_event(self) -> threading.Event:
        """Set on Cancel: the executor stops starting writes."""
        return self._stop

    @property
    def done(self) -> bool:
        return self.state.finished

    def writes_in_flight(self) -> int:
        """Writes sent to ALM and not yet answered (what a Cancel still waits for)."""
        return self.wire.writes_in_flight() if self.wire is not None else 0

    @property
    def live(self) -> bool:
        return not (self.options.dry_run or self.options.offline)

    @property
    def results(self) -> list[RowResult]:
        """Every kept row (``keep_results``), in row order, excluded rows left out."""
        return list(self.rows.results()) if self.rows is not None else []

    def start(self) -> None:
        """Run in a background thread; ``wait()`` or the ``JobFinished`` event tells the end.

        A live job takes its ALM account's writer lock here, in the caller's thread, so a
        second live run on the account is refused at once (``AccountBusy``)."""
        if self.live:
            self.claim_account(self._settings if self._settings is not None else Settings())

        def target() -> None:
            try:
                self.run()
            except BatchError:
                pass  # kept in self.error, announced by JobFinished(None)
            except Exception:  # a bug: never leave a page waiting for ever
                log.exception("job failed")

        self._thread = threading.Thread(target=target, name="alm-batch-job", daemon=True)
        self._thread.start()

    def wait(self, timeout: float | None = None) -> JobOutcome | None:
        self._done.wait(timeout)
        return self.outcome

    def claim_account(self, settings: Settings) -> None:
        """Hold the ALM account's writer lock for this live job (``jobs/account.py``); raises
        ``AccountBusy`` naming the run that holds it. Released when the job ends."""
        self._settings = settings
        if self._account is None:
            self._account = AccountLock(settings, self._holder())
        self._account.acquire()

    def _holder(self) -> str:
        if self.options.command == "serve":
            where = f", job {self.options.folder.name}" if self.options.folder else ""
            return f"a live run of the upload page{where}"
        return f"alm-batch {self.options.command} {self.options.path.name}"

    def run(self) -> JobOutcome:
        if self.state is not JobState.QUEUED:
            raise RuntimeError("a job runs once")
        try:
            if self._stop.is_set():
                self._end(JobState.CANCELLED)
                raise UsageError("The job was cancelled before it started.")
            self.run_id = new_run_id(self.now())
            self.started_at = self.now()
            self.state = JobState.RUNNING
            if self._mark is not None:
                self._mark.hold()
            self._keep_bound()
            self.save()
            try:
                outcome = self._run()
            except BatchError as exc:
                self.error = exc
                self._end(JobState.FAILED)
                self.emit(JobFinished(None))
                raise
            except BaseException as exc:
                self.error = BatchError(f"Unexpected error ({type(exc).__name__}: {exc}).")
                self._end(JobState.FAILED)
                raise
            self.outcome = outcome
            self.summary = outcome.summary
            interrupted = outcome.cancelled or outcome.interrupted
            self._end(JobState.CANCELLED if interrupted else JobState.DONE)
            self.emit(JobFinished(outcome))
            return outcome
        finally:
            if self._account is not None:
                self._account.release()
            if self._mark is not None:
                self._mark.release()

    def _keep_bound(self) -> None:
        """The confirmed plan beside the job's record: its remaining rows stay bound to it
        after a Cancel or a restart."""
        folder = self.options.folder
        if self.bound is not None and folder is not None:
            write_private_text(folder / CONFIRMED_FILE, json.dumps(self.bound.to_json()))

    def confirmed_plan(self) -> ConfirmedPlan:
        """What a live run of this finished dry run is bound to: its rows that would be posted
        now (fixes applied, excluded rows left out), each with its planned writes, and the
        estimate the confirmation shows."""
        if self.rows is None or self.summary is None:
            raise UsageError("Only a finished dry run that kept its rows can be run live.")
        return ConfirmedPlan.from_results(
            self.rows.results(), estimate_seconds=self.summary.estimate_seconds
        )

    def _end(self, state: JobState) -> None:
        self.ended_at = self.now()
        # The record says how it ended before anyone can see the job as ended (a front end that
        # sees it done reads the finished record) and before the running mark is dropped.
        self.save(state)
        self.state = state
        self._touch()
        self._done.set()

    def emit(self, event: JobEvent) -> None:
        self._apply(event)
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:  # a display must never break a run
                log.exception("job listener failed")

    def _apply(self, event: JobEvent) -> None:
        """The job's own events as its ``progress`` (what both front ends show)."""
        if isinstance(event, RowFinished):
            return  # one per row: the rows themselves are kept in ``rows``
        if isinstance(event, RowsPlanned) and not self.live and self.rows is not None:
            # A dry run fills as learner state arrives: its rows go to the row store now (the
            # page pages them from there), not to a list; the report replaces them at the end.
            # A live run's rows are its own results, recorded as each row finishes.
            self.rows.put(event.results)
        elif isinstance(event, StateStatus):
            self.waiting.status(event)
        elif isinstance(event, StageProgress):
            self.waiting.stage(event.stage, event.done, event.total)
        save = False
        with self._lock:
            p = self.progress
            if isinstance(event, StageStarted):
                p.stage, p.stage_done, p.stage_total = event.stage, 0, 0
                save = True
            elif isinstance(event, StageProgress):
                p.stage, p.stage_done, p.stage_total = event.stage, event.done, event.total
            elif isinstance(event, RowsPlanned):
                p.rows_waiting = event.rows_waiting
            elif isinstance(event, WriteProgress):
                p.stage = "execute"
                p.rows_done, p.rows_total = event.rows_done, event.rows_total
                p.writes_done, p.writes_total = event.writes_done, event.writes_total
                p.writes_made, p.rate_per_s = event.writes_made, event.rate_per_s
                p.eta_seconds, p.throttled, p.elapsed = (
                    event.eta_seconds,
                    event.throttled,
                    event.elapsed,
                )
                p.writes_answered, p.writes_in_flight = (
                    event.writes_answered,
                    event.writes_in_flight,
                )
                p.rate_per_minute = event.rate_per_minute
                p.enrolled_not_graded = event.enrolled_not_graded
                save = self._saves.due()
            elif isinstance(event, PlanReady):
                save = True
            self.version += 1
        if save:
            self.save()

    def _touch(self) -> None:
        with self._lock:
            self.version += 1

    def record_row(self, result: RowResult) -> None:
        """A row finished during a live run: kept now, so a run that dies still shows it."""
        if self.rows is not None:
            self.rows.put([result])

    # --- the record ------------------------------------------------------------------------
    def save(self, state: JobState | None = None) -> None:
        """Write the job's record into its folder (no folder: nothing to do); ``state`` is the
        state it is about to enter, when that is not yet its own."""
        folder = self.options.folder
        if folder is None or self.restored:
            return
        save_record(folder, self.record(state))

    def record(self, state: JobState | None = None) -> JobRecord:
        summary, outcome = self.summary, self.outcome
        with self._lock:
            progress = replace(self.progress)
        return JobRecord(
            state=(state or self.state).value,
            dry_run=not self.live,
            run_id=self.run_id,
            options=JOB_OPTIONS.dump_python(self.options, mode="json"),
            edits=self.edits.for_report(),
            started_at=self.started_at.isoformat() if self.started_at else "",
            ended_at=self.ended_at.isoformat() if self.ended_at else None,
            progress=progress,
            summary=summary_json(summary) if summary is not None else None,
            exit_status=self._exit_status(),
            error=str(self.error) if self.error is not None else "",
            aborted=str(outcome.aborted) if outcome and outcome.aborted else "",
            cancelled=bool(outcome and outcome.cancelled),
            interrupted=bool(outcome and outcome.interrupted),
            columns=list(self.columns),
            input_format=self.input_format,
            fields=dict(self.rows.fields) if self.rows is not None else {},
            course_names=dict(self.course_names),
            warnings=list(outcome.warnings if outcome else self.warnings),
        )

    def _exit_status(self) -> int | None:
        if self.outcome is not None:
            return int(self.outcome.exit_status)
        if self.error is not None:
            return int(self.error.exit_status)
        return None

    @classmethod
    def load(cls, folder: Path) -> Job | None:
        """The job recorded in ``folder``, read back (view, download, run the remaining rows):
        a job whose record says it runs, but whose process is gone, is ``INTERRUPTED``."""
        return load_job(cls, folder)

    # --- the pipeline ----------------------------------------------------------------------
    def _run(self) -> JobOutcome:
        options = self.options
        started = self.started_at or self.now()  # the job's start: reading the file counts
        self.emit(StageStarted("read"))
        try:
            table = self._open_table()
        except EmptyInput as exc:
            if not options.allow_empty:
                raise
            return self._nothing_to_do(exc, started)
        self.table = table
        self.columns = list(table.columns)
        self.input_format = table.format
        originals = self._originals(table)
        self.edits = EditLog.from_cells(options.edits, options.exclude, originals)
        self._keep_rows(table, originals)
        validation = options.validation()
        self.emit(StageFinished("read"))
        if options.offline:
            summary = self._new_summary(table, "(offline)", started)
            checked = self._rows_to_run(table, validation)
            return self._report(
                (offline_result(c) for c in checked),
                table,
                summary,
                live=False,
                warnings=table.warnings,
            )
        settings = self._settings if self._settings is not None else Settings()
        require_credentials(settings)
        rows = list(self._rows_to_run(table, validation))
        summary = self._new_summary(table, settings.host, started)
        return OnlineRun(self, settings, table, summary).run(rows)

    def _rows_to_run(self, table: Table, validation: ValidationOptions) -> Iterator[CheckedRow]:
        """Every row checked (the whole file: duplicates are decided file-wide), capped at
        ``max_rows``, without the rows an earlier run finished (``skip_rows``)."""
        cap, skip = self.options.max_rows, self.options.skip_rows or frozenset()
        for n, checked in enumerate(check_rows(table, validation), 1):
            if cap is not None and n > cap:
                raise InputError(
                    f"{self.options.path.name} has more than {cap:,} data rows, the most one "
                    f"run here takes. Split it into files of up to {cap:,} rows (each with the "
                    "header row) and run each one."
                )
            if checked.row not in skip:
                yield checked

    def _nothing_to_do(self, exc: EmptyInput, started: datetime) -> JobOutcome:
        """--allow-empty: a header with no data rows is a run with nothing to do (exit 0)."""
        options = self.options
        summary = RunSummary(
            run_id=self.run_id or new_run_id(started),
            command=options.command,
            dry_run=options.dry_run or options.offline,
            input_path=str(options.path),
            input_name=options.display_name or "",
            input_sha256="",
            alm_host="(not contacted)",
            started_at=started,
            ended_at=self.now(),
            options=options.public(),
            empty_input=True,
        )
        self.emit(StageFinished("read"))
        return JobOutcome(
            summary, ExitStatus.OK, warnings=[f"nothing to do (--allow-empty): {exc.message}"]
        )

    def _open_table(self) -> Table:
        """The file as this job reads it: its shape options, then the edits."""
        options = self.options
        require = ["email", "course"] + ([] if options.completion_date else ["completion_date"])
        table = self._read(options.header_row, require)
        if options.edits or options.exclude:
            table = table.edited(options.edits, options.exclude)
        return table

    def _originals(self, table: Table) -> dict[int, dict[str, str]]:
        """The file's own values of the rows the edits name (one pass over the file)."""
        wanted = set(self.options.edits) | set(self.options.exclude)
        if not wanted:
            return {}
        source = self._read(table.header_row, ())
        return {row.row: row.values for row in source.iter_rows() if row.row in wanted}

    def _read(self, header_row: int | None, require: Iterable[str]) -> Table:
        options = self.options
        if options.row_table is not None:
            return open_rows(
                options.row_table,
                name=options.path,
                header_row=header_row,
                mapping=options.mapping or None,
                require=require,
                ignore=options.ignore_columns,
            )
        return open_table(
            options.path,
            encoding=options.encoding,
            sheet=options.sheet,
            header_row=header_row,
            mapping=options.mapping or None,
            require=require,
            ignore=options.ignore_columns,
        )

    def _keep_rows(self, table: Table, originals: dict[int, dict[str, str]]) -> None:
        """Open the job's row store (``keep_results``) and list the excluded rows in it."""
        if not self.options.keep_results:
            return
        fields: dict[str, str] = {
            f: table.mapping[f] for f in ("email", "course") if f in table.mapping
        }
        folder = self.options.folder
        self.rows = ResultStore(folder / ROWS_FILE if folder is not None else None, fields)
        for row in sorted(self.edits.excluded):
            values = dict(originals.get(row, {}))
            self.rows.exclude(row, RowResult(row, values, RowStatus.VALID, EXCLUDED_MESSAGE))

    def _new_summary(self, table: Table, host: str, now: datetime) -> RunSummary:
        options = self.options
        summary = RunSummary(
            run_id=self.run_id or new_run_id(now),
            command=options.command,
            dry_run=options.dry_run or options.offline,
            input_path=str(options.path),
            input_name=options.display_name or "",
            input_sha256=table.sha256,
            alm_host=host,
            started_at=now,
            options=options.public(),
            edits=self.edits.for_report(),
        )
        if self.bound is not None:  # the confirmation's totals, from the first moment
            summary.writes_planned = self.bound.writes_total
            summary.estimate_seconds = self.bound.estimate_seconds
        self.summary = summary
        return summary

    def _report(
        self,
        results: Iterable[RowResult],
        table: Table,
        summary: RunSummary,
        *,
        live: bool,
        aborted: BatchError | None = None,
        interrupted: bool = False,
        cancelled: bool = False,
        warnings: list[str] | None = None,
        journal: Journal | None = None,
        course_names: dict[str, str] | None = None,
        enrolled_not_graded: int = 0,
    ) -> JobOutcome:
        """Write the reports (streaming), settle the exit status, close the run in the ledger."""
        options = self.options
        kept: list[RowResult] = []
        # One row of each kind that decides the exit code (needs a person; retryable only),
        # so the one rule, models.exit_status_for, decides without holding every row.
        deciding: dict[tuple[bool, bool], RowResult] = {}

        def stream() -> Iterator[RowResult]:
            for result in results:
                if not result.status.ok:
                    deciding.setdefault((result.status.ok, result.needs_person), result)
                if self.rows is not None:
                    kept.append(result)
                    if len(kept) >= _CHUNK:
                        self.rows.put(kept)
                        kept.clear()
                self.emit(RowFinished(result))
                yield result
            if self.rows is not None:
                self.rows.put(kept)
            summary.ended_at = self.now()  # the summary is written after the last row

        # Known before the rows are written, so the report's summary agrees with the exit code.
        if interrupted or aborted is not None:
            summary.exit_status = int(exit_status_for([], aborted=aborted, interrupted=interrupted))
        self.emit(StageStarted("report"))
        with self.rows.bulk() if self.rows is not None else nullcontext():
            paths = write_reports(
                stream(),
                columns=table.columns,
                summary=summary,
                input_path=options.path,
                input_format=table.format,
                explicit=options.report,
                live=live,
                sheet=options.sheet,
                course_names=course_names,
            )
        self.course_names = course_names or {}
        self._private_folder()
        status = exit_status_for(deciding.values(), aborted=aborted, interrupted=interrupted)
        summary.exit_status = int(status)
        if live and journal is not None:
            journal.end(int(status))
        self.emit(StageFinished("report"))
        return JobOutcome(
            summary,
            status,
            paths.report,
            paths.failed,
            warnings=warnings if warnings is not None else [],
            aborted=aborted,
            cancelled=cancelled,
            interrupted=interrupted,
            enrolled_not_graded=enrolled_not_graded,
        )

    # --- after the run: the page's downloads, fixes and the remaining rows -------------------
    def export(self, path: Path, *, failed_format: str | None = None) -> ReportPaths:
        """Write this job's report again, in the format of ``path``'s extension (and its
        failed-rows file beside it when rows failed: in the input's format, or in
        ``failed_format``, "csv" or "xlsx"). Needs ``keep_results``."""
        if self.rows is None or self.summary is None or not self.done:
            raise UsageError("The report is ready when the job has finished.")
        summary = replace(self.summary, report_paths=[], edits=self.edits.for_report())
        fmt = path.suffix.lower().lstrip(".")
        paths = write_reports(
            self.rows.results(),
            columns=self.columns,
            summary=summary,
            input_path=self.options.path,
            input_format=failed_format or self.input_format or ("xlsx" if fmt == "xlsx" else "csv"),
            explicit=path,
            live=not summary.dry_run,
            sheet=self.options.sheet,
            course_names=self.course_names,
        )
        self._private_folder()
        return paths

    def _private_folder(self) -> None:
        """The reports in the job's folder hold learners' data: this user's only, as the
        folder itself (the report writers create files as any other)."""
        folder = self.options.folder
        if folder is None:
            return
        for path in folder.rglob("*"):
            try:
                if path.is_file() and path.stat().st_mode & 0o077:
                    path.chmod(PRIVATE_FILE)
            except OSError:
                continue  # a file removed meanwhile: nothing to protect

    def recheck(
        self, edits: dict[int, dict[str, str]] | None = None, exclude: Iterable[int] = ()
    ) -> list[RowResult]:
        """Fix in place: apply ``edits`` (row -> {header: new value}) and exclusions to a
        finished dry run, re-decide those rows and every row that can depend on them (the
        rows of the same learners: duplicates either way, a program and its courses) from
        what the dry run read, and return the new results of the rows named (excluded rows
        are left out). ``last_fix`` lists the other rows whose outcome changed because of it.
        The whole file is validated again so a column's date order and duplicates stay
        decided across every row. Editing an excluded row brings it back.
        """
        return recheck(self, edits or {}, exclude)

    def remaining_options(self) -> JobOptions:
        """The options of a live run of this live job's remaining rows: the same file, choices
        and edits, without the rows it finished (written, nothing to write, or a person's to
        fix). Unsure writes are settled by reading ALM before anything is sent again, as in
        every live run."""
        return remaining_options(self)

    def remaining_bound(self, settings: Settings | None = None) -> ConfirmedPlan | None:
        """The confirmed plan for this stopped run's remaining rows (None: it had none): the
        rows it did not finish, less the writes the ledger shows made (an enrollment sent
        before the stop), so the remaining run's totals are what is left to send. ``settings``:
        the ALM account's (a job read back after a restart has none of its own)."""
        return remaining_bound(self, settings)
