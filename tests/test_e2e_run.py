"""``alm-batch run FILE --yes`` end to end: the real CLI in a subprocess against the sandbox.

Each test asserts the exit code, the report read back from disk, and what the sandbox recorded.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import openpyxl
import pytest

from batch.sandbox import Sandbox
from tests.e2e_support import (
    EXPECTED_LIVE,
    FAILING_ROWS,
    SAMPLE_CSV,
    SAMPLE_GRADES,
    SAMPLE_ROWS,
    graded,
    posts,
    read_csv,
    read_report,
    run_cli,
    sandbox_env,
    statuses,
    wanted_grades,
)

pytestmark = pytest.mark.timeout(120)


def test_sample_run_reports_every_row_and_grades_each_module_once(
    sb: Sandbox, sample: Path, tmp_path: Path
) -> None:
    alm = sandbox_env(sb, tmp_path / "state")
    run = run_cli(
        ["run", sample.name, "--yes", "--json-summary", "--report", "out.json"],
        cwd=tmp_path,
        alm=alm,
    )
    assert run.code == 1, run  # 7 sample rows fail by design (sample_data/README.md)

    # --json-summary: valid JSON on stdout, and nothing else there
    summary = json.loads(run.stdout)
    assert summary["exit_status"] == 1 and summary["dry_run"] is False
    assert summary["rows"] == len(SAMPLE_ROWS)
    assert summary["counts"]["completed"] == 29
    assert summary["counts"]["already_completed"] == 2
    assert summary["rows_failed"] == len(FAILING_ROWS) == 7
    assert summary["writes_made"] == summary["writes_planned"] == 87
    assert summary["report_paths"] == [str(tmp_path / "out.json"), str(tmp_path / "out.failed.csv")]

    # the report: every input row once, in input order, with the status the README promises
    rows = read_report(tmp_path / "out.json")
    assert [r["row"] for r in rows] == SAMPLE_ROWS
    assert statuses(rows) == EXPECTED_LIVE
    assert rows[0]["cells"]["Department"] == "Finance"  # extra columns are echoed
    by_row = {r["row"]: r for r in rows}
    assert "Data Privacy Essentials" in by_row[15]["message"]  # the "did you mean"
    assert "2025-02-30" in by_row[17]["message"]

    # the sandbox: exactly the grades the completed rows need, each posted once
    books = sb.books()
    wanted = wanted_grades(rows)
    assert len(wanted) == SAMPLE_GRADES
    assert graded(books) == {key: 1 for key in wanted}
    assert books["double_grades"] == 0
    assert books["enrollments_created"] == 30  # row 39's program enrolls in 5 courses
    assert books["early_requests"] == 0

    # the failed-rows file: exactly the failing rows, in the input's columns, re-readable
    failed = read_csv(tmp_path / "out.failed.csv")
    with sample.open(encoding="utf-8", newline="") as handle:
        source = list(csv.DictReader(handle))
    assert [f["Learner Email"] for f in failed] == [
        source[r - 2]["Learner Email"] for r in FAILING_ROWS
    ]
    assert [f["status"] for f in failed] == [EXPECTED_LIVE[r] for r in FAILING_ROWS]
    assert list(failed[0])[:5] == [
        "Learner Email",
        "Course Name",
        "Completion Date",
        "Score",
        "Department",
    ]
    again = run_cli(
        ["validate", "out.failed.csv", "--offline", "--report", "failed-check.csv"], cwd=tmp_path
    )
    assert again.code == 1, again  # the two invalid rows are still invalid, the rest are valid
    rechecked = read_report(tmp_path / "failed-check.csv")
    assert [r["status"] for r in rechecked] == [
        "invalid" if EXPECTED_LIVE[r] == "invalid" else "valid" for r in FAILING_ROWS
    ]


def test_rerun_posts_nothing_and_writes_an_xlsx_report(
    sb: Sandbox, sample: Path, tmp_path: Path
) -> None:
    alm = sandbox_env(sb, tmp_path / "state")
    first = run_cli(["run", sample.name, "--yes", "--report", "first.csv"], cwd=tmp_path, alm=alm)
    assert first.code == 1, first
    sb.reset_books()

    again = run_cli(["run", sample.name, "--yes", "--report", "again.xlsx"], cwd=tmp_path, alm=alm)
    assert again.code == 1, again
    books = sb.books()
    assert set(posts(books)) <= {"POST /oauth/token/refresh"}  # no enrollment, no grade
    assert books["grades"] == []
    rows = read_report(tmp_path / "again.xlsx")
    assert [r["row"] for r in rows] == SAMPLE_ROWS
    done_before = {
        row: "already_completed" if s == "completed" else s for row, s in EXPECTED_LIVE.items()
    }
    assert statuses(rows) == done_before
    assert "already" in rows[0]["message"] and "2025-03-03" in rows[0]["message"]  # says when
    workbook = openpyxl.load_workbook(tmp_path / "again.xlsx", read_only=True)
    try:
        assert workbook.sheetnames == ["Report", "Summary"]
    finally:
        workbook.close()
    assert (tmp_path / "again.failed.csv").exists()


def test_a_clean_file_exits_0_and_quiet_prints_only_the_report_path(
    sb: Sandbox, tmp_path: Path
) -> None:
    lines = SAMPLE_CSV.read_text(encoding="utf-8").splitlines()
    good = [
        2,
        5,
        8,
        24,
    ]  # completed rows of the sample: Fire Safety, Code of Conduct, de-DE name, by id
    (tmp_path / "clean.csv").write_text(
        "\n".join([lines[0], *(lines[r - 1] for r in good)]) + "\n", encoding="utf-8"
    )
    run = run_cli(
        ["run", "clean.csv", "--yes", "--quiet"],
        cwd=tmp_path,
        alm=sandbox_env(sb, tmp_path / "state"),
    )
    assert run.code == 0, run
    report = tmp_path / "clean.report.csv"
    assert run.stdout.strip() == str(report)  # for scripts: report=$(alm-batch run ... -q)
    assert run.stderr == ""
    assert not (tmp_path / "clean.failed.csv").exists()
    rows = read_report(report)
    assert [(r["row"], r["status"]) for r in rows] == [
        (2, "completed"),
        (3, "completed"),
        (4, "completed"),
        (5, "completed"),
    ]
    books = sb.books()
    assert graded(books) == {key: 1 for key in wanted_grades(rows)}
    assert len(books["grades"]) == 2 + 1 + 3 + 1
