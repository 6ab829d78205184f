"""An in-memory stand-in for ``AlmClient``'s write side, with fault injection.

It keeps enrollments and module grades per learner, counts every grade POST that *landed* per
user + module (so tests can prove "exactly once"), and can inject, per call:
an "already enrolled" 409, ``ApiError`` refusals, ``WriteUncertain`` where the write DID land
and where it did NOT, failing reads, and ``AuthError`` / ``ApiUnreachable`` after N writes.
Faults are consumed one by one (a list per key), so a test says exactly what happens when.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from batch.alm.api import CallStats
from batch.alm.retry import WriteRetry
from batch.alm.types import Enrollment, GradeRequest, ModuleGrade
from batch.errors import AbortError, ApiError, ApiUnreachable, AuthError, WriteUncertain
from batch.models import CheckedRow, Completion, CourseRef, InputRow, RowStatus
from batch.plan import Plan, RowPlan

# Fault names for ``FakeWriter.fail``.
LANDED = "uncertain_landed"  # the write is applied, then the answer is lost
LOST = "uncertain_lost"  # the answer is lost and the write was NOT applied
REFUSE = "refuse"  # a 400 answer: not applied
THROTTLED = "throttled"  # a 429 the transport stopped retrying: not applied


@dataclass
class _Enr:
    id: str
    course_id: str
    instance_id: str
    grades: dict[str, ModuleGrade] = field(default_factory=dict)


class FakeWriter:
    """Enroll / post_grade / get_enrollments with ``AlmClient``'s signatures.

    ``modules``: instance id -> the module ids that complete it (an enrollment turns COMPLETED
    once every one has a completed grade). ``require_enrollment``: a grade for a learner not
    enrolled in the course is refused with a 400, as ALM is expected to do.
    """

    def __init__(
        self,
        *,
        modules: dict[str, list[str]] | None = None,
        require_enrollment: bool = True,
        delay: float = 0.0,
    ) -> None:
        self.modules = modules or {}
        self.require_enrollment = require_enrollment
        self.delay = delay
        self.stats = CallStats()
        self.lock = threading.Lock()
        self.enrollments: dict[str, dict[str, _Enr]] = {}  # user -> course -> enrollment
        self.grade_counts: Counter[tuple[str, str]] = Counter()  # (user, module) -> landed POSTs
        self.grade_posts = 0  # grade POSTs received (landed or not)
        self.enroll_posts = 0
        self.reads = 0
        self.faults: dict[tuple[str, str], list[str]] = {}  # (kind/user, module|course) -> faults
        self.read_failures: dict[str, int] = {}  # user -> reads to fail ("*" = everyone)
        self.abort_after: tuple[int, AbortError] | None = None
        self.on_write: Callable[[str, str], None] | None = None  # hook(kind, user) after a write
        self.already_enrolled_409 = False  # answer an existing enrollment with a 409 ApiError
        self.log: list[tuple[str, str, str]] = []  # (kind, user, module|course) of landed writes
        # The executor's write-retry budget runs on this fake clock: waits are recorded, and
        # advance ``now``, never slept for real.
        self.now = 0.0
        self.sleeps: list[float] = []
        self.write_retry = WriteRetry(clock=self.clock, sleep=self.sleep, rng=random.Random(7))

    def clock(self) -> float:
        with self.lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.sleeps.append(seconds)
            self.now += seconds

    # --- set-up --------------------------------------------------------------------------
    def enrolled(self, user_id: str, course_id: str, instance_id: str) -> None:
        self._enrollment(user_id, course_id, instance_id)

    def graded(self, user_id: str, course_id: str, instance_id: str, module_id: str) -> None:
        """Record a grade that exists in ALM before the test runs (not counted as a POST)."""
        enr = self._enrollment(user_id, course_id, instance_id)
        enr.grades[module_id] = ModuleGrade(module_id, True, datetime.now(UTC))

    def fail(self, kind: str, user_id: str, target: str, *faults: str) -> None:
        """Queue faults for the next calls of ``kind`` ("grade": target = module id,
        "enroll": target = course id)."""
        self.faults.setdefault((f"{kind}/{user_id}", target), []).extend(faults)

    def fail_reads(self, user_id: str = "*", times: int = 10**9) -> None:
        self.read_failures[user_id] = times

    def abort_after_writes(self, n: int, exc: AbortError | None = None) -> None:
        """Every write after the first ``n`` raises ``exc`` (an AuthError by default)."""
        self.abort_after = (n, exc or AuthError("ALM refused the credentials (HTTP 401)."))

    # --- AlmClient surface ---------------------------------------------------------------
    def get_enrollments(self, user_id: str) -> list[Enrollment]:
        self._pause()
        with self.lock:
            self.reads += 1
            for who in (user_id, "*"):
                if self.read_failures.get(who, 0) > 0:
                    self.read_failures[who] -= 1
                    raise ApiError(503, "Service Unavailable", code="SERVICE_UNAVAILABLE")
            return [self._view(e) for e in self.enrollments.get(user_id, {}).values()]

    def get_program_enrollments(self, user_id: str) -> list[Enrollment]:
        """Program and certification enrollments (enrolling in one enrolls in nothing else
        here: an ALM that does not enroll a learner in a program's courses)."""
        with self.lock:
            self.reads += 1
            mine = self.enrollments.get(user_id, {}).values()
            return [self._view(e) for e in mine if not e.course_id.startswith("course:")]

    def enroll(self, user_id: str, course_id: str, instance_id: str) -> Enrollment | None:
        self._pause()
        with self.lock:
            self._gate()
            self.enroll_posts += 1
            fault = self._next_fault("enroll", user_id, course_id)
            if fault == REFUSE:
                raise ApiError(400, "Bad Request", "Enrollment refused", code="BAD_REQUEST")
            if fault == LOST:
                raise WriteUncertain(0, "Connection dropped", "no answer")
            existing = self.enrollments.get(user_id, {}).get(course_id)
            if existing is not None and self.already_enrolled_409:
                raise ApiError(409, "Conflict", "Learner already enrolled", code="CONFLICT")
            enr = self._enrollment(user_id, course_id, instance_id)
            self.log.append(("enroll", user_id, course_id))
            if fault == LANDED:
                raise WriteUncertain(502, "Bad Gateway")
            self._after_write("enroll", user_id)
            return self._view(enr)

    def post_grade(self, grade: GradeRequest) -> None:
        self._pause()
        with self.lock:
            self._gate()
            self.grade_posts += 1
            fault = self._next_fault("grade", grade.user_id, grade.module_id)
            if fault == REFUSE:
                raise ApiError(
                    400,
                    "Field Type incorrect",
                    "incorrect relation type - module",
                    code="BAD_REQUEST",
                )
            if fault == LOST:
                raise WriteUncertain(504, "Gateway Timeout")
            if fault == THROTTLED:
                raise ApiError(429, "Too Many Requests", code="TOO_MANY_REQUESTS")
            enr = self.enrollments.get(grade.user_id, {}).get(grade.course_id)
            if enr is None:
                if self.require_enrollment:
                    raise ApiError(
                        400, "Bad Request", "Learner is not enrolled", code="BAD_REQUEST"
                    )
                enr = self._enrollment(grade.user_id, grade.course_id, grade.instance_id)
            enr.grades[grade.module_id] = ModuleGrade(
                grade.module_id, True, grade.date_completed, grade.score, True
            )
            self.grade_counts[(grade.user_id, grade.module_id)] += 1
            self.log.append(("grade", grade.user_id, grade.module_id))
            self.stats.writes += 1
            if fault == LANDED:
                raise WriteUncertain(0, "Read timed out", "the response was lost")
            self._after_write("grade", grade.user_id)

    # --- helpers -------------------------------------------------------------------------
    @property
    def double_grades(self) -> int:
        return sum(1 for n in self.grade_counts.values() if n > 1)

    def _pause(self) -> None:
        if self.delay:
            time.sleep(self.delay)

    def _gate(self) -> None:
        if self.abort_after is not None:
            n, exc = self.abort_after
            if self.enroll_posts + self.grade_posts >= n:
                raise exc

    def _after_write(self, kind: str, user_id: str) -> None:
        if self.on_write is not None:
            self.on_write(kind, user_id)

    def _next_fault(self, kind: str, user_id: str, target: str) -> str | None:
        queue = self.faults.get((f"{kind}/{user_id}", target))
        return queue.pop(0) if queue else None

    def _enrollment(self, user_id: str, course_id: str, instance_id: str) -> _Enr:
        courses = self.enrollments.setdefault(user_id, {})
        if course_id not in courses:
            courses[course_id] = _Enr(f"enr-{user_id}-{course_id}", course_id, instance_id)
        return courses[course_id]

    def _view(self, enr: _Enr) -> Enrollment:
        needed = self.modules.get(enr.instance_id, [])
        done = bool(needed) and all(m in enr.grades and enr.grades[m].completed for m in needed)
        return Enrollment(
            id=enr.id,
            lo_id=enr.course_id,
            instance_id=enr.instance_id,
            state="COMPLETED" if done else "ENROLLED",
            grades=dict(enr.grades),
        )


def module_ids(course: str = "course:1", instance: str = "1", n: int = 2) -> list[str]:
    """loResource ids shaped like ALM's: course:<c>_<i>_<m>_0."""
    num = course.split(":")[-1]
    return [f"course:{num}_{instance}_{10 + k}_0" for k in range(n)]


def row_plan(
    row: int,
    user_id: str,
    *,
    course: str = "course:1",
    instance: str = "1",
    modules: int = 2,
    enroll: bool = False,
    status: RowStatus = RowStatus.WOULD_COMPLETE,
    module: str | None = None,
) -> RowPlan:
    """A planned row as build_plan would make it: ``modules`` grades for one learner/course."""
    instance_id = f"{course}_{instance}"
    ids = module_ids(course, instance, modules)
    when = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)
    email = f"{user_id}@example.com"
    completion = Completion(email, CourseRef(course, course), when, module=module)
    values = {"Email": email, "Course": course, "Completion Date": "2026-10-01"}
    checked = CheckedRow(InputRow(row, values, {}), completion)
    grades = [GradeRequest(user_id, course, instance_id, m, when, score=90.0) for m in ids]
    if status is not RowStatus.WOULD_COMPLETE:
        return RowPlan(checked, status, "as planned", user_id, course, instance_id, ids)
    return RowPlan(checked, status, "", user_id, course, instance_id, ids, enroll, grades)


def make_plan(*rows: RowPlan) -> Plan:
    return Plan(rows=list(rows))


__all__ = ["LANDED", "LOST", "REFUSE", "ApiUnreachable", "FakeWriter", "make_plan", "row_plan"]
