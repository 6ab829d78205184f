"""The report writers through their one real entry point (``write_reports``), for tests that
want only the report or only the failed-rows file."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from batch.models import RowResult, RunSummary
from batch.reporting import write_reports


def write_report(
    results: Iterable[RowResult], *, columns: list[str], summary: RunSummary, path: Path, live: bool
) -> Path:
    """The report, through the real entry point (``write_reports``; an XLSX report gets an
    XLSX input, so the failed-rows file beside it is XLSX too)."""
    fmt = "xlsx" if path.suffix == ".xlsx" else "csv"
    return write_reports(
        results, columns=columns, summary=summary, input_path=path.with_name(f"hr.{fmt}"),
        input_format=fmt, explicit=path, live=live,
    ).report  # fmt: skip


def write_failed_rows(
    results: Iterable[RowResult],
    *,
    columns: list[str],
    input_path: Path,
    input_format: str,
    report_path: Path,
    sheet: str | None = None,
) -> Path | None:
    """The failed-rows file, through the real entry point (``write_reports``, which also writes
    the report at ``report_path``)."""
    summary = RunSummary(
        run_id="r1",
        command="run",
        dry_run=True,
        input_path=str(input_path),
        input_sha256="ab",
        alm_host="https://learningmanager.adobe.com",
        started_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    return write_reports(
        results, columns=columns, summary=summary, input_path=input_path,
        input_format=input_format, explicit=report_path, live=False, sheet=sheet,
    ).failed  # fmt: skip
