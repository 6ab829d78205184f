"""The streaming XLSX reader agrees with openpyxl, including parts openpyxl never writes
(shared strings, rich text, phonetic runs, 1904 dates, a sheet without <dimension>)."""

from __future__ import annotations

import zipfile
from datetime import date, datetime, time
from pathlib import Path

import openpyxl
import pytest

from batch.errors import InputError
from batch.reader import cell_text, open_table

_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


def openpyxl_texts(path: Path) -> list[list[str]]:
    wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        ws = wb.worksheets[0]
        return [
            [cell_text(c.value, c.number_format) if c.value is not None else "" for c in row]
            for row in ws.iter_rows()
        ]
    finally:
        wb.close()


def our_texts(path: Path) -> list[list[str]]:
    table = open_table(path, require=(), header_row=1)
    rows = [[table.columns[i] for i in range(len(table.columns))]]
    rows += [[r.values[c] for c in table.columns] for r in table.iter_rows()]
    return rows


@pytest.mark.parametrize("date1904", [False, True])
def test_every_cell_type_matches_openpyxl(tmp_path: Path, date1904: bool) -> None:
    wb = openpyxl.Workbook()
    if date1904:
        wb.epoch = openpyxl.utils.datetime.MAC_EPOCH
    ws = wb.active
    ws.append(["Text", "Int", "Float", "Date", "DateTime", "Time", "Percent", "Bool", "Error"])
    values = [
        [
            "plain",
            7,
            0.1 + 0.2,
            date(2025, 3, 1),
            datetime(2025, 3, 1, 9, 30),
            time(8, 15),
            0.875,
            True,
            "#N/A",
        ],
        [
            "  spaced  ",
            -3,
            12.0,
            datetime(1999, 12, 31),
            datetime(2025, 12, 31, 23, 59, 59),
            time(0, 0, 1),
            1,
            False,
            "#DIV/0!",
        ],
    ]
    for row in values:
        ws.append(row)
    for r in (2, 3):
        ws.cell(row=r, column=7).number_format = "0.0%"
    path = tmp_path / "types.xlsx"
    wb.save(path)
    expected = openpyxl_texts(path)
    assert our_texts(path) == expected
    assert expected[1][3:8] == ["2025-03-01", "2025-03-01T09:30:00", "08:15:00", "87.5%", "TRUE"]


def handmade_xlsx(path: Path) -> Path:
    """A workbook shaped like Excel's own output: shared strings, styles, two sheets."""
    parts = {
        "[Content_Types].xml": (
            '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org'
            '/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.'
            'openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="'
            'application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd'
            '.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl'
            '/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.'
            'spreadsheetml.worksheet+xml"/><Override PartName="/xl/worksheets/sheet2.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet'
            '+xml"/><Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.'
            'openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/><Override PartName='
            '"/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.'
            'spreadsheetml.styles+xml"/></Types>'
        ),
        "_rels/.rels": (
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
            'openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="'
            f'{_REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
        ),
        "xl/workbook.xml": (
            f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{_MAIN}" xmlns:r="{_REL}">'
            '<sheets><sheet name="Notes" sheetId="1" state="hidden" r:id="rId1"/>'
            '<sheet name="Data" sheetId="2" r:id="rId2"/></sheets></workbook>'
        ),
        "xl/_rels/workbook.xml.rels": (
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
            'openxmlformats.org/package/2006/relationships">'
            f'<Relationship Id="rId1" Type="{_REL}/worksheet" Target="worksheets/sheet1.xml"/>'
            f'<Relationship Id="rId2" Type="{_REL}/worksheet" Target="/xl/worksheets/sheet2.xml"/>'
            f'<Relationship Id="rId3" Type="{_REL}/sharedStrings" Target="sharedStrings.xml"/>'
            f'<Relationship Id="rId4" Type="{_REL}/styles" Target="styles.xml"/>'
            "</Relationships>"
        ),
        "xl/sharedStrings.xml": (
            f'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="{_MAIN}" count="6" uniqueCount="6">'
            "<si><t>Email</t></si><si><t>Course</t></si><si><t>Completion Date</t></si>"
            '<si><t xml:space="preserve">jane@example.com </t></si>'
            "<si><r><t>Safety </t></r><r><rPr><b/></rPr><t>101</t></r></si>"
            '<si><t>東京研修</t><rPh sb="0" eb="2"><t>トウキョウ</t></rPh></si>'
            "</sst>"
        ),
        "xl/styles.xml": (
            f'<?xml version="1.0" encoding="UTF-8"?><styleSheet xmlns="{_MAIN}"><numFmts count="1">'
            '<numFmt numFmtId="164" formatCode="dd/mm/yyyy\\ hh:mm"/></numFmts>'
            '<cellXfs count="3"><xf numFmtId="0"/><xf numFmtId="14" applyNumberFormat="1"/>'
            '<xf numFmtId="164" applyNumberFormat="1"/></cellXfs></styleSheet>'
        ),
        "xl/worksheets/sheet1.xml": (
            f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{_MAIN}"><sheetData>'
            '<row r="1"><c r="A1" t="s"><v>0</v></c></row></sheetData></worksheet>'
        ),
        "xl/worksheets/sheet2.xml": (
            f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{_MAIN}"><sheetData>'
            '<row r="2"><c r="A2" t="s"><v>0</v></c><c r="B2" t="s"><v>1</v></c>'
            '<c r="C2" t="s"><v>2</v></c></row>'
            '<row r="3"><c r="A3" t="s"><v>3</v></c><c r="B3" t="s"><v>4</v></c>'
            '<c r="C3" s="1"><v>45717</v></c></row>'
            '<row r="5"><c r="A5" t="str"><f>LOWER("B@X.COM")</f><v>b@x.com</v></c>'
            '<c r="B5" t="s"><v>5</v></c><c r="C5" s="2"><v>45717.5</v></c></row>'
            '<row r="6"><c r="A6"><f>1+1</f></c><c r="C6" t="e"><v>#REF!</v></c></row>'
            "</sheetData></worksheet>"
        ),
    }
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, text in parts.items():
            zf.writestr(name, text)
    return path


@pytest.mark.filterwarnings("ignore:Workbook contains no default style")
def test_excel_shaped_workbook(tmp_path: Path) -> None:
    path = handmade_xlsx(tmp_path / "excel.xlsx")
    table = open_table(path)
    assert (table.sheet, table.header_row) == ("Data", 2)  # hidden "Notes" skipped
    rows = [(r.row, r.fields) for r in table.iter_rows()]
    assert rows == [
        (
            3,
            {"email": "jane@example.com ", "course": "Safety 101", "completion_date": "2025-03-01"},
        ),
        (5, {"email": "b@x.com", "course": "東京研修", "completion_date": "2025-03-01T12:00:00"}),
        (6, {"email": "", "course": "", "completion_date": "#REF!"}),
    ]
    # openpyxl reads the same file the same way (so the handmade file is sound)
    wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        got = [
            [cell_text(c.value, c.number_format) if c.value is not None else "" for c in row]
            for row in wb["Data"].iter_rows(min_row=3, max_row=3)
        ]
    finally:
        wb.close()
    assert got == [["jane@example.com ", "Safety 101", "2025-03-01"]]


def test_broken_sheet_xml_is_one_clear_line(tmp_path: Path) -> None:
    path = handmade_xlsx(tmp_path / "excel.xlsx")
    src = zipfile.ZipFile(path)
    items = {n: src.read(n) for n in src.namelist()}
    src.close()
    items["xl/worksheets/sheet2.xml"] = items["xl/worksheets/sheet2.xml"][:-40]
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in items.items():
            zf.writestr(name, data)
    with pytest.raises(
        InputError, match=r"could not be read \(a sheet's XML is damaged\).*save it again"
    ):
        list(open_table(path).iter_rows())


def test_cells_are_read_exactly_as_stored_by_the_one_xlsx_reader(tmp_path: Path) -> None:
    """One reader for .xlsx (no second engine picked by a byte scan): stray spaces, which a
    faster engine used to trim, stay; opening the same file twice reads it the same."""
    path = tmp_path / "march.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["Email", "Course", "Completion Date"])
    sheet.append(["a@acme.com", " Fire Safety ", "2025-03-01"])
    book.save(path)
    first, again = open_table(path), open_table(path)
    assert [r.values for r in first.iter_rows()] == [r.values for r in again.iter_rows()]
    assert next(iter(first.iter_rows())).values["Course"] == " Fire Safety "
