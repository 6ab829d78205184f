"""Run-level problems that a choice about the file solves are ``ShapeQuestion``s: the page gets
the option to set, the choices and the one the tool would pick; the CLI prints the message and
the exact option, as helpful as before. The choices are ``ShapeOptions`` fields, declared once."""

from __future__ import annotations

from pathlib import Path

import pytest

from batch.cli import build_parser
from batch.errors import EmptyInput, ShapeQuestion, UsageError
from batch.jobs import Job, JobOptions
from batch.jobs.options import ShapeOptions
from batch.reader import open_table
from batch.validate import ValidationOptions, check_rows
from tests.meaning_support import validate_offline, write_csv

HEAD = ["Email", "Course", "Completion Date"]


def _asked(path: Path, **options: object) -> ShapeQuestion:
    with pytest.raises(ShapeQuestion) as asked:
        table = open_table(path, **options)  # type: ignore[arg-type]
        check_rows(table, ValidationOptions())
    assert "--" not in asked.value.message  # the page shows it: no command-line flag in it
    return asked.value


def test_an_undecided_date_order(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "d.csv", [HEAD, ["a@x.com", "C", "01/02/2025"],
                                          ["b@x.com", "C", "03/04/2025"]])  # fmt: skip
    q = _asked(path)
    assert (q.ask, q.field) == ("date_format", "completion_date")
    assert [c.value for c in q.choices] == ["DD/MM/YYYY", "MM/DD/YYYY"]
    assert q.choices[0].samples == ("01/02/2025", "03/04/2025")
    run, _ = validate_offline(path)
    assert run.code == 2
    assert "--date-format DD/MM/YYYY or --date-format MM/DD/YYYY" in run.err


def test_an_empty_export_asks_whether_that_is_normal(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "e.csv", [HEAD])
    q = _asked(path)
    assert isinstance(q, EmptyInput) and q.ask == "allow_empty"
    assert "--allow-empty" in str(q) and "--allow-empty" not in q.message
    assert ("allow_empty", "--allow-empty", "flag") in [
        (name, spec.flag, spec.kind) for name, spec in ShapeOptions.specs()
    ]
    outcome = Job(JobOptions(path=path, offline=True, allow_empty=True)).run()
    assert int(outcome.exit_status) == 0 and outcome.summary.empty_input


def test_a_header_row_past_the_end_offers_the_rows_that_could_be_it(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "h.csv", [["Export of 2025-03-31"], HEAD, ["a@x.com", "C", "2025-03-01"]]
    )
    q = _asked(path, header_row=9)
    assert q.ask == "header_row" and q.suggested == "2"
    assert [c.value for c in q.choices] == ["1", "2", "3"]
    run, _ = validate_offline(path, "--header-row", "9")
    assert run.code == 2 and "header row 9 is past the end of the file" in run.err
    assert "--header-row 2" in run.err


def test_a_missing_email_column_suggests_the_one_holding_addresses(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "m.csv", [["Staff Mail", "Course", "Completion Date"],
                                          ["a@x.com", "C", "2025-03-01"]])  # fmt: skip
    q = _asked(path)
    assert (q.ask, q.field, q.suggested) == ("mapping", "email", "Staff Mail")
    assert "Column 'Staff Mail' holds email addresses." in q.message
    run, _ = validate_offline(path)
    assert run.code == 2 and '--map "Staff Mail=email"' in run.err
    # a missing course has no column to suggest: the generic option
    nocourse = write_csv(
        tmp_path / "c.csv", [["Email", "Completion Date"], ["a@x.com", "2025-03-01"]]
    )
    q = _asked(nocourse)
    assert q.field == "course" and q.suggested is None and '"Your Header=course"' in q.hint


def test_a_mapped_column_that_is_not_in_the_file(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "n.csv", [HEAD, ["a@x.com", "C", "2025-03-01"]])
    q = _asked(path, mapping={"Nope": "email"})
    assert (q.ask, q.field) == ("mapping", "email")
    assert [c.value for c in q.choices] == HEAD


def test_the_new_shape_options_parse_alike_for_both_front_ends() -> None:
    parsed = ShapeOptions.parse(
        {
            "completed_values": ["Attended, Finished", "Waived"],
            "ignore_columns": ["Name, First", "Notes"],  # a header may hold a comma
            "score_scale": "Fraction",
            "allow_empty": "on",
        }
    )
    assert parsed.completed_values == ["Attended", "Finished", "Waived"]
    assert parsed.ignore_columns == ["Name, First", "Notes"]
    assert parsed.score_scale == "fraction" and parsed.allow_empty is True
    assert ShapeOptions.parse({"completed_values": "Done,"}).completed_values == ["Done"]
    with pytest.raises(UsageError, match="--score-scale 'tenths' is not one of"):
        ShapeOptions.parse({"score_scale": "tenths"})
    spec = dict(ShapeOptions.specs())["score_scale"]
    assert spec.choices == ("fraction", "as-written")
    args = build_parser().parse_args(
        ["validate", "x.csv", "--completed-values", "Attended", "--ignore-column", "A",
         "--ignore-column", "B", "--score-scale", "as-written", "--allow-empty"]
    )  # fmt: skip
    options = ShapeOptions.parse(vars(args))
    assert options.ignore_columns == ["A", "B"] and options.allow_empty
    assert options.completed_values == ["Attended"] and options.score_scale == "as-written"


def test_a_missing_date_column_suggests_the_one_holding_dates(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "w.csv", [["Email", "Course", "When", "Notes"],
                                          ["a@x.com", "C", "01/03/2025", "ok"]])  # fmt: skip
    q = _asked(path)
    assert (q.field, q.suggested) == ("completion_date", "When")
    assert '--map "When=completion_date"' in q.hint and "--completion-date" in q.hint
