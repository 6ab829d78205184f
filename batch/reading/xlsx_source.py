"""Streaming .xlsx/.xlsm rows as text, with the real Excel row numbers.

The sheet XML is streamed (``xlsx_book`` / ``xlsx_fast``), so memory stays flat however long
the sheet is. Values are the ones Excel cached for formulas; a formula Excel never calculated
(e.g. written by a script) has no cached value and reads as an empty cell: validation then
says the cell is empty and suggests opening and saving the file in Excel.

Every value becomes text here, the way a person sees it (``batch.reading.cells``), so
validation is the one place that interprets it.
"""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from xml.etree.ElementTree import ParseError

from batch.errors import InputError
from batch.reading.xlsx_book import BookError, SheetInfo, XlsxBook
from batch.reading.xlsx_fast import SheetLimitError

_HEADER_SCAN_ROWS = 30
_READ_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    ParseError,
    KeyError,
    ValueError,
    IndexError,
    OSError,
    EOFError,
)


def _open(path: Path) -> XlsxBook:
    try:
        return XlsxBook(path)
    except BookError as exc:
        raise InputError(
            f"{path} could not be read as an Excel workbook ({exc}): open it in Excel and save "
            "it again as .xlsx, or export it as 'CSV UTF-8'."
        ) from None


class XlsxSource:
    """Re-iterable source of ``(row_number, cells)`` for one worksheet."""

    def __init__(
        self, path: Path, sheet: str | None, header_probe: Callable[[list[list[str]]], int]
    ) -> None:
        """Open the workbook once to pick the sheet.

        ``header_probe(rows) -> int`` scores the first rows of a sheet (how many known
        headers they hold); without ``sheet``, the first visible sheet that scores > 0 wins,
        else the first visible sheet with any data. A named sheet may be hidden.
        """
        self.path = path
        book = _open(path)
        try:
            names = [s.name for s in book.sheets]
            if sheet is not None:
                chosen = next((s for s in book.sheets if s.name == sheet), None) or next(
                    (s for s in book.sheets if s.name.casefold() == sheet.strip().casefold()),
                    None,
                )
                if chosen is None:
                    raise InputError(
                        f"{path}: there is no sheet named {sheet!r}; sheets: "
                        f"{', '.join(repr(n) for n in names)}. Pass one of them to --sheet."
                    )
                self.sheet = chosen.name
                return
            first_with_data: str | None = None
            for info in book.sheets:
                if info.state != "visible":
                    continue
                head = self._head_rows(book, info)
                if not any(any(c.strip() for c in cells) for cells in head):
                    continue
                if first_with_data is None:
                    first_with_data = info.name
                if header_probe(head) > 0:
                    self.sheet = info.name
                    return
            if first_with_data is None:
                raise InputError(
                    f"{path}: no visible sheet holds any data (sheets: "
                    f"{', '.join(repr(n) for n in names) or 'none'}); put the rows on the first "
                    "sheet or pass --sheet NAME."
                )
            self.sheet = first_with_data
        except _READ_ERRORS as exc:
            raise self._broken(exc) from None
        finally:
            book.close()

    def _broken(self, exc: BaseException) -> InputError:
        if isinstance(exc, SheetLimitError):
            return InputError(
                f"{self.path}: a sheet cannot be read: {exc}. Open the file in Excel, delete "
                "the stray cells and save it again."
            )
        return InputError(
            f"{self.path}: a sheet could not be read ({type(exc).__name__}): open the file in "
            "Excel and save it again as .xlsx."
        )

    @staticmethod
    def _head_rows(book: XlsxBook, info: SheetInfo) -> list[list[str]]:
        out = []
        for number, cells in book.rows(info):
            if number > _HEADER_SCAN_ROWS:
                break
            out.append(cells)
        return out

    def records(self) -> Iterator[tuple[int, list[str]]]:
        """Every row of the chosen sheet, numbered as Excel numbers them."""
        book = _open(self.path)
        try:
            info = next(s for s in book.sheets if s.name == self.sheet)
            yield from book.rows(info)
        except _READ_ERRORS as exc:
            raise self._broken(exc) from None
        finally:
            book.close()
