"""The report workbook's Summary sheet with its native charts, and the Edits sheet.

The Summary sheet lists the run (``summary.summary_rows``: file, host, times, rows per status,
writes, calls, exit code, options, files) with the labels in bold. Its native bar charts, drawn
by Excel and LibreOffice alike, point at its own cells:

- "Rows per status": one bar per status of ``RowStatus`` (zeros included, so a new status
  appears by itself), coloured by severity like the status cells, each bar labelled with its
  count;
- when the rows name more than one course, "Top courses by rows completed" (or "that would
  complete" for a dry run): the ten courses with the most such rows, named when ALM's names
  are known.

The Edits sheet lists what a person changed on the upload page before the run: one line per
edited cell or excluded row (row, column, old value, new value), header frozen, filter on.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

import xlsxwriter
from xlsxwriter.chart import Chart

from batch.models import RowStatus, RunSummary
from batch.reporting.edits import EDITS_HEADERS, EDITS_SHEET, edit_cells
from batch.reporting.layout import Severity, TypedCell, severity
from batch.reporting.summary import summary_rows
from batch.reporting.xlsx_cells import (
    EXCEL_MAX_ROWS,
    MAX_WIDTH,
    WIDTH_SAMPLE,
    Styles,
    clean_text,
    display_width,
    fitted_width,
    put,
    set_widths,
)

__all__ = ["BAR_COLOURS", "COURSE_BAR", "SUMMARY_SHEET", "add_edits_sheet", "add_summary_sheet"]

SUMMARY_SHEET = "Summary"
SUMMARY_WIDTHS = [24, 70]
# Bar colours in the charts: the mid tones of Excel's green-amber-red colour scale.
BAR_COLOURS: dict[Severity, str] = {
    Severity.OK: "63BE7B",
    Severity.WARNING: "FFC000",
    Severity.ERROR: "F8696B",
}
BAR_BORDER = "808080"
COURSE_BAR = "5B9BD5"
TOP_COURSES = 10
# Chart sizes in pixels: eight default columns wide (64 px each), rows of 20 px.
CHART_WIDTH = 8 * 64
ROW_PIXELS = 20


def add_summary_sheet(
    book: xlsxwriter.Workbook,
    styles: Styles,
    summary: RunSummary,
    *,
    courses: Counter[str],
    several_courses: bool,
    course_names: Mapping[str, str],
    rows_past_limit: int = 0,
) -> None:
    """The Summary sheet, with its charts. ``courses`` counts the rows completed (or to
    complete) per course; the course chart is drawn when ``several_courses``. ``rows_past_limit``
    rows did not fit on the report sheet (Excel's row limit)."""
    rows = summary_rows(summary)
    if rows_past_limit:
        at = next((i + 1 for i, (label, _) in enumerate(rows) if label == "Rows"), len(rows))
        rows.insert(
            at,
            (
                f"Rows not on the Report sheet (past Excel's {EXCEL_MAX_ROWS - 1:,} rows: "
                "ask for a CSV or JSON report to see them)",
                rows_past_limit,
            ),
        )
    statuses = {s.value for s in RowStatus}
    status_rows = [i for i, (label, _) in enumerate(rows) if label in statuses]
    course_head = 0
    top = courses.most_common(TOP_COURSES)
    if several_courses and top:
        verb = "that would complete" if summary.dry_run else "completed"
        rows += [("", None), (f"Top courses by rows {verb}", None)]
        course_head = len(rows)
        rows += [(_course_label(course, course_names), n) for course, n in top]

    sheet = book.add_worksheet(SUMMARY_SHEET)
    set_widths(sheet, SUMMARY_WIDTHS)
    for r, (label, value) in enumerate(rows):
        if not label and value is None:
            continue  # a spacer row
        bold = value is None or not label.startswith(" ")
        put(sheet, styles, r, 0, label, styles.bold if bold else None)
        put(sheet, styles, r, 1, value, None)

    if status_rows:
        first, last = status_rows[0], status_rows[-1]
        colours = [BAR_COLOURS[severity(RowStatus(rows[i][0]))] for i in range(first, last + 1)]
        chart = _bar_chart(book, "Rows per status", rows, first, last, colours)
        chart.set_size({"width": CHART_WIDTH, "height": 21 * ROW_PIXELS})
        sheet.insert_chart(1, 2, chart)
    if course_head:
        first, last = course_head, len(rows) - 1
        title = str(rows[course_head - 1][0])
        chart = _bar_chart(book, title, rows, first, last, [COURSE_BAR] * (last - first + 1))
        height = max(12, 2 * (last - first) + 6) * ROW_PIXELS
        chart.set_size({"width": CHART_WIDTH, "height": height})
        sheet.insert_chart(24, 2, chart)


def _bar_chart(
    book: xlsxwriter.Workbook,
    title: str,
    rows: Sequence[tuple[str, object]],
    first: int,
    last: int,
    colours: Sequence[str],
) -> Chart:
    """A horizontal bar chart over the Summary's rows ``first``..``last`` (0-based): labels in
    column A, values in column B, first row at the top, one colour per bar, counts shown."""
    chart = book.add_chart({"type": "bar"})
    assert chart is not None
    labels = [clean_text(str(rows[i][0])) for i in range(first, last + 1)]
    values = [_count(rows[i][1]) for i in range(first, last + 1)]
    chart.add_series(
        {
            "name": "Rows",
            "categories": [SUMMARY_SHEET, first, 0, last, 0],
            "values": [SUMMARY_SHEET, first, 1, last, 1],
            # The values the chart shows until a spreadsheet recalculates it. In constant_memory
            # mode XlsxWriter cannot read rows it has written, so it is given them.
            "categories_data": labels,
            "values_data": values,
            "points": [
                {"fill": {"color": f"#{c}"}, "border": {"color": f"#{BAR_BORDER}"}} for c in colours
            ],
            "data_labels": {"value": True},
            "gap": 60,
        }
    )
    chart.set_title({"name": title, "name_font": {"bold": True}})
    chart.set_legend({"none": True})
    # A bar chart draws its first category at the bottom: reversed, with the value axis kept
    # at the bottom (it crosses the category axis at its last category).
    chart.set_y_axis({"reverse": True, "crossing": "max"})
    chart.set_x_axis({"num_format": "#,##0", "major_gridlines": {"visible": True}})
    return chart


def _count(value: object) -> int:
    return value if isinstance(value, int) else 0


def _course_label(course_id: str, names: Mapping[str, str]) -> str:
    name = names.get(course_id, "").strip()
    if len(name) > MAX_WIDTH:
        name = name[: MAX_WIDTH - 1] + "\u2026"
    return f"{name} ({course_id})" if name else course_id


def add_edits_sheet(
    book: xlsxwriter.Workbook, styles: Styles, edits: Sequence[Mapping[str, str]]
) -> None:
    """The Edits sheet: header frozen with the row column, widths fitted like the Report
    sheet's, an auto filter, the person's text typed as text (quote-prefixed where needed)."""
    lines: list[list[TypedCell]] = [list(edit_cells(edit)) for edit in edits]
    sheet = book.add_worksheet(EDITS_SHEET)
    sheet.freeze_panes(1, 1)
    set_widths(
        sheet,
        [
            fitted_width(
                header,
                max((display_width(line[i]) for line in lines[:WIDTH_SAMPLE]), default=0),
                MAX_WIDTH,
            )
            for i, header in enumerate(EDITS_HEADERS)
        ],
    )
    for col, header in enumerate(EDITS_HEADERS):
        put(sheet, styles, 0, col, header, styles.header)
    for r, line in enumerate(lines, start=1):
        for col, value in enumerate(line):
            put(sheet, styles, r, col, value, None)
    sheet.autofilter(0, 0, len(lines), len(EDITS_HEADERS) - 1)
