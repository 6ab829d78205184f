"""What a report row looks like: its columns, its cells, and how unsafe cells are made safe.

Shared by the CSV/JSON writers (``text.py``) and the XLSX writer (``xlsx.py``) so the
three formats can never disagree on column names or order. Which cells a spreadsheet would run
as formulas is ``batch.formulas``' rule (re-exported here for the writers).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from batch.formulas import needs_neutralising, neutralise
from batch.models import RowResult, RowStatus

__all__ = [
    "Cell",
    "CellKind",
    "FailedLayout",
    "ReportLayout",
    "Severity",
    "TypedCell",
    "failed_layout",
    "needs_neutralising",
    "neutralise",
    "report_layout",
    "severity",
    "typed",
]

# The outcome columns every report carries, after the original ones (the product's report contract).
OUTCOME_COLUMNS: tuple[str, ...] = (
    "status",
    "message",
    "user_id",
    "course_id",
    "instance_id",
    "module_ids",
    "date_completed",
    "score",
    "action",
)
# Only live runs have write attempts and a posting time; a dry run would show empty columns.
LIVE_COLUMNS: tuple[str, ...] = ("attempts", "posted_at")
ROW_COLUMN = "row"
# Appended to an outcome column whose name an original column already uses.
DISAMBIGUATION_SUFFIX = " (alm-batch)"
# How module IDs are joined in one cell: "; " reads well and no ALM ID contains it.
MODULE_SEPARATOR = "; "

Cell = str | int
# What the XLSX report stores in a cell: the tool's own dates and numbers are typed.
TypedCell = str | int | float | datetime


class CellKind(StrEnum):
    """How the XLSX report types a column: text as read, a number, or a date and time (UTC)."""

    TEXT = "text"
    NUMBER = "number"
    DATETIME = "datetime"


# The tool's own columns that hold dates or numbers (by their canonical name, before any
# " (alm-batch)" suffix). Echoed original columns are always text, exactly as read.
OUTCOME_KINDS: dict[str, CellKind] = {
    "date_completed": CellKind.DATETIME,
    "posted_at": CellKind.DATETIME,
    "score": CellKind.NUMBER,
    "attempts": CellKind.NUMBER,
}


def as_number(value: TypedCell) -> TypedCell:
    """``"85"`` -> 85, ``"72.5"`` -> 72.5; anything that is not a finite number stays as it is."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    try:
        number = float(text)
    except ValueError:
        return value
    if not math.isfinite(number):
        return value
    return int(number) if number.is_integer() and abs(number) < 2**53 else number


def as_utc_datetime(value: TypedCell) -> TypedCell:
    """An ISO 8601 time (``2025-03-14T00:00:00.000Z``) as a naive UTC datetime, the form a
    spreadsheet cell holds; text that is not such a time stays as it is."""
    if not isinstance(value, str) or not value:
        return value
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return value
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


def typed(kind: CellKind, value: TypedCell) -> TypedCell:
    """``value`` as the XLSX report stores a cell of ``kind``."""
    if kind is CellKind.NUMBER:
        return as_number(value)
    if kind is CellKind.DATETIME:
        return as_utc_datetime(value)
    return value


class Severity(StrEnum):
    """The colour family of a status cell: people scan a report by colour first."""

    OK = "ok"
    WARNING = "warning"
    ERROR = "error"


# `duplicate` and `not_completed` end well (exit 0) but someone should glance at them (a repeat;
# the file says the learner did not complete); `unknown` is not an error in the data: a re-run
# settles it; `not_run` rows were never sent (the run stopped first): running the rest sends them.
# All four are warnings. Everything else that is not ok is an error.
_WARNING_STATUSES = frozenset(
    {RowStatus.DUPLICATE, RowStatus.NOT_COMPLETED, RowStatus.UNKNOWN, RowStatus.NOT_RUN}
)


def severity(status: RowStatus) -> Severity:
    """The colour family of ``status``: ok (green), warning (amber) or error (red)."""
    if status in _WARNING_STATUSES:
        return Severity.WARNING
    return Severity.OK if status.ok else Severity.ERROR


def _unique_name(name: str, taken: set[str]) -> str:
    """``name``, or ``name (alm-batch)`` (then ``(alm-batch 2)``...) when an input column has it.

    Compared case- and space-insensitively, because a person reading "Status" next to "status"
    cannot tell which one the tool wrote.
    """
    candidate = name
    n = 1
    while candidate.strip().casefold() in taken:
        n += 1
        candidate = f"{name}{DISAMBIGUATION_SUFFIX}" if n == 2 else f"{name} (alm-batch {n - 1})"
    taken.add(candidate.strip().casefold())
    return candidate


def _module_cell(result: RowResult) -> str:
    return MODULE_SEPARATOR.join(result.module_ids)


@dataclass(frozen=True, slots=True)
class ReportLayout:
    """The columns of a report: ``row``, the original columns, then the outcome columns.

    Original columns keep their names exactly as read. An outcome column whose name an original
    column already uses (case-insensitively) gets the suffix `` (alm-batch)``: an input with its
    own "Status" column yields ``Status`` (the input's) and ``status (alm-batch)`` (ours).
    """

    original: tuple[str, ...]
    row_header: str
    outcome_headers: tuple[str, ...]
    live: bool
    outcome_names: tuple[str, ...] = ()  # canonical names of the outcome columns, in order

    @property
    def headers(self) -> list[str]:
        return [self.row_header, *self.original, *self.outcome_headers]

    @property
    def kinds(self) -> list[CellKind]:
        """Per column, how the XLSX report types it: ``row`` and the tool's dates and numbers
        (``OUTCOME_KINDS``) are typed; original columns are text exactly as read."""
        outcome = [OUTCOME_KINDS.get(n, CellKind.TEXT) for n in self.outcome_names]
        return [CellKind.NUMBER, *(CellKind.TEXT for _ in self.original), *outcome]

    @property
    def status_index(self) -> int:
        """0-based position of the status column (the one that is coloured)."""
        return 1 + len(self.original)

    def cells(self, result: RowResult) -> list[Cell]:
        """The report row for ``result``, raw (the writer neutralises what its format needs)."""
        out: list[Cell] = [result.row]
        out.extend(result.values.get(col, "") for col in self.original)
        out.extend(
            (
                result.status.value,
                result.message,
                result.user_id,
                result.course_id,
                result.instance_id,
                _module_cell(result),
                result.date_completed,
                result.score,
                result.action,
            )
        )
        if self.live:
            out.extend((result.attempts, result.posted_at))
        return out


def report_layout(columns: Sequence[str], *, live: bool) -> ReportLayout:
    """The report's columns for an input with ``columns`` (original headers, in order)."""
    taken = {c.strip().casefold() for c in columns}
    row_header = _unique_name(ROW_COLUMN, taken)
    names = OUTCOME_COLUMNS + (LIVE_COLUMNS if live else ())
    outcome = tuple(_unique_name(n, taken) for n in names)
    return ReportLayout(tuple(columns), row_header, outcome, live, names)


@dataclass(frozen=True, slots=True)
class FailedLayout:
    """The columns of a failed-rows file: the input's own columns, then ``status`` and ``message``.

    The file is meant to be fixed and run again as is, so the original headers come first,
    unchanged and in order, with their values as read (an input's own "Status" column keeps
    its values; ours is then ``status (alm-batch)``, as in the report). When the file is run
    again, the reader leaves the previous run's two columns out (``reading.carry``), so
    fix-and-re-run cycles replace them rather than grow the sheet.
    """

    original: tuple[str, ...]
    status_at: int  # 0-based column index of the status value
    message_at: int
    extra: tuple[str, ...]  # headers appended after the original columns

    @property
    def headers(self) -> list[str]:
        return [*self.original, *self.extra]

    @property
    def status_index(self) -> int:
        return self.status_at

    def cells(self, result: RowResult) -> list[Cell]:
        out: list[Cell] = [result.values.get(col, "") for col in self.original]
        out.extend("" for _ in self.extra)
        out[self.status_at] = result.status.value
        out[self.message_at] = result.message
        return out


def failed_layout(columns: Sequence[str]) -> FailedLayout:
    """The failed-rows file's columns for an input with ``columns``."""
    original = tuple(columns)
    taken = {c.strip().casefold() for c in original}
    extra = tuple(_unique_name(name, taken) for name in ("status", "message"))
    return FailedLayout(original, len(original), len(original) + 1, extra)
