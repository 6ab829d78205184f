"""Reading ALM's state to learn whether a write landed, instead of re-sending it blindly.

Used after a lost answer (``WriteUncertain``), for ``pending`` journal entries left by a run
that died mid-request, and by ``--verify``. Everything here is read-only.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Protocol, runtime_checkable

from batch.alm.types import Enrollment, GradeRequest
from batch.errors import ApiError
from batch.gate import PoolGate
from batch.ledger import WriteKey, WriteKind


class WriteClient(Protocol):
    """The part of ``AlmClient`` the executor uses (a Protocol so tests can pass a double)."""

    def enroll(self, user_id: str, course_id: str, instance_id: str) -> Enrollment | None: ...

    def post_grade(self, grade: GradeRequest) -> None: ...

    def get_enrollments(self, user_id: str) -> list[Enrollment]: ...

    def get_program_enrollments(self, user_id: str) -> list[Enrollment]: ...


@runtime_checkable
class GatesWrites(Protocol):
    """A client that bounds its writes in flight itself (``AlmClient.limit_writes``): it holds
    a slot only while a request is out, not while waiting for the grade body's verdict."""

    def limit_writes(self, size: int) -> PoolGate: ...


def course_enrollments(
    enrollments: Iterable[Enrollment], course_id: str, instance_id: str
) -> list[Enrollment]:
    """The learner's enrollments in this course, the given instance's first.

    An enrollment in another instance of the course is kept (after the exact match) because
    ALM may file a grade under the learner's enrollment whatever instance the row named.
    """
    same = [e for e in enrollments if e.lo_id == course_id]
    return sorted(same, key=lambda e: 0 if e.instance_id == instance_id else 1)


def grade_landed(enrollments: Iterable[Enrollment], key: WriteKey) -> bool:
    """True when ALM shows this module completed for the learner.

    The module's own grade decides when ALM lists it; an enrollment that is COMPLETED but
    lists no grade for the module counts as landed (course completion implies the modules).
    With ``--overwrite`` a module completed before the re-post also reads as landed: that can
    only ever stop a second send, never cause one.
    """
    for enrollment in course_enrollments(enrollments, key.course_id, key.instance_id):
        grade = enrollment.grades.get(key.module_id)
        if grade is not None:
            if grade.completed:
                return True
        elif enrollment.completed:
            return True
    return False


def enrollment_landed(enrollments: Iterable[Enrollment], key: WriteKey) -> bool:
    """True when the learner is enrolled in this instance (or, with no instance, the course)."""
    for enrollment in course_enrollments(enrollments, key.course_id, key.instance_id):
        if not key.instance_id or enrollment.instance_id in (key.instance_id, ""):
            return True
    return False


def is_course(lo_id: str) -> bool:
    """A course's id (``course:123``), as opposed to a learning program's or certification's,
    whose enrollments ALM lists only when asked for their types."""
    return lo_id.startswith("course:")


def landed(enrollments: Iterable[Enrollment], key: WriteKey) -> bool:
    if key.kind is WriteKind.ENROLL:
        return enrollment_landed(enrollments, key)
    return grade_landed(enrollments, key)


class LearnerState:
    """One learner's enrollments, read from ALM at most when needed and kept for the row group.

    A snapshot taken before this run writes anything stays valid for settling what earlier
    runs left ``pending`` (this run only adds grades); after a lost answer the executor asks
    for a ``fresh`` read. A failed read is remembered so one learner's rows do not hammer a
    failing endpoint: only a ``fresh`` request tries again.
    """

    def __init__(self, client: WriteClient, user_id: str) -> None:
        self.client = client
        self.user_id = user_id
        self._enrollments: list[Enrollment] | None = None
        self._programs: list[Enrollment] | None = None  # read only for a program's writes
        self.error: ApiError | None = None
        self.reads = 0
        # A row's grades may be settled from several threads: one read at a time.
        self._lock = threading.Lock()

    def read(self, *, fresh: bool = False) -> list[Enrollment] | None:
        """The enrollments, or None when ALM cannot be read now (``error`` says why).

        ``AuthError`` / ``ApiUnreachable`` propagate: they stop the run.
        """
        with self._lock:
            if self._enrollments is not None and not fresh:
                return self._enrollments
            if self.error is not None and not fresh:
                return None
            self.reads += 1
            try:
                self._enrollments = self.client.get_enrollments(self.user_id)
            except ApiError as exc:
                self._enrollments = None
                self.error = exc
                return None
            self.error = None
            return self._enrollments

    def read_programs(self, *, fresh: bool = False) -> list[Enrollment] | None:
        """The learner's learning program and certification enrollments (``read``'s rules)."""
        with self._lock:
            if self._programs is not None and not fresh:
                return self._programs
            self.reads += 1
            try:
                self._programs = self.client.get_program_enrollments(self.user_id)
            except ApiError as exc:
                self._programs = None
                self.error = exc
                return None
            return self._programs

    def program(self, lo_id: str, *, fresh: bool = False) -> Enrollment | None | ApiError:
        """The learner's enrollment in a program or certification: None when there is none,
        the ``ApiError`` when ALM cannot be read."""
        programs = self.read_programs(fresh=fresh)
        if programs is None:
            return self.error or ApiError(0, "no answer")
        return next((e for e in programs if e.lo_id == lo_id), None)

    def landed(self, key: WriteKey, *, fresh: bool = False) -> bool | None:
        """True / False from ALM's state, None when it cannot be read."""
        if not is_course(key.course_id):  # a program's or certification's own enrollment
            programs = self.read_programs(fresh=fresh)
            return None if programs is None else landed(programs, key)
        enrollments = self.read(fresh=fresh)
        if enrollments is None:
            return None
        return landed(enrollments, key)

    @property
    def error_text(self) -> str:
        return self.error.describe() if self.error is not None else "no answer"
