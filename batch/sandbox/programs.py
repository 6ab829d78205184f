"""Learning programs and certifications: enrolling in them, and their roll-up from courses.

alm-api.md §12: a learning program (or an internal certification) lists its courses in
``attributes.sections`` (``loIds``, ``mandatory``, ``mandatoryLOCount``), and each of its
instances maps every course to the course instance used inside it (``subLoInstances``). A course
completes when its core modules do (``World.roll_up``); a program when its mandatory courses do.

Readings where ALM is undocumented (docs/sandbox.md says the same):

- Enrolling in a program or an internal certification enrolls the learner in every course of
  every section (optional ones too), each in the instance the program's instance maps it to. A
  course the learner is already enrolled in, in any instance, is kept as it is.
- A section is complete when ``mandatoryLOCount`` of its courses are; the program when every
  mandatory section is. The completion shows ``rollup_delay`` sandbox seconds after the course
  completion that made it; its ``dateCompleted`` is the latest of the counted courses' dates.
- An external certification has no courses: learners enroll, then send proof that a manager
  approves outside the API; only the seed can say it was approved (``dateCompleted``).
- A recurring certification is one certification per recurrence, each carrying
  ``rootCertificationId`` (the first one's id); new enrollments go to the latest published one.

Every function takes ``at`` (sandbox clock seconds): the state as it stood then, which the
lagging Learner Transcript needs; writes the seed made count as always there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from batch.sandbox.world import CourseRec, EnrollmentRec, GradeRec, InstanceRec, World

NEVER = -math.inf


@dataclass(frozen=True, slots=True)
class View:
    """An enrollment's state at one moment: ENROLLED, STARTED or COMPLETED."""

    state: str
    date_started: datetime | None
    date_completed: datetime | None
    progress: int  # percent


def when(stamp: float | None) -> float:
    """A write's moment on the sandbox clock; seed data counts as always there."""
    return NEVER if stamp is None else stamp


def enroll_container(
    world: World,
    user_id: str,
    lo: CourseRec,
    instance: InstanceRec,
    enrolled: datetime,
    stamp: float | None,
) -> EnrollmentRec:
    """Enroll in a program or certification and in each of its courses not enrolled yet."""
    enrollment = world.add_enrollment(user_id, lo, instance, enrolled, stamp=stamp)
    for course_id in lo.course_ids:
        if world.enrollment(user_id, course_id) is not None:
            continue
        course = world.courses[course_id]
        sub = course.instance(instance.sub_instances[course_id]) or course.default_instance
        world.add_enrollment(user_id, course, sub, enrolled, stamp=stamp, parent_id=lo.id)
    return enrollment


def created_through(world: World, enrollment: EnrollmentRec) -> list[EnrollmentRec]:
    """The course enrollments a program or certification enrollment made."""
    return [
        e
        for e in world.enrollments_by_user.get(enrollment.user_id, [])
        if e.parent_id == enrollment.course_id
    ]


def latest_version(world: World, lo: CourseRec) -> CourseRec:
    """The recurrence new enrollments go to: the newest published one of ``lo``'s chain."""
    published = [v for v in world.versions(lo.root_id or lo.id) if v.state == "Published"]
    return published[-1] if published else lo


def root_of(lo: CourseRec) -> str:
    return lo.root_id or lo.id


# --- state at a moment -------------------------------------------------------------------------
def grades_at(enrollment: EnrollmentRec, at: float) -> dict[str, GradeRec]:
    """The module grades as they stood at ``at`` (a later post may have replaced one)."""
    out: dict[str, GradeRec] = {}
    for rid, grade in enrollment.grades.items():
        if when(grade.stamp) <= at:
            out[rid] = grade
            continue
        older = [g for g in enrollment.replaced.get(rid, []) if when(g.stamp) <= at]
        if older:
            out[rid] = older[-1]
    return out


def course_view(world: World, enrollment: EnrollmentRec, at: float) -> View:
    """A course enrollment at ``at``: COMPLETED stays completed once it was."""
    grades = grades_at(enrollment, at)
    starts = [g.date_started or g.date_completed for g in grades.values()]
    started = min((s for s in starts if s), default=None)
    if enrollment.state == "COMPLETED" and when(enrollment.completed_stamp) <= at:
        return View("COMPLETED", enrollment.date_started or started, enrollment.date_completed, 100)
    content = world.content_of(enrollment.instance_id)
    done = sum(1 for r in content if r.id in grades and grades[r.id].completed)
    progress = int(round(100 * done / len(content))) if content else 0
    return View("STARTED" if grades else "ENROLLED", started, None, progress)


def course_enrollment_at(
    world: World, user_id: str, course_id: str, at: float
) -> EnrollmentRec | None:
    """The learner's enrollment in a course as it stood at ``at`` (unenrolled ones too)."""
    current = world.enrollment(user_id, course_id)
    if current is not None and when(current.stamp) <= at:
        return current
    for old in reversed(world.unenrolled):
        if old.user_id == user_id and old.course_id == course_id:
            if when(old.stamp) <= at < when(old.unenrolled_stamp):
                return old
    return None


def view(world: World, enrollment: EnrollmentRec, at: float | None = None) -> View:
    """A program or certification enrollment, rolled up from its courses at ``at`` (now)."""
    now = world.clock() if at is None else at
    lo = world.courses[enrollment.course_id]
    if enrollment.fixed_completion:
        done_on = enrollment.date_completed
        return View("COMPLETED", enrollment.date_started or done_on, done_on, 100)
    starts: list[datetime] = []
    moments: list[float] = []
    dates: list[datetime] = []
    needed = counted = 0
    complete = True
    for section in lo.sections:
        finished: list[tuple[float, datetime | None]] = []
        for course_id in section.lo_ids:
            course = course_enrollment_at(world, enrollment.user_id, course_id, now)
            if course is None:
                continue
            state = course_view(world, course, now)
            if state.date_started is not None:
                starts.append(state.date_started)
            if state.state == "COMPLETED":
                finished.append((when(course.completed_stamp), state.date_completed))
                if state.date_completed is not None:
                    starts.append(state.date_completed)
        if not section.mandatory or section.required == 0:
            continue
        needed += section.required
        counted += min(len(finished), section.required)
        if len(finished) < section.required:
            complete = False
            continue
        first = sorted(finished, key=lambda f: f[0])[: section.required]
        moments.append(first[-1][0])
        dates.extend(d for _, d in first if d is not None)
    started = min(starts, default=None)
    if complete and needed and max(moments) + world.rollup_delay <= now:
        return View("COMPLETED", started, max(dates, default=None), 100)
    progress = int(round(100 * counted / needed)) if needed else 0
    return View("STARTED" if starts else "ENROLLED", started, None, progress)


def state_now(world: World, enrollment: EnrollmentRec) -> View:
    """What the API shows for any enrollment right now."""
    if world.courses[enrollment.course_id].is_container:
        return view(world, enrollment)
    return View(
        enrollment.state,
        enrollment.date_started,
        enrollment.date_completed,
        100 if enrollment.state == "COMPLETED" else world.progress(enrollment),
    )
