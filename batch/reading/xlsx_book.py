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
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import IO
from xml.etree.ElementTree import fromstring, iterparse

from openpyxl.utils.datetime import MAC_EPOCH, WINDOWS_EPOCH

from batch.reading.book import NO_STYLES, BookError, NumberStyles, SheetInfo, number_styles
from batch.reading.cells import unescape_ooxml
from batch.reading.limits import bounded_strings, open_zip, shared_strings_allowed
from batch.reading.xlsx_fast import sheet_rows

__all__ = ["STRICT_NS", "BookError", "SheetInfo", "XlsxBook"]

_NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_REL_NS = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
# "Strict Open XML Spreadsheet" (an Excel "Save as" choice) names the same elements under
# other namespaces; the structure is the same, so the namespaces are all that changes.
STRICT_NS = "{http://purl.oclc.org/ooxml/spreadsheetml/main}"
_STRICT_REL_NS = "{http://purl.oclc.org/ooxml/officeDocument/relationships}"
_PKG_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}Relationship"
_WORKSHEET_TYPE = "/worksheet"
_SHARED_STRINGS = "xl/sharedStrings.xml"


class XlsxBook:
    """An open workbook: ``sheets``, ``active``, and ``rows(sheet)`` streaming
    ``(row_number, texts)``. Any failure to open is a ``BookError``."""

    formats_seen = True

    def __init__(self, path: Path) -> None:
        self.zip = open_zip(path)
        try:
            self.sheets, self.epoch, self.active = self._read_workbook()
            self.styles = self._read_styles()
        except BookError:
            self.zip.close()
            raise
        except Exception as exc:  # noqa: BLE001 - any parse failure: a broken workbook
            self.zip.close()
            raise BookError(type(exc).__name__) from None
        self._strings: list[str] | None = None

    @property
    def strict(self) -> bool:
        """True for a Strict Open XML workbook."""
        return self.ns == STRICT_NS

    def close(self) -> None:
        self.zip.close()

    def _read_workbook(self) -> tuple[list[SheetInfo], datetime, str | None]:
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
        sheets, tabs = [], []
        for sheet in root.iter(f"{_NS_}sheet"):
            kind, part = targets.get(sheet.get(f"{rel_ns}id", ""), ("", ""))
            tabs.append(sheet.get("name", ""))
            if kind.endswith(_WORKSHEET_TYPE) and part in names:
                sheets.append(SheetInfo(sheet.get("name", ""), sheet.get("state", "visible"), part))
        view = root.find(f"{_NS_}bookViews/{_NS_}workbookView")
        tab = view.get("activeTab", "0") if view is not None else "0"
        active = tabs[int(tab)] if tab.isdigit() and int(tab) < len(tabs) else None
        return sheets, epoch, active

    def _read_styles(self) -> NumberStyles:
        try:
            root = fromstring(self.zip.read("xl/styles.xml"))
        except KeyError:
            return NO_STYLES
        custom = {
            int(f.get("numFmtId", "0")): f.get("formatCode", "")
            for f in root.iter(f"{self.ns}numFmt")
        }
        xfs = root.find(f"{self.ns}cellXfs")
        cell_styles = xfs.iter(f"{self.ns}xf") if xfs is not None else ()
        return number_styles(custom, (int(xf.get("numFmtId", "0")) for xf in cell_styles))

    def shared_strings(self) -> list[str]:
        """Shared strings, read once per open (plain and rich-text; phonetic runs skipped),
        bounded in count and characters (``limits``)."""
        if self._strings is None:
            out: list[str] = []
            if _SHARED_STRINGS in self.zip.namelist():
                allowed = shared_strings_allowed(self.zip, [s.part for s in self.sheets])
                with self.zip.open(_SHARED_STRINGS) as src:
                    out = bounded_strings(_iter_shared_strings(src, self.ns), allowed)
            self._strings = out
        return self._strings

    def rows(self, sheet: SheetInfo) -> Iterator[tuple[int, list[str]]]:
        return sheet_rows(
            lambda: self.zip.open(sheet.part),
            self.shared_strings(),
            self.styles,
            self.epoch,
            sheet=sheet.name,
            ns=self.ns,
        )


def _iter_shared_strings(src: IO[bytes], ns: str = _NS) -> Iterator[str]:
    si, t, r = f"{ns}si", f"{ns}t", f"{ns}r"
    root = None
    for event, elem in iterparse(src, events=("start", "end")):
        if event == "start":
            if root is None:
                root = elem
            continue
        if elem.tag == si:
            parts = [elem.findtext(t) or ""]
            parts += [run.findtext(t) or "" for run in elem.iter(r)]
            yield unescape_ooxml("".join(parts))
            if root is not None:
                root.clear()  # read items leave the tree: memory stays flat whatever the count
