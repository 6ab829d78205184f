"""Rows given in memory (mappings, a pandas DataFrame) are read as a file's rows are: values as
the text a spreadsheet export holds, row numbers as a spreadsheet's, the readers' bounds, and
one clear message for what no spreadsheet could hold. Offline: no ALM is needed."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from batch.errors import EmptyInput, InputError, UsageError
from batch.jobs import Job, JobOptions
from batch.jobs.options import JOB_OPTIONS
from batch.models import RowStatus
from batch.reading import memory
from batch.reading.memory import CellTypeError, RowTable, value_text

ROW = {"Email": "a@x.example", "Course": "Fire Safety", "Completion Date": "2025-03-03"}


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("  kept as typed ", "  kept as typed "),
        (None, ""),
        (math.nan, ""),
        (np.float64("nan"), ""),
        (pd.NA, ""),
        (pd.NaT, ""),
        (np.datetime64("NaT"), ""),
        (datetime(2025, 3, 3, 14, 30), "2025-03-03T14:30:00"),  # a datetime keeps its time
        (datetime(2025, 3, 3, 14, 30, 5, 250_000), "2025-03-03T14:30:05.250000"),
        (datetime(2025, 3, 3), "2025-03-03"),  # naive midnight: the date, as a date cell
        (datetime(2025, 3, 3, tzinfo=UTC), "2025-03-03T00:00:00+00:00"),  # aware: the instant
        (datetime(2025, 3, 3, 9, tzinfo=timezone(timedelta(hours=2))), "2025-03-03T09:00:00+02:00"),
        (pd.Timestamp("2025-03-04 09:15:30"), "2025-03-04T09:15:30"),
        (pd.Timestamp("2025-03-04 09:15:30.000000001"), "2025-03-04T09:15:30"),  # ns: ALM has ms
        (pd.Timestamp("2025-03-04"), "2025-03-04"),
        (np.datetime64("2025-03-04T09:15:30"), "2025-03-04T09:15:30"),
        (date(2025, 3, 3), "2025-03-03"),
        (time(9, 30), "09:30:00"),
        (87.5, "87.5"),  # a score stays a score
        (1009221.0, "1009221"),  # an ID a script stored as a float: the readers' rule
        (np.float64(1009221.0), "1009221"),
        (0.1 + 0.2, "0.3"),  # 15 significant digits, as a spreadsheet shows
        (92, "92"),
        (np.int64(92), "92"),
        (Decimal("87.50"), "87.5"),
        (Decimal("100"), "100"),
        (True, "TRUE"),
        (np.bool_(False), "FALSE"),
    ],
)
def test_values_become_the_text_a_spreadsheet_export_holds(value: Any, text: str) -> None:
    assert value_text(value) == text


def test_a_value_no_cell_holds_is_refused_naming_the_row_and_column() -> None:
    rows = [ROW, {**ROW, "Score": [87, 90]}]
    with pytest.raises(CellTypeError) as caught:
        RowTable.of(rows)
    assert str(caught.value) == (
        "Row 3, column 'Score': a list is not a cell value: give text, a number, a date or "
        "datetime, a bool or None."
    )
    assert isinstance(caught.value, UsageError)


@pytest.mark.parametrize(
    ("rows", "says"),
    [
        (ROW, "The rows are one mapping: pass a list of them"),
        ("march.csv", "The rows are a str: pass an iterable of mappings"),
        (Path("march.csv"), "to read a file, give its path"),
        ([("a@x.example", "Fire Safety")], "Row 2 is a tuple, not a mapping of header -> value"),
    ],
)
def test_what_is_not_rows_says_what_rows_are(rows: Any, says: str) -> None:
    with pytest.raises(UsageError, match=None) as caught:
        RowTable.of(rows)
    assert says in str(caught.value)


def offline(rows: Any, tmp_path: Path, **options: Any) -> Job:
    job = Job(
        JobOptions(rows=rows, offline=True, keep_results=True, report=tmp_path / "r.csv", **options)
    )
    job.run()
    return job


def test_row_numbers_are_a_spreadsheets_and_columns_are_the_keys_first_seen(
    tmp_path: Path,
) -> None:
    rows = [ROW, {"Email": None, "Course": math.nan}, {**ROW, "Notes": "late"}, {"Course": "X"}]
    job = offline(rows, tmp_path)
    assert job.columns == ["Email", "Course", "Completion Date", "Notes"]
    results = {r.row: r for r in job.results}
    # header = row 1, the first mapping row 2; the blank row 3 is skipped but counted
    assert sorted(results) == [2, 4, 5]
    assert results[2].values["Notes"] == "" and results[4].values["Notes"] == "late"
    assert [results[n].status for n in (2, 4, 5)] == [
        RowStatus.VALID,
        RowStatus.DUPLICATE,
        RowStatus.INVALID,
    ]
    assert results[4].message == "Duplicate of row 2 (same learner and course): not posted twice."
    assert results[5].message.startswith("Email is empty: fill in the learner's email address.")


def test_a_dataframe_is_read_by_position_with_its_named_index_as_columns(tmp_path: Path) -> None:
    frame = pd.DataFrame([ROW, {**ROW, "Email": "b@x.example"}], index=[7, 3])
    assert [r.row for r in offline(frame, tmp_path).results] == [2, 3]  # the index is no data

    named = frame.set_index("Email")
    job = offline(named, tmp_path)
    assert job.columns == ["Email", "Course", "Completion Date"]
    assert [r.values["Email"] for r in job.results] == ["a@x.example", "b@x.example"]

    twice = pd.DataFrame([["a@x.example", "Fire Safety", "2025-03-03", "x"]])
    twice.columns = ["Email", "Course", "Completion Date", "Email"]
    assert offline(twice, tmp_path).columns == ["Email", "Course", "Completion Date", "Email (2)"]


def test_no_rows_is_an_empty_input_that_allow_empty_accepts(tmp_path: Path) -> None:
    with pytest.raises(EmptyInput) as caught:
        offline([], tmp_path)
    assert caught.value.ask == "allow_empty"
    assert (
        str(caught.value.message)
        == "rows: no rows were given (or only empty ones): pass at least one mapping."
    )
    outcome = Job(JobOptions(rows=iter(()), offline=True, allow_empty=True)).run()
    assert outcome.summary.empty_input and int(outcome.exit_status) == 0
    columns_only = pd.DataFrame(columns=["Email", "Course", "Completion Date"])
    with pytest.raises(EmptyInput, match=r"has a header \(row 1\) but no data rows"):
        offline(columns_only, tmp_path)


def test_the_header_of_rows_is_row_1(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="have their header on row 1"):
        offline([ROW], tmp_path, header_row=3)
    assert offline([ROW], tmp_path, header_row=1).results[0].row == 2


def test_rows_keep_the_readers_row_bound_and_stop_an_endless_stream(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(memory, "MAX_ROWS", 50)
    monkeypatch.setattr(memory, "MAX_DATA_ROWS", 49)
    taken = itertools.count()

    def endless() -> Iterator[dict[str, str]]:
        while True:
            next(taken)
            yield ROW

    with pytest.raises(InputError, match="more than 49 rows, the most a spreadsheet holds"):
        RowTable.of(endless())
    assert next(taken) == 50  # one row past the bound was looked at, no more


def test_rows_keep_the_readers_column_and_cell_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    wide = {f"c{i}": "x" for i in range(16_385)}  # one column past Excel's XFD
    with pytest.raises(InputError, match="16,385 columns, more than a spreadsheet holds"):
        RowTable.of([wide])
    monkeypatch.setattr(memory, "MAX_SHEET_CELLS", 100)
    with pytest.raises(InputError, match="pass 100 cells at row 34 \\(3 columns\\)"):
        RowTable.of([ROW] * 40)


def test_a_row_past_the_record_bound_is_invalid_and_the_others_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(memory, "MAX_RECORD_CHARS", 1_000)
    job = offline([ROW, {**ROW, "Notes": "x" * 2_000}, ROW | {"Email": "b@x.example"}], tmp_path)
    statuses = {r.row: r.status for r in job.results}
    assert statuses == {2: RowStatus.VALID, 3: RowStatus.INVALID, 4: RowStatus.VALID}
    assert job.results[1].message.startswith("Row 3 holds 2,032 characters, more than the 1,000")


def test_job_options_take_rows_once_and_never_serialise_them(tmp_path: Path) -> None:
    options = JobOptions(rows=(dict(ROW) for _ in range(3)), dry_run=True)
    assert isinstance(options.rows, RowTable) and options.path == Path("rows")
    assert len(options.rows.records) == 3  # the generator was read once, into the table
    again = replace(options, report=tmp_path / "r.csv")
    assert again.rows is options.rows  # replace() keeps the table, not a re-read
    dumped = JOB_OPTIONS.dump_python(options, mode="json")
    assert "rows" not in dumped and dumped["path"] == "rows"
    assert "rows" not in options.public()
    named = JobOptions(rows=[ROW], path=tmp_path / "hris-march")
    assert named.path == tmp_path / "hris-march"
    job = Job(replace(named, offline=True))
    job.run()
    assert job.outcome is not None and job.outcome.report_path == tmp_path / "hris-march.report.csv"
