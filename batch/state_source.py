"""Where a plan's learner state comes from: one read per learner, or ALM's learner transcript.

A dry run needs every learner's enrollments. Read one by one (``GET /users/{id}/enrollments``)
that is a call per learner: 2,000 learners are 20 minutes at ALM's documented 100 reads a
minute. One Learner Transcript job (alm-api.md §9) gives them all in a few calls plus its
generation time. ``--state-source`` chooses:

- ``per-learner``: always one read per learner (as before);
- ``transcript``: the transcript job for any dry run;
- ``auto`` (default): the transcript when the reads would take longer, at the read allowance,
  than the job is expected to (its last generation time on this host, else
  ``ALM_TRANSCRIPT_JOB_SECONDS``), and the daily quota (about 5 jobs of a type) is not used up
  by this state directory.

The job asks for the run's learners (internal ids) from the earliest date an enrollment that
matters can carry (the creation of the learning objects the rows need, or an earlier date the
file's rows name) to now, in windows of at most five years (one job each, at most
``MAX_WINDOWS``). Catalogues are not named: neither a learning object nor the catalogue listing
says which catalogue holds it. The files are kept in the state directory
(``batch.snapshot.SnapshotStore``) for ``--cache-ttl`` and reused by later dry runs of the
same learners.

Never a wrong status: any refusal or surprise (a 4xx, the quota, a failed or late job, a file
without the columns needed) means one read per learner, with one warning that says why; a
learner whose rows cannot be matched with certainty (``batch.snapshot``), or for whom this
state directory's ledger holds a write newer than the transcript less ALM's documented report
lag, is read one by one. A live run never takes state from a snapshot: it reads each learner it
writes for, and notes on the row what changed since the dry run's snapshot (``note_for``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from batch.alm import transcript
from batch.alm.jobs import JOB_TIMEOUT_SECONDS, POLL_GROWTH, JobFile, JobWait, OnWait
from batch.alm.types import CONTAINER_TYPES, Enrollment, User
from batch.errors import AbortError, ApiError, Interrupted
from batch.ledger import Ledger
from batch.models import counted
from batch.resolve import Resolver
from batch.snapshot import LearnerState, Mapped, Snapshot, SnapshotStore, map_rows

MODES = ("auto", "transcript", "per-learner")
REPORT_LAG = timedelta(minutes=15)  # ALM: reports may lag the live state by about 15 minutes
MAX_WINDOWS = 3  # five-year windows (jobs) one snapshot may take
JOBS_PER_DAY = 5  # ALM: about five jobs of a type a day
MARGIN = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class StateStatus:
    """What the front end shows about learner state: where it comes from, what is awaited."""

    # "per-learner", "transcript" (a job of this run), "snapshot" (a kept one); "users" while
    # the users export job runs (before learner state: what the run waits for)
    source: str
    message: str
    learners: int
    as_of: datetime | None = None  # the transcript's time (UTC)
    eta_seconds: float | None = None  # time left at the account's limits, when known


@dataclass
class StateNeeds:
    """What the plan needs learner state for (``plan.build_plan`` fills it)."""

    users: dict[str, User] = field(default_factory=dict)  # user id -> learner
    emails: dict[str, str] = field(default_factory=dict)  # email key -> user id
    programs: set[str] = field(default_factory=set)  # learners with a program row
    lo_ids: set[str] = field(default_factory=set)  # learning objects their rows need
    dates: list[datetime] = field(default_factory=list)  # dates their rows name

    @property
    def reads(self) -> int:
        """Calls one read per learner makes (a learner with program rows: one more)."""
        return len(self.users) + len(self.programs)


class TranscriptClient(Protocol):
    def learner_transcript(
        self,
        user_ids: Iterable[str],
        date_from: datetime,
        date_to: datetime,
        *,
        first_poll: float | None = ...,
        on_wait: OnWait | None = ...,
        timeout: float = ...,
    ) -> JobFile: ...


class _Fallback(Exception):
    """The transcript cannot be used: the message says why (the run's one warning)."""


class StateSource:
    """Gives a plan its learner state: ``provide`` (before the reads), ``note_for`` (live)."""

    def __init__(
        self,
        client: TranscriptClient,
        store: SnapshotStore,
        *,
        mode: str = "auto",
        live: bool = False,
        max_age: float = 86400.0,
        refresh: bool = False,
        read_seconds: Callable[[int], float] = lambda n: n * 0.6,
        expected_seconds: float = 120.0,
        ledger: Ledger | None = None,
        base_url: str = "",
        on_status: Callable[[StateStatus], None] | None = None,
        stop: threading.Event | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}")
        self.client, self.store, self.mode, self.live = client, store, mode, live
        self.max_age, self.refresh = max_age, refresh
        self.read_seconds, self.expected = read_seconds, expected_seconds
        self.ledger, self.base_url = ledger, base_url
        self.on_status, self.stop, self.now = on_status, stop, now
        self.source = "per-learner"
        self.description = ""  # for the summary: where the state came from
        self.as_of: datetime | None = None
        self.warnings: list[str] = []
        self.adopted: set[str] = set()  # learners whose state came from the transcript
        self._compare: dict[str, LearnerState] = {}

    # --- the plan's side ------------------------------------------------------------------
    def provide(self, resolver: Resolver, needs: StateNeeds) -> None:
        """Fill ``resolver`` with the state of every learner the transcript gives with
        certainty (a dry run); the others are read one by one by the planner."""
        if not needs.users:
            return
        if self.mode == "per-learner":
            self._per_learner(needs, "--state-source per-learner")
            return
        if self.live:
            self._per_learner(needs, "a live run reads each learner it writes for")
            try:
                relevant, date_from = self._window(resolver, needs)
            except _Fallback:
                return  # nothing to compare with
            self._keep_for_comparing(resolver, needs, relevant, date_from)
            return
        try:
            relevant, date_from = self._window(resolver, needs)
            snapshot = self._snapshot(needs, date_from)
            if snapshot is not None:
                self._adopt(resolver, needs, relevant, snapshot)
        except _Fallback as exc:
            self.warnings.append(
                f"Learner state was read one learner at a time: {exc} "
                "(--state-source per-learner skips the transcript job)."
            )
            self._per_learner(needs, str(exc), quiet=True)

    def note_for(self, user_id: str, lo_id: str, resolver: Resolver) -> str:
        """A live run: what ALM shows for ``lo_id`` that differs from the dry run's snapshot
        (" Note: completed in ALM since the dry run (learner state as of ...)."), else ""."""
        before = self._compare.get(user_id)
        if before is None or self.as_of is None or not lo_id:
            return ""
        program = lo_id.split(":", 1)[0] in CONTAINER_TYPES
        try:
            live = (
                resolver.program_enrollments(user_id) if program else resolver.enrollments(user_id)
            )
        except ApiError:
            return ""
        then = [e for e in (before.programs if program else before.courses) if e.lo_id == lo_id]
        now = [e for e in live if e.lo_id == lo_id]
        change = _change(then, now)
        if not change:
            return ""
        return f" Note: {change} since the dry run (learner state as of {_when(self.as_of)})."

    # --- choosing and taking the snapshot -------------------------------------------------
    def _window(self, resolver: Resolver, needs: StateNeeds) -> tuple[set[str], datetime]:
        """The learning objects that matter (with the courses of programs and of every
        recurrence) and the earliest date an enrollment in them can carry."""
        relevant = set(needs.lo_ids)
        created: list[datetime] = []
        for lo_id in sorted(needs.lo_ids):
            try:
                detail = resolver.course_detail(lo_id)
            except ApiError as exc:
                raise _Fallback(f"{lo_id} could not be read ({exc.describe()})") from None
            if detail is not None:
                for section in detail.sections:
                    relevant.update(section.lo_ids)
        for lo_id in sorted(relevant):
            try:
                detail = resolver.course_detail(lo_id)
            except ApiError:
                continue  # its rows are read one by one (``batch.snapshot``)
            if detail is None:
                continue
            if detail.date_created is None:
                raise _Fallback(
                    f"ALM did not say when {lo_id} was created, so no window of dates is sure "
                    "to hold every enrollment in it"
                )
            created.append(detail.date_created)
        date_from = min([*created, *needs.dates]) - MARGIN
        return relevant, date_from.astimezone(UTC)

    def _snapshot(self, needs: StateNeeds, date_from: datetime) -> Snapshot | None:
        users = set(needs.users)
        if not self.refresh:
            kept = self.store.find(users, date_from, max_age=self.max_age)
            if kept is not None:
                return kept
        date_to = self.now() + timedelta(minutes=1)
        windows = transcript.windows(date_from, date_to)
        if len(windows) > MAX_WINDOWS:
            raise _Fallback(
                f"the enrollments that matter go back to {date_from.date().isoformat()}, which "
                f"needs {len(windows)} transcript jobs of at most {transcript.MAX_YEARS} years "
                f"each (at most {MAX_WINDOWS} are taken)"
            )
        timed = self.store.generation_seconds()  # the last job on this host
        expected = timed or self.expected
        job_seconds = expected * len(windows)
        reads_seconds = self.read_seconds(needs.reads)
        used = len(self.store.submissions())
        if self.mode == "auto":
            if reads_seconds <= job_seconds:
                self._per_learner(
                    needs,
                    f"{counted(needs.reads, 'read')} take about {_duration(reads_seconds)} at the read "
                    f"allowance, no longer than a transcript job (about {_duration(job_seconds)})",
                )
                return None
            if used + len(windows) > JOBS_PER_DAY:
                raise _Fallback(
                    f"{used} learner transcript jobs were submitted to this ALM from this state "
                    f"directory in the last 24 hours and ALM allows about {JOBS_PER_DAY} a day"
                )
        timeout = min(JOB_TIMEOUT_SECONDS, max(4.0 * expected, reads_seconds))
        # The first poll: just before the last job on this host was ready, else after a quarter
        # of the time one is expected to take (the poller then waits a quarter of the time run).
        first_poll = 0.9 * timed if timed else POLL_GROWTH * expected
        return self._take(needs, windows, expected, timeout, first_poll)

    def _take(
        self,
        needs: StateNeeds,
        windows: list[tuple[datetime, datetime]],
        expected: float,
        timeout: float,
        first_poll: float,
    ) -> Snapshot:
        ids = sorted(needs.users)
        files: list[bytes] = []
        jobs: list[str] = []
        taken_at = self.now()
        for number, (start, end) in enumerate(windows, start=1):
            left = len(windows) - number
            submitted = self.now()
            try:
                got = self.client.learner_transcript(
                    ids,
                    start,
                    end,
                    first_poll=first_poll,
                    on_wait=self._waiting(needs, expected, left),
                    timeout=timeout,
                )
            except (AbortError, Interrupted):
                raise
            except ApiError as exc:
                raise _Fallback(_why(exc)) from None
            self.store.submitted(submitted, got.seconds)
            files.append(got.content)
            jobs.append(got.job_id)
        return Snapshot(tuple(files), tuple(jobs), taken_at, windows[0][0], frozenset(ids))

    def _waiting(self, needs: StateNeeds, expected: float, left: int) -> OnWait:
        def on_wait(wait: JobWait) -> None:
            if self.stop is not None and self.stop.is_set():
                raise Interrupted("Interrupted while waiting for ALM's learner transcript job.")
            eta = max(0.0, expected - wait.elapsed) + left * expected
            self._status(
                "transcript",
                f"waiting for ALM's learner transcript job {wait.job_id} ({wait.status}, "
                f"{_duration(wait.elapsed)} so far) for {len(needs.users):,} learners",
                len(needs.users),
                eta=eta,
            )

        return on_wait

    def _mapped(
        self, resolver: Resolver, needs: StateNeeds, relevant: set[str], snapshot: Snapshot
    ) -> Mapped:
        """Every file of the snapshot mapped; the newest window wins per learning object."""
        merged = Mapped()
        only_them = snapshot.users == frozenset(needs.users)
        for content in snapshot.files:  # oldest window first
            try:
                rows = list(transcript.read_transcript(content))
            except transcript.TranscriptUnusable as exc:
                raise _Fallback(f"ALM's learner transcript cannot be used: {exc}") from None
            found = map_rows(rows, needs.emails, relevant, resolver, only_them=only_them)
            merged.uncertain.update(found.uncertain)
            for user_id, state in found.states.items():
                older = merged.states.get(user_id)
                merged.states[user_id] = state if older is None else _newer(state, older)
        for user_id in merged.uncertain:
            merged.states.pop(user_id, None)
        return merged

    def _adopt(
        self, resolver: Resolver, needs: StateNeeds, relevant: set[str], snapshot: Snapshot
    ) -> None:
        mapped = self._mapped(resolver, needs, relevant, snapshot)
        if not snapshot.cached:
            self.store.save(snapshot)  # a file that can be read: later dry runs reuse it
        for user_id in self._written_since(snapshot.taken_at, mapped.states):
            mapped.uncertain[user_id] = "alm-batch wrote for them since the transcript"
            mapped.states.pop(user_id)
        for user_id, state in mapped.states.items():
            resolver.adopt_state(user_id, state.courses, state.programs)
        self.adopted.update(mapped.states)
        self.source = "snapshot" if snapshot.cached else "transcript"
        self.as_of = snapshot.taken_at
        jobs = ", ".join(snapshot.job_ids)
        kept = " (kept from an earlier dry run)" if snapshot.cached else ""
        read = len(needs.users) - len(mapped.states)
        self.description = (
            f"ALM's learner transcript (job {jobs}){kept} for {len(mapped.states):,} of "
            f"{len(needs.users):,} learners" + (f"; {read:,} read one by one" if read else "")
        )
        if mapped.uncertain:
            reasons = sorted(set(mapped.uncertain.values()))
            self.warnings.append(
                f"{len(mapped.uncertain):,} of {len(needs.users):,} learners were read one by "
                f"one instead of from ALM's learner transcript: {reasons[0]}"
                + (f" (and {len(reasons) - 1} other reasons)" if len(reasons) > 1 else "")
                + "."
            )
        self._status(
            self.source,
            f"learner state as of {_when(snapshot.taken_at)}: {self.description}",
            len(needs.users),
            as_of=snapshot.taken_at,
            eta=self.read_seconds(read),
        )

    def _keep_for_comparing(
        self, resolver: Resolver, needs: StateNeeds, relevant: set[str], date_from: datetime
    ) -> None:
        kept = self.store.find(set(needs.users), date_from, max_age=self.max_age)
        if kept is None:
            return
        try:
            self._compare = self._mapped(resolver, needs, relevant, kept).states
        except _Fallback:
            return
        self.as_of = kept.taken_at
        self.description += f"; compared with ALM's learner transcript of {_when(kept.taken_at)}"

    def _written_since(self, taken_at: datetime, users: Iterable[str]) -> set[str]:
        """Learners for whom this state directory's ledger holds a write newer than the
        transcript less ALM's report lag: the transcript may not show it yet."""
        if self.ledger is None:
            return set()
        since = (taken_at - REPORT_LAG).astimezone(UTC)
        out = set()
        for entry in self.ledger.for_users(self.base_url, users).values():
            try:
                when = datetime.fromisoformat(entry.updated_at.replace("Z", "+00:00"))
            except ValueError:
                when = since  # unreadable: treat as recent
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            if when >= since:
                out.add(entry.key.user_id)
        return out

    def _per_learner(self, needs: StateNeeds, reason: str, *, quiet: bool = False) -> None:
        self.source = "per-learner"
        self.description = f"read one learner at a time ({reason})"
        message = f"reading {len(needs.users):,} learners one by one"
        self._status(
            "per-learner",
            message if quiet else f"{message}: {reason}",
            len(needs.users),
            eta=self.read_seconds(needs.reads),
        )

    def _status(
        self,
        source: str,
        message: str,
        learners: int,
        *,
        as_of: datetime | None = None,
        eta: float | None = None,
    ) -> None:
        if self.on_status is not None:
            self.on_status(StateStatus(source, message, learners, as_of, eta))


def _why(exc: ApiError) -> str:
    """Why the job gave no file, in the run's warning: a refusal (the quota, no such job on
    the account, a 4xx) names ALM's answer; a failed, late or unreachable file says so."""
    if exc.method == "POST":
        return f"ALM refused the learner transcript job ({exc.describe()})"
    return exc.title + (f" ({exc.detail})" if exc.detail else "")


def _newer(newer: LearnerState, older: LearnerState) -> LearnerState:
    """Two windows' state of one learner: the newer window's enrollment per learning object,
    the older window's only for learning objects the newer one does not show."""

    def merge(a: tuple[Enrollment, ...], b: tuple[Enrollment, ...]) -> tuple[Enrollment, ...]:
        seen = {e.lo_id for e in a}
        return a + tuple(e for e in b if e.lo_id not in seen)

    return LearnerState(merge(newer.courses, older.courses), merge(newer.programs, older.programs))


def _change(then: list[Enrollment], now: list[Enrollment]) -> str:
    done_then, done_now = any(e.completed for e in then), any(e.completed for e in now)
    if done_now and not done_then:
        return "completed in ALM"
    if done_then and not done_now:
        return "no longer shown completed in ALM"
    if now and not then:
        return "enrolled in ALM"
    if then and not now:
        return "unenrolled in ALM"
    graded_then = sum(g.completed for e in then for g in e.grades.values())
    graded_now = sum(g.completed for e in now for g in e.grades.values())
    if graded_now > graded_then:
        more = graded_now - graded_then
        return f"{more} more module{'s' if more != 1 else ''} completed in ALM"
    return ""


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
