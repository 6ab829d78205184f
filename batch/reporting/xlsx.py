"""The XLSX writer: a styled, streaming report sheet (plus a Summary sheet) in constant memory.

Rows are turned into worksheet XML by ``xlsx_stream`` (a small writer of our own: openpyxl's
write-only mode spent ~75% of a 100,000-row report serialising cells one element at a time)
and go straight to a temporary file, so memory stays flat whatever the row count. The format
shapes this module: column widths and the frozen pane come before the first row, so the first
``WIDTH_SAMPLE`` rows are buffered to fit the widths, then everything streams. ``close`` zips
the sheet(s) with the workbook parts into ``<name>.part`` and moves it into place.

Every text cell is written as text, never as a formula or an error cell (``=...``, ``#N/A``).
Cells a spreadsheet could read as a formula also carry Excel's quote-prefix flag (see
``layout.neutralise``).
"""

from __future__ import annotations

import io
import os
import re
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO

from openpyxl.utils import get_column_letter

from batch.models import RowResult, RunSummary
from batch.reporting.layout import Cell, Severity, severity
from batch.reporting.summary import summary_rows
from batch.reporting.text import part_path
from batch.reporting.xlsx_stream import (
    BOLD,
    EXCEL_MAX_CHARS,
    HEADER,
    PLAIN,
    STATUS_BASE,
    TRUNCATED,
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
_STATUS_STYLE_ID = {sev: STATUS_BASE + i for i, sev in enumerate(STATUS_STYLES)}
_STYLES = styles_xml(HEADER_FILL, list(STATUS_STYLES.values()))
_SHEET_TITLE_BAD = re.compile(r"[\[\]:*?/\\]")


def sheet_title(name: str | None, default: str) -> str:
    """A valid Excel sheet name (31 characters, none of ``[]:*?/\\``) from ``name``."""
    cleaned = _SHEET_TITLE_BAD.sub(" ", name or "").strip().strip("'")[:31].strip()
    return cleaned or default


def _display_width(value: Cell | None) -> int:
    if value is None:
        return 0
    text = str(value)
    return max((len(line) for line in text.splitlines()), default=0)


class XlsxSink:
    """Streams report rows into one XLSX file, moved into place only when complete.

    ``to_cells`` turns a result into its row; ``status_index`` is the column coloured by
    severity; ``frozen_columns`` columns stay visible when scrolling right (the row number).
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
        self._pending: list[list[Cell]] | None = []
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
        cells = self._to_cells(result)
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

    def _summary_sheet(self, summary: RunSummary) -> io.BytesIO:
        """The Summary sheet (a few dozen rows, so built in memory): labels bold but options."""
        out = io.StringIO()
        sheet = SheetWriter(out)
        sheet.begin(SUMMARY_WIDTHS, frozen_columns=0, freeze=False)
        for label, value in summary_rows(summary):
            if not label and value is None:
                sheet.skip()
                continue
            bold = value is None or not label.startswith(" ")
            sheet.row([label, value], [BOLD if bold else PLAIN, PLAIN])
        sheet.end()
        return io.BytesIO(out.getvalue().encode("utf-8"))

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
            if self._with_summary and summary is not None:
                sheets.append(("Summary", self._summary_sheet(summary)))
            with open(self.part, "wb") as dest:
                write_package(dest, sheets, styles=_STYLES, filter_ref=ref)
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
