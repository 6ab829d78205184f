"""The XLSX writer with hostile text: every cell reads back as written, the package stays valid.

The golden tests check a typical report cell by cell; these push the text path (escaping,
control characters, surrogates, spaces, truncation, Excel's own escapes, sheet names, Excel's
row limit) and check the package parts are well-formed and all declared, reading the files
back with openpyxl.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from xml.etree.ElementTree import fromstring

import openpyxl
import pytest

from batch.models import RowResult, RowStatus, RunSummary
from batch.reader import open_table
from batch.reporting import xlsx
from batch.reporting.xlsx import EXCEL_MAX_CHARS, TRUNCATED, XlsxSink, sheet_title
from tests.report_support import write_failed_rows, write_report

COLUMNS = ["Email", "Notes"]

# (written, read back, quote-prefixed)
CASES: list[tuple[str, str, bool]] = [
    ("a&b<c>d\"e'f ]]>", "a&b<c>d\"e'f ]]>", False),
    ("=1+1", "=1+1", True),
    ("@SUM(A1)", "@SUM(A1)", True),
    ("\tx", "\tx", True),
    ("\uff1dcmd", "\uff1dcmd", True),
    ("#N/A", "#N/A", True),
    ("'=x", "'=x", False),
    ("  both ends  ", "  both ends  ", False),
    ("\u00a0nbsp", "\u00a0nbsp", False),
    ("a\r\nb\rc", "a\nb\nc", False),
    ("bad\x00\x01\x0b\x1fchar", "bad\ufffd\ufffd\ufffd\ufffdchar", False),
    ("lone \ud800 surrogate \uffff", "lone \ufffd surrogate \ufffd", False),
    ("日本語 – Sécurité", "日本語 – Sécurité", False),
    ("TRUE", "TRUE", False),
    ("0012", "0012", False),
    ("\n=1+1", "\n=1+1", True),
    ("\ufe66cmd", "\ufe66cmd", True),
    ("  +44 20 7946 0000", "  +44 20 7946 0000", True),
]


def _summary() -> RunSummary:
    return RunSummary(
        run_id="r<1>&'", command="run", dry_run=False, input_path="/x/hr.csv",
        input_sha256="ab", alm_host="https://learningmanager.adobe.com",
        started_at=datetime(2026, 1, 1, tzinfo=UTC),
    )  # fmt: skip


def _results() -> Iterator[RowResult]:
    for i, (text, _, _) in enumerate(CASES):
        yield RowResult(
            row=i + 2, values={"Email": text, "Notes": text}, status=RowStatus.INVALID,
            message=text,
        )  # fmt: skip


def _parts_are_well_formed(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as zf:
        assert zf.testzip() is None
        names = zf.namelist()
        for name in names:
            fromstring(zf.read(name))  # raises on malformed XML
        types = zf.read("[Content_Types].xml").decode()
    for name in names:
        if not name.endswith(".rels") and name != "[Content_Types].xml":
            assert f'PartName="/{name}"' in types, name
    return names


def test_hostile_text_reads_back_as_text(tmp_path: Path) -> None:
    path = write_report(
        _results(), columns=COLUMNS, summary=_summary(), path=tmp_path / "r.xlsx", live=False
    )
    _parts_are_well_formed(path)
    ws = openpyxl.load_workbook(path)["Report"]
    for r, (_, expected, quoted) in enumerate(CASES, start=2):
        for col in ("B", "C", "E"):  # Email, Notes, message
            cell = ws[f"{col}{r}"]
            assert cell.value == expected, (col, r)
            assert cell.data_type == "s"
            assert cell.quotePrefix is quoted, (col, r)
    assert openpyxl.load_workbook(path)["Summary"]["B5"].value == "r<1>&'"


def test_text_like_excels_own_escapes_re_runs_as_typed(tmp_path: Path) -> None:
    """``_x0041_`` is how a workbook escapes "A": written as is, Excel (and our reader) would
    read "A". It is escaped once more, so Excel, LibreOffice and the reader read it as typed
    (openpyxl does not undo that escape, so the check reads through the tool's own reader)."""
    columns = ["Email", "Course", "Completion Date", "Notes"]
    values = {"Email": "a@x.com", "Course": "c", "Completion Date": "2025-01-01",
              "Notes": "_x0041_ and _x005F_ stay"}  # fmt: skip
    path = write_failed_rows(
        [RowResult(row=2, values=values, status=RowStatus.INVALID, message="m")],
        columns=columns, input_path=tmp_path / "hr.xlsx", input_format="xlsx",
        report_path=tmp_path / "hr.report.xlsx",
    )  # fmt: skip
    assert path is not None
    (row,) = open_table(path).iter_rows()
    assert row.values == values


def test_overlong_cells_are_cut_to_excels_limit(tmp_path: Path) -> None:
    text = "x" * (EXCEL_MAX_CHARS + 10)
    row = RowResult(row=2, values={"Email": text, "Notes": ""}, status=RowStatus.INVALID)
    path = write_report(
        [row], columns=COLUMNS, summary=_summary(), path=tmp_path / "r.xlsx", live=False
    )
    got = openpyxl.load_workbook(path)["Report"]["B2"].value
    assert len(got) == EXCEL_MAX_CHARS and got.endswith(TRUNCATED)


def test_awkward_sheet_name_and_its_filter_name(tmp_path: Path) -> None:
    rows = [RowResult(row=2, values={"Email": "a", "Notes": "b"}, status=RowStatus.INVALID)]
    path = write_failed_rows(
        rows, columns=COLUMNS, input_path=tmp_path / "hr.xlsx", input_format="xlsx",
        report_path=tmp_path / "hr.report.xlsx", sheet="Q3 'R&D' <draft> \"x\"",
    )  # fmt: skip
    assert path is not None
    names = _parts_are_well_formed(path)
    assert "xl/worksheets/sheet2.xml" not in names  # no Summary in a failed-rows file
    wb = openpyxl.load_workbook(path)
    ws = wb.worksheets[0]
    assert ws.title == "Q3 'R&D' <draft> \"x\""
    assert ws.freeze_panes == "A2" and ws.auto_filter.ref == "A1:D2"
    assert ws["A2"].value == "a"


def test_discard_leaves_nothing_behind(tmp_path: Path) -> None:
    target = tmp_path / "r.xlsx"
    sink = XlsxSink(
        target, ["a"], lambda r: [r.row], status_index=0, title="Report", with_summary=False
    )
    sink.write(RowResult(row=2, values={}, status=RowStatus.INVALID))
    sink.discard()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("value", "read", "data_type"),
    [
        (7, 7, "n"),
        (2.5, 2.5, "n"),
        (True, True, "b"),
        (float("nan"), "nan", "s"),  # not a finite number: text, never an error cell
        (" x", " x", "s"),
        ("a<b", "a<b", "s"),
        ("1e5", "1e5", "s"),  # text that looks like a number stays text
        ("https://evil.example", "https://evil.example", "s"),  # not made a link
    ],
)
def test_each_value_is_typed_by_what_it_is(
    tmp_path: Path, value: object, read: object, data_type: str
) -> None:
    sink = XlsxSink(
        tmp_path / "r.xlsx", ["a", "b"], lambda r: [value, ""],  # type: ignore[list-item]
        status_index=1, title="Report", with_summary=False,
    )  # fmt: skip
    sink.write(RowResult(row=2, values={}, status=RowStatus.INVALID))
    sink.close(None)
    ws = openpyxl.load_workbook(tmp_path / "r.xlsx")["Report"]
    assert ws["A2"].value == read and ws["A2"].data_type == data_type
    assert ws["B2"].value is None  # "" leaves no cell
    assert not ws["A2"].hyperlink


def test_sheet_names_fit_excels_limit_in_utf16_units(tmp_path: Path) -> None:
    name = "Q3 " + "\U0001f525" * 20  # each emoji is two UTF-16 units
    title = sheet_title(name, "Report")
    assert len(title.encode("utf-16-le")) <= 62 and title.startswith("Q3 ")
    rows = [RowResult(row=2, values={"Email": "a", "Notes": "b"}, status=RowStatus.INVALID)]
    path = write_failed_rows(
        rows, columns=COLUMNS, input_path=tmp_path / "hr.xlsx", input_format="xlsx",
        report_path=tmp_path / "hr.report.xlsx", sheet=name,
    )  # fmt: skip
    assert path is not None
    assert openpyxl.load_workbook(path).sheetnames == [title]


def test_rows_past_excels_limit_are_counted_on_the_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(xlsx, "EXCEL_MAX_ROWS", 4)  # a header and three rows fit
    rows = [
        RowResult(row=n, values={"Email": f"u{n}", "Notes": ""}, status=RowStatus.INVALID)
        for n in range(2, 8)
    ]
    path = write_report(
        rows, columns=COLUMNS, summary=_summary(), path=tmp_path / "r.xlsx", live=False
    )
    wb = openpyxl.load_workbook(path)
    assert [r[1] for r in wb["Report"].iter_rows(min_row=2, values_only=True)] == [
        "u2", "u3", "u4",
    ]  # fmt: skip
    labels = {str(r[0]): r[1] for r in wb["Summary"].iter_rows(values_only=True) if r[0]}
    (past,) = [label for label in labels if label.startswith("Rows not on the Report sheet")]
    assert labels[past] == 3 and labels["Rows"] == 6
