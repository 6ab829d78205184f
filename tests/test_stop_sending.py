"""Cancel means "send nothing more": a request waiting for the pacer, a retry or its first send
is never sent once the run stops (``NotSent``), its journal entry is withdrawn, and only what
was already on the wire gets an answer. And the plan a person confirmed binds the executor:
no write outside it is sent."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from batch.alm.grade_shapes import ENROLL_HOLD, SHAPES_FILE, GradeShapes, ShapeStore
from batch.alm.ratelimit import RateLimiter
from batch.alm.wire import Wire
from batch.confirmed import ConfirmedPlan, write_label
from batch.errors import NotSent
from batch.execute import ExecuteOptions, execute_plan
from batch.gate import PoolGate
from batch.ledger import LEDGER_NAME, Ledger, WriteKey, WriteKind, WriteState
from batch.models import RowResult, RowStatus, SubCourse
from batch.programs import ProgramPlan
from batch.settings import Settings
from batch.verify import CANCELLED, ROLLUP_WAIT_SECONDS, verify_programs
from tests.fake_writer import FakeWriter, make_plan, module_ids, row_plan

BASE = "https://alm.test"


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    with Ledger(tmp_path / LEDGER_NAME) as led:
        yield led


def limiter(clock: FakeClock) -> RateLimiter:
    return RateLimiter(
        verb_limits={"POST": (30.0, 1)},  # ALM's published write limit, no burst
        endpoint_limits={},
        endpoint_of=lambda method, template: None,
        clock=clock.clock,
        sleep=clock.sleep,
    )


def test_a_request_waiting_for_the_pacer_is_not_sent_once_the_run_stops() -> None:
    clock = FakeClock()
    pacer = limiter(clock)
    pacer.expect("POST", 30.0, 1)  # a known rate: one request every 2 s
    with pacer.sending("POST", "POST /users/{id}/userModuleGrade"):
        pass  # the first one goes at once and takes the only token
    stop = threading.Event()

    def stopping() -> bool:
        if clock.now >= 0.5:  # Cancel, half a second into the 2 s wait
            stop.set()
        return stop.is_set()

    with pytest.raises(NotSent):
        with pacer.sending("POST", "POST /users/{id}/userModuleGrade", stopping):
            raise AssertionError("sent after the run stopped")
    # It looked at the stop while waiting (slices of at most 0.25 s), not after the 2 s wait.
    assert clock.now <= 0.75 and max(clock.sleeps) <= 0.25


def test_without_a_stop_the_pacer_waits_in_one_sleep_as_before() -> None:
    clock = FakeClock()
    pacer = limiter(clock)
    pacer.expect("POST", 30.0, 1)
    for _ in range(2):
        with pacer.sending("POST", "POST /users/{id}/userModuleGrade"):
            pass
    assert len(clock.sleeps) == 1 and clock.sleeps[0] == pytest.approx(2.0 / 0.995, rel=0.01)


def test_the_wire_counts_what_is_sent_and_not_answered_and_how_long_alm_is_silent() -> None:
    clock = FakeClock()
    wire = Wire(clock.clock)
    assert wire.silence() is None and wire.writes_in_flight() == 0
    with wire.sending(write=True):
        with wire.sending(write=False):
            clock.now = 7.0
            assert wire.writes_in_flight() == 1
            silence = wire.silence()
            assert silence is not None and silence.seconds == 7.0 and silence.writes_waiting
        wire.answered(write=True, usable=True)
    assert wire.writes_in_flight() == 0 and wire.writes_answered == 1 and wire.silence() is None
    wire.failed("connection refused")
    clock.now = 12.0
    silence = wire.silence()
    assert silence is not None and silence.seconds == 5.0 and silence.reason == "connection refused"
    wire.answered(write=False, usable=False)  # a 503 is no usable answer: still silent
    assert wire.silence() is not None
    wire.answered(write=False, usable=True)
    assert wire.silence() is None


class NotSentAfter(FakeWriter):
    """A client whose writes after the first ``n`` waited for the pacer while the run stopped."""

    def __init__(self, n: int, stop: threading.Event) -> None:
        super().__init__(modules={"course:1_1": module_ids()})
        self.n, self.stop = n, stop

    def _gate(self) -> None:
        if self.enroll_posts + self.grade_posts >= self.n:
            self.stop.set()
            raise NotSent("Not sent: the run is stopping.")


def test_a_write_not_sent_leaves_no_journal_entry_and_its_row_is_not_run(ledger: Ledger) -> None:
    stop = threading.Event()
    fake = NotSentAfter(3, stop)
    plan = make_plan(row_plan(2, "u1", enroll=True), row_plan(3, "u2", enroll=True))
    options = ExecuteOptions(run_id="run-1", base_url=BASE, input_sha256="sha", concurrency=1)
    out = execute_plan(plan, fake, ledger, options, stop=stop)
    assert out.interrupted
    assert [r.status for r in out.results] == [RowStatus.COMPLETED, RowStatus.NOT_RUN]
    assert out.results[1].retryable and out.results[1].message.startswith(
        "Not run: the run was cancelled; nothing was written for this row."
    )
    # Three writes reached ALM and were journaled done; the fourth never left: no entry.
    assert ledger.counts(BASE) == {"done": 3}
    assert out.writes_made == 3 and out.counts["writes_answered"] == 3


def test_a_learner_enrolled_whose_grades_were_not_sent_is_counted_and_said(
    ledger: Ledger,
) -> None:
    stop = threading.Event()
    fake = NotSentAfter(1, stop)  # the enrollment goes, then Cancel
    plan = make_plan(row_plan(2, "u1", enroll=True))
    options = ExecuteOptions(run_id="run-1", base_url=BASE, input_sha256="sha", concurrency=1)
    out = execute_plan(plan, fake, ledger, options, stop=stop)
    assert out.results[0].status is RowStatus.NOT_RUN and out.results[0].retryable
    assert out.results[0].message.startswith(
        "Enrolled the learner; 2 module grades not sent: the run was cancelled."
    )
    assert out.enrolled_not_graded == 1
    assert ledger.counts(BASE) == {"done": 1}  # the enrollment; the grades were never sent


def test_the_executor_sends_no_write_outside_the_confirmed_plan(ledger: Ledger) -> None:
    fake = FakeWriter(modules={"course:1_1": module_ids(), "course:2_1": module_ids("course:2")})
    fake.enrolled("u1", "course:1", "course:1_1")
    confirmed_row = row_plan(2, "u1")  # the dry run: 2 grades, the learner enrolled
    changed_row = row_plan(3, "u2", enroll=True)  # the live plan wants an enrollment more
    bound = ConfirmedPlan(
        {
            2: frozenset(confirmed_row.write_labels()),
            3: frozenset(label for label in changed_row.write_labels() if "enroll" not in label),
        }
    )
    options = ExecuteOptions(run_id="r", base_url=BASE, input_sha256="sha", bound=bound)
    out = execute_plan(make_plan(confirmed_row, changed_row), fake, ledger, options)
    assert out.results[0].status is RowStatus.COMPLETED
    refused = out.results[1]
    assert refused.status is RowStatus.NOT_RUN and not refused.retryable  # a person: new dry run
    assert "changed since the dry run you confirmed" in refused.message
    assert "1 enrollment" in refused.message and "Start a new dry run" in refused.message
    assert fake.enroll_posts == 0 and not any(user == "u2" for _, user, _ in fake.log)
    assert out.counts["writes_total"] == 4 and out.counts["rows_total"] == 2  # the confirmation's


def test_fewer_writes_than_confirmed_are_fine_and_complete_the_totals(ledger: Ledger) -> None:
    fake = FakeWriter(modules={"course:1_1": module_ids()})
    fake.enrolled("u1", "course:1", "course:1_1")
    dry = row_plan(2, "u1")
    bound = ConfirmedPlan({2: frozenset(dry.write_labels())})
    live = row_plan(2, "u1")
    live.grades = live.grades[1:]  # ALM shows one module completed by now
    seen: list[dict[str, int]] = []
    options = ExecuteOptions(run_id="r", base_url=BASE, input_sha256="sha", bound=bound)
    out = execute_plan(
        make_plan(live), fake, ledger, options, on_progress=lambda e: seen.append(e.counts)
    )
    assert out.results[0].status is RowStatus.COMPLETED and fake.grade_posts == 1
    assert seen[-1]["writes_done"] == seen[-1]["writes_total"] == 2


def test_a_confirmed_plan_keeps_its_rows_and_what_is_left_of_them(tmp_path: Path) -> None:
    a = write_label("enroll", "u1", "course:1", "course:1_1")
    b = write_label("grade", "u1", "course:1", "course:1_1", "m1")
    plan = ConfirmedPlan({2: frozenset({a, b}), 3: frozenset({b.replace("u1", "u2")})}, 120.0)
    assert plan.rows_total == 2 and plan.writes_total == 3
    assert plan.allows(2, b) and not plan.allows(3, a) and plan.outside(3, [a]) == [a]
    rest = plan.remaining([2, 3], made=lambda label: label == a)
    assert rest.rows == {2: frozenset({b}), 3: plan.rows[3]} and rest.writes_total == 2
    (tmp_path / "confirmed.json").write_text(json.dumps(plan.to_json()))
    assert ConfirmedPlan.read(tmp_path) == plan
    assert ConfirmedPlan.read(tmp_path / "nowhere") is None


def test_withdraw_puts_back_what_the_journal_held(ledger: Ledger) -> None:
    key = WriteKey(BASE, WriteKind.GRADE, "u1", "course:1", "course:1_1", "m1")
    ledger.begin(key, "run-1", "sha", 2)
    ledger.finish(key, WriteState.FAILED, status=503, message="gave up")
    before = ledger.get(key)
    ledger.begin(key, "run-2", "sha", 2)
    ledger.withdraw(key, before)
    assert ledger.get(key) == before
    other = WriteKey(BASE, WriteKind.GRADE, "u1", "course:1", "course:1_1", "m2")
    ledger.begin(other, "run-2", "sha", 2)
    ledger.withdraw(other, None)
    assert ledger.get(other) is None


def test_a_program_course_alm_did_not_enroll_is_not_enrolled_outside_the_confirmation(
    ledger: Ledger,
) -> None:
    """An ALM that does not enroll a program's learner in its courses: an unattended run
    enrolls the course directly (tests/test_learning_programs.py); a run bound to a confirmed
    plan sends no write the person did not confirm: the row stops after the program's
    enrollment, says why, and asks for a new dry run (which plans the course's enrollment)."""
    rp = row_plan(2, "u1", course="course:1", modules=2)
    rp.course_id, rp.instance_id, rp.enroll = "learningProgram:9", "learningProgram:9_1", True
    graded = SubCourse("course:1", "Course 1", "Core", "grade", "course:1_1", tuple(module_ids()))
    rp.program = ProgramPlan("learningProgram:9", "Onboarding", "learningProgram",
                             "learningProgram:9_1", [graded])  # fmt: skip
    fake = FakeWriter(modules={"course:1_1": module_ids()})
    bound = ConfirmedPlan({2: frozenset(rp.write_labels())})
    options = ExecuteOptions(run_id="r", base_url=BASE, input_sha256="x", bound=bound)
    out = execute_plan(make_plan(rp), fake, ledger, options)
    (result,) = out.results
    assert result.status is RowStatus.NOT_RUN and not result.retryable
    assert result.message.startswith(
        "Not written further: ALM did not enroll the learner in 'Course 1' through the learning "
        "program 'Onboarding', and enrolling them directly is a write the confirmation did not "
        "include. Made before that: the enrollment. Start a new dry run"
    )
    assert [kind for kind, _, _ in fake.log] == ["enroll"] and ledger.counts(BASE) == {"done": 1}


# --------------------------------------------------------------------------- every wait ends
def ends_on_stop(wait: Callable[[threading.Event], object]) -> tuple[float, object]:
    """Run ``wait(stop)`` in a thread, set ``stop`` 0.1 s later: (seconds from the stop to
    the end of the wait, what it raised or returned)."""
    stop = threading.Event()
    ended: list[tuple[float, object]] = []

    def run() -> None:
        try:
            outcome: object = wait(stop)
        except Exception as exc:  # noqa: BLE001 - the outcome under test
            outcome = exc
        ended.append((time.monotonic(), outcome))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    time.sleep(0.1)
    assert not ended, "the wait ended before the stop"
    stopped = time.monotonic()
    stop.set()
    thread.join(10)
    assert ended, "the wait did not end on the stop"
    return ended[0][0] - stopped, ended[0][1]


def shapes(tmp_path: Path) -> GradeShapes:
    return GradeShapes(Settings(_env_file=None, base_url="https://alm.test"),  # type: ignore[call-arg]
                       ShapeStore(tmp_path / SHAPES_FILE))  # fmt: skip


def test_a_stop_ends_the_wait_for_the_learner_enrolled_ahead_of_its_grades(
    tmp_path: Path,
) -> None:
    """Until ALM takes a grade body one learner at a time is enrolled ahead of its grades; a
    worker waiting for that learner's grade (held up to ``ENROLL_HOLD``) sends nothing once the
    run stops, at once."""
    learner = shapes(tmp_path)
    learner.before_enroll()  # another worker's learner: enrolled, its grade not posted
    took, outcome = ends_on_stop(lambda stop: learner.before_enroll(stop.is_set))
    assert isinstance(outcome, NotSent) and took < 0.5 < ENROLL_HOLD


def test_a_stop_ends_the_wait_for_a_grade_bodys_verdict(tmp_path: Path) -> None:
    learner = shapes(tmp_path)
    learner.acquire()  # another worker's grade probes the first body: its answer is awaited
    took, outcome = ends_on_stop(lambda stop: learner.acquire(stop.is_set))
    assert isinstance(outcome, NotSent) and took < 0.5


def test_a_stop_ends_the_wait_for_a_place_in_the_write_pool() -> None:
    gate = PoolGate(1)
    held = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with gate.slot():
            held.set()
            release.wait(10)  # a write on the wire, waiting for ALM's answer

    holder = threading.Thread(target=hold, daemon=True)
    holder.start()
    held.wait(5)
    try:

        def wait(stop: threading.Event) -> None:
            with gate.slot(stop.is_set):
                raise AssertionError("a place was given while the run stops")

        took, outcome = ends_on_stop(wait)
        assert isinstance(outcome, NotSent) and took < 0.5
    finally:
        release.set()
        holder.join(5)
    with gate.slot(lambda: False):  # the place the stopped call never took is free
        assert gate.active == 1


def test_a_stop_ends_the_wait_for_a_programs_roll_up() -> None:
    """``--verify`` waits up to two minutes for ALM to show a program completed; a Cancel ends
    the wait and says so on the row."""

    class NeverRolledUp:
        def get_program_enrollments(self, user_id: str) -> list[Any]:
            return []

    results = [RowResult(2, {}, RowStatus.COMPLETED, "Posted 2 module grades.",
                         user_id="7", course_id="certification:1")]  # fmt: skip
    took, outcome = ends_on_stop(
        lambda stop: verify_programs(
            results,
            {"7": [0]},
            NeverRolledUp(),  # type: ignore[arg-type]
            ROLLUP_WAIT_SECONDS,
            time.monotonic,
            stop.wait,
            stop,
        )  # fmt: skip
    )
    assert outcome == 1 and took < 0.5
    assert results[0].message.endswith(f"Could not be verified: {CANCELLED}")
