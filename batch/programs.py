"""Learning programs and certifications in a plan: one row becomes a program enrollment and the
grades of the program's courses.

alm-api.md §12: a learning program (or an internal certification) completes when its mandatory
courses do (every course of a mandatory section, or ``mandatoryLOCount`` of them), a course when
its core modules do; no write completes a program itself. So a row that names one is expanded:
enroll the learner once in the program's instance (or use the enrollment they have), then grade
the core modules of every course the program still needs, each in the course instance the
program maps it to, with the row's date and score. A section that asks for N of its M courses
is complete when N are; when fewer are and nothing says which, the row waits for a person
(``invalid``, naming the courses that could count). Other rows of the file say which: a row that
names one of the program's courses for the same learner grades it (with its own date), and the
program row counts it.

Where ALM is undocumented, the choice is made here, once:

- ``PROGRAM_ENROLLS_COURSES``: enrolling a learner in a program enrolls them in each of its
  courses they are not enrolled in yet, in the instance the program's instance maps the course
  to (ALM's transcript shows courses "enrolled through" a program; the sandbox does this). A
  learner already enrolled in the program but not in one of its courses is enrolled in that
  course directly before its grades (a write of its own, counted in the plan).
- A course the learner is already enrolled in keeps its instance: its grades go there.
- A recurring certification is one certification per recurrence; a learner's current one is
  found from their certification enrollments (ALM's ``applicableCertification`` is
  learner-scope only): the latest recurrence they are enrolled in, else the latest published.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime

from batch.alm.types import CourseDetail, CourseSummary, Enrollment, GradeRequest, Instance, User
from batch.errors import ApiError
from batch.models import CheckedRow, Completion, RowStatus, SubCourse, name_key
from batch.resolve import (
    CourseResolution,
    Resolver,
    display_name,
    latest_recurrence,
    type_label,
)

PROGRAM_ENROLLS_COURSES = True  # see the module docstring


@dataclass(slots=True)
class FilePlan:
    """What the rows of one file already plan, per learner (filled in input order, one learner
    at a time), so that no module is graded twice and instances agree across rows."""

    # (user id, course id) -> the first row that names the course (no Module column)
    course_rows: dict[tuple[str, str], int] = field(default_factory=dict)
    # (user id, loResource id) -> the row that grades it
    graded: dict[tuple[str, str], int] = field(default_factory=dict)
    # (user id, course id) -> the row of a program that grades the course
    covered: dict[tuple[str, str], int] = field(default_factory=dict)
    # (user id, course id) -> the instance an earlier program row's enrollment puts it in
    through_program: dict[tuple[str, str], str] = field(default_factory=dict)
    # (user id, program id) -> the program instance an earlier row enrolls the learner in
    programs: dict[tuple[str, str], str] = field(default_factory=dict)


@dataclass(slots=True)
class ProgramPlan:
    """The expansion of one program or certification row (kept on its ``RowPlan``)."""

    program_id: str
    name: str
    lo_type: str
    instance_id: str
    courses: list[SubCourse] = field(default_factory=list)
    course_enrolls: list[tuple[str, str]] = field(default_factory=list)  # (course, instance)

    @property
    def label(self) -> str:
        """ "the learning program 'New Hire Onboarding'" """
        return f"the {type_label(self.lo_type)} '{self.name}'"

    @property
    def graded(self) -> list[SubCourse]:
        return [s for s in self.courses if s.state == "grade"]

    def completed_course_ids(self) -> list[str]:
        return [s.course_id for s in self.courses if s.state == "completed"]


@dataclass(slots=True)
class Expansion:
    """What the planner makes of a program row (``plan.py`` turns it into the row's plan)."""

    status: RowStatus
    message: str
    program: ProgramPlan | None = None
    enroll: bool = False  # in the program itself
    grades: list[GradeRequest] = field(default_factory=list)
    lo_id: str = ""  # the program, or the learner's recurrence of a certification
    # The core modules of the courses the row grades or ALM shows completed (the report's
    # ``module_ids``: the modules concerned, to grade or already graded).
    module_ids: list[str] = field(default_factory=list)


def course_rows(
    rows: Iterable[CheckedRow],
    users: dict[str, User | None],
    courses: dict[str, CourseResolution],
) -> dict[tuple[str, str], int]:
    """(user id, course id) -> the first row naming that course for that learner, among rows
    that would grade the whole course (valid, resolved, no Module column)."""
    out: dict[tuple[str, str], int] = {}
    for row in rows:
        c = row.completion
        if c is None or row.duplicate_of is not None or c.module:
            continue
        user = users.get(c.email_key)
        res = courses.get(c.course.key)
        if user is None or res is None or not res.ok or res.course is None:
            continue
        if res.course.lo_type == "course":
            out.setdefault((user.id, res.course.id), row.row)
    return out


def grade_for(
    c: Completion, user_id: str, course_id: str, instance_id: str, module_id: str
) -> GradeRequest:
    """The grade a row sends for one module: the row's dates and score rules."""
    return GradeRequest(
        user_id=user_id,
        course_id=course_id,
        instance_id=instance_id,
        module_id=module_id,
        date_completed=c.completion_date,
        date_started=c.start_date,
        score=c.score,
        min_score=c.min_score,
        max_score=c.max_score,
        passed=c.passed,
    )


def current_recurrence(
    recurrences: tuple[CourseSummary, ...], enrollments: Iterable[Enrollment]
) -> CourseSummary:
    """The learner's recurrence: the latest one they are enrolled in, else the latest published
    (where ALM enrolls newcomers). ``recurrences`` is oldest first."""
    order = {c.id: i for i, c in enumerate(recurrences)}
    mine = [order[e.lo_id] for e in enrollments if e.lo_id in order]
    return recurrences[max(mine)] if mine else latest_recurrence(recurrences)


def match_instances(lo: CourseDetail, text: str) -> list[Instance]:
    """By ID (``course:1_2``, ``1_2`` or ``2``) or by name in any locale."""
    wanted = text.strip().casefold()
    by_id = [
        i
        for i in lo.instances
        if wanted in (i.id.casefold(), i.id.split(":", 1)[-1].casefold(), i.id.rsplit("_", 1)[-1])
    ]
    if by_id:
        return by_id
    key = name_key(text)
    return [i for i in lo.instances if any(name_key(n) == key for n in i.names.values())]


def label(names: dict[str, str], ident: str) -> str:
    name = display_name(names)
    return f"'{name}' ({ident})" if name else ident


def _day(when: datetime | None) -> str:
    return f" on {when.date().isoformat()}" if when is not None else ""


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' if n != 1 else ''}"


def _names(subs: Iterable[SubCourse]) -> str:
    return ", ".join(f"'{s.name}'" for s in subs)


class _Unreadable(Exception):
    """ALM could not be read for something the row needs: the row is ``unknown``."""


@dataclass(slots=True)
class _Course:
    """One course of a section while its row is planned."""

    sub: SubCourse
    covers: bool  # counts toward its section (complete in ALM, or graded by a row)
    candidate: bool  # could be graded by this row
    instance: Instance | None = None
    enrolled: bool = False  # the learner has (or an earlier row plans) an enrollment in it
    todo: tuple[str, ...] = ()  # modules to grade
    modules: tuple[str, ...] = ()  # every core module of the learner's instance


class ProgramPlanner:
    """Plans program and certification rows from answers already resolved in bulk."""

    def __init__(self, resolver: Resolver, *, overwrite: bool, file: FilePlan) -> None:
        self.resolver = resolver
        self.overwrite = overwrite
        self.file = file

    def prefetch(self, user_id: str, resolutions: Iterable[CourseResolution]) -> None:
        """Read what this learner's program rows need (their program and certification
        enrollments, their recurrences), in the reading thread, before the rows are planned."""
        wanted = [r for r in resolutions if r.ok and r.course is not None and r.course.is_container]
        if not wanted:
            return
        try:
            enrolled = self.resolver.program_enrollments(user_id)
            for res in wanted:
                if res.recurrences:
                    self.resolver.course_detail(current_recurrence(res.recurrences, enrolled).id)
        except ApiError:
            pass  # remembered; the row says so when it is planned

    def plan(self, row: CheckedRow, c: Completion, user: User, res: CourseResolution) -> Expansion:
        try:
            return self._plan(row.row, c, user, res)
        except _Unreadable as exc:
            return Expansion(RowStatus.UNKNOWN, str(exc))

    def _plan(self, row: int, c: Completion, user: User, res: CourseResolution) -> Expansion:
        assert res.course is not None
        try:
            enrolled_programs = self.resolver.program_enrollments(user.id)
            enrollments = self.resolver.enrollments(user.id)
        except ApiError as exc:
            raise _Unreadable(
                f"Could not read {c.email}'s enrollments in ALM ({exc.describe()}); "
                "a re-run will try again."
            ) from exc
        program, note = self._recurrence(c, res, enrolled_programs)
        found = self._expand(row, c, user, program, note, enrolled_programs, enrollments)
        found.lo_id = program.id
        return found

    def _expand(
        self,
        row: int,
        c: Completion,
        user: User,
        program: CourseDetail,
        note: str,
        enrolled_programs: list[Enrollment],
        enrollments: list[Enrollment],
    ) -> Expansion:
        kind = type_label(program.lo_type)
        name = display_name(program.names, program.id)
        if c.module:
            return Expansion(
                RowStatus.INVALID,
                f"The Module column names '{c.module}', but '{name}' is a {kind}: a {kind} row "
                f"grades the core modules of its courses. Leave the Module column empty, or name "
                f"the course instead of the {kind}.",
            )
        mine = next((e for e in enrolled_programs if e.lo_id == program.id), None)
        if mine is not None and mine.completed and not self.overwrite:
            done = f"ALM already shows {c.email} completed the {kind} '{name}'"
            done += f"{_day(mine.date_completed)}{note}."
            instance = program.instance(mine.instance_id)
            if instance is None:
                return Expansion(RowStatus.ALREADY_COMPLETED, done)
        else:
            done = ""
            instance, problem = self._instance(c, program, name, kind, mine)
            if instance is None:
                return Expansion(RowStatus.REJECTED, problem)
        planned = self.file.programs.get((user.id, program.id))
        enroll = mine is None and planned is None
        plan = ProgramPlan(program.id, name, program.lo_type, instance.id)
        blocked: list[str] = []
        choose: list[str] = []
        chosen: list[_Course] = []
        concerned: list[str] = []
        for section in program.sections:
            section_name = display_name(section.names, f"section {section.id}")
            courses = [
                self._course(row, user, cid, section_name, instance, enrollments)
                for cid in section.lo_ids
            ]
            verdict = self._section(section.needed, courses, c.email)
            if verdict.startswith("blocked:"):
                blocked.append(f"its section '{section_name}' {verdict.removeprefix('blocked:')}")
            elif verdict:
                choose.append(f"its section '{section_name}' {verdict}")
            chosen.extend(x for x in courses if x.sub.state == "grade")
            plan.courses.extend(x.sub for x in courses)
            concerned.extend(m for x in courses if x.sub.state in ("grade", "completed")
                             for m in x.modules)  # fmt: skip
        if done:
            return Expansion(RowStatus.ALREADY_COMPLETED, done, plan, module_ids=concerned)
        if blocked:
            return Expansion(
                RowStatus.REJECTED,
                f"The {kind} '{name}' cannot be completed for {c.email}{note}: "
                f"{'; '.join(blocked)}. Complete it in ALM, or list the courses the learner "
                "completed, one row per course.",
                plan,
            )
        if choose:
            return Expansion(
                RowStatus.INVALID,
                f"The course cell names the {kind} '{name}'{note}, but {'; '.join(choose)}. Add a "
                f"row for each course {c.email} completed (this row then grades the rest), or "
                f"list the courses instead of the {kind}.",
                plan,
            )
        found = self._grades(row, c, user, plan, chosen, enroll, mine, note, program)
        found.module_ids = concerned
        return found

    def _recurrence(
        self, c: Completion, res: CourseResolution, enrolled: list[Enrollment]
    ) -> tuple[CourseDetail, str]:
        assert res.course is not None
        if not res.recurrences:
            return res.course, ""
        current = current_recurrence(res.recurrences, enrolled)
        try:
            detail = self.resolver.course_detail(current.id)
        except ApiError as exc:
            raise _Unreadable(
                f"Could not read {current.id} in ALM ({exc.describe()}); a re-run will try again."
            ) from exc
        if detail is None or not detail.sections:
            raise _Unreadable(
                f"ALM did not give the courses of {current.id}, {c.email}'s current recurrence "
                f"of '{display_name(res.course.names, res.course.id)}'; a re-run will try again."
            )
        return detail, f" ({detail.id}, the learner's current recurrence)"

    def _instance(
        self, c: Completion, program: CourseDetail, name: str, kind: str, mine: Enrollment | None
    ) -> tuple[Instance | None, str]:
        listing = ", ".join(label(i.names, i.id) for i in program.instances) or "none"
        if c.instance:
            matches = match_instances(program, c.instance)
            if len(matches) != 1:
                found = "No instance" if not matches else f"{len(matches)} instances match"
                return None, (
                    f"{found} '{c.instance}' in the {kind} {program.id} '{name}'. Available "
                    f"instances: {listing}. Fix the Instance column (an ID is exact) or leave it "
                    "empty."
                )
            chosen: Instance | None = matches[0]
            if mine is not None and mine.instance_id != matches[0].id:
                return None, (
                    f"{c.email} is enrolled in instance {mine.instance_id} of the {kind} '{name}', "
                    f"not {label(matches[0].names, matches[0].id)}; a second enrollment is not "
                    "created. Leave the Instance column empty to use the existing enrollment."
                )
        elif mine is not None:
            chosen = program.instance(mine.instance_id)
            if chosen is None:
                return None, (
                    f"{c.email} is enrolled in instance {mine.instance_id} of '{name}', which the "
                    "cached structure lacks; run again with --refresh-cache."
                )
        else:
            chosen = program.default_instance
            if chosen is None:
                return None, (
                    f"The {kind} {program.id} '{name}' has no default instance; name one in the "
                    f"Instance column (available: {listing})."
                )
        assert chosen is not None  # every branch above returns or sets it
        if mine is None and not chosen.active:
            return None, (
                f"Instance {label(chosen.names, chosen.id)} of the {kind} '{name}' is "
                f"{chosen.state.lower()} in ALM; name an active instance in the Instance column."
            )
        return chosen, ""

    def _course(
        self,
        row: int,
        user: User,
        course_id: str,
        section: str,
        program_instance: Instance,
        enrollments: list[Enrollment],
    ) -> _Course:
        """What this row can do with one course of the program."""
        try:
            detail = self.resolver.course_detail(course_id)
        except ApiError as exc:
            raise _Unreadable(
                f"Could not read the course {course_id} in ALM ({exc.describe()}); a re-run will "
                "try again."
            ) from exc
        name = display_name(detail.names, course_id) if detail is not None else course_id

        def sub(
            state: str, instance_id: str = "", note: str = "", row: int | None = None
        ) -> SubCourse:
            return SubCourse(course_id, name, section, state, instance_id, row=row, note=note)

        mine = [e for e in enrollments if e.lo_id == course_id]
        done = next((e for e in mine if e.completed), None)
        if done is not None and not self.overwrite:
            note = f"completed{_day(done.date_completed)}"
            where = detail.instance(done.instance_id) if detail is not None else None
            modules = tuple(m.id for m in where.content_modules) if where is not None else ()
            completed = sub("completed", instance_id=done.instance_id, note=note)
            return _Course(completed, True, False, modules=modules)
        other = self.file.course_rows.get((user.id, course_id))
        other = other if other != row else None
        other = other or self.file.covered.get((user.id, course_id))
        if other is not None:
            return _Course(sub("other_row", row=other), True, False)
        if detail is None or not detail.published:
            why = "not found in ALM" if detail is None else f"{detail.state.lower()} in ALM"
            return _Course(sub("unavailable", note=why), False, False)
        enrollment = done or (mine[0] if mine else None)
        if enrollment is not None:
            instance_id = enrollment.instance_id
        else:
            instance_id = (
                self.file.through_program.get((user.id, course_id))
                or program_instance.sub_instance(course_id)
                or (detail.default_instance.id if detail.default_instance else "")
            )
        instance = detail.instance(instance_id)
        if instance is None or not instance.active:
            why = (
                f"its instance {instance_id or '(none)'} is not in the course structure ALM gave"
                if instance is None
                else f"its instance {label(instance.names, instance.id)} is retired"
            )
            return _Course(sub("unavailable", instance_id=instance_id, note=why), False, False)
        graded = {k for k, g in (enrollment.grades if enrollment else {}).items() if g.completed}
        content = instance.content_modules
        if not content:
            note = "it has no Content modules to grade"
            return _Course(sub("unavailable", instance_id=instance.id, note=note), False, False)
        todo = tuple(
            m.id
            for m in content
            if (self.overwrite or m.id not in graded) and (user.id, m.id) not in self.file.graded
        )
        modules = tuple(m.id for m in content)
        if not todo:  # every core module is graded already (in ALM, or by earlier rows)
            rows = [r for m in content if (r := self.file.graded.get((user.id, m.id)))]
            if rows:
                return _Course(sub("other_row", row=min(rows)), True, False)
            completed = sub("completed", instance_id=instance.id, note="modules completed")
            return _Course(completed, True, False, modules=modules)
        enrolled = enrollment is not None or (user.id, course_id) in self.file.through_program
        return _Course(
            sub("candidate", instance_id=instance.id),
            done is not None,  # --overwrite: a completed course still counts, and is re-graded
            True,
            instance,
            enrolled,
            todo,
            modules,
        )

    @staticmethod
    def _section(needed: int, courses: list[_Course], email: str) -> str:
        """Decide each course of one section (their ``sub.state``); "" when the section is
        settled, "blocked:<why>" when it cannot complete, else what the file must say."""

        def mark(x: _Course, state: str) -> None:
            x.sub = replace(x.sub, state=state)

        if needed == 0:
            for x in courses:
                if x.sub.state in ("candidate", "unavailable"):
                    mark(x, "optional")
            return ""
        covering = [x for x in courses if x.covers]
        open_ = [x for x in courses if x.candidate and not x.covers]
        for x in covering:
            if x.candidate:  # --overwrite: re-graded
                mark(x, "grade")
        missing = needed - len(covering)
        if missing <= 0:
            for x in open_:
                mark(x, "not_needed")
            return ""
        if len(open_) == missing:
            for x in open_:
                mark(x, "grade")
            return ""
        total = len(courses)
        if len(open_) < missing:
            gone = [x for x in courses if x.sub.state == "unavailable"]
            why = "; ".join(f"'{x.sub.name}' {x.sub.note}" for x in gone)
            return (
                f"blocked:needs {needed} of its {_count(total, 'course')} and only "
                f"{len(covering) + len(open_)} can be completed ({why})"
            )
        for x in open_:
            mark(x, "choose")
        have = f"ALM shows {len(covering)} complete" if covering else "ALM shows none complete"
        return (
            f"needs {needed} of its {_count(total, 'course')} ({have}) and the file does not "
            f"say which {missing} more {email} completed. Could count: {_names(x.sub for x in open_)}"
        )

    def _grades(
        self,
        row: int,
        c: Completion,
        user: User,
        plan: ProgramPlan,
        chosen: list[_Course],
        enroll: bool,
        mine: Enrollment | None,
        note: str,
        program: CourseDetail,
    ) -> Expansion:
        kind = type_label(plan.lo_type)
        grades: list[GradeRequest] = []
        for x in chosen:
            assert x.instance is not None
            direct = not x.enrolled and not enroll
            if direct:
                plan.course_enrolls.append((x.sub.course_id, x.instance.id))
                self.file.through_program[(user.id, x.sub.course_id)] = x.instance.id
            x.sub = replace(x.sub, module_ids=x.todo, enroll=direct)
            self.file.covered[(user.id, x.sub.course_id)] = row
            for module_id in x.todo:
                self.file.graded[(user.id, module_id)] = row
                grades.append(grade_for(c, user.id, x.sub.course_id, x.instance.id, module_id))
        subs = {x.sub.course_id: x.sub for x in chosen}
        plan.courses = [subs.get(s.course_id, s) for s in plan.courses]
        if enroll:
            self.file.programs[(user.id, plan.program_id)] = plan.instance_id
            if PROGRAM_ENROLLS_COURSES:
                self._through_program(user, program, plan.instance_id)
        if not grades and not enroll and not plan.course_enrolls:
            rows = sorted({s.row for s in plan.courses if s.state == "other_row" and s.row})
            if rows:
                shown = ", ".join(map(str, rows))
                return Expansion(
                    RowStatus.DUPLICATE,
                    f"Nothing left for this row: {plan.label}{note} needs no more than what "
                    f"row{'s' if len(rows) > 1 else ''} {shown} grade"
                    f"{'s' if len(rows) == 1 else ''} and what ALM shows completed.",
                    plan,
                )
            state = mine.state.lower() if mine is not None else "not enrolled"
            return Expansion(
                RowStatus.ALREADY_COMPLETED,
                f"ALM already shows {c.email} completed every course {plan.label}{note} needs; "
                f"the {kind} itself shows {state} (ALM rolls it up from its courses).",
                plan,
            )
        return Expansion(
            RowStatus.WOULD_COMPLETE,
            would_message(c.email, plan, enroll, program, note),
            plan,
            enroll,
            grades,
        )

    def _through_program(self, user: User, program: CourseDetail, instance_id: str) -> None:
        """Remember the course enrollments the program's enrollment will make, so a later row
        of the file grades those courses in the right instance without enrolling again."""
        instance = program.instance(instance_id)
        enrolled = {e.lo_id for e in self.resolver.enrollments(user.id)}
        for section in program.sections:
            for course_id in section.lo_ids:
                key = (user.id, course_id)
                if course_id in enrolled or key in self.file.through_program:
                    continue
                mapped = instance.sub_instance(course_id) if instance is not None else ""
                if not mapped:
                    try:
                        detail = self.resolver.course_detail(course_id)
                    except ApiError:
                        detail = None
                    default = detail.default_instance if detail is not None else None
                    mapped = default.id if default is not None else ""
                if mapped:
                    self.file.through_program[key] = mapped


def would_message(
    email: str, plan: ProgramPlan, enroll: bool, program: CourseDetail, note: str = ""
) -> str:
    """The dry run's sentence: "Would enroll x in the learning program 'New Hire Onboarding'
    (instance '2025 intake') and grade 7 modules in 3 courses: ..." and what it leaves out."""
    graded = plan.graded
    modules = sum(len(s.module_ids) for s in graded)
    what = f"grade {_count(modules, 'module')} in {_count(len(graded), 'course')}"
    instance = program.instance(plan.instance_id)
    inst = label(instance.names, instance.id) if instance is not None else plan.instance_id
    if enroll and graded:
        text = f"Would enroll {email} in {plan.label}{note} (instance {inst}) and {what}"
    elif enroll:
        text = f"Would enroll {email} in {plan.label}{note} (instance {inst})"
    else:
        text = f"Would {what} of {plan.label}{note} for {email}"
    if graded:
        text += ": " + ", ".join(f"'{s.name}' ({len(s.module_ids)})" for s in graded)
    direct = [s for s in graded if s.enroll]
    if direct:
        text += f", enrolling the learner in {_names(direct)} first"
    return text + "." + leftovers(plan)


def leftovers(plan: ProgramPlan) -> str:
    """What a program row does not grade, and why (" Graded by other rows: ...")."""
    parts: list[str] = []
    others = [s for s in plan.courses if s.state == "other_row"]
    if others:
        parts.append(
            "Graded by other rows: " + ", ".join(f"'{s.name}' (row {s.row})" for s in others)
        )
    done = [s for s in plan.courses if s.state == "completed"]
    if done:
        parts.append(f"ALM already shows {_names(done)} completed")
    skipped = [s for s in plan.courses if s.state == "not_needed"]
    if skipped:
        it = "it" if len(skipped) == 1 else "them"
        parts.append(f"Not needed: {_names(skipped)} (the section is complete without {it})")
    return "".join(f" {p}." for p in parts)
