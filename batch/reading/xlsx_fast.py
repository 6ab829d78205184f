"""Streaming one worksheet's XML as rows of text (used through ``xlsx_book.XlsxBook``).

``iterparse`` over the sheet, keeping only text: about five times faster than openpyxl's
read-only cells, which build a descriptor-checked object for every inline string. Memory stays
flat because each row is dropped from the tree once read. Conversions match ``cell_text`` on
the values openpyxl would give (dates by number style, percent styles, 1900/1904 epochs).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import IO, Any
from xml.etree.ElementTree import iterparse

from openpyxl.utils.datetime import from_excel, from_ISO8601

from batch.reading.cells import EMPTY_EXCEL_DATE, cell_text, number_text

_NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_ROW, _C, _V, _IS, _T, _R = (_NS + t for t in ("row", "c", "v", "is", "t", "r"))
_SHEET_DATA = _NS + "sheetData"
MAX_COLUMNS = 16_384  # Excel's last column, XFD


class SheetLimitError(ValueError):
    """The sheet goes past what Excel itself can hold (a damaged or hostile file)."""


def _column_index(ref: str) -> int:
    """'AB12' -> 27 (0-based column index)."""
    n = 0
    for ch in ref:
        if "A" <= ch <= "Z":
            n = n * 26 + ord(ch) - 64
        else:
            break
    return n - 1


def sheet_rows(
    source: Callable[[], IO[bytes]],
    strings: list[str],
    styles: Any,
    epoch: Any,
    *,
    ns: str = _NS,
) -> Iterator[tuple[int, list[str]]]:
    """``(excel_row_number, texts)`` for every row element of the sheet, in order.

    A formula Excel never calculated has no cached ``<v>`` and reads as "" (see xlsx_source).
    """
    _ROW, _C, _V, _IS, _T, _R = (ns + t for t in ("row", "c", "v", "is", "t", "r"))  # noqa: N806
    _SHEET_DATA = ns + "sheetData"  # noqa: N806
    dates, timedeltas, percents = styles.dates, styles.timedeltas, styles.percents
    zero_day = EMPTY_EXCEL_DATE if epoch.year < 1900 else None  # the 1900 system's day 0

    def text_of(c: Any) -> str:
        kind = c.get("t", "n")
        if kind == "inlineStr":
            node = c.find(_IS)
            if node is None:
                return ""
            parts = [node.findtext(_T) or ""]  # plain <t>
            parts += [r.findtext(_T) or "" for r in node.iter(_R)]  # rich-text runs
            return "".join(parts)
        raw: str | None = c.findtext(_V)
        if not raw:
            return ""
        if kind == "s":
            return strings[int(raw)]
        if kind == "n":
            style = int(c.get("s", 0))
            number = float(raw)
            if style in dates:
                if number == 0 and zero_day is not None and style not in timedeltas:
                    return zero_day
                try:
                    value = from_excel(number, epoch, timedelta=style in timedeltas)
                except (OverflowError, ValueError):
                    return "#VALUE!"
                return cell_text(value)
            if style in percents:
                return number_text(number * 100) + "%"
            return number_text(number)
        if kind == "b":
            return "TRUE" if raw.strip() == "1" else "FALSE"
        if kind == "d":
            return cell_text(from_ISO8601(raw))
        return raw  # "str" (formula text), "e" (#N/A)

    counter = 0
    sheet_data = None
    row_cells = 0  # cells seen in the row being parsed: bounds its memory before it ends
    with source() as src:
        for event, elem in iterparse(src, events=("start", "end")):
            if event == "start":
                if elem.tag == _SHEET_DATA:
                    sheet_data = elem
                continue
            if elem.tag != _ROW:
                if elem.tag == _C:
                    row_cells += 1
                    if row_cells > MAX_COLUMNS:
                        raise SheetLimitError(
                            f"row {counter + 1} holds more than {MAX_COLUMNS:,} cells, "
                            "Excel's limit"
                        )
                continue
            row_cells = 0
            ref = elem.get("r")
            counter = int(ref) if ref else counter + 1
            cells: list[str] = []
            for c in elem.iter(_C):
                ref_c = c.get("r")
                if ref_c:
                    pos = _column_index(ref_c)
                    if pos >= MAX_COLUMNS:
                        raise SheetLimitError(
                            f"cell {ref_c[:20]} is past Excel's last column (XFD)"
                        )
                    if pos > len(cells):
                        cells.extend([""] * (pos - len(cells)))
                cells.append(text_of(c))
            if sheet_data is not None:
                sheet_data.clear()  # drop rows already read: memory stays flat
            yield counter, cells
