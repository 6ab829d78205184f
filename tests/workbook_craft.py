"""Small workbooks of every zip-based kind (.xlsx, .xlsb, .ods) written by hand in the tests,
so they can hold what no spreadsheet writes: far cells, repeats, repeated rows, bombs."""

from __future__ import annotations

import struct
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from tests.fixtures.make_xlsb import _BOOK_RELS, _CT, _RELS, record, styles_bin, wide, workbook_bin

HEADER = ("Email", "Course", "Completion Date")
ROW = ("a@acme.example", "Fire Safety", "2025-03-01")
_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_R = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG = "http://schemas.openxmlformats.org/package/2006/relationships"


def letters(index: int) -> str:
    out, n = "", index + 1
    while n:
        n, rem = divmod(n - 1, 26)
        out = chr(65 + rem) + out
    return out


# ------------------------------------------------------------------------------------ .xlsx
def xlsx_row(number: int, cells: Sequence[str], first_col: int = 0) -> str:
    body = "".join(
        f'<c r="{letters(first_col + i)}{number}" t="inlineStr"><is><t>{escape(v)}</t></is></c>'
        for i, v in enumerate(cells)
    )
    return f'<row r="{number}">{body}</row>'


def write_xlsx(
    path: Path,
    sheet_xml: str | bytes,
    *,
    shared_strings: bytes | None = None,
    xml_head: str = '<?xml version="1.0" encoding="UTF-8"?>',
) -> Path:
    """One sheet, "Sheet1", whose ``<sheetData>`` content is ``sheet_xml``."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(
            "xl/workbook.xml",
            f'{xml_head}<workbook xmlns="{_NS}" xmlns:r="{_R}"><sheets>'
            '<sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>',
        )
        zf.writestr(
            "xl/_rels/workbook.xml.rels",
            f'<Relationships xmlns="{_PKG}"><Relationship Id="rId1" '
            f'Type="{_R}/worksheet" Target="worksheets/sheet1.xml"/></Relationships>',
        )
        body = sheet_xml.decode() if isinstance(sheet_xml, bytes) else sheet_xml
        zf.writestr(
            "xl/worksheets/sheet1.xml",
            f'{xml_head}<worksheet xmlns="{_NS}"><sheetData>{body}</sheetData></worksheet>',
        )
        if shared_strings is not None:
            zf.writestr("xl/sharedStrings.xml", shared_strings)
    return path


# ------------------------------------------------------------------------------------ .xlsb
def xlsb_cells(rows: Iterable[tuple[int, Sequence[tuple[int, str]]]]) -> bytes:
    """Sheet records: for each (row index, [(column index, text)]), a row header and cells."""
    out = [record(0x0081), record(0x0091)]
    for r, cells in rows:
        out.append(record(0x0000, struct.pack("<IIHBBBI", r, 0, 0x12C, 0, 0, 0, 0)))
        for c, text in cells:
            out.append(record(0x0006, struct.pack("<II", c, 0) + wide(text)))
    out += [record(0x0092), record(0x0082)]
    return b"".join(out)


def write_xlsb(path: Path, sheet_bin: bytes, *, extra: dict[str, bytes] | None = None) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", _CT)
        zf.writestr("_rels/.rels", _RELS)
        zf.writestr("xl/workbook.bin", workbook_bin("Sheet1"))
        zf.writestr("xl/_rels/workbook.bin.rels", _BOOK_RELS)
        zf.writestr("xl/styles.bin", styles_bin())
        zf.writestr("xl/worksheets/sheet1.bin", sheet_bin)
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return path


# ------------------------------------------------------------------------------------ .ods
ODS_NS = (
    'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
    'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
    'xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0"'
)


def ods_cell(text: str = "", *, repeat: int = 1, **typed: str) -> str:
    """A cell: ``typed`` are office attributes (value_type="percentage", value="0.87")."""
    attrs = "".join(f" office:{k.replace('_', '-')}={quoteattr(v)}" for k, v in typed.items())
    if repeat > 1:
        attrs += f' table:number-columns-repeated="{repeat}"'
    para = f"<text:p>{escape(text)}</text:p>" if text else ""
    return f"<table:table-cell{attrs}>{para}</table:table-cell>"


def ods_row(*cells: str, repeat: int = 1) -> str:
    attr = f' table:number-rows-repeated="{repeat}"' if repeat > 1 else ""
    return f"<table:table-row{attr}>{''.join(cells)}</table:table-row>"


def ods_text_row(values: Sequence[str]) -> str:
    return ods_row(*(ods_cell(v, value_type="string") for v in values))


def write_ods(
    path: Path,
    sheets: dict[str, str],
    *,
    hidden: Sequence[str] = (),
    active: str | None = None,
    content: bytes | None = None,
) -> Path:
    """``sheets``: name -> rows XML. ``content`` replaces the whole content.xml."""
    styles = (
        '<style:style style:name="hid" style:family="table">'
        '<style:table-properties table:display="false"/></style:style>'
    )
    tables = "".join(
        f"<table:table table:name={quoteattr(name)}"
        + (' table:style-name="hid"' if name in hidden else "")
        + f">{rows}</table:table>"
        for name, rows in sheets.items()
    )
    xml = (
        f'<?xml version="1.0" encoding="UTF-8"?><office:document-content {ODS_NS}>'
        f"<office:automatic-styles>{styles}</office:automatic-styles>"
        f"<office:body><office:spreadsheet>{tables}</office:spreadsheet></office:body>"
        "</office:document-content>"
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.spreadsheet")
        zf.writestr("content.xml", content if content is not None else xml.encode())
        if active is not None:
            zf.writestr(
                "settings.xml",
                '<office:document-settings xmlns:office="urn:oasis:names:tc:opendocument:xmlns:'
                'office:1.0" xmlns:config="urn:oasis:names:tc:opendocument:xmlns:config:1.0">'
                '<office:settings><config:config-item-set config:name="ooo:view-settings">'
                '<config:config-item config:name="ActiveTable" config:type="string">'
                f"{escape(active)}</config:config-item></config:config-item-set>"
                "</office:settings></office:document-settings>",
            )
    return path
