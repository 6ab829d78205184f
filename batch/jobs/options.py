"""What a job is asked to do (``JobOptions``) and what it ends with (``JobOutcome``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from batch.errors import BatchError, ExitStatus
from batch.models import RowResult, RunSummary


@dataclass
class JobOptions:
    """Every option of ``run`` / ``validate`` (the CLI's flags; the page's form fields)."""

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
    give_up_after: float = 600.0
    allow_empty: bool = False  # a header with no data rows: "nothing to do", exit 0
    command: str = "run"
    # Fix in place (the page): spreadsheet row -> {original header: new value}, and rows left
    # out. The file itself is never changed; the report lists every edit.
    edits: dict[int, dict[str, str]] = field(default_factory=dict)
    exclude: frozenset[int] = frozenset()
    keep_results: bool = False  # hold every RowResult in memory (the page pages through them)

    def public(self) -> dict[str, Any]:
        """The options as shown in the report's summary (no secrets live here)."""
        hidden = {"path", "edits", "exclude", "keep_results"}
        out: dict[str, Any] = {}
        for key, value in self.__dict__.items():
            if key in hidden or value in (None, False, {}, "", frozenset()):
                continue
            out[key] = str(value) if isinstance(value, Path) else value
        return out


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"  # a run-level error before anything was written (``Job.error``)
    CANCELLED = "cancelled"  # cancelled, interrupted, or the confirmation was declined


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
    results: list[RowResult] = field(default_factory=list)  # only with keep_results
