"""The job engine: one job from file to report, for every front end.

    job = Job(JobOptions(path=Path("march.xlsx"), dry_run=True))
    job.subscribe(print)          # typed events (batch.jobs.events)
    outcome = job.run()           # or job.start(); job.wait()
    job.cancel()                  # from any thread: Ctrl-C semantics

read -> validate -> (offline: stop) -> resolve -> plan -> (dry run: stop) -> confirm ->
execute -> verify -> report. The engine prints nothing and asks nothing itself: progress goes out
as events, the one question (proceed with the writes?) goes to the ``confirm`` callable, and
the outcome carries the exit status of product.md. A run-level problem found before anything
was written raises ``BatchError`` from ``run()`` (and is kept in ``Job.error``); later aborts
come back in the outcome with the report of what was done.
"""

from __future__ import annotations

import itertools
import logging
import math
import queue
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, nullcontext
from contextlib import closing as _closing
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from batch.alm.api import AlmClient
from batch.alm.jobs import JobWait
from batch.cache import LookupCache
from batch.errors import (
    AbortError,
    BatchError,
    ConfigError,
    EmptyInput,
    ExitStatus,
    Interrupted,
    UsageError,
)
from batch.execute import (
    ExecuteOptions,
    ProgressEvent,
    close_entries_alm_shows_complete,
    execute_plan,
)
from batch.jobs.concurrency import pool_size
from batch.jobs.estimate import Allowance, allowance, expect_remembered, read_seconds
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
    WriteProgress,
)
from batch.jobs.options import JobOptions, JobOutcome, JobState
from batch.ledger import Ledger, StateLock
from batch.models import CheckedRow, RowResult, RowStatus, RunSummary, exit_status_for
from batch.plan import Plan, PlanOptions, apply_ledger, build_plan
from batch.reader import Table, open_table
from batch.redact import redact
from batch.reporting import ReportPaths, write_reports
from batch.resolve import Resolver
from batch.settings import Settings, resolve_state_dir
from batch.snapshot import SnapshotStore
from batch.state_source import StateSource, StateStatus
from batch.validate import ValidationOptions, check_rows, duplicate_message, summarise_issues
from batch.verify import verify_results

log = logging.getLogger(__name__)

Listener = Callable[[JobEvent], None]
LEARNER_READS = "GET /users/{id}/enrollments"  # the call counted per learner (and page)
Confirm = Callable[[RunSummary], bool]

INTERRUPTED_LOOKUP = (
    "Not attempted: the run was interrupted while looking up learners and courses in ALM; "
    "nothing was written. Run the same command again to finish."
)
OFFLINE_VALID = (
    "Valid. Not checked against ALM (--offline): learner, course and modules are resolved "
    "when you run without --offline."
)


def new_run_id(now: datetime) -> str:
    return f"{now:%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


def offline_result(checked: CheckedRow) -> RowResult:
    """A row checked without ALM: invalid, duplicate, or valid (nothing resolved)."""
    values = checked.input.values
    if checked.not_completed:
        status = RowStatus.NOT_COMPLETED
        return RowResult(checked.row, values, status, checked.not_completed, action="skip")
    if checked.issues:
        return RowResult(checked.row, values, RowStatus.INVALID, summarise_issues(checked.issues))
    if checked.duplicate_of is not None:
        message = duplicate_message(checked.duplicate_of)
        return RowResult(checked.row, values, RowStatus.DUPLICATE, message, action="skip")
    return RowResult(checked.row, values, RowStatus.VALID, OFFLINE_VALID, action="none")


def not_attempted(checked: CheckedRow, message: str = INTERRUPTED_LOOKUP) -> RowResult:
    """A row the run stopped before reaching (Ctrl-C or an abort while looking things up)."""
    result = offline_result(checked)
    if result.status is RowStatus.VALID:
        result.status = RowStatus.UNKNOWN
        result.message = message
    return result


def require_credentials(settings: Settings) -> None:
    """Stop before any call when the configuration cannot possibly authenticate."""
    if settings.access_token is not None:
        return
    missing = [
        name
        for name, value in (
            ("ALM_CLIENT_ID", settings.client_id),
            ("ALM_CLIENT_SECRET", settings.client_secret),
            ("ALM_REFRESH_TOKEN", settings.refresh_token),
        )
        if not value
    ]
    if missing:
        raise ConfigError(
            f"Missing configuration: {', '.join(missing)}.",
            hint="Set them in the environment or a .env file (see README, 'Point it at your "
            "ALM account'), or use 'alm-batch validate FILE --offline' to check the file only.",
        )


class Job:
    """One ``run`` / ``validate`` job. Thread-safe to cancel and observe; run it once."""

    def __init__(
        self,
        options: JobOptions,
        settings: Settings | None = None,
        *,
        confirm: Confirm | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.options = options
        self.confirm = confirm
        self.now = now
        self.state = JobState.QUEUED
        self.outcome: JobOutcome | None = None
        self.error: BatchError | None = None
        self.table: Table | None = None
        self.course_names: dict[str, str] = {}  # course id -> name, for the report's chart
        self._settings = settings
        self._listeners: list[Listener] = []
        self._stop = threading.Event()
        self._also_on_cancel: list[threading.Event] = []
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    # --- the front end's side ------------------------------------------------------------
    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def cancel(self) -> None:
        """Stop as Ctrl-C does: no new lookup or write starts, writes in flight finish, the
        ledger and the report are saved. A job that has not started will not start."""
        self._stop.set()
        for event in self._also_on_cancel:
            event.set()

    def on_cancel(self, event: threading.Event) -> None:
        """Set ``event`` too when the job is cancelled (now, if it already is)."""
        self._also_on_cancel.append(event)
        if self._stop.is_set():
            event.set()

    @property
    def cancelling(self) -> bool:
        return self._stop.is_set()

    @property
    def results(self) -> list[RowResult]:
        return self.outcome.results if self.outcome is not None else []

    def start(self) -> None:
        """Run in a background thread; ``wait()`` or the ``JobFinished`` event tells the end."""

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

    def run(self) -> JobOutcome:
        if self.state is not JobState.QUEUED:
            raise RuntimeError("a job runs once")
        if self._stop.is_set():
            self.state = JobState.CANCELLED
            self._done.set()
            raise UsageError("The job was cancelled before it started.")
        self.state = JobState.RUNNING
        try:
            outcome = self._run()
        except BatchError as exc:
            self.error = exc
            self.state = JobState.FAILED
            self._done.set()
            self.emit(JobFinished(None))
            raise
        except BaseException:
            self.state = JobState.FAILED
            self._done.set()
            raise
        self.outcome = outcome
        self.state = (
            JobState.CANCELLED if outcome.cancelled or outcome.interrupted else JobState.DONE
        )
        self._done.set()
        self.emit(JobFinished(outcome))
        return outcome

    def emit(self, event: JobEvent) -> None:
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:  # a display must never break a run
                log.exception("job listener failed")

    # --- the pipeline ----------------------------------------------------------------------
    def _run(self) -> JobOutcome:
        options = self.options
        started = self.now()  # the job's start: reading the file counts
        self.emit(StageStarted("read"))
        try:
            table = self._open_table()
        except EmptyInput as exc:
            if not options.allow_empty:
                raise
            return self._nothing_to_do(exc, started)
        self.table = table
        validation = _validation(options)
        self.emit(StageFinished("read"))
        if options.offline:
            summary = self._new_summary(table, "(offline)", started)
            checked = check_rows(table, validation)
            return self._report(
                (offline_result(c) for c in checked),
                table,
                summary,
                live=False,
                warnings=table.warnings,
            )
        settings = self._settings if self._settings is not None else Settings()
        require_credentials(settings)
        return _OnlineRun(self, settings, table, started).run(list(check_rows(table, validation)))

    def _nothing_to_do(self, exc: EmptyInput, started: datetime) -> JobOutcome:
        """--allow-empty: a header with no data rows is a run with nothing to do (exit 0)."""
        options = self.options
        summary = RunSummary(
            run_id=new_run_id(started),
            command=options.command,
            dry_run=options.dry_run or options.offline,
            input_path=str(options.path),
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
        options = self.options
        require = ["email", "course"] + ([] if options.completion_date else ["completion_date"])
        table = open_table(
            options.path,
            encoding=options.encoding,
            sheet=options.sheet,
            header_row=options.header_row,
            mapping=options.mapping or None,
            require=require,
            ignore=options.ignore_columns,
        )
        if options.edits or options.exclude:
            table = table.edited(options.edits, options.exclude)
        return table

    def _new_summary(self, table: Table, host: str, now: datetime) -> RunSummary:
        options = self.options
        return RunSummary(
            run_id=new_run_id(now),
            command=options.command,
            dry_run=options.dry_run or options.offline,
            input_path=str(options.path),
            input_sha256=table.sha256,
            alm_host=host,
            started_at=now,
            options=options.public(),
            edits=self._edit_list(table),
        )

    def _edit_list(self, table: Table) -> list[dict[str, str]]:
        """Every edit and exclusion, with the value it replaced, for the report."""
        edits, exclude = self.options.edits, self.options.exclude
        if not edits and not exclude:
            return []
        wanted = set(edits) | set(exclude)
        old: dict[int, dict[str, str]] = {}
        source = open_table(
            self.options.path,
            encoding=self.options.encoding,
            sheet=self.options.sheet,
            header_row=table.header_row,
            mapping=self.options.mapping or None,
            require=(),
            ignore=self.options.ignore_columns,
        )
        for row in source.iter_rows():
            if row.row in wanted:
                old[row.row] = row.values
        out: list[dict[str, str]] = []
        for number in sorted(wanted):
            if number in exclude:
                out.append({"row": str(number), "column": "", "old": "", "new": "(row excluded)"})
                continue
            for header, new in edits[number].items():
                before = old.get(number, {}).get(header, "")
                out.append({"row": str(number), "column": header, "old": before, "new": new})
        return out

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
        ledger: Ledger | None = None,
        course_names: dict[str, str] | None = None,
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
                if options.keep_results:
                    kept.append(result)
                self.emit(RowFinished(result))
                yield result
            summary.ended_at = self.now()  # the summary is written after the last row

        # Known before the rows are written, so the report's summary agrees with the exit code.
        if interrupted or aborted is not None:
            summary.exit_status = int(exit_status_for([], aborted=aborted, interrupted=interrupted))
        self.emit(StageStarted("report"))
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
        status = exit_status_for(deciding.values(), aborted=aborted, interrupted=interrupted)
        summary.exit_status = int(status)
        if live and ledger is not None:
            ledger.end_run(summary.run_id, int(status))
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
            results=kept,
        )

    # --- after the run: the page's downloads -----------------------------------------------
    def export(self, path: Path) -> ReportPaths:
        """Write this job's report again, in the format of ``path``'s extension (and its
        failed-rows file beside it when rows failed). Needs ``keep_results``."""
        if self.outcome is None or self.table is None:
            raise UsageError("The job has no report yet.")
        if not self.options.keep_results:
            raise UsageError("This job did not keep its rows (keep_results=False).")
        summary = replace(self.outcome.summary, report_paths=[])
        return write_reports(
            iter(self.outcome.results),
            columns=self.table.columns,
            summary=summary,
            input_path=self.options.path,
            input_format=self.table.format,
            explicit=path,
            live=not summary.dry_run,
            sheet=self.options.sheet,
            course_names=self.course_names,
        )

    def recheck(
        self, edits: dict[int, dict[str, str]] | None = None, exclude: Iterable[int] = ()
    ) -> list[RowResult]:
        """Fix in place: apply ``edits`` (row -> {header: new value}) and exclusions to a
        finished dry run, re-check just those rows (read, validate, resolve, plan: read-only
        calls, through the warm cache) and return their new results (excluded rows are
        dropped from the results). The whole file is validated again so a column's date order
        and duplicates stay decided across every row; rows other than these keep their result.
        """
        outcome = self.outcome
        if outcome is None or not self.options.keep_results:
            raise UsageError("Only a finished dry run that kept its rows can be re-checked.")
        if not outcome.summary.dry_run or outcome.cancelled:
            raise UsageError("Rows can only be edited in a dry run; start a new dry run first.")
        edits = {int(row): dict(cells) for row, cells in (edits or {}).items()}
        dropped = {int(row) for row in exclude}
        known = {r.row for r in outcome.results} | set(self.options.exclude)
        unknown = sorted((set(edits) | dropped) - known)
        if unknown:
            raise UsageError(f"No row {unknown[0]} in {self.options.path.name}.")
        merged = {row: dict(cells) for row, cells in self.options.edits.items()}
        for row, cells in edits.items():
            merged.setdefault(row, {}).update(cells)
        options = replace(
            self.options, edits=merged, exclude=frozenset(self.options.exclude | dropped)
        )
        for row in edits:  # editing an excluded row brings it back
            if row not in dropped:
                options.exclude = options.exclude - {row}
        self.options = options
        table = self._open_table()
        self.table = table
        wanted = set(edits)
        checked = [c for c in check_rows(table, _validation(options)) if c.row in wanted]
        if options.offline:
            fresh = [offline_result(c) for c in checked]
        else:
            settings = self._settings if self._settings is not None else Settings()
            fresh = _OnlineRun(self, settings, table, outcome.summary.started_at).plan_only(checked)
        by_row = {r.row: r for r in fresh}
        results = [by_row.get(r.row, r) for r in outcome.results if r.row not in options.exclude]
        present = {r.row for r in results}
        results.extend(r for r in fresh if r.row not in present)
        results.sort(key=lambda r: r.row)
        outcome.results = results
        summary = outcome.summary
        summary.counts = dict(Counter(str(r.status) for r in results))
        summary.rows = len(results)
        summary.edits = self._edit_list(table)
        return fresh


class _RowsShown:
    """Emits ``RowsPlanned`` as a plan fills: the rows decided without learner state at once,
    then each learner's rows (with what the ledger already did) as their state arrives."""

    def __init__(self, run: _OnlineRun, plan: Plan, total: int) -> None:
        self.run, self.plan, self.total = run, plan, total
        self.shown = 0
        self.lock = threading.Lock()

    def __call__(self, indexes: list[int]) -> None:
        run = self.run
        mini = Plan([self.plan.rows[i] for i in indexes])
        if run.ledger is not None:
            apply_ledger(mini, run.ledger, run.settings.base_url, overwrite=run.options.overwrite)
        results = tuple(r.to_result() for r in mini.rows)
        with self.lock:
            self.shown += len(results)
            waiting = self.total - self.shown
        run.job.emit(RowsPlanned(results, waiting))


def _validation(options: JobOptions) -> ValidationOptions:
    return ValidationOptions(
        date_format=options.date_format,
        timezone=options.timezone,
        default_completion_date=options.completion_date,
        earliest_date=options.earliest_date,
        completed_values=tuple(options.completed_values),
        score_scale=options.score_scale,
    )


class _OnlineRun:
    """The part of a job that talks to ALM: resolve and plan, then (live) execute."""

    def __init__(self, job: Job, settings: Settings, table: Table, started: datetime) -> None:
        self.job = job
        self.options = job.options
        self.settings = settings
        self.table = table
        self.summary = job._new_summary(table, settings.host, started)
        self.live = not job.options.dry_run
        self.ledger: Ledger | None = None
        self.aborted: BatchError | None = None
        self.interrupted = False
        self.cancelled = False
        self.warnings: list[str] = []
        self.allowance: Allowance | None = None
        self.state_source: StateSource | None = None
        # Lookups stop on Cancel, and when the writers stopped (an abort) in an overlapped run.
        self.lookup_stop = threading.Event()
        job.on_cancel(self.lookup_stop)

    def run(self, checked: list[CheckedRow]) -> JobOutcome:
        options, settings = self.options, self.settings
        state_dir = resolve_state_dir(options.state_dir, settings)
        lock: AbstractContextManager[object] = StateLock(state_dir) if self.live else nullcontext()
        with lock:
            cache = LookupCache(
                None if options.no_cache else state_dir / "cache.sqlite3",
                settings.base_url,
                ttl_seconds=options.cache_ttl,
                refresh=options.refresh_cache,
            )
            client = AlmClient(
                settings,
                # The connection pool: the read and the write pools at once.
                concurrency=2 * pool_size(options.concurrency),
                max_rps=options.max_rps,
                give_up_after=options.give_up_after,
                state_dir=state_dir,  # the grade body learned on this ALM host is kept there
            )
            # Before ALM's first answer: what earlier runs on this host saw, so the pacer starts
            # at the right rate and the pools at the right size (both follow what ALM says
            # from the first answer on).
            expect_remembered(client, settings, state_dir)
            resolver: Resolver | None = None
            course_names: dict[str, str] = {}
            try:
                resolver = Resolver(
                    client,
                    cache,
                    user_lookup=options.user_lookup,
                    on_progress=self._stage,
                    users_per_hour=settings.users_get_per_hour,
                    workers=pool_size(options.concurrency),
                    stop=self.lookup_stop,
                    on_job_wait=self._export_waiting,
                )
                results = self._plan_and_execute(checked, resolver, client, state_dir)
            finally:
                self.warnings.extend(self.table.warnings)  # sheet choice, undecodable bytes
                self.warnings.extend(cache.warnings)
                if resolver is not None:
                    self.warnings.extend(resolver.warnings)
                    course_names = resolver.course_names()
                if self.state_source is not None:
                    self.warnings.extend(self.state_source.warnings)
                cache.close()
                self.summary.api_calls = dict(client.stats.calls)
                self.summary.throttled = client.stats.throttled
                self.summary.writes_made = client.stats.writes
                self.summary.grade_body = client.grade_body_description
                client.close()
            try:
                return self.job._report(
                    results,
                    self.table,
                    self.summary,
                    live=self.live,
                    aborted=self.aborted,
                    interrupted=self.interrupted,
                    cancelled=self.cancelled,
                    warnings=self.warnings,
                    ledger=self.ledger,
                    course_names=course_names,
                )
            finally:
                if self.ledger is not None:
                    self.ledger.close()

    def plan_only(self, checked: list[CheckedRow]) -> list[RowResult]:
        """Resolve and plan ``checked`` with read-only calls (the page's re-check of a row)."""
        options, settings = self.options, self.settings
        state_dir = resolve_state_dir(options.state_dir, settings)
        cache = LookupCache(
            None if options.no_cache else state_dir / "cache.sqlite3",
            settings.base_url,
            ttl_seconds=options.cache_ttl,
        )
        client = AlmClient(settings, max_rps=options.max_rps, give_up_after=options.give_up_after)
        try:
            resolver = Resolver(
                client, cache, user_lookup=options.user_lookup, stop=self.lookup_stop
            )
            plan = build_plan(
                checked,
                resolver,
                PlanOptions(overwrite=options.overwrite, user_lookup=options.user_lookup),
            )
            ledger_path = state_dir / "ledger.sqlite3"
            if ledger_path.exists():
                with _closing(Ledger(ledger_path)) as ledger:
                    apply_ledger(plan, ledger, settings.base_url, overwrite=options.overwrite)
            return [row.to_result() for row in plan.rows]
        finally:
            cache.close()
            client.close()

    def _plan_and_execute(
        self, checked: list[CheckedRow], resolver: Resolver, client: AlmClient, state_dir: Path
    ) -> list[RowResult]:
        job, options, summary = self.job, self.options, self.summary
        if self.live and job.confirm is None:
            # Nobody to ask (--yes, a scheduler, the page after "Run"): write for each learner
            # as soon as their state is read, while the others are still being read.
            return self._overlapped(checked, resolver, client, state_dir)
        job.emit(StageStarted("lookup"))
        ledger_path = state_dir / "ledger.sqlite3"
        if self.live or ledger_path.exists():
            self.ledger = Ledger(ledger_path)
        plan = Plan()
        shown = _RowsShown(self, plan, len(checked))
        try:
            build_plan(
                checked,
                resolver,
                self._plan_options(),
                on_progress=self._stage,
                on_learner_ready=lambda _user, indexes: shown(indexes),
                into=plan,
                state_source=self._state_source(client, state_dir, self.ledger),
                on_decided=shown,
            )
        except (Interrupted, AbortError) as exc:
            return self._stopped_before_writing(checked, exc)
        job.emit(StageFinished("lookup"))
        if self.ledger is not None:
            apply_ledger(plan, self.ledger, self.settings.base_url, overwrite=options.overwrite)
        self._summarise_plan(plan, client, state_dir, overlapped=not self.live)
        if self.live and plan.writes_needed and job.confirm is not None:
            # The reads are done: what is left to wait for is the writes.
            assert self.allowance is not None
            summary.estimate_seconds = self.allowance.seconds(
                0, plan.writes_needed, overlapped=True, tail=self._tail(plan, client)
            )
            job.emit(ConfirmationNeeded(summary))
            if not job.confirm(summary):
                self.live, self.cancelled, summary.dry_run = False, True, True
        if job.cancelling and self.live:
            # Cancelled between the plan and the first write: nothing was written.
            self.live, self.cancelled, summary.dry_run = False, True, True
        if not self.live or self.ledger is None:
            return [row.to_result() for row in plan.rows]
        self._start_run(self.ledger)
        started = time.monotonic()
        results = self._execute(plan, client, self.ledger, None)
        summary.actual_seconds = time.monotonic() - started
        return results

    def _plan_options(self) -> PlanOptions:
        return PlanOptions(overwrite=self.options.overwrite, user_lookup=self.options.user_lookup)

    def _state_source(
        self, client: AlmClient, state_dir: Path, ledger: Ledger | None
    ) -> StateSource:
        """Where the plan's learner state comes from (``batch.state_source``): a dry run may
        take it from ALM's learner transcript (kept in the state directory); a live run reads
        every learner and compares with the kept transcript."""
        options, settings = self.options, self.settings
        self.state_source = StateSource(
            client,
            SnapshotStore(None if options.no_cache else state_dir, settings.host),
            mode=options.state_source,
            live=self.live,
            max_age=options.cache_ttl,
            refresh=options.refresh_cache,
            read_seconds=lambda reads: read_seconds(client, settings, state_dir, reads),
            expected_seconds=settings.transcript_job_seconds,
            ledger=ledger,
            base_url=settings.base_url,
            on_status=self.job.emit,
            stop=self.lookup_stop,
        )
        return self.state_source

    def _stage(self, stage: str, done: int, total: int) -> None:
        self.job.emit(StageProgress(stage, done, total))

    def _export_waiting(self, wait: JobWait) -> None:
        """The users export job's progress, for the front end: what the run waits for."""
        if self.lookup_stop.is_set():
            raise Interrupted("Interrupted while waiting for ALM's users export job.")
        self.job.emit(
            StateStatus(
                "users",
                f"waiting for ALM's users export job {wait.job_id} ({wait.status}, "
                f"{wait.elapsed:.0f} s so far)",
                0,
            )
        )

    def _stopped_before_writing(self, checked: list[CheckedRow], exc: Exception) -> list[RowResult]:
        if isinstance(exc, AbortError):
            # Credentials refused or ALM unreachable before any write: exit 3, with the report.
            self.aborted = exc
            message = (
                f"Not attempted: ALM stopped the run before any write: {redact(str(exc))} "
                "Nothing was written; run the same command again once this is fixed."
            )
            return [not_attempted(c, message) for c in checked]
        # Cancelled while looking things up: nothing was written; every row is reported.
        self.interrupted = True
        return [not_attempted(c) for c in checked]

    def _summarise_plan(
        self, plan: Plan, client: AlmClient, state_dir: Path, *, overlapped: bool
    ) -> None:
        summary = self.summary
        self.allowance = allowance(client, self.settings, state_dir)
        summary.writes_planned = plan.writes_needed
        # Learner-state reads as made (second pages included), else one per learner.
        # (a live run reads every learner, even after a dry run that used ALM's transcript).
        reads = max(client.stats.calls.get(LEARNER_READS, 0), plan.learner_reads)
        summary.estimate_seconds = self.allowance.seconds(
            reads, plan.writes_needed, overlapped=overlapped, tail=self._tail(plan, client)
        )
        summary.writes_per_minute = self.allowance.writes_per_minute
        summary.estimate_basis = (
            f"{reads:,} learner reads at {self.allowance.reads_per_minute:,.0f}/min "
            f"{'beside' if overlapped else 'then'} {plan.writes_needed:,} writes at "
            f"{self.allowance.writes_per_minute:,.0f}/min ({self.allowance.source})"
        )
        summary.counts = dict(Counter(str(r.status) for r in plan.rows))
        summary.rows = len(plan.rows)
        if self.state_source is not None:
            summary.learner_state = self.state_source.description
            summary.learner_state_as_of = self.state_source.as_of
        self.job.emit(PlanReady(summary))

    @staticmethod
    def _tail(plan: Plan, client: AlmClient) -> float:
        """The end of a run: the last learner to start takes a few round trips after the
        allowance is spent: its rows one after another, in each the enrollment (when needed)
        and then its grades side by side."""
        chains: Counter[str] = Counter()
        for r in plan.rows:
            if r.writes:
                chains[r.user_id] += (1 if r.enroll else 0) + (1 if r.grades else 0)
        if not chains:
            return 0.0
        average = sum(chains.values()) / len(chains)
        latency = client.latency_seconds("POST") or client.latency_seconds("GET") or 0.25
        return average * latency

    def _start_run(self, ledger: Ledger) -> None:
        summary = self.summary
        ledger.start_run(
            summary.run_id,
            input_path=str(self.options.path),
            input_sha256=summary.input_sha256,
            options=summary.options,
        )

    def _overlapped(
        self, checked: list[CheckedRow], resolver: Resolver, client: AlmClient, state_dir: Path
    ) -> list[RowResult]:
        job, options = self.job, self.options
        ledger = self.ledger = Ledger(state_dir / "ledger.sqlite3")
        self._start_run(ledger)
        plan = Plan()
        # Learners ready to write, the longest chain of writes first: a learner's writes go
        # one after another, so starting long chains early keeps the end of the run short
        # (with one writer the order changes nothing, and input order is kept).
        ready: queue.PriorityQueue[tuple[float, int, tuple[str, list[int]] | None]]
        ready = queue.PriorityQueue()
        longest_first = options.concurrency != 1
        failure: list[Exception] = []
        base_url = self.settings.base_url

        settle = ExecuteOptions(self.summary.run_id, base_url, self.summary.input_sha256)
        order = itertools.count()  # ties (and one writer) keep input order

        def learner_ready(user_id: str, indexes: list[int]) -> None:
            mini = Plan([plan.rows[i] for i in indexes])
            apply_ledger(mini, ledger, base_url, overwrite=options.overwrite)
            close_entries_alm_shows_complete(mini, ledger, settle)
            writes = sum(r.writes for r in mini.rows) if longest_first else 0
            ready.put((-writes, next(order), (user_id, indexes)))

        def produce() -> None:
            try:
                build_plan(
                    checked,
                    resolver,
                    self._plan_options(),
                    on_progress=self._stage,
                    on_learner_ready=learner_ready,
                    into=plan,
                    state_source=self._state_source(client, state_dir, ledger),
                )
            except (Interrupted, AbortError) as exc:
                failure.append(exc)
            except Exception as exc:  # a bug: end the stream so the writers stop waiting
                log.exception("planning failed")
                failure.append(exc)
            finally:
                ready.put((math.inf, next(order), None))  # after every learner

        job.emit(StageStarted("lookup"))
        started = time.monotonic()
        producer = threading.Thread(target=produce, name="alm-plan", daemon=True)
        producer.start()

        def learners() -> Iterator[tuple[str, list[int]]]:
            while (item := ready.get()[2]) is not None:
                yield item

        results = self._execute(plan, client, ledger, learners())
        self.lookup_stop.set()  # the writers stopped early (abort, cancel): stop reading too
        producer.join()
        self.summary.actual_seconds = time.monotonic() - started
        job.emit(StageFinished("lookup"))
        if failure and len(plan.rows) != len(checked):
            # Stopped before any row was planned: nothing was written.
            return self._stopped_before_writing(checked, failure[0])
        if failure and isinstance(failure[0], AbortError) and self.aborted is None:
            self.aborted = failure[0]
        elif failure and not isinstance(failure[0], Interrupted):
            raise failure[0]
        self._summarise_plan(plan, client, state_dir, overlapped=True)
        return results

    def _execute(
        self,
        plan: Plan,
        client: AlmClient,
        ledger: Ledger,
        stream: Iterator[tuple[str, list[int]]] | None,
    ) -> list[RowResult]:
        job, options, summary = self.job, self.options, self.summary
        job.emit(StageStarted("execute"))

        def on_write(event: ProgressEvent) -> None:
            counts = event.counts
            job.emit(
                WriteProgress(
                    rows_done=counts.get("rows_done", 0),
                    rows_total=counts.get("rows_total", 0),
                    writes_done=counts.get("writes_done", 0),
                    writes_total=counts.get("writes_total", 0),
                    writes_made=counts.get("writes_made", 0),
                    rate_per_s=event.rate,
                    eta_seconds=event.eta_seconds,
                    throttled=client.stats.throttled,
                    elapsed=event.elapsed,
                )
            )

        outcome = execute_plan(
            plan,
            client,
            ledger,
            ExecuteOptions(
                run_id=summary.run_id,
                base_url=self.settings.base_url,
                input_sha256=summary.input_sha256,
                concurrency=pool_size(options.concurrency),
                overwrite=options.overwrite,
                verify=options.verify,
            ),
            on_progress=on_write,
            stop=job._stop,
            stream=stream,
        )
        job.emit(StageFinished("execute"))
        if outcome.aborted is not None:
            self.aborted = outcome.aborted
        self.interrupted = self.interrupted or outcome.interrupted
        if options.verify and outcome.aborted is None and not outcome.interrupted:
            job.emit(StageStarted("verify"))
            verify_results(outcome.results, plan, client)
            job.emit(StageFinished("verify"))
        return outcome.results
