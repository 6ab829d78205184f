"""The one job model both front ends hold: the edit log, writes per row as numbers, the rows
kept on disk and read a page at a time, the JSON report read back, the row cap, and a job read
back from its folder (after a restart, or after its process died)."""

from __future__ import annotations

import gc
import json
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from batch.demo import settings_for_sandbox
from batch.errors import InputError
from batch.jobs import EditLog, Job, JobOptions, JobState
from batch.jobs.record import RECORD_FILE
from batch.jobs.results import STATUS_ORDER, ResultStore
from batch.models import RowResult, RowStatus, RunSummary
from batch.reporting import write_reports
from batch.reporting.json_report import read_json_report
from batch.sandbox import Sandbox
from batch.settings import Settings
from batch.web.app import WebConfig, create_app


def test_the_edit_log_keeps_the_files_value_as_old() -> None:
    log = EditLog()
    log.change(4, "Course", "Fire Safty", "Fire Safety")
    log.change(4, "Course", "Fire Safety", "Fire Safety 2025")  # edited again: old stays
    log.change(6, "Date", "31/02/2025", "2025-02-28")
    log.change(6, "Date", "2025-02-28", "31/02/2025")  # back to the file's value: no edit
    log.exclude(9)
    assert [(e.row, e.column, e.old, e.new) for e in log.entries()] == [
        (4, "Course", "Fire Safty", "Fire Safety 2025")
    ]
    assert log.cells() == {4: {"Course": "Fire Safety 2025"}}
    assert log.for_report() == [
        {"row": "4", "column": "Course", "old": "Fire Safty", "new": "Fire Safety 2025"},
        {"row": "9", "column": "", "old": "", "new": "(row excluded)"},
    ]


def test_each_row_carries_its_writes_as_numbers(sb: Sandbox, sample: Path, tmp_path: Path) -> None:
    settings = settings_for_sandbox(sb)
    dry = Job(
        JobOptions(path=sample, dry_run=True, keep_results=True, state_dir=tmp_path / "s"),
        settings,
    )
    planned = dry.run().summary.writes_planned
    would = [r for r in dry.results if r.status is RowStatus.WOULD_COMPLETE]
    assert planned == 87 and sum(r.writes_planned for r in would) == planned
    assert all(
        r.writes_planned == 0 for r in dry.results if r.status is not RowStatus.WOULD_COMPLETE
    )
    assert {r.writes_planned for r in would} >= {2, 3}  # grades, with an enrollment or not

    live = Job(
        JobOptions(path=sample, dry_run=False, keep_results=True, state_dir=tmp_path / "s"),
        settings,
    )
    outcome = live.run()
    done = [r for r in live.results if r.status is RowStatus.COMPLETED]
    assert sum(r.writes_made for r in done) == outcome.summary.writes_made == planned
    assert all(r.writes_made == r.writes_planned for r in done)


def result(row: int, status: RowStatus, email: str, course: str, message: str) -> RowResult:
    values = {"Email": email, "Course": course}
    return RowResult(row, values, status, message, planned_grades=2 if status.ok else 0)


def test_the_row_store_filters_searches_sorts_and_pages(tmp_path: Path) -> None:
    store = ResultStore(tmp_path / "rows.sqlite3", {"email": "Email", "course": "Course"})
    rows = [
        result(2, RowStatus.WOULD_COMPLETE, "b@x.example", "Fire Safety", "Would grade"),
        result(3, RowStatus.COURSE_NOT_FOUND, "a@x.example", "Fire Safty", "No course"),
        result(4, RowStatus.INVALID, "c@x.example", "Data Privacy", "Bad date"),
        result(5, RowStatus.WOULD_COMPLETE, "d@x.example", "Fire Safty", "Would grade"),
    ]
    with store.bulk():
        store.put(rows)
    store.exclude(5)

    def listed(**query: object) -> list[int]:
        return [found.result.row for found in store.query(**query)[1]]  # type: ignore[arg-type]

    assert store.counts() == {
        "would_complete": 1,
        "course_not_found": 1,
        "invalid": 1,
        "excluded": 1,
    }
    assert listed(status="problems") == [3, 4] and listed(status="excluded") == [5]
    assert listed(sort="email") == [3, 2, 4, 5] and listed(sort="course", desc=True) == [5, 3, 2, 4]
    # statuses in the product's order (RowStatus), the excluded rows last
    assert listed(sort="status") == sorted(
        [2, 3, 4, 5],
        key=lambda n: STATUS_ORDER.index(store.get(n).status),  # type: ignore[union-attr]
    )
    assert listed(text="FIRE SAFTY") == [3, 5] and listed(text="would") == [2, 5]
    assert store.query(limit=2, offset=2) == (4, [store.get(4), store.get(5)])
    assert store.writes_planned() == 2  # the excluded row's writes are not planned
    assert store.rows_with({"Course": "Fire Safty"}) == [3]
    assert store.rows_with({"Course": "Fire Safty"}, excluded=True) == [3, 5]
    assert store.finished_rows() == {2, 3, 4, 5}  # ended well, or a person's to fix
    store.close()
    assert len(ResultStore(tmp_path / "rows.sqlite3")) == 4  # opened again, fields kept


def test_a_json_report_reads_back_as_the_models(tmp_path: Path) -> None:
    summary = RunSummary(
        run_id="r1", command="run", dry_run=False, input_path="/x/hr.csv", input_sha256="ab",
        alm_host="alm.example", started_at=datetime(2026, 1, 1, tzinfo=UTC), writes_made=3,
        edits=[{"row": "3", "column": "Course", "old": "Fire Safty", "new": "Fire Safety"},
               {"row": "9", "column": "", "old": "", "new": "(row excluded)"}],
    )  # fmt: skip
    rows = [
        RowResult(2, {"Email": "a@x.example", "Course": "Fire Safety"}, RowStatus.COMPLETED,
                  "Posted 2 module grades.", "u1", "course:1", "course:1_1", ["m1", "m2"],
                  "grade 2 modules", "2025-03-03T00:00:00.000Z", "91", attempts=2,
                  posted_at="2026-01-01T00:00:01Z"),
        RowResult(3, {"Email": "b@x.example", "Course": "Fire Safety"}, RowStatus.FAILED,
                  "ALM refused", retryable=False),
    ]  # fmt: skip
    write_reports(
        iter(rows), columns=["Email", "Course"], summary=summary, input_path=tmp_path / "hr.csv",
        input_format="csv", explicit=tmp_path / "r.json", live=True,
    )  # fmt: skip
    report = read_json_report(tmp_path / "r.json")
    assert report.summary is not None and report.summary.run_id == "r1"
    assert report.summary.writes_made == 3 and report.summary.counts["completed"] == 1
    assert report.columns == ["Email", "Course"] and report.edits == summary.edits
    back = list(report.rows())
    assert [(r.row, r.status, r.values, r.module_ids, r.attempts) for r in back] == [
        (r.row, r.status, r.values, r.module_ids, r.attempts) for r in rows
    ]
    assert back[0].posted_at == "2026-01-01T00:00:01Z" and back[0].score == "91"
    (tmp_path / "other.json").write_text(json.dumps({"rows": []}), encoding="utf-8")
    with pytest.raises(InputError, match="not an alm-batch JSON report"):
        read_json_report(tmp_path / "other.json")


def test_rows_past_the_cap_stop_the_job_before_any_lookup(sample: Path, tmp_path: Path) -> None:
    job = Job(JobOptions(path=sample, offline=True, max_rows=10, report=tmp_path / "r.csv"))
    with pytest.raises(InputError) as refused:
        job.run()
    assert "completions.csv has more than 10 data rows" in str(refused.value)
    assert "Split it into files of up to 10 rows (each with the header row)" in str(refused.value)
    assert refused.value.exit_status == 2


def test_the_page_refuses_an_upload_past_its_row_cap(tmp_path: Path) -> None:
    from starlette.testclient import TestClient

    from tests.web_support import ORIGIN, H

    app = create_app(
        WebConfig(state_dir=tmp_path, settings_factory=lambda: pytest.fail("no ALM"), max_rows=20)
    )
    sample = Path(__file__).parents[1] / "sample_data" / "completions.csv"
    with TestClient(app, base_url=ORIGIN) as c, sample.open("rb") as fh:
        r = c.post("/api/uploads", files={"file": ("march.csv", fh)}, headers=H)
    assert r.status_code == 413
    error = r.json()["error"]
    assert error.startswith("The file has 39 data rows; the page takes at most 20 per upload")
    assert "Split it into files of up to 20 rows, each with the header row" in error
    assert list((tmp_path / "web" / "uploads").iterdir()) == []  # nothing kept


def test_the_page_leaves_the_garbage_collector_alone(tmp_path: Path) -> None:
    before = gc.get_threshold()
    create_app(WebConfig(state_dir=tmp_path, settings_factory=Settings))
    assert gc.get_threshold() == before


def test_a_job_reads_back_from_its_folder(sb: Sandbox, sample: Path, tmp_path: Path) -> None:
    folder = tmp_path / "job"
    folder.mkdir()
    options = JobOptions(
        path=sample, dry_run=True, keep_results=True, folder=folder, state_dir=tmp_path / "s",
        report=folder / "report.json", edits={15: {"Course Name": "Data Privacy Essentials"}},
        exclude=frozenset({13}),
    )  # fmt: skip
    ran = Job(options, settings_for_sandbox(sb))
    ran.run()
    back = Job.load(folder)
    assert back is not None and back.restored and back.state is JobState.DONE
    assert back.summary is not None and back.summary.run_id == ran.run_id
    assert back.outcome is not None and back.outcome.exit_status == ran.outcome.exit_status  # type: ignore[union-attr]
    assert back.edits.for_report() == ran.edits.for_report()
    assert back.rows is not None and back.rows.counts() == ran.rows.counts()  # type: ignore[union-attr]
    assert back.rows.get(13).excluded  # type: ignore[union-attr]
    assert back.export(tmp_path / "again.csv").report.exists()

    # A record that says "running" while no process runs it: the process died.
    record = json.loads((folder / RECORD_FILE).read_text(encoding="utf-8"))
    record["state"] = "running"
    (folder / RECORD_FILE).write_text(json.dumps(record), encoding="utf-8")
    died = Job.load(folder)
    assert died is not None and died.state is JobState.INTERRUPTED


def test_a_job_seen_as_ended_has_already_recorded_its_end(
    sb: Sandbox, sample: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A front end that sees a job end reads its finished record at once: the record is
    written before the job shows itself ended, even when the disk is slow."""
    import batch.jobs.engine as engine

    folder = tmp_path / "job"
    folder.mkdir()
    job = Job(
        JobOptions(path=sample, keep_results=True, folder=folder, state_dir=tmp_path / "s"),
        settings_for_sandbox(sb),
    )
    seen: list[tuple[str, str]] = []

    def slow_save(where: Path, record: object) -> None:
        time.sleep(0.05)  # the disk is slow; the job's state must not run ahead of it
        real_save(where, record)
        seen.append((job.state.value, json.loads((where / RECORD_FILE).read_text())["state"]))

    real_save = engine.save_record
    monkeypatch.setattr(engine, "save_record", slow_save)
    job.start()
    while not job.done:
        time.sleep(0.005)
    on_disk = json.loads((folder / RECORD_FILE).read_text(encoding="utf-8"))
    assert job.state is JobState.DONE and on_disk["state"] == "done"
    assert on_disk["summary"] is not None and on_disk["ended_at"]
    # Every save but the last was made while running; the last one wrote "done" before the
    # job itself said so.
    assert seen[-1] == ("running", "done") and all(s == "running" for _, s in seen[:-1])
