"""Sandbox: the Learner Transcript job over raw HTTP: both job shapes, the limits, the file.

The sandbox clock is a ``ManualClock``: a job's generation, a link's expiry and the report lag
move only when a test advances it, so nothing here sleeps.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from batch.sandbox import ManualClock, Sandbox, SandboxConfig, load_seed
from batch.sandbox.seed import default_seed_dir
from tests.test_sandbox_support import Api, grade_body, job_body, transcript_payload

SEED = load_seed(default_seed_dir())
TRANSCRIPT, USERS = "generateLearnerTranscript", "generateUsers"
LEAH, GABRIEL, SARAH, SAMUEL, PETER = "15263431", "15263432", "15263440", "15263422", "15263438"
BEN, LUCAS = "15263420", "15263410"
SCALE = 60.0  # sandbox seconds per real second, for the retry-after and expiresAt conversions


def start(profile: str = "default", **config: Any) -> tuple[Sandbox, ManualClock, Api]:
    clock = ManualClock(SCALE)
    cfg = SandboxConfig(time_scale=SCALE, limits_enabled=False, profile=profile, **config)
    sb = Sandbox(seed=SEED, config=cfg, clock=clock).start()
    return sb, clock, Api(sb)


@pytest.fixture()
def world() -> Iterator[tuple[Sandbox, ManualClock, Api]]:
    sb, clock, api = start()
    try:
        yield sb, clock, api
    finally:
        sb.stop()


def submit(api: Api, job_type: str = TRANSCRIPT, **fields: str) -> requests.Response:
    payload = transcript_payload(**fields) if job_type == TRANSCRIPT else {"expandMetadata": True}
    return api.post("/jobs", job_body(job_type, payload))


def job(api: Api, job_id: str) -> dict[str, Any]:
    resp = api.get(f"/jobs/{job_id}")
    assert resp.status_code == 200, resp.text
    return dict(resp.json()["data"]["attributes"])


def finished_file(api: Api, clock: ManualClock, **fields: str) -> list[dict[str, str]]:
    """Submit a transcript, let it finish, download it; the rows as dicts."""
    submitted = submit(api, **fields)
    assert submitted.status_code == 200, submitted.text
    clock.advance(api.sb.config.transcript_delay)
    url = job(api, submitted.json()["data"]["id"])["status"]["data"]["s3Url"]
    download = requests.get(url, timeout=5)
    assert download.status_code == 200
    return list(csv.DictReader(io.StringIO(download.content.decode("utf-8-sig"))))


def up_to_now() -> dict[str, str]:
    """A window that holds enrollments made by the test (dated now, wall clock)."""
    end = datetime.now(UTC) + timedelta(days=1)
    return {"fromDate": f"{end.year - 4}-01-01T00:00:00.000Z", "toDate": _iso(end)}


def _iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.000Z")


# --- the job and its two documented shapes ------------------------------------------------------
def test_classic_shape_moves_from_submitted_to_completed_with_an_s3_url(world: Any) -> None:
    sb, clock, api = world
    submitted = submit(api)
    assert submitted.status_code == 200
    data = submitted.json()["data"]
    assert data["type"] == "job" and data["attributes"]["status"] == {"code": "Submitted"}
    assert data["attributes"]["jobType"] == TRANSCRIPT
    clock.advance(30)  # half of transcript_delay (60)
    assert job(api, data["id"])["status"] == {"code": "In Progress"}
    early = requests.get(f"{sb.base_url}/_sandbox/downloads/{data['id']}.csv", timeout=5)
    assert early.status_code == 404
    clock.advance(30)
    done = job(api, data["id"])
    assert done["status"]["code"] == "Completed"
    url = done["status"]["data"]["s3Url"]
    assert url.startswith(f"{sb.base_url}/_sandbox/downloads/{data['id']}.csv?")
    assert "X-Amz-Signature=" in url and "url" not in done and "result" not in done
    download = requests.get(url, timeout=5)  # no Authorization, like S3
    assert download.status_code == 200 and download.headers["Content-Type"].startswith("text/csv")
    assert sb.books()["jobs_submitted"] == {TRANSCRIPT: 1}


def test_2026_shape_for_the_transcript_and_the_users_export() -> None:
    sb, clock, api = start("jobs-2026")
    with sb:
        for job_type, delay in ((TRANSCRIPT, 60.0), (USERS, 30.0)):
            job_id = submit(api, job_type).json()["data"]["id"]
            assert job(api, job_id)["status"] == "QUEUED"
            clock.advance(delay / 2)
            assert job(api, job_id)["status"] == "IN_PROGRESS"
            clock.advance(delay / 2)
            done = job(api, job_id)
            assert done["status"] == "COMPLETED"
            link, expires = done["result"]["downloadUrl"], done["result"]["expiresAt"]
            expiry = datetime.fromisoformat(expires.replace("Z", "+00:00"))
            # 6 sandbox hours at 60x: 6 real minutes from now
            assert timedelta(minutes=5) < expiry - datetime.now(UTC) < timedelta(minutes=7)
            body = requests.get(link, timeout=5).text
            assert body.startswith("Name,Email," if job_type == TRANSCRIPT else "internalUserID,")


def test_a_failed_job_says_so_in_either_shape() -> None:
    for profile, failed in (("default", {"code": "Failed"}), ("jobs-2026", "FAILED")):
        sb, clock, api = start(profile, jobs_fail=True)
        with sb:
            job_id = submit(api).json()["data"]["id"]
            clock.advance(60)
            status = job(api, job_id)["status"]
            if isinstance(failed, dict):
                assert status["code"] == "Failed" and "error" in status["data"]
            else:
                assert status == failed
            gone = requests.get(f"{sb.base_url}/_sandbox/downloads/{job_id}.csv", timeout=5)
            assert gone.status_code == 404


# --- limits ------------------------------------------------------------------------------------
def test_daily_quota_counts_each_job_type_apart(world: Any) -> None:
    sb, clock, api = world
    sb.configure(jobs_per_day=2)
    for _ in range(2):
        assert submit(api).status_code == 200
        clock.advance(60)
    third = submit(api)
    assert third.status_code == 400
    assert third.json()["meta"]["error"] == "BAD_REQUEST"
    assert "daily limit" in third.json()["meta"]["detail"]
    assert submit(api, USERS).status_code == 200  # another type has its own quota
    clock.advance(86400)  # a sandbox day later the first two have aged out
    clock.advance(30)
    assert submit(api).status_code == 200
    books = sb.books()
    assert books["jobs_submitted"] == {TRANSCRIPT: 3, USERS: 1}
    assert books["jobs_refused"] == {TRANSCRIPT: 1}


def test_quota_429_profile_answers_with_a_retry_after_until_a_slot_frees() -> None:
    sb, clock, api = start("job-quota-429", jobs_per_day=1)
    with sb:
        assert submit(api).status_code == 200
        clock.advance(3600)
        refused = submit(api)
        assert refused.status_code == 429
        assert refused.json()["meta"]["error"] == "TOO_MANY_REQUESTS"
        # 23 sandbox hours left, in real seconds at 60x
        assert float(refused.headers["retry-after"]) == pytest.approx(23 * 3600 / SCALE, abs=0.01)


def test_one_job_at_a_time_for_the_account_or_per_type(world: Any) -> None:
    sb, clock, api = world
    first = submit(api).json()["data"]["id"]
    busy = submit(api, USERS)
    assert busy.status_code == 400 and first in busy.json()["meta"]["detail"]
    clock.advance(60)
    assert submit(api, USERS).status_code == 200  # the transcript has finished
    clock.advance(30)
    sb.configure(jobs_one_at_a_time="type")
    assert submit(api).status_code == 200
    assert submit(api, USERS).status_code == 200  # another type may run beside it
    assert submit(api).status_code == 400  # not the same type


def test_an_account_without_the_job_type_refuses_it() -> None:
    sb, clock, api = start("no-transcript-job")
    with sb:
        refused = submit(api)
        assert refused.status_code == 400
        assert "not enabled for this account" in refused.json()["meta"]["detail"]
        assert submit(api, USERS).status_code == 200
        assert sb.books()["jobs_refused"] == {TRANSCRIPT: 1}


def test_an_expired_link_is_403_and_reading_the_job_again_gives_a_fresh_one(world: Any) -> None:
    sb, clock, api = world
    sb.configure(job_link_ttl=600.0)
    job_id = submit(api).json()["data"]["id"]
    clock.advance(60)
    first = job(api, job_id)["status"]["data"]["s3Url"]
    assert "X-Amz-Expires=10&" in first  # 600 sandbox seconds at 60x
    clock.advance(601)
    expired = requests.get(first, timeout=5)
    assert expired.status_code == 403
    assert "<Code>AccessDenied</Code>" in expired.text and "expired" in expired.text
    fresh = job(api, job_id)["status"]["data"]["s3Url"]
    assert fresh != first and requests.get(fresh, timeout=5).status_code == 200
    unsigned = requests.get(first.split("?")[0], timeout=5)
    assert unsigned.status_code == 403
    assert sb.books()["downloads_expired"] == 1


def test_the_file_lags_the_account_by_the_configured_minutes(world: Any) -> None:
    sb, clock, api = world
    sb.configure(transcript_lag=900.0)
    assert api.enroll(BEN, "course:7968604").status_code == 200  # one Content module
    clock.advance(1000)  # the enrollment is now older than the lag
    grade = api.grade(BEN, grade_body(BEN, "7968604", "7968604132204010"))
    assert grade.status_code == 200  # completed now: after the moment the file reflects
    rows = finished_file(api, clock, users=BEN, **up_to_now())
    assert [(r["Training ID"], r["Status"]) for r in rows] == [("course:7968604", "Not Started")]
    clock.advance(900)
    rows = finished_file(api, clock, users=BEN, **up_to_now())
    assert [(r["Training ID"], r["Status"]) for r in rows] == [("course:7968604", "Completed")]


# --- the payload -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fields", "detail"),
    [
        ({"users": ["15263431"]}, "payload.users must be a comma-separated string"),
        ({"users": "15263431,abc"}, "'abc' is not an id"),
        ({"includeModuleLevelDetails": True}, "payload.includeModuleLevelDetails must be the"),
        ({"fromDate": "2021-01-01"}, "payload.fromDate must be an ISO 8601 date-time"),
        ({"toDate": "2026-01-02T00:00:00.000Z"}, "at most 5 years apart"),
        ({"toDate": "2020-01-01T00:00:00.000Z"}, "toDate is before"),
        ({"userGroups": "349562"}, "user group 349562 not found"),
    ],
)
def test_payload_follows_the_documented_strings(
    world: Any, fields: dict[str, Any], detail: str
) -> None:
    _, _, api = world
    payload: dict[str, Any] = transcript_payload()
    payload.update(fields)
    resp = api.post("/jobs", job_body(TRANSCRIPT, payload))
    assert resp.status_code == 400 and detail in resp.json()["meta"]["detail"]


# --- the CSV -----------------------------------------------------------------------------------
def test_rows_per_learner_and_learning_object_with_program_rows(world: Any) -> None:
    _, clock, api = world
    rows = finished_file(api, clock, users=f"{LEAH},{GABRIEL}")
    header = list(rows[0])
    assert header[:3] == ["Name", "Email", "User Unique ID"] and header[-1] == "Root Training ID"
    assert "Completion Date (UTC TimeZone)" in header and "Module ID" not in header
    leah = [r for r in rows if r["Email"] == "leah.cohen@acme-corp.example"]
    program = next(r for r in leah if r["Training ID"] == "learningProgram:131072")
    assert program["Type"] == "Learning Path" and program["Course"] == ""
    assert program["Status"] == "In Progress" and program["Progress %"] == "80"
    by_course = {r["Training ID"]: r for r in leah if r["Course"]}
    assert by_course["course:7968486"]["Status"] == "Completed"
    assert by_course["course:7968486"]["LP/Certification/Course"] == "New Hire Onboarding"
    assert by_course["course:7968486"]["Type"] == "Learning Path"
    assert by_course["course:7968486"]["Completion Date (UTC TimeZone)"] == "2025-02-04 10:00:00"
    assert by_course["course:7968604"]["Status"] == "Not Started"
    assert len(by_course) == 7  # every course of the program, optional section too
    gabriel = {r["Training ID"]: r for r in rows if r["Name"] == "Gabriel Silva"}
    assert gabriel["learningProgram:131072"]["Status"] == "Completed"
    assert gabriel["learningProgram:131072"]["Grade"] == "Pass"
    assert gabriel["course:7968486"]["Instance"] == "Classroom – Berlin"
    # No internal user id anywhere: a client joins on the email.
    assert all(LEAH not in value for r in rows for value in r.values())


def test_module_rows_only_for_modules_started_or_completed(world: Any) -> None:
    _, clock, api = world
    rows = finished_file(api, clock, users=LUCAS, includeModuleLevelDetails="true")
    assert "Module" in rows[0] and "Module ID" in rows[0]
    course_rows = [r for r in rows if not r["Module ID"]]
    assert [(r["Training ID"], r["Status"]) for r in course_rows] == [
        ("course:7968501", "In Progress")
    ]
    modules = [(r["Module ID"], r["Status"], r["Quiz_score"]) for r in rows if r["Module ID"]]
    assert modules == [("course:7968501_8123501_13211001_0", "Completed", "80")]


def test_window_unenrolled_and_deleted_learners(world: Any) -> None:
    _, clock, api = world
    rows = finished_file(
        api, clock, users=f"{SARAH},{SAMUEL},{PETER}", fromDate="2024-06-01T00:00:00.000Z"
    )
    by_id = {(r["Email"].lower(), r["Training ID"]): r for r in rows}
    # Sarah's Anti-Bribery ended in March 2024, before the window; her licence is in it.
    assert ("sarah.mitchell@acme-corp.example", "course:7968559") not in by_id
    licence = by_id[("sarah.mitchell@acme-corp.example", "certification:150002")]
    assert licence["Status"] == "Completed"
    gone = by_id[("samuel.andersson@acme-corp.example", "course:7968604")]
    assert gone["Status"] == "Unenrolled"
    assert gone["Unenrollment Date (UTC TimeZone)"] == "2024-10-01 09:00:00"
    assert not any(r["Email"].startswith("peter.novak") for r in rows)
    rows = finished_file(api, clock, users=PETER, includeDeletedLearners="true")
    assert [(r["Email"], r["Status"]) for r in rows] == [
        ("peter.novak@acme-corp.example", "Completed")
    ]


@pytest.mark.parametrize(
    ("profile", "training_id", "module_id"),
    [
        ("default", "course:7968501", "course:7968501_8123501_13211001_0"),
        ("transcript-bare-ids", "7968501", "13211001"),
        ("transcript-enrollment-ids", None, "7968501132110010"),
    ],
)
def test_training_and_module_id_forms_by_profile(
    profile: str, training_id: str | None, module_id: str
) -> None:
    sb, clock, api = start(profile)
    with sb:
        rows = finished_file(api, clock, users=LUCAS, includeModuleLevelDetails="true")
    course, module = rows
    if training_id is None:  # a number per enrollment: no learning object id in the file
        assert course["Training ID"].isdigit() and "7968501" not in course["Training ID"]
    else:
        assert course["Training ID"] == training_id
    assert module["Module ID"] == module_id


def test_another_release_renames_and_reorders_the_columns() -> None:
    sb, clock, api = start("transcript-renamed")
    with sb:
        submitted = submit(api, users=LEAH).json()["data"]["id"]
        clock.advance(60)
        raw = requests.get(job(api, submitted)["status"]["data"]["s3Url"], timeout=5).content
    assert raw.startswith("\ufeff".encode())  # a byte order mark
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    header = list(rows[0])
    assert header[:3] == ["Training Id", "Learner Email", "Learner Name"]
    assert "Completion Date (UTC)" in header and "Root Training ID" not in header
    program = next(r for r in rows if r["Training Id"] == "learningProgram:131072")
    assert program["Status"] == "In Progress" and program["Learning Object Type"] == "Learning Path"


def test_dates_in_the_accounts_report_time_zone() -> None:
    sb, clock, api = start("report-timezone")
    with sb:
        rows = finished_file(api, clock, users=SARAH)
    licence = next(r for r in rows if r["Training ID"] == "certification:150002")
    # 2024-07-15T12:00Z is 05:00 in Los Angeles (summer time)
    assert licence["Completion Date (America/Los_Angeles TimeZone)"] == "2024-07-15 05:00:00"


def test_an_account_with_no_job_quota_refuses_every_job(world: Any) -> None:
    sb, _clock, api = world
    sb.configure(jobs_per_day=0)
    refused = submit(api)
    assert refused.status_code == 400 and "daily limit" in refused.json()["meta"]["detail"]
    assert sb.books()["jobs_refused"] == {TRANSCRIPT: 1}
