"""CSV reading: encodings, delimiters, line ends, header finding, row numbers, --map."""

from __future__ import annotations

from pathlib import Path

import pytest

from batch.errors import InputError, UsageError
from batch.reader import open_table, parse_map_options

HEADER = ["Email", "Course", "Completion Date"]
ROWS = [
    ["zoë@example.com", "Sécurité au travail", "2025-03-01"],
    ["bob@example.com", "00123", "2025-03-02"],
]


def write_csv(
    path: Path,
    rows: list[list[str]],
    *,
    delimiter: str = ",",
    encoding: str = "utf-8",
    newline: str = "\r\n",
) -> Path:
    def cell(v: str) -> str:
        if any(ch in v for ch in (delimiter, '"', "\n", "\r")):
            return '"' + v.replace('"', '""') + '"'
        return v

    text = "".join(delimiter.join(cell(v) for v in row) + newline for row in rows)
    path.write_bytes(text.encode(encoding))
    return path


def read_all(path: Path, **kw: object) -> list[tuple[int, dict[str, str]]]:
    table = open_table(path, **kw)  # type: ignore[arg-type]
    return [(r.row, r.fields) for r in table.iter_rows()]


@pytest.mark.parametrize(
    "encoding, expected",
    [
        ("utf-8", "utf-8"),
        ("utf-8-sig", "utf-8-sig"),
        ("utf-16", "utf-16"),
        ("utf-16-le", "utf-16-le"),
        ("cp1252", "cp1252"),
    ],
)
def test_each_encoding_is_detected(tmp_path: Path, encoding: str, expected: str) -> None:
    path = write_csv(tmp_path / "in.csv", [HEADER, *ROWS], encoding=encoding)
    table = open_table(path)
    assert table.encoding == expected
    rows = list(table.iter_rows())
    assert [r.row for r in rows] == [2, 3]
    assert rows[0].fields == {
        "email": "zoë@example.com",
        "course": "Sécurité au travail",
        "completion_date": "2025-03-01",
    }
    assert rows[1].fields["course"] == "00123"  # leading zeros survive


def test_excel_unicode_text_is_utf16_with_tabs(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "in.txt", [HEADER, *ROWS], delimiter="\t", encoding="utf-16")
    table = open_table(path)
    assert (table.encoding, table.delimiter) == ("utf-16", "\t")
    assert [r.fields["email"] for r in table.iter_rows()] == ["zoë@example.com", "bob@example.com"]


def test_encoding_option_overrides_detection(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "in.csv", [HEADER, *ROWS], encoding="cp1252")
    assert read_all(path, encoding="latin-1")[0][1]["course"] == "Sécurité au travail"
    with pytest.raises(UsageError, match="--encoding 'klingon' is not a known encoding"):
        open_table(path, encoding="klingon")


def test_wrong_encoding_option_is_one_clear_line(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "in.csv", [HEADER, *ROWS], encoding="cp1252")
    with pytest.raises(InputError, match=r"cannot be decoded as utf-8.*--encoding") as err:
        list(open_table(path, encoding="utf-8").iter_rows())
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_each_delimiter_is_sniffed(tmp_path: Path, delimiter: str) -> None:
    rows = [HEADER, ["a@x.com", "Course, with comma; and semicolon", "01.03.2025"]]
    path = write_csv(tmp_path / "in.csv", rows, delimiter=delimiter)
    table = open_table(path)
    assert table.delimiter == delimiter
    assert [r.fields["course"] for r in table.iter_rows()] == ["Course, with comma; and semicolon"]


def test_sep_line_sets_delimiter_and_is_not_a_row(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text("sep=;\nEmail;Course;Completion Date\na@x.com;C1;2025-03-01\n")
    table = open_table(path)
    assert (table.delimiter, table.header_row) == (";", 1)
    assert [r.row for r in table.iter_rows()] == [2]


@pytest.mark.parametrize("newline", ["\r\n", "\n", "\r"])
def test_line_ends_and_embedded_newlines_count_records(tmp_path: Path, newline: str) -> None:
    rows = [
        HEADER,
        ["a@x.com", "Line one\nline two", "2025-03-01"],
        ["b@x.com", "Plain", "2025-03-02"],
    ]
    path = write_csv(tmp_path / "in.csv", rows, newline=newline)
    got = read_all(path)
    assert [n for n, _ in got] == [2, 3]  # one spreadsheet row per record
    assert got[0][1]["course"] == "Line one\nline two"


def test_blank_rows_skipped_but_counted_and_trailing_blank_columns_dropped(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text(
        "Email,Course,Completion Date,,\n"
        "a@x.com,C1,2025-03-01,,\n"
        ",,,,\n"
        "\n"
        "b@x.com,C2,2025-03-02,,\n"
        ",,,,\n\n\n"
    )
    table = open_table(path)
    assert table.columns == HEADER
    assert [r.row for r in table.iter_rows()] == [2, 5]


def test_title_rows_above_header_are_found(tmp_path: Path) -> None:
    rows = [["Completions export"], ["Generated 2025-03-31", ""], [], HEADER, ROWS[0]]
    path = write_csv(tmp_path / "in.csv", rows)
    table = open_table(path)
    assert table.header_row == 4
    assert [r.row for r in table.iter_rows()] == [5]


def test_header_row_option(tmp_path: Path) -> None:
    rows = [["Email", "x"], HEADER, ROWS[0]]  # row 1 would also match "Email"
    path = write_csv(tmp_path / "in.csv", rows)
    table = open_table(path, header_row=2)
    assert table.columns == HEADER
    assert [r.row for r in table.iter_rows()] == [3]
    with pytest.raises(InputError, match="header row 9 is past the end of the file") as err:
        open_table(path, header_row=9)
    assert "--header-row 2" in str(err.value)  # the message, then the exact option
    with pytest.raises(UsageError, match="--header-row must be 1 or more"):
        open_table(path, header_row=0)


def test_aliases_are_case_space_and_punctuation_insensitive(tmp_path: Path) -> None:
    header = [
        "E-MAIL  address",
        "course_title",
        "Date Completed",
        "Score %",
        "Pass/Fail",
        "Status",
        "Notes",
    ]
    path = write_csv(
        tmp_path / "in.csv", [header, ["a@x.com", "C", "2025-03-01", "90", "yes", "Active", "hi"]]
    )
    table = open_table(path)
    assert table.mapping == {
        "email": "E-MAIL  address",
        "course": "course_title",
        "completion_date": "Date Completed",
        "score": "Score %",
        "passed": "Pass/Fail",
    }
    row = next(table.iter_rows())
    assert row.values["Status"] == "Active" and row.values["Notes"] == "hi"  # unknown kept
    assert "Status" not in table.mapping.values()  # ambiguous headers never map


def test_map_option_maps_unusual_headers(tmp_path: Path) -> None:
    header = ["Work Mail", "Programme", "When"]
    path = write_csv(tmp_path / "in.csv", [header, ["a@x.com", "C", "2025-03-01"]])
    mapping = parse_map_options(["work mail=email", "Programme=course", "When=Completion Date"])
    table = open_table(path, mapping=mapping)
    assert table.mapping == {"email": "Work Mail", "course": "Programme", "completion_date": "When"}
    with pytest.raises(InputError, match="column chosen for email, 'Nope', is not in the file"):
        open_table(path, mapping={"Nope": "email"})


@pytest.mark.parametrize(
    "items, message",
    [
        (["Email"], 'is not of the form "Header=field"'),
        (["=email"], "is not of the form"),
        (["Email=wibble"], "'wibble' is not a field"),
        (["A=email", "B=email"], "maps both 'A' and 'B' to email"),
    ],
)
def test_malformed_map_options(items: list[str], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_map_options(items)


def test_missing_required_column_lists_found_and_expected(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "in.csv", [["Email", "Notes"], ["a@x.com", "x"]])
    with pytest.raises(InputError) as err:
        open_table(path)
    text = str(err.value)
    assert "no column for required field(s) course, completion_date" in text
    assert "Columns found (header row 1): 'Email', 'Notes'" in text
    assert "'Course Name'" in text and '--map "Your Header=course"' in text
    assert "\n" not in text
    # completion_date not required when the caller has a default date
    table = open_table(
        write_csv(tmp_path / "b.csv", [["Email", "Course"], ["a@x.com", "C"]]),
        require=["email", "course"],
    )
    assert table.mapping == {"email": "Email", "course": "Course"}


def test_blank_and_duplicate_headers_are_made_unique(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "in.csv",
        [
            ["Email", "", "Course", "Completion Date", "Email"],
            ["a@x.com", "x", "C", "2025-03-01", "b@x.com"],
        ],
    )
    table = open_table(path)
    assert table.columns == ["Email", "Column B", "Course", "Completion Date", "Email (2)"]
    assert table.mapping["email"] == "Email"
    assert next(table.iter_rows()).values["Email (2)"] == "b@x.com"


def test_data_beyond_the_header_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text("Email,Course,Completion Date\na@x.com,C,2025-03-01,extra\n")
    table = open_table(path)
    assert table.columns == [*HEADER, "Column D"]
    assert next(table.iter_rows()).values["Column D"] == "extra"


def test_iter_rows_is_repeatable_and_sha256_is_of_the_bytes(tmp_path: Path) -> None:
    import hashlib

    path = write_csv(tmp_path / "in.csv", [HEADER, *ROWS])
    table = open_table(path)
    assert list(table.iter_rows()) == list(table.iter_rows())
    assert table.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert table.format == "csv"


def _ole(marker: bytes) -> bytes:
    return b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504 + marker + b"\x00" * 512


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("empty.csv", b"", "is empty"),
        ("blank.csv", b"\r\n\r\n  \r\n", "is empty"),
        ("commas.csv", b",,,\r\n,,,\r\n", "has no data"),
        (
            "header.csv",
            b"Email,Course,Completion Date\r\n",
            r"has a header \(row 1\) but no data rows",
        ),
        ("junk.csv", bytes(range(256)) * 8, "binary data"),
        ("doc.csv", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", "is a PDF document"),
        ("img.csv", b"\x89PNG\r\n\x1a\n" + b"\x00" * 20, "is a PNG image"),
        ("locked.xlsx", _ole("EncryptionInfo".encode("utf-16-le")), "password-protected"),
        ("old.xls", _ole(b"Workbook"), "could not be read as an Excel 97-2003 workbook"),
        (
            "report.xls",
            b"<html><body><table><tr><td>Email</td></tr></table></body></html>",
            "is a web page",
        ),
        (
            "x2003.xml",
            b'<?xml version="1.0"?><Workbook xmlns="urn:schemas-microsoft-com:office:'
            b'spreadsheet"></Workbook>',
            "Excel 2003 XML spreadsheet",
        ),
        (
            "ctl.csv",
            ("Email,Course\x01\x02\x03\x04\x05\x06\x07\x08,x\n" * 3).encode(),
            "does not look like a text CSV",
        ),
    ],
)
def test_unreadable_input_is_one_clear_line(
    tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputError, match=message) as err:
        list(open_table(path).iter_rows())
    assert "\n" not in str(err.value) and str(path) in str(err.value)


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="file not found"):
        open_table(tmp_path / "nope.csv")
    with pytest.raises(InputError, match="is a folder"):
        open_table(tmp_path)


def test_ods_and_plain_zip_get_conversion_advice(tmp_path: Path) -> None:
    import zipfile

    ods = tmp_path / "sheet.ods"
    with zipfile.ZipFile(ods, "w") as zf:
        zf.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        zf.writestr("content.xml", "<x/>")
    with pytest.raises(
        InputError, match=r"OpenDocument spreadsheet \(.ods\).*save it again as .xlsx"
    ):
        open_table(ods)
    other = tmp_path / "data.csv"
    with zipfile.ZipFile(other, "w") as zf:
        zf.writestr("data.csv", "Email\n")
    with pytest.raises(InputError, match="zip archive"):
        open_table(other)


def test_unclosed_quote_is_reported_with_its_row(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text(
        'Email,Course,Completion Date\na@x.com,C,2025-03-01\nb@x.com,"C' + "x" * 200_000 + "\n"
    )
    with pytest.raises(InputError, match=r"row 3: the CSV is malformed.*quote"):
        list(open_table(path).iter_rows())
