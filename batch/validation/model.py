"""The pydantic validation model: one input row's cells -> a typed ``CompletionRecord``.

Cell validators raise ``PydanticCustomError("cell", ...)`` carrying the problem and its fix,
so pydantic collects every bad cell of a row in one ``ValidationError``. Checks between cells
(score within 0 and the maximum, start before completion) run once all cells are valid. A
score under the passing score is not a problem of the cells: the file says the learner did not
pass, and ``batch.validation.meaning`` makes that row ``not_completed``.

The date cells need the column's day/month order, the time zone and "now": they come in the
validation context (``RowContext``), which ``batch.validate.check_rows`` builds once per file.
"""

from __future__ import annotations

import functools
from datetime import datetime, tzinfo
from typing import Any, NotRequired, TypedDict, cast

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError, ValidationError

from batch.dates import DateFormat, DateProblem, earliest_problem, parse_date
from batch.models import CourseRef
from batch.validation.cells import parse_course, parse_email, parse_number, parse_passed, parse_text


class RowContext(TypedDict):
    """What date cells need to be read: per-column order, zone, explicit format, the clock."""

    orders: dict[str, str | None]  # field -> "DMY" / "MDY" / "YMD" / None
    tz: tzinfo
    fmt: DateFormat | None
    now: datetime
    floor: NotRequired[datetime | None]  # --earliest-date: earlier dates are not completions
    memo: NotRequired[dict[tuple[str, str], Any]]  # per-file memo of cell answers (see _memo)


def cell_error(problem: str, fix: str) -> PydanticCustomError:
    return PydanticCustomError("cell", "{problem}: {fix}", {"problem": problem, "fix": fix})


_EMPTY_FIX = {
    "email": "fill in the learner's email address",
    "course": "fill in the course name or ID (course:123)",
    "completion_date": "fill in the date completed (YYYY-MM-DD), or give one date for rows "
    "without one (--completion-date)",
}


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


class CompletionRecord(BaseModel):
    """One valid completion row. The field descriptions double as the template's comments."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True, extra="ignore")

    email: str = Field(
        description="The learner's email address as in ALM, e.g. jane.doe@example.com."
    )
    course: CourseRef = Field(
        description="The course name exactly as in ALM, or its ID: course:123 or 123."
    )
    completion_date: datetime = Field(
        description="When the learner completed: YYYY-MM-DD (optionally with a time). Not in the future."
    )
    start_date: datetime | None = Field(
        default=None,
        description="Optional: when the learner started; not after the completion date.",
    )
    score: float | None = Field(default=None, description="Optional: the score, e.g. 85 or 85%.")
    min_score: float | None = Field(
        default=None, description="Optional: the passing score; the score must reach it."
    )
    max_score: float | None = Field(
        default=None, description="Optional: the maximum score; the score must not exceed it."
    )
    passed: bool | None = Field(default=None, description="Optional: yes or no.")
    module: str | None = Field(
        default=None, description="Optional: one module's name or ID; blank = every content module."
    )
    instance: str | None = Field(
        default=None,
        description="Optional: the instance (session) name or ID; blank = the learner's.",
    )

    @field_validator("email", mode="before")
    @classmethod
    def _email(cls, value: Any) -> str:
        _require(value, "email")
        return str(_run(parse_email, value))

    @field_validator("course", mode="before")
    @classmethod
    def _course(cls, value: Any, info: ValidationInfo) -> CourseRef:
        if isinstance(value, CourseRef):
            return value
        return cast(CourseRef, _memo(info, "course", value, _course_cell))

    @field_validator("completion_date", "start_date", mode="before")
    @classmethod
    def _date(cls, value: Any, info: ValidationInfo) -> datetime | None:
        if isinstance(value, datetime):
            return value
        field = info.field_name or ""
        ctx = cast(RowContext, info.context)
        return cast(datetime | None, _memo(info, field, value, lambda v: _date_cell(v, field, ctx)))

    @field_validator("score", "min_score", "max_score", mode="before")
    @classmethod
    def _number(cls, value: Any, info: ValidationInfo) -> float | None:
        if isinstance(value, float | int) and not isinstance(value, bool):
            return value
        return cast(float | None, _memo(info, "number", value, _number_cell))

    @field_validator("passed", mode="before")
    @classmethod
    def _passed(cls, value: Any, info: ValidationInfo) -> bool | None:
        if isinstance(value, bool):
            return value
        return cast(bool | None, _memo(info, "passed", value, _passed_cell))

    @field_validator("module", "instance", mode="before")
    @classmethod
    def _text(cls, value: Any, info: ValidationInfo) -> str | None:
        return cast(str | None, _memo(info, "text", value, _text_cell))

    @model_validator(mode="after")
    def _between_cells(self) -> CompletionRecord:
        problems = between_cells(self.__dict__)
        if problems:
            errors: list[InitErrorDetails] = [
                {"type": cell_error(problem, fix), "loc": (field,), "input": value}
                for field, value, problem, fix in problems
            ]
            raise ValidationError.from_exception_data("CompletionRecord", errors)
        return self


def between_cells(v: dict[str, Any]) -> list[tuple[str, Any, str, str]]:
    """Checks across cells of a row whose cells are each valid: (field, value, problem, fix)."""
    out: list[tuple[str, Any, str, str]] = []
    lo, hi, score = v.get("min_score"), v.get("max_score"), v.get("score")
    if lo is not None and hi is not None and lo > hi:
        out.append(
            ("min_score", lo, f"is above the maximum score {_num(hi)}", "swap or correct them")
        )
    elif score is not None:
        if hi is not None and score > hi:
            out.append(
                ("score", score, f"is above the maximum score {_num(hi)}",
                 "correct the score or the maximum")
            )  # fmt: skip
        elif hi is None and score > 100:
            out.append(
                ("score", score, "is above 100, the maximum when no maximum score is given",
                 "correct the score, or add a Max Score column")
            )  # fmt: skip
    start, completed = v.get("start_date"), v.get("completion_date")
    if start is not None and completed is not None and start > completed:
        out.append(
            ("start_date", start, f"is after the completion date ({completed.date().isoformat()})",
             "correct one of the two dates")
        )  # fmt: skip
    return out


def fast_values(data: dict[str, Any], ctx: RowContext) -> dict[str, Any] | None:
    """The typed values of a row that has no problem, or None when it has one.

    The same cell functions and cross-cell checks as ``CompletionRecord``, without pydantic's
    per-row machinery: the common, valid row costs a few dictionary look-ups. Any problem
    returns None, and the caller asks ``CompletionRecord`` itself, which reports every bad
    cell of the row (tests check both paths agree).
    """
    memo = ctx.get("memo")
    if memo is None or not _REQUIRED.issubset(data):
        return None
    out: dict[str, Any] = {}
    try:
        for field, value in data.items():
            if value.__class__ is not str:
                if not isinstance(value, datetime | float):  # a default date, a scaled score
                    return None
                out[field] = value
                continue
            if field not in _KIND and field != "email":
                continue  # read before validation (completion_status)
            if field == "email":
                if not value.strip():
                    return None
                out[field] = parse_email(value)  # unique per row: not memoised
                continue
            kind = _KIND[field]
            key = (kind, value)
            hit = memo.get(key)
            if hit is None:
                if kind in _DATE_FIELDS:
                    compute: Any = functools.partial(_date_cell, field=field, ctx=ctx)
                else:
                    compute = _CELL[field][1]
                hit = _remember(memo, key, compute, value)
            if not hit[0]:
                return None
            out[field] = hit[1]
    except (PydanticCustomError, DateProblem):
        return None
    if _CROSS.isdisjoint(out):
        return out  # nothing to compare across cells
    return None if between_cells(out) else out


_REQUIRED = frozenset({"email", "course", "completion_date"})
_DATE_FIELDS = frozenset({"completion_date", "start_date"})
# Fields between_cells compares (a score alone: against 100 when no maximum is given).
_CROSS = frozenset({"start_date", "score", "min_score", "max_score"})


# -- one cell, text in: the same answer for the same text within a file, so it is memoised --
MEMO_LIMIT = 200_000  # distinct cells remembered per file (dates, courses, scores repeat)


def _memo(info: ValidationInfo, kind: str, value: Any, compute: Any) -> Any:
    """``compute(value)``, remembered per (kind, text) in the context's ``memo`` dict.

    A file repeats the same few hundred dates, courses and scores across its rows; each is
    parsed once. Errors are remembered as their parts and raised afresh each time.
    """
    memo = info.context.get("memo") if info.context else None
    if memo is None or not isinstance(value, str):
        return compute(value)
    key = (kind, value)
    hit = memo.get(key)
    if hit is None:
        hit = _remember(memo, key, compute, value)
    if hit[0]:
        return hit[1]
    kind_, template, context = hit[1]
    raise PydanticCustomError(kind_, template, context)


def _remember(memo: dict[Any, Any], key: Any, compute: Any, value: Any) -> tuple[bool, Any]:
    try:
        hit: tuple[bool, Any] = (True, compute(value))
    except PydanticCustomError as exc:
        hit = (False, (exc.type, exc.message_template, exc.context))
    if len(memo) < MEMO_LIMIT:
        memo[key] = hit
    return hit


def _course_cell(value: Any) -> CourseRef:
    _require(value, "course")
    return cast(CourseRef, _run(parse_course, value))


def _date_cell(value: Any, field: str, ctx: RowContext) -> datetime | None:
    if field == "completion_date":
        _require(value, "completion_date")
    if _blank(value):
        return None
    try:
        when = parse_date(
            str(value), order=ctx["orders"].get(field), tz=ctx["tz"], fmt=ctx["fmt"], now=ctx["now"]
        )
    except DateProblem as exc:
        raise cell_error(exc.problem, exc.fix) from None
    floor = ctx.get("floor")
    if floor is not None and (problem := earliest_problem(when, floor)) is not None:
        raise cell_error(problem.problem, problem.fix)
    if field == "completion_date" and when > ctx["now"]:
        raise cell_error(
            "is in the future",
            "a completion can only be recorded once it has happened; check the year",
        )
    return when


def _number_cell(value: Any) -> float | None:
    if _blank(value):
        return None
    number, percent = _run(parse_number, value)
    if percent and number > 100:
        raise cell_error("is over 100%", "write a percentage between 0% and 100%")
    return cast(float, number)


def _passed_cell(value: Any) -> bool | None:
    return None if _blank(value) else cast(bool, _run(parse_passed, value))


def _text_cell(value: Any) -> str | None:
    return None if _blank(value) else parse_text(str(value))


_CELL: dict[str, tuple[str, Any]] = {
    "course": ("course", _course_cell),
    "score": ("number", _number_cell),
    "min_score": ("number", _number_cell),
    "max_score": ("number", _number_cell),
    "passed": ("passed", _passed_cell),
    "module": ("text", _text_cell),
    "instance": ("text", _text_cell),
}


# Field -> memo kind (fields parsed alike share answers; each date field has its own order).
_KIND: dict[str, str] = {
    **{f: kind for f, (kind, _) in _CELL.items()},
    "completion_date": "completion_date",
    "start_date": "start_date",
}


def _require(value: Any, field: str) -> None:
    if _blank(value):
        raise PydanticCustomError("empty", "is empty: {fix}", {"fix": _EMPTY_FIX[field]})


def _run(parser: Any, value: Any) -> Any:
    try:
        return parser(str(value))
    except DateProblem as exc:
        raise cell_error(exc.problem, exc.fix) from None


def _num(value: float) -> str:
    return str(int(value)) if value.is_integer() else f"{value:g}"


# Validation model fields in template order (the template test checks they stay in step).
MODEL_FIELDS: tuple[str, ...] = tuple(CompletionRecord.model_fields)
