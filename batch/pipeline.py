"""Wires the stages for one command: read → validate → resolve → plan → execute → verify → report.

Library first: everything ``alm-batch run`` / ``validate`` does is ``run_job(JobOptions(...))``.
This module prints nothing; it reports progress through callbacks and returns a ``JobOutcome``
whose ``exit_status`` follows product.md.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from batch.errors import BatchError, ConfigError, ExitStatus
from batch.models import CheckedRow, RowResult, RowStatus, RunSummary, exit_status_for
from batch.settings import Settings

ProgressFn = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass
class JobOptions:
    """Every option of ``run`` / ``validate`` (product.md, "Command line")."""

    path: Path
    dry_run: bool = False
    offline: bool = False
    report: Path | None = None
    sheet: str | None = None
    mapping: dict[str, str] = field(default_factory=dict)
    encoding: str | None = None
    header_row: int | None = None
    date_format: str | None = None
    timezone: str = "UTC"
    completion_date: str | None = None
    state_dir: Path | None = None
    concurrency: int | None = None
    max_rps: float | None = None
    verify: bool = False
    overwrite: bool = False
    cache_ttl: float = 86400.0
    refresh_cache: bool = False
    no_cache: bool = False
    user_lookup: str = "auto"
    give_up_after: float = 600.0
    command: str = "run"

    def public(self) -> dict[str, Any]:
        """The options as shown in the report's summary (no secrets live here)."""
        out: dict[str, Any] = {}
        for key, value in self.__dict__.items():
            if key == "path" or value in (None, False, {}, ""):
                continue
            out[key] = str(value) if isinstance(value, Path) else value
        return out


@dataclass
class JobHooks:
    """What the caller (the CLI, a test, a script) plugs in."""

    on_progress: ProgressFn | None = None
    on_write: Callable[[Any], None] | None = None  # execute's ProgressEvent
    confirm: Callable[[RunSummary], bool] | None = None  # live runs: ask before writing
    stop: threading.Event | None = None  # set on Ctrl-C
    now: Callable[[], datetime] = lambda: datetime.now(UTC)


@dataclass
class JobOutcome:
    summary: RunSummary
    exit_status: ExitStatus
    report_path: Path | None = None
    failed_path: Path | None = None
    warnings: list[str] = field(default_factory=list)
    aborted: BatchError | None = None
    cancelled: bool = False  # the user declined the confirmation: nothing was written


def new_run_id(now: datetime) -> str:
    return f"{now:%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


def offline_result(checked: CheckedRow) -> RowResult:
    """A row checked without ALM: invalid, duplicate, or valid-but-unresolved."""
    from batch.validate import duplicate_message, summarise_issues

    values = checked.input.values
    if checked.issues:
        return RowResult(checked.row, values, RowStatus.INVALID, summarise_issues(checked.issues))
    if checked.duplicate_of is not None:
        return RowResult(
            checked.row,
            values,
            RowStatus.DUPLICATE,
            duplicate_message(checked.duplicate_of),
            action="skip",
        )
    return RowResult(
        checked.row,
        values,
        RowStatus.WOULD_COMPLETE,
        "Valid. Not checked against ALM (--offline): learner, course and modules are resolved "
        "when you run without --offline.",
        action="grade (modules resolved online)",
    )


class _Counting:
    """Wraps the results stream so the caller knows how the rows ended (for the exit code).

    ``notable`` keeps the first row that needs a person and the first retryable failure: all
    that ``exit_status_for`` needs, in bounded memory however many rows stream through.
    """

    def __init__(self, results: Iterable[RowResult], on_end: Callable[[], None]) -> None:
        self._results = results
        self._on_end = on_end
        self.all_ok = True
        self.notable: list[RowResult] = []
        self._kinds: set[bool] = set()  # needs_person of the rows kept

    def __iter__(self) -> Iterator[RowResult]:
        for result in self._results:
            if not result.status.ok:
                self.all_ok = False
                if result.needs_person not in self._kinds:
                    self._kinds.add(result.needs_person)
                    self.notable.append(result)
            yield result
        self._on_end()  # the report writes its summary after the last row: stamp the end time


def _new_summary(options: JobOptions, table: Any, host: str, now: datetime) -> RunSummary:
    return RunSummary(
        run_id=new_run_id(now),
        command=options.command,
        dry_run=options.dry_run or options.offline,
        input_path=str(options.path),
        input_sha256=table.sha256,
        alm_host=host,
        started_at=now,
        options=options.public(),
    )


def _write(
    results: Iterable[RowResult],
    table: Any,
    summary: RunSummary,
    options: JobOptions,
    hooks: JobHooks,
    *,
    live: bool,
) -> tuple[_Counting, Any]:
    from batch.report import write_reports

    counting = _Counting(results, lambda: setattr(summary, "ended_at", hooks.now()))
    paths = write_reports(
        counting,
        columns=table.columns,
        summary=summary,
        input_path=options.path,
        input_format=table.format,
        explicit=options.report,
        live=live,
        sheet=options.sheet,
    )
    return counting, paths


def run_job(
    options: JobOptions, settings: Settings | None = None, hooks: JobHooks | None = None
) -> JobOutcome:
    """Run one ``run`` / ``validate`` job end to end. Raises BatchError for run-level errors
    found before anything was written (exit 2); later aborts come back in the outcome."""
    from batch.reader import open_table
    from batch.validate import ValidationOptions, check_rows

    hooks = hooks or JobHooks()
    started = hooks.now()  # the job's start: reading the file counts
    require = ["email", "course"] + ([] if options.completion_date else ["completion_date"])
    table = open_table(
        options.path,
        encoding=options.encoding,
        sheet=options.sheet,
        header_row=options.header_row,
        mapping=options.mapping or None,
        require=require,
    )
    validation = ValidationOptions(
        date_format=options.date_format,
        timezone=options.timezone,
        default_completion_date=options.completion_date,
    )
    if options.offline:
        summary = _new_summary(options, table, "(offline)", started)
        checked = check_rows(table, validation)
        counting, paths = _write(
            (offline_result(c) for c in checked), table, summary, options, hooks, live=False
        )
        status = exit_status_for(counting.notable)
        summary.exit_status = int(status)
        return JobOutcome(summary, status, paths.report, paths.failed)

    if settings is None:
        settings = Settings()
    from batch.online import run_online

    return run_online(options, settings, hooks, table, check_rows(table, validation), started)


def require_credentials(settings: Settings) -> None:
    """Stop before any call when the configuration cannot possibly authenticate."""
    if settings.access_token is not None:
        return
    missing = [
        name
        for name, value in (
            ("ALM_CLIENT_ID", settings.client_id),
            ("ALM_CLIENT_SECRET", settings.client_secret),
            ("ALM_REFRESH_TOKEN", settings.refresh_token),
        )
        if not value
    ]
    if missing:
        raise ConfigError(
            f"Missing configuration: {', '.join(missing)}.",
            hint="Set them in the environment or a .env file (see README, 'Point it at your "
            "ALM account'), or use 'alm-batch validate FILE --offline' to check the file only.",
        )
