"""Report writers: one pass, failed-rows files that re-run as is, clean-up, summary filling."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import openpyxl
import pytest

from batch.errors import ExitStatus
from batch.models import RowResult, RowStatus, RunSummary
from batch.reporting import write_reports
from batch.reporting.layout import failed_layout, neutralise, report_layout, severity
from tests.report_support import write_failed_rows, write_report

COLUMNS = ["Email", "Course", "Completion Date"]


def _summary(**kw: object) -> RunSummary:
    base: dict[str, object] = dict(
        run_id="r1", command="validate", dry_run=True, input_path="/x/hr.csv",
        input_sha256="ab", alm_host="https://learningmanager.adobe.com",
        started_at=datetime(2026, 1, 1, tzinfo=UTC),
    )  # fmt: skip
    base.update(kw)
    return RunSummary(**base)  # type: ignore[arg-type]


def _result(row: int, status: RowStatus, email: str = "a@x.com") -> RowResult:
    values = {"Email": email, "Course": "course:7", "Completion Date": "2025-01-01"}
    return RowResult(row=row, values=values, status=status, message=f"m{row}")


def _csv_rows(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"), newline="")))


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".part"))


def test_one_pass_over_a_generator_writes_report_and_failed_rows(tmp_path: Path) -> None:
    consumed = []

    def results() -> Iterator[RowResult]:
        for i, status in enumerate(
            [RowStatus.WOULD_COMPLETE, RowStatus.INVALID, RowStatus.DUPLICATE]
        ):
            consumed.append(i)
            yield _result(i + 2, status)

    summary = _summary()
    paths = write_reports(
        results(), columns=COLUMNS, summary=summary, input_path=tmp_path / "hr.csv",
        input_format="csv", explicit=None, live=False,
    )  # fmt: skip
    assert consumed == [0, 1, 2]
    assert paths.report == tmp_path / "hr.report.csv"
    assert paths.failed == tmp_path / "hr.failed.csv"
    report = _csv_rows(paths.report)
    assert report[0] == ["row", *COLUMNS, "status", "message", "user_id", "course_id",
                         "instance_id", "module_ids", "date_completed", "score",
                         "action"]  # fmt: skip
    assert [r[4] for r in report[1:]] == ["would_complete", "invalid", "duplicate"]
    failed = _csv_rows(paths.failed)
    assert failed == [[*COLUMNS, "status", "message"],
                      ["a@x.com", "course:7", "2025-01-01", "invalid", "m3"]]  # fmt: skip
    assert summary.counts == {"would_complete": 1, "duplicate": 1, "invalid": 1}
    assert summary.rows == 3
    assert summary.report_paths == [str(paths.report), str(paths.failed)]
    assert summary.exit_status == ExitStatus.ROWS_FAILED
    assert summary.ended_at is not None
    assert _leftovers(tmp_path) == []


def test_nothing_failed_means_no_failed_rows_file(tmp_path: Path) -> None:
    summary = _summary()
    paths = write_reports(
        [_result(2, RowStatus.WOULD_COMPLETE)], columns=COLUMNS, summary=summary,
        input_path=tmp_path / "hr.xlsx", input_format="xlsx", explicit=None, live=False,
    )  # fmt: skip
    assert paths.failed is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hr.report.xlsx"]
    assert summary.exit_status == ExitStatus.OK
    assert summary.report_paths == [str(tmp_path / "hr.report.xlsx")]


def test_an_abort_exit_status_is_kept(tmp_path: Path) -> None:
    summary = _summary(exit_status=int(ExitStatus.ABORTED))
    write_reports(
        [_result(2, RowStatus.FAILED)], columns=COLUMNS, summary=summary,
        input_path=tmp_path / "hr.csv", input_format="csv", explicit=None, live=True,
    )  # fmt: skip
    assert summary.exit_status == ExitStatus.ABORTED


@pytest.mark.parametrize("ext", ["csv", "xlsx", "json"])
def test_an_error_mid_stream_leaves_no_file(tmp_path: Path, ext: str) -> None:
    def results() -> Iterator[RowResult]:
        yield _result(2, RowStatus.INVALID)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_reports(
            results(), columns=COLUMNS, summary=_summary(), input_path=tmp_path / "hr.csv",
            input_format="csv", explicit=tmp_path / f"out.{ext}", live=False,
        )  # fmt: skip
    assert list(tmp_path.iterdir()) == []


def test_an_input_status_column_keeps_its_values_beside_ours(tmp_path: Path) -> None:
    # (A re-run failed-rows file's own status/message never get here: the reader leaves them
    # out, see tests/test_report_rerun.py.)
    columns = [*COLUMNS, "Status"]
    result = _result(2, RowStatus.USER_NOT_FOUND)
    result.values.update({"Status": "Active"})
    out = write_failed_rows(
        [result], columns=columns, input_path=tmp_path / "hr.failed.csv", input_format="csv",
        report_path=tmp_path / "hr.failed.report.csv",
    )  # fmt: skip
    assert out == tmp_path / "hr.failed.failed.csv"
    assert _csv_rows(out) == [
        [*columns, "status (alm-batch)", "message"],
        ["a@x.com", "course:7", "2025-01-01", "Active", "user_not_found", "m2"],
    ]


def test_failed_rows_never_replace_the_input(tmp_path: Path) -> None:
    src = tmp_path / "hr.failed.csv"
    src.write_text("Email\n")
    out = write_failed_rows(
        [_result(2, RowStatus.INVALID)], columns=COLUMNS, input_path=src, input_format="csv",
        report_path=tmp_path / "hr.report.csv",
    )  # fmt: skip
    assert out is not None and out != src
    assert src.read_text() == "Email\n"


def test_failed_rows_returns_none_when_all_ended_well(tmp_path: Path) -> None:
    out = write_failed_rows(
        [_result(2, RowStatus.COMPLETED)], columns=COLUMNS, input_path=tmp_path / "hr.csv",
        input_format="csv", report_path=tmp_path / "hr.report.csv",
    )  # fmt: skip
    assert out is None and [p.name for p in tmp_path.iterdir()] == ["hr.report.csv"]


def test_failed_rows_xlsx_uses_the_input_sheet_name(tmp_path: Path) -> None:
    out = write_failed_rows(
        [_result(2, RowStatus.INVALID)], columns=COLUMNS, input_path=tmp_path / "hr.xlsx",
        input_format="xlsx", report_path=tmp_path / "hr.report.xlsx", sheet="Q3/2025",
    )  # fmt: skip
    assert out is not None
    assert openpyxl.load_workbook(out).sheetnames == ["Q3 2025"]


def test_write_report_alone_fills_the_summary(tmp_path: Path) -> None:
    summary = _summary()
    path = write_report(
        [_result(2, RowStatus.INVALID), _result(3, RowStatus.WOULD_COMPLETE)],
        columns=COLUMNS, summary=summary, path=tmp_path / "r.json", live=False,
    )  # fmt: skip
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["summary"]["counts"]["invalid"] == 1
    assert data["summary"]["report_paths"] == [str(path), str(tmp_path / "r.failed.csv")]
    assert "attempts" not in data["rows"][0]  # dry run: no live columns
    assert summary.rows == 2


def test_summary_report_paths_are_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    summary = _summary()
    paths = write_reports(
        [_result(2, RowStatus.INVALID)], columns=COLUMNS, summary=summary,
        input_path=Path("hr.csv"), input_format="csv", explicit=None, live=False,
    )  # fmt: skip
    assert paths.report == Path("hr.report.csv")
    assert summary.report_paths == [
        str(tmp_path / "hr.report.csv"),
        str(tmp_path / "hr.failed.csv"),
    ]


def test_empty_input_gives_valid_reports(tmp_path: Path) -> None:
    for ext in ("csv", "xlsx", "json"):
        write_report([], columns=COLUMNS, summary=_summary(), path=tmp_path / f"r.{ext}", live=True)
    assert json.loads((tmp_path / "r.json").read_text())["rows"] == []
    assert len(_csv_rows(tmp_path / "r.csv")) == 1
    ws = openpyxl.load_workbook(tmp_path / "r.xlsx")["Report"]
    assert ws.max_row == 1 and ws.auto_filter.ref == "A1:O1"


def test_xlsx_streams_past_the_width_sample_and_cleans_bad_characters(tmp_path: Path) -> None:
    rows = [_result(i + 2, RowStatus.WOULD_COMPLETE, email=f"u{i}@x.com") for i in range(450)]
    rows.append(_result(452, RowStatus.INVALID, email="bad\x01char@x.com"))
    path = write_report(
        rows, columns=COLUMNS, summary=_summary(), path=tmp_path / "r.xlsx", live=False
    )
    ws = openpyxl.load_workbook(path, read_only=True)["Report"]
    got = list(ws.iter_rows(values_only=True))
    assert len(got) == 452
    assert got[-1][:2] == (452, "bad\ufffdchar@x.com")
    assert got[300][1] == "u299@x.com"


def test_input_column_named_like_an_outcome_is_kept_and_ours_renamed() -> None:
    layout = report_layout(["Email", "Status", "row"], live=True)
    assert layout.headers == [
        "row (alm-batch)", "Email", "Status", "row", "status (alm-batch)", "message", "user_id",
        "course_id", "instance_id", "module_ids", "date_completed", "score", "action",
        "attempts", "posted_at",
    ]  # fmt: skip
    twice = report_layout(["status", "status (alm-batch)"], live=False)
    assert twice.headers[3] == "status (alm-batch 2)"
    assert failed_layout(["Email", "Status"]).headers == [
        "Email", "Status", "status (alm-batch)", "message",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("cell", "safe"),
    [
        ("=1+1", "'=1+1"), ("+1", "'+1"), ("-5", "'-5"), ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"), ("\rx", "'\rx"), ("\uff1dcmd", "'\uff1dcmd"),
        ("a=b", "a=b"), ("jane@acme.com", "jane@acme.com"), ("", ""), ("'=x", "'=x"),
    ],
)  # fmt: skip
def test_neutralise(cell: str, safe: str) -> None:
    assert neutralise(cell) == safe


def test_severity_families() -> None:
    assert {s.value: severity(s).value for s in RowStatus} == {
        "completed": "ok", "would_complete": "ok", "valid": "ok", "already_completed": "ok",
        "duplicate": "warning", "not_completed": "warning", "unknown": "warning",
        "not_run": "warning", "invalid": "error",
        "user_not_found": "error", "course_not_found": "error", "ambiguous_course": "error",
        "rejected": "error", "failed": "error",
    }  # fmt: skip
