"""The Learner Transcript job's payload and CSV (``jobType: generateLearnerTranscript``).

alm-api.md §12 and Adobe's "Learner Transcripts" page. The payload's lists are comma-separated
strings and its booleans the strings "true"/"false", as documented; anything else is a 400.
One row per learner and learning object enrollment (course, learning program, certification);
with ``includeModuleLevelDetails`` also one row per module a learner started or completed.

Readings where ALM is unknown, all in docs/sandbox.md with the exact columns:
- ``Type`` is the type of what the learner enrolled in: a course enrolled through a program is
  a "Learning Path" row whose ``Course`` column names the course; ``Course`` is empty on the
  program's (or certification's) own row.
- ``Training ID`` / ``Module ID`` take the form ``transcript_ids`` says (one per profile).
- A row appears when its enrollment overlaps [fromDate, toDate]: enrolled by ``toDate`` and not
  completed or unenrolled before ``fromDate``.
- Dates are ``YYYY-MM-DD HH:MM:SS`` in ``report_timezone``, named in the date headers.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any

from batch.sandbox import programs
from batch.sandbox.config import zone
from batch.sandbox.failures import ApiFailure
from batch.sandbox.world import CourseRec, EnrollmentRec, UserRec, World, course_module_id

TYPES = {"course": "Course", "learningProgram": "Learning Path", "certification": "Certification"}
# field -> header in the "current" columns and in the "renamed" release (None: not there).
HEADERS: dict[str, tuple[str, str | None]] = {
    "name": ("Name", "Learner Name"),
    "email": ("Email", "Learner Email"),
    "unique_id": ("User Unique ID", "User Unique ID"),
    "lo": ("LP/Certification/Course", "Learning Object"),
    "type": ("Type", "Learning Object Type"),
    "course": ("Course", "Course Name"),
    "instance": ("Instance", "Instance Name"),
    "module": ("Module", "Module Name"),
    "module_id": ("Module ID", "Module Id"),
    "training_id": ("Training ID", "Training Id"),
    "status": ("Status", "Status"),
    "progress": ("Progress %", "Progress %"),
    "enrolled": ("Enrollment Date ({tz} TimeZone)", "Enrollment Date ({tz})"),
    "started": ("Started Date ({tz} TimeZone)", "Started Date ({tz})"),
    "completed": ("Completion Date ({tz} TimeZone)", "Completion Date ({tz})"),
    "unenrolled": ("Unenrollment Date ({tz} TimeZone)", "Unenrollment Date ({tz})"),
    "grade": ("Grade", "Grade"),
    "score": ("Quiz_score", "Quiz Score"),
    "method": ("Completion Method", None),
    "root": ("Root Training ID", None),  # added at the end in August 2026
}
CURRENT_ORDER = tuple(HEADERS)
RENAMED_ORDER = (
    "training_id", "email", "name", "unique_id", "type", "lo", "course", "instance", "module",
    "module_id", "status", "grade", "score", "progress", "enrolled", "started", "completed",
    "unenrolled",
)  # fmt: skip
STATUS = {
    "ENROLLED": "Not Started",
    "STARTED": "In Progress",
    "COMPLETED": "Completed",
    "UNENROLLED": "Unenrolled",
}
MAX_YEARS = 5


@dataclass(frozen=True, slots=True)
class Request:
    users: frozenset[str] | None  # None: every learner
    catalogs: frozenset[str] | None
    date_from: datetime
    date_to: datetime
    modules: bool
    deleted: bool


@dataclass(frozen=True, slots=True)
class Style:
    """How this ALM writes the file (``SandboxConfig`` fields, set by profiles)."""

    ids: str  # prefixed | bare | enrollment
    columns: str  # current | renamed
    timezone: str


def bad(detail: str) -> ApiFailure:
    return ApiFailure(400, "BAD_REQUEST", detail, shape="meta")


def parse_payload(payload: Any) -> Request:
    """The documented payload, checked; a 400 naming the field otherwise."""
    if not isinstance(payload, dict):
        raise bad("attributes.payload must be an object")
    date_from, date_to = _date(payload, "fromDate"), _date(payload, "toDate")
    if date_to < date_from:
        raise bad("payload.toDate is before payload.fromDate")
    try:
        limit = date_from.replace(year=date_from.year + MAX_YEARS)
    except ValueError:  # 29 February
        limit = date_from.replace(year=date_from.year + MAX_YEARS, day=28)
    if date_to > limit:
        raise bad(f"fromDate and toDate may be at most {MAX_YEARS} years apart")
    groups = _ids(payload, "userGroups")
    if groups:
        raise bad(f"payload.userGroups: user group {sorted(groups)[0]} not found")
    return Request(
        users=_ids(payload, "users"),
        catalogs=_ids(payload, "catalogIds"),
        date_from=date_from,
        date_to=date_to,
        modules=_flag(payload, "includeModuleLevelDetails"),
        deleted=_flag(payload, "includeDeletedLearners"),
    )


def _ids(payload: dict[str, Any], name: str) -> frozenset[str] | None:
    value = payload.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise bad(f'payload.{name} must be a comma-separated string such as "1,3"')
    parts = [p.strip() for p in value.split(",") if p.strip()]
    for part in parts:
        if not part.isdigit():
            raise bad(f"payload.{name}: {part!r} is not an id")
    return frozenset(parts)


def _flag(payload: dict[str, Any], name: str) -> bool:
    value = payload.get(name, "false")
    if not isinstance(value, str) or value.strip().lower() not in ("true", "false"):
        raise bad(f'payload.{name} must be the string "true" or "false"')
    return value.strip().lower() == "true"


def _date(payload: dict[str, Any], name: str) -> datetime:
    value = payload.get(name)
    if not isinstance(value, str) or "T" not in value:
        raise bad(f"payload.{name} must be an ISO 8601 date-time such as 2025-05-05T18:30:00.000Z")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise bad(f"payload.{name}: {value!r} is not an ISO 8601 date-time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# --- the file --------------------------------------------------------------------------------
def build(world: World, request: Request, at: float, style: Style) -> bytes:
    """The CSV as the account stood at ``at`` (sandbox clock: the job's moment less the lag)."""
    fields = list(CURRENT_ORDER if style.columns == "current" else RENAMED_ORDER)
    if not request.modules:
        fields = [f for f in fields if f not in ("module", "module_id")]
    column = 0 if style.columns == "current" else 1
    label = style.timezone
    header = [str(HEADERS[f][column]).format(tz=label) for f in fields]
    out = io.StringIO()
    if style.columns == "renamed":
        out.write("\ufeff")  # this release writes a byte order mark for Excel
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    rows = _Rows(world, request, at, style, zone(style.timezone))
    with world.lock:
        for row in rows.all():
            writer.writerow([row.get(f, "") for f in fields])
    return out.getvalue().encode("utf-8")


class _Rows:
    """The transcript's rows, built from the world at one moment."""

    def __init__(self, world: World, request: Request, at: float, style: Style, tz: tzinfo) -> None:
        self.world, self.request, self.at, self.style, self.tz = world, request, at, style, tz

    def all(self) -> list[dict[str, str]]:
        world, request = self.world, self.request
        rows: list[dict[str, str]] = []
        users = sorted(world.users.values(), key=lambda u: int(u.id))
        history: dict[str, list[EnrollmentRec]] = {}
        for old in world.unenrolled:
            history.setdefault(old.user_id, []).append(old)
        for user in users:
            if request.users is not None and user.id not in request.users:
                continue
            if user.state == "DELETED" and not request.deleted:
                continue
            mine = world.enrollments_by_user.get(user.id, []) + history.get(user.id, [])
            # A program's row before its courses' rows, as the file groups them.
            mine.sort(key=lambda e: (e.date_enrolled, e.parent_id is not None, e.training_id))
            for enrollment in mine:
                rows.extend(self._rows_of(user, enrollment))
        return rows

    def _rows_of(self, user: UserRec, e: EnrollmentRec) -> list[dict[str, str]]:
        lo = self.world.courses[e.course_id]
        at = self.at
        if programs.when(e.stamp) > at:
            return []  # not made yet at the moment the file reflects
        if self.request.catalogs is not None and lo.catalog_id not in self.request.catalogs:
            return []
        gone = e.date_unenrolled is not None and programs.when(e.unenrolled_stamp) <= at
        if lo.is_container:
            state = programs.view(self.world, e, at)
        else:
            state = programs.course_view(self.world, e, at)
        end = e.date_unenrolled if gone else state.date_completed
        if e.date_enrolled > self.request.date_to or (end and end < self.request.date_from):
            return []
        parent = self.world.courses.get(e.parent_id or "")
        shown = parent or lo
        row = {
            "name": user.name,
            "email": user.email,
            "unique_id": user.unique_id,
            "lo": _name(shown.names, shown.id),
            "type": TYPES[shown.lo_type],
            "course": "" if lo.is_container else _name(lo.names, lo.id),
            "instance": _instance_name(lo, e.instance_id),
            "training_id": self._training_id(lo, e),
            "status": STATUS["UNENROLLED" if gone else state.state],
            "progress": str(state.progress),
            "enrolled": self._time(e.date_enrolled),
            "started": self._time(state.date_started),
            "completed": self._time(state.date_completed),
            "unenrolled": self._time(e.date_unenrolled if gone else None),
            "grade": "Pass" if state.state == "COMPLETED" else "",
            "method": "Direct" if state.state == "COMPLETED" else "",
            "root": self._root(lo, parent, e),
        }
        rows = [row]
        if self.request.modules and not lo.is_container and not gone:
            rows.extend(self._module_rows(row, lo, e))
        return rows

    def _module_rows(
        self, course_row: dict[str, str], lo: CourseRec, e: EnrollmentRec
    ) -> list[dict[str, str]]:
        """One row per module started or completed at the moment; none for the others."""
        grades = programs.grades_at(e, self.at)
        out = []
        for ref in self.world.resources_of(e.instance_id):
            grade = grades.get(ref.id)
            if grade is None:
                continue
            passed = grade.completed and grade.success is not False
            out.append(
                course_row
                | {
                    "module": _name(ref.module.names, ref.module.id),
                    "module_id": self._module_id(lo, ref.id, ref.module.id),
                    "status": "Completed" if grade.completed else "In Progress",
                    "progress": "100" if grade.completed else "0",
                    "started": self._time(grade.date_started or grade.date_completed),
                    "completed": self._time(grade.date_completed if grade.completed else None),
                    "grade": ("Pass" if passed else "Fail") if grade.completed else "",
                    "score": "" if grade.score is None else f"{grade.score:g}",
                    "method": "Direct" if grade.completed else "",
                }
            )
        return out

    # --- ids and dates in this ALM's forms ------------------------------------------------
    def _lo_id(self, lo: CourseRec) -> str:
        return lo.id if self.style.ids == "prefixed" else lo.num

    def _training_id(self, lo: CourseRec, e: EnrollmentRec) -> str:
        return str(e.training_id) if self.style.ids == "enrollment" else self._lo_id(lo)

    def _root(self, lo: CourseRec, parent: CourseRec | None, e: EnrollmentRec) -> str:
        """Root Training ID: the root certification for certifications and their courses."""
        cert = lo if lo.lo_type == "certification" else parent
        if cert is not None and cert.lo_type == "certification":
            return self._lo_id(self.world.courses[programs.root_of(cert)])
        return self._training_id(lo, e)

    def _module_id(self, lo: CourseRec, resource_id: str, module_id: str) -> str:
        if self.style.ids == "prefixed":
            return resource_id
        if self.style.ids == "bare":
            return module_id
        return course_module_id(lo.num, module_id, self.world.resource_index)

    def _time(self, value: datetime | None) -> str:
        return value.astimezone(self.tz).strftime("%Y-%m-%d %H:%M:%S") if value else ""


def _name(names: list[dict[str, str]], fallback: str) -> str:
    """The en-US name as stored (stray spaces and all), else the first one."""
    by_locale = {m.get("locale"): m.get("name", "") for m in names}
    return by_locale.get("en-US") or next(iter(by_locale.values()), fallback)


def _instance_name(lo: CourseRec, instance_id: str) -> str:
    inst = lo.instance(instance_id)
    return _name(inst.names, instance_id) if inst is not None else ""
