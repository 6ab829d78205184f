"""Typed views of ALM objects, independent of the JSON:API wire format.

``batch.alm.api`` parses responses into these; resolve/plan/execute only ever see these.
IDs are kept exactly as ALM returns them (``course:123``, ``course:123_456``,
``course:123_456_789_0``, user ids as digit strings).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class User:
    id: str
    email: str
    state: str = "ACTIVE"  # ACTIVE, SUSPENDED, DELETED (as ALM spells it, upper-cased)
    name: str = ""

    @property
    def active(self) -> bool:
        return self.state.upper() == "ACTIVE"


@dataclass(frozen=True, slots=True)
class CourseSummary:
    """A catalogue entry: enough to match a name to an ID."""

    id: str  # "course:123"
    state: str  # "Published", "Retired", ...
    names: dict[str, str]  # locale -> name, exactly as ALM gives it (stray spaces and all)
    lo_type: str = "course"
    # Certifications: the first recurrence's id ("" when ALM does not say); every recurrence
    # of a recurring certification carries the same one. ``date_created`` orders them.
    root_id: str = ""
    is_external: bool = False
    date_created: datetime | None = None
    # What tells two learning objects of one name apart (an ambiguous name lists them):
    # the instances the listing names (None when it does not say) and a short description.
    instances: int | None = None
    description: str = ""


CONTAINER_TYPES = ("learningProgram", "certification")  # have sections of courses
LO_TYPES = ("course", *CONTAINER_TYPES, "jobAid")  # every type the catalogue lists


@dataclass(frozen=True, slots=True)
class Section:
    """One section of a learning program or certification (``attributes.sections``)."""

    id: str
    lo_ids: tuple[str, ...]  # the courses, "course:123"
    mandatory: bool = True
    count: int | None = None  # ``mandatoryLOCount``: courses that complete it (None: absent)
    names: dict[str, str] = field(default_factory=dict)

    @property
    def needed(self) -> int:
        """Courses that complete this section: ``mandatoryLOCount`` when it says, else every
        course; 0 for an optional section (it never holds the program back)."""
        if not self.mandatory:
            return 0
        if self.count is None or self.count <= 0 or self.count > len(self.lo_ids):
            return len(self.lo_ids)
        return self.count


@dataclass(frozen=True, slots=True)
class Module:
    """A loResource (module) of one instance."""

    id: str  # the loResource id: "course:123_456_789_0"
    instance_id: str  # "course:123_456"
    lo_resource_type: str  # "Content", "Pre Work", "Test Out"
    names: dict[str, str] = field(default_factory=dict)
    resource_type: str = ""  # "Elearning", "Classroom", ...
    mandatory: bool = True

    @property
    def is_content(self) -> bool:
        return self.lo_resource_type.strip().casefold() == "content"


@dataclass(frozen=True, slots=True)
class Instance:
    id: str  # "course:123_456"
    state: str  # "Active", "Retired"
    is_default: bool
    names: dict[str, str] = field(default_factory=dict)
    modules: tuple[Module, ...] = ()
    # A program's or certification's instance: the course instance used for each of its
    # courses (``subLoInstances``), "course:123_456".
    sub_instances: tuple[str, ...] = ()

    @property
    def active(self) -> bool:
        return self.state.casefold() == "active"

    def sub_instance(self, course_id: str) -> str:
        """The course instance this program instance maps ``course_id`` to ("" if none)."""
        return next((s for s in self.sub_instances if s.rsplit("_", 1)[0] == course_id), "")

    @property
    def content_modules(self) -> tuple[Module, ...]:
        return tuple(m for m in self.modules if m.is_content)


@dataclass(frozen=True, slots=True)
class CourseDetail:
    """A course with its instances and their modules (GET /learningObjects/{id}?include=...)."""

    id: str
    state: str
    names: dict[str, str]
    instances: tuple[Instance, ...] = ()
    lo_type: str = "course"
    # Learning programs and certifications (empty for a course):
    sections: tuple[Section, ...] = ()
    sub_lo_ids: tuple[str, ...] = ()  # ``relationships.subLOs``: every course it holds
    is_external: bool = False
    root_id: str = ""  # see CourseSummary
    date_created: datetime | None = None

    @property
    def is_container(self) -> bool:
        """A learning program or a certification: completed through its courses."""
        return self.lo_type in CONTAINER_TYPES

    @property
    def published(self) -> bool:
        return self.state.casefold() == "published"

    def instance(self, instance_id: str) -> Instance | None:
        return next((i for i in self.instances if i.id == instance_id), None)

    @property
    def default_instance(self) -> Instance | None:
        return next((i for i in self.instances if i.is_default), None)


@dataclass(frozen=True, slots=True)
class ModuleGrade:
    """A learner's result on one module (loResourceGrade)."""

    module_id: str  # the loResource id it grades
    completed: bool
    date_completed: datetime | None = None
    score: float | None = None
    has_passed: bool | None = None


@dataclass(frozen=True, slots=True)
class Enrollment:
    id: str
    lo_id: str  # "course:123"
    instance_id: str  # "course:123_456"
    state: str  # ENROLLED, STARTED, COMPLETED, PENDING_APPROVAL, ...
    date_enrolled: datetime | None = None
    date_completed: datetime | None = None
    grades: dict[str, ModuleGrade] = field(default_factory=dict)  # loResource id -> grade

    @property
    def completed(self) -> bool:
        return self.state.upper() == "COMPLETED"


@dataclass(frozen=True, slots=True)
class GradeRequest:
    """Everything one userModuleGrade POST carries; ``batch.alm.payloads`` turns it into JSON."""

    user_id: str
    course_id: str  # "course:123"
    instance_id: str  # "course:123_456"
    module_id: str  # the loResource id "course:123_456_789_0"
    date_completed: datetime
    date_started: datetime | None = None
    score: float | None = None
    min_score: float | None = None
    max_score: float | None = None
    passed: bool | None = None
