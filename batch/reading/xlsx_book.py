"""The workbook-level parts of an .xlsx/.xlsm: sheets, shared strings, number styles, epoch.

Read directly from the zip rather than through ``openpyxl.load_workbook``: in read-only mode
openpyxl parses every sheet once at load time just to find its size when the file lacks a
``<dimension>`` element (files written by scripts often do), which made each pass over a
large sheet cost two. Only the few small XML parts needed to turn cells into text are read
here; the sheet itself is streamed by ``xlsx_fast``. openpyxl still supplies the number-format
rules (which formats are dates) so results match what Excel shows.
"""

from __future__ import annotations

import posixpath
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO
from xml.etree.ElementTree import ParseError, fromstring, iterparse

from openpyxl.styles.numbers import BUILTIN_FORMATS, is_date_format, is_timedelta_format
from openpyxl.utils.datetime import MAC_EPOCH, WINDOWS_EPOCH

from batch.reading.xlsx_fast import sheet_rows

_NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_REL_NS = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
# "Strict Open XML Spreadsheet" (an Excel "Save as" choice) names the same elements under
# other namespaces; the structure is the same, so the namespaces are all that changes.
STRICT_NS = "{http://purl.oclc.org/ooxml/spreadsheetml/main}"
_STRICT_REL_NS = "{http://purl.oclc.org/ooxml/officeDocument/relationships}"
_PKG_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}Relationship"
_WORKSHEET_TYPE = "/worksheet"
# Zip bombs: a part that unpacks past these is refused before a byte of it is parsed. Real
# sheets pack 5-30 times; 1,000 times is the signature of a bomb. zipfile never yields more
# than a member's declared size, so checking the declared sizes is enough.
MAX_PART_BYTES = 2 * 1024**3
MAX_RATIO = 100
RATIO_FROM_BYTES = 32 * 1024**2  # small parts may pack tighter (a blank styles.xml)


class BookError(Exception):
    """The workbook's structure is broken (turned into an InputError by the caller)."""


@dataclass(frozen=True, slots=True)
class SheetInfo:
    name: str
    state: str  # "visible", "hidden", "veryHidden"
    part: str  # zip member of the sheet XML


@dataclass(frozen=True, slots=True)
class NumberStyles:
    dates: frozenset[int]
    timedeltas: frozenset[int]
    percents: frozenset[int]


class XlsxBook:
    """An open workbook: ``sheets``, and ``rows(sheet)`` streaming ``(row_number, texts)``."""

    def __init__(self, path: Path) -> None:
        try:
            self.zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise BookError(type(exc).__name__) from None
        try:
            _check_sizes(self.zip)
        except BookError:
            self.zip.close()
            raise
        try:
            self.sheets, self.epoch = self._read_workbook()
            self.styles = self._read_styles()
        except (KeyError, ParseError, ValueError, zipfile.BadZipFile, OSError, EOFError) as exc:
            self.zip.close()
            raise BookError(type(exc).__name__) from None
        self._strings: list[str] | None = None

    @property
    def strict(self) -> bool:
        """True for a Strict Open XML workbook."""
        return self.ns == STRICT_NS

    @property
    def has_percent_styles(self) -> bool:
        return bool(self.styles.percents)

    def close(self) -> None:
        self.zip.close()

    def _xml(self, name: str) -> object:
        return fromstring(self.zip.read(name))

    def _read_workbook(self) -> tuple[list[SheetInfo], datetime]:
        names = set(self.zip.namelist())
        book_part = "xl/workbook.xml"
        if book_part not in names:
            book_part = next(n for n in names if n.startswith("xl/workbook") and n.endswith(".xml"))
        root = fromstring(self.zip.read(book_part))
        self.ns = STRICT_NS if root.tag.startswith(STRICT_NS) else _NS
        rel_ns = _STRICT_REL_NS if self.ns == STRICT_NS else _REL_NS
        _NS_ = self.ns
        rels_part = posixpath.join(
            posixpath.dirname(book_part), "_rels", posixpath.basename(book_part) + ".rels"
        )
        targets: dict[str, tuple[str, str]] = {}
        for rel in fromstring(self.zip.read(rels_part)).iter(_PKG_REL):
            target = rel.get("Target", "")
            if target.startswith("/"):
                target = target[1:]
            else:
                target = posixpath.normpath(posixpath.join(posixpath.dirname(book_part), target))
            targets[rel.get("Id", "")] = (rel.get("Type", ""), target)
        pr = root.find(f"{_NS_}workbookPr")
        date1904 = pr is not None and pr.get("date1904", "0").lower() in ("1", "true")
        epoch = MAC_EPOCH if date1904 else WINDOWS_EPOCH
        sheets = []
        for sheet in root.iter(f"{_NS_}sheet"):
            kind, part = targets.get(sheet.get(f"{rel_ns}id", ""), ("", ""))
            if kind.endswith(_WORKSHEET_TYPE) and part in names:
                sheets.append(SheetInfo(sheet.get("name", ""), sheet.get("state", "visible"), part))
        return sheets, epoch

    def _read_styles(self) -> NumberStyles:
        try:
            root = fromstring(self.zip.read("xl/styles.xml"))
        except KeyError:
            return NumberStyles(frozenset(), frozenset(), frozenset())
        custom = {
            int(f.get("numFmtId", "0")): f.get("formatCode", "")
            for f in root.iter(f"{self.ns}numFmt")
        }
        dates, timedeltas, percents = set(), set(), set()
        xfs = root.find(f"{self.ns}cellXfs")
        for idx, xf in enumerate(xfs.iter(f"{self.ns}xf") if xfs is not None else ()):
            fmt_id = int(xf.get("numFmtId", "0"))
            code = custom.get(fmt_id) or BUILTIN_FORMATS.get(fmt_id, "General")
            if is_date_format(code):
                dates.add(idx)
            if is_timedelta_format(code):
                timedeltas.add(idx)
            if "%" in code:
                percents.add(idx)
        return NumberStyles(frozenset(dates), frozenset(timedeltas), frozenset(percents))

    def shared_strings(self) -> list[str]:
        """Shared strings, read once per open (plain and rich-text; phonetic runs skipped)."""
        if self._strings is None:
            out: list[str] = []
            if "xl/sharedStrings.xml" in self.zip.namelist():
                with self.zip.open("xl/sharedStrings.xml") as src:
                    out = list(_iter_shared_strings(src, self.ns))
            self._strings = out
        return self._strings

    def rows(self, sheet: SheetInfo) -> Iterator[tuple[int, list[str]]]:
        return sheet_rows(
            lambda: self.zip.open(sheet.part),
            self.shared_strings(),
            self.styles,
            self.epoch,
            ns=self.ns,
        )


def _check_sizes(zf: zipfile.ZipFile) -> None:
    for info in zf.infolist():
        size, packed = info.file_size, max(1, info.compress_size)
        if size > MAX_PART_BYTES or (size > RATIO_FROM_BYTES and size > MAX_RATIO * packed):
            raise BookError(
                f"part {info.filename[:80]} unpacks to {size / 1024**2:,.0f} MB, "
                f"{size // packed:,} times its packed size: not a workbook Excel writes"
            )


def _iter_shared_strings(src: IO[bytes], ns: str = _NS) -> Iterator[str]:
    si, t, r = f"{ns}si", f"{ns}t", f"{ns}r"
    for _, elem in iterparse(src):
        if elem.tag == si:
            parts = [elem.findtext(t) or ""]
            parts += [run.findtext(t) or "" for run in elem.iter(r)]
            yield "".join(parts)
            elem.clear()
