"""The part of a job that talks to ALM: resolve and plan, then (live) execute.

A live run holds two locks while it runs: its ALM account's writer lock (``jobs/account.py``,
one live run per account on this machine, whatever the state directory) and the state
directory's lock (``ledger.StateLock``, one run per ledger). Its journal (``batch.journal``)
is opened here, used for the plan and the writes, and closed after the report.
"""

from __future__ import annotations

import itertools
import logging
import math
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING

from batch.alm.api import AlmClient
from batch.alm.jobs import JobWait
from batch.cache import LookupCache
from batch.confirmed import ConfirmedPlan
from batch.errors import AbortError, BatchError, ConfigError, Interrupted
from batch.execute import ExecuteOptions, execute_plan
from batch.jobs.concurrency import pool_size
from batch.jobs.estimate import Allowance, allowance, expect_remembered, read_seconds
from batch.jobs.events import (
    ConfirmationNeeded,
    PlanReady,
    RowsPlanned,
    StageFinished,
    StageProgress,
    StageStarted,
)
from batch.jobs.meter import WriteMeter
from batch.jobs.options import JobOutcome
from batch.journal import Journal
from batch.ledger import StateLock
from batch.models import CheckedRow, RowResult, RowStatus, RunSummary
from batch.plan import Plan, PlanOptions, build_plan
from batch.reader import Table
from batch.redact import redact
from batch.resolve import Resolver
from batch.row_outcome import REST
from batch.settings import Settings, resolve_state_dir
from batch.snapshot import SnapshotStore
from batch.state_source import StateSource, StateStatus
from batch.validate import duplicate_message, summarise_issues
from batch.verify import verify_results

if TYPE_CHECKING:
    from batch.jobs.engine import Job

log = logging.getLogger(__name__)

LEARNER_READS = "GET /users/{id}/enrollments"  # the call counted per learner (and page)
INTERRUPTED_LOOKUP = (
    "Not run: the run was cancelled while learners and courses were looked up in ALM; "
    f"nothing was written for this row. {REST}"
)
OFFLINE_VALID = (
    "Valid. Not checked against ALM (--offline): learner, course and modules are resolved "
    "when you run without --offline."
)


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
    """A row the run stopped before reaching (Ctrl-C or an abort while looking things up):
    ``not_run``, never tried (``unknown`` is for a write that may have landed)."""
    result = offline_result(checked)
    if result.status is RowStatus.VALID:
        result.status = RowStatus.NOT_RUN
        result.message = message
        result.retryable = True
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


class OnlineRun:
    """Resolve and plan a job's rows against ALM, then (live) write them."""

    def __init__(self, job: Job, settings: Settings, table: Table, summary: RunSummary) -> None:
        self.job = job
        self.options = job.options
        self.settings = settings
        self.table = table
        self.summary = summary
        self.live = not job.options.dry_run
        self.journal: Journal | None = None
        self.aborted: BatchError | None = None
        self.interrupted = False
        self.cancelled = False
        self.warnings: list[str] = []
        self.allowance: Allowance | None = None
        self.state_source: StateSource | None = None
        self.state_dir: Path | None = None
        self.enrolled_not_graded = 0  # learners enrolled whose grades the stop left unsent
        # Lookups stop on Cancel, and when the writers stopped (an abort) in an overlapped run.
        self.lookup_stop = threading.Event()
        job.on_cancel(self.lookup_stop)

    def run(self, checked: list[CheckedRow]) -> JobOutcome:
        options, settings = self.options, self.settings
        state_dir = self.state_dir = resolve_state_dir(options.state_dir, settings)
        lock: AbstractContextManager[object] = StateLock(state_dir) if self.live else nullcontext()
        with lock:
            if self.live:  # held already when the job was started (the page)
                self.job.claim_account(settings)
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
            # Cancel: nothing more is sent, not even what waits for the pacer; the page reads
            # the wire (writes in flight, how long ALM has been silent).
            client.stop_on(self.job.stop_event)
            self.job.wire = client.wire
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
                )
                resolver.on_job_wait = self._export_waiting(resolver.export_job_seconds)
                results = self._plan_and_execute(checked, resolver, client, state_dir)
                if options.dry_run and options.keep_results:
                    # What the dry run read (users, courses, learner state) re-decides rows
                    # after a fix with no new read (``jobs/fixes.py``).
                    self.job.lookups = resolver
            except BaseException:
                if self.journal is not None:
                    self.journal.close()
                raise
            finally:
                self.warnings.extend(self.table.warnings)  # sheet choice, undecodable bytes
                self.warnings.extend(cache.warnings)
                if self.journal is not None:
                    self.warnings.extend(self.journal.warnings)
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
                    journal=self.journal,
                    course_names=course_names,
                    enrolled_not_graded=self.enrolled_not_graded,
                )
            finally:
                if self.journal is not None:
                    self.journal.close()

    def plan_only(self, checked: list[CheckedRow]) -> list[RowResult]:
        """Resolve and plan ``checked`` with read-only calls (the page's re-check of rows),
        from what the dry run already read (``job.lookups``): only what a changed cell needs
        (a learner or a course the run did not look up) is read from ALM."""
        options, settings = self.options, self.settings
        state_dir = resolve_state_dir(options.state_dir, settings)
        cache = LookupCache(
            None if options.no_cache else state_dir / "cache.sqlite3",
            settings.base_url,
            ttl_seconds=options.cache_ttl,
        )
        client = AlmClient(settings, max_rps=options.max_rps, give_up_after=options.give_up_after)
        try:
            resolver = self.job.lookups
            if isinstance(resolver, Resolver):  # the dry run's answers, on today's client
                resolver.client, resolver.cache = client, cache
                resolver.stop, resolver.on_progress = self.lookup_stop, None
            else:
                resolver = self.job.lookups = Resolver(
                    client, cache, user_lookup=options.user_lookup, stop=self.lookup_stop
                )
            plan = build_plan(checked, resolver, self._plan_options())
            journal = self._open_journal(state_dir, create=False)
            if journal is not None:
                try:
                    journal.drop_done_writes(plan)
                finally:
                    journal.close()
            return [row.to_result() for row in plan.rows]
        finally:
            cache.close()
            client.close()

    def _open_journal(self, state_dir: Path, *, create: bool) -> Journal | None:
        return Journal.open(
            state_dir,
            base_url=self.settings.base_url,
            run_id=self.summary.run_id,
            input_sha256=self.summary.input_sha256,
            overwrite=self.options.overwrite,
            create=create,
        )

    def _plan_and_execute(
        self, checked: list[CheckedRow], resolver: Resolver, client: AlmClient, state_dir: Path
    ) -> list[RowResult]:
        job = self.job
        if self.live and job.confirm is None:
            # Nobody to ask (--yes, a scheduler, the page after "Run"): write for each learner
            # as soon as their state is read, while the others are still being read.
            return self._overlapped(checked, resolver, client, state_dir)
        # A person confirms (``run`` on a terminal): the plan shown is a dry run's (learner
        # state from ALM's learner transcript when that is quicker); once confirmed, the live
        # run reads each learner it writes for beside the writes, bound to the plan shown.
        confirming, self.live = self.live, False
        try:
            plan = self._plan(checked, resolver, client, state_dir)
        except (Interrupted, AbortError) as exc:
            self.live = confirming
            return self._stopped_before_writing(checked, exc)
        self.live = confirming
        if confirming:
            return self._confirm_then_write(plan, checked, resolver, client, state_dir)
        return [row.to_result() for row in plan.rows]

    def _plan(
        self, checked: list[CheckedRow], resolver: Resolver, client: AlmClient, state_dir: Path
    ) -> Plan:
        """The plan as a dry run makes it, its rows shown as they are decided. ``Interrupted``
        or ``AbortError`` when it stops before it is made."""
        job = self.job
        job.emit(StageStarted("lookup"))
        # The journal is open while the plan fills, so rows shown as their learner's state
        # arrives already leave out what earlier runs wrote.
        journal = self.journal = self._open_journal(state_dir, create=self.live)
        plan = Plan()
        shown = _RowsShown(self, plan, len(checked))
        build_plan(
            checked,
            resolver,
            self._plan_options(),
            on_progress=self._stage,
            on_learner_ready=lambda _user, indexes: shown(indexes),
            into=plan,
            state_source=self._state_source(client, state_dir, journal),
            on_decided=shown,
        )
        job.emit(StageFinished("lookup"))
        if journal is not None:
            journal.drop_done_writes(plan)
        # The estimate of a live run after this plan: it reads beside its writes.
        self._summarise_plan(plan, client, state_dir, overlapped=True)
        return plan

    def _confirm_then_write(
        self,
        plan: Plan,
        checked: list[CheckedRow],
        resolver: Resolver,
        client: AlmClient,
        state_dir: Path,
    ) -> list[RowResult]:
        """Ask (when the plan writes anything); once confirmed, the live run: bound to the rows
        and writes shown (``batch.confirmed``), reading each learner again whose state came
        from the transcript (a live run never trusts it), beside the writes."""
        job, summary = self.job, self.summary
        if plan.writes_needed:
            job.emit(ConfirmationNeeded(summary))
            if not job.confirm or not job.confirm(summary):
                self.live, self.cancelled, summary.dry_run = False, True, True
        if job.cancelling and self.live:
            # Cancelled between the plan and the first write: nothing was written.
            self.live, self.cancelled, summary.dry_run = False, True, True
        if not self.live:
            return [row.to_result() for row in plan.rows]
        if self.journal is not None:  # the dry run's; the live run opens its own
            self.journal.close()
            self.journal = None
        if self.state_source is not None:
            self.warnings.extend(self.state_source.warnings)
            for user_id in self.state_source.adopted:
                resolver.forget_enrollments(user_id)
        job.bound = ConfirmedPlan.from_results(
            (row.to_result() for row in plan.rows), estimate_seconds=summary.estimate_seconds
        )
        return self._overlapped(checked, resolver, client, state_dir)

    def _plan_options(self) -> PlanOptions:
        return PlanOptions(overwrite=self.options.overwrite, user_lookup=self.options.user_lookup)

    def _state_source(
        self, client: AlmClient, state_dir: Path, journal: Journal | None
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
            ledger=journal.ledger if journal is not None else None,
            base_url=settings.base_url,
            on_status=self.job.emit,
            stop=self.lookup_stop,
        )
        return self.state_source

    def _stage(self, stage: str, done: int, total: int) -> None:
        self.job.emit(StageProgress(stage, done, total))

    def _export_waiting(self, expected: float) -> Callable[[JobWait], None]:
        """The users export job's progress, for the front end: what the run waits for, and the
        time left (``expected``: what the resolver counts an export to take)."""

        def on_wait(wait: JobWait) -> None:
            if self.lookup_stop.is_set():
                raise Interrupted("Interrupted while waiting for ALM's users export job.")
            self.job.emit(
                StateStatus(
                    "users",
                    f"waiting for ALM's users export job {wait.job_id} ({wait.status}, "
                    f"{wait.elapsed:.0f} s so far)",
                    0,
                    eta_seconds=max(0.0, expected - wait.elapsed),
                )
            )

        return on_wait

    def _stopped_before_writing(self, checked: list[CheckedRow], exc: Exception) -> list[RowResult]:
        if isinstance(exc, AbortError):
            # Credentials refused or ALM unreachable before any write: exit 3, with the report.
            self.aborted = exc
            message = (
                f"Not run: ALM stopped the run before any write: {redact(str(exc))} "
                "Nothing was written; run it again once this is fixed."
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
        if self.state_source is not None:
            summary.learner_state = self.state_source.description
            summary.learner_state_as_of = self.state_source.as_of
        summary.rows = len(plan.rows)
        bound = self.job.bound
        if bound is not None:  # a live run is bound to the confirmation: its totals are these
            summary.writes_planned = bound.writes_total
            if bound.estimate_seconds is not None:
                summary.estimate_seconds = bound.estimate_seconds
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

    def _start_run(self, journal: Journal) -> None:
        journal.start(input_path=str(self.options.path), options=self.summary.options)

    def _overlapped(
        self, checked: list[CheckedRow], resolver: Resolver, client: AlmClient, state_dir: Path
    ) -> list[RowResult]:
        job, options = self.job, self.options
        journal = self.journal = self._open_journal(state_dir, create=True)
        assert journal is not None
        self._start_run(journal)
        plan = Plan()
        # Learners ready to write, the longest chain of writes first: a learner's writes go
        # one after another, so starting long chains early keeps the end of the run short
        # (with one writer the order changes nothing, and input order is kept).
        ready: queue.PriorityQueue[tuple[float, int, tuple[str, list[int]] | None]]
        ready = queue.PriorityQueue()
        longest_first = options.concurrency != 1
        failure: list[Exception] = []
        order = itertools.count()  # ties (and one writer) keep input order

        def learner_ready(user_id: str, indexes: list[int]) -> None:
            mini = Plan([plan.rows[i] for i in indexes])
            journal.prepare_learner(mini)
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
                    state_source=self._state_source(client, state_dir, journal),
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
            # Ends when the planner does (the ``None`` it puts last), which a Cancel ends at
            # once (``lookup_stop``; its reads wait for no pacer), bar the answers of reads
            # already on the wire: the results need the whole plan.
            while (item := ready.get()[2]) is not None:
                yield item

        results = self._execute(plan, client, journal, learners())
        self.lookup_stop.set()  # the writers stopped early (abort, cancel): stop reading too
        producer.join()
        self.summary.actual_seconds = time.monotonic() - started
        job.emit(StageFinished("lookup"))
        if failure and len(plan.rows) != len(checked):
            # Stopped before any row was planned: nothing was written.
            return self._stopped_before_writing(checked, failure[0])
        if failure and isinstance(failure[0], AbortError) and self.aborted is None:
            self.aborted = failure[0]
        elif failure and not isinstance(failure[0], Interrupted | AbortError):
            raise failure[0]
        self._summarise_plan(plan, client, state_dir, overlapped=True)
        return results

    def _execute(
        self,
        plan: Plan,
        client: AlmClient,
        journal: Journal,
        stream: Iterator[tuple[str, list[int]]],
    ) -> list[RowResult]:
        job, options, summary = self.job, self.options, self.summary
        # The plan the person confirmed binds the writes: the page's (its dry run's rows), or
        # the one this run just showed at its question (``_confirm_then_write``).
        bound = job.bound
        meter = WriteMeter(
            job,
            client,
            allowance(client, self.settings, self.state_dir).writes_per_minute,
            client.stats,
        )
        if bound is not None:
            # The totals and the time they take first, so no front end ever sees the write
            # stage without them.
            meter.start(bound.rows_total, bound.writes_total)
        job.emit(StageStarted("execute"))
        outcome = execute_plan(
            plan,
            client,
            journal.ledger,
            ExecuteOptions(
                run_id=summary.run_id,
                base_url=self.settings.base_url,
                input_sha256=summary.input_sha256,
                concurrency=pool_size(options.concurrency),
                overwrite=options.overwrite,
                verify=options.verify,
                bound=bound,
            ),
            on_progress=meter,
            stop=job.stop_event,
            stream=stream,
        )
        job.emit(StageFinished("execute"))
        self.enrolled_not_graded = outcome.enrolled_not_graded
        if outcome.aborted is not None:
            self.aborted = outcome.aborted
        self.interrupted = self.interrupted or outcome.interrupted
        if options.verify and outcome.aborted is None and not outcome.interrupted:
            job.emit(StageStarted("verify"))
            verify_results(outcome.results, plan, client, stop=job.stop_event)
            job.emit(StageFinished("verify"))
        return outcome.results


class _RowsShown:
    """Emits ``RowsPlanned`` as a plan fills: the rows decided without learner state at once,
    then each learner's rows (with what the ledger already did) as their state arrives."""

    def __init__(self, run: OnlineRun, plan: Plan, total: int) -> None:
        self.run, self.plan, self.total = run, plan, total
        self.shown = 0
        self.lock = threading.Lock()

    def __call__(self, indexes: list[int]) -> None:
        run = self.run
        mini = Plan([self.plan.rows[i] for i in indexes])
        if run.journal is not None:
            run.journal.drop_done_writes(mini)
        results = tuple(r.to_result() for r in mini.rows)
        with self.lock:
            self.shown += len(results)
            waiting = self.total - self.shown
        run.job.emit(RowsPlanned(results, waiting))
