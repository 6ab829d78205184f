"""What a job is asked to do (``JobOptions``) and what it ends with (``JobOutcome``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, TypeAdapter

from batch.errors import BatchError, ExitStatus, UsageError
from batch.models import RunSummary
from batch.reader import RowTable
from batch.validate import ValidationOptions

ROWS_NAME = Path("rows")  # what rows given in memory are called when no path names them


@dataclass(frozen=True)
class OptionSpec:
    """How one shape option appears on the command line (the page shows it on its Shape step).

    ``kind``: ``text`` (one value), ``row`` (a whole number, 1 or more), ``map`` (repeatable
    ``Header=field``, parsed into header -> field), ``list`` (comma-separated values, repeatable),
    ``columns`` (repeatable, one header each: a header may hold a comma), ``flag`` (on when
    given). ``choices``: the values a ``text`` option accepts, when it is a pick (the page shows
    them as a list).
    """

    flag: str
    help: str
    kind: str = "text"
    metavar: str | None = None
    choices: tuple[str, ...] = ()


def _option(default: Any, flag: str, help: str, kind: str = "text", **more: Any) -> Any:
    spec = OptionSpec(
        flag=flag,
        help=help,
        kind=kind,
        metavar=more.pop("metavar", None),
        choices=tuple(more.pop("choices", ())),
    )
    if isinstance(default, (dict, list)):
        factory = type(default)
        return field(default_factory=factory, metadata={"cli": spec})
    return field(default=default, metadata={"cli": spec})


@dataclass
class ShapeOptions:
    """What the file means: the choices a person makes about its shape, declared once.

    The CLI builds its "reading the file" flags from these fields (``OptionSpec`` in each field's
    metadata), the page's Shape step offers the same choices, ``inspect.shape`` and the job take
    them, and ``ShapeOptions.parse`` turns text from either front end into typed values with one
    set of messages. A ``ShapeQuestion`` raised by a stage names the field to set (``ask``).
    """

    sheet: str | None = _option(
        None,
        "--sheet",
        "the workbook's sheet to read (default: the one sheet with the required columns)",
        metavar="NAME",
    )
    header_row: int | None = _option(
        None, "--header-row", "the row number of the header (default: found)", "row", metavar="N"
    )
    mapping: dict[str, str] = _option(
        {},
        "--map",
        "map an unusual header to a field (repeatable), e.g. --map 'Staff Mail=email'",
        "map",
        metavar="HEADER=FIELD",
    )
    date_format: str | None = _option(
        None,
        "--date-format",
        "date order when a column is ambiguous: DD/MM/YYYY or MM/DD/YYYY",
        metavar="ORDER",
    )
    timezone: str = _option(
        "UTC", "--timezone", "timezone for dates without a time (default UTC)", metavar="ZONE"
    )
    completion_date: str | None = _option(
        None, "--completion-date", "completion date for rows that have none", metavar="DATE"
    )
    completed_values: list[str] = _option(
        [],
        "--completed-values",
        "completion-status values that mean done, beyond the known ones "
        "(comma-separated, repeatable), e.g. --completed-values 'Attended,Finished'",
        "list",
        metavar="VALUES",
    )
    ignore_columns: list[str] = _option(
        [],
        "--ignore-column",
        "leave a column out of every decision (it stays in the report); repeatable, e.g. "
        "--ignore-column 'Manager Status'",
        "columns",
        metavar="HEADER",
    )
    score_scale: str | None = _option(
        None,
        "--score-scale",
        "scores that are all between 0 and 1: fraction (0.87 means 87) or as-written",
        choices=("fraction", "as-written"),
        metavar="fraction|as-written",
    )
    allow_empty: bool = _option(
        False,
        "--allow-empty",
        "a file with a header but no data rows is 'nothing to do' (exit 0), not an error",
        "flag",
    )

    @classmethod
    def specs(cls) -> list[tuple[str, OptionSpec]]:
        """(field name, how it appears on the command line), in declaration order."""
        return [(f.name, f.metadata["cli"]) for f in fields(ShapeOptions) if "cli" in f.metadata]

    @classmethod
    def parse(cls, raw: Mapping[str, Any], base: ShapeOptions | None = None) -> ShapeOptions:
        """Typed shape options from text (argparse's namespace, a form, a JSON body).

        A name absent from ``raw`` (or ``None``) keeps ``base``'s value; an empty text clears
        an optional value. Raises ``UsageError`` naming the option when a value is not usable.
        """
        from batch.reading.aliases import parse_map_options

        base = base or cls()
        changes: dict[str, Any] = {}
        for name, spec in cls.specs():
            value = raw.get(name)
            if value is None:
                continue
            if spec.kind == "map":
                items = [value] if isinstance(value, str) else list(value)
                if isinstance(value, Mapping):
                    items = [f"{h}={f}" for h, f in value.items()]
                changes[name] = parse_map_options(
                    [str(m) for m in items if m and not str(m).endswith("=")]
                )
            elif spec.kind == "row":
                text = str(value).strip()
                if not text:
                    changes[name] = None
                    continue
                try:
                    number = int(text)
                except ValueError:
                    raise UsageError(
                        f"The header row must be a row number, got {text!r}."
                    ) from None
                if number < 1:
                    raise UsageError(f"The header row must be 1 or more (got {number}).")
                changes[name] = number
            elif spec.kind in ("list", "columns"):
                items = [value] if isinstance(value, str) else list(value)
                parts = (
                    [p for item in items for p in str(item).split(",")]
                    if spec.kind == "list"
                    else [str(item) for item in items]
                )
                changes[name] = [p.strip() for p in parts if p.strip()]
            elif spec.kind == "flag":
                changes[name] = (
                    value
                    if isinstance(value, bool)
                    else str(value).lower() in ("1", "true", "on", "yes")
                )
            else:
                text = str(value).strip()
                default = next(f.default for f in fields(cls) if f.name == name)
                if text and spec.choices:
                    key = text.casefold().replace("_", "-").replace(" ", "-")
                    if key not in spec.choices:
                        raise UsageError(
                            f"{spec.flag} {text!r} is not one of: {', '.join(spec.choices)}."
                        )
                    text = key
                changes[name] = text or default
        return replace(base, **changes)

    def shape_json(self) -> dict[str, Any]:
        """The shape options as plain JSON (the page stores and shows them)."""
        return {name: getattr(self, name) for name, _spec in self.specs()}

    def shape_only(self) -> ShapeOptions:
        """Just the shape options (a ``JobOptions`` is one, with more)."""
        return ShapeOptions(**{name: getattr(self, name) for name, _spec in self.specs()})


@dataclass(kw_only=True)
class JobOptions(ShapeOptions):
    """Every option of ``run`` / ``validate`` (the CLI's flags; the page's form fields).

    The input is the file at ``path``, or ``rows`` held in memory (an iterable of mappings,
    header -> value, or a pandas DataFrame), taken as text when the options are made
    (``reading.memory.RowTable``): then ``path`` only names them (messages, the report beside
    it; default ``rows`` in the current folder).
    """

    path: Path = Path()
    # Typed Any: a pandas DataFrame is one kind (pandas is optional); a RowTable once made.
    # Never serialised: a job's record keeps its options, not its rows.
    rows: Annotated[Any, Field(exclude=True)] = None
    # A job writes to ALM only when it is told to: a live run is ``dry_run=False``, said.
    dry_run: bool = True
    offline: bool = False
    report: Path | None = None
    encoding: str | None = None
    earliest_date: str | None = "1990-01-01"  # dates before it are not real completions
    state_dir: Path | None = None
    concurrency: int | None = None
    max_rps: float | None = None
    verify: bool = False
    overwrite: bool = False
    cache_ttl: float = 86400.0
    refresh_cache: bool = False
    no_cache: bool = False
    user_lookup: str = "auto"
    # Where a dry run reads learner state: auto, transcript (ALM's learner transcript job) or
    # per-learner (batch.state_source). A live run always reads each learner it writes for.
    state_source: str = "auto"
    give_up_after: float = 600.0
    command: str = "run"
    # Fix in place (the page): spreadsheet row -> {original header: new value}, and rows left
    # out. The file itself is never changed; the report lists every edit.
    edits: dict[int, dict[str, str]] = field(default_factory=dict)
    exclude: frozenset[int] = frozenset()
    # Keep every row's result for paging, re-checks and exports: in the job's folder when it
    # has one (``rows.sqlite3``, read a page at a time), else in memory.
    keep_results: bool = False
    # The job's own folder (the page gives each job one): its record (``job.json``, written
    # when it starts and as it goes), its rows and its report. A job whose process died is
    # read back from it as interrupted (``Job.load``).
    folder: Path | None = None
    # Rows an earlier run of this file finished (written, nothing to write, or a person's to
    # fix): still validated with the rest of the file, so duplicates stay decided file-wide,
    # but neither run nor reported. A run of the remaining rows of an interrupted run.
    skip_rows: frozenset[int] | None = None
    # The most data rows one job takes (None: no cap). The page caps uploads; past the cap the
    # job stops before looking anything up (exit 2), with a message naming the cap.
    max_rows: int | None = None
    # The input's name as the reports show it (the page: the name of the file uploaded, which
    # is stored under a generated name); None: the name of ``path``.
    display_name: str | None = None

    def __post_init__(self) -> None:
        if self.rows is not None:
            self.rows = RowTable.of(self.rows)
            if self.path == Path():
                self.path = ROWS_NAME

    @property
    def row_table(self) -> RowTable | None:
        """The rows given in memory (None: the input is the file at ``path``)."""
        return self.rows if isinstance(self.rows, RowTable) else None

    def validation(self) -> ValidationOptions:
        """What validating a row needs of these options."""
        return ValidationOptions(
            date_format=self.date_format,
            timezone=self.timezone,
            default_completion_date=self.completion_date,
            earliest_date=self.earliest_date,
            completed_values=tuple(self.completed_values),
            score_scale=self.score_scale,
        )

    def public(self) -> dict[str, Any]:
        """The options as shown in the report's summary (no secrets live here)."""
        hidden = {
            "path",
            "rows",
            "edits",
            "exclude",
            "keep_results",
            "folder",
            "skip_rows",
            "display_name",
        }
        out: dict[str, Any] = {}
        for key, value in self.__dict__.items():
            if key in hidden or value in (None, False, {}, [], "", frozenset()):
                continue
            out[key] = str(value) if isinstance(value, Path) else value
        return out


# The one serialiser of a job's options (its record, ``record.py``, keeps them as JSON).
JOB_OPTIONS: TypeAdapter[JobOptions] = TypeAdapter(JobOptions)


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"  # a run-level error (``Job.error``); nothing was written
    CANCELLED = "cancelled"  # cancelled, interrupted, or the confirmation was declined
    # The process running it died (a crash, kill -9, out of memory): read back from its
    # folder; the ledger knows what it wrote, and its remaining rows can be run.
    INTERRUPTED = "interrupted"

    @property
    def finished(self) -> bool:
        return self not in (JobState.QUEUED, JobState.RUNNING)


@dataclass
class JobOutcome:
    summary: RunSummary
    exit_status: ExitStatus
    report_path: Path | None = None
    failed_path: Path | None = None
    warnings: list[str] = field(default_factory=list)
    aborted: BatchError | None = None
    cancelled: bool = False  # the person declined the confirmation: nothing was written
    interrupted: bool = False  # Ctrl-C / Cancel: writes in flight finished, report saved
    # Learners this run enrolled whose grades a stop left unsent: running the remaining rows
    # (the same command again) posts them.
    enrolled_not_graded: int = 0
