"""Row models shared by every stage: input rows, validated completions, results and summaries."""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import PurePath
from typing import Any

from batch.errors import BatchError, ExitStatus


class RowStatus(StrEnum):
    """The ``status`` column of every report (product.md, "Row outcomes")."""

    COMPLETED = "completed"
    WOULD_COMPLETE = "would_complete"
    VALID = "valid"  # --offline: passed every check that needs no ALM
    ALREADY_COMPLETED = "already_completed"
    DUPLICATE = "duplicate"
    # The file itself says the learner did not complete (a status such as In Progress or
    # Failed, passed = no, a score under the passing score): nothing posted, nothing to fix.
    NOT_COMPLETED = "not_completed"
    INVALID = "invalid"
    USER_NOT_FOUND = "user_not_found"
    COURSE_NOT_FOUND = "course_not_found"
    AMBIGUOUS_COURSE = "ambiguous_course"
    REJECTED = "rejected"
    FAILED = "failed"
    UNKNOWN = "unknown"
    # The run stopped (Cancel, Ctrl-C, ALM stopped it) before this row's writes were sent, or
    # before all of them (the message says which were made): nothing about it is unsure, and
    # running the remaining rows (the same command again) sends what is left. ``unknown`` is
    # for a write that may or may not have landed.
    NOT_RUN = "not_run"

    @property
    def ok(self) -> bool:
        """True when the row ended well (exit code 0 allows it)."""
        return self in _OK_STATUSES


_OK_STATUSES = frozenset(
    {
        RowStatus.COMPLETED,
        RowStatus.WOULD_COMPLETE,
        RowStatus.VALID,
        RowStatus.ALREADY_COMPLETED,
        RowStatus.DUPLICATE,
        RowStatus.NOT_COMPLETED,
    }
)

# Canonical input fields (product.md, "Input columns").
FIELDS: tuple[str, ...] = (
    "email",
    "course",
    "completion_date",
    "score",
    "min_score",
    "max_score",
    "start_date",
    "passed",
    "completion_status",
    "module",
    "instance",
)
REQUIRED_FIELDS: tuple[str, ...] = ("email", "course", "completion_date")


@dataclass(slots=True)
class InputRow:
    """One data row as read, before validation.

    ``row`` is the spreadsheet row number a person sees (header = row 1, or the real Excel row
    when title rows come first). ``values`` holds every original column, header -> text, exactly
    as read (in column order). ``fields`` maps canonical field names to the raw text of the
    column mapped to them (missing fields are absent).
    """

    row: int
    values: dict[str, str]
    fields: dict[str, str]
    # Why the row could not be read at all (a record longer than the reader's bound): the row
    # is invalid with this message; "" for every row that was read.
    problem: str = ""


_WS = re.compile(r"\s+")

# Characters that look alike on screen but differ in bytes: what Word, Excel, a Mac keyboard or
# an HR system's web form put where a person typed a plain quote, dash or space.
_LOOKALIKES: dict[int, str | None] = {}
for _ch in "\u2018\u2019\u201a\u201b\u2032\u2035\u02bc\u02b9\u00b4\u0060\uff07":
    _LOOKALIKES[ord(_ch)] = "'"
for _ch in "\u201c\u201d\u201e\u201f\u2033\u2036\u00ab\u00bb\uff02":
    _LOOKALIKES[ord(_ch)] = '"'
for _ch in "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u2043\ufe58\ufe63\uff0d\u00ad":
    _LOOKALIKES[ord(_ch)] = "-" if _ch != "\u00ad" else None  # soft hyphen: invisible
for (
    _ch
) in "\u00a0\u2007\u202f\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2008\u2009\u200a\u205f\u3000":
    _LOOKALIKES[ord(_ch)] = " "
for _ch in "\u200b\u200c\u200d\u2060\ufeff\u180e":
    _LOOKALIKES[ord(_ch)] = None  # zero-width: gone


@functools.lru_cache(maxsize=131_072)  # a file repeats its emails and course names many times
def fold_text(text: str) -> str:
    """The one matching key for names and emails: two texts a person reads as the same fold alike.

    Unicode NFKC (a Mac's decomposed "é" equals the composed one; full-width letters equal
    plain ones), curly quotes and apostrophes made straight, every dash and minus made "-",
    non-breaking and other spaces made plain, zero-width characters dropped, whitespace runs
    collapsed, trimmed, case-folded (then NFKC again, as Unicode's NFKC_Casefold does).
    Plain ASCII, the usual case, takes a fast path with the same result.
    """
    if text.isascii():
        return _WS.sub(" ", text).strip().lower()
    return _fold_unicode(text)


def _fold_unicode(text: str) -> str:
    folded = unicodedata.normalize("NFKC", text).translate(_LOOKALIKES)
    folded = unicodedata.normalize("NFKC", _WS.sub(" ", folded).strip().casefold())
    return folded.translate(_LOOKALIKES)


def name_key(name: str) -> str:
    """The matching key for course/module/instance names (``fold_text``)."""
    return fold_text(name)


def email_key(email: str) -> str:
    """The matching key for emails (``fold_text``): case, Unicode form and stray spaces ignored."""
    return fold_text(email)


# "Jane Doe", "Doe, Jane", "Anne-Marie O'Neil", "Martin Jr.": two or more words of letters
# (a dot only at a word's end: "jane.doe example.com" is a mistyped address, not a name).
_NAME_WORD = r"[^\W\d_](?:[^\W\d_]|['\-])*\.?"
_PERSON_NAME = re.compile(rf"^{_NAME_WORD}(?:[ ,]+{_NAME_WORD})+$")


def looks_like_person_name(text: str) -> bool:
    """True for a cell that reads as a person's name ("Jane Doe", "Doe, Jane"), no @ in it."""
    return _PERSON_NAME.match(text.strip()) is not None


def counted(n: int, word: str, plural: str | None = None) -> str:
    """``counted(1, "row")`` -> "1 row", ``counted(1200, "row")`` -> "1,200 rows"."""
    return f"{n:,} {word if n == 1 else plural or word + 's'}"


SHOWN_VALUE_CHARS = 80  # a 100 KB cell must not make a 100 KB message


def shown_value(value: str) -> str:
    """A cell as quoted in a message: trimmed, and cut (saying so) when very long."""
    text = value.strip()
    if len(text) > SHOWN_VALUE_CHARS:
        text = f"{text[:SHOWN_VALUE_CHARS]}... ({len(value.strip()):,} characters)"
    return text


@dataclass(frozen=True, slots=True)
class CourseRef:
    """A course as written in the file: an ID (``course:123`` / ``123``, ``learningProgram:123``,
    ``certification:123``, an ALM link) or a name (of a course, program or certification)."""

    text: str  # as written, trimmed
    course_id: str | None = None  # normalised "course:123" / "learningProgram:123" for an ID

    @property
    def is_id(self) -> bool:
        return self.course_id is not None

    @property
    def key(self) -> str:
        """The dedup / matching key."""
        return self.course_id if self.course_id else name_key(self.text)


@dataclass(frozen=True, slots=True)
class CourseCheck:
    """The other course column of a row: its header, its cell as a reference, and the header of
    the column that feeds ``course`` (for the message when the two name different courses)."""

    column: str
    ref: CourseRef
    main_column: str


@dataclass(slots=True)
class Completion:
    """A validated row: everything typed, dates timezone-aware (UTC or the --timezone)."""

    email: str  # trimmed; compare with email_key
    course: CourseRef
    completion_date: datetime
    start_date: datetime | None = None
    score: float | None = None
    min_score: float | None = None
    max_score: float | None = None
    passed: bool | None = None
    module: str | None = None  # module name or ID, None = every Content module
    instance: str | None = None  # instance name or ID, None = enrollment / default
    # A second course column of the file (a course ID beside the course name): checked against
    # ``course`` once both are resolved; a disagreement makes the row invalid.
    course_check: CourseCheck | None = None

    @property
    def email_key(self) -> str:
        return email_key(self.email)


@dataclass(frozen=True, slots=True)
class RowIssue:
    """One problem with one cell of a row (row-level data, never an exception)."""

    column: str  # the header as it appears in the file (or the canonical field when absent)
    value: str  # the offending text
    message: str  # a full sentence naming the column, the value and the fix


@dataclass(slots=True)
class CheckedRow:
    """The outcome of validating one input row."""

    input: InputRow
    completion: Completion | None  # None when invalid
    issues: list[RowIssue] = field(default_factory=list)
    duplicate_of: int | None = None  # spreadsheet row number of the first occurrence
    # The file says this did not happen (a status of not done, passed = no, a score under the
    # passing score): the message of the ``not_completed`` outcome; "" otherwise.
    not_completed: str = ""

    @property
    def row(self) -> int:
        return self.input.row


@dataclass(frozen=True, slots=True)
class SubCourse:
    """One course of a learning program or certification, as a program row sees it.

    ``state`` says what the row does with it: ``grade`` (it grades ``module_ids`` in
    ``instance_id``; ``enroll``: after enrolling the learner in the course itself),
    ``completed`` (ALM already shows it completed), ``other_row`` (row ``row`` of the file
    grades it), ``not_needed`` (its section is complete without it), ``optional`` (an optional
    section), ``choose`` (its section needs some of its courses and the file does not say
    which: it could count), ``unavailable`` (``note`` says why: retired, not found, ...).
    """

    course_id: str
    name: str
    section: str
    state: str
    instance_id: str = ""
    module_ids: tuple[str, ...] = ()
    row: int | None = None
    enroll: bool = False
    note: str = ""


@dataclass(slots=True)
class RowResult:
    """One line of the report: what happened to one input row, and why."""

    row: int
    values: dict[str, str]
    status: RowStatus
    message: str = ""
    user_id: str = ""
    course_id: str = ""
    instance_id: str = ""
    module_ids: list[str] = field(default_factory=list)
    action: str = "none"  # e.g. "enroll + grade 2 modules", "grade 1 module", "skip", "none"
    # Rows that are (or would be) posted: the exact dateCompleted and score sent to ALM, so a
    # person can check them in the dry run ("2025-03-14T00:00:00.000Z", "85"; "" otherwise).
    date_completed: str = ""
    score: str = ""
    attempts: int = 0  # live runs: HTTP write attempts made for this row
    # Writes as numbers (the ``action`` text says the same for people): in a live run, the
    # writes ALM accepted for this row in this run (what it plans: ``writes_planned``).
    writes_made: int = 0
    posted_at: str = ""  # live runs: ISO time of the last accepted write
    # A ``failed`` / ``unknown`` row that a later re-run can settle with no change to the file
    # (ALM errors or timeouts that outlasted the retries, a run that stopped): no person needed.
    retryable: bool = False
    # The writes the plan counted for this row (a live run makes exactly these, less what an
    # earlier run already made): enrollments (a program's own, and any of its courses) and
    # module grades. A front end shows them beside the row and sums them in its confirmation.
    planned_enrollments: int = 0
    planned_grades: int = 0
    # A learning program or certification row: what it does with each of its courses.
    courses: list[SubCourse] = field(default_factory=list)
    # A row that would be posted: each write its plan makes (``confirmed.write_label``), so
    # the plan a person confirms binds the live run to exactly these writes.
    planned_writes: list[str] = field(default_factory=list)

    @property
    def writes_planned(self) -> int:
        return self.planned_enrollments + self.planned_grades

    @property
    def needs_person(self) -> bool:
        """True when the row did not end well and a re-run alone will not fix it."""
        return not self.status.ok and not self.retryable


@dataclass(slots=True)
class RunSummary:
    """Everything the report's summary sheet, the JSON report and the stderr block show."""

    run_id: str
    command: str  # "run", "validate", "demo"
    dry_run: bool
    input_path: str
    input_sha256: str
    alm_host: str
    started_at: datetime
    ended_at: datetime | None = None
    counts: dict[str, int] = field(default_factory=dict)  # status -> rows
    rows: int = 0
    writes_planned: int = 0
    writes_made: int = 0
    api_calls: dict[str, int] = field(default_factory=dict)  # "GET /users" -> n
    throttled: int = 0  # 429 answers met
    # The userModuleGrade body in use ("module id: ...; learned on 2026-11-30"), "" when unknown
    grade_body: str = ""
    estimate_seconds: float | None = None  # dry run: time the live run needs at the limits
    estimate_basis: str = ""  # how the estimate was made (reads, writes, allowances)
    writes_per_minute: float | None = None  # the write allowance the estimate counts with
    actual_seconds: float | None = None  # live run: time the reads and writes took
    # Where the learners' state came from ("ALM's learner transcript (job 4200003) as of ...",
    # "read one learner at a time (...)"), and the transcript's time when one was used.
    learner_state: str = ""
    learner_state_as_of: datetime | None = None
    options: dict[str, Any] = field(default_factory=dict)
    report_paths: list[str] = field(default_factory=list)
    exit_status: int = 0
    empty_input: bool = False  # --allow-empty met a header with no data rows: nothing to do
    edits: list[dict[str, str]] = field(
        default_factory=list
    )  # the page's fixes: row, column, old, new
    # The input's name as its owner knows it (the page stores an upload under a generated name:
    # this is the name of the file the person uploaded); "" when it is ``input_path``'s name.
    input_name: str = ""

    @property
    def input_file(self) -> str:
        """The input's name as the reports show it."""
        return self.input_name or PurePath(self.input_path).name


def exit_status_for(
    results: Iterable[RowResult],
    *,
    aborted: BatchError | None = None,
    interrupted: bool = False,
) -> ExitStatus:
    """The process exit code of a run (product.md, "Exit codes"), from its rows and its end.

    130 when interrupted; the abort's own code (3) when ALM stopped the run; else 1 when any
    row needs a person (invalid, not found, ambiguous, rejected, refused, or a failed / unknown
    row that is not retryable); else 4 when some rows are retryable failures only (a scheduler
    retries on 4 and alerts on 1); else 0. Pure: it reads ``status`` and ``retryable`` only.
    """
    if interrupted:
        return ExitStatus.INTERRUPTED
    if aborted is not None:
        return aborted.exit_status
    retry = False
    for result in results:
        if result.needs_person:
            return ExitStatus.ROWS_FAILED
        if not result.status.ok:
            retry = True
    return ExitStatus.RETRYABLE if retry else ExitStatus.OK
