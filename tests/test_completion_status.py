"""Rows the file marks as not completed are never posted: a completion-status column (LMS
transcripts, SCORM results, trackers' Completed? ticks), passed = no, a score under the passing
score. They end as ``not_completed`` (an ok outcome); an unknown status is ``invalid``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from batch.errors import IGNORE, ShapeQuestion
from batch.jobs import Job, JobOptions
from batch.models import RowStatus, exit_status_for
from batch.reader import open_table
from batch.reading.states import State, classify_state, extra_done_values
from batch.sandbox import Sandbox
from batch.validate import ValidationOptions, check_rows
from tests.meaning_support import (
    FIRE,
    JAMES,
    MARIA,
    SOFIA,
    by_row,
    cli,
    graded_users,
    use_sandbox,
    user_id,
    validate_offline,
    write_csv,
    write_xlsx,
)

HEAD = ["Email", "Course", "Completion Date"]


@pytest.mark.parametrize(
    "value",
    ["Completed", "COMPLETE", "passed", "Pass", "satisfied", "Attended", "yes", "TRUE", "y",
     "x", "1", "Done", "abgeschlossen", "Terminé", "completado", "concluído", "voltooid",
     "Completed Successfully", "✓"],
)  # fmt: skip
def test_values_that_mean_done(value: str) -> None:
    assert classify_state(value) is State.DONE


@pytest.mark.parametrize(
    "value",
    ["In Progress", "in-progress", "Registered", "Not Started", "NOT_STARTED", "Withdrawn",
     "Pending Approval", "Failed", "incomplete", "browsed", "not attempted", "No", "false",
     "0", "nicht bestanden", "En cours", "No iniciado", "niet voltooid", "Em andamento"],
)  # fmt: skip
def test_values_that_mean_not_done(value: str) -> None:
    assert classify_state(value) is State.NOT_DONE


def test_unknown_and_blank_and_added_values() -> None:
    assert classify_state("Exempt") is State.UNKNOWN
    assert classify_state("  ") is State.BLANK
    extra = extra_done_values(["Attended", " Finished ", "Exempt"])
    assert classify_state("exempt", extra) is State.DONE


def _transcript(tmp_path: Path, name: str = "transcript.csv") -> Path:
    return write_csv(
        tmp_path / name,
        [
            [*HEAD, "Transcript Status"],
            ["a@x.com", "Fire", "2025-03-01", "Completed"],
            ["b@x.com", "Fire", "", "In Progress"],  # no date: an enrollment, not a completion
            ["c@x.com", "Fire", "2025-03-01", "Exempt"],
            ["d@x.com", "Fire", "", ""],
            ["e@x.com", "Fire", "2025-03-01", "Registered"],
            ["f@x.com", "Fire", "2025-03-01", "abgeschlossen"],
        ],
    )


def test_status_column_rows_through_validation(tmp_path: Path) -> None:
    table = open_table(_transcript(tmp_path))
    assert table.mapping["completion_status"] == "Transcript Status"
    rows = {r.row: r for r in check_rows(table, ValidationOptions())}
    assert rows[2].completion is not None and rows[7].completion is not None
    assert rows[3].completion is None and rows[3].issues == []
    assert rows[3].not_completed == (
        "Transcript Status says 'In Progress': not a completion, nothing posted."
    )
    assert rows[5].not_completed.startswith("Transcript Status is empty: not a completion")
    assert rows[6].not_completed == (
        "Transcript Status says 'Registered': not a completion, nothing posted."
    )
    [issue] = rows[4].issues
    assert issue.column == "Transcript Status" and issue.value == "Exempt"
    assert "'Exempt' is not a completion state the tool knows" in issue.message
    assert "Completed, Complete, Passed" in issue.message and "In Progress" in issue.message
    assert "--completed-values" in issue.message


def test_cli_counts_not_completed_as_ok_and_keeps_it_out_of_the_failed_rows(
    tmp_path: Path,
) -> None:
    run, rows = validate_offline(_transcript(tmp_path), "--json-summary")
    assert run.code == 1, run  # the unknown 'Exempt' needs a person
    statuses = {r["row"]: r["status"] for r in rows}
    assert statuses == {2: "valid", 3: "not_completed", 4: "invalid", 5: "not_completed",
                        6: "not_completed", 7: "valid"}  # fmt: skip
    summary = json.loads(run.out)
    assert summary["counts"]["not_completed"] == 3 and summary["rows_ok"] == 5
    assert "not_completed      3" in run.err
    failed = (tmp_path / "transcript.out.failed.csv").read_text(encoding="utf-8-sig")
    assert "c@x.com" in failed and "b@x.com" not in failed and "e@x.com" not in failed
    # --completed-values: the person says Exempt means done; the rest ends well (exit 0)
    run, rows = validate_offline(tmp_path / "transcript.csv", "--completed-values", "Exempt,Waived")
    assert run.code == 0, run
    assert by_row(rows)[4]["status"] == "valid"
    assert "2 rows" not in run.err and "3 rows the file marks as not completed" in run.err


def test_not_completed_alone_exits_0() -> None:
    from batch.models import RowResult

    rows = [RowResult(2, {}, RowStatus.NOT_COMPLETED), RowResult(3, {}, RowStatus.VALID)]
    assert RowStatus.NOT_COMPLETED.ok and int(exit_status_for(rows)) == 0


def test_a_tracker_completed_column_is_a_status_never_the_date(tmp_path: Path) -> None:
    path = write_xlsx(
        tmp_path / "tracker.xlsx",
        [
            ["Email", "Course", "Completed?", "Date Completed"],
            ["a@x.com", "Fire", True, "2025-03-01"],
            ["b@x.com", "Fire", False, "2025-03-01"],
            ["c@x.com", "Fire", "x", "2025-03-01"],
            ["d@x.com", "Fire", None, "2025-03-01"],
        ],
    )
    table = open_table(path)
    assert table.mapping["completion_status"] == "Completed?"
    assert table.mapping["completion_date"] == "Date Completed"
    run, rows = validate_offline(path)
    assert run.code == 0, run
    got = by_row(rows)
    assert [got[n]["status"] for n in (2, 3, 4, 5)] == [
        "valid", "not_completed", "valid", "not_completed"
    ]  # fmt: skip
    assert got[3]["message"] == "Completed? says 'FALSE': not a completion, nothing posted."
    # Without a date column, "Completed?" is still not the date: the date is asked for.
    alone = write_csv(tmp_path / "alone.csv", [["Email", "Course", "Completed?"],
                                               ["a@x.com", "Fire", "2025-03-01"]])  # fmt: skip
    with pytest.raises(ShapeQuestion) as asked:
        open_table(alone)
    assert asked.value.field == "completion_date"


@pytest.mark.parametrize("header", ["Status", "Result", "Lesson Status", "Completion Status"])
def test_status_and_result_count_when_their_values_are_states(tmp_path: Path, header: str) -> None:
    path = write_csv(
        tmp_path / "scorm.csv",
        [[*HEAD, header], ["a@x.com", "Fire", "2025-03-01", "passed"],
         ["b@x.com", "Fire", "2025-03-01", "failed"], ["c@x.com", "Fire", "2025-03-01", "browsed"]],
    )  # fmt: skip
    assert open_table(path).mapping["completion_status"] == header
    # an employee status is not a completion state: "Status" stays unmapped, as before
    hr = write_csv(
        tmp_path / "hr.csv", [[*HEAD, "Status"], ["a@x.com", "Fire", "2025-03-01", "Active"]]
    )
    assert "completion_status" not in open_table(hr).mapping


def test_an_unrecognised_column_of_states_stops_the_run(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "lms.csv",
        [[*HEAD, "Enrollment Phase"], ["a@x.com", "Fire", "2025-03-01", "Completed"],
         ["b@x.com", "Fire", "2025-03-01", "In Progress"]],
    )  # fmt: skip
    with pytest.raises(ShapeQuestion) as asked:
        open_table(path)
    q = asked.value
    assert (q.ask, q.field, q.column, q.suggested) == (
        "mapping", "completion_status", "Enrollment Phase", "Enrollment Phase"
    )  # fmt: skip
    assert [c.value for c in q.choices] == ["Enrollment Phase", IGNORE]
    assert q.choices[0].samples == ("Completed", "In Progress")
    assert "--" not in q.message  # the page shows the message; the CLI adds the hint
    run, _ = validate_offline(path)
    assert run.code == 2 and "column 'Enrollment Phase' holds completion states" in run.err
    assert '--map "Enrollment Phase=completion_status"' in run.err
    assert '--ignore-column "Enrollment Phase"' in run.err
    # either answer lets the run go on
    run, rows = validate_offline(path, "--map", "Enrollment Phase=completion_status")
    assert run.code == 0 and by_row(rows)[3]["status"] == "not_completed", run
    run, rows = validate_offline(path, "--ignore-column", "Enrollment Phase")
    assert run.code == 0 and by_row(rows)[3]["status"] == "valid", run
    assert by_row(rows)[3]["cells"]["Enrollment Phase"] == "In Progress"  # kept in the report
    # a yes/no column whose header does not speak of completion is not asked about
    plain = write_csv(tmp_path / "plain.csv", [[*HEAD, "Mandatory"], ["a@x.com", "Fire", "2025-03-01", "Yes"],
                                              ["b@x.com", "Fire", "2025-03-01", "No"]])  # fmt: skip
    assert "completion_status" not in open_table(plain).mapping


def test_passed_no_and_a_score_under_the_pass_mark_are_not_completed(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "quiz.csv",
        [
            [*HEAD, "Score", "Passing Score", "Passed"],
            ["a@x.com", "Fire", "2025-03-01", "85", "70", "yes"],
            ["b@x.com", "Fire", "2025-03-01", "90", "70", "No"],
            ["c@x.com", "Fire", "2025-03-01", "55", "70", ""],
            ["d@x.com", "Fire", "not a date", "55", "70", ""],  # another bad cell: still says no
        ],
    )
    run, rows = validate_offline(path)
    assert run.code == 0, run
    got = by_row(rows)
    assert got[2]["status"] == "valid"
    assert got[3]["message"] == "Passed says 'No': not a completion, nothing posted."
    assert got[4]["message"] == (
        "Score says '55', under the passing score 70: not a completion, nothing posted."
    )
    assert got[5]["status"] == "not_completed"


def test_the_engine_reports_not_completed_in_offline_runs(tmp_path: Path) -> None:
    job = Job(JobOptions(path=_transcript(tmp_path), offline=True, keep_results=True))
    outcome = job.run()
    counts = outcome.summary.counts
    assert counts["not_completed"] == 3 and counts["invalid"] == 1 and counts["valid"] == 2
    skipped = [r for r in job.results if r.status is RowStatus.NOT_COMPLETED]
    assert {r.action for r in skipped} == {"skip"}


def test_a_live_run_posts_nothing_for_rows_the_file_marks_not_completed(
    sb: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_sandbox(monkeypatch, sb, tmp_path)
    path = write_xlsx(
        tmp_path / "transcript.xlsx",
        [
            ["Learner Email", "Course Name", "Completion Date", "Training Status", "Score",
             "Passing Score"],
            [MARIA, FIRE, "2025-03-03", "Completed", 92, 70],
            [JAMES, FIRE, "", "In Progress", None, None],
            [SOFIA, FIRE, "2025-03-06", "Completed", 55, 70],
        ],
    )  # fmt: skip
    run = cli(["run", path.name, "--yes", "--report", "out.json"])
    assert run.code == 0, run
    rows = by_row(json.loads((tmp_path / "out.json").read_text())["rows"])
    assert [rows[n]["status"] for n in (2, 3, 4)] == ["completed", "not_completed", "not_completed"]
    assert rows[3]["message"] == (
        "Training Status says 'In Progress': not a completion, nothing posted."
    )
    graded = graded_users(sb)
    assert user_id(MARIA) in graded
    assert user_id(JAMES) not in graded and user_id(SOFIA) not in graded
    assert sb.books()["enrollments_created"] <= 1  # only Maria's, if she needed one
    assert "not_completed      2" in run.err


def test_a_rerun_of_the_failed_rows_keeps_the_answers_given(tmp_path: Path) -> None:
    """The failed-rows file carries --ignore-column, --completed-values (reading.carry)."""
    path = write_csv(
        tmp_path / "hr.csv",
        [[*HEAD, "Transcript Status", "Phase"],
         ["a@x.com", "Fire", "2025-03-01", "Finished", "Completed"],
         ["bad", "Fire", "2025-03-01", "Completed", "In Progress"]],
    )  # fmt: skip
    run, rows = validate_offline(path, "--ignore-column", "Phase", "--completed-values", "Finished")
    assert run.code == 1 and by_row(rows)[3]["status"] == "invalid", run
    failed = tmp_path / "hr.out.failed.csv"
    run = cli(["validate", str(failed), "--offline", "--report", str(tmp_path / "again.csv")])
    assert run.code == 1, run  # still the bad email, and no question asked again
    assert "holds completion states" not in run.err
