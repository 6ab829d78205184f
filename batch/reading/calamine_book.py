"""Workbooks through python-calamine (Rust): legacy ``.xls``, ``.xlsb``, ``.ods``, and ``.xlsx``
when it reads the same text faster (``xlsx_source`` decides).

The same interface as ``xlsx_book.XlsxBook`` (``sheets``, ``rows(sheet)``, ``close()``), and
the same cell text (``cells.cell_text``): whole numbers without ``.0``, dates as ISO text, a
date cell holding 0 as ``1900-01-00``. What calamine does not tell: number formats, so a
percent-formatted cell reads as its value (0.85, not 85%): ``xlsx_source`` keeps ``.xlsx``
files with percent styles on its own reader; error cells (#N/A) read as empty.

Calamine loads a whole sheet into memory (compactly, in Rust); ``xlsx_source`` only sends it
sheets of a bounded size.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import time
from pathlib import Path
from typing import Any

from python_calamine import CalamineError, CalamineWorkbook, SheetVisibleEnum

from batch.reading.cells import EMPTY_EXCEL_DATE, cell_text, number_text
from batch.reading.xlsx_book import BookError, SheetInfo


def _state(visible: Any) -> str:
    if visible == SheetVisibleEnum.Visible:
        return "visible"
    return "hidden" if visible == SheetVisibleEnum.Hidden else "veryHidden"


_MIDNIGHT = time(0)


def _text(value: Any) -> str:
    if value.__class__ is str:
        return str(value)
    if value.__class__ is float:
        return number_text(value)
    if value == _MIDNIGHT and isinstance(value, time):
        return EMPTY_EXCEL_DATE  # a date cell holding 0: Excel shows 00/01/1900
    return cell_text(value)


class CalamineBook:
    """An open workbook read by calamine."""

    def __init__(self, path: Path) -> None:
        try:
            self.book = CalamineWorkbook.from_path(str(path))
        except (CalamineError, OSError, ValueError) as exc:
            raise BookError(f"{type(exc).__name__}: {str(exc)[:120]}") from None
        except Exception as exc:  # noqa: BLE001 - calamine raises its own error classes
            raise BookError(f"{type(exc).__name__}: {str(exc)[:120]}") from None
        self._loaded: dict[str, Any] = {}
        self.sheets = [SheetInfo(m.name, _state(m.visible), "") for m in self.book.sheets_metadata]

    def close(self) -> None:
        self.book.close()

    def rows(self, sheet: SheetInfo) -> Iterator[tuple[int, list[str]]]:
        """``(row number as the spreadsheet shows it, texts)`` for every row of the sheet."""
        data = self._loaded.get(sheet.name)
        if data is None:
            try:
                data = self.book.get_sheet_by_name(sheet.name)
            except Exception as exc:  # noqa: BLE001
                raise BookError(f"{type(exc).__name__}: {str(exc)[:120]}") from None
            self._loaded = {sheet.name: data}  # one sheet at a time: memory stays bounded
        first_row, first_col = data.start or (0, 0)
        pad = [""] * first_col
        text = _text
        for offset, values in enumerate(data.iter_rows()):
            cells = [text(v) for v in values]
            yield first_row + offset + 1, (pad + cells if first_col else cells)
