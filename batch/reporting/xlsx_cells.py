"""The cells of an XLSX report, as XlsxWriter writes them: types, formats, text clean-up, widths.

Every text cell is written as text (``write_string``), never as a formula, a number or a link:
an echoed ``0012`` keeps its zeros, ``=1+1`` stays the text ``=1+1``. Cells a spreadsheet could
take for a formula (``batch.formulas``), and texts that read like an error value (``#N/A``),
also carry Excel's quote-prefix flag, which is what Excel records when a person types
``'=1+1``: the text itself is unchanged, so a failed-rows XLSX re-runs as it is. Dates are
real dates and numbers real numbers; ``None`` and ``""`` leave no cell.

Shared by the report sheet (``xlsx``) and the Summary and Edits sheets (``xlsx_summary``).
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Any

import xlsxwriter
from xlsxwriter.format import Format
from xlsxwriter.worksheet import Worksheet

from batch.formulas import needs_neutralising
from batch.reporting.layout import Severity, TypedCell

__all__ = [
    "DATETIME_FORMAT",
    "EXCEL_MAX_CHARS",
    "EXCEL_MAX_ROWS",
    "OPTIONS",
    "STATUS_STYLES",
    "TRUNCATED",
    "Styles",
    "clean_text",
    "display_width",
    "fitted_width",
    "put",
    "set_widths",
    "sheet_title",
]

EXCEL_MAX_CHARS = 32767  # Excel refuses longer cells
EXCEL_MAX_ROWS = 1_048_576  # rows per sheet, the header included
TRUNCATED = " [truncated]"
WIDTH_SAMPLE = 200  # rows looked at to fit column widths
MIN_WIDTH = 6
MAX_WIDTH = 60
MESSAGE_MAX_WIDTH = 90
# At Calibri 11, Excel's default font, a character of column width is 7 pixels: widths are
# given in pixels so the file stores exactly the width in characters fitted here.
PIXELS_PER_CHARACTER = 7
# The tool's times are UTC (ALM's dateCompleted, the posting time): the format says so.
DATETIME_FORMAT = 'yyyy-mm-dd hh:mm:ss "UTC"'
# Excel's own "Good", "Neutral" and "Bad" cell styles: the colours people already read.
STATUS_STYLES: dict[Severity, tuple[str, str]] = {
    Severity.OK: ("C6EFCE", "006100"),
    Severity.WARNING: ("FFEB9C", "9C5700"),
    Severity.ERROR: ("FFC7CE", "9C0006"),
}
HEADER_FILL = "D9D9D9"
# Texts Excel shows as error values: written as text with the quote prefix, like formulas.
ERROR_VALUES = frozenset(
    {"#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A", "#GETTING_DATA"}
)
# XlsxWriter's options: nothing is guessed from text (we say each cell's type ourselves).
OPTIONS: dict[str, Any] = {
    "constant_memory": True,
    "strings_to_numbers": False,
    "strings_to_formulas": False,
    "strings_to_urls": False,
}
# Everything that may need work before text goes into a cell: characters XML cannot hold
# (control characters, lone surrogates, U+FFFE/U+FFFF) and carriage returns.
_SPECIAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\r\ud800-\udfff\ufffe\uffff]")
_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_SHEET_TITLE_BAD = re.compile(r"[\[\]:*?/\\]")


def clean_text(value: str) -> str:
    """Text Excel accepts: control characters it refuses become U+FFFD, overlong cells are cut.

    Line ends become ``\\n``, Excel's own line break inside a cell (XML would turn a raw CR
    into LF when the file is read anyway, so the change is made here, deliberately).
    """
    if "\r" in value:
        value = value.replace("\r\n", "\n").replace("\r", "\n")
    if _ILLEGAL.search(value):
        value = _ILLEGAL.sub("\ufffd", value)
    if len(value) > EXCEL_MAX_CHARS:
        value = value[: EXCEL_MAX_CHARS - len(TRUNCATED)] + TRUNCATED
    return value


def sheet_title(name: str | None, default: str) -> str:
    """A valid Excel sheet name from ``name``: none of ``[]:*?/\\``, no quote at either end,
    at most 31 UTF-16 code units (an emoji counts two)."""
    cleaned = _SHEET_TITLE_BAD.sub(" ", name or "").strip().strip("'")
    while len(cleaned.encode("utf-16-le")) > 62:
        cleaned = cleaned[:-1]
    return cleaned.strip().strip("'") or default


def fitted_width(header: str, longest: int, cap: int) -> int:
    """A column's width in characters: the header and its filter button, or the longest text
    sampled with a margin, at least ``MIN_WIDTH`` and at most ``cap``."""
    return min(max(len(header) + 3, longest + 2, MIN_WIDTH), cap)


def display_width(value: TypedCell | None) -> int:
    """How many characters ``value``'s longest line shows."""
    if value is None:
        return 0
    return max((len(line) for line in str(value).splitlines()), default=0)


class Styles:
    """The cell formats of one workbook, each with its quote-prefix twin made on first use."""

    def __init__(self, book: xlsxwriter.Workbook) -> None:
        self._book = book
        self._props: dict[int, dict[str, Any]] = {}
        self._twins: dict[int | None, Format] = {}
        self.header = self._add({"bold": True, "bg_color": f"#{HEADER_FILL}"})
        self.bold = self._add({"bold": True})
        self.datetime = self._add({"num_format": DATETIME_FORMAT})
        self.status = {
            sev: self._add({"bg_color": f"#{bg}", "font_color": f"#{fg}"})
            for sev, (bg, fg) in STATUS_STYLES.items()
        }

    def _add(self, props: dict[str, Any]) -> Format:
        fmt = self._book.add_format(props)
        self._props[id(fmt)] = props
        return fmt

    def quoted(self, fmt: Format | None) -> Format:
        """``fmt`` (None: the default) with Excel's quote-prefix flag."""
        key = None if fmt is None else id(fmt)
        twin = self._twins.get(key)
        if twin is None:
            props = {} if fmt is None else self._props[id(fmt)]
            twin = self._twins[key] = self._book.add_format({**props, "quote_prefix": True})
        return twin


def put(
    sheet: Worksheet, styles: Styles, row: int, col: int, value: object, fmt: Format | None
) -> None:
    """One cell, typed by its Python value: text as text (quote-prefixed when a spreadsheet
    could run it), finite numbers as numbers, booleans as booleans, a datetime as a date in the
    ``DATETIME_FORMAT`` unless ``fmt`` says otherwise. ``None`` and ``""`` leave no cell."""
    if isinstance(value, str):
        if not value:
            return
        if _SPECIAL.search(value) or len(value) > EXCEL_MAX_CHARS:
            value = clean_text(value)
        if needs_neutralising(value) or value in ERROR_VALUES:
            fmt = styles.quoted(fmt)
        sheet.write_string(row, col, value, fmt)
    elif value is None:
        return
    elif isinstance(value, datetime):
        sheet.write_datetime(row, col, value, fmt or styles.datetime)
    elif isinstance(value, bool):
        sheet.write_boolean(row, col, value, fmt)
    elif isinstance(value, int) or (isinstance(value, float) and math.isfinite(value)):
        sheet.write_number(row, col, value, fmt)
    else:
        put(sheet, styles, row, col, str(value), fmt)


def set_widths(sheet: Worksheet, widths: list[int]) -> None:
    """Column widths in characters, stored exactly (given to XlsxWriter in pixels)."""
    for col, width in enumerate(widths):
        sheet.set_column_pixels(col, col, width * PIXELS_PER_CHARACTER)
