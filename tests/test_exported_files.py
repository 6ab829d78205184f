"""Files as HR systems export them: bad bytes, misleading email columns, sheets,
Strict Open XML, legacy formats, and a header with no data rows."""

from __future__ import annotations

import shutil
import zipfile
from datetime import UTC, date, datetime
from pathlib import Path

import openpyxl
import pytest

from batch.errors import EmptyInput, InputError, ShapeQuestion
from batch.reader import open_table
from batch.validate import ValidationOptions, check_rows
from tests.e2e_support import run_cli
from tests.fixtures.make_legacy import EXPECTED, HEADER, ROWS, build
from tests.fixtures.make_xlsb import write_xlsb
from tests.meaning_support import write_book

FIXTURES = Path(__file__).parent / "fixtures"
NOW = datetime(2026, 1, 1, tzinfo=UTC)


# -- a UTF-8 file with a few bad bytes ------------------------------------------------------------
def test_utf8_with_a_few_bad_bytes_stays_utf8_and_flags_those_cells(tmp_path: Path) -> None:
    path = tmp_path / "hr.csv"
    path.write_bytes(
        b"Email,Course,Completion Date,Notes\n"
        + "renée@acme.com,Sécurité incendie,2025-03-01,Zoë\n".encode()
        + b"jos\xe9@acme.com,Fire Safety,2025-03-01,ok\n"  # one Windows-1252 byte pasted in
        + b"ann@acme.com,Fire Safety,2025-03-01,"
        + b"caf\xe9\n"
    )
    table = open_table(path)
    assert table.encoding == "utf-8" and table.bad_bytes
    checked = list(check_rows(table, ValidationOptions(now=NOW)))
    first, bad, other = checked
    assert first.completion is not None and first.completion.email == "renée@acme.com"
    assert first.input.values["Course"] == "Sécurité incendie"  # not "SÃ©curitÃ©"
    assert bad.completion is None
    assert bad.issues[0].column == "Email"
    assert "holds bytes that are not valid UTF-8" in bad.issues[0].message
    assert "save the file as 'CSV UTF-8'" in bad.issues[0].message
    assert other.completion is not None  # a bad byte in Notes does not block the completion
    assert any("row 4, Notes" in w for w in table.warnings), table.warnings


def test_a_windows_1252_file_is_still_read_as_windows_1252(tmp_path: Path) -> None:
    path = tmp_path / "ansi.csv"
    path.write_bytes(
        "Email,Course,Completion Date\nrenée@acme.com,Sécurité,2025-03-01\n".encode("cp1252")
    )
    table = open_table(path)
    assert table.encoding == "cp1252" and not table.bad_bytes
    assert next(iter(table.iter_rows())).values["Course"] == "Sécurité"


# -- a column named email that holds names --------------------------------------------------------
def _names_file(tmp_path: Path) -> Path:
    path = tmp_path / "names.csv"
    lines = ["Email,Work Mail,Course,Completion Date"]
    for name in ("Jane Doe", "Doe, John", "Anne-Marie O'Neil", "Zoë Martin"):
        first = name.split()[0].strip(",").lower()
        lines.append(f'"{name}",{first}@acme.com,Fire Safety,2025-03-01')
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_an_email_header_over_names_is_refused_with_the_map_that_fixes_it(tmp_path: Path) -> None:
    path = _names_file(tmp_path)
    with pytest.raises(InputError) as err:
        open_table(path)
    message = str(err.value)
    assert "column 'Email' is named like an email column but holds no addresses" in message
    assert "'Jane Doe'" in message
    assert message.endswith(
        "column 'Work Mail' holds email addresses. Run again with --map \"Work Mail=email\"."
    )
    assert isinstance(err.value, ShapeQuestion)  # the page offers the column, pre-selected
    assert (err.value.ask, err.value.field, err.value.suggested) == (
        "mapping",
        "email",
        "Work Mail",
    )
    table = open_table(path, mapping={"Work Mail": "email"})
    assert table.mapping["email"] == "Work Mail"


def test_the_cli_says_it_in_one_line_with_exit_2(tmp_path: Path) -> None:
    _names_file(tmp_path)
    run = run_cli(["validate", "names.csv", "--offline"], cwd=tmp_path)
    assert run.code == 2, run
    assert '--map "Work Mail=email"' in run.stderr


# -- which sheet ------------------------------------------------------------------------------------
def _book(tmp_path: Path, sheets: dict[str, list[list[object]]]) -> Path:
    return write_book(tmp_path / "book.xlsx", sheets)


GOOD = [["Email", "Course", "Completion Date"], ["a@acme.com", "Fire Safety", date(2025, 3, 1)]]
SUMMARY = [["Course", "Learners"], ["Fire Safety", 12]]


def test_the_sheet_with_the_required_columns_is_read_and_the_run_says_so(tmp_path: Path) -> None:
    table = open_table(_book(tmp_path, {"Summary": SUMMARY, "Completions": GOOD}))
    assert table.sheet == "Completions"
    assert len(table.warnings) == 1
    assert "'Summary', has no column for completion_date, email" in table.warnings[0]
    assert "read sheet 'Completions'" in table.warnings[0]


def test_several_candidate_sheets_are_named_with_the_sheet_option(tmp_path: Path) -> None:
    path = _book(tmp_path, {"Summary": SUMMARY, "March": GOOD, "April": GOOD})
    with pytest.raises(
        InputError, match=r"several sheets have them \('March', 'April'\).*--sheet \"March\""
    ):
        open_table(path)
    assert open_table(path, sheet="April").sheet == "April"


def test_the_first_sheet_no_longer_wins_silently_when_others_have_everything(
    tmp_path: Path,
) -> None:
    """One tab per month: the first tab was read without a word; now the run asks."""
    path = _book(tmp_path, {"March": GOOD, "April": GOOD})
    with pytest.raises(ShapeQuestion, match=r"several sheets have them \('March', 'April'\)"):
        open_table(path)
    table = open_table(path, sheet="March")
    assert table.sheet == "March" and table.warnings == []


# -- Strict Open XML --------------------------------------------------------------------------------
_TRANSITIONAL = (
    ("http://schemas.openxmlformats.org/spreadsheetml/2006/main", "http://purl.oclc.org/ooxml/spreadsheetml/main"),
    ("http://schemas.openxmlformats.org/officeDocument/2006/relationships", "http://purl.oclc.org/ooxml/officeDocument/relationships"),
)  # fmt: skip


def to_strict(src: Path, dst: Path) -> Path:
    """What Excel's "Strict Open XML Spreadsheet" changes: the namespaces of every part."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename.endswith((".xml", ".rels")):
                text = data.decode("utf-8")
                for old, new in _TRANSITIONAL:
                    text = text.replace(old, new)
                data = text.encode("utf-8")
            zout.writestr(info, data)
    return dst


@pytest.mark.parametrize("percent", [False, True])  # True: our own reader, False: calamine
def test_strict_open_xml_workbooks_are_read(tmp_path: Path, percent: bool) -> None:
    rows: list[list[object]] = [["Email", "Course", "Completion Date", "Score"]]
    rows.append(["a@acme.com", "Fire Safety", date(2025, 3, 1), 0.85 if percent else 85])
    src = _book(tmp_path, {"Completions": rows})
    if percent:
        wb = openpyxl.load_workbook(src)
        wb.active["D2"].number_format = "0%"
        wb.save(src)
    table = open_table(to_strict(src, tmp_path / "strict.xlsx"))
    assert table.strict_xml
    got = next(iter(table.iter_rows())).fields
    assert got["email"] == "a@acme.com" and got["completion_date"] == "2025-03-01"
    assert got["score"] == ("85%" if percent else "85")


# -- legacy formats ---------------------------------------------------------------------------------
def _read(path: Path) -> list[list[str]]:
    table = open_table(path)
    assert table.format == "xlsx"  # reports and failed rows are written as .xlsx
    assert table.columns == HEADER
    return [[r.values[h] for h in HEADER] for r in table.iter_rows()]


@pytest.mark.parametrize("name", ["legacy.xls", "legacy.ods"])
def test_committed_legacy_workbooks_read_like_xlsx(name: str) -> None:
    table = open_table(FIXTURES / name)
    assert table.kind == name.rsplit(".", 1)[1] and table.sheet == "Completions"
    assert _read(FIXTURES / name) == EXPECTED
    checked = list(check_rows(table, ValidationOptions(now=NOW)))
    assert [c.issues for c in checked] == [[], []]


def test_an_xlsb_workbook_reads_like_xlsx(tmp_path: Path) -> None:
    path = write_xlsb(tmp_path / "export.xlsb", [HEADER, *ROWS])
    table = open_table(path)
    assert table.kind == "xlsb" and table.sheet == "Completions"
    assert _read(path) == EXPECTED
    assert [c.issues for c in check_rows(table, ValidationOptions(now=NOW))] == [[], []]


def test_legacy_workbooks_made_now_by_libreoffice_read_the_same(tmp_path: Path) -> None:
    if shutil.which("soffice") is None:
        pytest.skip("SKIPPED LOUDLY: soffice (LibreOffice) is missing, so .xls/.ods are not "
                    "regenerated here; apt-get install -y libreoffice-calc-nogui")  # fmt: skip
    for path in build(tmp_path):
        assert _read(path) == EXPECTED, path.name


def test_an_html_page_named_xls_keeps_its_clear_message(tmp_path: Path) -> None:
    path = tmp_path / "export.xls"
    path.write_text("<html><body><table><tr><td>Email</td></tr></table></body></html>")
    with pytest.raises(InputError, match="is a web page \\(HTML\\) saved with a spreadsheet name"):
        open_table(path)


def test_a_damaged_xls_says_what_it_is(tmp_path: Path) -> None:
    path = tmp_path / "broken.xls"
    path.write_bytes((FIXTURES / "legacy.xls").read_bytes()[:1500])
    with pytest.raises(InputError, match="could not be read as an Excel 97-2003 workbook"):
        open_table(path)


# -- a header and no data ---------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_a_header_with_no_data_rows_is_empty_input(tmp_path: Path, fmt: str) -> None:
    if fmt == "csv":
        path = tmp_path / "empty.csv"
        path.write_text("Email,Course,Completion Date\n\n", encoding="utf-8")
    else:
        path = _book(tmp_path, {"Completions": [GOOD[0]]})
    with pytest.raises(EmptyInput, match="has a header \\(row 1\\) but no data rows") as err:
        open_table(path)
    assert isinstance(err.value, InputError)  # today's exit 2 stays without --allow-empty
    run = run_cli(["validate", path.name, "--offline"], cwd=tmp_path)
    assert run.code == 2, run
