"""Runs a ``Plan`` against ALM: concurrency, the ledger, and lost-response recovery.

The rules this module keeps (product.md "Execute", house-style "Errors"):

* Every write is journaled ``pending`` (committed) before it is sent, and ``done`` / ``failed``
  / ``unknown`` after its answer, so ``kill -9`` at any moment loses nothing.
* A write is never repeated blindly. A lost answer (``WriteUncertain``: 5xx, read timeout,
  dropped connection) or a ``pending`` entry left by a dead run is settled by reading the
  learner's enrollments: ALM has it -> ``done``; ALM does not -> re-sent (journaled again);
  ALM cannot be read -> ``unknown`` (the next run settles it).
* Transient faults are retried, never given up after a fixed two: each one is followed by a
  backoff (exponential, with jitter), a read of ALM's state, and a re-send only if the write is
  not there, within the write's budget (``WriteRetry``: ALM_WRITE_RETRIES re-sends,
  ALM_WRITE_RETRY_SECONDS). What outlasts the budget is a *retryable* failure
  (``RowResult.retryable``; exit 4 when nothing else is wrong); a 400/403/404 is a refusal.
* Rows are grouped by learner; one worker runs a learner's rows in input order. Two workers
  never enroll the same learner at once, and one enrollment read settles all of that learner's
  open entries. Once a row's enrollment exists, its module grades are independent writes: they
  are posted side by side (each journaled on its own), so a learner's chain of round trips is
  enrollment + one grade, not enrollment + every grade. The shared rate limiter lives in the
  client, and a gate admits at most ``concurrency`` writes in flight (``--concurrency``), so
  the write allowance is kept busy without being exceeded.
* Row-level problems never raise. ``AuthError`` / ``ApiUnreachable`` stop the run: no new
  write starts, writes in flight finish, and ``ExecuteResult.aborted`` says why (exit 3).
  ``stop`` (Ctrl-C, Cancel) does the same with ``interrupted=True`` (exit 130). "In flight"
  means sent and not yet answered: a write waiting for the pacer, a pool slot, a retry, the
  verdict on the grade body or the learner enrolled ahead of its grades is never sent once the
  run stops, and stops waiting at once (the client raises ``NotSent``; its journal entry is
  withdrawn).
  No new enrollment starts after a stop; a learner whose enrollment was sent but whose grades
  were not is counted (``enrolled_not_graded``) and its row says so: running the remaining
  rows posts the grades.
* ``ExecuteOptions.bound`` (the plan a person confirmed, ``batch.confirmed``): no write outside
  it is sent. A row that would need another write (ALM changed since the dry run) is not
  written and says so; the progress totals are the confirmation's and never change.

Rows that never started because the run stopped, or that stopped between two of their writes
with nothing unsure, end ``not_run`` (retryable: running the remaining rows sends what is
left); ``unknown`` stays for a write that may or may not have landed (``batch.row_outcome``).

Progress counts a write when ALM answers it (``writes_answered``), never when it is queued.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import nullcontext
from dataclasses import dataclass, field

from batch.alm.retry import RetryBudget, WriteRetry
from batch.alm.types import GradeRequest
from batch.confirmed import ConfirmedPlan, write_label
from batch.errors import (
    AbortError,
    ApiError,
    AuthError,
    BatchError,
    Interrupted,
    NotSent,
    WriteRefused,
    WriteUncertain,
)
from batch.gate import PoolGate
from batch.ledger import Ledger, WriteKey, WriteState, utc_now
from batch.models import RowResult, RowStatus
from batch.plan import Plan, RowPlan, grade_label
from batch.programs import PROGRAM_ENROLLS_COURSES, ProgramPlan
from batch.row_outcome import (
    AGAIN,
    RowRun,
    internal_error,
    not_run,
    outside_message,
    program_state,
    sentence,
)
from batch.settle import GatesWrites, LearnerState, WriteClient

__all__ = [
    "ExecuteOptions",
    "ExecuteResult",
    "ProgressEvent",
    "execute_plan",
]

log = logging.getLogger(__name__)

_OPEN = (WriteState.PENDING, WriteState.UNKNOWN)
_AGAIN = AGAIN
RATE_WINDOW = 60.0  # the rate is the writes ALM answered in the last minute
WriteHook = Callable[[str, int], None]
# A seam for tests, never set in production: ``write_hook(point, n)`` is called with
# ``"before-send"`` once the run's Nth HTTP write is journaled ``pending`` but not yet sent, and
# ``"after-send"`` once its answer arrived (accepted) but is not yet journaled. The crash tests
# (tests/crash_cli.py) set it to SIGKILL the CLI at an exact write.
write_hook: WriteHook | None = None


@dataclass(slots=True)
class ExecuteOptions:
    run_id: str
    base_url: str
    input_sha256: str
    concurrency: int = 4  # writes in flight at once, and the threads that send them
    overwrite: bool = False
    verify: bool = False  # recorded for the run; the caller runs ``verify_results`` afterwards
    # The retry budget of each write through transient faults; None: the client's
    # (``AlmClient.write_retry``, from ALM_WRITE_RETRIES / ALM_WRITE_RETRY_SECONDS).
    retry: WriteRetry | None = None
    # The plan a person confirmed: no write outside it is sent, its totals are the progress's
    # (None: an unattended run, bound only by its own plan).
    bound: ConfirmedPlan | None = None


@dataclass(frozen=True, slots=True)
class ProgressEvent:
    """One step of a live run, for the CLI's progress bars.

    ``kind``: ``"write"`` (one planned write resolved: sent and answered, or skipped as already
    done; ``status`` is done / failed / unknown / skipped), ``"settle"`` (an open journal entry
    settled by reading ALM; ``status`` landed / not_landed), ``"row_done"`` (``status`` is the
    row's final status). ``counts`` holds ``rows_total`` (rows with writes planned: the
    confirmation's when the run is bound to one), ``rows_done``, ``writes_total`` (planned),
    ``writes_done`` (planned writes settled: answered by ALM, or found done; never counted
    while queued), ``writes_answered`` (HTTP writes ALM answered), ``writes_made`` (HTTP writes
    sent), ``grades_posted``, ``enrollments_made``, ``settled``, ``enrolled_not_graded``
    (learners this run enrolled whose grades were not all sent), and one count per final row
    status. ``rate_per_minute``: the writes ALM answered in the last minute.
    """

    kind: str
    row: int
    status: str
    counts: dict[str, int]
    elapsed: float
    result: RowResult | None = None  # ``row_done``: the row's result, as the report shows it
    rate_per_minute: float = 0.0

    @property
    def rate(self) -> float:
        """Writes ALM answered per second, over the last minute."""
        return self.rate_per_minute / 60.0

    @property
    def eta_seconds(self) -> float | None:
        """Time left at the current pace (None before the first answer). A front end that
        knows the account's allowance estimates from it instead (``jobs/online.py``)."""
        if self.rate_per_minute <= 0:
            return None
        left = max(self.counts.get("writes_total", 0) - self.counts.get("writes_done", 0), 0)
        return left * 60.0 / self.rate_per_minute


@dataclass(slots=True)
class ExecuteResult:
    results: list[RowResult]
    aborted: BatchError | None = None
    interrupted: bool = False
    writes_made: int = 0  # HTTP writes sent (enrollments + grades, re-sends included)
    grades_posted: int = 0  # grades ALM accepted (or shown landed after a lost answer)
    enrollments_made: int = 0
    settled: int = 0  # open journal entries settled by reading ALM
    counts: dict[str, int] = field(default_factory=dict)
    enrolled_not_graded: int = 0  # learners enrolled by this run whose grades were not all sent


class _Executor:
    def __init__(
        self,
        plan: Plan,
        client: WriteClient,
        ledger: Ledger,
        options: ExecuteOptions,
        on_progress: Callable[[ProgressEvent], None] | None,
        stop: threading.Event | None,
    ) -> None:
        self.plan = plan
        self.client = client
        self.ledger = ledger
        self.opt = options
        self.on_progress = on_progress
        self.stop = stop or threading.Event()
        self.halt = threading.Event()  # set on abort or stop: no new write starts
        self.bound = options.bound
        self.aborted: BatchError | None = None
        self.interrupted = False
        self.results: dict[int, RowResult] = {}  # plan index -> result (rows may stream in)
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.peak_workers = 0
        self.t0 = time.monotonic()
        self._hook = write_hook  # None outside the crash tests
        # Writes in flight at once: ``concurrency``. The real client holds a slot only while a
        # write is out; a double is gated around the call.
        self._call_gate: PoolGate | None = None
        if isinstance(client, GatesWrites):
            self._gate = client.limit_writes(options.concurrency)
        else:
            self._gate = self._call_gate = PoolGate(options.concurrency)
        # Threads for a row's grades posted beside its first one (None: one at a time).
        self._grades: ThreadPoolExecutor | None = None
        retry = options.retry or getattr(client, "write_retry", None)
        self.retry: WriteRetry = retry if isinstance(retry, WriteRetry) else WriteRetry()
        self.answers: deque[float] = deque()  # when ALM answered each write (the last minute)
        self.enrolled_only: set[str] = set()  # learners enrolled here, grades not all sent
        # Nothing more is sent once the run stops or aborts, not even a write already waiting
        # for the pacer or a pool slot (the real client; a double sends at once anyway).
        stop_on = getattr(client, "stop_on", None)
        if callable(stop_on):
            stop_on(self.halt)

    # --- bookkeeping -----------------------------------------------------------------------
    def halted(self) -> bool:
        if self.stop.is_set():
            self.interrupted = True
            self.halt.set()
        return self.halt.is_set()

    def _stopping(self) -> bool:
        """Stopping or aborting (no side effect: what a wait looks at)."""
        return self.stop.is_set() or self.halt.is_set()

    def _abort(self, exc: AbortError) -> None:
        with self._lock:
            if self.aborted is None:
                self.aborted = exc
        self.halt.set()

    def _stop_reason(self) -> str:
        if self.aborted is not None:
            return f"the run stopped because {sentence(self.aborted.message)}"
        return "the run was cancelled"

    def _not_attempted(self, rp: RowPlan) -> RowResult:
        return not_run(rp, self._stop_reason())

    def _count(self, **add: int) -> None:
        with self._lock:
            self.counts.update(add)

    def _count_send(self) -> int:
        """Number one HTTP write about to be sent in this run (1, 2, ...): the crash tests'
        seam counts by it."""
        with self._lock:
            self.counts.update(sends=1)
            return self.counts["sends"]

    def _answered(self) -> None:
        """ALM answered a write (any status): what the progress counts, and its rate."""
        now = time.monotonic()
        with self._lock:
            self.counts.update(writes_answered=1)
            self.answers.append(now)
            while self.answers and self.answers[0] < now - RATE_WINDOW:
                self.answers.popleft()

    def _rate_per_minute(self, now: float) -> float:
        """Writes ALM answered in the last minute: a rate per minute that a burst at the start
        cannot inflate (called with the lock held)."""
        while self.answers and self.answers[0] < now - RATE_WINDOW:
            self.answers.popleft()
        return float(len(self.answers))

    def _resolved(self, rr: RowRun, status: str, **add: int) -> None:
        """One planned write of ``rr`` settled (answered, found done, or given up on)."""
        rr.resolved += 1
        self._emit("write", rr.rp.row, status, None, writes_done=1, **add)

    def _emit(
        self, kind: str, row: int, status: str, result: RowResult | None = None, **add: int
    ) -> None:
        with self._lock:
            self.counts.update(add)
            if self.on_progress is None:
                return
            now = time.monotonic()
            self.counts["enrolled_not_graded"] = len(self.enrolled_only)
            event = ProgressEvent(
                kind, row, status, dict(self.counts), now - self.t0, result,
                self._rate_per_minute(now),
            )  # fmt: skip
            try:
                self.on_progress(event)
            except Exception:  # a progress display must never break a run
                log.exception("progress callback failed")

    # --- the run ---------------------------------------------------------------------------
    def run(self, stream: Iterable[tuple[str, list[int]]] | None = None) -> None:
        """Run the plan's learners; ``stream`` instead yields them as they become planned
        (the plan's rows fill in meanwhile) and ends when planning is over."""
        if stream is None:
            groups: dict[str, list[int]] = {}
            for i, rp in enumerate(self.plan.rows):
                if rp.status is RowStatus.WOULD_COMPLETE:
                    groups.setdefault(rp.user_id, []).append(i)
            stream = list(groups.items())
            cap = max(1, min(self.opt.concurrency, len(groups)))
            self.counts.update(
                rows_total=sum(len(g) for g in groups.values()),
                writes_total=self.plan.writes_needed,
            )
            growing = False
        else:
            cap = max(1, self.opt.concurrency)
            growing = True  # totals grow as learners are planned
        if self.bound is not None:  # the confirmation's totals, fixed for the whole run
            self.counts["rows_total"] = self.bound.rows_total
            self.counts["writes_total"] = self.bound.writes_total
            growing = False
        # ``cap`` long-lived workers pull learners from one queue (bounded memory, O(1)
        # scheduling for tens of thousands of learners); the gate lets ``concurrency`` writes
        # go at once.
        queue = iter(stream)
        queue_lock = threading.Lock()
        if self.opt.concurrency > 1:  # one writer (--concurrency 1): one write at a time
            self._grades = ThreadPoolExecutor(
                max_workers=self.opt.concurrency, thread_name_prefix="alm-grade"
            )

        def worker() -> None:
            while not self.halted():
                with queue_lock:
                    item = next(queue, None)
                if item is None:
                    return
                user_id, indexes = item
                wanted = [
                    i for i in indexes if self.plan.rows[i].status is RowStatus.WOULD_COMPLETE
                ]
                self._nothing_to_write([i for i in indexes if i not in wanted])
                if growing:
                    self._count(
                        rows_total=len(wanted),
                        writes_total=sum(self.plan.rows[i].writes for i in wanted),
                    )
                if wanted:
                    self._run_user(user_id, wanted)

        pool = ThreadPoolExecutor(max_workers=cap, thread_name_prefix="alm-write")
        futures = {pool.submit(worker) for _ in range(cap)}
        try:
            while futures:
                try:
                    _, futures = wait(futures, timeout=0.5)
                except KeyboardInterrupt:
                    # No handler installed by the caller: behave as if ``stop`` was set. A
                    # Ctrl-C once ``stop`` is set (our first one, or the caller's handler that
                    # set it and now raises: the CLI's) gives up waiting; the ledger is
                    # consistent either way.
                    if self.stop.is_set():
                        raise
                    self.stop.set()
        finally:
            pool.shutdown(wait=True)
            if self._grades is not None:
                self._grades.shutdown(wait=True)
        self.halted()
        self.peak_workers = self._gate.peak

    def _nothing_to_write(self, indexes: list[int]) -> None:
        """Confirmed rows the live plan finds nothing to write for: done, as far as the
        confirmation's totals go (their writes too when ALM or an earlier run has them now)."""
        bound = self.bound
        if bound is None:
            return
        for i in indexes:
            rp = self.plan.rows[i]
            planned = len(bound.rows.get(rp.row, ()))
            if planned:
                settled = planned if rp.status.ok else 0
                self._emit("row_done", rp.row, str(rp.status), rows_done=1, writes_done=settled)

    def finish(self) -> list[RowResult]:
        """One result per plan row, in input order (call once planning is over)."""
        out: list[RowResult] = []
        for i, rp in enumerate(self.plan.rows):
            result = self.results.get(i)
            if result is None:
                if rp.status is RowStatus.WOULD_COMPLETE:
                    result = self._not_attempted(rp)
                else:
                    result = rp.to_result()
            out.append(result)
        return out

    def _run_user(self, user_id: str, indexes: list[int]) -> None:
        learner = LearnerState(self.client, user_id)
        try:
            if not self.halted():
                self._settle_open(learner)
        except AbortError as exc:
            self._abort(exc)
        except Interrupted:
            self.halted()  # stopped while reading: the rows below are not run
        except Exception:  # rows below report what they cannot settle; never lose a worker
            log.exception("settling earlier writes of learner %s failed", user_id)
        programs: list[tuple[int, RowRun]] = []  # program rows that completed
        for i in indexes:
            rp = self.plan.rows[i]
            if self.halted():
                self.results[i] = self._not_attempted(rp)
                continue
            rr = RowRun(rp)
            outside = self.bound.outside(rp.row, rp.write_labels()) if self.bound else []
            if outside:  # ALM changed since the confirmed dry run: nothing is sent for it
                rr.outside = outside_message(outside)
            else:
                try:
                    self._run_row(rr, learner)
                except AbortError as exc:
                    self._abort(exc)
                    rr.stopped = self._stop_reason()
                except Interrupted:
                    self.halted()
                    rr.stopped = self._stop_reason()
                except Exception as exc:  # a bug must not lose the rest of the run
                    rr.unknown = internal_error(rp.row, exc)
            result = rr.result()
            self.results[i] = result
            if rp.program is not None and result.status is RowStatus.COMPLETED:
                programs.append((i, rr))
            if rr.enrolled and result.status is not RowStatus.COMPLETED:
                with self._lock:
                    self.enrolled_only.add(user_id)
            # A confirmed row that needed fewer writes than confirmed (ALM has some now).
            unneeded = len(self.bound.rows.get(rp.row, ())) - rr.resolved if self.bound else 0
            self._emit(
                "row_done",
                rp.row,
                str(result.status),
                result,
                rows_done=1,
                writes_done=max(0, unneeded) if result.status.ok else 0,
                **{str(result.status): 1},
            )
        if programs and not self.halted():
            self._program_notes(learner, programs)

    def _program_notes(self, learner: LearnerState, runs: list[tuple[int, RowRun]]) -> None:
        """Once all the learner's rows are written (other rows may grade a program's courses):
        say on each program row whether ALM shows the program completed yet (one read)."""
        try:
            for n, (i, rr) in enumerate(runs):
                assert rr.rp.program is not None
                rr.program_note = program_state(learner, rr.rp.program, fresh=n == 0)
                self.results[i] = rr.result()
        except AbortError as exc:  # the rows are written; only the note is missing
            self._abort(exc)
        except Interrupted:  # stopping: the rows are written; only the note is missing
            self.halted()

    def _settle_open(self, learner: LearnerState) -> None:
        """Settle what earlier runs left open for this learner, with one read, before any
        of the learner's keys is touched again."""
        entries = self.ledger.for_users(self.opt.base_url, [learner.user_id]).values()
        open_entries = [e for e in entries if e.state in _OPEN]
        if not open_entries or learner.read() is None:
            return
        for entry in open_entries:
            self._settle(entry.key, entry.row, learner, fresh=False)

    def _settle(
        self, key: WriteKey, row: int, learner: LearnerState, *, fresh: bool
    ) -> bool | None:
        """Read ALM: True (landed, journaled done), False (not landed, journaled failed so
        a re-send is safe), None (cannot read now; the entry stays open)."""
        landed = learner.landed(key, fresh=fresh)
        if landed is None:
            return None
        if landed:
            self.ledger.finish(key, WriteState.DONE, message="Confirmed by reading ALM.")
        else:
            self.ledger.finish(
                key, WriteState.FAILED, message="Not found in ALM after an unanswered write."
            )
        self._emit("settle", row, "landed" if landed else "not_landed", settled=1)
        return landed

    def _run_row(self, rr: RowRun, learner: LearnerState) -> None:
        rp = rr.rp
        if rp.enroll:
            key = WriteKey.for_enroll(self.opt.base_url, rp.user_id, rp.course_id, rp.instance_id)
            if not self._write(rr, key, learner, None):
                return
        if rp.program is not None and not self._enroll_courses(rr, learner, rp.program):
            return
        self._grade(rr, learner)

    def _enroll_courses(self, rr: RowRun, learner: LearnerState, program: ProgramPlan) -> bool:
        """A program row: enroll the learner in the courses its program enrollment did not
        (``batch.programs``), each journaled like any enrollment.

        The plan counts on a program's enrollment enrolling the learner in its courses
        (``PROGRAM_ENROLLS_COURSES``), which ALM implies but does not document: once this row
        enrolled the learner, one read checks it, and a course the row grades but ALM did not
        enroll them in is enrolled directly (a write the plan did not count; the row says so)
        rather than left to fail on its grades. A run bound to a confirmed plan sends no such
        write: the row stops there and says why (a new dry run plans the enrollment)."""
        wanted = list(program.course_enrolls)
        if rr.rp.enroll and PROGRAM_ENROLLS_COURSES:
            enrollments = learner.read(fresh=True)
            have = {e.lo_id for e in enrollments or ()}
            for sub in program.graded if enrollments is not None else ():
                if sub.course_id not in have and (sub.course_id, sub.instance_id) not in wanted:
                    wanted.append((sub.course_id, sub.instance_id))
                    rr.unplanned.append(sub.name)
        for course_id, instance_id in wanted:
            key = WriteKey.for_enroll(self.opt.base_url, rr.rp.user_id, course_id, instance_id)
            if not self._write(rr, key, learner, None):
                if rr.outside and rr.unplanned:
                    names = ", ".join(f"'{n}'" for n in rr.unplanned)
                    rr.outside = (
                        f"Not written further: ALM did not enroll the learner in {names} through "
                        f"{program.label}, and enrolling them directly is a write the "
                        "confirmation did not include."
                    )
                return False
        return True

    def _grade(self, rr: RowRun, learner: LearnerState) -> None:
        rp = rr.rp
        grades = list(rp.grades)
        if self._grades is None or len(grades) < 2:
            for grade in grades:
                key = WriteKey.for_grade(self.opt.base_url, grade)
                if not self._write(rr, key, learner, grade):
                    return
            return
        # The enrollment exists: the grades are independent writes, posted side by side (the
        # first from this thread). Each is journaled and settled on its own; a problem with one
        # does not stop the others already on their way.
        parts = [RowRun(rp) for _ in grades[1:]]
        futures = [
            self._grades.submit(self._grade_part, part, learner, grade)
            for part, grade in zip(parts, grades[1:], strict=True)
        ]
        stop: AbortError | Interrupted | None = None
        try:
            self._write(rr, WriteKey.for_grade(self.opt.base_url, grades[0]), learner, grades[0])
        except (AbortError, Interrupted) as exc:
            stop = exc
        for future in futures:  # every write in flight finishes before the row is reported
            error = future.exception()
            if isinstance(error, AbortError | Interrupted) and stop is None:
                stop = error
        rr.merge(parts)
        if stop is not None:
            raise stop

    def _grade_part(self, part: RowRun, learner: LearnerState, grade: GradeRequest) -> None:
        """One grade of a row posted beside the others (see ``_run_row``)."""
        try:
            self._write(part, WriteKey.for_grade(self.opt.base_url, grade), learner, grade)
        except AbortError as exc:
            self._abort(exc)  # no new write starts; the row's thread reports the stop
            raise
        except Interrupted:  # a read to settle it was not sent: the run is stopping
            self.halted()
            part.stopped = self._stop_reason()
        except Exception as exc:  # a bug must not lose the rest of the run
            part.unknown = internal_error(part.rp.row, exc)

    def _write(
        self, rr: RowRun, key: WriteKey, learner: LearnerState, grade: GradeRequest | None
    ) -> bool:
        """Make sure one write (an enrollment when ``grade`` is None) is done, re-sending only
        after reading ALM. False when the row cannot go on (refused, unconfirmed, stopping)."""
        entry = self.ledger.get(key)
        if entry is not None and entry.state is WriteState.DONE:
            if grade is None or not self.opt.overwrite or entry.run_id == self.opt.run_id:
                if grade is not None:
                    rr.earlier.append(entry)
                self._resolved(rr, "skipped")
                return True
        elif entry is not None and entry.state in _OPEN:
            landed = self._settle(key, rr.rp.row, learner, fresh=entry.run_id == self.opt.run_id)
            if landed is None:
                rr.unknown = (
                    f"An earlier write for module {key.module_id or 'enrollment'} was never "
                    f"answered and ALM cannot be read to check it ({learner.error_text}). {_AGAIN}"
                )
                rr.retryable = True
                return False
            if landed:
                done = self.ledger.get(key)
                if grade is not None and done is not None:
                    rr.earlier.append(done)
                self._resolved(rr, "skipped")
                return True
        if grade is not None:
            label = grade_label(grade)
        else:
            label = write_label("enroll", key.user_id, key.course_id, key.instance_id)
        if self.bound is not None and not self.bound.allows(rr.rp.row, label):
            rr.outside = outside_message([label])  # a write the person did not confirm
            return False
        if self.halted():
            rr.stopped = self._stop_reason()
            return False
        what = f"the grade for module {key.module_id}" if grade is not None else "the enrollment"
        budget = self.retry.start()
        while True:
            before = self.ledger.get(key)
            self.ledger.begin(key, self.opt.run_id, self.opt.input_sha256, rr.rp.row)
            rr.attempts += 1
            nth = self._count_send()
            if self._hook is not None:
                self._hook("before-send", nth)
            try:
                gate = self._call_gate
                with gate.slot(self._stopping) if gate is not None else nullcontext():
                    if grade is not None:
                        self.client.post_grade(grade)
                    else:
                        self.client.enroll(key.user_id, key.course_id, key.instance_id)
                if self._hook is not None:
                    self._hook("after-send", nth)
            except NotSent:
                # It waited for its turn (the pacer, a pool slot, a retry) and the run stopped:
                # nothing reached ALM, so the journal is as if it had never been planned.
                self.ledger.withdraw(key, before)
                rr.attempts -= 1
                rr.stopped = self._stop_reason()
                self.halted()
                return False
            except WriteUncertain as exc:
                # A 5xx, a timeout or a dropped connection after sending: it may have landed.
                self._count(writes_made=1)
                if exc.status:
                    self._answered()
                self.ledger.finish(
                    key, WriteState.UNKNOWN, status=exc.status or None, message=exc.describe()
                )
                more = budget.pause(self.halted)  # back off first: let ALM catch up
                # Stopping: no read now (the next run reads ALM before sending it again).
                landed = (
                    None if self.halted() else self._settle(key, rr.rp.row, learner, fresh=True)
                )
                if landed:
                    self._accepted(rr, grade is not None)
                    return True
                if landed is None:
                    why = (
                        "the run stopped before ALM could be read to check it"
                        if self.halted()
                        else f"ALM cannot be read to check it ({learner.error_text})"
                    )
                    rr.unknown = (
                        f"The answer to {what} was lost ({exc.describe()}) and {why}. {_AGAIN}"
                    )
                    rr.retryable = True
                    self._resolved(rr, "unknown")
                    return False
                if more:
                    continue  # confirmed not landed: a journaled re-send
                return self._gave_up(rr, what, budget, exc)
            except ApiError as exc:
                self._count(writes_made=1)
                self._answered()
                if grade is None and exc.status == 409:  # already enrolled
                    self.ledger.finish(key, WriteState.DONE, status=409, message=exc.describe())
                    self._resolved(rr, "done")
                    return True
                self.ledger.finish(
                    key, WriteState.FAILED, status=exc.status or None, message=exc.describe()
                )
                if exc.status == 429:  # throttled past the transport's patience: not applied
                    if budget.pause(self.halted):
                        continue
                    return self._gave_up(rr, what, budget, exc)
                rr.failure = f"ALM refused {what}: {exc.describe()}"
                self._resolved(rr, "failed")
                return False
            except (AuthError, WriteRefused) as exc:  # refused (401, 403, every body): not applied
                self._count(writes_made=1)
                self._answered()
                self.ledger.finish(key, WriteState.FAILED, message=exc.message)
                raise
            except AbortError as exc:  # no answer for too long: it may have landed
                self._count(writes_made=1)
                self.ledger.finish(key, WriteState.UNKNOWN, message=exc.message)
                raise
            self._count(writes_made=1)
            self._answered()
            self.ledger.finish(key, WriteState.DONE)
            self._accepted(rr, grade is not None)
            return True

    def _gave_up(self, rr: RowRun, what: str, budget: RetryBudget, exc: ApiError) -> bool:
        """The write met only transient faults until its budget ran out (or the run stopped):
        a retryable failure, never a refusal. ALM does not show it, so a re-run sends it."""
        if self.halted():
            rr.stopped = self._stop_reason()
            return False
        rr.failure = (
            f"ALM did not take {what}: only temporary errors in {budget.spent()} (last: "
            f"{exc.describe()}) and ALM does not show it. Nothing to fix in the file; "
            f"run the same command again later."
        )
        rr.retryable = True
        self._resolved(rr, "failed")
        return False

    def _accepted(self, rr: RowRun, is_grade: bool) -> None:
        rr.posted_at = utc_now()
        if is_grade:
            rr.posted += 1
            self._resolved(rr, "done", grades_posted=1)
        else:
            rr.enrolled = True
            self._resolved(rr, "done", enrollments_made=1)


def execute_plan(
    plan: Plan,
    client: WriteClient,
    ledger: Ledger,
    options: ExecuteOptions,
    *,
    on_progress: Callable[[ProgressEvent], None] | None = None,
    stop: threading.Event | None = None,
    stream: Iterable[tuple[str, list[int]]] | None = None,
) -> ExecuteResult:
    """Run every WOULD_COMPLETE row of ``plan``; one ``RowResult`` per plan row, input order.

    Rows in other states become ``row_plan.to_result()`` untouched. Never raises for a row;
    ``AuthError`` / ``ApiUnreachable`` end the run with ``aborted`` set, ``stop`` with
    ``interrupted=True``; either way the ledger holds everything done, and the same command
    finishes the job. Verification is the caller's next step (``batch.verify.verify_results``),
    run only when the run was neither aborted nor interrupted. The run's record in the ledger
    and what earlier runs already wrote are the caller's (``batch.journal.Journal``); this
    journals each write. A journal that cannot be written stops the run as an abort does
    (``StateWriteFailed``): no write is sent unjournaled.
    """
    ex = _Executor(plan, client, ledger, options, on_progress, stop)
    ex.run(stream)
    results = ex.finish()
    out = ExecuteResult(
        results=results,
        aborted=ex.aborted,
        interrupted=ex.interrupted and ex.aborted is None,
        writes_made=ex.counts["writes_made"],
        enrolled_not_graded=len(ex.enrolled_only),
        grades_posted=ex.counts["grades_posted"],
        enrollments_made=ex.counts["enrollments_made"],
        settled=ex.counts["settled"],
        counts=dict(ex.counts),
    )
    return out
