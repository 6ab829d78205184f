"""``InputRow`` -> ``CheckedRow``: every cell checked, every problem reported as data.

``check_rows`` makes two passes over ``Table.iter_rows()``. The first decides each date
column's day/month order from the values that can only be read one way (13/02/2025 is
day-first) (and, where needed, how to read scores between 0 and 1: ``validation.scores``); the
second validates each row with the pydantic ``CompletionRecord`` and flags repeats of an
earlier valid row as duplicates. Row problems never raise: they become ``RowIssue``s. Only
run-level problems raise: a date column that stays ambiguous (``ShapeQuestion``), a bad option
(``UsageError``).

Before its cells are checked, a row is asked whether the file says it happened
(``validation.meaning``): a completion status that means not done, ``passed`` = no or a score
under the passing score make it ``not_completed`` (``CheckedRow.not_completed``), whatever
else the row holds: nothing is posted for it, and nothing in it needs fixing.

Date columns share their order when only one of them can settle it: a file's dates come from
one export, so a decided Completion Date column also decides an all-ambiguous Start Date.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any

from pydantic import ValidationError

from batch.dates import (
    DEFAULT_EARLIEST,
    DMY,
    MDY,
    YMD,
    DateFormat,
    DateProblem,
    order_evidence,
    parse_date,
    parse_date_format,
    parse_timezone,
)
from batch.errors import Choice, ShapeQuestion, UsageError
from batch.models import (
    CheckedRow,
    Completion,
    CourseCheck,
    InputRow,
    RowIssue,
    counted,
    name_key,
    shown_value,
)
from batch.reading.carry import Decisions, remember
from batch.reading.states import State, extra_done_values
from batch.reading.table import Table
from batch.validation.cells import CellProblem, is_number_form_id, parse_course
from batch.validation.meaning import (
    NumberIds,
    disagreements,
    page_furniture,
    passed_or_score_says_no,
    status_verdict,
)
from batch.validation.model import CompletionRecord, RowContext, fast_values
from batch.validation.scores import decide_score_scale, parse_score_scale, scaled

DATE_FIELDS = ("completion_date", "start_date")
_AMBIGUOUS_SAMPLE = 3


@dataclass
class ValidationOptions:
    """How to read the cells that the file alone cannot settle.

    ``date_format``: ``DD/MM/YYYY``, ``MM/DD/YYYY``, ``YYYY-MM-DD`` (any separator), the words
    ``DMY``/``MDY``/``day-first``/``month-first``, or a strftime pattern like ``%d.%m.%Y``.
    ``timezone``: IANA name applied to dates written without a zone (midnight for bare dates).
    ``default_completion_date``: used for rows (or files) with no completion date.
    ``now``: the clock for "no future dates" (injected by tests; default: the current time).
    ``earliest_date``: dates before it are not real completions (``--earliest-date``; default
    1990-01-01; Excel's day 1, 1900-01-01, is named as such); None or "" turns the floor off.
    ``completed_values``: completion-status values that mean done, beyond the known ones.
    ``score_scale``: ``fraction`` or ``as-written`` (``validation.scores``).
    Bad values raise ``UsageError`` when the options are created.
    """

    date_format: str | None = None
    timezone: str = "UTC"
    default_completion_date: str | None = None
    now: datetime | None = None
    earliest_date: str | None = DEFAULT_EARLIEST
    completed_values: tuple[str, ...] | list[str] = ()
    score_scale: str | None = None
    extra_done: frozenset[str] = field(init=False, repr=False)
    tz: tzinfo = field(init=False, repr=False)
    fmt: DateFormat | None = field(init=False, repr=False)
    default_date: datetime | None = field(init=False, repr=False)
    floor: datetime | None = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.extra_done = extra_done_values(self.completed_values)
        self.score_scale = parse_score_scale(self.score_scale)
        self.tz = parse_timezone(self.timezone)
        self.fmt = parse_date_format(self.date_format)
        self.floor = None
        if self.earliest_date is not None and str(self.earliest_date).strip():
            try:
                self.floor = parse_date(str(self.earliest_date), order=YMD, tz=self.tz)
            except DateProblem:
                raise UsageError(
                    f"--earliest-date {self.earliest_date!r} is not a date: write it as "
                    "YYYY-MM-DD, e.g. 1990-01-01."
                ) from None
        self.default_date = None
        if self.default_completion_date:
            order = self.fmt.order if self.fmt else None
            try:
                self.default_date = parse_date(
                    self.default_completion_date, order=order, tz=self.tz, fmt=self.fmt
                )
            except DateProblem as exc:
                raise UsageError(
                    f"--completion-date {self.default_completion_date!r} {exc.problem}: {exc.fix}."
                ) from None
            if self.floor is not None and self.default_date < self.floor:
                raise UsageError(
                    f"--completion-date {self.default_completion_date!r} is before "
                    f"{self.floor.date().isoformat()} (--earliest-date): check the year."
                )
            if self.default_date > self.clock():
                raise UsageError(
                    f"--completion-date {self.default_completion_date!r} is in the future: "
                    "give the date the learners completed."
                )

    def clock(self) -> datetime:
        return self.now if self.now is not None else datetime.now(UTC)


def issue_message(column: str, value: str, problem: str, fix: str) -> str:
    """'Completion Date '31/02/2025' is not a real date: use a date such as 2025-02-28.'"""
    shown = f" {shown_value(value)!r}" if value.strip() else ""
    fix = fix.rstrip(".")
    return f"{column}{shown} {problem}: {fix}."


def summarise_issues(issues: Iterable[RowIssue]) -> str:
    """The report message for a row: all of its issues, in column order, joined."""
    return " ".join(issue.message for issue in issues)


def duplicate_message(first_row: int, why: str = "same learner and course") -> str:
    """The report message for a duplicate row: 'Duplicate of row 2 (...): not posted twice.'"""
    return f"Duplicate of row {first_row} ({why}): not posted twice."


def decide_date_orders(table: Table, options: ValidationOptions) -> dict[str, str | None]:
    """First pass: each date column's day/month order (None when no value depends on it)."""
    columns = [f for f in DATE_FIELDS if f in table.mapping]
    if options.fmt is not None and options.fmt.order is not None:
        return {f: options.fmt.order for f in columns}
    if not columns:
        return {}
    counts = {f: {DMY: 0, MDY: 0, "AMBIGUOUS": 0} for f in columns}
    samples: dict[str, list[str]] = {f: [] for f in columns}
    shown: dict[str, list[str]] = {f: [] for f in columns}  # the bare values, for the page
    seen: dict[str, str | None] = {}  # cell text -> its evidence (a file repeats its dates)
    for number, cells in table.iter_cells(columns):
        for f, text in zip(columns, cells, strict=True):
            if not text:
                continue
            if text in seen:
                evidence = seen[text]
            else:
                evidence = order_evidence(text)
                if len(seen) < 100_000:
                    seen[text] = evidence
            if evidence is None:
                continue
            counts[f][evidence] += 1
            if evidence == "AMBIGUOUS" and len(samples[f]) < _AMBIGUOUS_SAMPLE:
                samples[f].append(f"{text.strip()!r} (row {number})")
                shown[f].append(text.strip())
    orders: dict[str, str | None] = {}
    carried = table.carried.date_orders if table.carried is not None else {}
    for f in columns:
        c = counts[f]
        if c[DMY] == c[MDY] and f in carried:
            orders[f] = carried[f]  # the file no longer settles it: the first run did
        elif c[DMY] != c[MDY]:
            orders[f] = DMY if c[DMY] > c[MDY] else MDY
        elif c[DMY]:
            raise _date_order_question(
                f"{_where(table)}: column {table.mapping[f]!r} mixes day-first and month-first "
                f"dates equally ({c[DMY]} each).",
                f,
                shown[f],
            )
        else:
            orders[f] = None
    decided = [o for o in orders.values() if o is not None]
    for f in columns:
        if orders[f] is None and counts[f]["AMBIGUOUS"]:
            if len(set(decided)) == 1:
                orders[f] = decided[0]
                continue
            raise _date_order_question(
                f"{_where(table)}: column {table.mapping[f]!r} has dates that read either way "
                f"(e.g. {', '.join(samples[f])}) and none that settle day or month first.",
                f,
                shown[f],
            )
    return orders


def _date_order_question(message: str, field_name: str, samples: list[str]) -> ShapeQuestion:
    return ShapeQuestion(
        message,
        ask="date_format",
        field=field_name,
        choices=[
            Choice("DD/MM/YYYY", "Day first (31/12/2025)", tuple(samples)),
            Choice("MM/DD/YYYY", "Month first (12/31/2025)", tuple(samples)),
        ],
        hint="Rerun with --date-format DD/MM/YYYY or --date-format MM/DD/YYYY.",
    )


def check_rows(table: Table, options: ValidationOptions) -> Iterator[CheckedRow]:
    """Validate every data row, in file order (see the module docstring for the two passes).

    The first pass runs now, so an ambiguous date column (or a score column that is all
    between 0 and 1 where formats were not seen) raises ``ShapeQuestion`` at the call, before
    the caller opens a report; the rows are then streamed by the returned iterator.
    """
    options = _with_carried(table, options)
    orders = decide_date_orders(table, options)
    scale = decide_score_scale(table, options.score_scale, _where(table))
    remember(
        table.path,
        Decisions(
            mapping=dict(table.mapping),
            date_orders={f: o for f, o in orders.items() if o is not None},
            timezone=options.timezone,
            date_format=options.date_format,
            ignore_columns=tuple(table.ignored),
            completed_values=tuple(options.completed_values),
            score_scale=options.score_scale,
        ),
    )
    return _check(table, options, orders, scale)


def _with_carried(table: Table, options: ValidationOptions) -> ValidationOptions:
    """The options, completed by what the run that wrote this failed-rows file decided
    (``reading.carry``): its --date-format and --timezone unless given again."""
    carried = table.carried
    if carried is None:
        return options
    changes: dict[str, Any] = {}
    if options.date_format is None and carried.date_format:
        changes["date_format"] = carried.date_format
    if options.timezone in ("", "UTC") and carried.timezone and carried.timezone != "UTC":
        changes["timezone"] = carried.timezone
    if not options.completed_values and carried.completed_values:
        changes["completed_values"] = carried.completed_values
    if options.score_scale is None and carried.score_scale:
        changes["score_scale"] = carried.score_scale
    return dataclasses.replace(options, **changes) if changes else options


def _check(
    table: Table, options: ValidationOptions, orders: dict[str, str | None], scale: set[str]
) -> Iterator[CheckedRow]:
    memo: dict[Any, Any] = {}
    context: RowContext = {
        "orders": orders,
        "tz": options.tz,
        "fmt": options.fmt,
        "now": options.clock(),
        "floor": options.floor,
        "memo": memo,
    }
    mapping = table.mapping
    has_module = "module" in mapping
    default_date = options.default_date
    empty_hint = table.format == "xlsx"
    seen: dict[bytes, int] = {}
    position = {name: i for i, name in enumerate(table.columns)}
    validate = CompletionRecord.model_validate
    bad_bytes = table.bad_bytes
    other_bad: list[str] = []  # "row 7, Notes": undecodable cells outside the mapped columns
    status_column = mapping.get("completion_status")
    says_no = "passed" in mapping or ("score" in mapping and "min_score" in mapping)
    extra_done = options.extra_done
    course_check = table.checks.get("course")
    text_checks = [(f, h) for f, h in table.checks.items() if f != "course" and f in mapping]
    number_ids = NumberIds()
    for row in table.iter_rows():
        if row.problem:
            yield CheckedRow(input=row, completion=None, issues=[RowIssue("row", "", row.problem)])
            continue
        data: dict[str, Any] = row.fields
        if bad_bytes:
            issues = _bad_bytes(row, mapping, other_bad)
            if issues:
                yield CheckedRow(input=row, completion=None, issues=issues)
                continue
        issues = []
        if status_column is not None:
            text = data.get("completion_status", "")
            state, message = status_verdict(status_column, text, extra_done, memo)
            if state is State.NOT_DONE or state is State.BLANK:
                furniture = page_furniture(row, mapping)  # "Page 2 of 3" has no status either
                if furniture is not None:
                    yield CheckedRow(input=row, completion=None, issues=[furniture])
                else:
                    yield CheckedRow(input=row, completion=None, not_completed=message)
                continue
            if state is State.UNKNOWN:
                issues.append(RowIssue(status_column, text, message))
        if scale:
            data = scaled(data, scale, memo)
        if says_no:
            message = passed_or_score_says_no(data, mapping, memo)
            if message:
                yield CheckedRow(input=row, completion=None, not_completed=message)
                continue
        if default_date is not None and not data.get("completion_date", "").strip():
            data = {**data, "completion_date": default_date}
        values = fast_values(data, context)
        if values is None:
            try:
                values = validate(data, context=context).__dict__
            except ValidationError as exc:
                furniture = page_furniture(row, mapping)
                if furniture is not None:
                    yield CheckedRow(input=row, completion=None, issues=[furniture])
                    continue
                issues.extend(_issue(err, row, mapping, empty_hint) for err in exc.errors())
                issues.sort(key=lambda i: position.get(i.column, len(position)))
                yield CheckedRow(input=row, completion=None, issues=issues)
                continue
        if text_checks:
            issues.extend(disagreements(row, mapping, text_checks))
        completion = Completion(**values)
        if course_check is not None:
            check, problem = _course_check(row, course_check, mapping["course"], completion)
            if problem is not None:
                issues.append(problem)
            completion.course_check = check
        if issues:
            issues.sort(key=lambda i: position.get(i.column, len(position)))
            yield CheckedRow(input=row, completion=None, issues=issues)
            continue
        if completion.course.is_id and is_number_form_id(completion.course):
            ref = completion.course
            number_ids.note(mapping["course"], row.row, ref.text, str(ref.course_id))
        key = _dedup_key(completion, has_module)
        first = seen.get(key)
        if first is None:
            seen[key] = row.row
        yield CheckedRow(input=row, completion=completion, issues=[], duplicate_of=first)
    table.warnings.extend(number_ids.warnings(_where(table)))
    if other_bad:
        more = f" and {len(other_bad) - 3:,} more" if len(other_bad) > 3 else ""
        table.warnings.append(
            f"{_where(table)}: {counted(len(other_bad), 'cell')} outside the columns used hold bytes "
            f"that are not UTF-8, shown as \ufffd in the report ({'; '.join(other_bad[:3])}"
            f"{more}): retype those characters, or save the file as 'CSV UTF-8'."
        )


def _course_check(
    row: InputRow, column: str, main: str, completion: Completion
) -> tuple[CourseCheck | None, RowIssue | None]:
    """The row's other course column as a reference to compare after resolution (None when
    blank or the same reference as ``course``), or the issue when the cell is not usable."""
    text = row.values.get(column, "")
    if not text.strip():
        return None, None
    try:
        ref = parse_course(text)
    except CellProblem as exc:
        return None, RowIssue(column, text, issue_message(column, text, exc.problem, exc.fix))
    if ref.key == completion.course.key:
        return None, None
    return CourseCheck(column, ref, main), None


_BAD_CHAR = "\ufffd"


def _bad_bytes(row: InputRow, mapping: dict[str, str], other: list[str]) -> list[RowIssue]:
    """Cells of a UTF-8 file that held bytes that are not UTF-8 (decoded as U+FFFD): a mapped
    cell makes the row invalid (the name or email would not match); others are listed."""
    issues = []
    mapped = set(mapping.values())
    for column, text in row.values.items():
        if _BAD_CHAR not in text:
            continue
        if column in mapped:
            issues.append(
                RowIssue(
                    column,
                    text,
                    issue_message(
                        column,
                        text,
                        "holds bytes that are not valid UTF-8 (shown as \ufffd)",
                        "retype the accented letters in that cell, or save the file as "
                        "'CSV UTF-8' and run again",
                    ),
                )
            )
        elif len(other) < 1000:
            other.append(f"row {row.row}, {column}")
    return issues


def _issue(err: Any, row: InputRow, mapping: dict[str, str], xlsx: bool) -> RowIssue:
    field_name = str(err["loc"][0]) if err["loc"] else ""
    column = mapping.get(field_name, field_name)
    value = row.fields.get(field_name, "")
    ctx = err.get("ctx") or {}
    if err["type"] == "empty" or (err["type"] == "missing"):
        fix = ctx.get("fix", "fill it in")
        if xlsx and field_name in mapping:
            fix += " (if the cell holds a formula, open and save the file in Excel so its value is stored)"
        return RowIssue(column, "", issue_message(column, "", "is empty", fix))
    if err["type"] == "cell":
        return RowIssue(column, value, issue_message(column, value, ctx["problem"], ctx["fix"]))
    # Anything else from pydantic (should not happen): still name the column and the value.
    return RowIssue(column, value, issue_message(column, value, "is not valid", str(err["msg"])))


def _dedup_key(completion: Completion, has_module: bool) -> bytes:
    """A fixed-size digest, so a million rows' keys stay small in memory."""
    parts = [completion.email_key, completion.course.key]
    if has_module:
        parts.append(name_key(completion.module or ""))
    return hashlib.blake2b("\x00".join(parts).encode(), digest_size=16).digest()


def _where(table: Table) -> str:
    return f"{table.path} (sheet {table.sheet!r})" if table.sheet else str(table.path)


__all__ = [
    "CompletionRecord",
    "ValidationOptions",
    "check_rows",
    "decide_date_orders",
    "duplicate_message",
    "issue_message",
    "summarise_issues",
]
