"""Streaming workbook rows as text, with the real spreadsheet row numbers.

``.xlsx`` / ``.xlsm`` (Transitional or Strict Open XML) are read by our own streaming reader
(``xlsx_book`` / ``xlsx_fast``), or by python-calamine (``calamine_book``) when that gives the
same text faster: the workbook has no percent-formatted cells (calamine does not see number
formats) and the sheet is small enough to load at once (``CALAMINE_MAX_SHEET_BYTES``), so
memory stays bounded. ``.xls`` (Excel 97-2003), ``.xlsb`` and ``.ods`` are read by calamine.

Values are the ones the spreadsheet cached for formulas; a formula never calculated (e.g.
written by a script) has no cached value and reads as an empty cell: validation then says the
cell is empty and suggests opening and saving the file in Excel.

Every value becomes text here, the way a person sees it (``batch.reading.cells``), so
validation is the one place that interprets it.

Sheet choice without ``--sheet``: the first visible sheet that has a column for every required
field; when that is not the first sheet with data, a warning says which sheet was read, and
when several sheets would do, the run stops and names them with the ``--sheet`` to pick.
"""

from __future__ import annotations

import threading
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol
from xml.etree.ElementTree import ParseError

from batch.errors import InputError
from batch.reading.xlsx_book import BookError, SheetInfo, XlsxBook
from batch.reading.xlsx_fast import SheetLimitError

_HEADER_SCAN_ROWS = 30
CALAMINE_MAX_SHEET_BYTES = 64 * 1024**2  # an .xlsx sheet part larger than this is streamed
_READ_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    ParseError,
    KeyError,
    ValueError,
    IndexError,
    OSError,
    EOFError,
    BookError,
)
KIND_LABEL = {
    "xlsx": "Excel workbook",
    "xls": "Excel 97-2003 workbook (.xls)",
    "xlsb": "Excel binary workbook (.xlsb)",
    "ods": "OpenDocument spreadsheet (.ods)",
}


class _Book(Protocol):
    sheets: list[SheetInfo]

    def rows(self, sheet: SheetInfo) -> Iterator[tuple[int, list[str]]]: ...

    def close(self) -> None: ...


# Probe: the first rows of a sheet -> the fields its best header row names.
HeaderProbe = Callable[[list[list[str]]], set[str]]


class XlsxSource:
    """Re-iterable source of ``(row_number, cells)`` for one worksheet of any workbook kind."""

    def __init__(
        self,
        path: Path,
        sheet: str | None,
        header_probe: HeaderProbe,
        *,
        kind: str = "xlsx",
        required: tuple[str, ...] = (),
    ) -> None:
        """Open the workbook once to pick the sheet (see the module docstring).

        ``header_probe(rows)`` names the fields the first rows of a sheet hold; ``required``
        are the fields a usable sheet must have. A named sheet may be hidden.
        """
        self.path = path
        self.kind = kind
        self.warnings: list[str] = []
        self.use_calamine = kind != "xlsx"
        self._kept: _Book | None = None
        book = self._open(calamine=self.use_calamine)
        try:
            if isinstance(book, XlsxBook):
                self.strict = book.strict
                self.use_calamine = _calamine_fits(book)
            else:
                self.strict = False
            self.sheet = self._choose(book, sheet, header_probe, required)
            if isinstance(book, XlsxBook) and self.use_calamine:
                info = next(s for s in book.sheets if s.name == self.sheet)
                self.use_calamine = _sheet_fits(book, info) and self._calamine_opens()
        except _READ_ERRORS as exc:
            raise self._broken(exc) from None
        finally:
            book.close()

    def _calamine_opens(self) -> bool:
        """Calamine is stricter about a workbook's packaging than Excel: if it cannot open
        this one, our own reader does."""
        try:
            from batch.reading.calamine_book import CalamineBook

            CalamineBook(self.path).close()
        except BookError:
            return False
        return True

    def _open(self, *, calamine: bool) -> _Book:
        try:
            if calamine:
                from batch.reading.calamine_book import CalamineBook

                return CalamineBook(self.path)
            return XlsxBook(self.path)
        except BookError as exc:
            label = KIND_LABEL.get(self.kind, "workbook")
            raise InputError(
                f"{self.path} could not be read as an {label} ({exc}): open it in Excel and "
                "save it again as .xlsx, or export it as 'CSV UTF-8'."
            ) from None

    def _choose(
        self,
        book: _Book,
        sheet: str | None,
        header_probe: HeaderProbe,
        required: tuple[str, ...],
    ) -> str:
        path = self.path
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
            return chosen.name
        first_with_data: str | None = None
        first_with_headers: str | None = None
        complete: list[str] = []
        need = set(required)
        for info in book.sheets:
            if info.state != "visible":
                continue
            head = self._head_rows(book, info)
            if not any(any(c.strip() for c in cells) for cells in head):
                continue
            if first_with_data is None:
                first_with_data = info.name
            found = header_probe(head)
            if found and first_with_headers is None:
                first_with_headers = info.name
            if need and need <= found:
                if info.name == first_with_data:
                    return info.name  # the first sheet has everything: as always
                complete.append(info.name)
        if first_with_data is None:
            raise InputError(
                f"{path}: no visible sheet holds any data (sheets: "
                f"{', '.join(repr(n) for n in names) or 'none'}); put the rows on the first "
                "sheet or pass --sheet NAME."
            )
        if len(complete) == 1:
            self.warnings.append(
                f"{path}: the first sheet, {first_with_data!r}, has no column for "
                f"{', '.join(sorted(need - header_probe(self._head_of(book, first_with_data))))}"
                f"; read sheet {complete[0]!r}, which has them (--sheet picks another)."
            )
            return complete[0]
        if len(complete) > 1:
            shown = ", ".join(repr(n) for n in complete)
            raise InputError(
                f"{path}: the first sheet, {first_with_data!r}, lacks required columns and "
                f"several sheets have them ({shown}): pick one with --sheet, e.g. "
                f'--sheet "{complete[0]}".'
            )
        return first_with_headers or first_with_data

    def _head_of(self, book: _Book, name: str) -> list[list[str]]:
        return self._head_rows(book, next(s for s in book.sheets if s.name == name))

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
    def _head_rows(book: _Book, info: SheetInfo) -> list[list[str]]:
        out = []
        for number, cells in book.rows(info):
            if number > _HEADER_SCAN_ROWS:
                break
            out.append(cells)
        return out

    def records(self) -> Iterator[tuple[int, list[str]]]:
        """Every row of the chosen sheet, numbered as the spreadsheet numbers them.

        Calamine's workbook stays open between passes (validation makes two): loading the
        sheet is most of its cost, and its size is bounded (``CALAMINE_MAX_SHEET_BYTES``)."""
        if self.use_calamine:
            if self._kept is None:
                self._kept = self._open(calamine=True)
            book = self._kept
        else:
            book = self._open(calamine=False)
        try:
            info = next(s for s in book.sheets if s.name == self.sheet)
            yield from book.rows(info)
        except _READ_ERRORS as exc:
            raise self._broken(exc) from None
        finally:
            if book is not self._kept:
                book.close()


def _calamine_fits(book: XlsxBook) -> bool:
    """Calamine reads this .xlsx to the same text: no percent styles (it does not see formats),
    no rich text or phonetic runs in the shared strings (it joins them differently)."""
    if book.has_percent_styles:
        return False
    if "xl/sharedStrings.xml" in book.zip.namelist():
        markers = (b"<r>", b"<r ", b":r>", b"<rPh", b":rPh", *_SPACE_MARKERS)
        return not _holds(book, "xl/sharedStrings.xml", markers)
    return True


# A text that starts or ends with whitespace (" ", a no-break space...): calamine trims some
# of these, so such workbooks stay on our reader, which keeps every cell exactly as stored.
# Excel and openpyxl mark every such text xml:space="preserve"; the rest catch hand-made XML.
# Plain substring tests: a 40 MB sheet is scanned in milliseconds.
_SPACE_MARKERS = tuple(
    [b'xml:space="preserve"', b"xml:space='preserve'"]
    + [b"<t>" + ws for ws in (b" ", b"\t", b"\n", b"\r", b"\xc2\xa0", b"\xe2\x80")]
    + [ws + b"</t>" for ws in (b" ", b"\t", b"\n", b"\r", b"\xa0", b"\x80\xaf")]
)


# Cells calamine reads differently: errors (#N/A: calamine gives ""), rich inline strings.
_SHEET_MARKERS = (b't="e"', b"t='e'", b"<r>", b":r>", b"<rPh", *_SPACE_MARKERS)


def _sheet_fits(book: XlsxBook, info: SheetInfo) -> bool:
    if book.zip.getinfo(info.part).file_size > CALAMINE_MAX_SHEET_BYTES:
        return False  # calamine would hold it all in memory: stream it instead
    return not _holds(book, info.part, _SHEET_MARKERS)


def _holds(book: XlsxBook, part: str, markers: tuple[bytes, ...]) -> bool:
    """Whether a zip part contains any marker (a byte scan, chunk by chunk, in C).

    Remembered per part content (its CRC and sizes, in the file at that path and time): the
    upload page opens a file for its Shape step and again for the run, and the scan is half
    the cost of opening a 20,000-row sheet (0.05 s for its 5 MB of XML)."""
    info = book.zip.getinfo(part)
    key = (str(book.zip.filename), part, info.CRC, info.file_size, info.compress_size, markers)
    with _HOLDS_LOCK:
        found = _HOLDS.get(key)
    if found is None:
        found = _scan(book, part, markers)
        with _HOLDS_LOCK:
            if len(_HOLDS) >= _HOLDS_KEPT:
                _HOLDS.pop(next(iter(_HOLDS)))  # the oldest: a few booleans, bounded
            _HOLDS[key] = found
    return found


_HOLDS: dict[tuple[object, ...], bool] = {}
_HOLDS_KEPT = 64
_HOLDS_LOCK = threading.Lock()


def _scan(book: XlsxBook, part: str, markers: tuple[bytes, ...]) -> bool:
    tail = b""
    with book.zip.open(part) as src:
        while chunk := src.read(1 << 20):
            data = tail + chunk
            if any(m in data for m in markers):
                return True
            tail = data[-256:]
    return False
