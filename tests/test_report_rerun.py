"""A failed-rows file is meant to be fixed and run again as is: the reader must take it back."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from batch.cli import main
from batch.models import RowResult, RowStatus
from batch.reader import open_table
from batch.reading.carry import sidecar_path
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


# A person's own file: a phone number and a formula the tool must quote in CSV, a quote the
# person typed before a plus sign, a name that starts with a quote. The email is wrong, so the
# row fails at every run and comes back in each failed-rows file.
OWN = {
    "Email": "bob(at)acme.com", "Course": "Fire Safety", "Completion Date": "2025-03-14",
    "Phone": "+44 20 7946 0000", "Note": "'+1 555 0100", "Name": "'t Hooft",
    "Formula": "=HYPERLINK(\"http://evil.example\")", "Spaced": "  -3",
}  # fmt: skip


def _csv_cells(path: Path) -> dict[str, str]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        (row,) = list(csv.DictReader(fh))
    return row


def test_a_failed_rows_csv_re_runs_three_times_without_growing_quotes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    with (tmp_path / "hr.csv").open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, list(OWN))
        writer.writeheader()
        writer.writerow(OWN)
    source = Path("hr.csv")
    for _ in range(4):  # the first run, then three re-runs of each new failed-rows file
        assert main(["validate", str(source), "--offline"]) == 1, capsys.readouterr().err
        failed = source.with_name(source.stem + ".failed.csv")
        # In the file: one quote before what a spreadsheet would run, the person's own doubled.
        assert _csv_cells(failed) | {"status": "", "message": ""} == {
            **OWN, "Phone": "'+44 20 7946 0000", "Note": "''+1 555 0100",
            "Formula": "'" + OWN["Formula"], "Spaced": "'  -3", "status": "", "message": "",
        }  # fmt: skip
        # Read back: exactly what the person typed in their own file, every time.
        (row,) = open_table(failed).iter_rows()
        assert row.values == OWN
        report = _csv_cells(source.with_name(source.stem + ".report.csv"))
        assert report["Phone"] == "'+44 20 7946 0000" and report["Name"] == "'t Hooft"
        source = failed
    assert source.name == "hr.failed.failed.failed.failed.csv"


def test_without_its_sidecar_a_file_is_read_as_it_is(tmp_path: Path) -> None:
    """The quotes are the tool's only when its sidecar says the tool wrote the file."""
    path = write_failed_rows(
        [RowResult(row=2, values={**ROWS[1], "Notes": "+44"}, status=RowStatus.INVALID)],
        columns=COLUMNS, input_path=tmp_path / "hr.csv", input_format="csv",
        report_path=tmp_path / "hr.report.csv",
    )  # fmt: skip
    assert path is not None
    assert next(iter(open_table(path).iter_rows())).values["Notes"] == "+44"
    sidecar_path(path).unlink()
    assert next(iter(open_table(path).iter_rows())).values["Notes"] == "'+44"
