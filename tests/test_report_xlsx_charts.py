"""The XLSX report's typed cells (real dates and numbers in the tool's columns) and the Summary
sheet's native charts (rows per status; top courses when there is more than one course)."""

from __future__ import annotations

import re
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import openpyxl
import pytest
from openpyxl.chart.bar_chart import BarChart
from openpyxl.worksheet.worksheet import Worksheet

from batch.models import RowResult, RowStatus, RunSummary
from batch.reporting import write_reports
from batch.reporting.layout import CellKind, as_number, as_utc_datetime, report_layout
from batch.reporting.xlsx import XlsxSink

COLUMNS = ["Email", "Course", "Completion Date", "Score"]
START = datetime(2026, 11, 26, 14, 15, 30, tzinfo=UTC)


def _summary(dry_run: bool = False) -> RunSummary:
    return RunSummary(
        run_id="r1", command="run", dry_run=dry_run, input_path="/data/hr.xlsx",
        input_sha256="ab" * 32, alm_host="https://learningmanager.adobe.com",
        started_at=START, ended_at=START + timedelta(seconds=200),
    )  # fmt: skip


def _row(n: int, status: RowStatus, course: str) -> RowResult:
    ok = status is RowStatus.COMPLETED
    return RowResult(
        row=n,
        values={"Email": f"u{n}@acme.com", "Course": course, "Completion Date": "14/03/2025",
                "Score": "087"},
        status=status, message="m", user_id=f"{n}" if ok else "",
        course_id=course if ok or status is RowStatus.FAILED else "",
        attempts=2 if ok else 0, posted_at="2026-11-26T15:16:02+01:00" if ok else "",
    )  # fmt: skip


def _rows(courses: list[str]) -> list[RowResult]:
    statuses = [RowStatus.COMPLETED] * 5 + [RowStatus.INVALID, RowStatus.FAILED, RowStatus.UNKNOWN]
    return [_row(i + 2, status, courses[i % len(courses)]) for i, status in enumerate(statuses * 2)]


def _write(tmp_path: Path, rows: list[RowResult], dry_run: bool = False) -> Path:
    return write_reports(
        rows, columns=COLUMNS, summary=_summary(dry_run), input_path=tmp_path / "hr.xlsx",
        input_format="xlsx", explicit=tmp_path / "hr.report.xlsx", live=not dry_run,
    ).report  # fmt: skip


def _charts(path: Path, sheet: str) -> list[BarChart]:
    """The charts openpyxl reads on ``sheet`` (its own reader: anchors, series, caches)."""
    charts = openpyxl.load_workbook(path)[sheet]._charts
    assert all(isinstance(c, BarChart) for c in charts)
    return list(charts)


def _title(chart: BarChart) -> str:
    assert chart.title is not None and chart.title.tx.rich is not None
    return "".join(str(run.t) for p in chart.title.tx.rich.p for run in p.r or ())


def _cells(ref: str, ws: Worksheet) -> list[object]:
    m = re.fullmatch(r"'?Summary'?!\$([A-Z])\$(\d+):\$([A-Z])\$(\d+)", ref)
    assert m, ref
    col, first, _, last = m.groups()
    return [ws[f"{col}{r}"].value for r in range(int(first), int(last) + 1)]


def _series(chart: BarChart, ws: Worksheet) -> dict[object, object]:
    """Category -> value as the chart's cells say, checked against the chart's own cache (what
    a reader that does not recalculate draws)."""
    (series,) = chart.series
    labels, values = _cells(series.cat.strRef.f, ws), _cells(series.val.numRef.f, ws)
    assert [p.v for p in series.cat.strRef.strCache.pt] == labels
    assert [p.v for p in series.val.numRef.numCache.pt] == values
    return dict(zip(labels, values, strict=True))


def test_status_chart_points_at_the_summary_sheets_rows_per_status(tmp_path: Path) -> None:
    path = _write(tmp_path, _rows(["course:1", "course:2", "course:3"]))
    assert _charts(path, "Report") == []  # the charts are on the Summary sheet only
    by_status, by_course = _charts(path, "Summary")
    ws = openpyxl.load_workbook(path)["Summary"]

    counts = _series(by_status, ws)
    assert list(counts) == [s.value for s in RowStatus]  # every status, in RowStatus order
    assert counts["completed"] == 10 and counts["invalid"] == 2 and counts["duplicate"] == 0
    assert _title(by_status) == "Rows per status"
    assert by_status.barDir == "bar" and by_status.x_axis.scaling.orientation == "maxMin"
    # Bars coloured by severity: completed green, unknown amber, failed red.
    statuses = [s.value for s in RowStatus]
    (series,) = by_status.series
    colours = {statuses[p.idx]: p.spPr.solidFill.srgbClr for p in series.dPt}
    assert colours["completed"] == "63BE7B"
    assert colours["unknown"] == "FFC000" and colours["failed"] == "F8696B"
    assert series.dLbls.showVal  # each bar says its count: colour is not the only signal

    assert _title(by_course) == "Top courses by rows completed"
    assert _series(by_course, ws) == {
        # 16 rows, courses in turn; only completed rows count (rows 0-4 and 8-12 of 16).
        "course:1": 4, "course:2": 3, "course:3": 3,
    }  # fmt: skip


def test_course_chart_names_the_courses_when_the_names_are_known(tmp_path: Path) -> None:
    paths = write_reports(
        _rows(["course:1", "course:2"]), columns=COLUMNS, summary=_summary(),
        input_path=tmp_path / "hr.xlsx", input_format="xlsx", explicit=None, live=True,
        course_names={"course:1": "Fire Safety 2025"},
    )  # fmt: skip
    _, by_course = _charts(paths.report, "Summary")
    ws = openpyxl.load_workbook(paths.report)["Summary"]
    assert list(_series(by_course, ws)) == ["Fire Safety 2025 (course:1)", "course:2"]


def test_one_course_has_no_course_chart_and_a_dry_run_says_would_complete(
    tmp_path: Path,
) -> None:
    path = _write(tmp_path, _rows(["course:1"]))
    assert [_title(c) for c in _charts(path, "Summary")] == ["Rows per status"]

    dry = [
        RowResult(row=i, values={}, status=RowStatus.WOULD_COMPLETE, course_id=f"course:{i % 2}")
        for i in range(2, 8)
    ]
    path = _write(tmp_path, dry, dry_run=True)
    _, by_course = _charts(path, "Summary")
    assert _title(by_course) == "Top courses by rows that would complete"


def test_failed_rows_file_has_no_summary_and_no_chart(tmp_path: Path) -> None:
    paths = write_reports(
        _rows(["course:1", "course:2"]), columns=COLUMNS, summary=_summary(),
        input_path=tmp_path / "hr.xlsx", input_format="xlsx", explicit=None, live=True,
    )  # fmt: skip
    assert paths.failed is not None
    with zipfile.ZipFile(paths.failed) as zf:
        assert not [n for n in zf.namelist() if "chart" in n or "drawing" in n]


def test_the_tools_dates_and_numbers_are_typed_and_echoed_cells_stay_text(tmp_path: Path) -> None:
    path = _write(tmp_path, _rows(["course:1"]))
    ws = openpyxl.load_workbook(path)["Report"]
    headers = [c.value for c in ws[1]]
    row = {h: c for h, c in zip(headers, ws[2], strict=True)}
    posted = row["posted_at"]
    assert isinstance(posted.value, datetime)
    assert posted.value == datetime(2026, 11, 26, 14, 16, 2)  # +01:00 shown in UTC
    assert posted.number_format == 'yyyy-mm-dd hh:mm:ss "UTC"'
    assert row["attempts"].value == 2 and row["attempts"].data_type == "n"
    assert row["row"].value == 2 and row["row"].data_type == "n"
    # The input's own cells are echoed exactly as read, leading zero and all.
    assert row["Score"].value == "087" and row["Score"].data_type == "s"
    assert row["Completion Date"].value == "14/03/2025"


def test_date_completed_and_score_columns_are_a_date_and_a_number(tmp_path: Path) -> None:
    # The columns as product.md names them, through the XLSX writer with the layout's kinds.
    headers = ["row", "Score", "date_completed", "score"]
    kinds = [CellKind.NUMBER, CellKind.TEXT, CellKind.DATETIME, CellKind.NUMBER]
    sink = XlsxSink(
        tmp_path / "r.xlsx", headers,
        lambda r: [r.row, "87", "2025-03-14T00:00:00.000Z", "87.5" if r.row == 2 else "abc"],
        status_index=1, title="Report", kinds=kinds,
    )  # fmt: skip
    sink.write(RowResult(row=2, values={}, status=RowStatus.COMPLETED))
    sink.write(RowResult(row=3, values={}, status=RowStatus.COMPLETED))
    sink.close(_summary())
    ws = openpyxl.load_workbook(tmp_path / "r.xlsx")["Report"]
    assert ws["B2"].value == "87" and ws["B2"].data_type == "s"  # echoed: text as read
    assert ws["C2"].value == datetime(2025, 3, 14) and ws["C2"].is_date
    assert ws["D2"].value == 87.5 and ws["D2"].data_type == "n"
    assert ws["D3"].value == "abc"  # not a number: kept as text, never lost


def test_layout_kinds_cover_the_tools_own_columns_only() -> None:
    layout = report_layout(["posted_at", "Score"], live=True)
    kinds = dict(zip(layout.headers, layout.kinds, strict=True))
    assert kinds["posted_at"] is CellKind.TEXT  # the input's column of that name: as read
    assert kinds["posted_at (alm-batch)"] is CellKind.DATETIME
    assert kinds["attempts"] is CellKind.NUMBER and kinds["row"] is CellKind.NUMBER
    assert kinds["Score"] is CellKind.TEXT and kinds["message"] is CellKind.TEXT


@pytest.mark.parametrize(
    ("text", "number"),
    [("85", 85), ("72.5", 72.5), (" 90 ", 90), ("", ""), ("nan", "nan"), ("inf", "inf"),
     ("1e400", "1e400"), ("abc", "abc")],
)  # fmt: skip
def test_as_number(text: str, number: object) -> None:
    assert as_number(text) == number


def test_as_utc_datetime() -> None:
    assert as_utc_datetime("2025-03-14T00:00:00.000Z") == datetime(2025, 3, 14)
    assert as_utc_datetime("2025-03-14T01:30:00+02:00") == datetime(2025, 3, 13, 23, 30)
    assert as_utc_datetime("14/03/2025") == "14/03/2025"
    assert as_utc_datetime("") == ""
