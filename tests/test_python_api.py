"""The Python API (``batch.complete``): rows as a list of dicts, as a DataFrame and as a CSV file
give the same results against the sandbox; questions are raised and answered in code; a live
run needs two explicit words; Ctrl-C cancels cleanly; the docs' examples run; and neither the
CLI nor ``import batch`` loads pandas."""

from __future__ import annotations

import csv
import math
import os
import re
import signal
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import batch
from batch.demo import settings_for_sandbox
from batch.errors import Choice, EmptyInput, ShapeQuestion
from batch.jobs import WriteProgress
from batch.sandbox import Sandbox
from tests.e2e_support import REPO, SAMPLE_CSV, child_env, sandbox_env

HEADER = ["Learner Email", "Course Name", "Completion Date", "Score", "Completion Status"]
PLUS2 = timezone(timedelta(hours=2))
# (typed values a script holds, the text a spreadsheet export of them holds)
ROWS: list[tuple[list[Any], str]] = [
    (["maria.gonzalez@acme-corp.example", "Fire Safety 2025", datetime(2025, 3, 3, 14, 30), 92,
      "Completed"], "maria.gonzalez@acme-corp.example,Fire Safety 2025,2025-03-03T14:30:00,92,Completed"),
    (["james.oconnor@acme-corp.example", "Fire Safety 2025", date(2025, 3, 3), 87.5, "Completed"],
     "james.oconnor@acme-corp.example,Fire Safety 2025,2025-03-03,87.5,Completed"),
    (["priya.raman@acme-corp.example", "Data Privacy Essentials",
      pd.Timestamp("2025-03-04 09:15:30"), None, "Completed"],
     "priya.raman@acme-corp.example,Data Privacy Essentials,2025-03-04T09:15:30,,Completed"),
    (["olivia.dubois@acme-corp.example", 7968563.0, "2025-03-10", math.nan, "Completed"],
     "olivia.dubois@acme-corp.example,7968563,2025-03-10,,Completed"),
    (["lukas.becker(at)acme-corp.example", "Code of Conduct", "2025-03-20", None, "Completed"],
     "lukas.becker(at)acme-corp.example,Code of Conduct,2025-03-20,,Completed"),
    (["ethan.brown@acme-corp.example", "First Aid at Work", "2025-02-30", 85, "Completed"],
     "ethan.brown@acme-corp.example,First Aid at Work,2025-02-30,85,Completed"),
    (["jordan.blake@acme-corp.example", "Code of Conduct", date(2025, 3, 11), None, "In Progress"],
     "jordan.blake@acme-corp.example,Code of Conduct,2025-03-11,,In Progress"),
    ([None, None, None, None, None], ",,,,"),
    (["samuel.andersson@acme-corp.example", "First Aid at Work", date(2025, 3, 27), None,
      "Completed"], "samuel.andersson@acme-corp.example,First Aid at Work,2025-03-27,,Completed"),
    (["samuel.andersson@acme-corp.example", "Export Controls Fundamentals", date(2025, 3, 27), 84,
      "Completed"],
     "samuel.andersson@acme-corp.example,Export Controls Fundamentals,2025-03-27,84,Completed"),
    (["samuel.andersson@acme-corp.example", "New Hire Onboarding", date(2025, 3, 28), None,
      "Completed"], "samuel.andersson@acme-corp.example,New Hire Onboarding,2025-03-28,,Completed"),
    (["ines.moreau@acme-corp.example", "Annual Compliance Certification",
      datetime(2025, 3, 28, 9, 0, tzinfo=PLUS2), None, "Completed"],
     "ines.moreau@acme-corp.example,Annual Compliance Certification,2025-03-28T09:00:00+02:00,,Completed"),
    (["maria.gonzalez@acme-corp.example", "Fire Safety 2025", datetime(2025, 3, 3, 14, 30), 92,
      "Completed"], "maria.gonzalez@acme-corp.example,Fire Safety 2025,2025-03-03T14:30:00,92,Completed"),
    (["mateo.fernandez@acme-corp.example", "Data Privacy Esentials", date(2025, 3, 12), 90,
      "Completed"], "mateo.fernandez@acme-corp.example,Data Privacy Esentials,2025-03-12,90,Completed"),
]  # fmt: skip
EXPECTED = {
    2: "would_complete",
    3: "would_complete",
    4: "would_complete",
    5: "would_complete",
    6: "invalid",
    7: "invalid",
    8: "not_completed",
    10: "would_complete",
    11: "would_complete",
    12: "would_complete",
    13: "would_complete",
    14: "duplicate",
    15: "course_not_found",
}  # fmt: skip  (row 9 is blank: skipped, still counted)


def as_dicts(rows: list[tuple[list[Any], str]]) -> list[dict[str, Any]]:
    return [dict(zip(HEADER, values, strict=True)) for values, _text in rows]


def as_csv(rows: list[tuple[list[Any], str]], path: Path) -> Path:
    path.write_text("\n".join([",".join(HEADER)] + [text for _v, text in rows]) + "\n", "utf-8")
    return path


def row_facts(outcome: batch.Outcome) -> list[tuple[Any, ...]]:
    return [
        (r.row, r.status.value, r.message, r.date_completed, r.score, r.user_id, r.course_id,
         r.instance_id, tuple(r.module_ids), r.action, r.writes_planned, r.values)
        for r in outcome.results
    ]  # fmt: skip


def report_lines(path: Path | None) -> list[dict[str, str]]:
    assert path is not None
    with path.open(newline="", encoding="utf-8-sig") as handle:
        return list(csv.DictReader(handle))


def csv_outcome(path: Path, settings: batch.Settings, tmp_path: Path, **options: Any) -> Any:
    """The same rows as a file, through the same engine (as ``alm-batch run --dry-run``)."""
    options = dict(options)
    shape = batch.ShapeOptions.parse({k: options.pop(k) for k in list(options) if k != "report"})
    job = batch.Job(
        batch.JobOptions(
            **vars(shape), path=path, dry_run=True, keep_results=True,
            state_dir=tmp_path / "state", report=options.get("report"),
        ),
        settings,
    )  # fmt: skip
    return batch.Outcome.of(job, job.run())


def test_dicts_a_dataframe_and_a_csv_file_give_the_same_results_row_by_row(
    sb: Sandbox, tmp_path: Path
) -> None:
    settings = settings_for_sandbox(sb)
    state = tmp_path / "state"
    dicts = batch.complete(
        as_dicts(ROWS), settings=settings, state_dir=state, report=tmp_path / "dicts.report.csv"
    )
    frame = batch.complete(
        pd.DataFrame(as_dicts(ROWS)), settings=settings, state_dir=state,
        report=tmp_path / "frame.report.csv",
    )  # fmt: skip
    path = as_csv(ROWS, tmp_path / "march.csv")
    from_file = csv_outcome(path, settings, tmp_path, report=tmp_path / "file.report.csv")

    assert {r.row: r.status.value for r in dicts.results} == EXPECTED
    assert row_facts(dicts) == row_facts(frame) == row_facts(from_file)
    assert report_lines(dicts.report_path) == report_lines(frame.report_path)
    assert report_lines(dicts.report_path) == report_lines(from_file.report_path)
    assert dicts.summary.counts == from_file.summary.counts
    assert dicts.summary.writes_planned == from_file.summary.writes_planned > 0

    by_row = {r.row: r for r in dicts.results}
    assert by_row[2].date_completed == "2025-03-03T14:30:00.000Z"  # a datetime keeps its time
    assert by_row[3].score == "87.5" and by_row[3].values["Score"] == "87.5"
    assert by_row[4].date_completed == "2025-03-04T09:15:30.000Z"  # a pandas Timestamp
    assert by_row[5].course_id == "course:7968563"  # the float ID 7968563.0
    assert by_row[5].values["Score"] == "" and by_row[5].score == ""  # NaN is blank
    assert by_row[8].message.startswith("Completion Status says 'In Progress'")
    assert by_row[12].course_id.startswith("learningProgram:")  # a program row
    assert by_row[13].date_completed == "2025-03-28T07:00:00.000Z"  # an aware datetime, in UTC
    assert by_row[14].message == "Duplicate of row 2 (same learner and course): not posted twice."


def test_the_outcome_as_rows_and_as_a_dataframe(sb: Sandbox, tmp_path: Path) -> None:
    outcome = batch.complete(
        as_dicts(ROWS[:4]), settings=settings_for_sandbox(sb), state_dir=tmp_path / "s",
        report=tmp_path / "r.csv",
    )  # fmt: skip
    rows = outcome.rows
    assert list(rows[0])[:7] == ["row", *HEADER, "status"]
    assert rows[0]["row"] == 2 and rows[0]["Completion Date"] == "2025-03-03T14:30:00"
    assert rows[0]["date_completed"] == datetime(2025, 3, 3, 14, 30, tzinfo=UTC)
    assert rows[1]["score (alm-batch)"] == 87.5 and rows[2]["score (alm-batch)"] is None
    frame = outcome.to_dataframe()
    assert list(frame.columns) == list(rows[0])
    assert list(frame["row"]) == [2, 3, 4, 5]
    assert str(frame["date_completed"].dt.tz) == "UTC"
    assert frame["date_completed"][0] == pd.Timestamp("2025-03-03 14:30", tz="UTC")
    assert frame["score (alm-batch)"].tolist()[:2] == [92.0, 87.5]
    assert math.isnan(frame["score (alm-batch)"][2])
    assert list(frame["status"]) == ["would_complete"] * 4


def test_a_question_is_asked_alike_for_rows_and_files_and_answered_in_code(
    sb: Sandbox, tmp_path: Path
) -> None:
    settings = settings_for_sandbox(sb)
    ambiguous: list[tuple[list[Any], str]] = [
        (["maria.gonzalez@acme-corp.example", "Fire Safety 2025", "03/04/2025", 92, "Completed"],
         "maria.gonzalez@acme-corp.example,Fire Safety 2025,03/04/2025,92,Completed"),
        (["priya.raman@acme-corp.example", "Data Privacy Essentials", "04/03/2025", None,
          "Completed"], "priya.raman@acme-corp.example,Data Privacy Essentials,04/03/2025,,Completed"),
    ]  # fmt: skip
    asked: list[ShapeQuestion] = []
    for rows in (as_dicts(ambiguous), pd.DataFrame(as_dicts(ambiguous))):
        with pytest.raises(ShapeQuestion) as caught:
            batch.complete(rows, settings=settings, state_dir=tmp_path / "s")
        asked.append(caught.value)
    path = as_csv(ambiguous, tmp_path / "march.csv")
    with pytest.raises(ShapeQuestion) as caught:
        csv_outcome(path, settings, tmp_path)
    asked.append(caught.value)
    assert {(q.ask, q.field, q.choices, q.suggested) for q in asked} == {
        ("date_format", "completion_date", asked[0].choices, None)
    }
    assert [c.value for c in asked[0].choices] == ["DD/MM/YYYY", "MM/DD/YYYY"]
    assert {q.message.split(": ", 1)[1] for q in asked} == {asked[0].message.split(": ", 1)[1]}
    assert asked[0].message.startswith("rows: column 'Completion Date' has dates that read")

    with pytest.raises(ValueError, match="Nothing is suggested for date_format: pick one of"):
        asked[0].answer()
    answer = asked[0].answer("DD/MM/YYYY")
    assert answer == {"date_format": "DD/MM/YYYY"}
    outcome = batch.complete(as_dicts(ambiguous), settings=settings, state_dir=tmp_path / "s",
                             report=tmp_path / "r.csv", **answer)  # fmt: skip
    again = csv_outcome(path, settings, tmp_path, report=tmp_path / "f.csv", **answer)
    assert outcome.results[0].date_completed == "2025-04-03T00:00:00.000Z"
    assert row_facts(outcome) == row_facts(again)


def test_numbers_between_0_and_1_ask_how_to_read_the_score_as_text_does_not(
    tmp_path: Path,
) -> None:
    rows = [{"Email": "a@x.example", "Course": "Fire Safety", "Completion Date": "2025-03-03",
             "Score": score} for score in (0.87, 0.9)]  # fmt: skip
    with pytest.raises(ShapeQuestion) as caught:
        batch.complete(rows, offline=True, report=tmp_path / "r.csv")
    assert caught.value.ask == "score_scale" and caught.value.field == "score"
    fraction = batch.complete(
        rows, offline=True, report=tmp_path / "r.csv", **caught.value.answer("fraction")
    )
    assert fraction.results[0].status is batch.RowStatus.VALID
    as_text = [{**row, "Score": str(row["Score"])} for row in rows]  # as a CSV holds them
    assert batch.complete(as_text, offline=True, report=tmp_path / "t.csv").exit_status == 0


def test_answers_to_every_kind_of_question() -> None:
    mapping = ShapeQuestion("m", ask="mapping", hint="", field="email", suggested="Work Mail",
                            choices=[Choice("Work Mail", "Work Mail")])  # fmt: skip
    assert mapping.answer() == {"mapping": {"Work Mail": "email"}}
    state = ShapeQuestion("s", ask="mapping", hint="", field="completion_status",
                          column="Manager Status", choices=[Choice("ignore", "ignore")])  # fmt: skip
    assert state.answer("ignore") == {"ignore_columns": ["Manager Status"]}
    side = ShapeQuestion("t", ask="ignore_columns", hint="",
                         choices=[Choice("Email", "Email"), Choice("Course", "Course")])  # fmt: skip
    assert side.answer() == {"ignore_columns": ["Email", "Course"]}
    assert ShapeQuestion("h", ask="header_row", hint="", suggested="3").answer() == {
        "header_row": "3"
    }
    assert EmptyInput("empty").answer() == {"allow_empty": "true"}
    assert batch.ShapeOptions.parse(EmptyInput("empty").answer()).allow_empty is True


def test_a_live_run_needs_dry_run_false_and_a_confirmation(sb: Sandbox, tmp_path: Path) -> None:
    settings = settings_for_sandbox(sb)
    rows = as_dicts(ROWS[:2])
    options: dict[str, Any] = {"settings": settings, "state_dir": tmp_path / "s",
                               "report": tmp_path / "r.csv"}  # fmt: skip
    unread = iter(rows)
    with pytest.raises(batch.UsageError, match="A live run writes completions to ALM"):
        batch.complete(unread, dry_run=False, **options)
    assert next(unread) == rows[0]  # refused before the rows were taken
    with pytest.raises(batch.UsageError, match="A live run writes completions to ALM"):
        batch.complete(rows, dry_run=False, confirm=False, **options)
    with pytest.raises(batch.UsageError, match="confirm= is for a live run"):
        batch.complete(rows, confirm=True, **options)
    assert sum(sb.books()["calls"].values()) == 0  # refused before anything was read

    seen: list[batch.RunSummary] = []

    def say_no(plan: batch.RunSummary) -> bool:
        seen.append(plan)
        return False

    declined = batch.complete(rows, dry_run=False, confirm=say_no, **options)
    assert (
        declined.cancelled
        and seen[0].writes_planned == 6
        and seen[0].counts == {"would_complete": 2}
    )
    assert sb.books()["grades"] == [] and sb.books()["enrollments_created"] == 0

    live = batch.complete(rows, dry_run=False, confirm=True, **options)
    assert [r.status for r in live.results] == [batch.RowStatus.COMPLETED] * 2
    assert live.summary.writes_made == 6 and len(sb.books()["grades"]) == 4
    assert live.rows[0]["attempts"] >= 1 and live.rows[0]["posted_at"] is not None


def test_ctrl_c_cancels_a_live_run_as_the_cli_does(sb: Sandbox, tmp_path: Path) -> None:
    """A real SIGINT while ``complete`` waits, sent as the first write lands: the job is
    cancelled (writes in flight finish, report saved, exit 130) and a re-run finishes it
    without posting anything twice."""
    with open(SAMPLE_CSV, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    sent: list[bool] = []

    def interrupt(event: object) -> None:
        if isinstance(event, WriteProgress) and event.writes_made and not sent:
            sent.append(True)
            os.kill(os.getpid(), signal.SIGINT)

    options: dict[str, Any] = {"settings": settings_for_sandbox(sb), "state_dir": tmp_path / "s"}
    # One row first: the grade body ALM takes is learnt (and kept in the state folder), so the
    # cancel below meets no learner held back while a first grade probes the body.
    first = batch.complete(rows[:1], dry_run=False, confirm=True, report=tmp_path / "1.csv",
                           **options)  # fmt: skip
    stopped = batch.complete(rows, dry_run=False, confirm=True, on_event=interrupt,
                             report=tmp_path / "stopped.csv", **options)  # fmt: skip
    assert sent and stopped.interrupted and stopped.exit_status == 130
    made = first.summary.writes_made + stopped.summary.writes_made
    assert first.summary.writes_made == 3 and 3 < made < 87
    assert report_lines(stopped.report_path)[0]["status"] == "already_completed"  # row 2: saved
    again = batch.complete(rows, dry_run=False, confirm=True, report=tmp_path / "again.csv",
                           **options)  # fmt: skip
    assert again.exit_status == 1 and sb.books()["double_grades"] == 0  # the sample's bad rows
    assert made + again.summary.writes_made == 87


def test_unknown_options_are_named_with_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match=r"unknown option\(s\) mapp; options: .*mapping"):
        batch.complete([{"Email": "a@x.example"}], mapp={"A": "email"})


def test_to_dataframe_without_pandas_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = [{"Email": "a@x.example", "Course": "Fire Safety", "Completion Date": "2025-03-03"}]
    outcome = batch.complete(rows, offline=True, report=tmp_path / "r.csv")
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas now fails
    with pytest.raises(batch.UsageError) as caught:
        outcome.to_dataframe()
    assert str(caught.value) == (
        "Outcome.to_dataframe() needs pandas, which is not installed: "
        "pip install 'alm-batch[pandas]' (or pip install pandas)."
    )
    assert outcome.rows[0]["status"] == "valid"  # the plain rows need no pandas


def python_blocks(markdown: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", markdown, flags=re.S | re.M)


def test_the_python_api_page_examples_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every Python block of docs/python-api.md, in order, in one namespace (as a reader
    would paste them), but the Airflow one (it needs Airflow), against the sandbox it starts."""
    blocks = python_blocks((REPO / "docs" / "python-api.md").read_text(encoding="utf-8"))
    airflow = [b for b in blocks if "from airflow" in b]
    assert len(airflow) == 1 and len(blocks) >= 8
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ALM_BATCH_STATE_DIR", str(tmp_path / "state"))
    namespace: dict[str, Any] = {"__name__": "python_api_md"}
    try:
        for number, block in enumerate(blocks):
            if block not in airflow:
                exec(compile(block, f"docs/python-api.md, block {number + 1}", "exec"), namespace)
    finally:
        sandbox = namespace.get("sandbox")
        if isinstance(sandbox, Sandbox):
            sandbox.stop()
    compile(airflow[0], "docs/python-api.md, Airflow block", "exec")  # it is Python, at least
    assert "Did you mean 'Data Privacy Essentials'?" in capsys.readouterr().out
    assert (tmp_path / "march-live.report.xlsx").is_file()


def test_public_names() -> None:
    assert batch.__all__ == [
        "AbortError", "AccountBusy", "BatchError", "ConfigError", "ExitStatus", "InputError",
        "Job", "JobOptions", "Outcome", "RowResult", "RowStatus", "RunSummary", "Settings",
        "ShapeOptions", "ShapeQuestion", "UsageError", "complete",
    ]  # fmt: skip
    assert sorted(batch._EXPORTS) == batch.__all__
    for name in batch.__all__:
        assert getattr(batch, name).__name__ == name
    assert batch.Job is batch.jobs.Job and issubclass(batch.ShapeQuestion, batch.InputError)
    with pytest.raises(AttributeError, match="has no attribute 'compleet'"):
        batch.compleet  # noqa: B018


PROBE = """
import sys
{run}
print("LOADED", "pandas" in sys.modules, "batch.jobs" in sys.modules)
"""


def probe(run: str, cwd: Path, alm: dict[str, str] | None = None) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE.format(run=run)], cwd=cwd, env=child_env(alm),
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()[-1]


def test_the_cli_and_import_batch_never_load_pandas(sb: Sandbox, tmp_path: Path) -> None:
    # (numpy may come in with the CLI: openpyxl imports it when it is installed)
    assert probe("import batch", tmp_path) == "LOADED False False"  # nor the job engine
    run = (
        "from batch.cli import main\n"
        f"code = main(['run', '--dry-run', {str(SAMPLE_CSV)!r}, '--report', 'r.csv'])\n"
        "assert code == 1, code\n"  # the sample's failing rows
        "main(['validate', '--offline', 'r.failed.csv', '--report', 'f.csv'])"
    )
    env = sandbox_env(sb, tmp_path / "state")
    assert probe(run, tmp_path, env) == "LOADED False True"
    assert (tmp_path / "r.csv").is_file()


def test_a_job_writes_to_alm_only_when_its_options_say_dry_run_false(
    sb: Sandbox, tmp_path: Path
) -> None:
    before = len(sb.books()["grades"])
    options = batch.JobOptions(path=SAMPLE_CSV, state_dir=tmp_path, report=tmp_path / "r.json")
    outcome = batch.Job(options, settings_for_sandbox(sb)).run()
    assert outcome.summary.dry_run and outcome.summary.writes_planned == 87
    assert len(sb.books()["grades"]) == before and sb.books()["enrollments_created"] == 0
