"""Issue 13: re-running a failed-rows file asks nothing again, and its old status/message
columns are replaced, not kept beside new ones; the tool's columns never hide the input's."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from batch.errors import InputError
from batch.reader import open_table
from batch.reading.carry import sidecar_path
from batch.validate import ValidationOptions, check_rows
from tests.e2e_support import run_cli

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
