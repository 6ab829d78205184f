"""The shape of an input file, for front ends that let a person map it before a run.

``shape(path, options)`` answers what the upload page's "Shape" step shows: the sheets, the header
row, the columns with a few sample values, which column feeds each field, and the questions a
run would stop on (``Shape.questions``): which sheet, which header row, which column feeds a
field, a column of completion states under an unknown header, a second table beside the first,
the date order, the score scale, a file with no data rows; and one that does not stop a run but
changes its rows: which unknown completion-status values mean done.

A run raises the first of these questions and stops (``ShapeQuestion``, exit 2). Here each one
is answered provisionally (the suggested choice, else the first; a column in doubt is left out)
and the file is read on, so the person sees the columns and every question together. A
provisional answer is never a decision: the front end shows the question until the person
answers it, and a run still stops on it. Fixes to rows are not made here: they are
``JobOptions.edits`` / ``exclude`` and ``Job.recheck``. Nothing here talks to ALM.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from batch.errors import IGNORE, BatchError, Choice, EmptyInput, ShapeQuestion
from batch.jobs.options import ShapeOptions
from batch.models import FIELDS, REQUIRED_FIELDS

if TYPE_CHECKING:
    from batch.reader import SheetDecision, Table

SAMPLES = 3  # sample values shown per column
_SAMPLE_ROWS = 200  # rows looked at for samples
_ROUNDS = 12  # questions answered provisionally before giving up on reading on
_STATE_VALUES = 30  # unknown completion-status values offered (the most frequent first)


@dataclass(frozen=True)
class Question:
    """A question about the file that the person answers on the Shape step (plain data).

    ``ask`` is the ``ShapeOptions`` field an answer sets; ``field`` the input field it is about;
    ``column`` the one column it is about (a ``mapping`` question with a ``column``: the choice
    ``"ignore"`` adds it to ``ignore_columns``, any other maps it to ``field``). ``message``
    names no command-line flag. ``blocking``: a run stops until it is answered (every
    ``ShapeQuestion``); a question that is not blocking changes what rows say (unknown
    completion states stay invalid rows). ``multiple``: several choices may be picked, and
    ``chosen`` are those picked so far. ``in_table``: a required field without a column,
    answered by that field's list of columns (``suggested`` pre-selects the column that holds
    what it needs)."""

    ask: str
    message: str
    field: str | None = None
    column: str | None = None
    choices: tuple[Choice, ...] = ()
    suggested: str | None = None
    blocking: bool = True
    multiple: bool = False
    chosen: tuple[str, ...] = ()
    in_table: bool = False

    @classmethod
    def asked(cls, question: ShapeQuestion, **more: Any) -> Question:
        """The page's form of a run's question (its ``hint``, the CLI's words, is left out)."""
        return cls(
            ask=question.ask,
            message=question.message,
            field=question.field,
            column=question.column,
            choices=question.choices,
            suggested=question.suggested,
            **more,
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "ask": self.ask,
            "message": self.message,
            "field": self.field,
            "column": self.column,
            "choices": [
                {"value": c.value, "label": c.label, "samples": list(c.samples)}
                for c in self.choices
            ],
            "suggested": self.suggested,
            "blocking": self.blocking,
            "multiple": self.multiple,
            "chosen": list(self.chosen),
            "in_table": self.in_table,
        }


@dataclass
class Shape:
    """What a person needs to see to map a file (all plain data, JSON-ready)."""

    format: str  # "csv" or "xlsx"
    sheets: list[str]  # visible and hidden sheet names (XLSX), [] for CSV
    sheet: str | None
    header_row: int
    columns: list[str]
    mapping: dict[str, str]  # field -> header
    samples: dict[str, list[str]]  # header -> up to SAMPLES non-blank values
    rows: int  # data rows (blank rows not counted)
    missing: list[str]  # required fields without a column
    ambiguous_dates: dict[str, str] = field(default_factory=dict)  # field -> why it is asked
    date_orders: dict[str, str | None] = field(default_factory=dict)  # field -> DMY / MDY / None
    error: str | None = None  # a run-level problem no choice here solves
    questions: list[Question] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what the reader decided, and why
    ignored: list[str] = field(default_factory=list)  # columns left out (``ignore_columns``)

    @property
    def open_questions(self) -> list[Question]:
        """The questions a run stops on (the page's dry run waits for their answers)."""
        return [q for q in self.questions if q.blocking]

    def as_json(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "sheets": self.sheets,
            "sheet": self.sheet,
            "header_row": self.header_row,
            "columns": self.columns,
            "mapping": self.mapping,
            "samples": self.samples,
            "rows": self.rows,
            "missing": self.missing,
            "ambiguous_dates": self.ambiguous_dates,
            "date_orders": self.date_orders,
            "error": self.error,
            "questions": [q.as_json() for q in self.questions],
            "notes": self.notes,
            "ignored": self.ignored,
        }


def sheet_names(path: Path) -> list[str]:
    """The sheets of a workbook of any kind (empty for a CSV, or a workbook that cannot open)."""
    from batch.reader import workbook_sheets

    return workbook_sheets(path)


def sheet_choice(path: Path, options: ShapeOptions | None = None) -> SheetDecision | None:
    """The sheets a run could read and the one it reads, by the run's own rule (None for a
    CSV): ``candidates`` (visible sheets with every required column), ``chosen`` (None when the
    person must pick: ``question`` is the ``ShapeQuestion`` a run raises, ``ask="sheet"``, its
    choices and the active tab as ``suggested``), ``active``, ``warnings``."""
    from batch.reader import sheet_decision

    options = options or ShapeOptions()
    return sheet_decision(path, mapping=dict(options.mapping), require=_required(options))


def _required(options: ShapeOptions) -> list[str]:
    return [f for f in REQUIRED_FIELDS if not (f == "completion_date" and options.completion_date)]


def shape(path: Path, options: ShapeOptions | None = None) -> Shape:
    """Read ``path`` far enough to show its shape and its questions, with the shape options
    chosen so far (module docstring).

    Raises ``BatchError`` (exit 2 kind) when the file cannot be read at all; a file that reads
    but lacks a required column comes back with ``missing`` set and a question for each.
    """
    options = options or ShapeOptions()
    questions: list[Question] = []
    trial = replace(options, mapping=dict(options.mapping))
    notes: list[str] = []
    sheet = options.sheet
    if sheet is None:  # the sheet a run would read, so the page opens where the CLI reads
        decision = sheet_choice(path, options)
        if decision is not None:
            sheet = decision.chosen
            notes.extend(decision.warnings)
            if decision.question is not None:
                questions.append(Question.asked(decision.question))
                sheet = _first(decision.question)
    table = None
    for _ in range(_ROUNDS):
        try:
            table = _open(path, sheet, trial)
            break
        except EmptyInput as empty:
            return _empty(path, sheet, options, empty, questions)
        except ShapeQuestion as question:
            answer = _provisionally(trial, sheet, question)
            if answer is None:
                raise
            trial, sheet, in_table = answer
            questions.append(Question.asked(question, in_table=in_table))
    if table is None:
        raise BatchError(f"{path}: the file raises more questions than the page can show.")
    return _described(table, options, questions, notes)


def _open(path: Path, sheet: str | None, trial: ShapeOptions) -> Table:
    from batch.reader import open_table

    return open_table(
        path,
        sheet=sheet,
        header_row=trial.header_row,
        mapping=dict(trial.mapping),
        require=(),
        ignore=trial.ignore_columns,
    )


def _first(question: ShapeQuestion) -> str | None:
    """The answer a question is read on with until the person gives theirs."""
    if question.suggested is not None:
        return question.suggested
    return question.choices[0].value if question.choices else None


def _provisionally(
    trial: ShapeOptions, sheet: str | None, question: ShapeQuestion
) -> tuple[ShapeOptions, str | None, bool] | None:
    """The options to read on with while ``question`` waits for the person (the suggested
    choice, else the first; a column in doubt left out), whether the question is answered in
    the mapping table, or None when nothing can be read before it is answered."""
    ask, pick = question.ask, _first(question)
    mapping = dict(trial.mapping)
    if ask == "sheet":  # a sheet named that is not there: the run's own rule picks one
        new = question.suggested or (pick if sheet is None else None)
        return None if new == sheet else (trial, new, False)
    if ask == "header_row" and pick is not None and pick.isdigit():
        return replace(trial, header_row=int(pick)), sheet, False
    if ask == "ignore_columns" and question.choices:
        more = [c.value for c in question.choices if c.value not in trial.ignore_columns]
        return replace(trial, ignore_columns=[*trial.ignore_columns, *more]), sheet, False
    if ask != "mapping" or question.field is None:
        return None
    if question.column is not None:  # a column of completion states under an unknown header
        if question.suggested not in (None, IGNORE):
            mapped = _mapped(mapping, question.column, question.field)
            return replace(trial, mapping=mapped), sheet, False
        ignore = [*trial.ignore_columns, question.column]
        return replace(trial, ignore_columns=ignore), sheet, False
    offered = {c.value for c in question.choices}
    absent = [h for h, f in mapping.items() if f == question.field and h not in offered]
    if absent:  # the person's mapping names a column the file does not have
        for header in absent:
            del mapping[header]
        return replace(trial, mapping=mapping), sheet, True
    if pick is None or mapping.get(pick) == question.field:
        return None
    return replace(trial, mapping=_mapped(mapping, pick, question.field)), sheet, False


def _mapped(mapping: dict[str, str], header: str, name: str) -> dict[str, str]:
    """``mapping`` with ``header`` feeding ``name`` (and nothing else feeding it)."""
    out = {h: f for h, f in mapping.items() if f != name and h != header}
    out[header] = name
    return out


def _empty(
    path: Path,
    sheet: str | None,
    options: ShapeOptions,
    empty: EmptyInput,
    questions: list[Question],
) -> Shape:
    """A file with a header and no data rows: nothing to map; the question is whether an
    empty export is normal (then a run has nothing to do)."""
    from batch.reading.sniff import inspect_file

    kind = inspect_file(path, None).format
    if not options.allow_empty:
        questions.append(Question.asked(empty))
    return Shape(
        format=kind,
        sheets=sheet_names(path) if kind == "xlsx" else [],
        sheet=sheet,
        header_row=options.header_row or 1,
        columns=[],
        mapping={},
        samples={},
        rows=0,
        missing=[],
        questions=questions,
        notes=["The file has a header but no data rows."] if options.allow_empty else [],
    )


def _described(
    table: Table, options: ShapeOptions, questions: list[Question], notes: list[str]
) -> Shape:
    """The Shape of a table that reads: samples, rows, and the questions about its values."""
    from batch.reading.columns import Sample, missing_question

    samples: dict[str, list[str]] = {c: [] for c in table.columns}
    head: list[list[str]] = []
    status_header = table.mapping.get("completion_status")
    states: Counter[str] = Counter()
    rows = 0
    for row in table.iter_rows():
        rows += 1
        if status_header is not None:
            states[row.values.get(status_header, "").strip()] += 1
        if rows > _SAMPLE_ROWS:
            continue
        head.append([row.values.get(c, "") for c in table.columns])
        for column in table.columns:
            value = row.values.get(column, "").strip()
            if value and len(samples[column]) < SAMPLES and value not in samples[column]:
                samples[column].append(value[:80])
    where = f"{table.path} (sheet {table.sheet!r})" if table.sheet else str(table.path)
    missing = [f for f in _required(options) if f not in table.mapping]
    sample = Sample(table.columns, head)
    for name in missing:
        asked = missing_question(where, table.columns, [name], table.header_row, sample)
        questions.append(Question.asked(asked, in_table=True))
    result = Shape(
        format=table.format,
        sheets=sheet_names(table.path) if table.format == "xlsx" else [],
        sheet=table.sheet,
        header_row=table.header_row,
        columns=list(table.columns),
        mapping=dict(table.mapping),
        samples=samples,
        rows=rows,
        missing=missing,
        questions=questions,
        notes=[*notes, *table.warnings],
        ignored=list(table.ignored),
    )
    _ask_about_values(table, options, result, where)
    if status_header is not None:
        done = _done_values(status_header, states, options)
        if done is not None:
            result.questions.append(done)
    return result


def _ask_about_values(table: Table, options: ShapeOptions, result: Shape, where: str) -> None:
    """The questions a run asks once the columns are known: the date order, the score scale."""
    from batch.validate import ValidationOptions, decide_date_orders
    from batch.validation.scores import decide_score_scale

    try:
        checks = ValidationOptions(
            date_format=options.date_format,
            timezone=options.timezone,
            default_completion_date=options.completion_date,
        )
        result.date_orders = decide_date_orders(table, checks)
    except ShapeQuestion as asked:
        if asked.field is not None:
            result.ambiguous_dates[asked.field] = asked.message
        result.questions.append(Question.asked(asked))
    except BatchError as exc:
        result.error = exc.message
    try:
        decide_score_scale(table, options.score_scale, where)
    except ShapeQuestion as asked:
        result.questions.append(Question.asked(asked))
    except BatchError as exc:
        result.error = result.error or exc.message


def _done_values(header: str, states: Counter[str], options: ShapeOptions) -> Question | None:
    """Which completion-status values the tool does not know, so the person can say which mean
    done (``completed_values``). Rows with the others stay invalid: not a question a run stops
    on, so it does not block. None when every value is known and none was added."""
    from batch.reading.states import State, classify_state, extra_done_values, fold_state

    known = extra_done_values(options.completed_values)
    unknown = [
        (value, n)
        for value, n in states.most_common()
        if value and classify_state(value, frozenset()) is State.UNKNOWN
    ]
    if not unknown:
        return None
    choices = tuple(
        Choice(value, value, (f"{n:,} row{'s' if n != 1 else ''}",))
        for value, n in unknown[:_STATE_VALUES]
    )
    message = (
        f"Column {header!r} holds values that are not completion states the tool knows: "
        f"{', '.join(repr(v) for v, _ in unknown[:5])}{' ...' if len(unknown) > 5 else ''}. "
        "Tick those that mean the learner completed; rows with the others are invalid and "
        "nothing is posted for them."
    )
    return Question(
        ask="completed_values",
        message=message,
        field="completion_status",
        column=header,
        choices=choices,
        blocking=False,
        multiple=True,
        chosen=tuple(v for v, _ in unknown if fold_state(v) in known),
    )


def parse_map(items: Iterable[str]) -> dict[str, str]:
    """``["Header=field", ...]`` -> header -> field, with the CLI's ``--map`` messages."""
    from batch.reader import parse_map_options

    return parse_map_options(items)


def fields() -> tuple[str, ...]:
    """The canonical fields a column can feed, in the order the page lists them."""
    return FIELDS
