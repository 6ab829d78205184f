"""Reports people act on: every input row with what happened, why, and what to do next.

``write_reports`` is the one call a run needs: in one pass over the results it writes the report
(CSV, XLSX or JSON, from the file extension) and the failed-rows file (only the rows that did
not end well, in the input's own format and columns, ready to fix and run again). Rows stream
through: memory stays flat for any row count. Each file is written beside its final name and
moved into place only when complete, so an interrupted run never leaves half a report.

Columns (``layout.ReportLayout``): ``row`` (the spreadsheet row number), every original
column with its name and text exactly as read, then ``status``, ``message``, ``user_id``,
``course_id``, ``instance_id``, ``module_ids`` (joined with "; "), ``action`` and, for live
runs, ``attempts`` and ``posted_at``. An outcome column whose name the input already uses is
renamed ``<name> (alm-batch)``. The failed-rows file has the input's columns plus ``status``
and ``message`` (``layout.FailedLayout``).

Edits made on the upload page before the run (``summary.edits``) are listed by every format
when there are any (``edits``): an "Edits" sheet in the XLSX report, a top-level ``"edits"``
list in the JSON report, and ``<report stem>.edits.csv`` beside a CSV report.

Formula injection (``batch.formulas``, the one rule): CSV cells that a spreadsheet would run
get a leading ``'`` (in the failed-rows CSV in a form the reader takes back off when the file
is re-run, declared in its decisions sidecar); XLSX cells are typed text with Excel's
quote-prefix flag, their text unchanged; JSON is raw data for programs.

The report computes the summary's counts from the rows it wrote, so the summary and the rows
cannot disagree. Nothing here prints: the CLI prints what these functions return.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from itertools import count
from pathlib import Path

from batch.errors import ExitStatus, UsageError
from batch.models import RowResult, RowStatus, RunSummary
from batch.reading.carry import write_sidecar
from batch.reporting.edits import edits_path_for, write_edits_csv
from batch.reporting.layout import (
    FailedLayout,
    ReportLayout,
    failed_layout,
    neutralise,
    report_layout,
)
from batch.reporting.text import CsvSink, JsonSink, Sink, part_path
from batch.reporting.xlsx import XlsxSink

__all__ = [
    "REPORT_FORMATS",
    "ReportPaths",
    "failed_path_for",
    "neutralise",
    "report_format",
    "report_path_for",
    "write_reports",
]

REPORT_FORMATS: dict[str, str] = {".csv": "csv", ".xlsx": "xlsx", ".json": "json"}
INPUT_FORMATS = ("csv", "xlsx")


@dataclass(frozen=True, slots=True)
class ReportPaths:
    """Where ``write_reports`` wrote: the report, the failed-rows file when a row failed, and
    the edits sidecar when a CSV report had edits to list (XLSX and JSON reports carry them)."""

    report: Path
    failed: Path | None = None
    edits: Path | None = None

    def as_list(self) -> list[Path]:
        """The report first, then the failed-rows file, then the edits sidecar (those written)."""
        return [p for p in (self.report, self.failed, self.edits) if p is not None]


# -- paths ---------------------------------------------------------------------------------------
def report_format(path: Path) -> str:
    """``csv``, ``xlsx`` or ``json`` from ``path``'s extension (any case); UsageError otherwise."""
    fmt = REPORT_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise UsageError(
            f"--report {path}: cannot tell the report format from "
            f"'{path.suffix or '(no extension)'}'.",
            hint="Use a name ending in .csv, .xlsx or .json.",
        )
    return fmt


def _input_ext(input_format: str) -> str:
    fmt = input_format.lower().lstrip(".")
    if fmt not in INPUT_FORMATS:
        raise UsageError(f"Unknown input format '{input_format}': expected csv or xlsx.")
    return fmt


def failed_path_for(report_path: Path, input_format: str) -> Path:
    """``<name>.failed.<input ext>`` beside the report: ``x.report.csv`` -> ``x.failed.csv``.

    A timestamped report keeps its stamp (``x.report.20261126-141530.csv`` ->
    ``x.failed.20261126-141530.csv``) so the pair is easy to match; a report named freely
    (``--report out/results.json``) gets ``out/results.failed.<ext>``.
    """
    ext = _input_ext(input_format)
    base = report_path.name[: -len(report_path.suffix)] if report_path.suffix else report_path.name
    head, sep, tail = base.rpartition(".report")
    if sep and (tail == "" or tail.startswith(".")):
        base = f"{head}.failed{tail}"
    else:
        base = f"{base}.failed"
    return report_path.with_name(f"{base}.{ext}")


def report_path_for(
    input_path: Path,
    input_format: str,
    explicit: Path | None = None,
    *,
    now: datetime | None = None,
) -> Path:
    """Where the report goes: ``explicit`` (``--report``) if given, else beside the input.

    The default is ``<dir>/<stem>.report.<csv|xlsx>`` in the input's own format. It never
    overwrites an earlier report (or its failed-rows file): when either exists, a local-time
    stamp is added (``<stem>.report.20261126-141530.csv``, then ``-2``, ``-3``... within the
    same second). An explicit path is the user's choice and may replace an older file, but it
    may not be the input itself, a folder, or in a folder that does not exist.
    """
    if explicit is not None:
        report_format(explicit)
        if explicit.exists() and explicit.resolve() == input_path.resolve():
            raise UsageError(
                f"--report {explicit} is the input file itself.", hint="Choose another name."
            )
        if explicit.is_dir():
            raise UsageError(f"--report {explicit} is a folder.", hint="Give a file name.")
        if not explicit.parent.is_dir():
            raise UsageError(
                f"--report {explicit}: the folder {explicit.parent} does not exist.",
                hint="Create it first or choose another path.",
            )
        return explicit
    ext = _input_ext(input_format)

    def free(candidate: Path) -> bool:
        return not candidate.exists() and not failed_path_for(candidate, ext).exists()

    candidate = input_path.with_name(f"{input_path.stem}.report.{ext}")
    if free(candidate):
        return candidate
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    for n in count(1):
        suffix = stamp if n == 1 else f"{stamp}-{n}"
        candidate = input_path.with_name(f"{input_path.stem}.report.{suffix}.{ext}")
        if free(candidate):
            return candidate
    raise AssertionError("unreachable")  # pragma: no cover


def _report_sink(
    path: Path, layout: ReportLayout, course_names: Mapping[str, str] | None = None
) -> Sink:
    fmt = report_format(path)
    if fmt == "csv":
        return CsvSink(path, layout.headers, layout.cells)
    if fmt == "json":
        return JsonSink(path, layout.original, live=layout.live)
    return XlsxSink(
        path,
        layout.headers,
        layout.cells,
        status_index=layout.status_index,
        title="Report",
        frozen_columns=1,
        wide_columns=(layout.status_index + 1,),
        kinds=layout.kinds,
        course_names=course_names,
    )


def _failed_sink(path: Path, input_format: str, layout: FailedLayout, sheet: str | None) -> Sink:
    if _input_ext(input_format) == "csv":
        # Read back when re-run: the reader takes these quotes off again (``reading.carry``).
        return CsvSink(path, layout.headers, layout.cells, reversible=True)
    return XlsxSink(
        path,
        layout.headers,
        layout.cells,
        status_index=layout.status_index,
        title=sheet or "Failed rows",
        with_summary=False,
        wide_columns=(layout.message_at,),
    )


# -- accounting ------------------------------------------------------------------------------------
class _Tally:
    """Counts what was written, so the summary describes exactly the rows in the report."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.rows = 0
        self.failed = 0
        self.need_person = 0  # failed rows that a re-run alone cannot fix

    def add(self, result: RowResult) -> None:
        self.rows += 1
        self.counts[result.status.value] += 1
        if not result.status.ok:
            self.failed += 1
            self.need_person += result.needs_person

    def fill(self, summary: RunSummary, paths: Iterable[Path]) -> None:
        """Counts, rows, end time (if unset), report paths and exit 1 when rows failed.

        The exit status is only raised from 0 to 1: an abort (3) or interrupt (130) set by
        the caller stays.
        """
        summary.counts = {s.value: self.counts[s.value] for s in RowStatus if self.counts[s.value]}
        summary.rows = self.rows
        if summary.ended_at is None:
            summary.ended_at = datetime.now(summary.started_at.tzinfo)
        # Absolute: a scheduler or a cron mail reads them away from the working directory.
        summary.report_paths = [str(p.absolute()) for p in paths]
        if self.failed and summary.exit_status == ExitStatus.OK:
            # the same rule as ``batch.models.exit_status_for``: 1 when a row needs a person,
            # 4 when only retryable failures remain
            summary.exit_status = int(
                ExitStatus.ROWS_FAILED if self.need_person else ExitStatus.RETRYABLE
            )


def _discard_all(*sinks: Sink) -> None:
    for sink in sinks:
        try:
            sink.discard()
        except Exception:  # noqa: BLE001 - clean-up must not hide the original error
            pass


# -- public API ------------------------------------------------------------------------------------
def write_reports(
    results: Iterable[RowResult],
    *,
    columns: list[str],
    summary: RunSummary,
    input_path: Path,
    input_format: str,
    explicit: Path | None,
    live: bool,
    sheet: str | None = None,
    course_names: Mapping[str, str] | None = None,
) -> ReportPaths:
    """Write the report and the failed-rows file in one pass over ``results`` (input order).

    Fills ``summary.counts``, ``summary.rows``, ``summary.report_paths``, ``summary.ended_at``
    (when unset) and raises ``summary.exit_status`` from 0 to 1 when a row needs a person (to 4
    when only retryable failures remain, as ``batch.models.exit_status_for``). ``sheet``
    names the failed-rows XLSX sheet (pass ``--sheet`` so the same command re-runs it).
    ``course_names`` (course id -> name, optional) labels the XLSX Summary's course chart.
    If ``results`` raises, no file is left behind and the error propagates: a caller that
    stops early (Ctrl-C) should still yield every row, e.g. unsent ones as ``unknown``.
    """
    report = report_path_for(input_path, input_format, explicit)
    failed = _not_the_input(failed_path_for(report, input_format), input_path)
    report_sink = _report_sink(report, report_layout(columns, live=live), course_names)
    failed_sink = _failed_sink(failed, input_format, failed_layout(columns), sheet)
    # One flat CSV table cannot hold the edits: they go in a sidecar, moved into place with
    # the report (the other formats carry them inside).
    edits: Path | None = None
    if summary.edits and report_format(report) == "csv":
        edits = _not_the_input(edits_path_for(report), input_path)
    tally = _Tally()
    try:
        for result in results:
            report_sink.write(result)
            tally.add(result)
            if not result.status.ok:
                failed_sink.write(result)
        if tally.failed:
            failed_sink.close(None)
            write_sidecar(  # the decisions travel, and the CSV's quotes are declared
                failed,
                input_path,
                failed_layout(columns).extra,
                neutralised=_input_ext(input_format) == "csv",
            )
        else:
            failed_sink.discard()
        if edits is not None:
            write_edits_csv(part_path(edits), summary.edits)
        paths = ReportPaths(report, failed if tally.failed else None, edits)
        tally.fill(summary, paths.as_list())
        report_sink.close(summary)
        if edits is not None:
            os.replace(part_path(edits), edits)
    except BaseException:
        _discard_all(report_sink, failed_sink)
        if edits is not None:
            part_path(edits).unlink(missing_ok=True)
        raise
    return paths


def _not_the_input(path: Path, input_path: Path) -> Path:
    """``path``, unless it would replace the input (re-running ``x.failed.csv`` with
    ``--report x.csv``): then a stamped name beside it."""
    if path.exists() and path.resolve() == input_path.resolve():
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        return path.with_name(f"{path.stem}.{stamp}{path.suffix}")
    return path
