"""The pydantic validation model: one input row's cells -> a typed ``CompletionRecord``.

Cell validators raise ``PydanticCustomError("cell", ...)`` carrying the problem and its fix,
so pydantic collects every bad cell of a row in one ``ValidationError``. Checks between cells
(score within min/max, start before completion) run once all cells are valid.

The date cells need the column's day/month order, the time zone and "now": they come in the
validation context (``RowContext``), which ``batch.validate.check_rows`` builds once per file.
"""

from __future__ import annotations

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


def cell_error(problem: str, fix: str) -> PydanticCustomError:
    return PydanticCustomError("cell", "{problem}: {fix}", {"problem": problem, "fix": fix})


_EMPTY_FIX = {
    "email": "fill in the learner's email address",
    "course": "fill in the course name or ID (course:123)",
    "completion_date": "fill in the date completed (YYYY-MM-DD) or pass --completion-date",
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
        return _run(parse_email, value)

    @field_validator("course", mode="before")
    @classmethod
    def _course(cls, value: Any) -> CourseRef:
        _require(value, "course")
        return value if isinstance(value, CourseRef) else _run(parse_course, value)

    @field_validator("completion_date", "start_date", mode="before")
    @classmethod
    def _date(cls, value: Any, info: ValidationInfo) -> datetime | None:
        if info.field_name == "completion_date":
            _require(value, "completion_date")
        if isinstance(value, datetime) or _blank(value):
            return value or None
        ctx = cast(RowContext, info.context)
        field = info.field_name or ""
        try:
            when = parse_date(
                str(value), order=ctx["orders"].get(field), tz=ctx["tz"], fmt=ctx["fmt"]
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

    @field_validator("score", "min_score", "max_score", mode="before")
    @classmethod
    def _number(cls, value: Any) -> float | None:
        if _blank(value) or isinstance(value, float | int):
            return value if not _blank(value) else None
        number, percent = _run(parse_number, value)
        if percent and number > 100:
            raise cell_error("is over 100%", "write a percentage between 0% and 100%")
        return number

    @field_validator("passed", mode="before")
    @classmethod
    def _passed(cls, value: Any) -> bool | None:
        if _blank(value) or isinstance(value, bool):
            return value if not _blank(value) else None
        return _run(parse_passed, value)

    @field_validator("module", "instance", mode="before")
    @classmethod
    def _text(cls, value: Any) -> str | None:
        return None if _blank(value) else parse_text(str(value))

    @model_validator(mode="after")
    def _between_cells(self) -> CompletionRecord:
        errors: list[InitErrorDetails] = []

        def add(field: str, value: Any, problem: str, fix: str) -> None:
            errors.append({"type": cell_error(problem, fix), "loc": (field,), "input": value})

        lo, hi, score = self.min_score, self.max_score, self.score
        if lo is not None and hi is not None and lo > hi:
            add("min_score", lo, f"is above the maximum score {_num(hi)}", "swap or correct them")
        elif score is not None:
            if hi is not None and score > hi:
                add(
                    "score",
                    score,
                    f"is above the maximum score {_num(hi)}",
                    "correct the score or the maximum",
                )
            if lo is not None and score < lo:
                add(
                    "score",
                    score,
                    f"is below the passing score {_num(lo)}",
                    "only passing results can be recorded as complete; correct the score or the passing score",
                )
        if self.start_date is not None and self.start_date > self.completion_date:
            add(
                "start_date",
                self.start_date,
                f"is after the completion date ({self.completion_date.date().isoformat()})",
                "correct one of the two dates",
            )
        if errors:
            raise ValidationError.from_exception_data("CompletionRecord", errors)
        return self


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
