"""The XLSX writer: a styled, streaming report sheet (plus a Summary sheet) in constant memory.

Rows are turned into worksheet XML by ``xlsx_stream`` (a small writer of our own: openpyxl's
write-only mode spent ~75% of a 100,000-row report serialising cells one element at a time)
and go straight to a temporary file, so memory stays flat whatever the row count. The format
shapes this module: column widths and the frozen pane come before the first row, so the first
``WIDTH_SAMPLE`` rows are buffered to fit the widths, then everything streams. ``close`` zips
the sheet(s) with the workbook parts into ``<name>.part`` and moves it into place.

Every text cell is written as text, never as a formula or an error cell (``=...``, ``#N/A``).
Cells a spreadsheet could read as a formula also carry Excel's quote-prefix flag (see
``layout.neutralise``). The tool's own dates and numbers (``layout.OUTCOME_KINDS``: the
completion date and posting time, the score, the attempts) are real dates and numbers; echoed
original cells stay text exactly as read.

When a person edited or excluded rows on the upload page before the run, an "Edits" sheet
lists them (row, column, old value, new value), after the Summary.

The Summary sheet carries native bar charts (``xlsx_chart``): rows per status, coloured by
severity, and, when the rows name more than one course, the top courses by rows completed.
"""

from __future__ import annotations

import io
import os
import re
import tempfile
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO

from openpyxl.utils import get_column_letter

from batch.models import RowResult, RowStatus, RunSummary
from batch.reporting.edits import EDITS_HEADERS, EDITS_SHEET, edit_cells
from batch.reporting.layout import Cell, CellKind, Severity, TypedCell, severity, typed
from batch.reporting.summary import summary_rows
from batch.reporting.text import part_path
from batch.reporting.xlsx_chart import Anchor, BarChart, chart_parts
from batch.reporting.xlsx_stream import (
    BOLD,
    EXCEL_MAX_CHARS,
    HEADER,
    PLAIN,
    STATUS_BASE,
    TRUNCATED,
    Part,
    SheetWriter,
    clean_text,
    styles_xml,
    write_package,
)

__all__ = ["EXCEL_MAX_CHARS", "TRUNCATED", "XlsxSink", "clean_text", "sheet_title"]

WIDTH_SAMPLE = 200  # rows buffered to estimate column widths
MIN_WIDTH = 6
MAX_WIDTH = 60
MESSAGE_MAX_WIDTH = 90
SUMMARY_WIDTHS = (24, 70)

# Excel's own "Good", "Neutral" and "Bad" cell styles: the colours people already read.
STATUS_STYLES: dict[Severity, tuple[str, str]] = {
    Severity.OK: ("C6EFCE", "006100"),
    Severity.WARNING: ("FFEB9C", "9C5700"),
    Severity.ERROR: ("FFC7CE", "9C0006"),
}
HEADER_FILL = "D9D9D9"
# Bar colours in the charts: the mid tones of Excel's green-amber-red colour scale.
BAR_COLOURS: dict[Severity, str] = {
    Severity.OK: "63BE7B",
    Severity.WARNING: "FFC000",
    Severity.ERROR: "F8696B",
}
COURSE_BAR = "5B9BD5"
TOP_COURSES = 10
# Rows that this run completes (live) or would complete (dry run), for the course chart.
_COMPLETING = frozenset({RowStatus.COMPLETED, RowStatus.WOULD_COMPLETE})
_STATUS_STYLE_ID = {sev: STATUS_BASE + i for i, sev in enumerate(STATUS_STYLES)}
_STYLES = styles_xml(HEADER_FILL, list(STATUS_STYLES.values()))
_SHEET_TITLE_BAD = re.compile(r"[\[\]:*?/\\]")


def sheet_title(name: str | None, default: str) -> str:
    """A valid Excel sheet name (31 characters, none of ``[]:*?/\\``) from ``name``."""
    cleaned = _SHEET_TITLE_BAD.sub(" ", name or "").strip().strip("'")[:31].strip()
    return cleaned or default


def _count(value: object) -> int:
    return value if isinstance(value, int) else 0


def _display_width(value: TypedCell | None) -> int:
    if value is None:
        return 0
    text = str(value)
    return max((len(line) for line in text.splitlines()), default=0)


class XlsxSink:
    """Streams report rows into one XLSX file, moved into place only when complete.

    ``to_cells`` turns a result into its row; ``status_index`` is the column coloured by
    severity; ``frozen_columns`` columns stay visible when scrolling right (the row number);
    ``kinds`` types each column (None: every cell as ``to_cells`` gives it); ``course_names``
    (course id -> name) labels the Summary's course chart (``Fire Safety (course:12)``).
    """

    def __init__(
        self,
        path: Path,
        headers: Sequence[str],
        to_cells: Callable[[RowResult], list[Cell]],
        *,
        status_index: int,
        title: str,
        frozen_columns: int = 0,
        with_summary: bool = True,
        wide_columns: Sequence[int] = (),
        kinds: Sequence[CellKind] | None = None,
        course_names: Mapping[str, str] | None = None,
    ) -> None:
        self.path = path
        self.part = part_path(path)
        self._headers = list(headers)
        self._to_cells = to_cells
        self._status_index = status_index
        self._frozen = frozen_columns
        self._with_summary = with_summary
        self._wide = set(wide_columns)
        self._title = sheet_title(title, "Report")
        # The sheet XML, UTF-8, in an anonymous temporary file (gone on close, even on a crash).
        self._file = tempfile.TemporaryFile()  # noqa: SIM115 - closed in close()/discard()
        self._text = io.TextIOWrapper(self._file, encoding="utf-8", newline="")
        self._sheet = SheetWriter(self._text)
        self._typed = [(i, k) for i, k in enumerate(kinds or ()) if k is not CellKind.TEXT]
        self._course_names = dict(course_names or {})
        self._courses: Counter[str] = Counter()  # course -> rows completed (or to complete)
        self._course_ids: set[str] = set()
        self._pending: list[list[TypedCell]] | None = []
        self._statuses: list[Severity] = []
        self._rows = 0
        # Per severity, the style of every column: plain, except the coloured status cell.
        self._row_styles = {
            sev: [
                style if i == status_index else PLAIN
                for i in range(max(len(self._headers), status_index + 1))
            ]
            for sev, style in _STATUS_STYLE_ID.items()
        }

    # -- streaming -----------------------------------------------------------------------------
    def write(self, result: RowResult) -> None:
        cells: list[TypedCell] = list(self._to_cells(result))
        for i, kind in self._typed:
            cells[i] = typed(kind, cells[i])
        if self._with_summary and result.course_id:
            if len(self._course_ids) <= TOP_COURSES * 100:  # bounded: only "more than one"
                self._course_ids.add(result.course_id)
            if result.status in _COMPLETING:
                self._courses[result.course_id] += 1
        self._rows += 1
        if self._pending is not None:
            self._pending.append(cells)
            self._statuses.append(severity(result.status))
            if len(self._pending) >= WIDTH_SAMPLE:
                self._start()
            return
        self._sheet.row(cells, self._row_styles[severity(result.status)])

    def _start(self) -> None:
        """Fit widths on the header and the buffered rows, freeze, then flush the buffer."""
        pending = self._pending or []
        widths = []
        for i, header in enumerate(self._headers):
            sample = max((_display_width(r[i]) for r in pending), default=0)
            cap = MESSAGE_MAX_WIDTH if i in self._wide else MAX_WIDTH
            widths.append(min(max(len(header) + 3, sample + 2, MIN_WIDTH), cap))
        self._sheet.begin(widths, frozen_columns=self._frozen, freeze=True)
        self._sheet.row(self._headers, [HEADER] * len(self._headers))
        for cells, sev in zip(pending, self._statuses, strict=True):
            self._sheet.row(cells, self._row_styles[sev])
        self._pending = None
        self._statuses = []

    def _summary_sheet(
        self, summary: RunSummary, sheet_number: int
    ) -> tuple[io.BytesIO, list[Part]]:
        """The Summary sheet (a few dozen rows, so built in memory): labels bold but options;
        then its charts, which point at its rows per status (and top courses)."""
        rows = summary_rows(summary)
        statuses = {s.value for s in RowStatus}
        status_rows = [i for i, (label, _) in enumerate(rows, start=1) if label in statuses]
        course_head = 0
        top = self._courses.most_common(TOP_COURSES)
        if len(self._course_ids) > 1 and top:
            title = (
                "Top courses by rows that would complete"
                if summary.dry_run
                else "Top courses by rows completed"
            )
            rows = [*rows, ("", None), (title, None)]
            course_head = len(rows)
            rows += [(self._course_label(course), n) for course, n in top]
        out = io.StringIO()
        sheet = SheetWriter(out)
        sheet.begin(SUMMARY_WIDTHS, frozen_columns=0, freeze=False)
        for label, value in rows:
            if not label and value is None:
                sheet.skip()
                continue
            bold = value is None or not label.startswith(" ")
            sheet.row([label, value], [BOLD if bold else PLAIN, PLAIN])
        charts = self._charts(summary, rows, status_rows, course_head)
        sheet.end(drawing="rId1" if charts else None)
        parts = chart_parts(sheet_number, charts) if charts else []
        return io.BytesIO(out.getvalue().encode("utf-8")), parts

    @staticmethod
    def _edits_sheet(edits: Sequence[Mapping[str, str]]) -> tuple[io.BytesIO, str]:
        """The Edits sheet (built in memory: one line per edited cell or excluded row) and its
        auto filter range: header row frozen with the row column, widths fitted like the
        Report sheet's, echoed text typed as text with the quote-prefix flag where needed."""
        lines: list[list[TypedCell]] = [list(edit_cells(edit)) for edit in edits]
        widths = []
        for i, header in enumerate(EDITS_HEADERS):
            sample = max((_display_width(line[i]) for line in lines[:WIDTH_SAMPLE]), default=0)
            widths.append(min(max(len(header) + 3, sample + 2, MIN_WIDTH), MAX_WIDTH))
        out = io.StringIO()
        sheet = SheetWriter(out)
        sheet.begin(widths, frozen_columns=1, freeze=True)
        sheet.row(EDITS_HEADERS, [HEADER] * len(EDITS_HEADERS))
        for line in lines:
            sheet.row(line)
        ref = f"A1:{get_column_letter(len(EDITS_HEADERS))}{len(lines) + 1}"
        sheet.end(ref)
        return io.BytesIO(out.getvalue().encode("utf-8")), ref

    def _course_label(self, course_id: str) -> str:
        name = self._course_names.get(course_id, "").strip()
        if len(name) > MAX_WIDTH:
            name = name[: MAX_WIDTH - 1] + "\u2026"
        return f"{name} ({course_id})" if name else course_id

    @staticmethod
    def _charts(
        summary: RunSummary,
        rows: Sequence[tuple[str, object]],
        status_rows: Sequence[int],
        course_head: int,
    ) -> list[tuple[BarChart, Anchor]]:
        """Rows per status (one bar per status, coloured by severity) beside the summary, and
        the top courses under it when there is more than one course."""
        charts: list[tuple[BarChart, Anchor]] = []
        if status_rows:
            first, last = status_rows[0], status_rows[-1]
            labels = [str(rows[i - 1][0]) for i in range(first, last + 1)]
            charts.append(
                (
                    BarChart(
                        title="Rows per status",
                        sheet="Summary",
                        first=first,
                        last=last,
                        labels=labels,
                        values=[_count(rows[i - 1][1]) for i in range(first, last + 1)],
                        colours=[BAR_COLOURS[severity(RowStatus(s))] for s in labels],
                    ),
                    Anchor(col=2, row=1, to_col=10, to_row=22),
                )
            )
        if course_head:
            first, last = course_head + 1, len(rows)
            charts.append(
                (
                    BarChart(
                        title=str(rows[course_head - 1][0]),
                        sheet="Summary",
                        first=first,
                        last=last,
                        labels=[str(rows[i - 1][0]) for i in range(first, last + 1)],
                        values=[_count(rows[i - 1][1]) for i in range(first, last + 1)],
                        colours=[COURSE_BAR] * (last - first + 1),
                    ),
                    Anchor(col=2, row=24, to_col=10, to_row=24 + max(12, 2 * (last - first) + 6)),
                )
            )
        return charts

    def close(self, summary: RunSummary | None) -> Path:
        """Finish the sheet(s), save, and move the file into place."""
        try:
            if self._pending is not None:
                self._start()
            last = get_column_letter(max(len(self._headers), 1))
            ref = f"A1:{last}{self._rows + 1}"
            self._sheet.end(ref)
            self._text.flush()
            sheets: list[tuple[str, IO[bytes]]] = [(self._title, self._file)]
            extras: list[Part] = []
            filters: dict[int, str] = {}
            if self._with_summary and summary is not None:
                summary_sheet, extras = self._summary_sheet(summary, len(sheets) + 1)
                sheets.append(("Summary", summary_sheet))
                if summary.edits:
                    edits_sheet, edits_ref = self._edits_sheet(summary.edits)
                    filters[len(sheets)] = edits_ref
                    sheets.append((EDITS_SHEET, edits_sheet))
            with open(self.part, "wb") as dest:
                write_package(
                    dest, sheets, styles=_STYLES, filter_ref=ref, extras=extras, filters=filters
                )
            os.replace(self.part, self.path)
        except BaseException:
            self.part.unlink(missing_ok=True)
            raise
        finally:
            self._text.close()
        return self.path

    def discard(self) -> None:
        """Drop everything written so far (nothing reaches ``path``)."""
        self._pending = None
        self._text.close()  # closes and deletes the temporary sheet file
        self.part.unlink(missing_ok=True)
