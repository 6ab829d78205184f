"""Two columns that could feed one field: the run stops and asks unless a rule proves which is
meant; a course ID beside the course name is checked against it on every row."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from batch.errors import ShapeQuestion
from batch.reader import open_table
from batch.sandbox import Sandbox
from batch.validate import ValidationOptions, check_rows
from tests.meaning_support import (
    FIRE,
    FIRE_ID,
    JAMES,
    MARIA,
    PRIVACY,
    PRIVACY_ID,
    SOFIA,
    by_row,
    cli,
    use_sandbox,
    validate_offline,
    write_csv,
    write_xlsx,
)


def _forms(tmp_path: Path) -> Path:
    """A Microsoft Forms export: 'Completion time' is when the form was sent."""
    return write_xlsx(
        tmp_path / "forms.xlsx",
        [
            ["ID", "Start time", "Completion time", "Email", "Name", "Course",
             "Date of completion"],
            [1, datetime(2025, 3, 5, 9, 58), datetime(2025, 3, 5, 10, 2), "a@x.com", "Ann",
             "Fire", "2025-03-01"],
            [2, datetime(2025, 3, 5, 10, 58), datetime(2025, 3, 5, 11, 1), "b@x.com", "Bob",
             "Fire", "2025-02-20"],
        ],
    )  # fmt: skip


def test_forms_submission_time_and_the_answer_are_asked_about(tmp_path: Path) -> None:
    path = _forms(tmp_path)
    with pytest.raises(ShapeQuestion) as asked:
        open_table(path)
    q = asked.value
    assert (q.ask, q.field) == ("mapping", "completion_date")
    assert [(c.value, c.samples) for c in q.choices] == [
        ("Completion time", ("2025-03-05T10:02:00", "2025-03-05T11:01:00")),
        ("Date of completion", ("2025-03-01", "2025-02-20")),
    ]
    assert q.hint == (
        'Pick one: --map "Completion time=completion_date" or '
        '--map "Date of completion=completion_date".'
    )
    run, _ = validate_offline(path)
    assert run.code == 2 and "2 columns could feed completion_date" in run.err
    assert '--map "Date of completion=completion_date"' in run.err
    table = open_table(path, mapping={"Date of completion": "completion_date"})
    dates = [c.completion.completion_date for c in check_rows(table, ValidationOptions())
             if c.completion is not None]  # fmt: skip
    assert dates == [datetime(2025, 3, 1, tzinfo=UTC), datetime(2025, 2, 20, tzinfo=UTC)]


def test_a_course_id_and_a_course_name_are_asked_about(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "lms.csv",
        [["Email", "LO ID", "Course Name", "Completion Date"],
         ["a@x.com", "7968486", FIRE, "2025-03-01"]],
    )  # fmt: skip
    with pytest.raises(ShapeQuestion) as asked:
        open_table(path)
    assert asked.value.field == "course"
    assert [c.value for c in asked.value.choices] == ["LO ID", "Course Name"]
    assert "checked against the one picked on every row" in asked.value.message
    table = open_table(path, mapping={"Course Name": "course"})
    assert table.mapping["course"] == "Course Name" and table.checks == {"course": "LO ID"}


def test_columns_with_the_same_values_need_no_question_but_each_row_is_compared(
    tmp_path: Path,
) -> None:
    rows = [["Email", "Learner Email", "Course", "Completion Date"]]
    rows += [[f"u{i}@x.com", f"U{i}@X.com", "Fire", "2025-03-01"] for i in range(250)]
    rows += [["late@x.com", "other@x.com", "Fire", "2025-03-01"]]  # past the rows looked at
    path = write_csv(tmp_path / "two.csv", rows)
    table = open_table(path)
    assert table.mapping["email"] == "Email" and table.checks == {"email": "Learner Email"}
    assert any("hold the same values" in w for w in table.warnings)
    checked = list(check_rows(table, ValidationOptions()))
    assert all(c.completion is not None for c in checked[:250])
    [issue] = checked[250].issues
    assert issue.message.startswith(
        "Learner Email says 'other@x.com' where Email says 'late@x.com'"
    )


def test_a_work_email_over_a_manager_or_personal_one_is_a_named_rule(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "hr.csv",
        [["Work Email", "Manager Email", "Personal Email", "Course", "Completion Date"],
         ["a@acme.com", "boss@acme.com", "ann@gmail.com", "Fire", "2025-03-01"]],
    )  # fmt: skip
    run, rows = validate_offline(path)
    assert run.code == 0, run
    assert rows[0]["status"] == "valid"
    assert (
        "warning: " in run.err
        and "column 'Work Email' feeds email (the learner's address); 'Manager Email', "
        "'Personal Email' hold a manager's or a personal address and is not used"
        in run.err
    )


def test_course_id_and_name_are_checked_against_each_other_after_resolution(
    sb: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_sandbox(monkeypatch, sb, tmp_path)
    write_csv(
        tmp_path / "lms.csv",
        [
            ["Email", "LO ID", "Course Name", "Completion Date"],
            [MARIA, FIRE_ID.split(":")[1], FIRE, "2025-03-03"],  # agree
            [JAMES, FIRE_ID.split(":")[1], PRIVACY, "2025-03-03"],  # disagree
            [SOFIA, "7968544", "Safety Basics", "2025-03-06"],  # two courses have that name
            ["ava.johnson@acme-corp.example", "7968486", "Brandschutz 2025", "2025-03-06"],
        ],
    )
    run = cli(["validate", "lms.csv", "--map", "LO ID=course", "--report", "out.json"])
    assert run.code == 1, run
    rows = by_row(json.loads((tmp_path / "out.json").read_text())["rows"])
    assert rows[2]["status"] == "would_complete"
    assert rows[3]["status"] == "invalid"
    assert rows[3]["message"] == (
        f"LO ID '7968486' names {FIRE_ID} '{FIRE}' but Course Name '{PRIVACY}' names "
        f"{PRIVACY_ID} '{PRIVACY}': correct the one that is wrong (or leave 'Course Name' out "
        "of the run if it does not name ALM courses)."
    )
    assert rows[4]["status"] == "would_complete"  # the name is one of the ID's course names
    assert rows[5]["status"] == "would_complete"  # a German name of the same course
    # the other way round: the name feeds the course, and the ID settles "Safety Basics"
    run = cli(["validate", "lms.csv", "--map", "Course Name=course", "--report", "two.json"])
    rows = by_row(json.loads((tmp_path / "two.json").read_text())["rows"])
    assert rows[4]["status"] == "would_complete" and rows[4]["course_id"] == "course:7968544"
    assert rows[3]["status"] == "invalid" and "Course Name" in rows[3]["message"]
    assert sb.books()["calls"].get("POST /users/{id}/userModuleGrade", 0) == 0  # dry runs


def test_a_column_of_names_beside_the_addresses_is_not_a_candidate(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "roster.csv",
        [["Learner", "Learner Email", "Course", "Completion Date"],
         ["Ann Lee", "ann@x.com", "Fire", "2025-03-01"], ["Bo Chan", "bo@x.com", "Fire", "2025-03-01"],
         ["Cy Ode", "cy@x.com", "Fire", "2025-03-01"]],
    )  # fmt: skip
    table = open_table(path)
    assert table.mapping["email"] == "Learner Email" and "email" not in table.checks
    assert any("column 'Learner' holds no email addresses" in w for w in table.warnings)


def test_a_column_blank_in_the_rows_looked_at_agrees_and_is_still_compared(
    tmp_path: Path,
) -> None:
    rows = [["Email", "Course", "Completion Date", "End Date"]]
    rows += [[f"u{i}@x.com", "Fire", "", "2025-03-01"] for i in range(250)]
    rows += [["late@x.com", "Fire", "2025-04-01", "2025-03-01"]]
    table = open_table(write_csv(tmp_path / "two.csv", rows))
    assert table.mapping["completion_date"] == "End Date"
    assert table.checks == {"completion_date": "Completion Date"}
    checked = list(check_rows(table, ValidationOptions()))
    assert checked[0].completion is not None
    assert "Completion Date says '2025-04-01' where End Date says '2025-03-01'" in (
        checked[-1].issues[0].message
    )
