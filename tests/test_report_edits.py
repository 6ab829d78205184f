"""The upload page's edits (row, column, old value, new value) in every report format.

XLSX: an "Edits" sheet and a Summary line; JSON: a top-level "edits" list; CSV: a sidecar
``<report stem>.edits.csv``. Without edits, none of them appears. The last test goes through
the job engine against the sample sandbox.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import subprocess
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from xml.etree import ElementTree

import openpyxl
import pytest

from batch.demo import settings_for_sandbox
from batch.jobs import Job, JobOptions
from batch.models import RowResult, RowStatus, RunSummary
from batch.reporting import ReportPaths, format_summary, summary_json, write_reports
from batch.reporting.edits import EXCLUDED_COLUMN, EXCLUDED_VALUE, edits_path_for
from batch.sandbox import Sandbox
from tests.test_report_libreoffice import CSV_FILTER, SOFFICE

NS_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
COLUMNS = ["Email", "Course Name", "Completion Date"]
EDITS = [
    {"row": "13", "column": "", "old": "", "new": "(row excluded)"},
    {
        "row": "14",
        "column": "Course Name",
        "old": "Data Privacy Esentials",
        "new": "Data Privacy Essentials",
    },
    {"row": "15", "column": "Email", "old": "=cmd", "new": "ann@example.com"},
    {"row": "16", "column": "Completion Date", "old": "2025-13-01", "new": "=cmd|' /C calc'!A0"},
]
# What a person reads in the XLSX sheet (row as a number, text exactly as given).
SHEET_LINES = [
    ("row", "column", "old value", "new value"),
    (13, EXCLUDED_COLUMN, None, EXCLUDED_VALUE),
    (14, "Course Name", "Data Privacy Esentials", "Data Privacy Essentials"),
    (15, "Email", "=cmd", "ann@example.com"),
    (16, "Completion Date", "2025-13-01", "=cmd|' /C calc'!A0"),
]


def _summary(edits: list[dict[str, str]]) -> RunSummary:
    return RunSummary(
        run_id="r1",
        command="validate",
        dry_run=True,
        input_path="/x/hr.csv",
        input_sha256="ab",
        alm_host="https://learningmanager.adobe.com",
        started_at=datetime(2026, 1, 1, tzinfo=UTC),
        edits=[dict(e) for e in edits],
    )


def _results(failed: bool) -> Iterator[RowResult]:
    for row in (2, 3):
        values = {"Email": f"u{row}@x.com", "Course Name": "Fire Safety", "Completion Date": ""}
        status = RowStatus.INVALID if failed and row == 3 else RowStatus.WOULD_COMPLETE
        yield RowResult(row=row, values=values, status=status, message=f"m{row}")


def _write(
    path: Path, edits: list[dict[str, str]], *, failed: bool = False
) -> tuple[ReportPaths, RunSummary]:
    summary = _summary(edits)
    paths = write_reports(
        _results(failed), columns=COLUMNS, summary=summary, input_path=path.with_name("hr.csv"),
        input_format="csv", explicit=path, live=False,
    )  # fmt: skip
    return paths, summary


def _csv(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"), newline="")))


# -- XLSX --------------------------------------------------------------------------------------
def test_xlsx_report_has_an_edits_sheet_read_back_exactly(tmp_path: Path) -> None:
    paths, summary = _write(tmp_path / "r.xlsx", EDITS)
    assert paths.edits is None  # inside the workbook, no sidecar
    assert summary.report_paths == [str(tmp_path / "r.xlsx")]
    book = openpyxl.load_workbook(tmp_path / "r.xlsx")
    assert book.sheetnames == ["Report", "Summary", "Edits"]
    sheet = book["Edits"]
    assert list(sheet.iter_rows(values_only=True)) == SHEET_LINES
    assert sheet.freeze_panes == "B2"
    assert sheet.auto_filter.ref == "A1:D5"
    # formula bait is text with the quote-prefix flag, never a formula
    for ref in ("C4", "D5"):
        assert sheet[ref].data_type == "s" and sheet[ref].quotePrefix, ref
    assert not sheet["D3"].quotePrefix
    assert all(sheet.cell(1, c).font.b for c in range(1, 5))
    # widths fitted like the Report sheet's: header + 3 or longest text + 2, at least 6
    widths = [sheet.column_dimensions[c].width for c in "ABCD"]
    assert widths == [6, len("Completion Date") + 2, len("Data Privacy Esentials") + 2,
                      len(EXCLUDED_VALUE) + 2]  # fmt: skip
    labels = {r[0]: r[1] for r in book["Summary"].iter_rows(values_only=True)}
    assert labels["Edits made before the run"] == "4 (see the Edits sheet)"
    # Excel's filter needs the sheet's hidden defined name, on the third sheet
    with zipfile.ZipFile(tmp_path / "r.xlsx") as zf:
        workbook = ElementTree.fromstring(zf.read("xl/workbook.xml"))
    filters = {
        name.get("localSheetId"): (name.get("hidden"), str(name.text).replace("'", ""))
        for name in workbook.iter(f"{{{NS_MAIN}}}definedName")
        if name.get("name") == "_xlnm._FilterDatabase"
    }
    assert filters["0"][1].startswith("Report!")
    assert filters["2"] == ("1", "Edits!$A$1:$D$5")


def test_xlsx_report_without_edits_has_no_edits_sheet(tmp_path: Path) -> None:
    _write(tmp_path / "r.xlsx", [])
    book = openpyxl.load_workbook(tmp_path / "r.xlsx")
    assert book.sheetnames == ["Report", "Summary"]
    labels = [r[0] for r in book["Summary"].iter_rows(values_only=True)]
    assert "Edits made before the run" not in labels
    assert "Edits file" not in labels


# -- JSON --------------------------------------------------------------------------------------
def test_json_report_lists_the_edits_raw(tmp_path: Path) -> None:
    paths, summary = _write(tmp_path / "r.json", EDITS, failed=True)
    assert paths.edits is None
    data = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert list(data) == ["format", "version", "summary", "columns", "edits", "rows"]
    assert data["edits"] == [
        {"row": 13, "column": "", "old": "", "new": "(row excluded)", "excluded": True},
        {"row": 14, "column": "Course Name", "old": "Data Privacy Esentials",
         "new": "Data Privacy Essentials", "excluded": False},
        {"row": 15, "column": "Email", "old": "=cmd", "new": "ann@example.com",
         "excluded": False},
        {"row": 16, "column": "Completion Date", "old": "2025-13-01",
         "new": "=cmd|' /C calc'!A0", "excluded": False},
    ]  # fmt: skip
    assert [r["row"] for r in data["rows"]] == [2, 3]
    assert "edits" not in data["summary"]["reports"]


def test_json_report_without_edits_has_no_edits_key(tmp_path: Path) -> None:
    _write(tmp_path / "r.json", [])
    data = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert list(data) == ["format", "version", "summary", "columns", "rows"]


# -- CSV ---------------------------------------------------------------------------------------
def test_csv_report_gets_an_edits_sidecar(tmp_path: Path) -> None:
    paths, summary = _write(tmp_path / "r.csv", EDITS, failed=True)
    sidecar = tmp_path / "r.edits.csv"
    assert paths == ReportPaths(tmp_path / "r.csv", tmp_path / "r.failed.csv", sidecar)
    assert sidecar.read_bytes().startswith(codecs.BOM_UTF8)
    assert _csv(sidecar) == [
        ["row", "column", "old value", "new value"],
        ["13", EXCLUDED_COLUMN, "", EXCLUDED_VALUE],
        ["14", "Course Name", "Data Privacy Esentials", "Data Privacy Essentials"],
        ["15", "Email", "'=cmd", "ann@example.com"],
        ["16", "Completion Date", "2025-13-01", "'=cmd|' /C calc'!A0"],
    ]
    # the report stays one flat table, first in the list; the sidecar is labelled
    assert _csv(tmp_path / "r.csv")[0][0] == "row" and len(_csv(tmp_path / "r.csv")) == 3
    files = [str(tmp_path / n) for n in ("r.csv", "r.failed.csv", "r.edits.csv")]
    assert summary.report_paths == files
    assert summary_json(summary)["reports"] == {
        "report": files[0],
        "failed_rows": files[1],
        "edits": files[2],
    }
    text = format_summary(summary)
    assert f"failed rows: {files[1]}\nedits: {files[2]}\n" in text
    assert "edits made before the run: 4\n" in text
    assert text.endswith("exit 1: 1 row needs attention: see the failed-rows file")
    assert not list(tmp_path.glob(".*.part"))


def test_csv_sidecar_without_failed_rows_is_not_taken_for_them(tmp_path: Path) -> None:
    paths, summary = _write(tmp_path / "q3.report.csv", EDITS[:1])
    sidecar = tmp_path / "q3.report.edits.csv"
    assert paths.failed is None and paths.edits == sidecar == edits_path_for(paths.report)
    assert summary_json(summary)["reports"] == {
        "report": str(tmp_path / "q3.report.csv"),
        "failed_rows": None,
        "edits": str(sidecar),
    }
    assert format_summary(summary).endswith(
        f"edits: {sidecar}\nexit 0: every row is ready for the live run"
    )


def test_csv_report_without_edits_has_no_sidecar(tmp_path: Path) -> None:
    paths, summary = _write(tmp_path / "r.csv", [])
    assert paths.edits is None
    assert not (tmp_path / "r.edits.csv").exists()
    assert "edits" not in summary_json(summary)["reports"]
    assert not [line for line in format_summary(summary).splitlines() if line.startswith("edits")]


def test_no_sidecar_is_left_when_the_rows_fail(tmp_path: Path) -> None:
    def broken() -> Iterator[RowResult]:
        yield from _results(False)
        raise RuntimeError("the run broke")

    with pytest.raises(RuntimeError):
        write_reports(
            broken(), columns=COLUMNS, summary=_summary(EDITS), input_path=tmp_path / "hr.csv",
            input_format="csv", explicit=tmp_path / "r.csv", live=False,
        )  # fmt: skip
    assert sorted(p.name for p in tmp_path.iterdir()) == []


# -- through the job engine ----------------------------------------------------------------------
def test_engine_dry_run_lists_the_page_edits_in_the_xlsx_report(
    sb: Sandbox, sample: Path, tmp_path: Path
) -> None:
    options = JobOptions(
        path=sample,
        dry_run=True,
        report=tmp_path / "r.xlsx",
        edits={15: {"Course Name": "Data Privacy Essentials"}},
        exclude=frozenset({13}),
        state_dir=tmp_path / "state",
    )
    outcome = Job(options, settings_for_sandbox(sb)).run()
    assert outcome.report_path == tmp_path / "r.xlsx"
    book = openpyxl.load_workbook(tmp_path / "r.xlsx")
    assert list(book["Edits"].iter_rows(values_only=True)) == [
        ("row", "column", "old value", "new value"),
        (13, EXCLUDED_COLUMN, None, EXCLUDED_VALUE),
        (15, "Course Name", "Data Privacy Esentials", "Data Privacy Essentials"),
    ]
    labels = {r[0]: r[1] for r in book["Summary"].iter_rows(values_only=True)}
    assert labels["Edits made before the run"] == "2 (see the Edits sheet)"
    assert sb.books()["grades"] == []


@pytest.mark.timeout(120)
@pytest.mark.skipif(SOFFICE is None, reason="LibreOffice is not installed: apt-get install "
                    "libreoffice-calc-nogui")  # fmt: skip
def test_libreoffice_reads_the_edits_sheet(tmp_path: Path) -> None:
    """A real spreadsheet program opens the workbook and shows the third sheet as written."""
    _write(tmp_path / "r.xlsx", EDITS)
    out = tmp_path / "out"
    # the 12th filter token picks the sheet: 3 = Edits
    subprocess.run(
        [str(SOFFICE), "--headless", f"-env:UserInstallation={(tmp_path / 'profile').as_uri()}",
         "--convert-to", f"{CSV_FILTER},,0,false,true,false,false,false,3",
         "--outdir", str(out), str(tmp_path / "r.xlsx")],
        check=True, capture_output=True, timeout=110,
    )  # fmt: skip
    (converted,) = out.glob("*.csv")
    assert _csv(converted) == [
        [str(c) if c is not None else "" for c in line] for line in SHEET_LINES
    ]
