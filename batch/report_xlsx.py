"""The XLSX writer: a styled, streaming report sheet (plus a Summary sheet) in constant memory.

openpyxl's write-only mode streams rows to a temporary file, so memory stays flat whatever the
row count. Its one constraint shapes this module: column widths and the frozen pane are written
before the first row, so the first ``WIDTH_SAMPLE`` rows are buffered to fit the widths, then
everything streams.

Every text cell is written as text, never as a formula: openpyxl would otherwise turn a string
starting with ``=`` into a formula and ``#N/A`` into an error cell. Cells a spreadsheet could
read as a formula also carry Excel's quote-prefix flag (see ``report_layout.neutralise``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ERROR_CODES, ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from batch.models import RowResult, RunSummary
from batch.report_layout import Cell, Severity, needs_neutralising, severity
from batch.report_text import part_path
from batch.summary import summary_rows

WIDTH_SAMPLE = 200  # rows buffered to estimate column widths
MIN_WIDTH = 6
MAX_WIDTH = 60
MESSAGE_MAX_WIDTH = 90
EXCEL_MAX_CHARS = 32767  # Excel refuses longer cells
TRUNCATED = " [truncated]"

# Excel's own "Good", "Neutral" and "Bad" cell styles: the colours people already read.
STATUS_STYLES: dict[Severity, tuple[str, str]] = {
    Severity.OK: ("C6EFCE", "006100"),
    Severity.WARNING: ("FFEB9C", "9C5700"),
    Severity.ERROR: ("FFC7CE", "9C0006"),
}
HEADER_FILL = "D9D9D9"
_SHEET_TITLE_BAD = re.compile(r"[\[\]:*?/\\]")


def sheet_title(name: str | None, default: str) -> str:
    """A valid Excel sheet name (31 characters, none of ``[]:*?/\\``) from ``name``."""
    cleaned = _SHEET_TITLE_BAD.sub(" ", name or "").strip().strip("'")[:31].strip()
    return cleaned or default


def clean_text(value: str) -> str:
    """Text Excel accepts: control characters it refuses become U+FFFD, overlong cells are cut.

    Line ends become ``\n``, Excel's own line break inside a cell: XML would turn a raw CR
    into LF when the file is read anyway, so this makes the change deliberate and visible here.
    """
    if "\r" in value:
        value = value.replace("\r\n", "\n").replace("\r", "\n")
    if ILLEGAL_CHARACTERS_RE.search(value):
        value = ILLEGAL_CHARACTERS_RE.sub("\ufffd", value)
    if len(value) > EXCEL_MAX_CHARS:
        value = value[: EXCEL_MAX_CHARS - len(TRUNCATED)] + TRUNCATED
    return value


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
        self._wb = Workbook(write_only=True)
        self._ws = self._wb.create_sheet(sheet_title(title, "Report"))
        self._pending: list[list[Cell]] | None = []
        self._statuses: list[Severity] = []
        self._rows = 0
        self._header_font = Font(bold=True)
        self._header_fill = PatternFill("solid", fgColor=HEADER_FILL)
        self._fills = {s: PatternFill("solid", fgColor=bg) for s, (bg, _) in STATUS_STYLES.items()}
        self._fonts = {s: Font(color=fg) for s, (_, fg) in STATUS_STYLES.items()}
        self._top = Alignment(vertical="top")

    # -- cells ---------------------------------------------------------------------------------
    def _text_cell(self, ws: Any, value: str) -> Any:
        """``value`` as a text cell: a plain str unless openpyxl would read it as something else."""
        value = clean_text(value)
        if needs_neutralising(value) or value in ERROR_CODES:
            cell = WriteOnlyCell(ws, value)
            cell.data_type = "s"  # never a formula or an error cell
            cell.quotePrefix = True
            return cell
        return value

    def _row(
        self, ws: Any, values: Sequence[Cell | float | None], severity_: Severity | None
    ) -> list[Any]:
        out: list[Any] = []
        for i, value in enumerate(values):
            if value == "":
                out.append(None)  # no cell at all: reads back the same, writes faster
                continue
            item: Any = self._text_cell(ws, value) if isinstance(value, str) else value
            if severity_ is not None and i == self._status_index:
                cell = WriteOnlyCell(ws, clean_text(str(value)))
                cell.data_type = "s"
                cell.fill = self._fills[severity_]
                cell.font = self._fonts[severity_]
                item = cell
            out.append(item)
        return out

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
        self._ws.append(self._row(self._ws, cells, severity(result.status)))

    def _start(self) -> None:
        """Fit widths on the header and the buffered rows, freeze, then flush the buffer."""
        pending = self._pending or []
        ws = self._ws
        for i, header in enumerate(self._headers):
            sample = max((_display_width(r[i]) for r in pending), default=0)
            cap = MESSAGE_MAX_WIDTH if i in self._wide else MAX_WIDTH
            width = min(max(len(header) + 3, sample + 2, MIN_WIDTH), cap)
            ws.column_dimensions[get_column_letter(i + 1)].width = width
        ws.freeze_panes = f"{get_column_letter(self._frozen + 1)}2"
        header_cells = []
        for name in self._headers:
            cell = WriteOnlyCell(ws, clean_text(name))
            cell.data_type = "s"
            cell.font = self._header_font
            cell.fill = self._header_fill
            if needs_neutralising(name):
                cell.quotePrefix = True
            header_cells.append(cell)
        ws.append(header_cells)
        for cells, sev in zip(pending, self._statuses, strict=True):
            ws.append(self._row(ws, cells, sev))
        self._pending = None
        self._statuses = []

    def _write_summary(self, summary: RunSummary) -> None:
        ws = self._wb.create_sheet("Summary")
        ws.column_dimensions["A"].width = 24
        ws.column_dimensions["B"].width = 70
        for label, value in summary_rows(summary):
            if not label and value is None:
                ws.append([])
                continue
            head = WriteOnlyCell(ws, clean_text(label))
            head.data_type = "s"
            if value is None or not label.startswith(" "):
                head.font = self._header_font
            ws.append([head, self._text_cell(ws, value) if isinstance(value, str) else value])

    def close(self, summary: RunSummary | None) -> Path:
        """Finish the sheet(s), save, and move the file into place."""
        if self._pending is not None:
            self._start()
        last = get_column_letter(max(len(self._headers), 1))
        self._ws.auto_filter.ref = f"A1:{last}{self._rows + 1}"
        if self._with_summary and summary is not None:
            self._write_summary(summary)
        try:
            self._wb.save(self.part)
            os.replace(self.part, self.path)
        except BaseException:
            self.part.unlink(missing_ok=True)
            raise
        return self.path

    def discard(self) -> None:
        """Drop everything written so far (nothing reaches ``path``)."""
        self._pending = None
        try:  # saving is openpyxl's public way to close and delete its temporary sheet files
            self._wb.save(self.part)
        except Exception:  # noqa: BLE001 - best-effort clean-up while another error propagates
            pass
        self.part.unlink(missing_ok=True)
