"""The hand-written XLSX writer (``xlsx_stream``): hostile text, package validity, clean-up.

The golden tests check a typical report cell by cell; these push the text path where the
writer does its own XML work (escaping, control characters, surrogates, spaces, truncation,
sheet names) and check the package parts are well-formed and all declared.
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
from batch.reporting.xlsx import EXCEL_MAX_CHARS, TRUNCATED, XlsxSink
from batch.reporting.xlsx_stream import SheetWriter
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
    ("value", "xml"),
    [
        (7, '<c r="A1"><v>7</v></c>'),
        (2.5, '<c r="A1"><v>2.5</v></c>'),
        (True, '<c r="A1" t="b"><v>1</v></c>'),
        (float("nan"), '<c r="A1" t="inlineStr"><is><t>nan</t></is></c>'),
        (" x", '<c r="A1" t="inlineStr"><is><t xml:space="preserve"> x</t></is></c>'),
        ("a<b", '<c r="A1" t="inlineStr"><is><t>a&lt;b</t></is></c>'),
    ],
)
def test_cell_xml(value: object, xml: str) -> None:
    out: list[str] = []

    class Sink:
        def write(self, text: str) -> int:
            out.append(text)
            return len(text)

    SheetWriter(Sink()).row([value, None, ""])  # type: ignore[arg-type]
    assert out == [f'<row r="1">{xml}</row>']
