"""Streaming .xlsx/.xlsm rows as text, with the real Excel row numbers.

openpyxl's read-only mode parses the sheet XML as a stream, so memory stays flat however
long the sheet is. ``data_only=True`` gives the values Excel cached for formulas; a formula
Excel never calculated (e.g. written by a script) has no cached value and reads as an empty
cell; validation then says the cell is empty and suggests opening and saving in Excel.

Every value becomes text here, the way a person sees it, so validation is the one place that
interprets it: whole numbers lose Excel's ``.0`` ("12.0" would never match ID 12), dates
become ISO text, percentages keep their ``%``.
"""

from __future__ import annotations

import warnings
import zipfile
import zlib
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from batch.errors import InputError

_HEADER_SCAN_ROWS = 30


def cell_text(value: Any, number_format: str | None = None) -> str:
    """One cell value as the text a person would read (see module docstring)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, datetime):
        if value.microsecond:
            value = (value + timedelta(microseconds=500_000)).replace(microsecond=0)
        if value.time() == time(0):
            return value.date().isoformat()
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return value.replace(microsecond=0).isoformat()
    if isinstance(value, timedelta):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if number_format and "%" in number_format:
            return _number_text(value * 100) + "%"
        return _number_text(value)
    return str(value)


def _number_text(value: float) -> str:
    if value != value or value in (float("inf"), float("-inf")):
        return str(value)
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    text = f"{value:.15g}"
    return text if "e" not in text else repr(value)


class _Workbook:
    """An openpyxl read-only workbook plus the file handle it streams from.

    The workbook is opened from a file object, not a path, because openpyxl refuses paths
    whose extension it does not know ("renamed.csv"); the format was already checked by content.
    """

    def __init__(self, path: Path) -> None:
        import openpyxl
        from openpyxl.utils.exceptions import InvalidFileException

        self.fh = path.open("rb")
        try:
            with warnings.catch_warnings():
                # openpyxl warns about data validation / extensions it does not keep: harmless.
                warnings.simplefilter("ignore")
                self.wb = openpyxl.load_workbook(
                    self.fh, read_only=True, data_only=True, keep_links=False
                )
        except (
            zipfile.BadZipFile,
            InvalidFileException,
            KeyError,
            OSError,
            ValueError,
            TypeError,
            AttributeError,
            IndexError,
            EOFError,
        ) as exc:
            self.fh.close()
            raise InputError(
                f"{path} could not be read as an Excel workbook ({type(exc).__name__}): open it "
                "in Excel and save it again as .xlsx, or export it as 'CSV UTF-8'."
            ) from None

    def close(self) -> None:
        self.wb.close()
        self.fh.close()


class XlsxSource:
    """Re-iterable source of ``(row_number, cells)`` for one worksheet."""

    def __init__(self, path: Path, sheet: str | None, header_probe: Any) -> None:
        """Open the workbook once to pick the sheet.

        ``header_probe(rows) -> int`` scores the first rows of a sheet (how many known
        headers they hold); without ``sheet``, the first visible sheet that scores > 0 wins,
        else the first visible sheet with any data.
        """
        self.path = path
        book = _Workbook(path)
        wb = book.wb
        try:
            sheets = [ws for ws in wb.worksheets if hasattr(ws, "iter_rows")]
            names = [ws.title for ws in sheets]
            if sheet is not None:
                chosen = next((ws for ws in sheets if ws.title == sheet), None) or next(
                    (ws for ws in sheets if ws.title.casefold() == sheet.strip().casefold()),
                    None,
                )
                if chosen is None:
                    raise InputError(
                        f"{path}: there is no sheet named {sheet!r}; sheets: "
                        f"{', '.join(repr(n) for n in names)}. Pass one of them to --sheet."
                    )
                self.sheet = chosen.title
                return
            visible = [ws for ws in sheets if getattr(ws, "sheet_state", "visible") == "visible"]
            first_with_data: str | None = None
            for ws in visible:
                head = self._head_rows(ws)
                if not any(any(c.strip() for c in cells) for _, cells in head):
                    continue
                if first_with_data is None:
                    first_with_data = ws.title
                if header_probe([cells for _, cells in head]) > 0:
                    self.sheet = ws.title
                    return
            if first_with_data is None:
                raise InputError(
                    f"{path}: no visible sheet holds any data (sheets: "
                    f"{', '.join(repr(n) for n in names) or 'none'}); put the rows on the first "
                    "sheet or pass --sheet NAME."
                )
            self.sheet = first_with_data
        finally:
            book.close()

    @staticmethod
    def _rows(ws: Any) -> Iterator[tuple[int, list[str]]]:
        # Dimensions written by some tools are wrong ("A1"), which would cut the sheet short.
        ws.reset_dimensions()
        for number, row in enumerate(ws.iter_rows(), 1):
            yield (
                number,
                [
                    cell_text(c.value, getattr(c, "number_format", None))
                    if c.value is not None
                    else ""
                    for c in row
                ],
            )

    def _head_rows(self, ws: Any) -> list[tuple[int, list[str]]]:
        out = []
        for item in self._rows(ws):
            out.append(item)
            if len(out) >= _HEADER_SCAN_ROWS:
                break
        return out

    def records(self) -> Iterator[tuple[int, list[str]]]:
        """Every row of the chosen sheet, numbered as Excel numbers them."""
        book = _Workbook(self.path)
        try:
            yield from self._rows(book.wb[self.sheet])
        except (
            zipfile.BadZipFile,
            zlib.error,
            SyntaxError,
            KeyError,
            ValueError,
            OSError,
            EOFError,
        ) as exc:
            raise InputError(
                f"{self.path}, sheet {self.sheet!r}: the sheet could not be read "
                f"({type(exc).__name__}): open it in Excel and save it again as .xlsx."
            ) from None
        finally:
            book.close()
