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

from openpyxl.utils.datetime import from_ISO8601

from batch.reading.cells import cell_text, styled_number_reader, unescape_ooxml
from batch.reading.limits import MAX_COLUMNS, SheetBounds, SheetLimitError

_NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"


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
    sheet: str = "",
    ns: str = _NS,
) -> Iterator[tuple[int, list[str]]]:
    """``(excel_row_number, texts)`` for every row element of the sheet, in order.

    A formula Excel never calculated has no cached ``<v>`` and reads as "" (see xlsx_source).
    Cells without a value are not kept (a styled empty cell far right costs nothing); the
    sheet's extent and row order are checked by a ``SheetBounds`` as cells are read.
    """
    _ROW, _C, _V, _IS, _T, _R = (ns + t for t in ("row", "c", "v", "is", "t", "r"))  # noqa: N806
    _SHEET_DATA = ns + "sheetData"  # noqa: N806
    number_text_of = styled_number_reader(styles, epoch)

    def text_of(c: Any) -> str:
        kind = c.get("t", "n")
        if kind == "inlineStr":
            node = c.find(_IS)
            if node is None:
                return ""
            parts = [node.findtext(_T) or ""]  # plain <t>
            parts += [r.findtext(_T) or "" for r in node.iter(_R)]  # rich-text runs
            return unescape_ooxml("".join(parts))
        raw: str | None = c.findtext(_V)
        if not raw:
            return ""
        if kind == "s":
            return strings[int(raw)]
        if kind == "n":
            return number_text_of(float(raw), int(c.get("s", 0)))
        if kind == "b":
            return "TRUE" if raw.strip() == "1" else "FALSE"
        if kind == "d":
            return cell_text(from_ISO8601(raw))
        return raw  # "str" (formula text), "e" (#N/A)

    bounds = SheetBounds(sheet)
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
                            f"row {counter + 1} of sheet {sheet!r} holds more than "
                            f"{MAX_COLUMNS:,} cells, past the last column a spreadsheet holds"
                        )
                continue
            row_cells = 0
            ref = elem.get("r")
            counter = int(ref) if ref else counter + 1
            bounds.row(counter)
            cells: list[str] = []
            pos = 0
            for c in elem.iter(_C):
                ref_c = c.get("r")
                if ref_c:
                    pos = _column_index(ref_c)
                text = text_of(c)
                if text:
                    bounds.put(cells, counter, pos, text)
                pos += 1
            if sheet_data is not None:
                sheet_data.clear()  # drop rows already read: memory stays flat
            yield counter, cells
