"""The XLSX report and failed-rows workbook: a styled sheet streamed through XlsxWriter.

XlsxWriter writes the workbook in ``constant_memory`` mode: each row goes to a temporary file
as soon as the next one starts, so memory stays flat whatever the row count. Those files live
in a temporary folder of this sink's own, removed on close or discard; the finished workbook
is written as ``<name>.part`` beside its final name and moved into place only when complete.

How cells are typed and made safe is ``xlsx_cells``'; the report's Summary sheet, its native
charts and the Edits sheet are ``xlsx_summary``'s. The sheet itself: column widths fitted on
the header and the first ``WIDTH_SAMPLE`` rows, the header row (and the report's row-number
column) frozen, an auto filter over the table, and the status cell coloured by severity
(Excel's own Good / Neutral / Bad colours). The status cell always says the status in words,
so colour is never the only signal.
"""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import xlsxwriter

from batch.models import RowResult, RowStatus, RunSummary
from batch.reporting.layout import Cell, CellKind, TypedCell, severity, typed
from batch.reporting.text import part_path
from batch.reporting.xlsx_cells import (
    EXCEL_MAX_CHARS,
    EXCEL_MAX_ROWS,
    MAX_WIDTH,
    MESSAGE_MAX_WIDTH,
    OPTIONS,
    TRUNCATED,
    WIDTH_SAMPLE,
    Styles,
    clean_text,
    display_width,
    fitted_width,
    put,
    set_widths,
    sheet_title,
)
from batch.reporting.xlsx_summary import add_edits_sheet, add_summary_sheet

__all__ = ["EXCEL_MAX_CHARS", "TRUNCATED", "XlsxSink", "clean_text", "sheet_title"]

# Sheet XML past this size needs zip64 headers (the zip format's 4 GB limit applies to the
# uncompressed size; XML compresses well, so the zip itself stays far smaller).
_ZIP64_FROM = 2**31
# Rows that this run completes (live) or would complete (dry run), for the course chart.
_COMPLETING = frozenset({RowStatus.COMPLETED, RowStatus.WOULD_COMPLETE})


class XlsxSink:
    """Streams report rows into one XLSX file, moved into place only when complete.

    ``to_cells`` turns a result into its row; ``status_index`` is the column coloured by
    severity; ``frozen_columns`` columns stay visible when scrolling right (the row number);
    ``kinds`` types each column (None: every cell as ``to_cells`` gives it); ``wide_columns``
    may grow to ``MESSAGE_MAX_WIDTH``; ``with_summary`` adds the Summary sheet (and the Edits
    sheet when the summary lists edits); ``course_names`` (course id -> name) labels the
    Summary's course chart (``Fire Safety (course:12)``).
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
        self._with_summary = with_summary
        self._wide = set(wide_columns)
        self._typed = [(i, k) for i, k in enumerate(kinds or ()) if k is not CellKind.TEXT]
        self._course_names = dict(course_names or {})
        self._courses: Counter[str] = Counter()  # course -> rows completed (or to complete)
        self._course_ids: set[str] = set()
        self.rows = 0  # data rows written to the sheet
        self.rows_past_limit = 0  # data rows Excel's sheet could not hold
        self._widths = [0] * len(self._headers)
        self._tmp = tempfile.TemporaryDirectory(prefix="alm-batch-xlsx-")
        self.book = xlsxwriter.Workbook(str(self.part), {**OPTIONS, "tmpdir": self._tmp.name})
        self.styles = Styles(self.book)
        self.book.set_properties({"author": "alm-batch"})
        self._sheet = self.book.add_worksheet(sheet_title(title, "Report"))
        self._sheet.freeze_panes(1, frozen_columns)
        for col, header in enumerate(self._headers):
            put(self._sheet, self.styles, 0, col, header, self.styles.header)

    # -- streaming -----------------------------------------------------------------------------
    def write(self, result: RowResult) -> None:
        cells: list[TypedCell] = list(self._to_cells(result))
        for i, kind in self._typed:
            cells[i] = typed(kind, cells[i])
        if self._with_summary and result.course_id:
            if len(self._course_ids) <= 1000:  # bounded: the chart only needs "more than one"
                self._course_ids.add(result.course_id)
            if result.status in _COMPLETING:
                self._courses[result.course_id] += 1
        if self.rows + 1 >= EXCEL_MAX_ROWS:
            self.rows_past_limit += 1  # said on the Summary sheet; CSV and JSON have no limit
            return
        self.rows += 1
        if self.rows <= WIDTH_SAMPLE:
            for i, value in enumerate(cells[: len(self._widths)]):
                self._widths[i] = max(self._widths[i], display_width(value))
        status_fmt = self.styles.status[severity(result.status)]
        sheet, styles, row, status_at = self._sheet, self.styles, self.rows, self._status_index
        for col, value in enumerate(cells):
            put(sheet, styles, row, col, value, status_fmt if col == status_at else None)

    def _fit(self) -> None:
        set_widths(
            self._sheet,
            [
                fitted_width(
                    h, self._widths[i], MESSAGE_MAX_WIDTH if i in self._wide else MAX_WIDTH
                )
                for i, h in enumerate(self._headers)
            ],
        )

    def close(self, summary: RunSummary | None) -> Path:
        """Finish the sheet(s), save, and move the file into place."""
        try:
            self._fit()
            self._sheet.autofilter(0, 0, self.rows, max(len(self._headers), 1) - 1)
            if self._with_summary and summary is not None:
                add_summary_sheet(
                    self.book,
                    self.styles,
                    summary,
                    courses=self._courses,
                    several_courses=len(self._course_ids) > 1,
                    course_names=self._course_names,
                    rows_past_limit=self.rows_past_limit,
                )
                if summary.edits:
                    add_edits_sheet(self.book, self.styles, summary.edits)
            if _spooled_bytes(Path(self._tmp.name)) >= _ZIP64_FROM:
                self.book.use_zip64()
            self.book.close()
            os.replace(self.part, self.path)
        except BaseException:
            self.part.unlink(missing_ok=True)
            raise
        finally:
            self._tmp.cleanup()
        return self.path

    def discard(self) -> None:
        """Drop everything written so far (nothing reaches ``path``)."""
        self._tmp.cleanup()
        self.part.unlink(missing_ok=True)


def _spooled_bytes(folder: Path) -> int:
    """The size of the sheet data XlsxWriter has spooled so far (its temporary files)."""
    return sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
