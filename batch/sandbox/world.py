"""The sandbox's mutable ALM state: users, learning objects, enrollments and module grades.

Built from a seed and indexed once (users by id and lower-cased email, learning objects by id,
loResources by id, enrollments by user and by user + learning object) so that no request scans
the whole data set: the benchmarks run thousands of requests against seeds with thousands of
users. One re-entrant lock guards every read and write; requests hold it for microseconds.

Every write made through the API carries a ``stamp`` (sandbox clock seconds; seed data has
none and counts as always there), so the Learner Transcript can be built as ALM's lagging
reports are: from the state as it was at an earlier moment. Learning programs and
certifications (``CourseRec.sections``) are rolled up from their courses in ``programs``.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from batch.sandbox import programs
from batch.sandbox.seed import SeedData, check_seed


def parse_time(text: str | None) -> datetime | None:
    """Parse a seed timestamp (ISO 8601, ``Z`` allowed, date-only means midnight UTC)."""
    if not text:
        return None
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def iso(value: datetime | None) -> str | None:
    """ALM's timestamp format: ``2025-03-03T09:00:00.000Z``."""
    if value is None:
        return None
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


@dataclass(slots=True)
class UserRec:
    id: str
    email: str
    name: str
    state: str
    user_type: str
    roles: list[str]
    manager_id: str | None
    unique_id: str
    date_created: datetime | None
    date_deleted: datetime | None


@dataclass(slots=True)
class ModuleRec:
    id: str  # the module number, e.g. "13210487"
    lo_resource_type: str  # Content / Pre Work / Test Out
    resource_type: str  # Elearning / Classroom / Virtual Classroom / Activity
    mandatory: bool
    names: list[dict[str, str]]


@dataclass(slots=True)
class InstanceRec:
    id: str  # course:<c>_<i> (learningProgram:<p>_<i>, ...)
    state: str
    is_default: bool
    names: list[dict[str, str]]
    date_created: datetime | None
    resource_ids: list[str] = field(default_factory=list)  # loResource ids, module order
    # Programs and certifications: course id -> the course instance used inside this instance.
    sub_instances: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class SectionRec:
    """A section of a learning program or certification (``attributes.sections[]``)."""

    id: str
    lo_ids: list[str]
    mandatory: bool
    required: int  # mandatoryLOCount: how many of ``lo_ids`` complete the section
    names: list[dict[str, str]]


@dataclass(slots=True)
class CourseRec:
    """A learning object of any type (the name is older than programs in the sandbox)."""

    id: str  # course:<c>, learningProgram:<p>, certification:<c>, jobAid:<j>
    num: str  # <c>
    lo_type: str
    state: str
    names: list[dict[str, str]]
    lo_format: str
    enrollment_type: str
    date_created: datetime | None
    modules: list[ModuleRec]
    instances: list[InstanceRec]
    by_course_module_id: dict[str, ModuleRec] = field(default_factory=dict)
    sections: list[SectionRec] = field(default_factory=list)
    is_external: bool = False  # certifications: proof and approval, no courses
    root_id: str | None = None  # recurring certifications: the first recurrence's id
    catalog_id: str = "1"

    def instance(self, instance_id: str) -> InstanceRec | None:
        return next((i for i in self.instances if i.id == instance_id), None)

    @property
    def default_instance(self) -> InstanceRec:
        return next(i for i in self.instances if i.is_default)

    @property
    def is_container(self) -> bool:
        """A learning program or certification: enrolled as a whole, completed by roll-up."""
        return self.lo_type in ("learningProgram", "certification")

    @property
    def course_ids(self) -> list[str]:
        return [cid for s in self.sections for cid in s.lo_ids]


@dataclass(slots=True)
class ResourceRef:
    """Where a loResource id points: its course, instance and module."""

    id: str
    course: CourseRec
    instance: InstanceRec
    module: ModuleRec


@dataclass(slots=True)
class GradeRec:
    resource_id: str
    user_id: str
    completed: bool
    date_completed: datetime | None
    date_started: datetime | None = None
    date_success: datetime | None = None
    score: float | None = None
    min_score: float | None = None
    max_score: float | None = None
    success: bool | None = None
    stamp: float | None = None  # sandbox clock when posted; None: seed data


@dataclass(slots=True)
class EnrollmentRec:
    id: str
    user_id: str
    course_id: str  # the learning object's id, whatever its type
    instance_id: str
    date_enrolled: datetime
    state: str = "ENROLLED"  # courses; programs and certifications: see programs.view
    date_started: datetime | None = None
    date_completed: datetime | None = None
    grades: dict[str, GradeRec] = field(default_factory=dict)  # loResource id -> grade
    # Grades replaced by a later post, oldest first (the transcript may show an older state).
    replaced: dict[str, list[GradeRec]] = field(default_factory=dict)
    stamp: float | None = None  # sandbox clock when created; None: seed data
    completed_stamp: float | None = None  # when a course became COMPLETED (None: seed)
    parent_id: str | None = None  # the program or certification that enrolled the learner
    training_id: int = 0  # the transcript's per-enrollment number (one profile shows it)
    fixed_completion: bool = False  # seed: completed outside roll-up (approved, past recurrence)
    date_unenrolled: datetime | None = None
    unenrolled_stamp: float | None = None


def lo_resource_id(instance_id: str, module_id: str, index: int = 0) -> str:
    """``course:<c>_<i>_<m>_<n>`` as ALM spells loResource ids."""
    return f"{instance_id}_{module_id}_{index}"


def course_module_id(course_num: str, module_id: str, index: int = 0) -> str:
    """The courseModule id of Adobe's userModuleGrade sample: ``<c><m><n>`` (alm-api.md §5)."""
    return f"{course_num}{module_id}{index}"


class World:
    """All ALM objects of one sandbox, indexed, behind ``lock``."""

    def __init__(
        self,
        seed: SeedData,
        *,
        resource_index: int = 0,
        clock: Callable[[], float] | None = None,
    ) -> None:
        check_seed(seed)
        self.lock = threading.RLock()
        # The sandbox clock stamps writes; roll-up of programs waits ``rollup_delay`` on it.
        self.clock: Callable[[], float] = clock or (lambda: 0.0)
        self.rollup_delay = 0.0
        # The last part of every loResource id (``course:1_2_3_<n>``): 0 unless a profile says
        # otherwise (ALM's own examples show _1 too).
        self.resource_index = resource_index
        account = seed.get("account") or {}
        self.account_id = str(account.get("id", "104510"))
        self.account_name = str(account.get("name", "Sandbox Account"))
        self.users: dict[str, UserRec] = {}
        self.users_by_email: dict[str, UserRec] = {}
        for raw in seed.get("users", []):
            user = _user_from_seed(raw)
            self.users[user.id] = user
            if user.state != "DELETED":
                self.users_by_email[user.email.casefold()] = user
        # GET /users lists non-deleted users sorted by numeric id; bisect serves cursors.
        self.listed_user_ids: list[int] = sorted(
            int(u.id) for u in self.users.values() if u.state != "DELETED"
        )
        self.courses: dict[str, CourseRec] = {}
        self.resources: dict[str, ResourceRef] = {}
        for raw in seed.get("learningObjects", []):
            course = _course_from_seed(raw, resource_index)
            self.courses[course.id] = course
            for inst in course.instances:
                for module in course.modules:
                    rid = lo_resource_id(inst.id, module.id, resource_index)
                    inst.resource_ids.append(rid)
                    self.resources[rid] = ResourceRef(rid, course, inst, module)
        for lo in self.courses.values():  # a course a program instance does not map: default
            for inst in lo.instances if lo.is_container else ():
                for cid in lo.course_ids:
                    inst.sub_instances.setdefault(cid, self.courses[cid].default_instance.id)
        self.course_order: list[CourseRec] = sorted(
            self.courses.values(), key=lambda c: (c.lo_type, int(c.num))
        )
        # Sorted/filtered catalogue orders, filled lazily by GET /learningObjects.
        self.order_cache: dict[tuple[str, tuple[str, ...]], list[CourseRec]] = {}
        self.enrollments: dict[tuple[str, str], EnrollmentRec] = {}
        self.enrollments_by_user: dict[str, list[EnrollmentRec]] = {}
        self.unenrolled: list[EnrollmentRec] = []  # history, for the transcript
        self._enrollment_ids: set[str] = set()
        self._next_training_id = 90000001
        raw_enrollments = list(seed.get("enrollments", []))
        # Courses first: a program's own enrollment then finds the course enrollments the seed
        # lists and enrolls the learner in the others (programs.enroll_container).
        raw_enrollments.sort(key=lambda r: not str(r["instanceId"]).startswith("course:"))
        for raw in raw_enrollments:
            self._enrollment_from_seed(raw)

    # --- lookups -------------------------------------------------------------------------
    def user_by_email(self, email: str) -> UserRec | None:
        return self.users_by_email.get(email.strip().casefold())

    def visible_user(self, user_id: str) -> UserRec | None:
        """A user GET /users/{id} shows: deleted users are gone from the API (404)."""
        user = self.users.get(user_id)
        return user if user is not None and user.state != "DELETED" else None

    def user_ids_after(self, cursor: int | None, limit: int, descending: bool) -> list[str]:
        """One page of listed user ids after ``cursor`` (exclusive), by bisect."""
        ids = self.listed_user_ids
        if descending:
            end = len(ids) if cursor is None else bisect.bisect_left(ids, cursor)
            return [str(i) for i in reversed(ids[max(0, end - limit) : end])]
        start = 0 if cursor is None else bisect.bisect_right(ids, cursor)
        return [str(i) for i in ids[start : start + limit]]

    def enrollment(self, user_id: str, course_id: str) -> EnrollmentRec | None:
        return self.enrollments.get((user_id, course_id))

    def versions(self, root_id: str) -> list[CourseRec]:
        """Every recurrence of a recurring certification, oldest first."""
        found = [c for c in self.course_order if (c.root_id or c.id) == root_id]
        return sorted(found, key=lambda c: (c.date_created or _EPOCH, int(c.num)))

    # --- writes ----------------------------------------------------------------------------
    def add_enrollment(
        self,
        user_id: str,
        course: CourseRec,
        instance: InstanceRec,
        when: datetime,
        *,
        stamp: float | None = None,
        parent_id: str | None = None,
    ) -> EnrollmentRec:
        enrollment_id, n = f"{instance.id}_{user_id}", 2
        while enrollment_id in self._enrollment_ids:  # enrolled again after unenrolling
            enrollment_id, n = f"{instance.id}_{user_id}_{n}", n + 1
        self._enrollment_ids.add(enrollment_id)
        enrollment = EnrollmentRec(
            id=enrollment_id,
            user_id=user_id,
            course_id=course.id,
            instance_id=instance.id,
            date_enrolled=when,
            stamp=stamp,
            parent_id=parent_id,
            training_id=self._next_training_id,
        )
        self._next_training_id += 1
        self.enrollments[(user_id, course.id)] = enrollment
        self.enrollments_by_user.setdefault(user_id, []).append(enrollment)
        return enrollment

    def unenroll(self, enrollment: EnrollmentRec, when: datetime, stamp: float | None) -> None:
        """Gone from the API's lists; kept as history for the transcript ("Unenrolled")."""
        enrollment.date_unenrolled, enrollment.unenrolled_stamp = when, stamp
        self.enrollments.pop((enrollment.user_id, enrollment.course_id), None)
        mine = self.enrollments_by_user.get(enrollment.user_id, [])
        if enrollment in mine:
            mine.remove(enrollment)
        self.unenrolled.append(enrollment)

    def put_grade(self, enrollment: EnrollmentRec, grade: GradeRec) -> bool:
        """Store ``grade``; True when the module already had a completed grade (a double)."""
        previous = enrollment.grades.get(grade.resource_id)
        if previous is not None:
            enrollment.replaced.setdefault(grade.resource_id, []).append(previous)
        enrollment.grades[grade.resource_id] = grade
        self.roll_up(enrollment, grade.stamp)
        return previous is not None and previous.completed

    def roll_up(self, enrollment: EnrollmentRec, stamp: float | None = None) -> None:
        """COMPLETED once every Content module of the instance has a completed grade.

        ``dateCompleted`` is the latest of those grades' dates; Pre Work and Test Out modules
        never count. A completed enrollment stays completed when it is graded again.
        ``stamp`` is when it happened (sandbox clock; None for seed data).
        """
        instance = self.resources_of(enrollment.instance_id)
        content = [r for r in instance if r.module.lo_resource_type == "Content"]
        done = [enrollment.grades[r.id] for r in content if _completed(enrollment, r.id)]
        if enrollment.grades and enrollment.date_started is None:
            starts = [g.date_started or g.date_completed for g in enrollment.grades.values()]
            enrollment.date_started = min((s for s in starts if s), default=None)
        if enrollment.state == "COMPLETED":
            return
        if content and len(done) == len(content):
            enrollment.state = "COMPLETED"
            enrollment.completed_stamp = stamp
            enrollment.date_completed = max(
                (g.date_completed for g in done if g.date_completed), default=None
            )
        elif enrollment.grades:
            enrollment.state = "STARTED"

    def resources_of(self, instance_id: str) -> list[ResourceRef]:
        course = self.courses[instance_id.rsplit("_", 1)[0]]
        inst = course.instance(instance_id)
        return [self.resources[rid] for rid in inst.resource_ids] if inst else []

    def content_of(self, instance_id: str) -> list[ResourceRef]:
        """The core (Content) modules: the ones a course's completion needs."""
        return [r for r in self.resources_of(instance_id) if r.module.lo_resource_type == "Content"]

    def progress(self, enrollment: EnrollmentRec) -> int:
        content = self.content_of(enrollment.instance_id)
        if not content:
            return 0
        done = sum(1 for r in content if _completed(enrollment, r.id))
        return int(round(100 * done / len(content)))

    # --- seed ------------------------------------------------------------------------------
    def _enrollment_from_seed(self, raw: dict[str, Any]) -> None:
        user_id, instance_id = str(raw["userId"]), str(raw["instanceId"])
        course = self.courses[instance_id.rsplit("_", 1)[0]]
        instance = course.instance(instance_id)
        assert instance is not None  # check_seed guarantees it
        when = parse_time(raw.get("dateEnrolled")) or datetime(2025, 1, 6, 9, tzinfo=UTC)
        unenrolled = parse_time(raw.get("dateUnenrolled"))
        if course.is_container:
            if raw.get("dateCompleted"):  # approved external proof, an earlier recurrence:
                enrollment = self.add_enrollment(user_id, course, instance, when)  # history
                enrollment.fixed_completion = True
                enrollment.date_completed = parse_time(raw["dateCompleted"])
            else:
                enrollment = programs.enroll_container(self, user_id, course, instance, when, None)
            if unenrolled is not None:
                self.unenroll(enrollment, unenrolled, None)
            return
        parent = str(raw["parentId"]) if raw.get("parentId") else None
        enrollment = self.add_enrollment(user_id, course, instance, when, parent_id=parent)
        # A grade without its own date takes the enrollment's dateCompleted (seed shorthand).
        fallback = parse_time(raw.get("dateCompleted"))
        for g in raw.get("grades", []):
            rid = lo_resource_id(instance_id, str(g["moduleId"]), self.resource_index)
            score = g.get("score")
            enrollment.grades[rid] = GradeRec(
                resource_id=rid,
                user_id=user_id,
                completed=bool(g.get("completed", True)),
                date_completed=parse_time(g.get("dateCompleted")) or fallback,
                date_started=parse_time(g.get("dateStarted")),
                score=float(score) if score is not None else None,
                success=g.get("success", True),
            )
        self.roll_up(enrollment)
        if unenrolled is not None:
            self.unenroll(enrollment, unenrolled, None)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _completed(enrollment: EnrollmentRec, resource_id: str) -> bool:
    grade = enrollment.grades.get(resource_id)
    return grade is not None and grade.completed


def _user_from_seed(raw: dict[str, Any]) -> UserRec:
    return UserRec(
        id=str(raw["id"]),
        email=str(raw["email"]),
        name=str(raw.get("name", "")),
        state=str(raw.get("state", "ACTIVE")),
        user_type=str(raw.get("userType", "Internal")),
        roles=list(raw.get("roles", ["Learner"])),
        manager_id=str(raw["managerId"]) if raw.get("managerId") else None,
        unique_id=str(raw.get("uniqueId", raw["email"])),
        date_created=parse_time(raw.get("dateCreated")),
        date_deleted=parse_time(raw.get("dateDeleted")),
    )


def _course_from_seed(raw: dict[str, Any], resource_index: int = 0) -> CourseRec:
    lo_id = str(raw["id"])
    lo_type, num = lo_id.split(":", 1)
    modules = [
        ModuleRec(
            id=str(m["id"]),
            lo_resource_type=str(m.get("loResourceType", "Content")),
            resource_type=str(m.get("resourceType", "Elearning")),
            mandatory=bool(m.get("mandatory", m.get("loResourceType", "Content") == "Content")),
            names=list(m.get("localizedMetadata", [])),
        )
        for m in raw.get("modules", [])
    ]
    instances = [
        InstanceRec(
            id=str(i["id"]),
            state=str(i.get("state", "Active")),
            is_default=bool(i.get("isDefault", False)),
            names=list(i.get("localizedMetadata", [])),
            date_created=parse_time(i.get("dateCreated")),
            sub_instances={str(s).rsplit("_", 1)[0]: str(s) for s in i.get("subLoInstances", [])},
        )
        for i in raw.get("instances", [])
    ]
    sections = [
        SectionRec(
            id=str(s.get("id", n + 1)),
            lo_ids=[str(x) for x in s["loIds"]],
            mandatory=bool(s.get("mandatory", True)),
            required=int(s.get("mandatoryLOCount", len(s["loIds"]))),
            names=list(s.get("localizedMetadata", [])),
        )
        for n, s in enumerate(raw.get("sections", []))
    ]
    course = CourseRec(
        id=lo_id,
        num=num,
        lo_type=lo_type,
        state=str(raw.get("state", "Published")),
        names=list(raw["localizedMetadata"]),
        lo_format=str(raw.get("loFormat", "Self Paced")),
        enrollment_type=str(raw.get("enrollmentType", "Manager Nominated")),
        date_created=parse_time(raw.get("dateCreated")),
        modules=modules,
        instances=instances,
        sections=sections,
        is_external=bool(raw.get("isExternal", False)),
        root_id=str(raw["rootCertificationId"]) if raw.get("rootCertificationId") else None,
        catalog_id=str(raw.get("catalogId", "1")),
    )
    course.by_course_module_id = {course_module_id(num, m.id, resource_index): m for m in modules}
    return course
