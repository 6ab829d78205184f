"""The real client against the embedded ALM sandbox (real HTTP on 127.0.0.1)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from batch.alm.api import AlmClient
from batch.alm.types import GradeRequest
from batch.errors import ApiError, AuthError
from batch.sandbox import Sandbox, SandboxConfig, generate_seed, load_seed
from batch.settings import Settings

COURSE = "course:7968486"


def settings_for(sb: Sandbox, **extra: Any) -> Settings:
    env = {k.removeprefix("ALM_").lower(): v for k, v in sb.env().items()}
    return Settings(_env_file=None, **{**env, **extra})  # type: ignore[arg-type,call-arg]


@pytest.fixture(scope="module")
def sample() -> Iterator[Sandbox]:
    with Sandbox(seed=load_seed("sample_data"), config=SandboxConfig(time_scale=600.0)) as sb:
        yield sb


def test_user_lookup_course_and_enrollments(sample: Sandbox) -> None:
    with AlmClient(settings_for(sample)) as alm:
        maria = alm.find_user_by_email("maria.gonzalez@ACME-corp.example")
        assert maria is not None and maria.active
        assert alm.find_user_by_email("nobody@acme-corp.example") is None
        course = alm.get_course(COURSE)
        assert course is not None and course.published
        default = course.default_instance
        assert default is not None and default.content_modules
        assert all(m.instance_id == default.id for m in default.modules)
        assert alm.get_course("course:1") is None
        enrolled = alm.get_enrollments("15263405")
        first = next(e for e in enrolled if e.instance_id == "course:7968486_8123456")
        assert first.lo_id == COURSE
        assert first.completed and first.date_completed is not None
        content = {m.id for m in default.content_modules}
        assert content <= set(first.grades)
        assert all(first.grades[m].completed for m in content)
        assert all(g.module_id == m for m, g in first.grades.items())
    books = sample.books()
    assert books["calls"]["GET /users"] >= 2 and books["early_requests"] == 0


def test_catalogue_matches_seed(sample: Sandbox) -> None:
    with AlmClient(settings_for(sample)) as alm:
        courses = list(alm.iter_catalogue())
    seed_courses = [
        lo
        for lo in load_seed("sample_data")["learningObjects"]
        if lo.get("loType", "course") == "course"
    ]
    assert {c.id for c in courses} == {lo["id"] for lo in seed_courses}
    assert all(c.names for c in courses)


def test_enroll_then_grade_then_already_enrolled(sample: Sandbox) -> None:
    with AlmClient(settings_for(sample)) as alm:
        course = alm.get_course(COURSE)
        assert course is not None and course.default_instance is not None
        inst = course.default_instance
        user = alm.find_user_by_email("liam.chen@acme-corp.example")
        assert user is not None
        existing = {e.instance_id for e in alm.get_enrollments(user.id)}
        if inst.id not in existing:
            alm.enroll(user.id, COURSE, inst.id)
        assert alm.enroll(user.id, COURSE, inst.id) is None  # already enrolled = success
        for module in inst.content_modules:
            alm.post_grade(
                GradeRequest(
                    user.id,
                    COURSE,
                    inst.id,
                    module.id,
                    datetime(2025, 3, 1, 12, tzinfo=UTC),
                    score=88,
                )
            )
        after = next(e for e in alm.get_enrollments(user.id) if e.instance_id == inst.id)
        assert after.completed
        assert {m.id for m in inst.content_modules} <= set(after.grades)
    graded = [g for g in sample.books()["grades"] if g["user_id"] == user.id]
    assert {g["module_id"] for g in graded} == {m.id for m in inst.content_modules}


def test_wrong_accept_header_gets_406(sample: Sandbox) -> None:
    with AlmClient(settings_for(sample)) as alm, pytest.raises(ApiError) as err:
        alm.http.request("GET", "/users", params={"page[limit]": "1"}, headers={"Accept": "*/*"})
    assert err.value.status == 406


def test_refused_credentials_name_the_setting(sample: Sandbox) -> None:
    sets = settings_for(sample, client_secret="wrong-secret-value")
    with AlmClient(sets) as alm, pytest.raises(AuthError) as err:
        alm.find_user_by_email("maria.gonzalez@acme-corp.example")
    assert "ALM_CLIENT" in str(err.value) and "wrong-secret-value" not in str(err.value)


def test_token_expiry_mid_run_refreshes_once() -> None:
    cfg = SandboxConfig(time_scale=600.0, token_ttl=0.3)
    with Sandbox(seed=load_seed("sample_data"), config=cfg) as sb:
        with AlmClient(settings_for(sb)) as alm:
            assert alm.get_user("15263401") is not None
            time.sleep(0.4)
            assert alm.get_user("15263401") is not None
            assert alm.http.tokens.refreshes == 2
            assert alm.stats.statuses.get(401) == 1


def test_pagination_over_many_pages() -> None:
    seed = generate_seed(users=30, courses=260, random_seed=3)
    with Sandbox(seed=seed, config=SandboxConfig(time_scale=3600.0)) as sb:
        with AlmClient(settings_for(sb)) as alm:
            courses = list(alm.iter_catalogue())
            pages = alm.stats.calls["GET /learningObjects"]
    expected = {
        lo["id"] for lo in seed["learningObjects"] if lo.get("loType", "course") == "course"
    }
    assert {c.id for c in courses} == expected and len(courses) == len(expected)
    assert pages >= 3


def test_export_users_job() -> None:
    cfg = SandboxConfig(time_scale=600.0, job_delay=60.0)  # 0.1 s of real time
    with Sandbox(seed=load_seed("sample_data"), config=cfg) as sb:
        with AlmClient(settings_for(sb)) as alm:
            users = list(alm.export_users(poll_seconds=0.05, timeout=10.0))
        books = sb.books()
    seed_users = load_seed("sample_data")["users"]
    assert {u.id for u in users} == {u["id"] for u in seed_users}
    states = {u.id: u.state for u in users}
    assert all(states[u["id"]] == u["state"] for u in seed_users)
    assert books["calls"].get("POST /jobs") == 1


def test_429_bursts_with_threads_send_nothing_early() -> None:
    # Two clients (two machines on one account) share the allowance, so 429s are certain;
    # every thread of a client must hold back until each retry-after has passed.
    cfg = SandboxConfig(time_scale=1.0, get_per_minute=1200.0, get_burst=4)
    with Sandbox(seed=load_seed("sample_data"), config=cfg) as sb:
        sets = settings_for(sb, get_per_minute=6000.0, get_burst=20)  # too generous: must learn
        errors: list[BaseException] = []
        clients = [AlmClient(sets, concurrency=3) for _ in range(2)]

        def work(alm: AlmClient) -> None:
            try:
                for _ in range(5):
                    alm.get_enrollments("15263405")
            except BaseException as exc:  # noqa: BLE001 - collected for the assertion
                errors.append(exc)

        pool = [threading.Thread(target=work, args=(alm,)) for alm in clients for _ in range(3)]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
        for alm in clients:
            alm.close()
        books = sb.books()
    assert errors == []
    assert books["throttled"] >= 1
    assert sum(alm.stats.throttled for alm in clients) == books["throttled"]
    assert books["calls"]["GET /users/{id}/enrollments"] == 30 + books["throttled"]
    assert books["early_requests"] == 0
