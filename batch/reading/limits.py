"""What a workbook may hold before we refuse it, checked before anything large is allocated.

Every workbook reader (``xlsx_book``, ``xlsb_book``, ``xls_book``, ``ods_book``) feeds each
cell it is about to keep through one ``SheetBounds``: the sheet's extent (last row x last
column that hold a value, counted from A1) must stay within ``MAX_SHEET_CELLS``, and row
numbers must only go up. A cell far from the data (a value in XFD1048576) is refused when it is
seen, by its reference, instead of being paid for: a reader that builds the sheet as one
rectangle (as python-calamine did) would allocate rows x columns cells for it.

Zip-based workbooks (.xlsx, .xlsm, .xlsb, .ods) are checked part by part from the zip's
directory before any part is read (``check_zip``): a part that unpacks past ``MAX_PART_BYTES``,
or packs far tighter than real data does, is a bomb. ``docs/input-files.md`` ("Limits") tells
users these numbers.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterable
from os import PathLike

MAX_ROWS = 1_048_576  # Excel's last row
MAX_COLUMNS = 16_384  # Excel's last column, XFD
# Cells per sheet, as last row x last column holding a value: 200,000 rows of 100 columns,
# or 1,000,000 rows of 20. Far beyond an HR export; far below what costs gigabytes.
MAX_SHEET_CELLS = 20_000_000
# Shared strings (the text table of .xlsx/.xlsb): no more entries than the workbook's sheets
# could use (a cell that uses one takes at least 16 bytes of sheet XML), and absolute caps.
MAX_SHARED_STRINGS = 10_000_000
MAX_SHARED_CHARS = 200_000_000
SHARED_STRINGS_FREE = 10_000  # always allowed, whatever the sheets' size
BYTES_PER_SHARED_CELL = 16
# Zip bombs: a part that unpacks past these is refused before a byte of it is parsed. Real
# sheets pack 5-30 times; 1,000 times is the signature of a bomb. zipfile never yields more
# than a member's declared size, so checking the declared sizes is enough.
MAX_PART_BYTES = 2 * 1024**3
MAX_RATIO = 100
RATIO_FROM_BYTES = 32 * 1024**2  # small parts may pack tighter (a blank styles.xml)

FIX_STRAY = (
    "open the file, delete the rows and columns past the data (select them, right-click, "
    "Delete), save it and try again"
)


class BookError(Exception):
    """The workbook's structure is broken (turned into an InputError by the caller)."""


class SheetLimitError(BookError):
    """The sheet goes past what this tool reads (a damaged or hostile file). The message says
    where and how to fix the file; the caller adds the file name."""


def column_letters(index: int) -> str:
    """0 -> 'A', 16383 -> 'XFD' (any size: hostile files name absurd columns)."""
    out = ""
    n = index + 1
    while n:
        n, rem = divmod(n - 1, 26)
        out = chr(65 + rem) + out
    return out


def cell_name(row: int, column: int) -> str:
    """``(6000, 16383)`` -> 'XFD6000' (row 1-based, column 0-based)."""
    return f"{column_letters(column)}{row}"


class SheetBounds:
    """The extent of one sheet as it is read; raises ``SheetLimitError`` past the budget.

    ``row(n)`` is called for each row before its cells, ``cell(n, col)`` for each cell that
    holds a value (``col`` 0-based; a run of repeated cells is checked by its last one)."""

    __slots__ = ("sheet", "last_row", "width", "max_cells", "_row_limit")

    def __init__(self, sheet: str, max_cells: int = MAX_SHEET_CELLS) -> None:
        self.sheet = sheet
        self.last_row = 0
        self.width = 0
        self.max_cells = max_cells
        self._row_limit = MAX_ROWS  # the last row allowed at the present width

    def row(self, number: int) -> None:
        """A row starts: numbers only go up, and stay within a spreadsheet's rows."""
        if number <= self.last_row:
            raise SheetLimitError(
                f"row {number} appears twice in sheet {self.sheet!r} (one of them would be "
                f"lost): {_FIX_DAMAGED}"
                if number == self.last_row
                else f"row {number} comes after row {self.last_row} in sheet {self.sheet!r} "
                f"(rows out of order): {_FIX_DAMAGED}"
            )
        if number > MAX_ROWS:
            raise SheetLimitError(
                f"sheet {self.sheet!r} has a row numbered {number:,}, past the last row a "
                f"spreadsheet holds ({MAX_ROWS:,}): {_FIX_DAMAGED}"
            )
        self.last_row = number

    def cell(self, row: int, column: int) -> None:
        """A cell holding a value, at ``row`` (1-based) and ``column`` (0-based)."""
        if column >= self.width:
            if column >= MAX_COLUMNS:
                raise SheetLimitError(
                    f"sheet {self.sheet!r} has a cell at {cell_name(row, column)[:40]}, past "
                    f"the last column a spreadsheet holds (XFD): {_FIX_DAMAGED}"
                )
            self.width = column + 1
            self._row_limit = min(MAX_ROWS, self.max_cells // self.width)
        if row > self._row_limit:
            self._too_big(row, column)

    def put(self, cells: list[str], row: int, column: int, text: str) -> None:
        """Check a cell holding ``text`` and add it to its row's ``cells`` (padded)."""
        if column < len(cells):
            raise SheetLimitError(
                f"cell {cell_name(row, column)} of sheet {self.sheet!r} appears twice or out "
                f"of order: {_FIX_DAMAGED}"
            )
        self.cell(row, column)
        if column > len(cells):
            cells.extend([""] * (column - len(cells)))
        cells.append(text)

    def _too_big(self, row: int, column: int) -> None:
        raise SheetLimitError(
            f"sheet {self.sheet!r} has a value in cell {cell_name(row, column)}, which makes "
            f"it {row:,} rows by {self.width:,} columns ({row * self.width:,} cells), past "
            f"the {self.max_cells:,} cells this tool reads: {FIX_STRAY}"
        )


_FIX_DAMAGED = "the file is damaged; open it in Excel or LibreOffice, save it again and retry"


def check_zip(zf: zipfile.ZipFile) -> None:
    """Refuse a zip-based workbook whose parts would unpack past the limits (module doc)."""
    for info in zf.infolist():
        size, packed = info.file_size, max(1, info.compress_size)
        if size > MAX_PART_BYTES or (size > RATIO_FROM_BYTES and size > MAX_RATIO * packed):
            raise BookError(
                f"part {info.filename[:80]} unpacks to {size / 1024**2:,.0f} MB, "
                f"{size // packed:,} times its packed size: not a workbook a spreadsheet writes"
            )


def open_zip(path: str | PathLike[str]) -> zipfile.ZipFile:
    """A zip-based workbook, its part sizes checked (``check_zip``); raises ``BookError``."""
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise BookError(type(exc).__name__) from None
    try:
        check_zip(zf)
    except BookError:
        zf.close()
        raise
    return zf


def shared_strings_allowed(zf: zipfile.ZipFile, sheet_parts: list[str]) -> int:
    """How many shared strings this workbook's sheets could use (see module constants)."""
    sheet_bytes = 0
    for part in sheet_parts:
        try:
            sheet_bytes += zf.getinfo(part).file_size
        except KeyError:
            continue
    return min(MAX_SHARED_STRINGS, SHARED_STRINGS_FREE + sheet_bytes // BYTES_PER_SHARED_CELL)


def bounded_strings(texts: Iterable[str], allowed: int) -> list[str]:
    """A workbook's shared strings, refused past ``allowed`` strings or ``MAX_SHARED_CHARS``
    characters (``shared_strings_allowed``) as they are read."""
    out: list[str] = []
    chars = 0
    for text in texts:
        out.append(text)
        chars += len(text)
        if len(out) > allowed or chars > MAX_SHARED_CHARS:
            raise _shared_strings_refused(chars, allowed)
    return out


def _shared_strings_refused(chars: int, allowed: int) -> BookError:
    if chars > MAX_SHARED_CHARS:
        return SheetLimitError(
            f"its shared strings hold more than {MAX_SHARED_CHARS:,} characters, more text "
            "than this tool reads: save the sheet alone as a new workbook, or as 'CSV UTF-8'"
        )
    return SheetLimitError(
        f"its shared-string table holds more than {allowed:,} strings, more than its sheets "
        "could use (a damaged or crafted file): open it in Excel, save it again and retry"
    )
