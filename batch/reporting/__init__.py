"""Reports people act on, and the run summary as people and schedulers see it.

The public API: ``write_reports`` (the report and the failed-rows file in one pass),
the report path rules, and the summary formatters the front ends print. Modules:
``writers`` (paths, the one-pass writer), ``layout`` (columns and cells; the formula rule is
``batch.formulas``), ``text`` (CSV and JSON), ``xlsx`` (the styled XLSX sheet, through
XlsxWriter), ``xlsx_cells`` (typed cells and formats), ``xlsx_summary`` (the Summary sheet with
its charts, the Edits sheet), ``edits`` and ``summary`` (pure formatting).
"""

from __future__ import annotations

from batch.reporting.summary import format_plan, format_summary, human_duration, summary_json
from batch.reporting.writers import (
    REPORT_FORMATS,
    ReportPaths,
    failed_path_for,
    report_format,
    report_path_for,
    write_reports,
)

__all__ = [
    "REPORT_FORMATS",
    "ReportPaths",
    "failed_path_for",
    "format_plan",
    "format_summary",
    "human_duration",
    "report_format",
    "report_path_for",
    "summary_json",
    "write_reports",
]
