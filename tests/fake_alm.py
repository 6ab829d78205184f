"""An in-memory stand-in for ``AlmClient``'s read calls, with call counting.

Why: resolver and planner logic is about *which* calls are made and how often; these unit tests
count them without HTTP. Integration with the real client runs against the sandbox instead.
Writes (``enroll``, ``post_grade``) exist only to fail loudly: the dry run must never call them.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import datetime

from batch.alm.types import (
    CourseDetail,
    CourseSummary,
    Enrollment,
    GradeRequest,
    Instance,
    Module,
    ModuleGrade,
    User,
)
from batch.errors import ApiError


def make_course(
    num: int,
    name: str | dict[str, str],
    *,
    state: str = "Published",
    instances: Iterable[tuple[int, str, str, bool]] = ((1, "Default", "Active", True),),
    modules: Iterable[tuple[int, str, str]] = ((1, "Module 1", "Content"),),
    lo_type: str = "course",
) -> CourseDetail:
    """A course ``course:<num>``; instances are (num, name, state, is_default); every instance
    gets the same modules, (num, name, loResourceType)."""
    names = {"en-US": name} if isinstance(name, str) else dict(name)
    built = []
    mods = list(modules)
    for inst_num, inst_name, inst_state, is_default in instances:
        inst_id = f"{lo_type}:{num}_{inst_num}"
        built.append(
            Instance(
                id=inst_id,
                state=inst_state,
                is_default=is_default,
                names={"en-US": inst_name},
                modules=tuple(
                    Module(
                        id=f"{inst_id}_{mod_num}_0",
                        instance_id=inst_id,
                        lo_resource_type=kind,
                        names={"en-US": mod_name},
                    )
                    for mod_num, mod_name, kind in mods
                ),
            )
        )
    return CourseDetail(
        id=f"{lo_type}:{num}", state=state, names=names, instances=tuple(built), lo_type=lo_type
    )


def completed_enrollment(
    user_id: str, course: CourseDetail, when: datetime, instance_index: int = 0
) -> Enrollment:
    inst = course.instances[instance_index]
    return Enrollment(
        id=f"enr-{user_id}-{course.id}",
        lo_id=course.id,
        instance_id=inst.id,
        state="COMPLETED",
        date_completed=when,
        grades={
            m.id: ModuleGrade(module_id=m.id, completed=True, date_completed=when)
            for m in inst.content_modules
        },
    )


def started_enrollment(
    user_id: str,
    course: CourseDetail,
    done_modules: Iterable[str] = (),
    instance_index: int = 0,
    when: datetime | None = None,
) -> Enrollment:
    inst = course.instances[instance_index]
    done = set(done_modules)
    return Enrollment(
        id=f"enr-{user_id}-{course.id}",
        lo_id=course.id,
        instance_id=inst.id,
        state="STARTED" if done else "ENROLLED",
        grades={
            m.id: ModuleGrade(module_id=m.id, completed=m.id in done, date_completed=when)
            for m in inst.modules
        },
    )


class FakeAlm:
    """Users, a catalogue, course details and enrollments held in dicts; ``calls`` counts each
    method call by name. Set ``fail[method] = ApiError(...)`` to make a method raise."""

    def __init__(
        self,
        users: Iterable[User] = (),
        courses: Iterable[CourseDetail] = (),
        enrollments: dict[str, list[Enrollment]] | None = None,
    ) -> None:
        self.users = {u.email.casefold(): u for u in users}
        self.courses = {c.id: c for c in courses}
        self.enrollment_map = dict(enrollments or {})
        self.calls: Counter[str] = Counter()
        self.fail: dict[str, ApiError] = {}
        self._lock = threading.Lock()

    def _count(self, name: str) -> None:
        with self._lock:
            self.calls[name] += 1
        if name in self.fail:
            raise self.fail[name]

    def add_user(self, email: str, user_id: str, state: str = "ACTIVE") -> User:
        user = User(id=user_id, email=email, state=state)
        self.users[email.casefold()] = user
        return user

    # --- users -----------------------------------------------------------------------------
    def find_user_by_email(self, email: str) -> User | None:
        self._count("find_user_by_email")
        return self.users.get(email.strip().casefold())

    def export_users(self, *, poll_seconds: float = 2.0, timeout: float = 1800.0) -> Iterator[User]:
        self._count("export_users")
        yield from list(self.users.values())

    def get_user(self, user_id: str) -> User | None:
        self._count("get_user")
        return next((u for u in self.users.values() if u.id == user_id), None)

    # --- learning objects -------------------------------------------------------------------
    def iter_catalogue(self, lo_types: Iterable[str] = ("course",)) -> Iterator[CourseSummary]:
        self._count("iter_catalogue")
        wanted = set(lo_types)
        for c in list(self.courses.values()):
            if c.lo_type in wanted:
                yield CourseSummary(
                    id=c.id,
                    state=c.state,
                    names=c.names,
                    lo_type=c.lo_type,
                    root_id=c.root_id,
                    is_external=c.is_external,
                    date_created=c.date_created,
                )

    def get_course(self, course_id: str) -> CourseDetail | None:
        self._count("get_course")
        return self.courses.get(course_id)

    def get_program(self, lo_id: str) -> CourseDetail | None:
        self._count("get_program")
        return self.courses.get(lo_id)

    # --- enrollments ------------------------------------------------------------------------
    def get_enrollments(self, user_id: str) -> list[Enrollment]:
        self._count("get_enrollments")
        return [e for e in self.enrollment_map.get(user_id, []) if e.lo_id.startswith("course:")]

    def get_program_enrollments(self, user_id: str) -> list[Enrollment]:
        self._count("get_program_enrollments")
        return [
            e for e in self.enrollment_map.get(user_id, []) if not e.lo_id.startswith("course:")
        ]

    def enroll(self, user_id: str, course_id: str, instance_id: str) -> Enrollment | None:
        raise AssertionError("a dry run must never enroll")

    def post_grade(self, grade: GradeRequest) -> None:
        raise AssertionError("a dry run must never post a grade")
