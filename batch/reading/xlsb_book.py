"""Excel binary workbooks (.xlsb): a streaming, bounded reader of the BIFF12 records.

An .xlsb is a zip like an .xlsx whose parts are binary records (MS-XLSB): a record is a type
and a size, each a little-endian base-128 number, then its payload. Only what turns cells into
text is read: the sheet list (``workbook.bin``), the cell styles' number formats
(``styles.bin``: which cells are dates or percents, as in ``xlsx_book``), the shared strings
(bounded like the .xlsx ones) and each sheet's cell records, streamed row by row. Every cell
passes the sheet's ``SheetBounds`` before it is kept; a record larger than any real cell is
refused.
"""

from __future__ import annotations

import posixpath
import struct
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import IO
from xml.etree.ElementTree import fromstring

from openpyxl.utils.datetime import MAC_EPOCH, WINDOWS_EPOCH

from batch.reading.book import NO_STYLES, BookError, NumberStyles, SheetInfo, number_styles
from batch.reading.cells import styled_number_reader
from batch.reading.limits import (
    SheetBounds,
    bounded_strings,
    open_zip,
    shared_strings_allowed,
)

_MAX_RECORD = 8 * 1024**2  # a cell holds at most 32,767 characters (64 KB)
_CHUNK = 1 << 20
_PKG_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}Relationship"
_STATES = {0: "visible", 1: "hidden", 2: "veryHidden"}
_ERRORS = {
    0x00: "#NULL!", 0x07: "#DIV/0!", 0x0F: "#VALUE!", 0x17: "#REF!", 0x1D: "#NAME?",
    0x24: "#NUM!", 0x2A: "#N/A", 0x2B: "#GETTING_DATA",
}  # fmt: skip
# Record types (MS-XLSB 2.3)
_ROW_HEADER, _END_SHEET_DATA = 0x0000, 0x0092
_BLANK, _RK, _ERROR, _BOOL, _REAL, _STRING, _SHARED = 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07
_FORMULA_STRING, _FORMULA_NUMBER, _FORMULA_BOOL, _FORMULA_ERROR = 0x08, 0x09, 0x0A, 0x0B
_RICH_STRING = 0x003E
_WB_PROP, _BUNDLE_SHEET, _BOOK_VIEW, _END_BUNDLE = 0x0099, 0x009C, 0x009E, 0x0090
_FORMAT, _CELL_XFS, _XF, _END_CELL_XFS = 0x002C, 0x0269, 0x002F, 0x026A
_SST_ITEM = 0x0013
_U32, _F64 = struct.Struct("<I"), struct.Struct("<d")


def records(src: IO[bytes]) -> Iterator[tuple[int, bytes]]:
    """``(type, payload)`` for each record of a part, read in chunks."""
    buf, pos = b"", 0
    while True:
        if len(buf) - pos < 6:  # a header is at most 6 bytes: top up
            buf, pos = buf[pos:] + src.read(_CHUNK), 0
            if pos >= len(buf):
                return
        kind, pos = _varint(buf, pos, 2)
        size, pos = _varint(buf, pos, 4)
        if size > _MAX_RECORD:
            raise BookError(f"a record of {size:,} bytes, larger than any cell")
        if len(buf) - pos < size:
            buf, pos = buf[pos:] + src.read(max(_CHUNK, size)), 0
            if len(buf) < size:
                raise BookError("a record is cut short")
        yield kind, buf[pos : pos + size]
        pos += size


def _varint(buf: bytes, pos: int, most: int) -> tuple[int, int]:
    value = shift = 0
    for _ in range(most):
        if pos >= len(buf):
            raise BookError("a record is cut short")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
    return value, pos


def wide_string(data: bytes, pos: int = 0) -> tuple[str, int]:
    """XLWideString: a character count (u32), then UTF-16LE; returns (text, next position)."""
    (count,) = _U32.unpack_from(data, pos)
    end = pos + 4 + 2 * count
    if end > len(data):
        raise BookError("a string runs past its record")
    return data[pos + 4 : end].decode("utf-16-le", "replace"), end


class XlsbBook:
    """An open .xlsb: ``sheets``, ``active``, ``rows(sheet)``."""

    def __init__(self, path: Path) -> None:
        self.zip = open_zip(path)
        try:
            self.sheets, self.epoch, self.active = self._read_workbook()
            self.styles, self.formats_seen = self._read_styles()
        except BookError:
            self.zip.close()
            raise
        except Exception as exc:  # noqa: BLE001 - any parse failure: a broken workbook
            self.zip.close()
            raise BookError(type(exc).__name__) from None
        self._strings: list[str] | None = None

    def close(self) -> None:
        self.zip.close()

    def _read_workbook(self) -> tuple[list[SheetInfo], datetime, str | None]:
        targets = {}
        rels = fromstring(self.zip.read("xl/_rels/workbook.bin.rels"))
        for rel in rels.iter(_PKG_REL):
            target = rel.get("Target", "")
            target = target[1:] if target.startswith("/") else posixpath.join("xl", target)
            targets[rel.get("Id", "")] = posixpath.normpath(target)
        names = set(self.zip.namelist())
        sheets, tabs, epoch, tab = [], [], WINDOWS_EPOCH, 0
        with self.zip.open("xl/workbook.bin") as src:
            for kind, data in records(src):
                if kind == _WB_PROP:
                    epoch = MAC_EPOCH if _U32.unpack_from(data)[0] & 1 else WINDOWS_EPOCH
                elif kind == _BOOK_VIEW and len(data) >= 28:
                    tab = _U32.unpack_from(data, 24)[0]
                elif kind == _BUNDLE_SHEET:
                    state, (count,) = _U32.unpack_from(data)[0], _U32.unpack_from(data, 8)
                    rel_id, pos = ("", 12) if count == 0xFFFFFFFF else wide_string(data, 8)
                    name, _ = wide_string(data, pos)
                    tabs.append(name)
                    part = targets.get(rel_id, "")
                    if "/worksheets/" in part and part in names:
                        sheets.append(SheetInfo(name, _STATES.get(state, "hidden"), part))
                elif kind == _END_BUNDLE:
                    break
        active = tabs[tab] if tab < len(tabs) else None
        return sheets, epoch, active

    def _read_styles(self) -> tuple[NumberStyles, bool]:
        """Number styles, and whether they could be seen (a workbook without styles.bin
        holds numbers whose format nobody can tell)."""
        if "xl/styles.bin" not in self.zip.namelist():
            return NO_STYLES, False
        custom: dict[int, str] = {}
        formats: list[int] = []
        in_cell_xfs = False
        with self.zip.open("xl/styles.bin") as src:
            for kind, data in records(src):
                if kind == _FORMAT:
                    custom[struct.unpack_from("<H", data)[0]] = wide_string(data, 2)[0]
                elif kind == _CELL_XFS:
                    in_cell_xfs = True
                elif kind == _XF and in_cell_xfs:
                    formats.append(struct.unpack_from("<H", data, 2)[0])
                elif kind == _END_CELL_XFS:
                    break
        return number_styles(custom, formats), True

    def shared_strings(self) -> list[str]:
        if self._strings is None:
            out: list[str] = []
            if "xl/sharedStrings.bin" in self.zip.namelist():
                allowed = shared_strings_allowed(self.zip, [s.part for s in self.sheets])
                with self.zip.open("xl/sharedStrings.bin") as src:
                    texts = (  # each after its rich-text / phonetic flags byte
                        wide_string(data, 1)[0] for kind, data in records(src) if kind == _SST_ITEM
                    )
                    out = bounded_strings(texts, allowed)
            self._strings = out
        return self._strings

    def rows(self, sheet: SheetInfo) -> Iterator[tuple[int, list[str]]]:
        """``(row number, texts)`` for every row of the sheet that holds a value."""
        strings = self.shared_strings()
        number = styled_number_reader(self.styles, self.epoch)
        bounds = SheetBounds(sheet.name)
        row, cells = 1, list[str]()
        with self.zip.open(sheet.part) as src:
            for kind, data in records(src):
                if kind == _ROW_HEADER:
                    if cells:
                        yield row, cells
                        cells = []
                    row = _U32.unpack_from(data)[0] + 1
                    bounds.row(row)
                    continue
                if kind == _END_SHEET_DATA:
                    break
                if (kind > _FORMULA_ERROR and kind != _RICH_STRING) or kind == _BLANK:
                    continue
                col, style = _U32.unpack_from(data)[0], _U32.unpack_from(data, 4)[0] & 0xFFFFFF
                if kind in (_REAL, _FORMULA_NUMBER):
                    text = number(_F64.unpack_from(data, 8)[0], style)
                elif kind == _RK:
                    text = number(_rk(_U32.unpack_from(data, 8)[0]), style)
                elif kind == _SHARED:
                    text = strings[_U32.unpack_from(data, 8)[0]]
                elif kind in (_STRING, _FORMULA_STRING):
                    text = wide_string(data, 8)[0]
                elif kind == _RICH_STRING:
                    text = wide_string(data, 9)[0]
                elif kind in (_BOOL, _FORMULA_BOOL):
                    text = "TRUE" if data[8] else "FALSE"
                else:
                    text = _ERRORS.get(data[8], "#N/A")
                if text:
                    bounds.put(cells, row, col, text)
        if cells:
            yield row, cells


def _rk(raw: int) -> float:
    """An RkNumber: a 30-bit integer or the top of a double, maybe divided by 100."""
    if raw & 2:
        value = float((raw - (1 << 32) if raw & 0x80000000 else raw) >> 2)
    else:
        value = _F64.unpack(b"\0\0\0\0" + _U32.pack(raw & 0xFFFFFFFC))[0]
    return value / 100 if raw & 1 else value
