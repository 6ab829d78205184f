"""Emails, course names/IDs -> ALM objects with the fewest calls the data allows.

Why it is shaped like this: admin ``GET /users`` and ``GET /learningObjects`` are limited to
about 500 calls an hour, so every distinct thing is resolved once per run (and once per TTL
through ``LookupCache``), never once per row. The planner collects the distinct emails and
course references of the whole file first, then asks here in bulk.

User lookup rule (``user_lookup="auto"``): look emails up one by one (``GET /users?ids=email:``)
when the uncached emails are few (at most ``per_email_limit``, default 50) or when looking them up
one by one takes no longer, at ``users_per_hour``, than one export job is expected to
(``export_job_seconds``); otherwise run one ``generateUsers`` export job, which costs a handful of
calls whatever the number of users. If the export job fails under ``auto``, fall back to
one-by-one lookups with a warning. ``per-email`` and ``export`` force the method.

ALM's lookup by email hides deleted users; under ``auto`` the emails it did not find are checked
against one users export job. That job starts in the background at the first miss, so its
generation time runs beside the remaining lookups (and, for ``build_plan``, the course lookups)
instead of after them; ``settle_users`` waits for it.

Enrollments are read live (learner state changes between runs), once per user per run; a dry
run may take them from ALM's learner transcript instead (``batch.state_source``), learner by
learner where the transcript maps with certainty.
"""

from __future__ import annotations

import difflib
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from batch.alm.jobs import OnWait
from batch.alm.types import CONTAINER_TYPES, LO_TYPES, CourseDetail, CourseSummary, Enrollment, User
from batch.cache import LookupCache
from batch.errors import AbortError, ApiError, Interrupted
from batch.models import (
    CourseCheck,
    CourseRef,
    RowStatus,
    counted,
    email_key,
    name_key,
    shown_value,
)

USER_LOOKUPS = ("auto", "per-email", "export")
_T = TypeVar("_T")
_R = TypeVar("_R")
ProgressCallback = Callable[[str, int, int], None]  # (stage, done, total)


class AlmReader(Protocol):
    """The read-only part of ``batch.alm.api.AlmClient`` that resolution uses."""

    def find_user_by_email(self, email: str) -> User | None: ...

    def export_users(
        self,
        *,
        poll_seconds: float | None = ...,
        timeout: float = ...,
        on_wait: OnWait | None = ...,
    ) -> Iterable[User]: ...

    def iter_catalogue(self, lo_types: Iterable[str] = ...) -> Iterable[CourseSummary]: ...

    def get_course(self, course_id: str) -> CourseDetail | None: ...

    def get_program(self, lo_id: str) -> CourseDetail | None: ...

    def get_enrollments(self, user_id: str) -> list[Enrollment]: ...

    def get_program_enrollments(self, user_id: str) -> list[Enrollment]: ...


@dataclass
class LookupStats:
    """Cache hits and misses per kind (users, catalogue, courses, enrollments) for benchmarks."""

    hits: dict[str, int] = field(default_factory=dict)
    misses: dict[str, int] = field(default_factory=dict)
    user_method: str = ""  # "per-email", "export", "" (nothing to look up)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def hit(self, kind: str, n: int = 1) -> None:
        with self._lock:
            self.hits[kind] = self.hits.get(kind, 0) + n

    def miss(self, kind: str, n: int = 1) -> None:
        with self._lock:
            self.misses[kind] = self.misses.get(kind, 0) + n


@dataclass(frozen=True, slots=True)
class CourseResolution:
    """A course reference resolved: ``course`` when usable, else a row status and message."""

    ref: CourseRef
    course: CourseDetail | None = None  # a course, a learning program or a certification
    status: RowStatus | None = None  # None when the course is usable
    message: str = ""
    course_id: str = ""  # known even when rejected (retired, external certification)
    # A recurring certification: every recurrence, oldest first (each learner is planned in
    # their own, ``batch.programs.current_recurrence``); empty otherwise.
    recurrences: tuple[CourseSummary, ...] = ()

    @property
    def ok(self) -> bool:
        return self.status is None and self.course is not None


_TYPE_LABELS = {
    "course": "course",
    "learningProgram": "learning program",
    "certification": "certification",
    "jobAid": "job aid",
}


def type_label(lo_type: str) -> str:
    """How a message names a learning-object type: "learning program", "job aid", ..."""
    return _TYPE_LABELS.get(lo_type, lo_type)


def with_article(lo_type: str) -> str:
    label = type_label(lo_type)
    return f"{'an' if label[:1] in 'aeiou' else 'a'} {label}"


def display_name(names: dict[str, str], fallback: str = "") -> str:
    """One readable name: en-US when present, else the first locale; trimmed."""
    for locale in ("en-US", "en_US", "en"):
        if names.get(locale, "").strip():
            return names[locale].strip()
    for value in names.values():
        if value.strip():
            return value.strip()
    return fallback


def _locales_of(names: dict[str, str], key: str) -> list[str]:
    return [loc for loc, value in names.items() if name_key(value) == key]


def _facts(course: CourseSummary, key: str, *, with_type: bool) -> list[str]:
    """What tells one of several learning objects of the same name apart, as the catalogue
    listing gives it (no call is made for it): the locales of the name, the type, the state,
    the instances, the date created, the names in other locales, the description."""
    facts = [", ".join(_locales_of(course.names, key)) or "?"]
    if with_type:
        facts.append(type_label(course.lo_type))
    if course.state.casefold() != "published":
        facts.append(course.state.lower())
    if course.instances is not None:
        facts.append(f"{course.instances} instance{'s' if course.instances != 1 else ''}")
    if course.date_created is not None:
        facts.append(f"created {course.date_created.date().isoformat()}")
    others = [f"{loc} “{n.strip()}”" for loc, n in course.names.items() if name_key(n) != key]
    facts.extend(others[:2])
    if course.description:
        facts.append(f"“{course.description}”")
    return [f.replace("(", "[").replace(")", "]") for f in facts]  # the list stays parseable


def _not_published(
    ref: CourseRef, detail: CourseDetail | None, course_id: str, name: str, state: str
) -> CourseResolution:
    """A retired (or draft) course, program or certification: rejected, with what to do."""
    kind = type_label(course_id.split(":", 1)[0] if ":" in course_id else "course")
    return CourseResolution(
        ref, detail, RowStatus.REJECTED,
        f"{kind[:1].upper()}{kind[1:]} {course_id} '{name}' is {state.lower()} in ALM; "
        f"completions cannot be recorded on it. Use its replacement {kind} or remove the row.",
        course_id,
    )  # fmt: skip


def settle_course_check(
    main: CourseResolution, check: CourseCheck, other: CourseResolution
) -> tuple[CourseResolution, str | None]:
    """A row's course column and its other course column (a course ID beside the name),
    both resolved: the course to use and, when the two name different courses, the message
    that makes the row invalid (naming both values and the course each one names).

    They agree when both resolve to the same course, or when one is a name the other's course
    carries (in any locale). A name that matches several courses is settled by an ID that
    names one of them. When the course column itself does not resolve, its own outcome stands.
    """
    if main.ok and main.course is not None:
        if other.ok and other.course is not None and other.course.id == main.course.id:
            return main, None
        if not check.ref.is_id and _carries(main.course.names, check.ref.text):
            return main, None
        return main, (
            f"{check.main_column} {shown_value(main.ref.text)!r} names {_names(main)} but "
            f"{check.column} {shown_value(check.ref.text)!r} names {_names(other)}: correct the "
            f"one that is wrong (or leave {check.column!r} out of the run if it does not name "
            "ALM courses)."
        )
    if (
        main.status is RowStatus.AMBIGUOUS_COURSE
        and other.ok
        and other.course is not None
        and _carries(other.course.names, main.ref.text)
    ):
        return other, None  # the ID says which of the courses with that name is meant
    return main, None


def _carries(names: dict[str, str], text: str) -> bool:
    key = name_key(text)
    return any(name_key(n) == key for n in names.values())


def _names(res: CourseResolution) -> str:
    if res.course is not None:
        return f"{res.course.id} '{display_name(res.course.names, res.course.id)}'"
    if res.status is RowStatus.AMBIGUOUS_COURSE:
        return "several courses"
    return res.course_id or "no course in ALM"


def _not_completable(ref: CourseRef, detail: CourseDetail, name: str) -> CourseResolution | None:
    """Why a learning object that is not a course cannot take this row, or None (it can)."""
    what = f"{detail.id} '{name}'"
    if detail.lo_type == "jobAid":
        message = (
            f"{what} is a job aid: ALM keeps no enrollment or completion for job aids, so "
            "there is nothing to record. Remove the row, or name the course the learner "
            "completed instead."
        )
    elif detail.lo_type == "certification" and detail.is_external:
        message = (
            f"{what} is an external certification: ALM completes it only when the learner "
            "uploads proof and a manager or administrator approves it, which no API call can "
            "do. Have the proof uploaded and approved in ALM, then remove the row."
        )
    elif not detail.is_container:
        message = f"{what} is {with_article(detail.lo_type)}, not a course; name a course instead."
    elif not detail.sections:
        message = (
            f"{what} is {with_article(detail.lo_type)} for which ALM lists no sections, so "
            "which of its courses complete it is not known; list its courses instead, one row "
            "per course."
        )
    else:
        return None
    return CourseResolution(ref, detail, RowStatus.REJECTED, message, detail.id)


def _one_per_recurrence(matches: list[CourseSummary]) -> list[CourseSummary]:
    """The recurrences of one recurring certification (same ``rootCertificationId``) are one
    match: the latest published one stands for them (each learner gets their own later)."""
    chains: dict[str, list[CourseSummary]] = {}
    out: list[CourseSummary] = []
    for match in matches:
        if match.lo_type == "certification":
            chain = chains.setdefault(match.root_id or match.id, [])
            if not chain:
                out.append(match)
            chain.append(match)
        else:
            out.append(match)
    return [
        latest_recurrence(chains[m.root_id or m.id]) if m.lo_type == "certification" else m
        for m in out
    ]


def recurrence_order(recurrences: Iterable[CourseSummary]) -> list[CourseSummary]:
    """Oldest first: by ``dateCreated``, then by id (ALM's ids grow with time)."""
    return sorted(
        recurrences,
        key=lambda c: (c.date_created.timestamp() if c.date_created else 0.0, _id_number(c.id)),
    )


def latest_recurrence(recurrences: Iterable[CourseSummary]) -> CourseSummary:
    """The recurrence new enrollments go to: the newest published one (else the newest)."""
    ordered = recurrence_order(recurrences)
    published = [c for c in ordered if c.state.casefold() == "published"]
    return (published or ordered)[-1]


def _id_number(lo_id: str) -> int:
    number = lo_id.rsplit(":", 1)[-1]
    return int(number) if number.isdigit() else 0


def not_found_message(text: str, courses: list[CourseSummary], locale: str | None) -> str:
    """ "No course named 'x'." with up to three "did you mean" courses, learning programs or
    certifications (those say which they are).

    Each course is suggested once, however many locales name it, under the name closest to
    the input, or under ``locale`` (the file's language) when the course has a name there. A
    name equal to the input after folding is never offered (it would have matched).
    """
    wanted = name_key(text)
    best: dict[str, tuple[float, str, CourseSummary]] = {}  # course id -> (ratio, name, course)
    matcher = difflib.SequenceMatcher()
    matcher.set_seq2(wanted)
    for course in courses:
        for name in course.names.values():
            key = name_key(name)
            if not key or key == wanted:
                continue
            matcher.set_seq1(key)
            if matcher.real_quick_ratio() < 0.6 or matcher.quick_ratio() < 0.6:
                continue
            ratio = matcher.ratio()
            if ratio >= 0.6 and ratio > best.get(course.id, (0.0, "", course))[0]:
                best[course.id] = (ratio, name.strip(), course)
    ranked = sorted(best.values(), key=lambda t: (-t[0], t[2].id))[:3]
    message = f"No course named '{shown_value(text)}'."
    if not ranked:
        return message + (
            " Check the name in ALM (Admin > Courses, Learning Programs or Certifications) or "
            "use the ID."
        )
    names: list[str] = []
    for _, closest, course in ranked:
        shown = course.names.get(locale, "").strip() if locale else ""
        if not shown or name_key(shown) == wanted:
            shown = closest
        kind = "" if course.lo_type == "course" else f" ({type_label(course.lo_type)})"
        names.append(f"'{shown}'{kind}")
    joined = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
    return message + f" Did you mean {joined}?"


class Resolver:
    """Resolves users, courses and enrollments for one run; safe to share between threads."""

    def __init__(
        self,
        client: AlmReader,
        cache: LookupCache,
        *,
        user_lookup: str = "auto",
        on_progress: ProgressCallback | None = None,
        per_email_limit: int = 50,
        users_per_hour: float = 500.0,
        export_job_seconds: float = 120.0,
        workers: int = 4,
        export_poll_seconds: float | None = None,  # None: the client's (ALM_JOB_POLL_SECONDS)
        stop: threading.Event | None = None,
        on_job_wait: OnWait | None = None,  # told while the users export job runs
    ) -> None:
        if user_lookup not in USER_LOOKUPS:
            raise ValueError(f"user_lookup must be one of {', '.join(USER_LOOKUPS)}")
        self.client = client
        self.cache = cache
        self.user_lookup = user_lookup
        self.on_progress = on_progress
        self.per_email_limit = per_email_limit
        self.users_per_hour = users_per_hour
        self.export_job_seconds = export_job_seconds
        self.workers = max(1, workers)  # lookups in flight at once (the client paces them)
        self.export_poll_seconds = export_poll_seconds
        self.stop = stop  # set by Ctrl-C: no new lookup starts (they are read-only: safe to drop)
        self.on_job_wait = on_job_wait
        self.stats = LookupStats()
        self.warnings: list[str] = []
        self.user_errors: dict[str, str] = {}  # email key -> why the lookup failed
        # Email keys that ALM's lookup by email did not find and no users export confirmed:
        # the lookup by email hides deleted users, so these may be deleted ones.
        self.unconfirmed_misses: set[str] = set()
        self._lock = threading.RLock()
        self._export: _Background[dict[str, User]] | None = None  # started at the first miss
        self._unsettled: dict[str, User | None] = {}  # looked up, misses not yet checked
        self._users: dict[str, User | None] = {}
        self._catalogue: list[CourseSummary] | None = None
        self._catalogue_lock = threading.Lock()
        self._courses: dict[str, CourseResolution] = {}
        self._details: dict[str, CourseDetail | None] = {}
        self._detail_locks: dict[str, threading.Lock] = {}
        self._enrollments: dict[str, list[Enrollment] | ApiError] = {}
        self._programs: dict[str, list[Enrollment] | ApiError] = {}
        self._name_index: dict[str, list[tuple[CourseSummary, str]]] | None = None
        self.preferred_locale: str | None = None  # the file's language, once names are matched

    def check_stop(self) -> None:
        """Raise ``Interrupted`` once Ctrl-C was pressed: lookups are reads, nothing is lost."""
        if self.stop is not None and self.stop.is_set():
            raise Interrupted("Interrupted while looking up learners and courses in ALM.")

    def _progress(self, stage: str, done: int, total: int) -> None:
        if self.on_progress is not None:
            self.on_progress(stage, done, total)

    def _map(self, stage: str, fn: Callable[[_T], _R], items: list[_T]) -> list[_R]:
        """``fn`` over ``items`` with up to ``workers`` threads (the client paces the calls),
        reporting progress; results in the order of ``items``. ``AbortError`` propagates."""
        total = len(items)
        counter = [0]

        def step(item: _T) -> _R:
            self.check_stop()
            value = fn(item)
            with self._lock:
                counter[0] += 1
                done = counter[0]
            self._progress(stage, done, total)
            return value

        if self.workers <= 1 or total <= 1:
            return [step(item) for item in items]
        pool = ThreadPoolExecutor(
            max_workers=min(self.workers, total), thread_name_prefix=stage.replace(" ", "-")
        )
        try:
            return list(pool.map(step, items))
        finally:
            # On an abort or Ctrl-C, drop the queued lookups instead of waiting for them.
            pool.shutdown(wait=True, cancel_futures=True)

    # --- users --------------------------------------------------------------------------------------
    def choose_user_method(self, uncached: int) -> str:
        """``per-email`` or ``export`` for this many uncached emails (see the module docstring)."""
        if self.user_lookup != "auto":
            return self.user_lookup
        per_email_seconds = uncached * 3600.0 / max(self.users_per_hour, 1e-9)
        if uncached <= self.per_email_limit or per_email_seconds <= self.export_job_seconds:
            return "per-email"
        return "export"

    def resolve_users(
        self, emails: Iterable[str], *, settle: bool = True
    ) -> dict[str, User | None]:
        """Email key -> User (None: no ALM user has it). Failed lookups are in ``user_errors``.
        With ``settle=False`` the emails the lookup did not find may still be checked against
        the users export running in the background: the caller calls ``settle_users`` on the
        answer before using it (meanwhile such an email reads None)."""
        spelled: dict[str, str] = {}  # key -> the first spelling seen (sent to ALM as written)
        for email in emails:
            if email.strip():
                spelled.setdefault(email_key(email), email.strip())
        result: dict[str, User | None] = {}
        todo: list[str] = []
        for key in spelled:
            with self._lock:
                if key in self._users:
                    result[key] = self._users[key]
                    continue
            found, user = self.cache.get_user(key)
            if found:
                self.stats.hit("users")
                result[key] = user
            else:
                self.stats.miss("users")
                todo.append(key)
        if todo:
            method = self.choose_user_method(len(todo))
            self.stats.user_method = method
            if method == "export":
                fetched = self._export_users(todo)
                if fetched is None:
                    fetched = self._per_email(todo, spelled)
            else:
                confirm = self.user_lookup == "auto" and not self.cache.users_export_fresh()
                fetched = self._per_email(todo, spelled, confirm=confirm)
                with self._lock:
                    self._unsettled.update(fetched)
            result.update(fetched)
        with self._lock:
            self._users.update(result)
        if settle:
            self.settle_users(result)
        return result

    def settle_users(self, users: dict[str, User | None]) -> None:
        """Check the emails looked up since the last call that ALM's lookup did not find
        against the users export (waiting for it when it runs in the background), and put the
        answers in ``users`` (deleted users found there)."""
        with self._lock:
            fetched, self._unsettled = self._unsettled, {}
        if not fetched:
            return
        try:
            self._confirm_misses(fetched)
        finally:
            with self._lock:
                self._export = None
        with self._lock:
            self._users.update(fetched)
        users.update({key: user for key, user in fetched.items() if key in users})

    def _start_export(self) -> None:
        """The users export for deleted users, started once, in the background."""
        with self._lock:
            if self._export is None:
                self._export = _Background(self._everyone, name="users-export")

    def _per_email(
        self, keys: list[str], spelled: dict[str, str], *, confirm: bool = False
    ) -> dict[str, User | None]:
        def look_up(key: str) -> User | None:
            try:
                user = self.client.find_user_by_email(spelled.get(key, key))
            except AbortError:
                raise
            except ApiError as exc:
                with self._lock:
                    self.user_errors[key] = (
                        f"ALM could not look up '{key}' ({exc.describe()}); "
                        "a re-run will try again."
                    )
                return None
            if user is not None and email_key(user.email) != key:
                user = None  # never trust a partial match
            self.cache.put_user(key, user)
            if user is None and confirm:
                self._start_export()  # may be a deleted user: the export tells
            return user

        return dict(zip(keys, self._map("users", look_up, keys), strict=True))

    def _confirm_misses(self, fetched: dict[str, User | None]) -> None:
        """Tell deleted users from unknown emails: ALM's lookup by email does not show deleted
        users, its users export does. Under ``auto``, emails the lookup missed are checked
        against one export job (a handful of calls; every user is cached, so the next run
        knows them), so a deleted user reads "deleted in ALM" whichever way it was looked up."""
        misses = [k for k, v in fetched.items() if v is None and k not in self.user_errors]
        if not misses:
            return
        if self.cache.users_export_fresh():
            return  # a recent export listed every user, deleted ones too: these are unknown
        if self.user_lookup != "auto":
            self.unconfirmed_misses.update(misses)
            return
        with self._lock:
            export = self._export
        try:
            everyone = export.result() if export is not None else self._everyone()
        except AbortError:
            raise
        except ApiError as exc:
            self.unconfirmed_misses.update(misses)
            self.warnings.append(
                f"The ALM users export job failed ({exc.describe()}), so {counted(len(misses), 'email')} "
                "not found could not be checked against deleted users."
            )
            return
        self.cache.put_users(everyone)
        self.cache.mark_users_export()
        for key in misses:
            fetched[key] = everyone.get(key)
        self.cache.put_users({k: fetched[k] for k in misses})

    def _everyone(self) -> dict[str, User]:
        """Every user of the account, by email key, from one users export job."""
        if self.on_job_wait is None:
            users = self.client.export_users(poll_seconds=self.export_poll_seconds)
        else:
            users = self.client.export_users(
                poll_seconds=self.export_poll_seconds, on_wait=self.on_job_wait
            )
        return {email_key(u.email): u for u in users}

    def _export_users(self, keys: list[str]) -> dict[str, User | None] | None:
        """One export job for every user; caches them all (the next file is warm too)."""
        self._progress("users", 0, len(keys))
        try:
            everyone = self._everyone()
        except AbortError:
            raise
        except ApiError as exc:
            if self.user_lookup == "export":
                raise AbortError(
                    f"The ALM users export job failed ({exc.describe()}).",
                    hint="Run again with --user-lookup auto or per-email.",
                ) from exc
            self.warnings.append(
                f"The ALM users export job failed ({exc.describe()}); looking up "
                f"{len(keys)} emails one by one instead, which takes longer."
            )
            self.stats.user_method = "per-email"
            return None
        out: dict[str, User | None] = {key: everyone.get(key) for key in keys}
        self.cache.put_users({**everyone, **out})
        self.cache.mark_users_export()
        self._progress("users", len(keys), len(keys))
        return out

    def user(self, email: str) -> User | None:
        """A user resolved earlier by ``resolve_users`` (or looked up now, one call)."""
        key = email_key(email)
        with self._lock:
            if key in self._users:
                return self._users[key]
        return self.resolve_users([key]).get(key)

    # --- catalogue and courses --------------------------------------------------------------------
    def catalogue(self) -> list[CourseSummary]:
        """Every course, learning program, certification and job aid of the account: from the
        cache, else listed once per run."""
        with self._catalogue_lock:
            if self._catalogue is None:
                cached = self.cache.get_catalogue()
                if cached is not None:
                    self.stats.hit("catalogue")
                    self._catalogue = cached
                else:
                    self.stats.miss("catalogue")
                    self._progress("catalogue", 0, 1)
                    listing = list(self.client.iter_catalogue(LO_TYPES))
                    self.cache.put_catalogue(listing)
                    self._catalogue = listing
                    self._progress("catalogue", 1, 1)
            return self._catalogue

    def course_detail(self, course_id: str) -> CourseDetail | None:
        """The course with instances and modules, or the learning program / certification with
        its sections and mapped instances (cache, else one GET); None when it 404s.

        Two names can lead to one ID; a lock per ID makes sure it is fetched once."""
        with self._lock:
            id_lock = self._detail_locks.setdefault(course_id, threading.Lock())
        with id_lock:
            if course_id in self._details:
                return self._details[course_id]
            found, detail = self.cache.get_course(course_id)
            if found:
                self.stats.hit("courses")
            else:
                self.stats.miss("courses")
                program = course_id.split(":", 1)[0] in CONTAINER_TYPES
                fetch = self.client.get_program if program else self.client.get_course
                detail = fetch(course_id)
                self.cache.put_course(course_id, detail)
            self._details[course_id] = detail
            return detail

    def resolve_courses(self, refs: Iterable[CourseRef]) -> dict[str, CourseResolution]:
        """``ref.key`` -> resolution, each distinct reference once.

        Names are matched first against a folded index of the catalogue (``name_key``), which
        also tells which locale the file's names come from: the "did you mean" of a name that
        matches nothing is then shown in that language.
        """
        distinct = list({ref.key: ref for ref in refs}.values())
        if any(not ref.is_id for ref in distinct):
            index = self.name_index()  # listed once, before the workers need it
            locales: Counter[str] = Counter()
            for ref in distinct:
                if not ref.is_id:
                    locales.update({loc for _, loc in index.get(ref.key, ())})
            if locales and self.preferred_locale is None:
                self.preferred_locale = locales.most_common(1)[0][0]
        resolved = self._map("courses", self.resolve_course, distinct)
        self._read_program_courses(resolved)
        return {ref.key: res for ref, res in zip(distinct, resolved, strict=True)}

    def _read_program_courses(self, resolved: Iterable[CourseResolution]) -> None:
        """Read the courses of every learning program and certification named (each once,
        cached), so planning needs no call for them. A course that cannot be read is left for
        the planner, which says so on the rows that need it."""
        wanted: dict[str, None] = {}
        for res in resolved:
            if res.ok and res.course is not None and res.course.is_container:
                for section in res.course.sections:
                    wanted.update(dict.fromkeys(section.lo_ids))

        def read(course_id: str) -> None:
            try:
                self.course_detail(course_id)
            except AbortError:
                raise
            except ApiError:
                pass  # the planner reads it again and words the failure for the row

        self._map("courses", read, list(wanted))

    def name_index(self) -> dict[str, list[tuple[CourseSummary, str]]]:
        """Folded name -> the (learning object, locale) pairs that carry it, built once per run
        (courses, programs, certifications and job aids alike: one name may match several)."""
        with self._catalogue_lock:
            index = self._name_index
        if index is None:
            index = {}
            for course in self.catalogue():
                for locale, text in course.names.items():
                    if text.strip():
                        index.setdefault(name_key(text), []).append((course, locale))
            with self._catalogue_lock:
                self._name_index = index
        return index

    def resolve_course(self, ref: CourseRef) -> CourseResolution:
        with self._lock:
            if ref.key in self._courses:
                return self._courses[ref.key]
        resolution = self._by_id(ref, ref.course_id) if ref.course_id else self._by_name(ref)
        with self._lock:
            self._courses[ref.key] = resolution
        return resolution

    def _by_id(self, ref: CourseRef, course_id: str) -> CourseResolution:
        kind = type_label(course_id.split(":", 1)[0])
        try:
            detail = self.course_detail(course_id)
        except AbortError:
            raise
        except ApiError as exc:
            return CourseResolution(
                ref, None, RowStatus.REJECTED,
                f"ALM refused to read {course_id} ({exc.describe()}). Check the ID and the "
                "integration's admin read scope.",
                course_id,
            )  # fmt: skip
        if detail is None:
            where = "Courses" if kind == "course" else f"{kind.title()}s"
            return CourseResolution(
                ref, None, RowStatus.COURSE_NOT_FOUND,
                f"No {kind} has the ID {course_id}. Check the ID in ALM (Admin > {where}).",
            )  # fmt: skip
        name = display_name(detail.names, detail.id)
        if detail.lo_type != "course":
            refused = _not_completable(ref, detail, name)
            if refused is not None:
                return refused
        if not detail.published:
            return _not_published(ref, detail, detail.id, name, detail.state)
        if detail.lo_type == "certification":
            return self._with_recurrences(ref, detail)
        return CourseResolution(ref, detail, None, "", detail.id)

    def _with_recurrences(self, ref: CourseRef, detail: CourseDetail) -> CourseResolution:
        """A certification and, when it recurs, all its recurrences from the catalogue (each
        learner is planned in their own: ALM's ``applicableCertification`` is learner-scope
        only, so the admin way is the learner's certification enrollments)."""
        root = detail.root_id or detail.id
        chain = [
            c
            for c in self.catalogue()
            if c.lo_type == "certification" and (c.root_id or c.id) == root
        ]
        if len(chain) < 2:
            return CourseResolution(ref, detail, None, "", detail.id)
        return CourseResolution(
            ref, detail, None, "", detail.id, recurrences=tuple(recurrence_order(chain))
        )

    def _by_name(self, ref: CourseRef) -> CourseResolution:
        key = name_key(ref.text)
        hits = self.name_index().get(key, [])
        matches = _one_per_recurrence(list({c.id: c for c, _ in hits}.values()))
        if len(matches) > 1:
            shown = []
            courses = all(c.lo_type == "course" for c in matches)
            for c in sorted(matches, key=lambda c: c.id):
                facts = ", ".join(_facts(c, key, with_type=not courses))
                shown.append(f"{c.id} '{display_name(c.names, c.id)}' ({facts})")
            kinds = ", ".join(sorted({type_label(c.lo_type) for c in matches}))
            what = "courses" if courses else f"learning objects ({kinds})"
            use = "the course ID" if courses else "the ID"
            return CourseResolution(
                ref, None, RowStatus.AMBIGUOUS_COURSE,
                f"'{ref.text}' matches {len(matches)} {what}: {', '.join(shown)}. Use {use}.",
            )  # fmt: skip
        if not matches:
            return CourseResolution(
                ref,
                None,
                RowStatus.COURSE_NOT_FOUND,
                not_found_message(ref.text, self.catalogue(), self.preferred_locale),
            )
        match = matches[0]
        if match.state.casefold() != "published":
            name = display_name(match.names, match.id)
            return _not_published(ref, None, match.id, name, match.state)
        return self._by_id(ref, match.id)

    # --- enrollments (always live) -----------------------------------------------------------------
    def prefetch_enrollments(
        self, user_ids: Iterable[str], *, on_ready: Callable[[str], None] | None = None
    ) -> None:
        """Read the enrollments of each user once (one call per user, plus pages).

        ``on_ready(user_id)`` is called for every user, from the reading threads, as soon as
        that user's enrollments are known (already known ones first), so a caller can act on
        one learner while others are still being read."""
        wanted = list(dict.fromkeys(user_ids))
        with self._lock:
            known = [u for u in wanted if u in self._enrollments]
            todo = [u for u in wanted if u not in self._enrollments]
        if on_ready is not None:
            for user_id in known:
                on_ready(user_id)

        def read(user_id: str) -> list[Enrollment] | ApiError:
            value = self._read_enrollments(user_id)
            if on_ready is not None:
                on_ready(user_id)
            return value

        self._map("learner state", read, todo)

    def _read_enrollments(self, user_id: str) -> list[Enrollment] | ApiError:
        return self._read_once(self._enrollments, self.client.get_enrollments, user_id)

    def _read_once(
        self,
        memo: dict[str, list[Enrollment] | ApiError],
        read: Callable[[str], list[Enrollment]],
        user_id: str,
    ) -> list[Enrollment] | ApiError:
        """One read per user per run; a failed read is remembered as its ``ApiError``."""
        with self._lock:
            if user_id in memo:
                return memo[user_id]
        self.stats.miss("enrollments")
        value: list[Enrollment] | ApiError
        try:
            value = list(read(user_id))
        except AbortError:
            raise
        except ApiError as exc:
            value = exc
        with self._lock:
            memo[user_id] = value
        return value

    def enrollments(self, user_id: str) -> list[Enrollment]:
        """The user's enrollments, read once per run; raises the ``ApiError`` if the read failed."""
        value = self._read_enrollments(user_id)
        if isinstance(value, ApiError):
            raise value
        return value

    def course_names(self) -> dict[str, str]:
        """Course id -> a readable name, for every course this run has read (no new call)."""
        with self._lock:
            details = {k: v for k, v in self._details.items() if v is not None}
        return {d.id: display_name(d.names, d.id) for d in details.values()}

    def program_enrollments(self, user_id: str) -> list[Enrollment]:
        """The user's learning program and certification enrollments, read once per run (only
        for learners with such a row); raises the ``ApiError`` if the read failed."""
        value = self._read_once(self._programs, self.client.get_program_enrollments, user_id)
        if isinstance(value, ApiError):
            raise value
        return value

    def adopt_state(
        self, user_id: str, courses: Iterable[Enrollment], programs: Iterable[Enrollment]
    ) -> None:
        """Take a learner's enrollments from elsewhere (a transcript snapshot, mapped with
        certainty: ``batch.state_source``): ``prefetch_enrollments`` and the planner then read
        nothing for them. Only dry runs do this; a live run reads every learner it writes for."""
        with self._lock:
            self._enrollments[user_id] = list(courses)
            self._programs[user_id] = list(programs)

    def forget_enrollments(self, user_id: str) -> None:
        """Drop the memo (after writes, so a verify pass reads fresh state)."""
        with self._lock:
            self._enrollments.pop(user_id, None)
            self._programs.pop(user_id, None)


class _Background(Generic[_R]):
    """``fn()`` in a daemon thread; ``result()`` waits for it and returns its value or raises
    its exception. A run that stops meanwhile does not wait: the thread's requests end with
    the client's Cancel, and a daemon thread never holds the process open."""

    def __init__(self, fn: Callable[[], _R], *, name: str) -> None:
        self._fn = fn
        self._value: _R | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._value = self._fn()
        except BaseException as exc:  # handed to the caller of result()
            self._error = exc

    def result(self) -> _R:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]
