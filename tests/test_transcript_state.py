"""Learner state from ALM's Learner Transcript job (``--state-source``), through the CLI
in-process and the job engine against the sandbox and its profiles.

What is proved: a dry run that reads learner state from one transcript job reports exactly the
rows (status, message, writes) of one that reads each learner, on the sample and on a larger
generated account with programs and certifications, whatever form ``Training ID`` and
``Module ID`` take, with columns renamed, in another report time zone and in the 2026 job
shape; every refusal or surprise (no such job, the quota, a failed or late job) falls back to
per-learner reads with one warning; the snapshot is kept and reused, its age shown; a snapshot
older than a write is not trusted for that learner; a live run reads every learner and notes
what changed since the dry run.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from batch.alm.payloads import derive_course_module_id
from batch.demo import settings_for_sandbox
from batch.jobs import (
    Job,
    JobOptions,
    RowsPlanned,
    StageProgress,
    StateStatus,
    WriteProgress,
)
from batch.models import RunSummary
from batch.sandbox import Sandbox, SandboxConfig, load_seed
from batch.snapshot import SnapshotStore
from tests.e2e_support import SAMPLE_CSV, SAMPLE_DIR, TIME_SCALE, CliRun, SandboxCli
from tests.test_sandbox_support import Api, grade_body
from tests.transcript_world import mixed_world

pytestmark = pytest.mark.timeout(120)

TRANSCRIPT = "generateLearnerTranscript"
READS = "GET /users/{id}/enrollments"
COMPARED = ("status", "message", "user_id", "course_id", "instance_id", "module_ids",
            "date_completed", "score", "action")  # fmt: skip


def start(seed: Any = None, **config: Any) -> Sandbox:
    values: dict[str, Any] = {"time_scale": TIME_SCALE, **config}
    return Sandbox(seed=seed or load_seed(SAMPLE_DIR), config=SandboxConfig(**values)).start()


class Cli(SandboxCli):
    """The command line on a sandbox, with the sample in the test's folder (reports written
    beside it stay out of the repository) and the JSON reports it wrote."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
        super().__init__(monkeypatch, folder)
        self.sample = str(shutil.copyfile(SAMPLE_CSV, folder / "completions.csv"))

    def report(self, name: str) -> dict[str, Any]:
        return dict(json.loads((self.folder / name).read_text(encoding="utf-8")))


@pytest.fixture()
def cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Cli:
    return Cli(monkeypatch, tmp_path)


def rows_of(report: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {r["row"]: {k: r[k] for k in COMPARED} for r in report["rows"]}


def jobs_of(sb: Sandbox) -> dict[str, int]:
    return dict(sb.books().get("jobs_submitted", {}))


def transcript_payloads(sb: Sandbox) -> list[dict[str, Any]]:
    out, number = [], 4200001
    while (job := sb.jobs.get(str(number))) is not None:
        if job.job_type == TRANSCRIPT:
            out.append(dict(job.payload))
        number += 1
    return out


def dry_runs(cli: Cli, sb: Sandbox, path: Path | str) -> tuple[Any, Any, CliRun]:
    """(per-learner report, transcript report, the transcript run) of two dry runs of
    ``path``, each with a fresh state directory."""
    reports, runs = [], []
    for mode in ("per-learner", "transcript"):
        run = cli(sb, "validate", str(path), "--state-source", mode, "--report",
                  f"{mode}.json", state=f"state-{mode}")  # fmt: skip
        assert run.code in (0, 1), run
        reports.append(cli.report(f"{mode}.json"))
        runs.append(run)
    return reports[0], reports[1], runs[1]


# --------------------------------------------------------------------------- same rows
@pytest.mark.parametrize(
    "profile",
    ["default", "transcript-bare-ids", "transcript-enrollment-ids", "transcript-renamed",
     "report-timezone", "jobs-2026"],
)  # fmt: skip
def test_the_sample_dry_run_from_the_transcript_has_the_rows_of_one_read_per_learner(
    cli: Cli, profile: str
) -> None:
    sb = start(profile=profile)
    try:
        per_learner, from_transcript, _ = dry_runs(cli, sb, cli.sample)
        calls = sb.books()["calls"]
    finally:
        sb.stop()
    assert rows_of(from_transcript) == rows_of(per_learner)
    assert len(per_learner["rows"]) == 39
    summary = from_transcript["summary"]
    assert summary["learner_state"].startswith("ALM's learner transcript (job ")
    assert "for 28 of 28 learners" in summary["learner_state"]  # none read one by one
    assert summary["learner_state_as_of"]
    assert per_learner["summary"]["learner_state"].startswith("read one learner at a time")
    assert calls[READS] == per_learner["summary"]["api_calls"][READS]  # only the first run read
    assert READS not in from_transcript["summary"]["api_calls"]
    # the estimate of the live run still counts a read per learner (a live run reads them all)
    assert from_transcript["summary"]["estimate_basis"] == per_learner["summary"]["estimate_basis"]


@pytest.mark.parametrize("profile", ["default", "transcript-enrollment-ids", "transcript-bare-ids"])
def test_a_larger_account_with_programs_and_certifications_gives_the_same_rows(
    cli: Cli, tmp_path: Path, profile: str
) -> None:
    seed, path = mixed_world(tmp_path)
    sb = start(seed, profile=profile)
    try:
        per_learner, from_transcript, _ = dry_runs(cli, sb, path)
        payloads = transcript_payloads(sb)
    finally:
        sb.stop()
    rows = rows_of(per_learner)
    assert rows_of(from_transcript) == rows
    statuses = {r["status"] for r in rows.values()}
    assert {"would_complete", "already_completed", "duplicate", "rejected"} <= statuses
    assert any(r["course_id"].startswith("learningProgram:") for r in rows.values())
    assert any(r["course_id"].startswith("certification:17") for r in rows.values())
    # One job for the file's learners only (internal ids), module details on, 5 years at most.
    (payload,) = payloads
    learners = {r["user_id"] for r in rows.values() if r["status"] in
                ("would_complete", "already_completed") and r["user_id"]}  # fmt: skip
    assert learners <= set(payload["users"].split(","))
    assert len(payload["users"].split(",")) < len(seed["users"])
    assert payload["includeModuleLevelDetails"] == "true"
    start_day, end_day = (payload[k][:10] for k in ("fromDate", "toDate"))
    assert start_day <= "2024-01-07"  # the Fire Warden Certification's first recurrence
    assert int(end_day[:4]) - int(start_day[:4]) <= 5


def test_enrollment_ids_read_the_learners_it_cannot_tell_apart_one_by_one(
    cli: Cli, tmp_path: Path
) -> None:
    """With a number per enrollment, only names say which learning object a row is: two
    recurrences of one certification (and two courses named "Safety Basics") cannot be told
    apart, so the learners who have them are read one by one; the others come from the file."""
    seed, path = mixed_world(tmp_path)
    sb = start(seed, profile="transcript-enrollment-ids")
    try:
        run = cli(sb, "validate", str(path), "--state-source", "transcript", "--report", "r.json")
    finally:
        sb.stop()
    summary = cli.report("r.json")["summary"]
    assert "read one by one" in summary["learner_state"]
    assert "names 2 learning objects" in run.stderr
    assert 0 < summary["api_calls"][READS] < 112


# --------------------------------------------------------------------------- fallbacks
@pytest.mark.parametrize(
    "profile, changes, why",
    [
        ("no-transcript-job", {}, "not enabled for this account"),
        ("default", {"jobs_fail": True}, "learner transcript job failed"),
        ("default", {"transcript_delay": 10**7}, "learner transcript job timed out"),
        ("default", {"job_types_refused": TRANSCRIPT, "job_quota_status": 403}, "HTTP 400"),
    ],
)
def test_a_refused_failed_or_late_job_falls_back_with_one_warning_and_the_same_rows(
    cli: Cli, profile: str, changes: dict[str, Any], why: str
) -> None:
    sb = start(profile=profile, **changes)
    try:
        per_learner, fallback, run = dry_runs(cli, sb, cli.sample)
    finally:
        sb.stop()
    assert rows_of(fallback) == rows_of(per_learner)
    assert fallback["summary"]["api_calls"][READS] == per_learner["summary"]["api_calls"][READS]
    assert why in fallback["summary"]["learner_state"]
    warnings = [line for line in run.stderr.splitlines() if line.startswith("warning: ")]
    assert len([w for w in warnings if "learner transcript" in w]) == 1, warnings
    assert why in run.stderr


def test_the_daily_quota_used_up_falls_back_at_once_even_when_alm_says_come_back_tomorrow(
    cli: Cli,
) -> None:
    """job-quota-429: a job over the quota answers 429 with a retry-after of up to a day; it is
    not waited out (nor is anything else held up): per-learner reads, rows identical."""
    sb = start(profile="job-quota-429", jobs_per_day=2)
    try:
        api = Api(sb)  # another client used the day's transcript jobs
        for _ in range(2):
            body = {
                "data": {
                    "type": "job",
                    "attributes": {
                        "jobType": TRANSCRIPT,
                        "payload": {
                            "fromDate": "2025-01-01T00:00:00.000Z",
                            "toDate": "2025-02-01T00:00:00.000Z",
                        },
                    },
                }
            }
            assert api.post("/jobs", body).status_code == 200
            time.sleep(0.3)  # 60 sandbox seconds: the job is done, the next may start
        started = time.monotonic()
        per_learner, refused, run = dry_runs(cli, sb, cli.sample)
        took = time.monotonic() - started
        books = sb.books()
    finally:
        sb.stop()
    assert rows_of(refused) == rows_of(per_learner)
    assert books["jobs_refused"] == {TRANSCRIPT: 1}
    assert took < 20  # the retry-after (hours, in real time) was not waited for
    assert "HTTP 429" in refused["summary"]["learner_state"]
    assert run.stderr.count("Learner state was read one learner at a time") == 1
    assert refused["summary"]["api_calls"][READS] == per_learner["summary"]["api_calls"][READS]


def test_auto_skips_the_job_when_this_state_directory_used_the_days_quota(
    cli: Cli, sb: Sandbox
) -> None:
    store = SnapshotStore(cli.folder / "state", settings_for_sandbox(sb).host)
    for _ in range(5):
        store.submitted(store_now(), None)
    sb.configure(get_burst=5)  # so that 30 reads cost more than the (scaled) job
    run = cli(sb, "validate", cli.sample, "--report", "r.json",
              ALM_TRANSCRIPT_JOB_SECONDS="0.0001")  # fmt: skip
    assert run.code == 1, run
    assert jobs_of(sb).get(TRANSCRIPT) is None
    assert "5 learner transcript jobs were submitted" in run.stderr


def store_now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


# --------------------------------------------------------------------------- auto, the flag
def test_auto_reads_a_few_learners_one_by_one_and_many_from_the_transcript(
    cli: Cli, sb: Sandbox
) -> None:
    few = cli(sb, "validate", cli.sample, "--report", "few.json", state="s1")
    assert few.code == 1, few
    assert jobs_of(sb).get(TRANSCRIPT) is None  # 30 reads fit in the burst: no job
    assert (
        "take about 0 s at the read allowance" in cli.report("few.json")["summary"]["learner_state"]
    )
    # The same reads where they cost more than the (scaled) job is expected to take.
    sb.configure(get_burst=5)
    many = cli(sb, "validate", cli.sample, "--report", "many.json", state="s2",
               ALM_TRANSCRIPT_JOB_SECONDS="0.0001")  # fmt: skip
    assert many.code == 1, many
    assert jobs_of(sb).get(TRANSCRIPT) == 1
    assert rows_of(cli.report("many.json")) == rows_of(cli.report("few.json"))


def test_per_learner_never_submits_a_job_and_a_wrong_value_is_a_usage_error(
    cli: Cli, sb: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    run = cli(sb, "validate", cli.sample, "--state-source", "per-learner")
    assert run.code == 1 and jobs_of(sb).get(TRANSCRIPT) is None
    bad = cli(sb, "validate", cli.sample, "--state-source", "sometimes")
    assert bad.code == 2
    assert "--state-source: invalid choice: 'sometimes'" in capsys.readouterr().err


# --------------------------------------------------------------------------- kept, reused
def test_the_snapshot_is_kept_and_reused_by_later_dry_runs_with_its_age_shown(
    cli: Cli, sb: Sandbox
) -> None:
    first = cli(sb, "validate", cli.sample, "--state-source", "transcript",
                "--report", "first.json")  # fmt: skip
    second = cli(sb, "validate", cli.sample, "--state-source", "transcript",
                 "--report", "second.json")  # fmt: skip
    assert jobs_of(sb)[TRANSCRIPT] == 1  # the second run took none
    a, b = cli.report("first.json")["summary"], cli.report("second.json")["summary"]
    assert b["learner_state_as_of"] == a["learner_state_as_of"]
    assert "kept from an earlier dry run" in b["learner_state"]
    assert rows_of(cli.report("second.json")) == rows_of(cli.report("first.json"))
    assert "learner state as of " in first.stderr and "learner state as of " in second.stderr
    # ... and in the XLSX report's Summary sheet
    cli(sb, "validate", cli.sample, "--state-source", "transcript", "--report", "r.xlsx")
    sheet = openpyxl.load_workbook(cli.folder / "r.xlsx", read_only=True)["Summary"]
    shown = {r[0]: r[1] for r in sheet.iter_rows(values_only=True) if r and r[0]}
    assert "kept from an earlier dry run" in shown["Learner state"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", shown["Learner state as of"])
    # --refresh-cache takes a new one; --cache-ttl 0 keeps none for reuse
    cli(sb, "validate", cli.sample, "--state-source", "transcript", "--refresh-cache")
    cli(sb, "validate", cli.sample, "--state-source", "transcript", "--cache-ttl", "0")
    assert jobs_of(sb)[TRANSCRIPT] == 3
    kept = list((cli.folder / "state" / "transcripts").glob("*.csv.gz"))
    assert kept and all(p.stat().st_mode & 0o077 == 0 for p in kept)


def test_a_dry_run_of_fewer_learners_reuses_the_snapshot_of_more(cli: Cli, sb: Sandbox) -> None:
    cli(sb, "validate", cli.sample, "--state-source", "transcript")
    lines = SAMPLE_CSV.read_text(encoding="utf-8").splitlines()
    (cli.folder / "part.csv").write_text("\n".join(lines[:12]) + "\n", encoding="utf-8")
    part = cli(sb, "validate", "part.csv", "--state-source", "transcript", "--report", "p.json")
    assert part.code in (0, 1), part
    assert jobs_of(sb)[TRANSCRIPT] == 1
    assert "kept from an earlier dry run" in cli.report("p.json")["summary"]["learner_state"]


# --------------------------------------------------------------------------- older than a write
def test_learners_written_since_the_snapshot_are_read_one_by_one(cli: Cli, sb: Sandbox) -> None:
    """A dry run keeps a snapshot; a live run then writes; the next dry run reuses the snapshot
    but reads the learners the ledger wrote for since it: its rows are those of a per-learner
    dry run (already completed), not the snapshot's (would complete)."""
    cli(sb, "validate", cli.sample, "--state-source", "transcript")
    live = cli(sb, "run", cli.sample, "--yes", "--report", "live.json")
    assert live.code == 1, live
    after = cli(sb, "validate", cli.sample, "--state-source", "transcript",
                "--report", "after.json")  # fmt: skip
    check = cli(sb, "validate", cli.sample, "--state-source", "per-learner",
                "--report", "check.json")  # fmt: skip
    assert after.code == check.code
    assert jobs_of(sb)[TRANSCRIPT] == 1  # reused...
    assert rows_of(cli.report("after.json")) == rows_of(cli.report("check.json"))
    assert "alm-batch wrote for them since the transcript" in after.stderr  # ...not trusted


def test_a_transcript_that_lags_a_write_is_not_trusted_for_that_learner(cli: Cli) -> None:
    """transcript-lag: the file shows the account 15 minutes before the job. Writes of a live
    run just before a new job are missing from it; those learners are read one by one."""
    sb = start(profile="transcript-lag")
    try:
        cli(sb, "run", cli.sample, "--yes")
        fresh = cli(sb, "validate", cli.sample, "--state-source", "transcript",
                    "--report", "fresh.json")  # fmt: skip
        check = cli(sb, "validate", cli.sample, "--state-source", "per-learner",
                    "--report", "check.json")  # fmt: skip
        assert jobs_of(sb)[TRANSCRIPT] == 1
    finally:
        sb.stop()
    assert fresh.code == check.code
    assert rows_of(cli.report("fresh.json")) == rows_of(cli.report("check.json"))
    statuses = {r["status"] for r in cli.report("fresh.json")["rows"]}
    assert "would_complete" not in statuses  # everything was written: none to do again


# --------------------------------------------------------------------------- the live run
def test_a_live_run_reads_every_learner_and_says_what_changed_since_the_dry_run(
    cli: Cli, sb: Sandbox
) -> None:
    dry = cli(sb, "validate", cli.sample, "--state-source", "transcript",
              "--report", "dry.json")  # fmt: skip
    assert dry.code == 1, dry
    rows = rows_of(cli.report("dry.json"))
    maria, james = rows[2], rows[3]  # both "Would enroll ... in 'Fire Safety 2025'"
    assert maria["status"] == james["status"] == "would_complete"
    # Between the dry run and the live run, in ALM: Maria completes the course, James is
    # enrolled in it.
    api = Api(sb)
    for learner in (maria, james):
        api.enroll(learner["user_id"], learner["course_id"], learner["instance_id"])
    for module in maria["module_ids"]:
        body = grade_body(maria["user_id"], maria["course_id"].split(":")[1],
                          derive_course_module_id(module))  # fmt: skip
        assert api.grade(maria["user_id"], body).status_code < 300
    before = sb.books()["calls"].get(READS, 0)
    live = cli(sb, "run", cli.sample, "--yes", "--report", "live.json")
    assert live.code == 1, live
    assert sb.books()["calls"][READS] - before >= 28  # every learner read, none from the file
    rows = rows_of(cli.report("live.json"))
    assert rows[2]["status"] == "already_completed"
    assert "Note: completed in ALM since the dry run (learner state as of " in rows[2]["message"]
    assert rows[3]["status"] == "completed"  # its grades posted, no enrollment needed
    assert rows[3]["message"].startswith("Posted 2 module grades.")
    assert "Note: enrolled in ALM since the dry run" in rows[3]["message"]
    assert sum("since the dry run" in r["message"] for r in rows.values()) == 2


def test_a_run_a_person_confirms_asks_on_the_transcript_then_reads_each_learner_beside_writes(
    sb: Sandbox, tmp_path: Path
) -> None:
    """``alm-batch run`` on a terminal: the plan it asks about comes from the transcript (no
    learner read before the question); once confirmed, every learner it writes for is read
    live beside the writes, and a learner ALM changed meanwhile gets only what the person
    confirmed (nothing for a course completed since, no enrollment that already exists)."""
    asked: list[tuple[str, int]] = []

    def confirm(summary: RunSummary) -> bool:
        asked.append((summary.learner_state, sb.books()["calls"].get(READS, 0)))
        # While the person reads the plan, in ALM: Maria completes the course, James is
        # enrolled in it.
        api = Api(sb)
        for row in (2, 3):
            api.enroll(*planned[row][:3])
        for module in planned[2][3]:
            body = grade_body(planned[2][0], planned[2][1].split(":")[1],
                              derive_course_module_id(module))  # fmt: skip
            assert api.grade(planned[2][0], body).status_code < 300
        return True

    events: list[Any] = []
    planned: dict[int, tuple[str, str, str, list[str]]] = {}

    def seen(event: Any) -> None:
        events.append(event)
        if isinstance(event, RowsPlanned):
            for r in event.results:
                if r.row in (2, 3):
                    planned[r.row] = (r.user_id, r.course_id, r.instance_id, list(r.module_ids))

    job = Job(
        JobOptions(
            path=SAMPLE_CSV,
            dry_run=False,
            state_dir=tmp_path,
            state_source="transcript",
            report=tmp_path / "live.json",
            keep_results=True,
        ),  # fmt: skip
        settings_for_sandbox(sb),
        confirm=confirm,
    )
    job.subscribe(seen)
    outcome = job.run()
    ((learner_state, reads_before),) = asked
    assert learner_state.startswith("ALM's learner transcript")
    assert reads_before <= 2  # program enrollments at most; no learner read one by one
    assert sb.books()["calls"][READS] - reads_before >= 28  # each learner read, live
    first_write = next(i for i, e in enumerate(events) if isinstance(e, WriteProgress))
    reads = [i for i, e in enumerate(events)
             if isinstance(e, StageProgress) and e.stage == "learner state"]  # fmt: skip
    assert first_write < reads[-1]  # writing began before the last learner was read
    rows = {r.row: r for r in job.results}
    assert rows[2].status.value == "already_completed"
    assert "completed in ALM since the dry run" in rows[2].message
    assert rows[3].status.value == "completed"
    assert rows[3].message.startswith("Posted 2 module grades.")
    books = sb.books()
    assert books["double_grades"] == 0 and len(books["grades"]) == 62
    # The confirmed writes less what ALM already had: Maria's enrollment and 2 grades, James's
    # enrollment.
    assert outcome.summary.writes_planned == 87 and outcome.summary.writes_made == 83


# --------------------------------------------------------------------------- events
def test_a_dry_run_shows_rows_decided_without_state_first_then_each_learners(
    sb: Sandbox, tmp_path: Path
) -> None:
    events: list[Any] = []
    job = Job(
        JobOptions(
            path=SAMPLE_CSV,
            dry_run=True,
            state_dir=tmp_path,
            report=tmp_path / "r.json",
            keep_results=True,
            state_source="transcript",
        ),  # fmt: skip
        settings_for_sandbox(sb),
    )
    job.subscribe(events.append)
    job.run()
    planned = [e for e in events if isinstance(e, RowsPlanned)]
    first = planned[0]
    assert {r.status.value for r in first.results} >= {"invalid", "user_not_found", "duplicate"}
    assert first.rows_waiting == 39 - len(first.results)
    waiting = [e for e in events if isinstance(e, StateStatus) and e.source == "transcript"]
    assert events.index(first) < events.index(waiting[0])
    assert waiting[0].message.startswith("waiting for ALM's learner transcript job ")
    assert waiting[0].eta_seconds is not None
    done = [e for e in waiting if e.as_of is not None]
    assert done and done[-1].message.startswith("learner state as of ")
    assert planned[-1].rows_waiting == 0
    shown = {r.row: (r.status, r.message) for e in planned for r in e.results}
    assert shown == {r.row: (r.status, r.message) for r in job.results}


# --------------------------------------------------------------------------- the window
def test_enrollments_older_than_five_years_are_read_in_two_windows(
    cli: Cli, tmp_path: Path
) -> None:
    seed = load_seed(SAMPLE_DIR)
    for lo in seed["learningObjects"]:
        if lo["id"] == "course:7968501":  # Data Privacy Essentials, in the file
            lo["dateCreated"] = "2019-06-03T09:00:00.000Z"
    sb = start(seed)
    try:
        per_learner, split, _ = dry_runs(cli, sb, cli.sample)
        payloads = transcript_payloads(sb)
    finally:
        sb.stop()
    assert rows_of(split) == rows_of(per_learner)
    assert len(payloads) == 2
    assert payloads[0]["fromDate"][:10] <= "2019-06-02"
    assert re.search(r"learner transcript \(job \d+, \d+\)", split["summary"]["learner_state"])


def test_a_window_that_needs_more_than_three_jobs_falls_back(cli: Cli) -> None:
    seed = load_seed(SAMPLE_DIR)
    for lo in seed["learningObjects"]:
        if lo["id"] == "course:7968501":
            lo["dateCreated"] = "2008-06-03T09:00:00.000Z"
    sb = start(seed)
    try:
        run = cli(sb, "validate", cli.sample, "--state-source", "transcript")
        assert jobs_of(sb).get(TRANSCRIPT) is None
    finally:
        sb.stop()
    assert run.code == 1
    assert "needs 4 transcript jobs" in run.stderr


# --------------------------------------------------------------------------- polling
def test_the_users_export_and_the_transcript_poll_no_more_than_needed(
    cli: Cli, sb: Sandbox
) -> None:
    """Every poll is an admin GET out of the run's allowance. The users export (30 sandbox
    seconds) is polled as Adobe's client polls; the transcript (60 s here) first after a
    quarter of the time it is expected to take (ALM_TRANSCRIPT_JOB_SECONDS, 120 s), then at
    growing waits; the next one just before the last one was ready. Adobe's every 5 s would be
    6 and 12 polls. The progress says what the run waits for."""

    def polls() -> int:
        return int(sb.books()["calls"].get("GET /jobs/{id}", 0))

    users = cli(sb, "validate", cli.sample, "--user-lookup", "export",
                "--state-source", "per-learner")  # fmt: skip
    assert users.code == 1 and jobs_of(sb) == {"generateUsers": 1}, users
    assert "waiting for ALM's users export job" in users.stderr
    export_polls = polls()
    first = cli(sb, "validate", cli.sample, "--state-source", "transcript")
    assert first.code == 1 and jobs_of(sb)[TRANSCRIPT] == 1, first
    first_polls = polls() - export_polls
    assert "waiting for ALM's learner transcript job" in first.stderr
    index = cli.folder / "state" / "transcripts" / "index.json"
    kept = json.loads(index.read_text(encoding="utf-8"))
    for entry in kept.values():
        entry["snapshots"] = []  # forget the file, keep the job's time
    index.write_text(json.dumps(kept), encoding="utf-8")
    second = cli(sb, "validate", cli.sample, "--state-source", "transcript")
    assert second.code == 1 and jobs_of(sb)[TRANSCRIPT] == 2, second
    second_polls = polls() - export_polls - first_polls
    assert export_polls <= 7, export_polls
    assert first_polls <= 6, first_polls
    assert second_polls <= 2, second_polls


# --------------------------------------------------------------------------- a surprising file
class FileOf:
    """A transcript client that hands back a crafted file (what no sandbox profile serves)."""

    def __init__(self, content: bytes) -> None:
        self.content = content
        self.asked: list[list[str]] = []

    def learner_transcript(self, user_ids: Any, date_from: Any, date_to: Any, **_: Any) -> Any:
        from batch.alm.jobs import JobFile

        self.asked.append(list(user_ids))
        return JobFile("77", self.content, 1.0)


@pytest.mark.parametrize(
    "content, why",
    [
        (b"Email,Status,Training ID\r\nleah.cohen@acme-corp.example,Completed,course:1\r\n",
         "lacks the column(s) type, instance_name, module_id, completed"),
        (b"", "the file is empty"),
    ],
)  # fmt: skip
def test_a_file_without_the_columns_needed_falls_back_with_one_warning(
    sb: Sandbox, tmp_path: Path, content: bytes, why: str
) -> None:
    from batch.alm.api import AlmClient
    from batch.cache import LookupCache
    from batch.plan import PlanOptions, build_plan
    from batch.reader import open_table
    from batch.resolve import Resolver
    from batch.state_source import StateSource
    from batch.validate import ValidationOptions, check_rows

    settings = settings_for_sandbox(sb)

    def plan(source: StateSource | None) -> list[tuple[int, str, str]]:
        checked = list(check_rows(open_table(SAMPLE_CSV), ValidationOptions()))
        with AlmClient(settings) as client:
            resolver = Resolver(client, LookupCache(None, settings.base_url))
            got = build_plan(checked, resolver, PlanOptions(), state_source=source)
        return [(r.row, r.status.value, r.message) for r in got.rows]

    fake = FileOf(content)
    source = StateSource(fake, SnapshotStore(tmp_path, settings.host), mode="transcript")
    before = sb.books()["calls"].get(READS, 0)
    assert plan(source) == plan(None)
    assert len(fake.asked) == 1 and len(fake.asked[0]) == 28  # the file's learners only
    assert (sb.books()["calls"][READS] - before) == 2 * 30  # both plans read every learner
    (warning,) = source.warnings
    assert why in warning and warning.startswith("Learner state was read one learner at a time")
    assert source.source == "per-learner" and source.as_of is None
    assert not list(tmp_path.glob("transcripts/*.csv.gz"))  # an unusable file is not kept
