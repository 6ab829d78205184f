"""Files that are fine but unusual, and messages that name the right fix: two tables side by
side, a huge cell in a column the tool does not use, NUL padding, a report's page headers and
footers, a person's name in the email column, two-digit years."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from batch.errors import ShapeQuestion
from batch.reader import open_table
from batch.validate import ValidationOptions, check_rows, summarise_issues
from tests.meaning_support import by_row, validate_offline, write_csv, write_xlsx

HEAD = ["Email", "Course", "Completion Date"]
NOW = datetime(2025, 6, 30, 12, 0, tzinfo=UTC)


def _side_by_side(rows_right: list[list[str]], right_head: list[str]) -> list[list[str]]:
    left = [["a@x.com", "Fire", "2025-03-01"], ["b@x.com", "Fire", "2025-03-02"]]
    out = [[*HEAD, "", *right_head]]
    for i, row in enumerate(left):
        out.append([*row, "", *(rows_right[i] if i < len(rows_right) else [])])
    return out


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_a_second_table_to_the_right_is_never_dropped(tmp_path: Path, kind: str) -> None:
    rows = _side_by_side(
        [["c@x.com", "Fire", "2025-03-03"], ["d@x.com", "Fire", "2025-03-04"]], HEAD
    )
    path = tmp_path / f"two.{kind}"
    (write_csv if kind == "csv" else write_xlsx)(path, rows)
    with pytest.raises(ShapeQuestion) as asked:
        open_table(path)
    q = asked.value
    assert q.ask == "ignore_columns"
    assert [c.value for c in q.choices] == ["Email (2)", "Course (2)", "Completion Date (2)"]
    assert (
        "a second table starts at E1, beside the first (columns A to C), with the same headers"
        in q.message
    )
    run, _ = validate_offline(path)
    assert run.code == 2 and "its rows would not be read" in run.err
    assert '--ignore-column "Email (2)"' in run.err
    # the person leaves it out on purpose: the first table is read, the second kept as cells
    ignore = [a for c in q.choices for a in ("--ignore-column", c.value)]
    run, report = validate_offline(path, *ignore)
    assert run.code == 0 and [r["row"] for r in report] == [2, 3], run


def test_a_second_table_with_other_headers_is_named_too(tmp_path: Path) -> None:
    rows = _side_by_side([["c@x.com", "Fire"]], ["Learner Email", "Course Name"])
    with pytest.raises(ShapeQuestion, match="with its own headers"):
        open_table(write_csv(tmp_path / "two.csv", rows))
    # columns to the right that name no field again are just extra columns, as before
    notes = _side_by_side([["call back"]], ["Notes"])
    assert open_table(write_csv(tmp_path / "notes.csv", notes)).mapping["email"] == "Email"


def test_a_huge_cell_in_an_unused_column_is_read(tmp_path: Path) -> None:
    description = "lorem ipsum " * 25_000  # 300,000 characters
    path = write_csv(
        tmp_path / "catalogue.csv",
        [[*HEAD, "Course Description"], ["a@x.com", "Fire", "2025-03-01", description],
         ["b@x.com", "Fire", "2025-03-01", "short"]],
    )  # fmt: skip
    run, rows = validate_offline(path)
    assert run.code == 0, run
    assert [r["status"] for r in rows] == ["valid", "valid"]
    assert len(rows[0]["cells"]["Course Description"]) == len(description)


def test_a_csv_padded_with_nul_bytes_is_read_without_them(tmp_path: Path) -> None:
    text = "Email,Course,Completion Date\r\na@x.com,Fire,2025-03-01\r\nb@x.com,Fire,2025-03-02\r\n"
    path = tmp_path / "export.csv"
    path.write_bytes(text.encode() + b"\x00" * 4096)
    run, rows = validate_offline(path)
    assert run.code == 0, run
    assert [(r["row"], r["status"], r["cells"]["Email"]) for r in rows] == [
        (2, "valid", "a@x.com"), (3, "valid", "b@x.com")
    ]  # fmt: skip
    # padding inside the fields (fixed-width systems) too
    padded = tmp_path / "fixed.csv"
    padded.write_bytes(text.replace(",", "\x00\x00,").encode())
    assert [r.values["Email"] for r in open_table(padded).iter_rows()] == ["a@x.com", "b@x.com"]
    # real binary data is still refused as such
    junk = tmp_path / "junk.csv"
    junk.write_bytes(bytes(range(256)) * 64)
    run, _ = validate_offline(junk)
    assert run.code == 2 and "binary data" in run.err


def test_page_headers_and_footers_inside_the_data_are_named_as_such(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "report.csv",
        [
            [*HEAD, "Department"],
            ["a@x.com", "Fire", "2025-03-01", "HR"],
            ["Page 1 of 2", "", "", ""],
            [*HEAD, "Department"],
            ["b@x.com", "Fire", "2025-03-01", "HR"],
            ["", "Printed on 2025-03-31 by LMS", "", ""],
        ],
    )
    run, rows = validate_offline(path)
    got = by_row(rows)
    assert got[3]["message"] == (
        "Row 3 ('Page 1 of 2') looks like a page header or footer of a report, not a "
        "completion: delete the row, or export the data without page headers and footers."
    )
    assert got[4]["message"].startswith("Row 4 repeats the column names: it looks like a page")
    assert "looks like a page header or footer" in got[6]["message"]
    assert got[2]["status"] == got[5]["status"] == "valid"


def test_a_name_in_the_email_column_is_called_a_name(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "names.csv",
        [HEAD, ["a@x.com", "Fire", "2025-03-01"], ["Jane Doe", "Fire", "2025-03-01"]],
    )
    rows = list(check_rows(open_table(path), ValidationOptions(now=NOW)))
    assert summarise_issues(rows[1].issues) == (
        "Email 'Jane Doe' looks like a name, not an email address: put the learner's email "
        "address in this column (name@company.com)."
    )


@pytest.mark.parametrize(
    "cell, suggested",
    [
        ("12/31/99", "12/31/1999"),  # never 2099
        ("13/02/25", "13/02/2025"),  # in the past: this century
        ("31/12/25", "31/12/1925"),  # 2025-12-31 is after "now"
        ("1 Mar 99", "1999"),
    ],
)
def test_a_two_digit_year_never_suggests_a_date_in_the_future(
    tmp_path: Path, cell: str, suggested: str
) -> None:
    path = write_csv(tmp_path / "yy.csv", [HEAD, ["a@x.com", "Fire", cell]])
    [row] = check_rows(open_table(path), ValidationOptions(now=NOW))
    message = summarise_issues(row.issues)
    assert "has a two-digit year" in message and f"e.g. {suggested}." in message, message
