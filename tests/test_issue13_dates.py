"""Issue 13: dates that cannot be real completions are invalid, with a message a person acts on."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import openpyxl
import pytest

from batch.errors import UsageError
from batch.reader import open_table
from batch.validate import ValidationOptions, check_rows
from tests.e2e_support import run_cli

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _messages(path: Path, **options: object) -> dict[int, str]:
    table = open_table(path)
    out = {}
    for checked in check_rows(table, ValidationOptions(now=NOW, **options)):  # type: ignore[arg-type]
        out[checked.row] = " ".join(i.message for i in checked.issues)
    return out


def _xlsx(tmp_path: Path, values: list[object]) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Email", "Course", "Completion Date"])
    for value in values:
        ws.append(["jane@acme.com", "Fire Safety", value])
        ws.cell(ws.max_row, 3).number_format = "dd/mm/yyyy"
    path = tmp_path / "dates.xlsx"
    wb.save(path)
    return path


def test_excel_day_zero_and_day_one_are_named_for_what_they_are(tmp_path: Path) -> None:
    path = _xlsx(tmp_path, [0, 1, datetime(2025, 3, 14)])
    got = _messages(path)
    assert "is an empty date (Excel shows 00/01/1900)" in got[2], got[2]
    assert "00:00:00" not in got[2]
    assert "is Excel's day 1 (1900-01-01)" in got[3], got[3]
    assert got[4] == ""


def test_dates_before_the_floor_are_invalid_unless_the_floor_is_lowered(tmp_path: Path) -> None:
    path = tmp_path / "old.csv"
    path.write_text(
        "Email,Course,Completion Date,Start Date\n"
        "a@acme.com,Fire Safety,1985-06-01,\n"
        "b@acme.com,Fire Safety,2025-06-01,1989-12-31\n"
        "c@acme.com,Fire Safety,1990-01-01,\n",
        encoding="utf-8",
    )
    got = _messages(path)
    assert got[2] == (
        "Completion Date '1985-06-01' is before 1990-01-01, the earliest date accepted: check "
        "the year; if the date is right, the earliest date accepted must be lowered "
        "(--earliest-date 1985-06-01)."
    )
    assert "Start Date '1989-12-31' is before 1990-01-01" in got[3]
    assert got[4] == ""
    assert _messages(path, earliest_date="1980-01-01") == {2: "", 3: "", 4: ""}


def test_a_bad_earliest_date_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="--earliest-date 'soon' is not a date"):
        ValidationOptions(earliest_date="soon")
    with pytest.raises(UsageError, match="before 1990-01-01"):
        ValidationOptions(default_completion_date="1900-01-01", now=NOW)


def test_the_cli_takes_earliest_date(tmp_path: Path) -> None:
    (tmp_path / "f.csv").write_text(
        "Email,Course,Completion Date\na@acme.com,Fire Safety,1985-06-01\n", encoding="utf-8"
    )
    strict = run_cli(["validate", "f.csv", "--offline", "--report", "a.json"], cwd=tmp_path)
    assert strict.code == 1, strict
    loose = run_cli(
        ["validate", "f.csv", "--offline", "--earliest-date", "1980-01-01", "--report", "b.json"],
        cwd=tmp_path,
    )
    assert loose.code == 0, loose
