"""A failed-rows file is meant to be fixed and run again as is: the reader must take it back."""

from __future__ import annotations

from pathlib import Path

import pytest

from batch.models import RowResult, RowStatus
from batch.reader import open_table
from tests.report_support import write_failed_rows

COLUMNS = ["Employee ID", "Email", "Course", "Completion Date", "Notes"]
ROWS = [
    {"Employee ID": "0012", "Email": "renée@acme.com", "Course": "Sécurité, incendie",
     "Completion Date": "2025-03-14", "Notes": 'two\nlines, "quoted"'},
    {"Employee ID": "0013", "Email": "jane.doe@acme.com", "Course": "Safety Basics",
     "Completion Date": "14/03/2025", "Notes": ""},
]  # fmt: skip


def _results() -> list[RowResult]:
    statuses = [RowStatus.USER_NOT_FOUND, RowStatus.AMBIGUOUS_COURSE]
    return [
        RowResult(row=i + 2, values=dict(v), status=s, message=f"fix row {i + 2}")
        for i, (v, s) in enumerate(zip(ROWS, statuses, strict=True))
    ]


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_failed_rows_file_reads_back_with_the_original_columns(tmp_path: Path, fmt: str) -> None:
    path = write_failed_rows(
        _results(), columns=COLUMNS, input_path=tmp_path / f"hr.{fmt}", input_format=fmt,
        report_path=tmp_path / f"hr.report.{fmt}",
    )  # fmt: skip
    assert path is not None
    table = open_table(path)
    assert table.format == fmt
    # The previous run's status and message are the tool's, not the input's: left out, so the
    # next report carries only fresh ones (issue 13).
    assert list(table.columns) == COLUMNS
    rows = list(table.iter_rows())
    assert [r.row for r in rows] == [2, 3]
    for row, original in zip(rows, ROWS, strict=True):
        assert row.values == original
    assert rows[0].fields["email"] == "renée@acme.com"


def test_xlsx_failed_rows_keep_formula_text_exactly(tmp_path: Path) -> None:
    result = _results()[0]
    result.values["Notes"] = '=HYPERLINK("http://evil.example")'
    path = write_failed_rows(
        [result], columns=COLUMNS, input_path=tmp_path / "hr.xlsx", input_format="xlsx",
        report_path=tmp_path / "hr.report.xlsx",
    )  # fmt: skip
    assert path is not None
    row = next(iter(open_table(path).iter_rows()))
    assert row.values["Notes"] == '=HYPERLINK("http://evil.example")'
