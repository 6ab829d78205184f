"""Row models shared by every stage: input rows, validated completions, results and summaries."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from batch.errors import BatchError, ExitStatus


class RowStatus(StrEnum):
    """The ``status`` column of every report (product.md, "Row outcomes")."""

    COMPLETED = "completed"
    WOULD_COMPLETE = "would_complete"
    ALREADY_COMPLETED = "already_completed"
    DUPLICATE = "duplicate"
    INVALID = "invalid"
    USER_NOT_FOUND = "user_not_found"
    COURSE_NOT_FOUND = "course_not_found"
    AMBIGUOUS_COURSE = "ambiguous_course"
    REJECTED = "rejected"
    FAILED = "failed"
    UNKNOWN = "unknown"

    @property
    def ok(self) -> bool:
        """True when the row ended well (exit code 0 allows it)."""
        return self in _OK_STATUSES


_OK_STATUSES = frozenset(
    {
        RowStatus.COMPLETED,
        RowStatus.WOULD_COMPLETE,
        RowStatus.ALREADY_COMPLETED,
        RowStatus.DUPLICATE,
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


_WS = re.compile(r"\s+")


def name_key(name: str) -> str:
    """The matching key for course/module/instance names: trimmed, whitespace collapsed, case-folded."""
    return _WS.sub(" ", name).strip().casefold()


SHOWN_VALUE_CHARS = 80  # a 100 KB cell must not make a 100 KB message


def shown_value(value: str) -> str:
    """A cell as quoted in a message: trimmed, and cut (saying so) when very long."""
    text = value.strip()
    if len(text) > SHOWN_VALUE_CHARS:
        text = f"{text[:SHOWN_VALUE_CHARS]}... ({len(value.strip()):,} characters)"
    return text


@dataclass(frozen=True, slots=True)
class CourseRef:
    """A course as written in the file: an ID (``course:123`` / ``123``) or a name."""

    text: str  # as written, trimmed
    course_id: str | None = None  # normalised "course:123" when the cell is an ID

    @property
    def is_id(self) -> bool:
        return self.course_id is not None

    @property
    def key(self) -> str:
        """The dedup / matching key."""
        return self.course_id if self.course_id else name_key(self.text)


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

    @property
    def email_key(self) -> str:
        return self.email.strip().casefold()


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

    @property
    def row(self) -> int:
        return self.input.row


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
    attempts: int = 0  # live runs: HTTP write attempts made for this row
    posted_at: str = ""  # live runs: ISO time of the last accepted write
    # A ``failed`` / ``unknown`` row that a later re-run can settle with no change to the file
    # (ALM errors or timeouts that outlasted the retries, a run that stopped): no person needed.
    retryable: bool = False

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
    estimate_seconds: float | None = None  # dry run: time the live run needs at the limits
    options: dict[str, Any] = field(default_factory=dict)
    report_paths: list[str] = field(default_factory=list)
    exit_status: int = 0


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
