"""Hostile input files built in code: raw XLSX parts, zip bombs, huge CSV lines.

Raw XML is written by hand (not openpyxl) so a file can hold what Excel never writes: control
characters, absurd cell references, parts that unpack to gigabytes.
"""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from xml.sax.saxutils import escape

CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    "</Types>"
)
ROOT_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>'
    "</Relationships>"
)
WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>'
    "</Relationships>"
)
SHEET_HEAD = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
)
SHEET_TAIL = "</sheetData></worksheet>"
HEADER = ("Email", "Course", "Completion Date", "Score")


def column_letter(index: int) -> str:
    """0 -> 'A', 27 -> 'AB' (no upper bound: hostile files use absurd columns)."""
    out = ""
    n = index + 1
    while n:
        n, rem = divmod(n - 1, 26)
        out = chr(65 + rem) + out
    return out


def row_xml(number: int, cells: Iterable[str], *, raw: bool = False) -> str:
    """One ``<row>`` of inline strings; ``raw`` skips XML escaping (to smuggle bad bytes in)."""
    parts = []
    for col, text in enumerate(cells):
        value = text if raw else escape(text)
        parts.append(
            f'<c r="{column_letter(col)}{number}" t="inlineStr"><is><t xml:space="preserve">'
            f"{value}</t></is></c>"
        )
    return f'<row r="{number}">{"".join(parts)}</row>'


def sheet_xml(rows: Iterable[Iterable[str]], *, raw: bool = False) -> str:
    body = "".join(row_xml(n, cells, raw=raw) for n, cells in enumerate(rows, 1))
    return SHEET_HEAD + body + SHEET_TAIL


def write_xlsx(path: Path, sheet: str | bytes, extra: dict[str, bytes] | None = None) -> Path:
    """A minimal workbook with one sheet whose XML is ``sheet``."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", CONTENT_TYPES)
        zf.writestr("_rels/.rels", ROOT_RELS)
        zf.writestr("xl/workbook.xml", WORKBOOK)
        zf.writestr("xl/_rels/workbook.xml.rels", WORKBOOK_RELS)
        zf.writestr("xl/worksheets/sheet1.xml", sheet)
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return path


def write_xlsx_stream(
    path: Path, chunks: Iterator[bytes], part: str = "xl/worksheets/sheet1.xml"
) -> Path:
    """A workbook whose ``part`` is written from ``chunks`` (for parts of gigabytes)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr("[Content_Types].xml", CONTENT_TYPES)
        zf.writestr("_rels/.rels", ROOT_RELS)
        if part != "xl/workbook.xml":
            zf.writestr("xl/workbook.xml", WORKBOOK)
        zf.writestr("xl/_rels/workbook.xml.rels", WORKBOOK_RELS)
        if part != "xl/worksheets/sheet1.xml":
            zf.writestr(
                "xl/worksheets/sheet1.xml",
                sheet_xml([HEADER, ("a@b.example", "X", "2025-01-01", "")]),
            )
        with zf.open(part, "w", force_zip64=True) as dst:
            for chunk in chunks:
                dst.write(chunk)
    return path


def bomb_rows(total_bytes: int) -> Iterator[bytes]:
    """A sheet of ~``total_bytes`` that compresses ~1000:1: a header, then identical rows."""
    yield (SHEET_HEAD + row_xml(1, HEADER)).encode()
    row = b'<row><c t="inlineStr"><is><t>x</t></is></c></row>'
    block = row * (1 << 20 // len(row) + 1)
    sent = 0
    while sent < total_bytes:
        yield block
        sent += len(block)
    yield SHEET_TAIL.encode()


def bomb_one_row(total_bytes: int) -> Iterator[bytes]:
    """A sheet whose second row alone holds ~``total_bytes`` of empty cells."""
    yield (SHEET_HEAD + row_xml(1, HEADER) + '<row r="2">').encode()
    block = b"<c/>" * (1 << 18)
    sent = 0
    while sent < total_bytes:
        yield block
        sent += len(block)
    yield b"</row>" + SHEET_TAIL.encode()


def deflate_ratio(data: bytes) -> float:
    return len(data) / max(1, len(zlib.compress(data, 9)))
