"""build_plan: statuses, messages, instance/module choice, learner state and call economy."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from batch.alm.types import CourseSummary, Enrollment, User
from batch.cache import LookupCache, cache_path
from batch.models import CheckedRow, Completion, CourseRef, InputRow, RowIssue, RowStatus
from batch.plan import Plan, PlanOptions, build_plan
from batch.resolve import Resolver
from tests.fake_alm import FakeAlm, completed_enrollment, make_course, started_enrollment

BASE = "http://alm.test"
WHEN = datetime(2025, 5, 6, tzinfo=UTC)

SAFETY = make_course(
    10,
    "Fire Safety",
    instances=[
        (1, "Default", "Active", True),
        (2, "Spring Session", "Active", False),
        (3, "Old Session", "Retired", False),
    ],
    modules=[(1, "Intro", "Pre Work"), (2, "Video", "Content"), (3, "Quiz", "Content")],
)
PRIVACY = make_course(20, {"en-US": "Data Privacy", "fr-FR": " Confidentialité "})
EMPTY = make_course(30, "Only Prework", modules=[(1, "Read first", "Pre Work")])


def row(
    n: int,
    email: str = "ann@acme.com",
    course: str = "Fire Safety",
    *,
    instance: str | None = None,
    module: str | None = None,
    score: float | None = None,
    duplicate_of: int | None = None,
) -> CheckedRow:
    ref = CourseRef(course, f"course:{course}") if course.isdigit() else CourseRef(course.strip())
    completion = Completion(
        email=email,
        course=ref,
        completion_date=WHEN,
        score=score,
        max_score=100.0 if score is not None else None,
        module=module,
        instance=instance,
    )
    values = {"Email": email, "Course": course}
    return CheckedRow(InputRow(n, values, {}), completion, duplicate_of=duplicate_of)


def invalid(n: int) -> CheckedRow:
    issue = RowIssue("Completion Date", "31/02/2025", "column 'Completion Date': not a date.")
    return CheckedRow(InputRow(n, {}, {}), None, [issue, issue])


def fake(enrollments: dict[str, list[Enrollment]] | None = None) -> FakeAlm:
    return FakeAlm(
        users=[
            User("1", "ann@acme.com"),
            User("2", "bob@acme.com"),
            User("3", "sus@acme.com", state="SUSPENDED"),
            User("4", "gone@acme.com", state="DELETED"),
        ],
        courses=[SAFETY, PRIVACY, EMPTY],
        enrollments=enrollments,
    )


def plan_of(
    rows: list[CheckedRow], alm: FakeAlm, overwrite: bool = False, cache: LookupCache | None = None
) -> Plan:
    resolver = Resolver(alm, cache or LookupCache(None, BASE))
    return build_plan(iter(rows), resolver, PlanOptions(overwrite=overwrite))


def one(r: CheckedRow, alm: FakeAlm | None = None, overwrite: bool = False):  # type: ignore[no-untyped-def]
    return plan_of([r], alm or fake(), overwrite).rows[0]


def test_not_enrolled_learner_is_enrolled_in_the_default_instance_and_graded() -> None:
    p = one(row(2, score=88))
    assert p.status is RowStatus.WOULD_COMPLETE
    assert (p.user_id, p.course_id, p.instance_id) == ("1", "course:10", "course:10_1")
    assert p.module_ids == ["course:10_1_2_0", "course:10_1_3_0"]  # Pre Work skipped
    assert p.enroll and p.writes == 3 and p.action == "enroll + grade 2 modules"
    g = p.grades[0]
    assert (g.user_id, g.module_id, g.date_completed, g.score, g.max_score) == (
        "1",
        "course:10_1_2_0",
        WHEN,
        88,
        100.0,
    )
    assert p.message == (
        "Would enroll ann@acme.com in 'Fire Safety' (instance 'Default' (course:10_1)) "
        "and grade 2 modules."
    )


def test_invalid_and_duplicate_rows_cost_no_call() -> None:
    alm = fake()
    plan = plan_of([invalid(2), row(3, duplicate_of=7)], alm)
    assert [r.status for r in plan.rows] == [RowStatus.INVALID, RowStatus.DUPLICATE]
    assert plan.rows[0].message == (
        "column 'Completion Date': not a date. column 'Completion Date': not a date."
    )
    assert plan.rows[1].message == "Duplicate of row 7 (same learner and course): not posted twice."
    assert alm.calls == {}


def test_user_not_found_suspended_and_deleted() -> None:
    plan = plan_of(
        [row(2, "jane.doe@acme.com"), row(3, "sus@acme.com"), row(4, "gone@acme.com")], fake()
    )
    assert [r.status for r in plan.rows] == [RowStatus.USER_NOT_FOUND] + [RowStatus.REJECTED] * 2
    assert plan.rows[0].message == (
        "No ALM user has the email 'jane.doe@acme.com'. Check the spelling, or add the user "
        "to ALM first."
    )
    assert plan.rows[1].message == (
        "sus@acme.com is suspended in ALM; reactivate the user or remove the row."
    )
    assert plan.rows[2].message.startswith("gone@acme.com is deleted in ALM; restore")


def test_already_completed_says_when_unless_overwrite() -> None:
    done = {"1": [completed_enrollment("1", SAFETY, datetime(2025, 3, 4, tzinfo=UTC))]}
    p = one(row(2), fake(done))
    assert p.status is RowStatus.ALREADY_COMPLETED
    assert p.message == "ALM already shows ann@acme.com completed 'Fire Safety' on 2025-03-04."
    assert p.writes == 0 and p.action == "skip"
    assert p.module_ids == ["course:10_1_2_0", "course:10_1_3_0"]

    again = one(row(2), fake(done), overwrite=True)
    assert again.status is RowStatus.WOULD_COMPLETE
    assert not again.enroll and len(again.grades) == 2
    assert "--overwrite" in again.message and "2025-03-04" in again.message


def test_partially_graded_enrollment_plans_only_the_remaining_modules() -> None:
    partial = {"1": [started_enrollment("1", SAFETY, ["course:10_1_2_0"])]}
    p = one(row(2), fake(partial))
    assert p.status is RowStatus.WOULD_COMPLETE and not p.enroll
    assert p.module_ids == ["course:10_1_2_0", "course:10_1_3_0"]
    assert [g.module_id for g in p.grades] == ["course:10_1_3_0"]
    assert p.message == (
        "Would grade 1 of 2 modules of 'Fire Safety' for ann@acme.com; "
        "ALM already shows 'Video' completed."
    )


def test_existing_enrollment_instance_wins_over_the_default() -> None:
    enrolled = {"1": [started_enrollment("1", SAFETY, instance_index=1)]}
    p = one(row(2), fake(enrolled))
    assert p.instance_id == "course:10_2" and not p.enroll
    assert p.message == "Would grade 2 modules of 'Fire Safety' for ann@acme.com."


def test_instance_column_by_name_or_id_any_case() -> None:
    for text in ("spring session", "  SPRING   Session ", "course:10_2", "10_2"):
        p = one(row(2, instance=text))
        assert p.status is RowStatus.WOULD_COMPLETE, text
        assert p.instance_id == "course:10_2"


def test_unknown_instance_lists_the_available_ones() -> None:
    p = one(row(2, instance="Autumn"))
    assert p.status is RowStatus.REJECTED
    assert p.message == (
        "No instance 'Autumn' in course course:10 'Fire Safety'. Available instances: "
        "'Default' (course:10_1), 'Spring Session' (course:10_2), 'Old Session' (course:10_3). "
        "Fix the Instance column or leave it empty."
    )


def test_retired_instance_is_rejected() -> None:
    p = one(row(2, instance="Old Session"))
    assert p.status is RowStatus.REJECTED
    assert "'Old Session' (course:10_3) of 'Fire Safety' is retired" in p.message


def test_instance_column_conflicting_with_the_enrollment_is_rejected() -> None:
    enrolled = {"1": [started_enrollment("1", SAFETY, instance_index=0)]}
    p = one(row(2, instance="Spring Session"), fake(enrolled))
    assert p.status is RowStatus.REJECTED
    assert p.message.startswith(
        "ann@acme.com is enrolled in instance 'Default' (course:10_1) of 'Fire Safety', "
        "not 'Spring Session' (course:10_2)"
    )


def test_module_column_by_name_id_or_course_module_number() -> None:
    for text in ("quiz", "course:10_1_3_0", "1030"):
        p = one(row(2, module=text))
        assert p.status is RowStatus.WOULD_COMPLETE, text
        assert [g.module_id for g in p.grades] == ["course:10_1_3_0"]
    bad = one(row(2, module="Final Exam"))
    assert bad.status is RowStatus.REJECTED
    assert "Available modules: 'Intro' (course:10_1_1_0), 'Video'" in bad.message


def test_instance_without_content_modules_is_rejected() -> None:
    p = one(row(2, course="Only Prework"))
    assert p.status is RowStatus.REJECTED
    assert "has no Content modules to grade" in p.message


def test_course_statuses_carry_through() -> None:
    plan = plan_of([row(2, course="Fire Safty"), row(3, course="999")], fake())
    assert plan.rows[0].status is RowStatus.COURSE_NOT_FOUND
    assert plan.rows[0].message == "No course named 'Fire Safty'. Did you mean 'Fire Safety'?"
    assert plan.rows[1].status is RowStatus.COURSE_NOT_FOUND


def test_two_rows_for_one_new_enrollment_use_the_same_instance() -> None:
    plan = plan_of(
        [row(2, module="Video"), row(3, module="Quiz", instance="Spring Session")], fake()
    )
    assert plan.rows[0].status is RowStatus.WOULD_COMPLETE and plan.rows[0].enroll
    assert plan.rows[1].status is RowStatus.REJECTED
    assert "not 'Spring Session'" in plan.rows[1].message


def test_calls_grow_with_distinct_users_and_courses_not_rows() -> None:
    alm = fake()
    rows: list[CheckedRow] = []
    for i in range(600):
        email = ("ann@acme.com", "bob@acme.com", "ghost@acme.com")[i % 3]
        course = ("Fire Safety", "confidentialité", "20")[i % 4 % 3]
        rows.append(row(i + 2, email, course))

    def stream() -> Iterator[CheckedRow]:
        yield from rows  # a one-shot iterator, as validate gives

    plan = build_plan(stream(), Resolver(alm, LookupCache(None, BASE)), PlanOptions())
    assert len(plan.rows) == 600
    assert alm.calls == {
        "find_user_by_email": 3,
        "iter_catalogue": 1,
        "get_course": 2,
        "get_enrollments": 2,  # ann and bob; the unknown user needs none
        "export_users": 1,  # ghost: deleted, or unknown? only the users export can tell
    }
    assert plan.writes_needed == sum(r.writes for r in plan.rows) > 0


def test_a_warm_second_run_reads_only_enrollments(tmp_path: Path) -> None:
    rows = [row(2), row(3, "bob@acme.com", "Data Privacy"), row(4, "ghost@acme.com")]
    with LookupCache(cache_path(tmp_path), BASE) as cache:
        plan_of(rows, fake(), cache=cache)
    warm = fake()
    with LookupCache(cache_path(tmp_path), BASE) as cache:
        plan = plan_of(rows, warm, cache=cache)
    assert warm.calls == {"find_user_by_email": 1, "get_enrollments": 2}  # the miss is re-asked
    assert [r.status for r in plan.rows] == [
        RowStatus.WOULD_COMPLETE,
        RowStatus.WOULD_COMPLETE,
        RowStatus.USER_NOT_FOUND,
    ]


def test_progress_reaches_the_plan_stage() -> None:
    seen: list[tuple[str, int, int]] = []
    resolver = Resolver(fake(), LookupCache(None, BASE))
    build_plan([row(2), row(3)], resolver, PlanOptions(), on_progress=lambda *a: seen.append(a))
    assert seen[-1] == ("plan", 2, 2)
    assert any(stage == "users" for stage, _, _ in seen)


def test_failed_reads_make_the_row_unknown_not_a_crash() -> None:
    from batch.errors import ApiError

    alm = fake()
    alm.fail["get_enrollments"] = ApiError(500, "Server Error", "try later")
    p = one(row(2), alm)
    assert p.status is RowStatus.UNKNOWN
    assert p.message == (
        "Could not read ann@acme.com's enrollments in ALM (HTTP 500 Server Error: try later); "
        "a re-run will try again."
    )
    alm = fake()
    alm.fail["find_user_by_email"] = ApiError(400, "Bad Request")
    assert one(row(2), alm).status is RowStatus.UNKNOWN


def test_completed_in_another_instance_than_the_column_is_already_completed() -> None:
    done = {"1": [completed_enrollment("1", SAFETY, datetime(2025, 3, 4, tzinfo=UTC))]}
    p = one(row(2, instance="Spring Session"), fake(done))
    assert p.status is RowStatus.ALREADY_COMPLETED
    assert p.instance_id == "course:10_1"
    assert p.message == (
        "ALM already shows ann@acme.com completed 'Fire Safety' on 2025-03-04 in instance "
        "'Default' (course:10_1), not 'Spring Session'."
    )


class SlowUsersExport(FakeAlm):
    """ALM's lookup by email hides deleted users; its users export (which shows them) takes
    as long as the course lookups do: it ends once the catalogue has been read."""

    def __init__(self) -> None:
        super().__init__(
            users=[User("1", "ann@acme.com"), User("4", "gone@acme.com", state="DELETED")],
            courses=[SAFETY, PRIVACY],
        )
        self.catalogue_read = threading.Event()
        self.export: list[str] = []

    def find_user_by_email(self, email: str) -> User | None:
        user = super().find_user_by_email(email)
        return None if user is not None and user.state == "DELETED" else user

    def export_users(self, *, poll_seconds: float = 2.0, timeout: float = 1800.0) -> Iterator[User]:
        self.export.append("started")
        released = self.catalogue_read.wait(5.0)
        self.export.append("ended with the course lookups" if released else "ended alone")
        yield from super().export_users()

    def iter_catalogue(self, lo_types: Iterable[str] = ("course",)) -> Iterator[CourseSummary]:
        self.catalogue_read.set()
        yield from super().iter_catalogue(lo_types)


def test_the_users_export_for_deleted_users_runs_beside_the_course_lookups() -> None:
    """The export that tells a deleted user from an unknown email starts at the first email
    ALM's lookup misses and runs while the rest is looked up, instead of after it."""
    alm = SlowUsersExport()
    rows = [
        row(2, "gone@acme.com"),
        row(3, "nobody@acme.com"),
        row(4, "ann@acme.com", "Data Privacy"),
    ]
    plan = plan_of(rows, alm)
    assert alm.export == ["started", "ended with the course lookups"]
    assert alm.calls["export_users"] == 1
    assert [r.status for r in plan.rows] == [
        RowStatus.REJECTED,
        RowStatus.USER_NOT_FOUND,
        RowStatus.WOULD_COMPLETE,
    ]
    assert plan.rows[0].message.startswith("gone@acme.com is deleted in ALM; restore")
