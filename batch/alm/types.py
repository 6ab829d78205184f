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

    @property
    def active(self) -> bool:
        return self.state.casefold() == "active"

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
