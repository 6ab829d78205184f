"""execute_plan against the in-memory FakeWriter: exactly-once under every injected fault."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from batch.alm.types import GradeRequest
from batch.errors import ApiUnreachable, AuthError, ExitStatus
from batch.execute import (
    ExecuteOptions,
    ExecuteResult,
    ProgressEvent,
    execute_plan,
)
from batch.journal import Journal, apply_ledger
from batch.ledger import LEDGER_NAME, Ledger, WriteKey, WriteState
from batch.models import RowStatus, exit_status_for
from batch.plan import Plan, RowPlan
from batch.verify import verify_results
from tests.fake_writer import (
    LANDED,
    LOST,
    REFUSE,
    THROTTLED,
    FakeWriter,
    make_plan,
    module_ids,
    row_plan,
)

BASE = "https://alm.test"


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    with Ledger(tmp_path / LEDGER_NAME) as led:
        yield led


def writer() -> FakeWriter:
    return FakeWriter(modules={"course:1_1": module_ids(), "course:2_1": module_ids("course:2")})


def run(
    plan: Plan,
    client: FakeWriter,
    ledger: Ledger,
    run_id: str = "run-1",
    *,
    apply: bool = True,
    **kw: object,
) -> ExecuteResult:
    """As a live job runs a plan: its journal takes out what earlier runs wrote (``apply``)
    and closes entries ALM shows complete, then the executor journals each write."""
    overwrite = bool(kw.get("overwrite", False))
    journal = Journal(ledger, base_url=BASE, run_id=run_id, overwrite=overwrite)
    if apply:
        journal.drop_done_writes(plan)
    journal.close_completed(plan)
    options = ExecuteOptions(run_id=run_id, base_url=BASE, input_sha256="sha", **kw)  # type: ignore[arg-type]
    return execute_plan(plan, client, ledger, options)


def statuses(result: ExecuteResult) -> list[RowStatus]:
    return [r.status for r in result.results]


def test_enroll_then_grades_exactly_once(ledger: Ledger) -> None:
    fake = writer()
    plan = make_plan(row_plan(2, "u1", enroll=True), row_plan(3, "u2", enroll=True))
    out = run(plan, fake, ledger)
    assert statuses(out) == [RowStatus.COMPLETED, RowStatus.COMPLETED]
    assert out.results[0].message == "Enrolled the learner and posted 2 module grades."
    assert out.results[0].attempts == 3 and out.results[0].posted_at.endswith("Z")
    assert (out.writes_made, out.grades_posted, out.enrollments_made) == (6, 4, 2)
    assert set(fake.grade_counts.values()) == {1} and len(fake.grade_counts) == 4
    assert fake.log[0] == ("enroll", "u1", "course:1") or fake.log[0][0] == "enroll"
    assert ledger.counts(BASE) == {"done": 6}
    assert out.aborted is None and not out.interrupted


def test_rows_not_planned_pass_through_untouched(ledger: Ledger) -> None:
    fake = writer()
    skipped = row_plan(2, "u1", status=RowStatus.USER_NOT_FOUND)
    plan = make_plan(skipped, row_plan(3, "u2", enroll=True))
    out = run(plan, fake, ledger)
    assert out.results[0].status is RowStatus.USER_NOT_FOUND
    assert out.results[0].message == "as planned" and out.results[0].attempts == 0
    assert [r.row for r in out.results] == [2, 3]


def test_already_enrolled_409_counts_as_enrolled(ledger: Ledger) -> None:
    fake = writer()
    fake.already_enrolled_409 = True
    fake.enrolled("u1", "course:1", "course:1_1")
    out = run(make_plan(row_plan(2, "u1", enroll=True)), fake, ledger)
    assert statuses(out) == [RowStatus.COMPLETED]
    key = WriteKey.for_enroll(BASE, "u1", "course:1", "course:1_1")
    entry = ledger.get(key)
    assert entry is not None and entry.state is WriteState.DONE and entry.http_status == 409


def test_refusal_fails_the_row_with_alm_text_and_rerun_retries(ledger: Ledger) -> None:
    fake = writer()
    second = module_ids()[1]
    fake.fail("grade", "u1", second, REFUSE)
    plan = make_plan(row_plan(2, "u1", enroll=True), row_plan(3, "u2", enroll=True))
    out = run(plan, fake, ledger)
    assert statuses(out) == [RowStatus.FAILED, RowStatus.COMPLETED]
    msg = out.results[0].message
    assert msg == (
        f"ALM refused the grade for module {second}: "
        "HTTP 400 Field Type incorrect: incorrect relation type - module"
    )
    failed = ledger.get(WriteKey.for_grade(BASE, plan.rows[0].grades[1]))
    assert failed is not None and failed.state is WriteState.FAILED and failed.http_status == 400
    # the same command again: only the refused grade is sent
    again = run(
        make_plan(row_plan(2, "u1", enroll=True), row_plan(3, "u2", enroll=True)),
        fake,
        ledger,
        "run-2",
    )
    assert statuses(again) == [RowStatus.COMPLETED, RowStatus.ALREADY_COMPLETED]
    assert again.writes_made == 1 and again.results[0].message == "Posted 1 module grade."
    assert fake.double_grades == 0 and len(fake.grade_counts) == 4


def test_lost_answer_that_landed_is_not_resent(ledger: Ledger) -> None:
    fake = writer()
    fake.fail("grade", "u1", module_ids()[0], LANDED)
    out = run(make_plan(row_plan(2, "u1", enroll=True)), fake, ledger)
    assert statuses(out) == [RowStatus.COMPLETED]
    assert fake.grade_posts == 2 and fake.double_grades == 0
    assert out.results[0].attempts == 3 and out.settled == 1 and out.grades_posted == 2


def test_lost_answer_that_did_not_land_is_resent_once(ledger: Ledger) -> None:
    fake = writer()
    fake.fail("grade", "u1", module_ids()[0], LOST)
    out = run(make_plan(row_plan(2, "u1", enroll=True)), fake, ledger)
    assert statuses(out) == [RowStatus.COMPLETED]
    assert fake.grade_posts == 3 and set(fake.grade_counts.values()) == {1}
    entry = ledger.get(WriteKey.for_grade(BASE, row_plan(2, "u1").grades[0]))
    assert entry is not None and entry.state is WriteState.DONE and entry.attempts == 2


def test_consecutive_lost_answers_are_retried_with_backoff_until_accepted(ledger: Ledger) -> None:
    """Four transient faults in a row on one grade (two did not land, one did): never failed."""
    fake = writer()
    fake.fail("grade", "u1", module_ids()[0], LOST, LOST, LOST, LANDED)
    out = run(make_plan(row_plan(2, "u1", enroll=True)), fake, ledger)
    assert statuses(out) == [RowStatus.COMPLETED]
    assert out.results[0].message == "Enrolled the learner and posted 2 module grades."
    assert fake.grade_posts == 5 and set(fake.grade_counts.values()) == {1}  # 4 sends, 1 lands
    assert out.results[0].attempts == 6  # enrollment + 4 sends of the first grade + 1
    entry = ledger.get(WriteKey.for_grade(BASE, row_plan(2, "u1").grades[0]))
    assert entry is not None and entry.state is WriteState.DONE and entry.attempts == 4
    # a backoff before each read-back: 0.5, 1, 2, 4 s steps with jitter (half to all of each)
    waited = sum(fake.sleeps)
    assert 3.75 <= waited <= 7.5, fake.sleeps
    assert fake.reads >= 4


def test_faults_that_outlast_the_budget_are_a_retryable_failure(ledger: Ledger) -> None:
    fake = writer()
    fake.write_retry = replace(fake.write_retry, retries=3)
    fake.fail("grade", "u1", module_ids()[0], *[LOST] * 4)
    out = run(make_plan(row_plan(2, "u1", enroll=True)), fake, ledger)
    result = out.results[0]
    assert result.status is RowStatus.FAILED and result.retryable and not result.needs_person
    assert result.message.startswith(
        f"ALM did not take the grade for module {module_ids()[0]}: only temporary errors in "
        "4 tries in "
    )
    assert result.message.endswith(
        "(last: HTTP 504 Gateway Timeout) and ALM does not show it. Nothing to fix in the "
        "file; run the same command again later."
    )
    # The row's other grade went beside it (after the enrollment) and landed once.
    assert fake.grade_counts == {("u1", module_ids()[1]): 1} and fake.grade_posts == 5
    assert exit_status_for(out.results) is ExitStatus.RETRYABLE
    again = run(make_plan(row_plan(2, "u1")), fake, ledger, "run-2")
    assert statuses(again) == [RowStatus.COMPLETED]
    assert exit_status_for(again.results) is ExitStatus.OK
    assert set(fake.grade_counts.values()) == {1} and len(fake.grade_counts) == 2


def test_the_time_budget_ends_retries_before_the_count_does(ledger: Ledger) -> None:
    fake = writer()
    fake.write_retry = replace(fake.write_retry, retries=50, seconds=20.0)
    fake.fail("grade", "u1", module_ids()[0], *[LOST] * 50)
    out = run(make_plan(row_plan(2, "u1", enroll=True)), fake, ledger)
    assert statuses(out) == [RowStatus.FAILED] and out.results[0].retryable
    assert sum(fake.sleeps) <= 20.0
    assert 4 <= fake.grade_posts <= 7  # 0.5 + 1 + 2 + 4 + 8 ... within 20 s, with jitter


def test_a_429_the_transport_gave_up_on_is_resent_without_a_read(ledger: Ledger) -> None:
    fake = writer()
    fake.enrolled("u1", "course:1", "course:1_1")
    fake.fail("grade", "u1", module_ids()[0], THROTTLED, THROTTLED)
    out = run(make_plan(row_plan(2, "u1")), fake, ledger)
    assert statuses(out) == [RowStatus.COMPLETED] and fake.reads == 0
    assert fake.grade_posts == 4 and set(fake.grade_counts.values()) == {1}


def test_a_refusal_is_never_retried_and_needs_a_person(ledger: Ledger) -> None:
    fake = writer()
    fake.enrolled("u1", "course:1", "course:1_1")
    fake.fail("grade", "u1", module_ids()[0], REFUSE)
    out = run(make_plan(row_plan(2, "u1")), fake, ledger)
    assert statuses(out) == [RowStatus.FAILED] and not out.results[0].retryable
    assert out.results[0].message.startswith(f"ALM refused the grade for module {module_ids()[0]}")
    # Posted once, never again; the row's other grade went beside it and landed once.
    assert fake.grade_posts == 2 and fake.sleeps == []
    assert fake.grade_counts == {("u1", module_ids()[1]): 1}
    assert exit_status_for(out.results) is ExitStatus.ROWS_FAILED


def test_a_stop_during_a_backoff_ends_the_wait_and_leaves_the_row_for_a_rerun(
    ledger: Ledger,
) -> None:
    fake = writer()
    fake.enrolled("u1", "course:1", "course:1_1")
    fake.fail("grade", "u1", module_ids()[0], *[LOST] * 20)
    stop = threading.Event()
    fake.write_retry = replace(fake.write_retry, sleep=lambda s: stop.set())
    apply_ledger(make_plan(row_plan(2, "u1", modules=1)), ledger, BASE, overwrite=False)
    options = ExecuteOptions(run_id="run-1", base_url=BASE, input_sha256="sha")
    out = execute_plan(make_plan(row_plan(2, "u1", modules=1)), fake, ledger, options, stop=stop)
    assert out.interrupted and statuses(out) == [RowStatus.UNKNOWN]
    assert out.results[0].retryable and fake.grade_posts == 1
    assert exit_status_for(out.results, interrupted=True) is ExitStatus.INTERRUPTED


def test_lost_answer_with_unreadable_alm_is_unknown_then_settled_without_repost(
    ledger: Ledger,
) -> None:
    fake = writer()
    fake.enrolled("u1", "course:1", "course:1_1")
    fake.fail("grade", "u1", module_ids()[0], LANDED)
    fake.fail_reads("u1", times=3)
    out = run(make_plan(row_plan(2, "u1")), fake, ledger)
    assert statuses(out) == [RowStatus.UNKNOWN]
    assert "cannot be read to check it (HTTP 503 Service Unavailable)" in out.results[0].message
    key = WriteKey.for_grade(BASE, row_plan(2, "u1").grades[0])
    entry = ledger.get(key)
    assert entry is not None and entry.state is WriteState.UNKNOWN
    fake.read_failures.clear()
    again = run(make_plan(row_plan(2, "u1")), fake, ledger, "run-2")
    # The other grade landed beside it in run 1: run 2 only settles, and posts nothing.
    assert statuses(again) == [RowStatus.ALREADY_COMPLETED]
    assert "run-1" in again.results[0].message
    assert fake.double_grades == 0 and len(fake.grade_counts) == 2
    assert again.settled == 1 and again.writes_made == 0


def test_enroll_lost_answers(ledger: Ledger) -> None:
    fake = writer()
    fake.fail("enroll", "u1", "course:1", LANDED)
    fake.fail("enroll", "u2", "course:1", LOST)
    out = run(
        make_plan(row_plan(2, "u1", enroll=True), row_plan(3, "u2", enroll=True)), fake, ledger
    )
    assert statuses(out) == [RowStatus.COMPLETED, RowStatus.COMPLETED]
    assert fake.enroll_posts == 3 and out.enrollments_made == 2
    assert [r.attempts for r in out.results] == [3, 4]


def test_pending_from_crashed_run_settled_by_reading(ledger: Ledger) -> None:
    """A run died mid-request: the grade that landed is not re-sent, the other one is."""
    fake = writer()
    rp = row_plan(2, "u1", enroll=True)
    landed, lost = rp.grades
    ledger.begin(WriteKey.for_enroll(BASE, "u1", "course:1", "course:1_1"), "run-dead", "sha", 2)
    ledger.begin(WriteKey.for_grade(BASE, landed), "run-dead", "sha", 2)
    ledger.begin(WriteKey.for_grade(BASE, lost), "run-dead", "sha", 2)
    fake.enrolled("u1", "course:1", "course:1_1")
    fake.graded("u1", "course:1", "course:1_1", landed.module_id)
    # the plan still wants both (the planner read ALM before the crash or ignores the ledger)
    out = run(make_plan(rp), fake, ledger, "run-2")
    assert statuses(out) == [RowStatus.COMPLETED]
    assert fake.grade_counts == {("u1", lost.module_id): 1} and fake.enroll_posts == 0
    assert out.settled == 3 and out.writes_made == 1
    assert "1 more already posted by run run-dead" in out.results[0].message
    assert ledger.pending(BASE) == []


def test_pending_that_landed_everywhere_makes_row_already_completed(ledger: Ledger) -> None:
    fake = writer()
    rp = row_plan(2, "u1")
    fake.enrolled("u1", "course:1", "course:1_1")
    for grade in rp.grades:
        ledger.begin(WriteKey.for_grade(BASE, grade), "run-dead", "sha", 2)
        fake.graded("u1", "course:1", "course:1_1", grade.module_id)
    out = run(make_plan(rp), fake, ledger, "run-2")
    assert statuses(out) == [RowStatus.ALREADY_COMPLETED]
    assert out.results[0].message.startswith("Already posted by run run-dead on ")
    assert fake.grade_posts == 0 and fake.reads == 1


def test_pending_of_a_course_alm_already_shows_completed_is_closed(ledger: Ledger) -> None:
    """Killed right after the last grade landed: the next plan finds the course COMPLETED and
    never schedules the row, so the plan's own read closes the journal entry."""
    fake = writer()
    rp = row_plan(2, "u1")
    last = rp.grades[-1]
    ledger.begin(WriteKey.for_grade(BASE, last), "run-dead", "sha", 2)
    rp.status, rp.grades = RowStatus.ALREADY_COMPLETED, []
    other = row_plan(3, "u2")  # a pending entry of another learner stays for its own settling
    ledger.begin(WriteKey.for_grade(BASE, other.grades[0]), "run-dead", "sha", 3)
    other.status, other.grades = RowStatus.INVALID, []
    out = run(make_plan(rp, other), fake, ledger, "run-2", apply=False)
    assert statuses(out) == [RowStatus.ALREADY_COMPLETED, RowStatus.INVALID]
    assert fake.grade_posts == 0
    assert ledger.get(WriteKey.for_grade(BASE, last)).state is WriteState.DONE  # type: ignore[union-attr]
    assert [e.key.user_id for e in ledger.pending(BASE)] == ["u2"]


def test_auth_error_mid_run_aborts_keeping_what_was_done(ledger: Ledger) -> None:
    fake = writer()
    fake.abort_after_writes(4)
    plan = make_plan(*(row_plan(n + 2, f"u{n}") for n in range(4)))
    for n in range(4):
        fake.enrolled(f"u{n}", "course:1", "course:1_1")
    out = run(plan, fake, ledger, concurrency=1)
    assert isinstance(out.aborted, AuthError) and not out.interrupted
    assert statuses(out)[:2] == [RowStatus.COMPLETED, RowStatus.COMPLETED]
    assert statuses(out)[2:] == [RowStatus.NOT_RUN, RowStatus.NOT_RUN]
    assert out.results[2].message.startswith(
        "Not run: the run stopped because ALM refused the credentials (HTTP 401); nothing was "
        "written for this row."
    )
    assert out.results[3].message.startswith("Not run: the run stopped because")
    assert ledger.pending(BASE) == [] and ledger.counts(BASE) == {"done": 4, "failed": 1}
    # after fixing the credentials, the same command finishes the job
    fake.abort_after = None
    again = run(make_plan(*(row_plan(n + 2, f"u{n}") for n in range(4))), fake, ledger, "run-2")
    assert statuses(again) == [RowStatus.ALREADY_COMPLETED] * 2 + [RowStatus.COMPLETED] * 2
    assert fake.double_grades == 0 and len(fake.grade_counts) == 8


def test_unreachable_mid_write_leaves_unknown_for_next_run(ledger: Ledger) -> None:
    fake = writer()
    fake.enrolled("u0", "course:1", "course:1_1")
    fake.abort_after_writes(1, ApiUnreachable("ALM did not answer for 600 seconds."))
    out = run(make_plan(row_plan(2, "u0")), fake, ledger)
    assert isinstance(out.aborted, ApiUnreachable)
    assert ledger.counts(BASE) == {"done": 1, "unknown": 1}
    fake.abort_after = None
    again = run(make_plan(row_plan(2, "u0")), fake, ledger, "run-2")
    assert statuses(again) == [RowStatus.COMPLETED] and again.settled == 1
    assert set(fake.grade_counts.values()) == {1} and len(fake.grade_counts) == 2


def test_stop_event_interrupts_and_rerun_finishes(ledger: Ledger) -> None:
    fake = writer()
    stop = threading.Event()
    fake.on_write = lambda kind, user: stop.set() if user == "u1" else None
    users = [f"u{n}" for n in range(6)]
    for user in users:
        fake.enrolled(user, "course:1", "course:1_1")

    def plan() -> Plan:
        return make_plan(*(row_plan(n + 2, u) for n, u in enumerate(users)))

    options = ExecuteOptions(run_id="run-1", base_url=BASE, input_sha256="sha", concurrency=1)
    out = execute_plan(plan(), fake, ledger, options, stop=stop)
    assert out.interrupted and out.aborted is None
    assert statuses(out)[0] is RowStatus.COMPLETED
    assert out.results[1].status is RowStatus.NOT_RUN
    assert out.results[1].message.startswith(
        "Posted 1 of 2 module grades; 1 not sent: the run was cancelled."
    )
    assert all(
        r.status is RowStatus.NOT_RUN and r.message.startswith("Not run: the run was cancelled;")
        for r in out.results[2:]
    )
    assert ledger.pending(BASE) == []
    fake.on_write = None
    again = run(plan(), fake, ledger, "run-2")
    assert statuses(again)[0] is RowStatus.ALREADY_COMPLETED
    assert all(s is RowStatus.COMPLETED for s in statuses(again)[1:])
    assert set(fake.grade_counts.values()) == {1} and len(fake.grade_counts) == 12


def test_rerun_after_success_is_all_already_completed(ledger: Ledger) -> None:
    fake = writer()
    run(make_plan(row_plan(2, "u1", enroll=True), row_plan(3, "u2", enroll=True)), fake, ledger)
    plan = make_plan(row_plan(2, "u1", enroll=True), row_plan(3, "u2", enroll=True))
    apply_ledger(plan, ledger, BASE, overwrite=False)
    assert plan.writes_needed == 0
    assert all(r.message.startswith("Already posted by run run-1 on ") for r in plan.rows)
    # and without apply_ledger the executor still refuses to post twice
    again = run(
        make_plan(row_plan(2, "u1", enroll=True), row_plan(3, "u2", enroll=True)),
        fake,
        ledger,
        "run-3",
        apply=False,
    )
    assert statuses(again) == [RowStatus.ALREADY_COMPLETED] * 2
    assert "run run-1" in again.results[0].message and again.writes_made == 0
    assert again.results[0].posted_at.endswith("Z")
    assert fake.double_grades == 0


def test_overwrite_reposts_on_purpose(ledger: Ledger) -> None:
    fake = writer()
    run(make_plan(row_plan(2, "u1", enroll=True)), fake, ledger)
    again = run(make_plan(row_plan(2, "u1")), fake, ledger, "run-2", overwrite=True)
    assert statuses(again) == [RowStatus.COMPLETED] and again.grades_posted == 2
    assert set(fake.grade_counts.values()) == {2}


def test_many_learners_concurrently_each_in_input_order(ledger: Ledger) -> None:
    fake = FakeWriter(
        modules={"course:1_1": module_ids(), "course:2_1": module_ids("course:2")}, delay=0.001
    )
    rows: list[RowPlan] = []
    for n in range(60):
        rows.append(row_plan(len(rows) + 2, f"u{n}", enroll=True))
        rows.append(row_plan(len(rows) + 2, f"u{n}", course="course:2", enroll=True))
    events: list[ProgressEvent] = []
    options = ExecuteOptions(run_id="r", base_url=BASE, input_sha256="sha", concurrency=8)
    out = execute_plan(make_plan(*rows), fake, ledger, options, on_progress=events.append)
    assert all(s is RowStatus.COMPLETED for s in statuses(out))
    assert len(fake.grade_counts) == 240 and fake.double_grades == 0
    for n in range(60):
        # Rows in input order, each enrollment before its grades; a row's grades side by side.
        mine = [t for kind, user, t in fake.log if user == f"u{n}"]
        assert mine[0] == "course:1" and sorted(mine[1:3]) == sorted(module_ids())
        assert mine[3] == "course:2" and sorted(mine[4:]) == sorted(module_ids("course:2"))
    done = [e for e in events if e.kind == "row_done"]
    assert len(done) == 120 and done[-1].counts["rows_done"] == 120
    assert events[-1].counts["writes_total"] == 360 and events[-1].counts["writes_made"] == 360
    assert events[-1].rate > 0 and events[-1].eta_seconds == 0


def test_verify_flags_rows_alm_does_not_show_completed(ledger: Ledger) -> None:
    fake = writer()
    fake.modules["course:2_1"] = [*module_ids("course:2"), "course:2_1_99_0"]  # a third module
    plan = make_plan(
        row_plan(2, "u1", enroll=True), row_plan(3, "u1", course="course:2", enroll=True)
    )
    out = run(plan, fake, ledger, verify=True)
    assert statuses(out) == [RowStatus.COMPLETED, RowStatus.COMPLETED]
    assert verify_results(out.results, plan, fake) == 1
    assert fake.reads == 1  # one read per learner
    assert "does not show the course as completed" not in out.results[0].message
    assert out.results[1].message.endswith(
        "ALM does not show the course as completed after the grades were posted: check the "
        "course's completion rules (mandatory modules, minimum score)."
    )


def test_verify_checks_one_module_rows_and_reports_unreadable_learners(ledger: Ledger) -> None:
    fake = writer()
    one = row_plan(2, "u1", modules=1, module="Video")  # only module 10 asked for
    plan = make_plan(one, row_plan(3, "u2"), row_plan(4, "u3", status=RowStatus.INVALID))
    for user in ("u1", "u2"):
        fake.enrolled(user, "course:1", "course:1_1")
    out = run(plan, fake, ledger)
    fake.fail_reads("u2")
    assert verify_results(out.results, plan, fake) == 1
    assert out.results[0].message == "Posted 1 module grade."  # course completion not expected
    assert out.results[1].message == (
        "Posted 2 module grades. Could not be verified: HTTP 503 Service Unavailable."
    )
    assert out.results[2].message == "as planned"


def test_verify_stops_quietly_when_alm_stops_answering(ledger: Ledger) -> None:
    fake = writer()
    plan = make_plan(row_plan(2, "u1", enroll=True), row_plan(3, "u2", enroll=True))
    out = run(plan, fake, ledger)

    def refuse(user_id: str) -> list[object]:
        raise AuthError("ALM refused the credentials (HTTP 401).")

    fake.get_enrollments = refuse  # type: ignore[assignment,method-assign]
    assert verify_results(out.results, plan, fake) == 2
    assert all(
        r.message.endswith("Could not be verified: ALM refused the credentials (HTTP 401).")
        for r in out.results
    )
    assert all(r.status is RowStatus.COMPLETED for r in out.results)


def test_a_failing_progress_display_never_breaks_the_run(ledger: Ledger) -> None:
    fake = writer()
    seen: list[str] = []

    def broken(event: ProgressEvent) -> None:
        seen.append(event.kind)
        raise RuntimeError("terminal went away")

    options = ExecuteOptions(run_id="r", base_url=BASE, input_sha256="sha")
    out = execute_plan(
        make_plan(row_plan(2, "u1", enroll=True)), fake, ledger, options, on_progress=broken
    )
    assert statuses(out) == [RowStatus.COMPLETED]
    assert seen == ["write", "write", "write", "row_done"]


class _InFlight(FakeWriter):
    """Counts a learner's grade posts in flight at once. Each answers once ``together`` posts
    are in flight (or after 20 ms, or 2 s while fewer are: a loaded machine may start the
    others late, and side by side they all come)."""

    def __init__(self, together: int = 1, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.inflight = 0
        self.peak = 0
        self.together = together
        self.changed = threading.Condition(self.lock)

    def post_grade(self, grade: GradeRequest) -> None:
        with self.lock:
            self.inflight += 1
            self.peak = max(self.peak, self.inflight)
            self.changed.notify_all()
        try:
            time.sleep(0.02)
            with self.lock:
                self.changed.wait_for(lambda: self.peak >= self.together, timeout=2.0)
            super().post_grade(grade)
        finally:
            with self.lock:
                self.inflight -= 1


@pytest.mark.parametrize("concurrency, peak", [(8, 4), (1, 1)])
def test_a_rows_grades_go_side_by_side_once_it_is_enrolled(
    ledger: Ledger, concurrency: int, peak: int
) -> None:
    """After the enrollment, a row's grades are independent writes: all in flight at once
    (one at a time, in order, with --concurrency 1). Each is journaled and landed once."""
    fake = _InFlight(together=peak, modules={"course:1_1": module_ids(n=4)})
    out = run(
        make_plan(row_plan(2, "u1", modules=4, enroll=True)), fake, ledger, concurrency=concurrency
    )
    assert statuses(out) == [RowStatus.COMPLETED] and fake.peak == peak
    assert out.results[0].message == "Enrolled the learner and posted 4 module grades."
    assert out.results[0].attempts == 5
    assert fake.log[0] == ("enroll", "u1", "course:1")  # the enrollment first, alone
    grades = [target for kind, _, target in fake.log if kind == "grade"]
    assert sorted(grades) == module_ids(n=4) and fake.double_grades == 0
    if concurrency == 1:
        assert grades == module_ids(n=4)
    assert ledger.counts(BASE) == {"done": 5}


def test_a_stop_among_side_by_side_grades_lets_the_others_finish_and_journals_all(
    ledger: Ledger,
) -> None:
    """Credentials refused for some of a row's grades in flight together: the run stops
    (exit 3), the grades already on their way finish, nothing is left ``pending``, and the
    same command finishes the row without posting anything twice."""
    fake = _InFlight(modules={"course:1_1": module_ids(n=4)})
    fake.enrolled("u1", "course:1", "course:1_1")
    fake.abort_after_writes(2)  # the 3rd write and later: HTTP 401
    out = run(make_plan(row_plan(2, "u1", modules=4)), fake, ledger, concurrency=8)
    assert isinstance(out.aborted, AuthError) and statuses(out) == [RowStatus.NOT_RUN]
    assert out.results[0].retryable
    assert "Posted 2 of 4 module grades; 2 not sent" in out.results[0].message
    assert len(fake.grade_counts) == 2
    assert ledger.counts(BASE) == {"done": 2, "failed": 2}  # refused: never applied
    fake.abort_after = None
    again = run(make_plan(row_plan(2, "u1", modules=4)), fake, ledger, "run-2", concurrency=8)
    assert statuses(again) == [RowStatus.COMPLETED] and again.grades_posted == 2
    assert set(fake.grade_counts.values()) == {1} and len(fake.grade_counts) == 4
