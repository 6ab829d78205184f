"""Excel 97-2003 workbooks (.xls) through xlrd, which reads the BIFF records in pure Python.

xlrd is the long-kept reader of this format and sees what python-calamine did not: each cell's
style and the number format behind it, so a percent-formatted 0.87 reads "87%" and dates read
by their format, exactly as ``xlsx_book`` reads them (``cells.styled_number_reader``). Pure
Python cannot abort the process, and its failures are exceptions we turn into ``BookError``.

Bounded by the format itself: a BIFF8 sheet holds at most 65,536 rows x 256 columns, and with
``ragged_rows`` xlrd keeps only the cells the file holds (memory follows the file's size, never
its extent). Sheets load one at a time (``on_demand``); the cells still pass ``SheetBounds``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from openpyxl.utils.datetime import MAC_EPOCH, WINDOWS_EPOCH

from batch.reading.book import BookError, SheetInfo, number_styles
from batch.reading.cells import styled_number_reader
from batch.reading.limits import SheetBounds

_STATES = {0: "visible", 1: "hidden", 2: "veryHidden"}


class _Discard:
    """xlrd's diagnostics go nowhere (only the front ends print)."""

    def write(self, text: str) -> int:
        return len(text)


class XlsBook:
    """An open .xls: ``sheets``, ``active``, ``rows(sheet)``."""

    def __init__(self, path: Path) -> None:
        import xlrd

        self.formats_seen = True
        try:
            self.book: Any = self._open(xlrd, path, formatting=True)
        except BookError:
            raise
        except Exception:  # noqa: BLE001 - a style table xlrd cannot follow: read without it
            self.formats_seen = False
            self.book = self._open(xlrd, path, formatting=False)
        book = self.book
        try:
            states = list(getattr(book, "_sheet_visibility", []))
            self.sheets = [
                SheetInfo(name, _STATES.get(states[i] if i < len(states) else 0, "hidden"), str(i))
                for i, name in enumerate(book.sheet_names())
            ]
            custom = {key: fmt.format_str for key, fmt in book.format_map.items()}
            formats = [xf.format_key for xf in book.xf_list] if self.formats_seen else []
            # One more style after the file's: "a date" for cells xlrd knows are dates when
            # their style could not be read.
            self._date_style = len(formats)
            styles = number_styles({**custom, -1: "yyyy-mm-dd h:mm:ss"}, [*formats, -1])
            epoch = MAC_EPOCH if book.datemode == 1 else WINDOWS_EPOCH
            self._number = styled_number_reader(styles, epoch)
        except Exception as exc:  # noqa: BLE001
            self.close()
            raise BookError(type(exc).__name__) from None
        self._active: str | None | bool = False  # False: not looked for yet

    @staticmethod
    def _open(xlrd: Any, path: Path, *, formatting: bool) -> Any:
        try:
            return xlrd.open_workbook(
                str(path),
                logfile=_Discard(),
                formatting_info=formatting,
                on_demand=True,
                ragged_rows=True,
            )
        except Exception as exc:  # noqa: BLE001 - xlrd raises many kinds on a broken file
            raise BookError(f"{type(exc).__name__}: {str(exc)[:120]}") from None

    def close(self) -> None:
        self.book.release_resources()

    @property
    def active(self) -> str | None:
        """The tab the file opens on (its WINDOW2 record says "selected")."""
        if self._active is False:
            self._active = None
            for info in self.sheets:
                if info.state == "visible" and self._sheet(info).sheet_visible:
                    self._active = info.name
                    break
        return self._active if isinstance(self._active, str) else None

    def _sheet(self, info: SheetInfo) -> Any:
        index = int(info.part)
        try:
            return self.book.sheet_by_index(index)
        except Exception as exc:  # noqa: BLE001
            raise BookError(f"{type(exc).__name__}: {str(exc)[:120]}") from None

    def rows(self, sheet: SheetInfo) -> Iterator[tuple[int, list[str]]]:
        """``(row number, texts)`` for every row of the sheet that holds a value."""
        from xlrd import error_text_from_code

        data = self._sheet(sheet)
        for loaded in range(len(self.sheets)):  # one sheet in memory at a time
            if loaded != int(sheet.part) and self.book.sheet_loaded(loaded):
                self.book.unload_sheet(loaded)
        bounds = SheetBounds(sheet.name)
        number, seen = self._number, self.formats_seen
        for index in range(data.nrows):
            cells: list[str] = []
            types, values = data.row_types(index), data.row_values(index)
            for col, kind in enumerate(types):
                if kind in (2, 3) and seen:  # number, date: by the cell's number format
                    text = number(float(values[col]), data.cell_xf_index(index, col))
                elif kind in (2, 3):  # no styles: xlrd still knows which numbers are dates
                    text = number(float(values[col]), -1 if kind == 2 else self._date_style)
                elif kind == 1:
                    text = values[col]
                elif kind == 4:
                    text = "TRUE" if values[col] else "FALSE"
                elif kind == 5:
                    text = error_text_from_code.get(values[col], "#N/A")
                else:
                    continue
                if not text:
                    continue
                if not cells:
                    bounds.row(index + 1)
                bounds.put(cells, index + 1, col, text)
            if cells:
                yield index + 1, cells
