"""Hostile input, the fast subset of ``bench/soak/test_hostile_input.py`` (runs in ``make test``).

Each file goes through ``alm-batch validate FILE --offline`` in-process. The contract: exit 0/1
with a report, or exit 2 with exactly one line on stderr naming the problem; never a traceback.
The soak suite runs the same contract in subprocesses with time and memory bounds, on bigger
files (10 MB lines, multi-gigabyte zip bombs) and on hypothesis-generated tables.
"""

from __future__ import annotations

import csv
import io
import os
import zipfile
from pathlib import Path

import pytest

from batch.cli import CliEnv, main
from batch.reporting.layout import needs_neutralising

HEADER = ("Email", "Course", "Completion Date")
_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_R = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG = "http://schemas.openxmlformats.org/package/2006/relationships"


def validate(path: Path) -> tuple[int, str, Path]:
    out, err = io.StringIO(), io.StringIO()
    report = path.with_name(path.name + ".report.csv")
    code = main(
        ["validate", str(path), "--offline", "--report", str(report)],
        CliEnv(stdout=out, stderr=err, interactive=False),
    )
    return code, err.getvalue(), report


def assert_one_line_error(code: int, err: str, *phrases: str) -> None:
    assert "Traceback" not in err
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("alm-batch: ")
    for phrase in phrases:
        assert phrase in lines[0], lines[0]


def report_rows(report: Path) -> list[dict[str, str]]:
    with report.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def write_xlsx(path: Path, sheet_body: str, *, extra: dict[str, bytes] | None = None) -> Path:
    """A minimal workbook written by hand, so it can hold what Excel never writes."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(
            "xl/workbook.xml",
            f'<workbook xmlns="{_NS}" xmlns:r="{_R}"><sheets>'
            '<sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>',
        )
        zf.writestr(
            "xl/_rels/workbook.xml.rels",
            f'<Relationships xmlns="{_PKG}"><Relationship Id="rId1" '
            f'Type="{_R}/worksheet" Target="worksheets/sheet1.xml"/></Relationships>',
        )
        head = "".join(
            f'<c r="{col}1" t="inlineStr"><is><t>{name}</t></is></c>'
            for col, name in zip("ABC", HEADER, strict=True)
        )
        zf.writestr(
            "xl/worksheets/sheet1.xml",
            f'<worksheet xmlns="{_NS}"><sheetData><row r="1">{head}</row>{sheet_body}'
            "</sheetData></worksheet>",
        )
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return path


# --------------------------------------------------------------------- not a spreadsheet
@pytest.mark.parametrize(
    ("name", "data", "phrase"),
    [
        ("doc.csv", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\n", "PDF"),
        ("empty.csv", b"", "empty"),
        ("blank.csv", b"\r\n \t\r\n\n", "empty"),
        ("noise.csv", bytes(range(256)) * 64, "binary"),
        ("old.xlsx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600, "Excel 97-2003"),
        (
            "locked.xlsx",
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
            + b"\0" * 600
            + "EncryptionInfo".encode("utf-16-le"),
            "password-protected",
        ),
        ("cut.xlsx", b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + b"\x01" * 40, "damaged"),
    ],
)
def test_files_that_are_not_spreadsheets_get_one_line(
    tmp_path: Path, name: str, data: bytes, phrase: str
) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    code, err, _ = validate(path)
    assert_one_line_error(code, err, phrase)


def test_random_binary_renamed_csv(tmp_path: Path) -> None:
    path = tmp_path / "random.csv"
    path.write_bytes(os.urandom(64 * 1024))
    code, err, _ = validate(path)
    assert_one_line_error(code, err, str(path))


def test_truncated_workbook(tmp_path: Path) -> None:
    good = write_xlsx(tmp_path / "good.xlsx", "")
    path = tmp_path / "truncated.xlsx"
    path.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    code, err, _ = validate(path)
    assert_one_line_error(code, err, str(path))


# --------------------------------------------------------------------- CSV extremes
def test_ten_megabyte_cell_is_named_with_its_row(tmp_path: Path) -> None:
    """Past the reader's bound (8 Mi characters a row) that row is invalid, never the file."""
    path = tmp_path / "huge-cell.csv"
    path.write_text(
        ",".join(HEADER) + "\na@x.example,C," + "x" * 10_000_000 + "\nb@x.example,C,2025-01-02\n"
    )
    code, err, report = validate(path)
    assert code == 1 and "Traceback" not in err, err
    rows = report_rows(report)
    assert [(r["row"], r["status"]) for r in rows] == [("2", "invalid"), ("3", "valid")]
    assert "Row 2 holds 10,000,015 characters, more than the 8,388,608" in rows[0]["message"]


def test_header_with_hundreds_of_thousands_of_empty_columns(tmp_path: Path) -> None:
    path = tmp_path / "wide-header.csv"
    path.write_text(",".join(HEADER) + "," * 300_000 + "\na@x.example,C,2025-01-02\n")
    code, err, report = validate(path)
    assert code == 0, err
    rows = report_rows(report)
    assert [r["row"] for r in rows] == ["2"]
    assert rows[0]["status"] == "valid"


def test_data_past_excels_last_column_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "wide-data.csv"
    path.write_text(",".join(HEADER) + "\na@x.example,C,2025-01-02" + ",v" * 20_000 + "\n")
    code, err, _ = validate(path)
    assert_one_line_error(code, err, "column 20,003", "16,384")


def test_stray_cell_past_the_last_column_below_the_sample(tmp_path: Path) -> None:
    rows = ["a@x.example,C,2025-01-02"] * 300 + ["b@x.example,C,2025-01-02" + "," * 17_000 + "v"]
    path = tmp_path / "late-wide.csv"
    path.write_text(",".join(HEADER) + "\n" + "\n".join(rows) + "\n")
    code, err, _ = validate(path)
    assert_one_line_error(code, err, "row 302", "column 17,003")


def test_formulas_and_control_characters_end_in_a_safe_report(tmp_path: Path) -> None:
    path = tmp_path / "formulas.csv"
    path.write_text(
        ",".join(HEADER) + ",Note\n"
        'a@x.example,=HYPERLINK("http://evil.example"),2025-01-02,+1\n'
        "b@x.example,@SUM(A1),2025-01-03,-2\x07\n"
        "=cmd|' /C calc'!A0,C,2025-01-04,\x0bx\n",
        encoding="utf-8",
    )
    code, err, report = validate(path)
    assert code in (0, 1), err
    rows = report_rows(report)
    assert [r["row"] for r in rows] == ["2", "3", "4"]
    assert rows[2]["status"] == "invalid"  # the email cell is a formula, not an address
    cells = [c for r in rows for c in r.values()] + list(rows[0])
    assert not [c for c in cells if needs_neutralising(c)]


# --------------------------------------------------------------------- XLSX extremes
def test_zip_bomb_renamed_xlsx_is_refused_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "bomb.xlsx"
    write_xlsx(tmp_path / "base.xlsx", "")
    with (
        zipfile.ZipFile(tmp_path / "base.xlsx") as src,
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst,
    ):
        for info in src.infolist():
            if info.filename != "xl/worksheets/sheet1.xml":
                dst.writestr(info, src.read(info))
        with dst.open("xl/worksheets/sheet1.xml", "w") as part:
            part.write(f'<worksheet xmlns="{_NS}"><sheetData>'.encode())
            block = b"<row/>" * (1 << 16)
            for _ in range(120):  # ~45 MB that packs ~1000:1
                part.write(block)
            part.write(b"</sheetData></worksheet>")
    assert path.stat().st_size < 1_000_000
    code, err, _ = validate(path)
    assert_one_line_error(code, err, "unpacks to", "times its packed size")


def test_cell_reference_far_past_the_last_column(tmp_path: Path) -> None:
    body = '<row r="2"><c r="ZZZZZZZZ2" t="inlineStr"><is><t>x</t></is></c></row>'
    path = write_xlsx(tmp_path / "far.xlsx", body)
    code, err, _ = validate(path)
    assert_one_line_error(code, err, "ZZZZZZZZ2", "last column")


def test_row_with_more_cells_than_excel_allows(tmp_path: Path) -> None:
    body = '<row r="2">' + "<c/>" * 16_385 + "</row>"
    path = write_xlsx(tmp_path / "many-cells.xlsx", body)
    code, err, _ = validate(path)
    assert_one_line_error(code, err, "row 2", "16,384 cells")


def test_last_column_itself_is_still_read(tmp_path: Path) -> None:
    body = (
        '<row r="2">'
        + "".join(
            f'<c r="{col}2" t="inlineStr"><is><t>{v}</t></is></c>'
            for col, v in zip("ABC", ("a@x.example", "C", "2025-01-02"), strict=True)
        )
        + '<c r="XFD2" t="inlineStr"><is><t>edge</t></is></c></row>'
    )
    path = write_xlsx(tmp_path / "edge.xlsx", body)
    code, err, report = validate(path)
    assert code == 0, err
    rows = report_rows(report)
    assert len(rows) == 1 and rows[0]["status"] == "valid"
    assert "edge" in rows[0].values()


def test_mimetype_bomb_in_a_zip_is_not_unpacked(tmp_path: Path) -> None:
    path = tmp_path / "sheet.xlsx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("mimetype", "w") as part:
            block = b"\0" * (1 << 20)
            for _ in range(60):
                part.write(block)
    code, err, _ = validate(path)
    assert_one_line_error(code, err, "zip archive")
