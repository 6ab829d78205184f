"""build_plan through the real AlmClient against the embedded sandbox: the dry run never writes.

The unit tests (test_plan.py) prove the planning rules with a fake; this proves the same rules
hold over real HTTP and that nothing but the OAuth token call is ever POSTed.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from batch.alm.api import AlmClient
from batch.cache import LookupCache, cache_path
from batch.models import CheckedRow, Completion, CourseRef, InputRow, RowStatus
from batch.plan import Plan, PlanOptions, build_plan
from batch.resolve import Resolver
from batch.sandbox import Sandbox, SandboxConfig, load_seed
from batch.sandbox.seed import default_seed_dir
from batch.settings import Settings

WHEN = datetime(2025, 5, 6, tzinfo=UTC)

SEED: dict[str, Any] = {
    "users": [
        {"id": "101", "email": "ann@acme.com", "name": "Ann", "state": "ACTIVE"},
        {"id": "102", "email": "bob@acme.com", "name": "Bob", "state": "ACTIVE"},
        {"id": "103", "email": "sus@acme.com", "name": "Sus", "state": "SUSPENDED"},
    ],
    "learningObjects": [
        {
            "id": "course:10",
            "loType": "course",
            "state": "Published",
            "localizedMetadata": [
                {"locale": "en-US", "name": " Fire Safety "},
                {"locale": "fr-FR", "name": "Sécurité incendie"},
            ],
            "modules": [
                {"id": "7001", "loResourceType": "Pre Work",
                 "localizedMetadata": [{"locale": "en-US", "name": "Read first"}]},
                {"id": "7002", "loResourceType": "Content",
                 "localizedMetadata": [{"locale": "en-US", "name": "Video"}]},
                {"id": "7003", "loResourceType": "Content",
                 "localizedMetadata": [{"locale": "en-US", "name": "Quiz"}]},
            ],
            "instances": [
                {"id": "course:10_1", "state": "Active", "isDefault": True,
                 "localizedMetadata": [{"locale": "en-US", "name": "Default"}]},
            ],
        },
        {
            "id": "course:20",
            "loType": "course",
            "state": "Published",
            "localizedMetadata": [{"locale": "en-US", "name": "Safety Basics"}],
            "modules": [{"id": "7101", "loResourceType": "Content",
                         "localizedMetadata": [{"locale": "en-US", "name": "All"}]}],
            "instances": [{"id": "course:20_1", "state": "Active", "isDefault": True,
                           "localizedMetadata": [{"locale": "en-US", "name": "Default"}]}],
        },
        {
            "id": "course:21",
            "loType": "course",
            "state": "Published",
            "localizedMetadata": [{"locale": "en-US", "name": "safety basics"}],
            "modules": [{"id": "7201", "loResourceType": "Content",
                         "localizedMetadata": [{"locale": "en-US", "name": "All"}]}],
            "instances": [{"id": "course:21_1", "state": "Active", "isDefault": True,
                           "localizedMetadata": [{"locale": "en-US", "name": "Default"}]}],
        },
        {
            "id": "course:30",
            "loType": "course",
            "state": "Retired",
            "localizedMetadata": [{"locale": "en-US", "name": "Old Course"}],
            "modules": [{"id": "7301", "loResourceType": "Content",
                         "localizedMetadata": [{"locale": "en-US", "name": "All"}]}],
            "instances": [{"id": "course:30_1", "state": "Active", "isDefault": True,
                           "localizedMetadata": [{"locale": "en-US", "name": "Default"}]}],
        },
    ],
    "enrollments": [
        {"userId": "102", "instanceId": "course:10_1", "state": "COMPLETED",
         "dateCompleted": "2025-03-04T10:00:00Z",
         "grades": [{"moduleId": "7002", "completed": True},
                    {"moduleId": "7003", "completed": True}]},
    ],
}  # fmt: skip


def row(n: int, email: str, course: str) -> CheckedRow:
    ref = CourseRef(course, f"course:{course}") if course.isdigit() else CourseRef(course)
    completion = Completion(email=email, course=ref, completion_date=WHEN)
    return CheckedRow(InputRow(n, {"Email": email, "Course": course}, {}), completion)


# The client's own pacing at the sandbox's sped-up clock (time_scale), so tests do not wait.
FAST = {"get_per_minute": 12000.0, "get_burst": 100, "users_get_per_hour": 60000.0}


def dry_run(sb: Any, rows: list[CheckedRow], state_dir: Path | None) -> tuple[Plan, Resolver]:
    values: dict[str, Any] = {**FAST, **sb.credentials}
    settings = Settings(_env_file=None, base_url=sb.base_url, **values)  # type: ignore[call-arg]
    client = AlmClient(settings, concurrency=2)
    cache = LookupCache(cache_path(state_dir) if state_dir else None, settings.base_url)
    try:
        resolver = Resolver(client, cache)
        return build_plan(iter(rows), resolver, PlanOptions()), resolver
    finally:
        client.close()
        cache.close()


def posts(books: dict[str, Any]) -> dict[str, int]:
    return {k: n for k, n in books["calls"].items() if k.startswith("POST") and "oauth" not in k}


@pytest.fixture()
def sandbox() -> Iterator[Any]:
    with Sandbox(seed=SEED, config=SandboxConfig(time_scale=60.0)) as sb:
        yield sb


def test_dry_run_plans_every_status_and_posts_nothing(sandbox: Any, tmp_path: Path) -> None:
    rows = [
        row(2, "ann@acme.com", "fire safety"),
        row(3, "ann@acme.com", "  SÉCURITÉ INCENDIE "),
        row(4, "bob@acme.com", "10"),
        row(5, "sus@acme.com", "Fire Safety"),
        row(6, "ghost@acme.com", "Fire Safety"),
        row(7, "ann@acme.com", "Safety Basics"),
        row(8, "ann@acme.com", "Old Course"),
        row(9, "ann@acme.com", "Fire Safty"),
    ]
    plan, _ = dry_run(sandbox, rows, tmp_path)
    statuses = [p.status for p in plan.rows]
    assert statuses == [
        RowStatus.WOULD_COMPLETE,
        RowStatus.DUPLICATE,  # the same course by its French name: posted once
        RowStatus.ALREADY_COMPLETED,
        RowStatus.REJECTED,
        RowStatus.USER_NOT_FOUND,
        RowStatus.AMBIGUOUS_COURSE,
        RowStatus.REJECTED,
        RowStatus.COURSE_NOT_FOUND,
    ]
    first = plan.rows[0]
    assert first.enroll and first.instance_id == "course:10_1"
    assert len(first.grades) == 2  # the Pre Work module is skipped
    assert "2025-03-04" in plan.rows[2].message
    assert "Did you mean 'Fire Safety'?" in plan.rows[7].message
    books = sandbox.books()
    # The one POST is the users export job (read-only) that tells deleted users from unknown.
    assert posts(books) == {"POST /jobs": 1}
    assert books["grades"] == [] and books["enrollments_created"] == 0


def test_a_warm_rerun_makes_only_enrollment_reads(sandbox: Any, tmp_path: Path) -> None:
    rows = [row(2, "ann@acme.com", "Fire Safety"), row(3, "bob@acme.com", "10")]
    dry_run(sandbox, rows, tmp_path)
    sandbox.reset_books()
    plan, resolver = dry_run(sandbox, rows, tmp_path)
    gets = {k: n for k, n in sandbox.books()["calls"].items() if k.startswith("GET")}
    assert gets == {"GET /users/{id}/enrollments": 2}
    assert resolver.stats.misses.get("users", 0) == 0
    assert [p.status for p in plan.rows] == [RowStatus.WOULD_COMPLETE, RowStatus.ALREADY_COMPLETED]


def test_sample_data_dry_run_posts_nothing(tmp_path: Path) -> None:
    seed_file = default_seed_dir() / "alm_seed.json"
    assert seed_file.exists(), f"the sample seed ships with the repository: {seed_file}"
    seed = load_seed(seed_file)
    users = [u["email"] for u in seed["users"]][:20]
    courses = [lo["id"].split(":")[1] for lo in seed["learningObjects"]][:5]
    rows = [row(i + 2, users[i % len(users)], courses[i % len(courses)]) for i in range(200)]
    with Sandbox(seed=seed, config=SandboxConfig(time_scale=60.0)) as sb:
        plan, _ = dry_run(sb, rows, None)
        books = sb.books()
    assert len(plan.rows) == 200
    assert posts(books) == {}
    lookups = sum(n for k, n in books["calls"].items() if k.startswith("GET"))
    assert lookups <= len(set(users)) * 2 + len(set(courses)) + 5


def test_the_export_job_resolves_users_in_one_job(sandbox: Any) -> None:
    values: dict[str, Any] = {**FAST, **sandbox.credentials}
    settings = Settings(_env_file=None, base_url=sandbox.base_url, **values)  # type: ignore[call-arg]
    with AlmClient(settings) as client:
        resolver = Resolver(
            client,
            LookupCache(None, settings.base_url),
            user_lookup="export",
            export_poll_seconds=0.05,
        )
        found = resolver.resolve_users(["ANN@acme.com", "sus@acme.com", "ghost@acme.com"])
    assert found["ann@acme.com"] is not None and found["ann@acme.com"].id == "101"
    assert found["sus@acme.com"] is not None and not found["sus@acme.com"].active
    assert found["ghost@acme.com"] is None
    calls = sandbox.books()["calls"]
    assert calls.get("GET /users", 0) == 0 and calls.get("POST /jobs") == 1
