"""Where reports go: default names beside the input, never overwriting, explicit --report."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from batch.errors import UsageError
from batch.reporting.writers import failed_path_for, report_format, report_path_for

NOW = datetime(2026, 11, 26, 14, 15, 30)


def test_default_report_is_beside_the_input_in_its_format(tmp_path: Path) -> None:
    assert report_path_for(tmp_path / "hr.csv", "csv") == tmp_path / "hr.report.csv"
    assert report_path_for(tmp_path / "Q3 list.xlsx", "xlsx") == tmp_path / "Q3 list.report.xlsx"


def test_existing_report_gets_a_timestamp_never_overwritten(tmp_path: Path) -> None:
    (tmp_path / "hr.report.csv").write_text("old")
    got = report_path_for(tmp_path / "hr.csv", "csv", now=NOW)
    assert got == tmp_path / "hr.report.20261126-141530.csv"
    got.write_text("second")
    again = report_path_for(tmp_path / "hr.csv", "csv", now=NOW)
    assert again == tmp_path / "hr.report.20261126-141530-2.csv"


def test_existing_failed_rows_file_also_counts_as_taken(tmp_path: Path) -> None:
    (tmp_path / "hr.failed.xlsx").write_text("old")
    got = report_path_for(tmp_path / "hr.xlsx", "xlsx", now=NOW)
    assert got == tmp_path / "hr.report.20261126-141530.xlsx"


@pytest.mark.parametrize(
    ("name", "fmt"), [("out.csv", "csv"), ("out.XLSX", "xlsx"), ("r.v2.json", "json")]
)
def test_explicit_report_format_comes_from_its_extension(
    tmp_path: Path, name: str, fmt: str
) -> None:
    explicit = tmp_path / name
    assert report_path_for(tmp_path / "hr.csv", "csv", explicit) == explicit
    assert report_format(explicit) == fmt


def test_explicit_report_may_replace_an_older_file(tmp_path: Path) -> None:
    explicit = tmp_path / "out.json"
    explicit.write_text("{}")
    assert report_path_for(tmp_path / "hr.csv", "csv", explicit) == explicit


@pytest.mark.parametrize("name", ["out.txt", "out", "out.xls"])
def test_unknown_report_extension_is_a_usage_error(tmp_path: Path, name: str) -> None:
    with pytest.raises(UsageError, match=r"cannot tell the report format") as err:
        report_path_for(tmp_path / "hr.csv", "csv", tmp_path / name)
    assert ".csv, .xlsx or .json" in str(err.value)


def test_explicit_report_cannot_be_the_input(tmp_path: Path) -> None:
    src = tmp_path / "hr.csv"
    src.write_text("Email\n")
    with pytest.raises(UsageError, match="is the input file itself"):
        report_path_for(src, "csv", src)


def test_explicit_report_folder_must_exist(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        report_path_for(tmp_path / "hr.csv", "csv", tmp_path / "nope" / "r.csv")


def test_unknown_input_format_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="Unknown input format 'ods'"):
        report_path_for(tmp_path / "hr.ods", "ods")


@pytest.mark.parametrize(
    ("report", "fmt", "failed"),
    [
        ("hr.report.csv", "csv", "hr.failed.csv"),
        ("hr.report.20261126-141530.csv", "csv", "hr.failed.20261126-141530.csv"),
        ("hr.report.csv", "xlsx", "hr.failed.xlsx"),
        ("results.json", "csv", "results.failed.csv"),
        ("my.reports.xlsx", "xlsx", "my.reports.failed.xlsx"),
    ],
)
def test_failed_rows_name_follows_the_report(
    tmp_path: Path, report: str, fmt: str, failed: str
) -> None:
    assert failed_path_for(tmp_path / report, fmt) == tmp_path / failed
