"""Scores and course IDs as spreadsheets store them: scores past the maximum, fractions that
were percentages, IDs turned into numbers (and IDs Excel shortened)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from batch.errors import ShapeQuestion
from batch.jobs import Job, JobOptions
from batch.reader import open_table
from batch.sandbox import Sandbox
from batch.validate import ValidationOptions, check_rows
from tests.fixtures.make_xlsb import write_xlsb
from tests.meaning_support import (
    FIRE,
    JAMES,
    MARIA,
    by_row,
    cli,
    use_sandbox,
    validate_offline,
    write_csv,
    write_xlsx,
)

HEAD = ["Email", "Course", "Completion Date"]


def test_a_score_past_the_maximum_or_below_zero_is_invalid(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "scores.csv",
        [
            [*HEAD, "Score", "Max Score"],
            ["a@x.com", "Fire", "2025-03-01", "101", ""],  # no maximum: 100
            ["b@x.com", "Fire", "2025-03-01", "150", "200"],
            ["c@x.com", "Fire", "2025-03-01", "-5", ""],
            ["d@x.com", "Fire", "2025-03-01", "100", ""],
        ],
    )
    run, rows = validate_offline(path)
    assert run.code == 1, run
    got = by_row(rows)
    assert got[2]["message"] == (
        "Score '101' is above 100, the maximum when no maximum score is given: correct the "
        "score, or add a Max Score column."
    )
    assert got[3]["status"] == "valid" and got[5]["status"] == "valid"
    assert got[4]["message"] == "Score '-5' is negative: scores are 0 or more."


def _fractions(tmp_path: Path) -> Path:
    return write_xlsx(
        tmp_path / "quiz.xlsx",
        [["Learner Email", "Course Name", "Completion Date", "Score"],
         [MARIA, FIRE, "2025-03-03", 0.87], [JAMES, FIRE, "2025-03-03", 1]],
    )  # fmt: skip


def _fractions_unseen(tmp_path: Path) -> Path:
    """The same scores in an .xlsb whose styles part is missing: its reader cannot see
    number formats, so 0.87 could be a fraction or a percent-formatted 87 %."""
    full = write_xlsb(
        tmp_path / "full.xlsb",
        [["Learner Email", "Course Name", "Completion Date", "Score"],
         [MARIA, FIRE, "2025-03-03", 0.87], [JAMES, FIRE, "2025-03-03", 1]],
    )  # fmt: skip
    bare = tmp_path / "quiz.xlsb"
    with zipfile.ZipFile(full) as src, zipfile.ZipFile(bare, "w") as dst:
        for name in src.namelist():
            if name != "xl/styles.bin":
                dst.writestr(name, src.read(name))
    return bare


def test_scores_between_0_and_1_where_formats_are_unseen_are_asked_about(
    tmp_path: Path,
) -> None:
    path = _fractions_unseen(tmp_path)
    table = open_table(path)
    assert table.formats_seen is False
    with pytest.raises(ShapeQuestion) as asked:
        check_rows(table, ValidationOptions())
    q = asked.value
    assert (q.ask, q.field) == ("score_scale", "score")
    assert [c.value for c in q.choices] == ["fraction", "as-written"]
    assert q.choices[0].samples == ("0.87", "1")
    run, _ = validate_offline(path)
    assert run.code == 2 and "every score in column 'Score' is between 0 and 1" in run.err
    assert "--score-scale fraction" in run.err
    fraction = list(check_rows(table, ValidationOptions(score_scale="fraction")))
    assert [c.completion.score for c in fraction if c.completion] == [87.0, 100.0]
    written = list(check_rows(table, ValidationOptions(score_scale="as-written")))
    assert [c.completion.score for c in written if c.completion] == [0.87, 1.0]


def test_formats_seen_or_a_real_score_mean_no_question(tmp_path: Path) -> None:
    table = open_table(_fractions(tmp_path))  # .xlsx: the formats are read
    assert [c.completion.score for c in check_rows(table, ValidationOptions())
            if c.completion] == [0.87, 1.0]  # fmt: skip
    percent = write_xlsx(
        tmp_path / "pct.xlsx",
        [["Email", "Course", "Completion Date", "Score"], ["a@x.com", "Fire", "2025-03-01", 0.87]],
        formats={3: "0%"},
    )
    [row] = check_rows(open_table(percent), ValidationOptions())
    assert row.completion is not None and row.completion.score == 87.0


def test_the_scale_chosen_is_what_a_live_run_posts(
    sb: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_sandbox(monkeypatch, sb, tmp_path)
    path = _fractions_unseen(tmp_path)
    run = cli(["run", path.name, "--yes", "--score-scale", "fraction", "--report", "out.json"])
    assert run.code == 0, run
    rows = by_row(json.loads((tmp_path / "out.json").read_text())["rows"])
    assert rows[2]["score"] == "87" and rows[3]["score"] == "100"
    assert sorted({g["score"] for g in sb.books()["grades"]}) == [87, 100]


def test_course_ids_a_spreadsheet_turned_into_numbers(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "ids.csv",
        [
            ["Email", "LO ID", "Completion Date"],
            ["a@x.com", "7968486.0", "2025-03-01"],
            ["b@x.com", "7.968486E+6", "2025-03-01"],
            ["c@x.com", "1.00922E+15", "2025-03-01"],
            ["d@x.com", "7968486", "2025-03-01"],
        ],
    )
    run, rows = validate_offline(path)
    assert run.code == 1, run
    got = by_row(rows)
    assert [got[n]["status"] for n in (2, 3, 5)] == ["valid"] * 3
    assert got[4]["message"] == (
        "LO ID '1.00922E+15' has lost digits in exponent form; Excel shortened this ID: format "
        "the column as Text and export again."
    )
    assert (
        "warning: " in run.err and "column 'LO ID' holds 2 course IDs stored as numbers" in run.err
    )
    table = open_table(path)
    refs = [c.completion.course.course_id for c in check_rows(table, ValidationOptions())
            if c.completion]  # fmt: skip
    assert refs == ["course:7968486", "course:7968486", "course:7968486"]


def test_the_engine_warns_about_ids_stored_as_numbers(tmp_path: Path) -> None:
    path = write_xlsx(
        tmp_path / "ids.xlsx",
        [["Email", "Course ID", "Completion Date"], ["a@x.com", "7968486.0", "2025-03-01"]],
    )
    outcome = Job(JobOptions(path=path, offline=True)).run()
    assert int(outcome.exit_status) == 0
    assert any("column 'Course ID' holds 1 course ID stored as numbers" in w
               for w in outcome.warnings)  # fmt: skip
