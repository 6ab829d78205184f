"""OpenDocument spreadsheets (.ods): a streaming, bounded reader of ``content.xml``.

Read with expat callbacks, not a tree: no element outlives its row, and nothing is expanded
before it is checked. ODS compresses runs of equal cells and rows into one element with a
repeat count (``table:number-columns-repeated``, ``table:number-rows-repeated``); LibreOffice
ends every sheet with empty runs to the last row and column. Empty runs only move the position;
a run holding a value is checked against the sheet's budget (``limits.SheetBounds``) at its far
end before a single copy is made, so an 897-byte file that repeats one value a billion times
is refused by its extent instead of being grown.

Cell values come from their typed attributes, as the spreadsheet shows them: ``percentage``
as "87%" (like a percent-formatted .xlsx cell), dates as ISO text, booleans as TRUE/FALSE,
numbers without ``.0``; text from its paragraphs (``text:s`` spaces, tabs, line breaks),
comments left out.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from xml.etree.ElementTree import iterparse
from xml.parsers import expat

from batch.reading.book import BookError, SheetInfo
from batch.reading.cells import cell_text, number_text
from batch.reading.limits import MAX_COLUMNS, SheetBounds, SheetLimitError, open_zip

_OFFICE = "urn:oasis:names:tc:opendocument:xmlns:office:1.0 "
_TABLE = "urn:oasis:names:tc:opendocument:xmlns:table:1.0 "
_TEXT = "urn:oasis:names:tc:opendocument:xmlns:text:1.0 "
_STYLE = "urn:oasis:names:tc:opendocument:xmlns:style:1.0 "
_CONFIG = "{urn:oasis:names:tc:opendocument:xmlns:config:1.0}"

_SHEET = _TABLE + "table"
_ROW = _TABLE + "table-row"
_CELLS = (_TABLE + "table-cell", _TABLE + "covered-table-cell")
_PARAGRAPH = _TEXT + "p"
_SPACE, _TAB, _BREAK = _TEXT + "s", _TEXT + "tab", _TEXT + "line-break"
_NOTE = _OFFICE + "annotation"
_VALUE_TYPE, _VALUE = _OFFICE + "value-type", _OFFICE + "value"
_ROWS_REPEATED, _COLUMNS_REPEATED = (
    _TABLE + "number-rows-repeated",
    _TABLE + "number-columns-repeated",
)
_MAX_SPACES = 1_000  # one <text:s text:c="..."/> expands to at most this many spaces
_CHUNK = 1 << 16
T = TypeVar("T")
_DURATION = re.compile(r"^-?P(?:(\d+)D)?T?(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?$")


class _Stop(Exception):
    """The wanted sheet has ended: stop parsing."""


class OdsBook:
    """An open .ods: ``sheets`` (hidden ones marked), ``active``, ``rows(sheet)``."""

    formats_seen = True

    def __init__(self, path: Path) -> None:
        self.zip = open_zip(path)
        if "content.xml" not in self.zip.namelist():
            self.zip.close()
            raise BookError("it has no content.xml")
        self._sheets: list[SheetInfo] | None = None

    def close(self) -> None:
        self.zip.close()

    @property
    def sheets(self) -> list[SheetInfo]:
        """Listed on first use: listing is a pass over content.xml that reading one known
        sheet (``rows``) does not need."""
        if self._sheets is None:
            self._sheets = _guarded(self._list_sheets)
        return self._sheets

    @property
    def active(self) -> str | None:
        return _guarded(self._active_sheet)

    def _list_sheets(self) -> list[SheetInfo]:
        """One pass of start tags only: the sheets in order and the styles that hide them."""
        tables: list[tuple[str, str]] = []
        hidden: set[str] = set()
        style: list[str] = [""]
        body: list[bool] = []

        def start(tag: str, attrs: dict[str, str]) -> None:
            if tag == _OFFICE + "spreadsheet":
                body.append(True)
            elif tag == _SHEET:
                tables.append(
                    (attrs.get(_TABLE + "name", ""), attrs.get(_TABLE + "style-name", ""))
                )
            elif tag == _STYLE + "style":
                style[0] = attrs.get(_STYLE + "name", "")
            elif tag == _STYLE + "table-properties" and attrs.get(_TABLE + "display") == "false":
                hidden.add(style[0])

        _parse(self.zip, "content.xml", start, None, None)
        if not body:
            raise BookError("its content.xml holds no spreadsheet")
        return [
            SheetInfo(name, "hidden" if style_name in hidden else "visible", "content.xml")
            for name, style_name in tables
        ]

    def _active_sheet(self) -> str | None:
        """The tab the file opens on (``settings.xml``: ActiveTable), when it says."""
        if "settings.xml" not in self.zip.namelist():
            return None
        with self.zip.open("settings.xml") as src:
            for _, elem in iterparse(src):
                if (
                    elem.tag == _CONFIG + "config-item"
                    and elem.get(_CONFIG + "name") == "ActiveTable"
                ):
                    return elem.text or None
        return None

    def rows(self, sheet: SheetInfo) -> Iterator[tuple[int, list[str]]]:
        """``(row number, texts)`` for every row of ``sheet`` that holds a value."""
        reader = _SheetReader(sheet.name)
        try:
            with self.zip.open("content.xml") as src:
                parser = _parser(reader.start, reader.end, reader.data)
                while not reader.done:
                    chunk = src.read(_CHUNK)
                    try:
                        parser.Parse(chunk, not chunk)
                    except _Stop:
                        reader.done = True
                    yield from reader.take()
                    if not chunk:
                        break
        except expat.ExpatError as exc:
            raise BookError(f"content.xml: {exc}") from None


def _guarded(read: Callable[[], T]) -> T:
    try:
        return read()
    except BookError:
        raise
    except Exception as exc:  # noqa: BLE001 - any parse failure: a broken workbook
        raise BookError(f"{type(exc).__name__}: {str(exc)[:120]}") from None


def _parser(start: Any, end: Any, data: Any) -> Any:
    parser = expat.ParserCreate(namespace_separator=" ")
    parser.buffer_text = True
    parser.StartElementHandler = start
    if end is not None:
        parser.EndElementHandler = end
    if data is not None:
        parser.CharacterDataHandler = data
    return parser


def _parse(zf: zipfile.ZipFile, part: str, start: Any, end: Any, data: Any) -> None:
    parser = _parser(start, end, data)
    with zf.open(part) as src:
        while chunk := src.read(_CHUNK):
            parser.Parse(chunk, False)
        parser.Parse(b"", True)


def _count(attrs: dict[str, str], name: str) -> int:
    raw = attrs.get(name)
    if raw is None:
        return 1
    value = int(raw)
    if value < 1:
        raise ValueError(f"{name.split()[-1]}={raw}")
    return value


class _SheetReader:
    """Expat callbacks that collect one sheet's rows (``take()`` hands them over)."""

    def __init__(self, sheet: str) -> None:
        self.sheet = sheet
        self.bounds = SheetBounds(sheet)
        self.inside = False  # within the wanted sheet
        self.seen = False
        self.done = False
        self.depth = 0  # nested tables inside cells are not rows of this sheet
        self.row = 0  # rows passed so far (repeats included)
        self.pending: list[tuple[int, int, list[str]]] = []  # (first row, repeats, cells)
        self.cells: list[str] = []
        self.col = 0
        self.row_repeat = 1
        self.row_elements = 0
        self.cell: dict[str, str] | None = None
        self.parts: list[str] = []
        self.paragraphs = 0
        self.notes = 0

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        if tag == _SHEET:
            if self.inside:
                self.depth += 1
            elif not self.seen and attrs.get(_TABLE + "name", "") == self.sheet:
                self.inside = self.seen = True
            return
        if not self.inside or self.depth:
            return
        if self.cell is not None:
            if tag == _NOTE:
                self.notes += 1
            elif self.notes:
                return
            elif tag == _PARAGRAPH:
                if self.paragraphs:
                    self.parts.append("\n")
                self.paragraphs += 1
            elif tag == _SPACE:
                self.parts.append(" " * min(_count(attrs, _TEXT + "c"), _MAX_SPACES))
            elif tag == _TAB:
                self.parts.append("\t")
            elif tag == _BREAK:
                self.parts.append("\n")
        elif tag in _CELLS:
            self.row_elements += 1
            if self.row_elements > MAX_COLUMNS:
                raise SheetLimitError(
                    f"row {self.row + 1} of sheet {self.sheet!r} holds more than "
                    f"{MAX_COLUMNS:,} cells, past the last column a spreadsheet holds"
                )
            self.cell = attrs
            self.parts = []
            self.paragraphs = 0
        elif tag == _ROW:
            self.row_repeat = _count(attrs, _ROWS_REPEATED)
            self.cells = []
            self.col = 0
            self.row_elements = 0

    def data(self, text: str) -> None:
        if self.cell is not None and self.paragraphs and not self.notes:
            self.parts.append(text)

    def end(self, tag: str) -> None:
        if not self.inside:
            return
        if tag == _SHEET:
            if self.depth:
                self.depth -= 1
                return
            self.inside = False
            raise _Stop
        if self.depth:
            return
        if self.cell is not None:
            if tag == _NOTE:
                self.notes -= 1
            elif tag in _CELLS:
                self._end_cell()
        elif tag == _ROW:
            first = self.row + 1
            self.row += self.row_repeat
            if self.cells:
                self.bounds.row(first)
                last = first + self.row_repeat - 1
                self.bounds.cell(last, len(self.cells) - 1)  # the run's far corner first
                self.bounds.last_row = last
                self.pending.append((first, self.row_repeat, self.cells))
            self.cells = []

    def _end_cell(self) -> None:
        attrs = self.cell
        assert attrs is not None
        self.cell = None
        repeat = _count(attrs, _COLUMNS_REPEATED)
        text = _cell_value(attrs, "".join(self.parts))
        if text:
            last = self.col + repeat - 1
            self.bounds.cell(self.row + self.row_repeat, last)  # before a copy is made
            if self.col > len(self.cells):
                self.cells.extend([""] * (self.col - len(self.cells)))
            self.cells.extend([text] * repeat)
        self.col += repeat

    def take(self) -> Iterator[tuple[int, list[str]]]:
        pending, self.pending = self.pending, []
        for first, repeat, cells in pending:
            for number in range(first, first + repeat):
                yield number, list(cells)


def _cell_value(attrs: dict[str, str], text: str) -> str:
    """A cell as the spreadsheet shows it, from its typed value (module docstring)."""
    kind = attrs.get(_VALUE_TYPE)
    try:
        if kind in ("float", "currency"):
            return number_text(float(attrs[_VALUE]))
        if kind == "percentage":
            return number_text(float(attrs[_VALUE]) * 100) + "%"
        if kind == "date":
            return _date_text(attrs[_OFFICE + "date-value"])
        if kind == "time":
            return _time_text(attrs[_OFFICE + "time-value"])
        if kind == "boolean":
            return "TRUE" if attrs[_OFFICE + "boolean-value"].lower() == "true" else "FALSE"
        if kind == "string" and _OFFICE + "string-value" in attrs:
            return attrs[_OFFICE + "string-value"]
    except (KeyError, ValueError):
        pass  # a damaged typed value: the text the cell shows
    return text


def _date_text(raw: str) -> str:
    if len(raw) == 10:
        return date.fromisoformat(raw).isoformat()
    return cell_text(datetime.fromisoformat(raw))


def _time_text(raw: str) -> str:
    match = _DURATION.match(raw.strip())
    if match is None:
        raise ValueError(raw)
    days, hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    span = timedelta(days=days, hours=hours, minutes=minutes, seconds=round(seconds))
    if raw.startswith("-") or span >= timedelta(days=1):
        return cell_text(-span if raw.startswith("-") else span)
    return cell_text((datetime.min + span).time())
