"""Sandbox: the users export job and its download, seeds (load, check, generate), serve()."""

from __future__ import annotations

import csv
import io
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from batch.sandbox import (
    Sandbox,
    SandboxConfig,
    generate_completions,
    generate_seed,
    load_seed,
    save_seed,
    serve,
)
from batch.sandbox.api_jobs import EXPORT_COLUMNS
from batch.sandbox.seed import default_seed_dir
from tests.test_sandbox_support import Api

SEED = load_seed(default_seed_dir())
JOB = {
    "data": {
        "type": "job",
        "attributes": {
            "description": "all users",
            "jobType": "generateUsers",
            "payload": {"expandMetadata": True},
        },
    }
}


@pytest.fixture()
def api() -> Iterator[Api]:
    # job_delay 60 sandbox seconds at time_scale 600 = 0.1 real seconds
    with Sandbox(seed=SEED, config=SandboxConfig(time_scale=600, job_delay=60)) as sb:
        yield Api(sb)


def test_users_export_job_completes_with_a_csv_download(api: Api) -> None:
    submitted = api.post("/jobs", JOB)
    assert submitted.status_code == 200
    job = submitted.json()["data"]
    assert job["type"] == "job" and job["attributes"]["status"]["code"] == "Submitted"
    assert "url" not in job["attributes"]
    deadline = time.monotonic() + 5
    while True:
        polled = api.get(f"/jobs/{job['id']}").json()["data"]
        if polled["attributes"]["status"]["code"] == "Completed":
            break
        assert polled["attributes"]["status"]["code"] in ("Submitted", "In Progress")
        assert time.monotonic() < deadline
        time.sleep(0.02)
    url = polled["attributes"]["status"]["data"]["s3Url"]  # the classic shape
    assert url.startswith(api.sb.base_url + "/_sandbox/downloads/")
    download = requests.get(url, timeout=5)  # no auth, like an S3 URL
    assert download.status_code == 200
    rows = list(csv.DictReader(io.StringIO(download.text)))
    assert tuple(rows[0]) == EXPORT_COLUMNS
    assert len(rows) == len(SEED["users"])
    by_email = {r["userEmail"]: r for r in rows}
    assert by_email["Maria.Gonzalez@acme-corp.example"]["internalUserID"] == "15263401"
    deleted = by_email["peter.novak@acme-corp.example"]
    assert deleted["state"] == "DELETED" and deleted["dateDeleted"].startswith("2025-01-31")
    assert by_email["thomas.wright@acme-corp.example"]["state"] == "SUSPENDED"
    calls = api.sb.books()["calls"]
    assert calls["POST /jobs"] == 1 and calls["GET /_sandbox/downloads/{file}"] == 1


def test_download_before_completion_is_404(api: Api) -> None:
    api.sb.configure(job_delay=3600)
    job_id = api.post("/jobs", JOB).json()["data"]["id"]
    early = requests.get(f"{api.sb.base_url}/_sandbox/downloads/{job_id}.csv", timeout=5)
    assert early.status_code == 404 and "meta" in early.json()


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"data": {"type": "job", "attributes": {"jobType": "learnerTranscript"}}}, "jobType"),
        ({"data": {"type": "user"}}, "data.type"),
        ({"nothing": True}, "data.type"),
    ],
)
def test_job_errors_use_the_meta_error_shape(api: Api, body: dict[str, Any], detail: str) -> None:
    resp = api.post("/jobs", body)
    assert resp.status_code == 400
    meta = resp.json()["meta"]
    assert meta["error"] == "BAD_REQUEST" and detail in meta["detail"]


def test_unknown_jobs_and_the_daily_quota(api: Api) -> None:
    missing = api.get("/jobs/1")
    assert missing.status_code == 404 and missing.json()["meta"]["error"] == "NOT_FOUND"
    api.sb.configure(jobs_per_day=2, jobs_one_at_a_time="off")
    assert [api.post("/jobs", JOB).status_code for _ in range(3)] == [200, 200, 400]


def test_sample_seed_loads_from_directory_or_file() -> None:
    from_file = load_seed(default_seed_dir() / "alm_seed.json")
    assert from_file == SEED
    assert len(SEED["users"]) == 40
    states = [u["state"] for u in SEED["users"]]
    assert states.count("SUSPENDED") == 2 and states.count("DELETED") == 1


def _broken(mutate: str) -> dict[str, Any]:
    seed = json.loads(json.dumps(SEED))
    if mutate == "dup user":
        seed["users"].append(dict(seed["users"][0]))
    elif mutate == "bad state":
        seed["users"][0]["state"] = "ASLEEP"
    elif mutate == "two defaults":
        seed["learningObjects"][0]["instances"][1]["isDefault"] = True
    elif mutate == "foreign instance":
        seed["learningObjects"][0]["instances"][1]["id"] = "course:1_2"
    elif mutate == "dangling enrollment":
        seed["enrollments"][0]["userId"] = "1"
    elif mutate == "unknown graded module":
        seed["enrollments"][0]["grades"][0]["moduleId"] = "42"
    return seed


@pytest.mark.parametrize(
    "mutate",
    [
        "dup user",
        "bad state",
        "two defaults",
        "foreign instance",
        "dangling enrollment",
        "unknown graded module",
    ],
)
def test_inconsistent_seeds_are_refused_at_load(tmp_path: Path, mutate: str) -> None:
    path = save_seed(_broken(mutate), tmp_path / "seed.json")
    with pytest.raises(ValueError):
        load_seed(path)


def test_generated_seeds_are_deterministic_and_served(tmp_path: Path) -> None:
    seed = generate_seed(3000, 300, random_seed=5)
    assert seed == generate_seed(3000, 300, random_seed=5)
    assert seed != generate_seed(3000, 300, random_seed=6)
    assert len(seed["users"]) == 3000 and len(seed["learningObjects"]) == 300
    assert {u["state"] for u in seed["users"]} == {"ACTIVE", "SUSPENDED", "DELETED"}
    emails = [u["email"].casefold() for u in seed["users"]]
    assert len(set(emails)) == len(emails)
    kinds = {m["loResourceType"] for lo in seed["learningObjects"] for m in lo["modules"]}
    assert kinds == {"Content", "Pre Work", "Test Out"}
    assert load_seed(save_seed(seed, tmp_path)) == seed
    config = SandboxConfig(limits_enabled=False)
    with Sandbox(seed=seed, config=config) as sb:
        api = Api(sb)
        active = [u for u in seed["users"] if u["state"] == "ACTIVE"]
        start = time.perf_counter()
        for user in active[:200]:
            found = api.get("/users", {"ids": f"email:{user['email'].upper()}"}).json()["data"]
            assert [u["id"] for u in found] == [user["id"]]
        assert time.perf_counter() - start < 10  # indexed: no scan per request
        page = api.get("/users", {"page[limit]": "100", "page[cursor]": active[1500]["id"]})
        assert len(page.json()["data"]) == 100
        lo = seed["learningObjects"][-1]
        assert api.get(f"/learningObjects/{lo['id']}").status_code == 200


def test_generated_completions_reference_the_chosen_users_and_courses(tmp_path: Path) -> None:
    seed = generate_seed(500, 40, random_seed=1)
    path = generate_completions(
        seed, 300, distinct_users=60, distinct_courses=8, path=tmp_path / "in.csv", random_seed=2
    )
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 300
    assert list(rows[0]) == ["Learner Email", "Course", "Completion Date", "Score"]
    assert len({r["Learner Email"] for r in rows}) == 60
    published = {lo["id"]: lo for lo in seed["learningObjects"]}
    names = {lo["localizedMetadata"][0]["name"]: lo["id"] for lo in published.values()}
    courses = set()
    forms = set()
    for r in rows:
        cell = r["Course"]
        if cell.startswith("course:"):
            forms.add("id")
            courses.add(cell)
        elif cell.isdigit():
            forms.add("number")
            courses.add(f"course:{cell}")
        else:
            forms.add("name")
            courses.add(names[cell])
        assert r["Completion Date"].startswith("2025-")
    assert len(courses) == 8 and forms == {"id", "number", "name"}
    assert all(published[c]["state"] == "Published" for c in courses)
    assert len({(r["Learner Email"], r["Course"]) for r in rows}) >= 250  # pairs barely repeat
    with pytest.raises(ValueError):
        generate_completions(
            seed, 10, distinct_users=10_000, distinct_courses=1, path=tmp_path / "x.csv"
        )


def test_serve_blocks_until_stopped_and_reports_readiness() -> None:
    ready: list[Sandbox] = []
    event = threading.Event()

    def on_ready(sb: Sandbox) -> None:
        ready.append(sb)
        event.set()

    thread = threading.Thread(
        target=serve, args=(0, default_seed_dir(), SandboxConfig()), kwargs={"on_ready": on_ready}
    )
    thread.start()
    assert event.wait(5)
    sb = ready[0]
    token = requests.post(f"{sb.base_url}/oauth/token/refresh", data=sb.credentials, timeout=5)
    assert token.status_code == 200
    assert thread.is_alive()
    sb.stop()
    thread.join(5)
    assert not thread.is_alive()
