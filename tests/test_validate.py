"""Row validation: typed completions, every error class with its message, date order, dups."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import pytest

from batch.errors import InputError, UsageError
from batch.models import CheckedRow, CourseRef
from batch.reader import open_table
from batch.validate import ValidationOptions, check_rows, duplicate_message, summarise_issues

NOW = datetime(2025, 6, 30, 12, 0, tzinfo=UTC)
HEADER = [
    "Email",
    "Course",
    "Completion Date",
    "Start Date",
    "Score",
    "Passing Score",
    "Max Score",
    "Passed",
    "Notes",
]


def check(
    tmp_path: Path, rows: list[list[str]], header: list[str] = HEADER, **options: object
) -> list[CheckedRow]:
    path = tmp_path / "in.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    require = ["email", "course"] if options.get("default_completion_date") else None
    table = open_table(path, **({"require": require} if require else {}))
    return list(check_rows(table, ValidationOptions(now=NOW, **options)))  # type: ignore[arg-type]


def messages(rows: list[CheckedRow]) -> dict[int, str]:
    return {r.row: summarise_issues(r.issues) for r in rows if r.issues}


def test_valid_row_becomes_a_typed_completion(tmp_path: Path) -> None:
    [row] = check(
        tmp_path,
        [
            [
                " Jane.Doe@Example.com ",
                "  Safety   101 ",
                "2025-03-01",
                "2025-02-20 09:00",
                "85,5 %",
                "70",
                "100",
                "Yes",
                "x",
            ]
        ],
    )
    assert row.issues == [] and row.duplicate_of is None and row.row == 2
    c = row.completion
    assert c is not None
    assert c.email == "Jane.Doe@Example.com" and c.email_key == "jane.doe@example.com"
    assert c.course == CourseRef(text="Safety 101") and c.course.key == "safety 101"
    assert c.completion_date == datetime(2025, 3, 1, tzinfo=UTC)
    assert c.start_date == datetime(2025, 2, 20, 9, 0, tzinfo=UTC)
    assert (c.score, c.min_score, c.max_score, c.passed) == (85.5, 70.0, 100.0, True)


@pytest.mark.parametrize(
    "cell, course_id",
    [("123", "course:123"), ("Course:123", "course:123"), ("course: 0123", "course:123")],
)
def test_course_ids(tmp_path: Path, cell: str, course_id: str) -> None:
    [row] = check(tmp_path, [["a@x.com", cell, "2025-03-01", "", "", "", "", "", ""]])
    assert row.completion is not None and row.completion.course.course_id == course_id


@pytest.mark.parametrize(
    "cells, message",
    [
        ({0: ""}, "Email is empty: fill in the learner's email address."),
        (
            {0: "jane.doe example.com"},
            "Email 'jane.doe example.com' contains spaces: remove them; one address per cell.",
        ),
        (
            {0: "jane.doe"},
            "Email 'jane.doe' is not an email address (no @): write it as name@company.com.",
        ),
        ({0: "a@b@c.com"}, "Email 'a@b@c.com' holds more than one @: give one address per cell."),
        ({0: "jane@localhost"}, "Email 'jane@localhost' is not a valid email address"),
        ({1: "  "}, "Course is empty: fill in the course name or ID (course:123)."),
        (
            {1: "https://lms.example.com/course/12"},
            "Course 'https://lms.example.com/course/12' is a link, but not to a course, learning "
            "program or certification in ALM: paste the link of its page in ALM "
            "(.../app/learner#/course/123) or its ID.",
        ),
        (
            {2: ""},
            "Completion Date is empty: fill in the date completed (YYYY-MM-DD), or give one "
            "date for rows without one (--completion-date).",
        ),
        (
            {2: "31/02/2025"},
            "Completion Date '31/02/2025' is not a real date: use a date such as 2025-02-28.",
        ),
        (
            {2: "13/02/25"},
            "Completion Date '13/02/25' has a two-digit year: write the year in "
            "full, e.g. 13/02/2025.",
        ),
        (
            {2: "2025-07-01"},
            "Completion Date '2025-07-01' is in the future: a completion can only "
            "be recorded once it has happened; check the year.",
        ),
        (
            {2: "soon"},
            "Completion Date 'soon' is not a date: write it as YYYY-MM-DD, e.g. 2025-03-01.",
        ),
        (
            {3: "2025-03-02"},
            "Start Date '2025-03-02' is after the completion date (2025-03-01): "
            "correct one of the two dates.",
        ),
        ({4: "eighty"}, "Score 'eighty' is not a number: write a number such as 85 or 85.5."),
        ({4: "-5"}, "Score '-5' is negative: scores are 0 or more."),
        ({4: "120%"}, "Score '120%' is over 100%: write a percentage between 0% and 100%."),
        (
            {4: "101", 6: "100"},
            "Score '101' is above the maximum score 100: correct the score or the maximum.",
        ),
        (
            {5: "90", 6: "80"},
            "Passing Score '90' is above the maximum score 80: swap or correct them.",
        ),
        ({7: "maybe"}, "Passed 'maybe' is not yes or no: write yes or no (or true/false, 1/0)."),
    ],
)
def test_each_error_class_names_column_value_and_fix(
    tmp_path: Path, cells: dict[int, str], message: str
) -> None:
    base = ["a@x.com", "Safety", "2025-03-01", "", "", "", "", "", ""]
    for i, v in cells.items():
        base[i] = v
    rows = check(tmp_path, [base, ["ok@x.com", "Safety", "2025-03-01", "", "", "", "", "", ""]])
    assert rows[0].completion is None
    assert summarise_issues(rows[0].issues).startswith(message)
    assert rows[1].issues == [] and rows[1].completion is not None  # the run continues


def test_all_issues_of_a_row_are_reported_together_in_column_order(tmp_path: Path) -> None:
    [row] = check(tmp_path, [["nope", "", "2099-01-01", "", "x", "", "", "perhaps", "note"]])
    assert [i.column for i in row.issues] == [
        "Email",
        "Course",
        "Completion Date",
        "Score",
        "Passed",
    ]
    assert [i.value for i in row.issues] == ["nope", "", "2099-01-01", "x", "perhaps"]
    assert summarise_issues(row.issues).count(".") >= 5


def test_blank_rows_are_not_rows_but_numbers_keep_counting(tmp_path: Path) -> None:
    rows = check(
        tmp_path,
        [
            ["a@x.com", "C", "2025-03-01"] + [""] * 6,
            [""] * 9,
            ["b@x.com", "C", "2025-03-01"] + [""] * 6,
        ],
    )
    assert [r.row for r in rows] == [2, 4]


def test_duplicates_point_at_the_first_valid_occurrence(tmp_path: Path) -> None:
    blank = [""] * 6
    rows = check(
        tmp_path,
        [
            ["a@x.com", "Safety 101", "2025-03-01", *blank],
            ["A@X.COM ", " safety   101", "2025-03-02", *blank],  # same learner + course
            ["a@x.com", "Other", "2025-03-01", *blank],
            ["b@x.com", "123", "bad", *blank],  # invalid: not a first occurrence
            ["b@x.com", "course:123", "2025-03-01", *blank],
            ["b@x.com", "123", "2025-03-01", *blank],
        ],
    )
    assert [(r.row, r.duplicate_of) for r in rows] == [
        (2, None),
        (3, 2),
        (4, None),
        (5, None),
        (6, None),
        (7, 6),
    ]
    assert rows[1].completion is not None and rows[1].issues == []
    assert duplicate_message(2) == "Duplicate of row 2 (same learner and course): not posted twice."


def test_with_a_module_column_duplicates_also_need_the_same_module(tmp_path: Path) -> None:
    header = ["Email", "Course", "Completion Date", "Module"]
    rows = check(
        tmp_path,
        [
            ["a@x.com", "C", "2025-03-01", "Intro"],
            ["a@x.com", "C", "2025-03-01", "Quiz"],
            ["a@x.com", "C", "2025-03-01", " intro "],
        ],
        header=header,
    )
    assert [r.duplicate_of for r in rows] == [None, None, 2]
    assert rows[2].completion is not None and rows[2].completion.module == "intro"


def _dates(tmp_path: Path, values: list[str], **options: object) -> list[CheckedRow]:
    return check(
        tmp_path,
        [[f"u{i}@x.com", "C", v] for i, v in enumerate(values)],
        header=["Email", "Course", "Completion Date"],
        **options,
    )


def test_date_order_is_decided_for_the_whole_column(tmp_path: Path) -> None:
    rows = _dates(tmp_path, ["01/02/2025", "13/02/2025", "05/03/2025"])
    assert [r.completion.completion_date.date().isoformat() for r in rows if r.completion] == [
        "2025-02-01",
        "2025-02-13",
        "2025-03-05",
    ]
    rows = _dates(tmp_path, ["01/02/2025", "02/13/2025"])
    assert rows[0].completion is not None
    assert rows[0].completion.completion_date == datetime(2025, 1, 2, tzinfo=UTC)


def test_minority_order_values_are_row_errors(tmp_path: Path) -> None:
    rows = _dates(tmp_path, ["13/01/2025", "14/01/2025", "01/13/2025"])
    assert messages(rows) == {
        4: "Completion Date '01/13/2025' does not fit this column's "
        "DD/MM/YYYY order: check it and write it as YYYY-MM-DD (e.g. "
        "2025-01-13)."
    }


def test_ambiguous_column_stops_the_run_and_asks_for_date_format(tmp_path: Path) -> None:
    with pytest.raises(InputError) as err:
        _dates(tmp_path, ["2025-01-05", "01/02/2025", "03/04/2025", "05/06/2025", "07/08/2025"])
    text = str(err.value)
    assert "column 'Completion Date' has dates that read either way" in text
    assert "'01/02/2025' (row 3), '03/04/2025' (row 4), '05/06/2025' (row 5)" in text
    assert "--date-format DD/MM/YYYY or --date-format MM/DD/YYYY" in text and "\n" not in text
    rows = _dates(tmp_path, ["01/02/2025", "03/04/2025"], date_format="MM/DD/YYYY")
    assert rows[0].completion is not None
    assert rows[0].completion.completion_date == datetime(2025, 1, 2, tzinfo=UTC)


def test_a_tie_between_orders_stops_the_run(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="mixes day-first and month-first dates equally"):
        _dates(tmp_path, ["13/01/2025", "01/13/2025"])


def test_the_error_is_raised_when_check_rows_is_called(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text("Email,Course,Completion Date\na@x.com,C,01/02/2025\n")
    with pytest.raises(InputError):
        check_rows(open_table(path), ValidationOptions(now=NOW))  # not iterated


def test_start_date_borrows_the_completion_columns_order(tmp_path: Path) -> None:
    rows = check(
        tmp_path,
        [["a@x.com", "C", "13/02/2025", "01/02/2025"]],
        header=["Email", "Course", "Completion Date", "Start Date"],
    )
    assert rows[0].completion is not None
    assert rows[0].completion.start_date == datetime(2025, 2, 1, tzinfo=UTC)


def test_timezone_applies_to_dates_without_zone(tmp_path: Path) -> None:
    [row] = _dates(tmp_path, ["2025-03-01"], timezone="America/New_York")
    assert row.completion is not None
    assert row.completion.completion_date == datetime(
        2025, 3, 1, tzinfo=ZoneInfo("America/New_York")
    )
    with pytest.raises(UsageError, match="--timezone 'Nowhere' is not a time zone name"):
        ValidationOptions(timezone="Nowhere")


def test_default_completion_date_fills_empty_cells_and_missing_columns(tmp_path: Path) -> None:
    rows = _dates(tmp_path, ["", "2025-03-01"], default_completion_date="2025-04-01")
    assert [r.completion.completion_date.date().isoformat() for r in rows if r.completion] == [
        "2025-04-01",
        "2025-03-01",
    ]
    rows = check(
        tmp_path,
        [["a@x.com", "C"]],
        header=["Email", "Course"],
        default_completion_date="2025-04-01",
    )
    assert rows[0].completion is not None and rows[0].issues == []
    with pytest.raises(UsageError, match="--completion-date 'someday' is not a date"):
        ValidationOptions(default_completion_date="someday")
    with pytest.raises(UsageError, match="--completion-date '2030-01-01' is in the future"):
        ValidationOptions(default_completion_date="2030-01-01", now=NOW)


def test_excel_formula_without_cached_value_gets_a_clear_message(tmp_path: Path) -> None:
    path = tmp_path / "in.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Email", "Course", "Completion Date"])
    ws.append(["a@x.com", "C", "=TODAY()-1"])
    ws.append(["b@x.com", "C", datetime(2025, 3, 1)])
    wb.save(path)
    rows = list(check_rows(open_table(path), ValidationOptions(now=NOW)))
    assert rows[0].issues[0].message == (
        "Completion Date is empty: fill in the date completed (YYYY-MM-DD), or give one date "
        "for rows without one (--completion-date) (if the cell holds a formula, open and save "
        "the file in Excel so its value is stored)."
    )
    assert rows[1].completion is not None and rows[1].row == 3


def test_excel_serials_and_real_dates_validate(tmp_path: Path) -> None:
    path = tmp_path / "in.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Email", "Course", "Completion Date"])
    ws.append(["a@x.com", 123, 45717])  # a serial typed as a plain number
    ws.append(["A@x.com", 123.0, datetime(2025, 3, 1, 9, 30)])
    wb.save(path)
    rows = list(check_rows(open_table(path), ValidationOptions(now=NOW)))
    assert [r.completion.completion_date for r in rows if r.completion] == [
        datetime(2025, 3, 1, tzinfo=UTC),
        datetime(2025, 3, 1, 9, 30, tzinfo=UTC),
    ]
    assert [r.completion.course.course_id for r in rows if r.completion] == ["course:123"] * 2
    assert rows[1].duplicate_of == 2


def test_a_huge_bad_cell_is_quoted_short_in_the_message() -> None:
    from batch.validate import issue_message

    message = issue_message("Completion Date", "x" * 100_000, "is not a date", "use 2025-02-28")
    assert len(message) < 200
    assert "x" * 80 + "... (100,000 characters)" in message
