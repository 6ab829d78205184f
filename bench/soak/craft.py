"""Hostile input files built in code: raw XLSX, .ods and .xlsb parts, zip bombs, far cells.

Raw XML is written by hand (not openpyxl) so a file can hold what Excel never writes: control
characters, absurd cell references, parts that unpack to gigabytes.
"""

from __future__ import annotations

import struct
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from xml.sax.saxutils import escape

from batch.reading.limits import column_letters

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


def row_xml(number: int, cells: Iterable[str], *, raw: bool = False) -> str:
    """One ``<row>`` of inline strings; ``raw`` skips XML escaping (to smuggle bad bytes in)."""
    parts = []
    for col, text in enumerate(cells):
        value = text if raw else escape(text)
        parts.append(
            f'<c r="{column_letters(col)}{number}" t="inlineStr"><is><t xml:space="preserve">'
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


# ------------------------------------------------------------------ .ods and .xlsb
ODS_HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?><office:document-content '
    'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
    'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"><office:body>'
    '<office:spreadsheet><table:table table:name="Sheet1">'
)
ODS_TAIL = "</table:table></office:spreadsheet></office:body></office:document-content>"


def ods_row(cells: Iterable[str], repeat: int = 1, cell_repeat: int = 1) -> str:
    rows = f' table:number-rows-repeated="{repeat}"' if repeat > 1 else ""
    cols = f' table:number-columns-repeated="{cell_repeat}"' if cell_repeat > 1 else ""
    body = "".join(
        f'<table:table-cell office:value-type="string"{cols}><text:p>{escape(v)}</text:p>'
        "</table:table-cell>"
        for v in cells
    )
    return f"<table:table-row{rows}>{body}</table:table-row>"


def write_ods(path: Path, content: str | Iterator[bytes]) -> Path:
    """An .ods whose content.xml is ``content`` (text, or chunks for a part of gigabytes)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr(zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.spreadsheet")
        if isinstance(content, str):
            zf.writestr("content.xml", content)
        else:
            with zf.open("content.xml", "w", force_zip64=True) as dst:
                for chunk in content:
                    dst.write(chunk)
    return path


def _xlsb_record(kind: int, payload: bytes = b"") -> bytes:
    def varint(value: int, most: int) -> bytes:
        out = bytearray()
        for _ in range(most):
            out.append((value & 0x7F) | (0x80 if value >> 7 else 0))
            value >>= 7
            if not value:
                break
        return bytes(out)

    return varint(kind, 2) + varint(len(payload), 4) + payload


def _wide(text: str) -> bytes:
    return struct.pack("<I", len(text)) + text.encode("utf-16-le")


def write_xlsb(path: Path, cells: Iterable[tuple[int, int, str]], pad: int = 0) -> Path:
    """An .xlsb with one sheet of text cells ``(row index, column index, text)``, ``pad``
    bytes of padding records after them (a sheet part of gigabytes that packs tightly)."""
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    sheet = [_xlsb_record(0x0081), _xlsb_record(0x0091)]
    row = -1
    for r, c, text in cells:
        if r != row:
            sheet.append(_xlsb_record(0x0000, struct.pack("<IIHBBBI", r, 0, 0x12C, 0, 0, 0, 0)))
            row = r
        sheet.append(_xlsb_record(0x0006, struct.pack("<II", c, 0) + _wide(text)))
    book = _xlsb_record(0x009C, struct.pack("<II", 0, 1) + _wide("rId1") + _wide("Sheet1"))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr("xl/workbook.bin", _xlsb_record(0x0083) + book + _xlsb_record(0x0090))
        zf.writestr(
            "xl/_rels/workbook.bin.rels",
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            f'<Relationship Id="rId1" Type="{rel}/worksheet" Target="worksheets/sheet1.bin"/>'
            "</Relationships>",
        )
        with zf.open("xl/worksheets/sheet1.bin", "w", force_zip64=True) as dst:
            dst.write(b"".join(sheet))
            block = _xlsb_record(0x0001, bytes(8)) * 100_000  # blank cells: packs tightly
            sent = 0
            while sent < pad:
                dst.write(block)
                sent += len(block)
            dst.write(_xlsb_record(0x0092) + _xlsb_record(0x0082))
    return path
