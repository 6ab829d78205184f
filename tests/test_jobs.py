"""The job engine (batch.jobs) as a front end sees it: events, cancel, confirm, edits, re-check,
export and outcome, against the sample sandbox over real HTTP."""

from __future__ import annotations

import json
import threading
import zipfile
from pathlib import Path

import openpyxl
import pytest

from batch.demo import settings_for_sandbox
from batch.errors import ExitStatus, InputError
from batch.jobs import (
    ConfirmationNeeded,
    Job,
    JobEvent,
    JobFinished,
    JobOptions,
    JobState,
    PlanReady,
    RowFinished,
    StageProgress,
    StageStarted,
    WriteProgress,
)
from batch.models import RunSummary
from batch.sandbox import Sandbox
from tests.e2e_support import SAMPLE_GRADES, SAMPLE_ROWS


class Recorder:
    def __init__(self) -> None:
        self.events: list[JobEvent] = []
        self.lock = threading.Lock()

    def __call__(self, event: JobEvent) -> None:
        with self.lock:
            self.events.append(event)

    def of(self, kind: type) -> list[JobEvent]:
        return [e for e in self.events if isinstance(e, kind)]


def options(sample: Path, tmp_path: Path, **changes: object) -> JobOptions:
    base = JobOptions(
        path=sample,
        dry_run=True,
        state_dir=tmp_path / "state",
        report=tmp_path / "out.json",
        keep_results=True,
    )
    for key, value in changes.items():
        setattr(base, key, value)
    return base


def statuses(job: Job) -> dict[int, str]:
    return {r.row: r.status.value for r in job.results}


def test_a_dry_run_announces_its_stages_plan_rows_and_end(
    sb: Sandbox, sample: Path, tmp_path: Path
) -> None:
    job = Job(options(sample, tmp_path), settings_for_sandbox(sb))
    seen = Recorder()
    job.subscribe(seen)
    outcome = job.run()
    assert job.state is JobState.DONE
    assert outcome.exit_status is ExitStatus.ROWS_FAILED  # the sample's failing rows
    stages = [e.stage for e in seen.of(StageStarted)]  # type: ignore[attr-defined]
    assert stages == ["read", "lookup", "report"]
    (plan,) = seen.of(PlanReady)
    assert plan.summary.counts["would_complete"] == 29  # type: ignore[attr-defined]
    assert plan.summary.writes_planned == 87  # type: ignore[attr-defined]
    assert [e.result.row for e in seen.of(RowFinished)] == SAMPLE_ROWS  # type: ignore[attr-defined]
    assert isinstance(seen.events[-1], JobFinished) and seen.events[-1].outcome is outcome
    assert not seen.of(WriteProgress) and not seen.of(ConfirmationNeeded)
    assert len(job.results) == len(SAMPLE_ROWS) and statuses(job)[15] == "course_not_found"
    assert sb.books()["calls"].get("POST /users/{id}/userModuleGrade", 0) == 0


def test_a_declined_confirmation_writes_nothing(sb: Sandbox, sample: Path, tmp_path: Path) -> None:
    asked = []

    def confirm(summary: object) -> bool:
        asked.append(summary)
        return False

    job = Job(options(sample, tmp_path, dry_run=False), settings_for_sandbox(sb), confirm=confirm)
    seen = Recorder()
    job.subscribe(seen)
    outcome = job.run()
    assert len(asked) == 1 and seen.of(ConfirmationNeeded)
    assert outcome.cancelled and job.state is JobState.CANCELLED
    assert outcome.summary.dry_run is True
    assert sb.books()["grades"] == []


def test_cancel_during_a_live_run_finishes_writes_in_flight_and_reports(
    sb: Sandbox, sample: Path, tmp_path: Path
) -> None:
    job = Job(options(sample, tmp_path, dry_run=False, concurrency=1), settings_for_sandbox(sb))

    def cancel_after_five_writes(event: JobEvent) -> None:
        if isinstance(event, WriteProgress) and event.writes_made >= 5:
            job.cancel()

    job.subscribe(cancel_after_five_writes)
    outcome = job.run()
    assert outcome.interrupted and outcome.exit_status is ExitStatus.INTERRUPTED
    assert job.state is JobState.CANCELLED
    books = sb.books()
    assert 0 < len(books["grades"]) < SAMPLE_GRADES and books["double_grades"] == 0
    assert "not_run" in statuses(job).values()  # rows not reached: running the rest sends them
    rerun = options(sample, tmp_path, dry_run=False, report=tmp_path / "again.json")
    again = Job(rerun, settings_for_sandbox(sb)).run()
    counts = again.summary.counts
    assert counts["completed"] + counts.get("already_completed", 0) == 31  # 29 + 2 done before
    assert sb.books()["double_grades"] == 0 and len(sb.books()["grades"]) == SAMPLE_GRADES


def test_a_job_cancelled_before_it_starts_never_runs(sample: Path, tmp_path: Path) -> None:
    job = Job(options(sample, tmp_path, offline=True))
    job.cancel()
    with pytest.raises(Exception, match="cancelled before it started"):
        job.run()
    assert job.state is JobState.CANCELLED and job.outcome is None


def test_a_run_level_error_is_kept_and_announced(tmp_path: Path) -> None:
    missing = tmp_path / "nope.csv"
    job = Job(JobOptions(path=missing, offline=True))
    seen = Recorder()
    job.subscribe(seen)
    job.start()
    assert job.wait(30) is None
    assert job.state is JobState.FAILED and isinstance(job.error, InputError)
    assert isinstance(seen.events[-1], JobFinished) and seen.events[-1].outcome is None


def test_edits_and_exclusions_change_the_rows_not_the_file(
    sb: Sandbox, sample: Path, tmp_path: Path
) -> None:
    before = sample.read_bytes()
    opts = options(
        sample,
        tmp_path,
        edits={15: {"Course Name": "Data Privacy Essentials"}},
        exclude=frozenset({13}),
    )
    job = Job(opts, settings_for_sandbox(sb))
    outcome = job.run()
    assert statuses(job)[15] == "would_complete"
    assert 13 not in statuses(job)
    assert sample.read_bytes() == before
    assert outcome.summary.edits == [
        {"row": "13", "column": "", "old": "", "new": "(row excluded)"},
        {
            "row": "15",
            "column": "Course Name",
            "old": "Data Privacy Esentials",
            "new": "Data Privacy Essentials",
        },
    ]
    report = json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))
    assert [r["row"] for r in report["rows"]][:12] == [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14]


def test_recheck_fixes_one_row_of_a_finished_dry_run(
    sb: Sandbox, sample: Path, tmp_path: Path
) -> None:
    job = Job(options(sample, tmp_path), settings_for_sandbox(sb))
    job.run()
    assert statuses(job)[15] == "course_not_found" and statuses(job)[17] == "invalid"
    (fixed,) = job.recheck({15: {"Course Name": "Data Privacy Essentials"}})
    assert fixed.row == 15 and fixed.status.value == "would_complete"
    assert statuses(job)[15] == "would_complete"
    assert job.recheck(exclude=[17]) == []
    assert 17 not in statuses(job)
    summary = job.outcome.summary  # type: ignore[union-attr]
    assert summary.counts["would_complete"] == 30 and summary.rows == 38
    assert {e["row"] for e in summary.edits} == {"15", "17"}
    with pytest.raises(Exception, match="No row 99"):
        job.recheck({99: {"Course Name": "x"}})
    assert sb.books()["grades"] == []


def test_export_writes_the_kept_rows_in_another_format(
    sb: Sandbox, sample: Path, tmp_path: Path
) -> None:
    job = Job(options(sample, tmp_path), settings_for_sandbox(sb))
    job.run()
    paths = job.export(tmp_path / "again.csv")
    assert paths.report == tmp_path / "again.csv"
    lines = (tmp_path / "again.csv").read_text(encoding="utf-8-sig").splitlines()
    assert len(lines) == 1 + len(SAMPLE_ROWS)
    assert paths.failed is not None and paths.failed.exists()


def test_an_unattended_live_run_writes_while_learners_are_still_being_read(
    sb: Sandbox, sample: Path, tmp_path: Path
) -> None:
    sb.configure(latency_ms=(20.0, 40.0))
    # Two requests in flight at most: 26 learner reads take ~0.4 s, a learner's first write
    # answers after ~0.06 s.
    job = Job(options(sample, tmp_path, dry_run=False, concurrency=2), settings_for_sandbox(sb))
    seen = Recorder()
    job.subscribe(seen)
    outcome = job.run()
    events = seen.events
    first_write = next(i for i, e in enumerate(events) if isinstance(e, WriteProgress))
    reads = [
        i
        for i, e in enumerate(events)
        if isinstance(e, StageProgress) and e.stage == "learner state"
    ]
    assert reads and first_write < reads[-1]  # writing began before the last read answered
    assert outcome.summary.counts["completed"] == 29
    books = sb.books()
    assert len(books["grades"]) == SAMPLE_GRADES and books["double_grades"] == 0
    assert outcome.summary.actual_seconds is not None and outcome.summary.estimate_seconds
    assert "learner reads" in outcome.summary.estimate_basis


def test_a_confirmed_live_run_writes_nothing_before_the_question_and_estimates_the_writes(
    sb: Sandbox, sample: Path, tmp_path: Path
) -> None:
    seen = Recorder()
    asked: list[float | None] = []

    def confirm(summary: RunSummary) -> bool:
        asked.append(summary.estimate_seconds)
        return True

    job = Job(options(sample, tmp_path, dry_run=False), settings_for_sandbox(sb), confirm=confirm)
    job.subscribe(seen)
    outcome = job.run()
    question = next(i for i, e in enumerate(seen.events) if isinstance(e, ConfirmationNeeded))
    assert not any(isinstance(e, WriteProgress) for e in seen.events[:question])
    # The writes left to make, at the pace the client keeps (a little under ALM's grant), plus
    # the last learner's chain of round trips; no more than that.
    at_the_limit = 87 * 60.0 / settings_for_sandbox(sb).post_per_minute
    (estimate,) = asked
    assert estimate is not None and at_the_limit <= estimate <= at_the_limit / 0.97 + 1.0
    # A front end never sees the write stage without the confirmed totals and their time.
    writing = next(
        i for i, e in enumerate(seen.events) if isinstance(e, StageStarted) and e.stage == "execute"
    )
    first = next(e for e in seen.events if isinstance(e, WriteProgress))
    assert seen.events.index(first) < writing
    assert (first.writes_total, first.writes_done) == (87, 0)
    assert first.eta_seconds is not None and first.eta_seconds >= at_the_limit
    assert outcome.summary.counts["completed"] == 29


def test_the_reports_course_chart_names_the_courses_alm_holds(
    sb: Sandbox, sample: Path, tmp_path: Path
) -> None:
    job = Job(options(sample, tmp_path, report=tmp_path / "out.xlsx"), settings_for_sandbox(sb))
    job.run()
    assert job.course_names["course:7968486"] == "Fire Safety 2025"
    with zipfile.ZipFile(tmp_path / "out.xlsx") as zf:
        chart = zf.read("xl/charts/chart2.xml")
    assert b"Top courses by rows that would complete" in chart
    summary = openpyxl.load_workbook(tmp_path / "out.xlsx")["Summary"]
    labels = {str(c.value) for row in summary.iter_rows() for c in row if c.value}
    assert "Fire Safety 2025 (course:7968486)" in labels
