"""A failed-rows file is meant to be fixed and run again as is: the reader must take it back."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from batch.cli import main
from batch.errors import InputError
from batch.models import RowResult, RowStatus
from batch.reader import open_table
from batch.reading.carry import sidecar_path
from batch.validate import ValidationOptions, check_rows
from tests.e2e_support import run_cli
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
    # next report carries only fresh ones.
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


# Re-running a failed-rows file asks nothing again; its old status/message columns are
# replaced, not kept beside new ones; the tool's columns never hide the input's.
NOW = datetime(2026, 1, 1, tzinfo=UTC)
PARIS = ZoneInfo("Europe/Paris")


def _first_run(tmp_path: Path) -> Path:
    src = tmp_path / "hr.csv"
    with src.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["Staff Mail", "Course", "Completion Date", "Status"])
        w.writerow(["ann@acme.com", "Fire Safety", "13/02/2025", "Active"])  # settles: day first
        w.writerow(["bob(at)acme.com", "Fire Safety", "03/04/2025", "Active"])  # fails
    run = run_cli(
        ["validate", "hr.csv", "--offline", "--map", "Staff Mail=email",
         "--timezone", "Europe/Paris", "--report", "hr.report.csv"],
        cwd=tmp_path,
    )  # fmt: skip
    assert run.code == 1, run
    failed = tmp_path / "hr.failed.csv"
    assert failed.exists()
    return failed


def test_the_first_runs_decisions_travel_with_the_failed_rows_file(tmp_path: Path) -> None:
    failed = _first_run(tmp_path)
    sidecar = json.loads(sidecar_path(failed).read_text(encoding="utf-8"))
    assert sidecar["mapping"]["email"] == "Staff Mail"
    assert sidecar["date_orders"] == {"completion_date": "DMY"}
    assert sidecar["timezone"] == "Europe/Paris"
    # The person fixes the email in the failed-rows file and runs it as it is: no --map, no
    # --timezone, and the one date left (03/04/2025) no longer settles the order by itself.
    text = failed.read_text(encoding="utf-8-sig").replace("bob(at)acme.com", "bob@acme.com")
    failed.write_text(text, encoding="utf-8")
    table = open_table(failed)
    assert table.mapping["email"] == "Staff Mail"
    (checked,) = list(check_rows(table, ValidationOptions(now=NOW)))
    assert checked.issues == []
    assert checked.completion is not None
    assert checked.completion.completion_date == datetime(2025, 4, 3, tzinfo=PARIS)


def test_without_the_sidecar_the_ambiguity_comes_back(tmp_path: Path) -> None:
    failed = _first_run(tmp_path)
    sidecar_path(failed).unlink()
    with pytest.raises(InputError, match="no column for required field"):
        open_table(failed)  # "Staff Mail" is not an email alias: the --map is needed again
    table = open_table(failed, mapping={"Staff Mail": "email"})
    with pytest.raises(InputError, match="read either way"):
        list(check_rows(table, ValidationOptions(now=NOW)))


def test_a_rerun_replaces_the_old_status_and_message(tmp_path: Path) -> None:
    failed = _first_run(tmp_path)
    header = next(csv.reader(failed.open(encoding="utf-8-sig")))
    # The input's own "Status" keeps its values; the tool's is named so that it cannot be
    # mistaken for it (README, "Reports").
    assert header == [
        "Staff Mail", "Course", "Completion Date", "Status", "status (alm-batch)", "message",
    ]  # fmt: skip
    run = run_cli(["validate", failed.name, "--offline", "--report", "again.csv"], cwd=tmp_path)
    assert run.code == 1, run  # the email is still wrong
    report = next(csv.reader((tmp_path / "again.csv").open(encoding="utf-8-sig")))
    # Only the input's own columns (its "Status" too), then one fresh set of the tool's.
    assert report[:5] == ["row", "Staff Mail", "Course", "Completion Date", "Status"]
    assert report[5] == "status (alm-batch)" and report.count("message") == 1
    assert report.count("status (alm-batch)") == 1
    again = tmp_path / "again.failed.csv"
    assert next(csv.reader(again.open(encoding="utf-8-sig"))) == header  # does not grow
    rows = list(csv.DictReader(again.open(encoding="utf-8-sig")))
    assert rows[0]["Status"] == "Active" and rows[0]["status (alm-batch)"] == "invalid"


def test_a_renamed_failed_rows_file_still_drops_the_old_tool_columns(tmp_path: Path) -> None:
    failed = _first_run(tmp_path)
    renamed = tmp_path / "fixed.csv"
    renamed.write_bytes(failed.read_bytes())
    table = open_table(renamed, mapping={"Staff Mail": "email"})
    assert table.columns == ["Staff Mail", "Course", "Completion Date", "Status"]
    row = next(iter(table.iter_rows()))
    assert "status (alm-batch)" not in row.values and row.values["Status"] == "Active"
