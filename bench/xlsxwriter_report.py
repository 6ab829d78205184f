"""The same XLSX report written by XlsxWriter in ``constant_memory`` mode: the reference that
batch's own streaming writer (``batch.reporting.xlsx_stream``) is measured against (issue 10).

It writes what the production report has: the Report sheet (header style, frozen header row
and row-number column, widths fitted on the first 200 rows, auto filter, status cells coloured
by severity, every text cell as text, the tool's dates and numbers typed) and the Summary sheet
with its bar chart of rows per status. Used only by ``bench.bench_report``; XlsxWriter is a
test/bench dependency, not a runtime one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import xlsxwriter

from batch.models import RowResult, RowStatus, RunSummary
from batch.reporting.layout import CellKind, ReportLayout, TypedCell, severity, typed
from batch.reporting.summary import summary_rows
from batch.reporting.xlsx import BAR_COLOURS, STATUS_STYLES, WIDTH_SAMPLE
from batch.reporting.xlsx_stream import DATETIME_FORMAT, clean_text

OPTIONS = {
    "constant_memory": True,
    "strings_to_numbers": False,
    "strings_to_formulas": False,
    "strings_to_urls": False,
}


def write(
    path: Path, results: Iterable[RowResult], layout: ReportLayout, summary: RunSummary
) -> int:
    """Write the report of ``results`` to ``path``; returns the rows written."""
    wb = xlsxwriter.Workbook(str(path), OPTIONS)
    header = wb.add_format({"bold": True, "bg_color": "#D9D9D9"})
    status_fmt = {
        sev: wb.add_format({"bg_color": f"#{bg}", "font_color": f"#{fg}"})
        for sev, (bg, fg) in STATUS_STYLES.items()
    }
    date_fmt = wb.add_format({"num_format": DATETIME_FORMAT})
    bold = wb.add_format({"bold": True})
    ws = wb.add_worksheet("Report")
    ws.freeze_panes(1, 1)
    headers = layout.headers
    si = layout.status_index
    typed_cols = [(i, k) for i, k in enumerate(layout.kinds) if k is not CellKind.TEXT]
    pending: list[tuple[list[TypedCell], RowStatus]] = []
    rows = 0

    def emit(r: int, cells: Sequence[TypedCell], status: RowStatus) -> None:
        for c, value in enumerate(cells):
            if value == "" or value is None:
                continue
            if c == si:
                ws.write_string(r, c, str(value), status_fmt[severity(status)])
            elif isinstance(value, str):
                ws.write_string(r, c, clean_text(value))
            elif isinstance(value, int | float):
                ws.write_number(r, c, value)
            else:
                ws.write_datetime(r, c, value, date_fmt)

    def start() -> None:
        for c, name in enumerate(headers):
            sample = max((len(str(p[0][c])) for p in pending), default=0)
            ws.set_column(c, c, min(max(len(name) + 3, sample + 2, 6), 60))
        ws.write_row(0, 0, headers, header)
        for r, (cells, status) in enumerate(pending, start=1):
            emit(r, cells, status)

    for result in results:
        cells: list[TypedCell] = list(layout.cells(result))
        for i, kind in typed_cols:
            cells[i] = typed(kind, cells[i])
        rows += 1
        if rows <= WIDTH_SAMPLE:
            pending.append((cells, result.status))
            if rows == WIDTH_SAMPLE:
                start()
            continue
        emit(rows, cells, result.status)
    if rows < WIDTH_SAMPLE:
        start()
    ws.autofilter(0, 0, rows, len(headers) - 1)

    sheet = wb.add_worksheet("Summary")
    sheet.set_column(0, 0, 24)
    sheet.set_column(1, 1, 70)
    statuses = {s.value for s in RowStatus}
    status_rows: list[int] = []
    for r, (label, value) in enumerate(summary_rows(summary)):
        if not label and value is None:
            continue
        sheet.write_string(
            r, 0, label, bold if value is None or not label.startswith(" ") else None
        )
        if isinstance(value, str):
            sheet.write_string(r, 1, value)
        elif value is not None:
            sheet.write_number(r, 1, value)
        if label in statuses:
            status_rows.append(r)
    if status_rows:
        first, last = status_rows[0], status_rows[-1]
        chart = wb.add_chart({"type": "bar"})
        labels = [s.value for s in RowStatus][: last - first + 1]
        chart.add_series(
            {
                "name": "Rows",
                "categories": ["Summary", first, 0, last, 0],
                "values": ["Summary", first, 1, last, 1],
                "points": [
                    {"fill": {"color": f"#{BAR_COLOURS[severity(RowStatus(s))]}"}} for s in labels
                ],
                "data_labels": {"value": True},
            }
        )
        chart.set_title({"name": "Rows per status"})
        chart.set_legend({"none": True})
        chart.set_y_axis({"reverse": True})
        sheet.insert_chart(1, 2, chart)
    wb.close()
    return rows
