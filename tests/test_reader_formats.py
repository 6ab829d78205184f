"""Every workbook kind reads cells as the .xlsx reader reads them: percent-formatted numbers
keep their "%" (0.875 was posted as 0.875 from .xls, .xlsb and .ods), dates by their format,
and ``Table.formats_seen`` says when a reader could not see number formats."""

from __future__ import annotations

import shutil
import zipfile
from datetime import date
from pathlib import Path

import openpyxl
import pytest

from batch.reader import open_table
from tests.fixtures.make_legacy import convert
from tests.fixtures.make_xlsb import Percent, write_xlsb
from tests.workbook_craft import ODS_NS, ods_cell, ods_row, ods_text_row, write_ods

HEADER = ["Email", "Course", "Completion Date", "Score"]


def _scores(path: Path) -> list[str]:
    table = open_table(path)
    assert table.formats_seen
    return [r.fields["score"] for r in table.iter_rows()]


def test_percent_cells_of_xls_and_ods_written_by_libreoffice(tmp_path: Path) -> None:
    if shutil.which("soffice") is None:
        pytest.skip("SKIPPED LOUDLY: soffice (LibreOffice) is missing: apt-get install -y "
                    "libreoffice-calc-nogui")  # fmt: skip
    src = tmp_path / "scores.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(HEADER)
    ws.append(["a@acme.com", "Fire Safety", date(2025, 3, 1), 0.875])
    ws.append(["b@acme.com", "Fire Safety", date(2025, 3, 2), 0.5])
    ws["D2"].number_format = "0.0%"
    wb.save(src)
    assert _scores(src) == ["87.5%", "0.5"]
    for fmt in ("xls", "ods"):
        path = convert(src, fmt, tmp_path)
        assert _scores(path) == ["87.5%", "0.5"], fmt
        dates = [r.fields["completion_date"] for r in open_table(path).iter_rows()]
        assert dates == ["2025-03-01", "2025-03-02"], fmt


def test_percent_cells_of_xlsb(tmp_path: Path) -> None:
    rows: list[list[object]] = [
        HEADER,
        ["a@acme.com", "Fire Safety", date(2025, 3, 1), Percent(0.875)],
    ]
    path = write_xlsb(tmp_path / "scores.xlsb", rows)
    assert _scores(path) == ["87.5%"]


def test_an_xlsb_without_styles_says_formats_were_not_seen(tmp_path: Path) -> None:
    full = write_xlsb(tmp_path / "full.xlsb", [HEADER, ["a@acme.com", "C", "2025-03-01", 0.87]])
    bare = tmp_path / "bare.xlsb"
    with zipfile.ZipFile(full) as src, zipfile.ZipFile(bare, "w") as dst:
        for name in src.namelist():
            if name != "xl/styles.bin":
                dst.writestr(name, src.read(name))
    table = open_table(bare)
    assert not table.formats_seen
    assert [r.fields["score"] for r in table.iter_rows()] == ["0.87"]
    assert open_table(full).formats_seen


def test_ods_cells_read_by_their_typed_values(tmp_path: Path) -> None:
    note = "<office:annotation><text:p>a comment</text:p></office:annotation>"
    text = '<text:p>Fire<text:s text:c="2"/>Safety</text:p><text:p>part 2</text:p>'
    row = ods_row(
        ods_cell("a@acme.com", value_type="string"),
        f'<table:table-cell office:value-type="string">{note}{text}</table:table-cell>',
        ods_cell("14/03/2025", value_type="date", date_value="2025-03-14"),
        ods_cell("87.5 %", value_type="percentage", value="0.875"),
        ods_cell("12.00 €", value_type="currency", value="12"),
        ods_cell("09:30", value_type="time", time_value="PT09H30M00S"),
        ods_cell("TRUE", value_type="boolean", boolean_value="true"),
        ods_cell("15/03/2025 09:30", value_type="date", date_value="2025-03-15T09:30:00"),
        ods_cell("1.5", value_type="float", value="1.5"),
        "<table:covered-table-cell/>",
        ods_cell("x", value_type="string", repeat=2),
    )
    head = ["Email", "Course", "Completion Date", "Score", "Fee", "Time", "Passed", "When",
            "N", "Covered", "R1", "R2"]  # fmt: skip
    path = write_ods(tmp_path / "types.ods", {"Data": ods_text_row(head) + row})
    got = next(open_table(path).iter_rows()).values
    assert got == {
        "Email": "a@acme.com",
        "Course": "Fire  Safety\npart 2",
        "Completion Date": "2025-03-14",
        "Score": "87.5%",
        "Fee": "12",
        "Time": "09:30:00",
        "Passed": "TRUE",
        "When": "2025-03-15T09:30:00",
        "N": "1.5",
        "Covered": "",
        "R1": "x",
        "R2": "x",
    }


def test_ods_hidden_sheets_are_skipped_and_repeated_rows_are_numbered(tmp_path: Path) -> None:
    rows = ods_text_row(HEADER[:3]) + ods_row(
        *(ods_cell(v, value_type="string") for v in ("a@acme.com", "Fire Safety", "2025-03-01")),
        repeat=3,
    )
    path = write_ods(
        tmp_path / "two.ods", {"Old": ods_text_row(HEADER[:3]), "Data": rows}, hidden=["Old"]
    )
    table = open_table(path)
    assert table.sheet == "Data"
    assert [r.row for r in table.iter_rows()] == [2, 3, 4]
    assert 'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0"' in ODS_NS
