"""Excel reading: real dates and numbers as text, Excel row numbers, sheets, formulas, damage."""

from __future__ import annotations

import zipfile
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from batch.errors import InputError
from batch.reader import cell_text, open_table
from tests.meaning_support import write_book

HEADER = ["Email", "Course", "Completion Date", "Score"]


def test_dates_numbers_and_text_become_the_text_a_person_sees(tmp_path: Path) -> None:
    path = write_book(
        tmp_path / "in.xlsx",
        {
            "Data": [
                HEADER + ["Passed", "Started"],
                ["a@x.com", 123.0, datetime(2025, 3, 1), 85.5, True, datetime(2025, 2, 1, 9, 30)],
                [
                    "b@x.com",
                    "00123",
                    date(2025, 3, 2),
                    12.0,
                    False,
                    datetime(2025, 2, 1, 9, 29, 59, 999_700),
                ],
            ]
        },
    )
    rows = list(open_table(path).iter_rows())
    assert [r.row for r in rows] == [2, 3]
    assert rows[0].values == {
        "Email": "a@x.com",
        "Course": "123",
        "Completion Date": "2025-03-01",
        "Score": "85.5",
        "Passed": "TRUE",
        "Started": "2025-02-01T09:30:00",
    }
    assert rows[1].values["Course"] == "00123"
    assert rows[1].values["Score"] == "12"
    assert rows[1].values["Started"] == "2025-02-01T09:30:00"  # Excel's float noise rounded


def test_percent_formatted_numbers_keep_their_percent(tmp_path: Path) -> None:
    path = tmp_path / "in.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(HEADER)
    ws.append(["a@x.com", "C", datetime(2025, 3, 1), 0.855])
    ws["D2"].number_format = "0.0%"
    wb.save(path)
    assert next(open_table(path).iter_rows()).fields["score"] == "85.5%"


def test_header_below_title_rows_keeps_real_excel_row_numbers(tmp_path: Path) -> None:
    path = write_book(
        tmp_path / "in.xlsx",
        {
            "Report": [
                ["Completions, March 2025"],
                [],
                ["Exported by HR"],
                HEADER,
                ["a@x.com", "C1", datetime(2025, 3, 1), 1],
                [],
                [None, None, None, None],
                ["b@x.com", "C2", datetime(2025, 3, 2), 2],
            ]
        },
    )
    table = open_table(path)
    assert (table.header_row, table.sheet, table.format) == (4, "Report", "xlsx")
    assert [r.row for r in table.iter_rows()] == [5, 8]
    assert open_table(path, header_row=4).columns == HEADER


def test_first_visible_sheet_with_known_headers_is_chosen(tmp_path: Path) -> None:
    path = write_book(
        tmp_path / "in.xlsx",
        {
            "Hidden": [HEADER, ["h@x.com", "C", "2025-01-01", 1]],
            "Empty": [],
            "Readme": [["Fill in the Data sheet"]],
            "Data": [HEADER, ["a@x.com", "C", "2025-03-01", 1]],
        },
        hidden=("Hidden",),
    )
    table = open_table(path)
    assert table.sheet == "Data"
    assert [r.fields["email"] for r in table.iter_rows()] == ["a@x.com"]
    assert open_table(path, sheet="hidden").sheet == "Hidden"  # named sheets may be hidden
    with pytest.raises(
        InputError,
        match=r"no sheet named 'Nope'; sheets: 'Hidden', 'Empty', "
        r"'Readme', 'Data'\. Pass one of them to --sheet",
    ):
        open_table(path, sheet="Nope")


def test_workbook_without_data(tmp_path: Path) -> None:
    path = write_book(tmp_path / "in.xlsx", {"One": [], "Two": []})
    with pytest.raises(InputError, match="no visible sheet holds any data"):
        open_table(path)


def _set_cached_value(path: Path, formula: str, cached: str) -> None:
    """Give a formula the cached value Excel would have stored (openpyxl writes none)."""
    src = zipfile.ZipFile(path)
    items = {n: src.read(n) for n in src.namelist()}
    src.close()
    sheet = "xl/worksheets/sheet1.xml"
    items[sheet] = items[sheet].replace(
        f"<f>{formula}</f><v />".encode(), f"<f>{formula}</f><v>{cached}</v>".encode()
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for name, data in items.items():
            out.writestr(name, data)


def test_formulas_read_their_cached_values_and_uncached_ones_read_empty(tmp_path: Path) -> None:
    path = write_book(
        tmp_path / "in.xlsx",
        {
            "Data": [
                HEADER,
                ["a@x.com", "C", datetime(2025, 3, 1), "=40+45"],
                ["b@x.com", "C", datetime(2025, 3, 1), "=1+1"],
            ]
        },
    )
    _set_cached_value(path, "40+45", "85")
    rows = list(open_table(path).iter_rows())
    assert rows[0].fields["score"] == "85"
    assert rows[1].fields["score"] == ""


def test_xlsm_and_misnamed_workbooks_are_read_by_content(tmp_path: Path) -> None:
    rows = [HEADER, ["a@x.com", "C", datetime(2025, 3, 1), 1]]
    xlsx = write_book(tmp_path / "in.xlsx", {"Data": rows})
    for name in ("macro.xlsm", "renamed.csv"):
        other = tmp_path / name
        other.write_bytes(xlsx.read_bytes())
        table = open_table(other)
        assert table.format == "xlsx"
        assert next(table.iter_rows()).fields["completion_date"] == "2025-03-01"


def test_damaged_workbook_is_one_clear_line(tmp_path: Path) -> None:
    xlsx = write_book(tmp_path / "in.xlsx", {"Data": [HEADER, ["a@x.com", "C", "2025-03-01", 1]]})
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(xlsx.read_bytes()[:600])
    with pytest.raises(InputError) as err:
        list(open_table(broken).iter_rows())
    assert "save it again as .xlsx" in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    "value, fmt, text",
    [
        (None, None, ""),
        ("x", None, "x"),
        (True, None, "TRUE"),
        (3, None, "3"),
        (12.0, None, "12"),
        (0.1 + 0.2, None, "0.3"),
        (1e20, None, "1e+20"),
        (0.5, "0%", "50%"),
        (datetime(2025, 3, 1), None, "2025-03-01"),
        (datetime(2025, 3, 1, 9, 30), None, "2025-03-01T09:30:00"),
        (date(2025, 3, 1), None, "2025-03-01"),
        (time(9, 30), None, "09:30:00"),
    ],
)
def test_cell_text(value: Any, fmt: str | None, text: str) -> None:
    assert cell_text(value, fmt) == text
