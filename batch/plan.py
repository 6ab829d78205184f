"""Rows + resolutions + learner state -> planned actions. The dry run ends here.

CONTRACT: the dataclasses below are shared with execute.py, pipeline.py and report writing.

Why the planner works in bulk: the whole file is read first, then each distinct email, course
reference and learner is resolved once (``batch.resolve.Resolver``), then every row is planned
from those answers. GETs grow with distinct users and courses, never with rows, and nothing here
writes to ALM (the dry run stops after ``build_plan``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from batch.alm.payloads import alm_datetime
from batch.alm.types import CourseDetail, Enrollment, GradeRequest, Instance, Module, User
from batch.confirmed import write_label
from batch.errors import ApiError
from batch.models import CheckedRow, Completion, RowResult, RowStatus, email_key, name_key
from batch.programs import (
    FilePlan,
    ProgramPlan,
    ProgramPlanner,
    course_rows,
    grade_for,
    match_instances,
)
from batch.programs import label as _label
from batch.resolve import CourseResolution, Resolver, display_name, settle_course_check
from batch.state_source import StateNeeds, StateSource
from batch.validate import duplicate_message, summarise_issues


@dataclass(slots=True)
class RowPlan:
    """What will be (or would be) done for one input row.

    ``status`` is WOULD_COMPLETE when writes are planned; otherwise the row's final status
    (invalid, duplicate, user_not_found, course_not_found, ambiguous_course, rejected,
    already_completed) and ``message`` says why, for a person.
    ``module_ids`` are the loResource ids concerned (to grade, or already graded).
    ``grades`` are the userModuleGrade writes still needed, in order; ``enroll`` says whether
    an enrollment must be created first.
    """

    checked: CheckedRow
    status: RowStatus
    message: str = ""
    user_id: str = ""
    course_id: str = ""
    instance_id: str = ""
    module_ids: list[str] = field(default_factory=list)
    enroll: bool = False
    grades: list[GradeRequest] = field(default_factory=list)
    # A learning program or certification row: its courses (``course_id`` / ``instance_id``
    # name the program and its instance; ``enroll`` is the program's enrollment).
    program: ProgramPlan | None = None
    # A live run: what ALM shows that differs from the dry run's snapshot, added to whatever
    # message the row ends with (" Note: completed in ALM since the dry run (...).").
    note: str = ""

    @property
    def row(self) -> int:
        return self.checked.row

    @property
    def action(self) -> str:
        """What was or would be done, for the report's ``action`` column."""
        if self.status is not RowStatus.WOULD_COMPLETE:
            return "skip" if self.status.ok else "none"
        n = len(self.grades)
        grade = f"grade {n} module{'s' if n != 1 else ''}"
        if self.program is not None:
            courses = len({g.course_id for g in self.grades})
            grade += f" in {courses} course{'s' if courses != 1 else ''}"
            if self.program.course_enrolls:
                grade = f"enroll in {len(self.program.course_enrolls)} + {grade}"
            if not n:
                return "enroll" if self.enroll else "none"
        return f"enroll + {grade}" if self.enroll else grade

    @property
    def enrollments(self) -> int:
        """Enrollments this row needs: its own (or its program's) and any of a program's
        courses the learner must be enrolled in directly."""
        if self.status is not RowStatus.WOULD_COMPLETE:
            return 0
        direct = len(self.program.course_enrolls) if self.program is not None else 0
        return (1 if self.enroll else 0) + direct

    @property
    def writes(self) -> int:
        """HTTP writes this row needs: its enrollments plus one per grade."""
        if self.status is not RowStatus.WOULD_COMPLETE:
            return 0
        return len(self.grades) + self.enrollments

    def write_labels(self) -> list[str]:
        """Each write this row's plan makes (``confirmed.write_label``), in the order the
        executor sends them: its enrollment (a program's own), a program's course enrollments,
        then the module grades."""
        if self.status is not RowStatus.WOULD_COMPLETE:
            return []
        out = []
        if self.enroll:
            out.append(write_label("enroll", self.user_id, self.course_id, self.instance_id))
        if self.program is not None:
            for course_id, instance_id in self.program.course_enrolls:
                out.append(write_label("enroll", self.user_id, course_id, instance_id))
        out.extend(grade_label(g) for g in self.grades)
        return out

    @property
    def posted_values(self) -> tuple[str, str]:
        """(dateCompleted, score) exactly as the grade body sends them; ("", "") without grades.

        Every grade of a row carries the row's date and score, so the first one speaks for all.
        """
        if not self.grades:
            return "", ""
        grade = self.grades[0]
        score = "" if grade.score is None else score_text(grade.score)
        return alm_datetime(grade.date_completed), score

    def to_result(self, status: RowStatus | None = None, message: str | None = None) -> RowResult:
        date_completed, score = self.posted_values
        return RowResult(
            row=self.row,
            values=self.checked.input.values,
            status=status if status is not None else self.status,
            message=(message if message is not None else self.message) + self.note,
            user_id=self.user_id,
            course_id=self.course_id,
            instance_id=self.instance_id,
            module_ids=list(self.module_ids),
            action=self.action,
            date_completed=date_completed,
            score=score,
            planned_enrollments=self.enrollments,
            planned_grades=len(self.grades) if self.status is RowStatus.WOULD_COMPLETE else 0,
            courses=list(self.program.courses) if self.program is not None else [],
            planned_writes=self.write_labels(),
            # a row the run never reached: running the remaining rows takes it up again
            retryable=(status or self.status) is RowStatus.NOT_RUN,
        )


def grade_label(grade: GradeRequest) -> str:
    """A grade as the confirmation counts it, with the date and score it posts."""
    score = "" if grade.score is None else score_text(grade.score)
    sent = f"{alm_datetime(grade.date_completed)} {score}".strip()
    return write_label(
        "grade", grade.user_id, grade.course_id, grade.instance_id, grade.module_id, sent
    )


def score_text(value: float) -> str:
    """A score as the grade body writes it: ``85`` when whole (JSON ``85``), else ``85.5``."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


@dataclass(slots=True)
class Plan:
    rows: list[RowPlan] = field(default_factory=list)
    learner_reads: int = 0  # learners whose ALM state the plan read (one call each, plus pages)

    @property
    def grades_needed(self) -> int:
        return sum(len(r.grades) for r in self.rows if r.status is RowStatus.WOULD_COMPLETE)

    @property
    def enrollments_needed(self) -> int:
        return sum(r.enrollments for r in self.rows)

    @property
    def writes_needed(self) -> int:
        return sum(r.writes for r in self.rows)


@dataclass(slots=True)
class PlanOptions:
    overwrite: bool = False  # re-grade learners ALM already shows complete
    user_lookup: str = "auto"  # auto | per-email | export


ProgressCallback = Callable[[str, int, int], None]  # (stage, done, total)

_PLANNED = "(planned)"  # id of an enrollment an earlier row of this plan creates
_THROUGH_PROGRAM = "(through a program)"  # one an earlier row's program enrollment creates


LearnerReady = Callable[[str, list[int]], None]  # (user id, indexes into plan.rows)
RowsDecided = Callable[[list[int]], None]  # indexes into plan.rows

NOT_PLANNED = (
    "Not run: the run stopped before this learner's state was read in ALM; nothing was "
    "written for this row. Run the remaining rows (on the command line: the same command "
    "again) to send them."
)


def build_plan(
    rows: Iterable[CheckedRow],
    resolver: Resolver,
    options: PlanOptions,
    *,
    on_progress: ProgressCallback | None = None,
    on_learner_ready: LearnerReady | None = None,
    into: Plan | None = None,
    state_source: StateSource | None = None,
    on_decided: RowsDecided | None = None,
) -> Plan:
    """Resolve every row through ``resolver`` and plan its writes, with read-only calls.

    ``rows`` may be a one-shot iterator: it is materialised once, then distinct emails and course
    references are resolved in bulk, enrollments are read once per learner who needs them, and
    each row is planned from those answers. Invalid and duplicate rows cost no call.

    ``on_learner_ready`` (live runs that need no confirmation) is called from the reading
    threads as soon as one learner's enrollments are read and that learner's rows are planned,
    with the indexes of those rows in ``plan.rows``, so writing can start while other learners
    are still being read. Until then their place in ``plan.rows`` holds a NOT_RUN placeholder.
    ``into`` is the (empty) plan to fill, for a caller that runs this in another thread and
    hands the same plan to the executor. ``on_decided`` is called once, before any learner
    state is read, with the rows decided without it (file problems, unknown learners or
    courses, duplicates). ``state_source`` says where learner state comes from (a dry run may
    take it from ALM's learner transcript; a live run notes on each row what changed since).
    """
    checked = list(rows)
    live = [c for r in checked if r.duplicate_of is None and (c := r.completion) is not None]
    borrowed = on_progress is not None and resolver.on_progress is None
    if borrowed:
        resolver.on_progress = on_progress
    try:
        # Emails ALM did not find are checked against its users export (deleted users) while
        # the courses are looked up.
        users = resolver.resolve_users((c.email for c in live), settle=False)
        checks = [c.course_check.ref for c in live if c.course_check is not None]
        courses = resolver.resolve_courses([*(c.course for c in live), *checks])
        resolver.settle_users(users)
        planner = _RowPlanner(resolver, options, users, courses)
        planner.file.course_rows = course_rows(checked, users, courses)
        plan = into if into is not None else Plan()
        by_learner: dict[str, list[int]] = {}
        rows_planned: list[RowPlan] = []
        for index, row in enumerate(checked):
            learner = planner.learner_of(row)
            if learner is None:
                rows_planned.append(planner.plan(row))  # needs no learner state
            else:
                rows_planned.append(RowPlan(row, RowStatus.NOT_RUN, NOT_PLANNED))
                by_learner.setdefault(learner, []).append(index)
        plan.rows = rows_planned
        programs = {u for u, ix in by_learner.items() if planner.has_program_row(checked, ix)}
        plan.learner_reads = len(by_learner) + len(programs)  # program enrollments: a read more
        if on_decided is not None:
            waiting = {i for ix in by_learner.values() for i in ix}
            on_decided([i for i in range(len(checked)) if i not in waiting])
        if state_source is not None:
            needs = planner.needs(checked, by_learner, programs)
            state_source.provide(resolver, needs)
        lock = threading.Lock()

        def ready(user_id: str) -> None:
            indexes = by_learner[user_id]
            if user_id in programs:  # their own read, in this reading thread, not under the lock
                planner.prefetch_programs(user_id, [checked[i] for i in indexes])
            with lock:  # one learner at a time: the planner remembers planned enrollments
                for index in indexes:
                    planned = plan.rows[index] = planner.plan(checked[index])
                    if (
                        state_source is not None
                        and planned.course_id
                        and planned.status
                        in (
                            RowStatus.WOULD_COMPLETE,
                            RowStatus.ALREADY_COMPLETED,
                        )
                    ):
                        planned.note = state_source.note_for(user_id, planned.course_id, resolver)
            if on_learner_ready is not None:
                on_learner_ready(user_id, indexes)

        resolver.prefetch_enrollments(by_learner, on_ready=ready)
    finally:
        if borrowed:
            resolver.on_progress = None
    if on_progress is not None:
        on_progress("plan", len(checked), len(checked))
    return plan


def inactive_user_message(email: str, state: str) -> str:
    """The one message for a user ALM shows as deleted or suspended, whichever way it was found."""
    fix = "restore" if state.upper() == "DELETED" else "reactivate"
    return f"{email} is {state.lower()} in ALM; {fix} the user or remove the row."


def _day(when: datetime | None) -> str:
    return f" on {when.date().isoformat()}" if when is not None else ""


def _modules(n: int) -> str:
    return f"{n} module{'s' if n != 1 else ''}"


def _course_module_number(module_id: str) -> str:
    """The derived courseModule id of Adobe's sample: course:<c>_<i>_<m>_<n> -> <c><m><n>."""
    parts = module_id.split(":", 1)[-1].split("_")
    return f"{parts[0]}{parts[2]}{parts[3]}" if len(parts) == 4 else ""


def _match_modules(instance: Instance, text: str) -> list[Module]:
    """By loResource ID, by derived courseModule number, or by name in any locale."""
    wanted = text.strip().casefold()
    by_id = [
        m
        for m in instance.modules
        if wanted in (m.id.casefold(), m.id.split(":", 1)[-1].casefold())
        or wanted == _course_module_number(m.id)
    ]
    if by_id:
        return by_id
    key = name_key(text)
    return [m for m in instance.modules if any(name_key(n) == key for n in m.names.values())]


class _RowPlanner:
    """Plans one row at a time from answers already resolved in bulk."""

    def __init__(
        self,
        resolver: Resolver,
        options: PlanOptions,
        users: dict[str, User | None],
        courses: dict[str, CourseResolution],
    ) -> None:
        self.resolver = resolver
        self.options = options
        self.users = users
        self.courses = courses
        # (user id, course id) -> instance an earlier row of this file enrolls the learner in,
        # so two rows never plan enrollments in two different instances.
        self.planned: dict[tuple[str, str], str] = {}
        # (user id, course id, module key) -> the first row that resolved to it: two rows that
        # look different in the file (an email in other case, a course by name and by ID)
        # but name the same learner and course are one completion, posted once.
        self.resolved_first: dict[tuple[str, str, str], int] = {}
        # What rows of the file plan per learner (modules graded, program enrollments), shared
        # with the planner of learning program and certification rows.
        self.file = FilePlan()
        self.programs = ProgramPlanner(resolver, overwrite=options.overwrite, file=self.file)

    def has_program_row(self, checked: list[CheckedRow], indexes: list[int]) -> bool:
        return any(self._program_of(checked[i]) is not None for i in indexes)

    def _program_of(self, row: CheckedRow) -> CourseResolution | None:
        c = row.completion
        res = self.courses.get(c.course.key) if c is not None else None
        if res is None or not res.ok or res.course is None or not res.course.is_container:
            return None
        return res

    def prefetch_programs(self, user_id: str, rows: list[CheckedRow]) -> None:
        found = [res for row in rows if (res := self._program_of(row)) is not None]
        self.programs.prefetch(user_id, found)

    def needs(
        self, checked: list[CheckedRow], by_learner: dict[str, list[int]], programs: set[str]
    ) -> StateNeeds:
        """What the learners' rows need state for: learners, their emails (as the file and as
        ALM writes them), the learning objects named (and every recurrence of a recurring
        certification), the dates the rows carry."""
        needs = StateNeeds(programs=set(programs))
        for user_id, indexes in by_learner.items():
            for index in indexes:
                c = checked[index].completion
                user = self.users.get(c.email_key) if c is not None else None
                if c is None or user is None:
                    continue
                needs.users[user_id] = user
                needs.emails[c.email_key] = user_id
                needs.emails[email_key(user.email)] = user_id
                res, _ = self._course(c)
                if res.course is not None:
                    needs.lo_ids.add(res.course.id)
                needs.lo_ids.update(r.id for r in res.recurrences)
                needs.dates.append(c.completion_date)
                if c.start_date is not None:
                    needs.dates.append(c.start_date)
        return needs

    def learner_of(self, row: CheckedRow) -> str | None:
        """The user id whose ALM state this row's plan needs (None: it needs none)."""
        c = row.completion
        if c is None or row.duplicate_of is not None:
            return None
        if c.email_key in self.resolver.user_errors:
            return None
        user = self.users.get(c.email_key)
        if user is None or not user.active or not user.id:
            return None
        res, problem = self._course(c)
        if problem is not None or not res.ok or res.course is None:
            return None
        return user.id

    def _course(self, c: Completion) -> tuple[CourseResolution, str | None]:
        """The row's course, checked against its other course column when the file has one."""
        res = self.courses[c.course.key]
        if c.course_check is None:
            return res, None
        return settle_course_check(res, c.course_check, self.courses[c.course_check.ref.key])

    def plan(self, row: CheckedRow) -> RowPlan:
        c = row.completion
        if c is None:
            if row.not_completed:
                return RowPlan(row, RowStatus.NOT_COMPLETED, row.not_completed)
            text = summarise_issues(row.issues) or "This row failed validation."
            return RowPlan(row, RowStatus.INVALID, text)
        if row.duplicate_of is not None:
            return RowPlan(row, RowStatus.DUPLICATE, duplicate_message(row.duplicate_of))
        res, problem = self._course(c)
        if problem is not None:
            return RowPlan(row, RowStatus.INVALID, problem)
        if c.email_key in self.resolver.user_errors:
            return RowPlan(row, RowStatus.UNKNOWN, self.resolver.user_errors[c.email_key])
        user = self.users.get(c.email_key)
        if user is None:
            hint = ""
            if c.email_key in self.resolver.unconfirmed_misses:
                hint = (
                    " (ALM's lookup by email does not show deleted users: the users export "
                    "tells a deleted user apart (--user-lookup export))"
                )
            return RowPlan(
                row,
                RowStatus.USER_NOT_FOUND,
                f"No ALM user has the email '{c.email}'{hint}. Check the spelling, or add the "
                "user to ALM first.",
            )
        if res.ok and res.course is not None:
            key = (user.id, res.course.id, name_key(c.module or ""))
            first = self.resolved_first.setdefault(key, row.row)
            if first != row.row:
                return RowPlan(
                    row,
                    RowStatus.DUPLICATE,
                    duplicate_message(first, f"the same learner and course, {res.course.id}"),
                    user_id=user.id,
                    course_id=res.course.id,
                )
        if not user.active:
            return RowPlan(row, RowStatus.REJECTED, inactive_user_message(c.email, user.state),
                           user_id=user.id)  # fmt: skip
        if not res.ok or res.course is None:
            status = res.status or RowStatus.COURSE_NOT_FOUND
            return RowPlan(row, status, res.message, user_id=user.id, course_id=res.course_id)
        if res.course.is_container:
            return self._plan_program(row, c, user, res)
        return self._plan_course(row, c, user, res.course)

    def _plan_program(
        self, row: CheckedRow, c: Completion, user: User, res: CourseResolution
    ) -> RowPlan:
        """A learning program or certification row: its expansion (``batch.programs``)."""
        found = self.programs.plan(row, c, user, res)
        program = found.program
        out = RowPlan(row, found.status, found.message, user_id=user.id, program=program)
        out.course_id = found.lo_id or res.course_id
        out.instance_id = program.instance_id if program is not None else ""
        out.enroll, out.grades = found.enroll, found.grades
        out.module_ids = found.module_ids
        return out

    def _plan_course(
        self, row: CheckedRow, c: Completion, user: User, course: CourseDetail
    ) -> RowPlan:
        out = RowPlan(row, RowStatus.REJECTED, user_id=user.id, course_id=course.id)
        name = display_name(course.names, course.id)
        try:
            enrolled = [e for e in self.resolver.enrollments(user.id) if e.lo_id == course.id]
        except ApiError as exc:
            out.status = RowStatus.UNKNOWN
            out.message = (
                f"Could not read {c.email}'s enrollments in ALM ({exc.describe()}); "
                "a re-run will try again."
            )
            return out
        planned = self.planned.get((user.id, course.id))
        if not enrolled and planned is not None:
            enrolled = [Enrollment(_PLANNED, course.id, planned, "ENROLLED")]
        through = self.file.through_program.get((user.id, course.id))
        if not enrolled and through is not None:  # an earlier row's program enrolls it there
            enrolled = [Enrollment(_THROUGH_PROGRAM, course.id, through, "ENROLLED")]
        instance, enrollment, problem = self._instance(c, course, name, enrolled)
        if instance is None:
            out.message = problem
            return out
        out.instance_id = instance.id
        modules, problem = self._modules(c, instance, name)
        out.module_ids = [m.id for m in modules]
        if enrollment is not None and enrollment.completed and not self.options.overwrite:
            out.status = RowStatus.ALREADY_COMPLETED
            out.message = (
                f"ALM already shows {c.email} completed '{name}'{_day(enrollment.date_completed)}."
            )
            if c.instance and match_instances(course, c.instance) != [instance]:
                out.message = out.message[:-1] + (
                    f" in instance {_label(instance.names, instance.id)}, not '{c.instance}'."
                )
            return out
        if not instance.active:
            out.message = (
                f"Instance {_label(instance.names, instance.id)} of '{name}' is "
                f"{instance.state.lower()} in ALM; name an active instance in the Instance column."
            )
            return out
        if problem:
            out.message = problem
            return out
        return self._grades(out, c, user, course, name, instance, enrollment, modules)

    def _instance(
        self, c: Completion, course: CourseDetail, name: str, enrolled: list[Enrollment]
    ) -> tuple[Instance | None, Enrollment | None, str]:
        if c.instance:
            matches = match_instances(course, c.instance)
            listing = ", ".join(_label(i.names, i.id) for i in course.instances) or "none"
            if not matches:
                return (
                    None,
                    None,
                    (
                        f"No instance '{c.instance}' in course {course.id} '{name}'. Available "
                        f"instances: {listing}. Fix the Instance column or leave it empty."
                    ),
                )
            if len(matches) > 1:
                shown = ", ".join(_label(i.names, i.id) for i in matches)
                return (
                    None,
                    None,
                    (
                        f"'{c.instance}' matches {len(matches)} instances of '{name}': {shown}. "
                        "Use the instance ID."
                    ),
                )
            chosen = matches[0]
            enrollment = next((e for e in enrolled if e.instance_id == chosen.id), None)
            done = next((e for e in enrolled if e.completed), None)
            if enrollment is None and done is not None and not self.options.overwrite:
                # Completed in another instance: the course is done, whichever session it was.
                found = course.instance(done.instance_id)
                if found is not None:
                    return found, done, ""
            if enrollment is None and enrolled:
                other = course.instance(enrolled[0].instance_id)
                other_label = _label(other.names, other.id) if other else enrolled[0].instance_id
                return (
                    None,
                    None,
                    (
                        f"{c.email} is enrolled in instance {other_label} of '{name}', not "
                        f"{_label(chosen.names, chosen.id)}; a second enrollment is not created. "
                        "Leave the Instance column empty to use the existing enrollment."
                    ),
                )
            return chosen, enrollment, ""
        if enrolled:
            enrollment = next((e for e in enrolled if e.completed), enrolled[0])
            found = course.instance(enrollment.instance_id)
            if found is None:
                return (
                    None,
                    None,
                    (
                        f"{c.email} is enrolled in instance {enrollment.instance_id} of '{name}', "
                        "which the cached course structure lacks; run again with --refresh-cache."
                    ),
                )
            return found, enrollment, ""
        default = course.default_instance
        if default is None:
            listing = ", ".join(_label(i.names, i.id) for i in course.instances) or "none"
            return (
                None,
                None,
                (
                    f"Course {course.id} '{name}' has no default instance; name one in the "
                    f"Instance column (available: {listing})."
                ),
            )
        return default, None, ""

    def _modules(self, c: Completion, instance: Instance, name: str) -> tuple[list[Module], str]:
        inst = _label(instance.names, instance.id)
        if c.module:
            matches = _match_modules(instance, c.module)
            if len(matches) == 1:
                return matches, ""
            listing = ", ".join(_label(m.names, m.id) for m in (matches or instance.modules))
            if matches:
                return [], (
                    f"'{c.module}' matches {len(matches)} modules of instance {inst} of "
                    f"'{name}': {listing}. Use the module ID."
                )
            return [], (
                f"No module '{c.module}' in instance {inst} of '{name}'. Available modules: "
                f"{listing or 'none'}. Fix the Module column or leave it empty."
            )
        content = list(instance.content_modules)
        if not content:
            return [], (
                f"Instance {inst} of '{name}' has no Content modules to grade; name a module "
                "in the Module column or check the course in ALM."
            )
        return content, ""

    def _grades(
        self,
        out: RowPlan,
        c: Completion,
        user: User,
        course: CourseDetail,
        name: str,
        instance: Instance,
        enrollment: Enrollment | None,
        modules: list[Module],
    ) -> RowPlan:
        graded = {k for k, g in (enrollment.grades if enrollment else {}).items() if g.completed}
        todo = [m for m in modules if self.options.overwrite or m.id not in graded]
        done = [m for m in modules if m not in todo]
        by_rows = {
            self.file.graded[key] for m in todo if (key := (user.id, m.id)) in self.file.graded
        }
        if by_rows:  # an earlier row (a program's, or one naming a module) grades these
            todo = [m for m in todo if (user.id, m.id) not in self.file.graded]
            if not todo:
                rows = sorted(by_rows)
                who = (
                    "that row grades"
                    if len(rows) == 1
                    else f"rows {', '.join(map(str, rows))} grade"
                )
                out.status = RowStatus.DUPLICATE
                out.message = duplicate_message(
                    rows[0], f"{who} the same modules of '{name}' for {c.email}"
                )
                return out
        for m in todo:
            self.file.graded[(user.id, m.id)] = out.row
        if not todo:
            out.status = RowStatus.ALREADY_COMPLETED
            assert enrollment is not None
            shown = ", ".join(f"'{display_name(m.names, m.id)}'" for m in done)
            out.message = (
                f"ALM already shows {c.email} completed {shown} of '{name}' (the course itself "
                f"is {enrollment.state.lower()}); nothing to post."
            )
            return out
        out.status = RowStatus.WOULD_COMPLETE
        out.enroll = enrollment is None or enrollment.id == _PLANNED
        if enrollment is None:
            self.planned[(user.id, course.id)] = instance.id
        out.grades = [grade_for(c, user.id, course.id, instance.id, m.id) for m in todo]
        if out.enroll:
            inst = _label(instance.names, instance.id)
            out.message = (
                f"Would enroll {c.email} in '{name}' (instance {inst}) and grade "
                f"{_modules(len(todo))}."
            )
        elif enrollment is not None and enrollment.completed:
            out.message = (
                f"Would grade {_modules(len(todo))} of '{name}' again for {c.email} "
                f"(re-grading was asked for (--overwrite); ALM shows it "
                f"completed{_day(enrollment.date_completed)})."
            )
        elif done:
            shown = ", ".join(f"'{display_name(m.names, m.id)}'" for m in done)
            out.message = (
                f"Would grade {len(todo)} of {len(modules)} modules of '{name}' for {c.email}; "
                f"ALM already shows {shown} completed."
            )
        else:
            out.message = f"Would grade {_modules(len(todo))} of '{name}' for {c.email}."
        if by_rows:
            shown = ", ".join(map(str, sorted(by_rows)))
            out.message += f" Its other modules are graded by row {shown}."
        return out
