"""Resolver: one call per distinct thing, the cache across runs, names, suggestions, states."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from batch.alm.types import CourseSummary, User
from batch.cache import LookupCache, cache_path
from batch.errors import AbortError, ApiError, AuthError
from batch.models import CourseRef, RowStatus
from batch.resolve import Resolver
from tests.fake_alm import FakeAlm, make_course

BASE = "http://alm.test"


def name(text: str) -> CourseRef:
    return CourseRef(text=text)


def cid(num: int) -> CourseRef:
    return CourseRef(text=str(num), course_id=f"course:{num}")


def users(n: int) -> list[User]:
    return [User(id=str(1000 + i), email=f"user{i}@acme.com") for i in range(n)]


def fake() -> FakeAlm:
    return FakeAlm(
        users=users(200) + [User(id="9", email="sus@acme.com", state="SUSPENDED")],
        courses=[
            make_course(101, "Safety Basics"),
            make_course(245, {"en-US": "Safety Basics", "de-DE": "Sicherheit"}),
            make_course(300, {"en-US": " Fire Safety 2025 ", "fr-FR": "  Sécurité   Incendie "}),
            make_course(400, "Old Course", state="Retired"),
            make_course(500, "Leadership Path", lo_type="learningProgram"),
            make_course(600, "Data Privacy"),
        ],
    )


def test_few_emails_are_looked_up_one_by_one_each_once() -> None:
    alm = fake()
    resolver = Resolver(alm, LookupCache(None, BASE))
    emails = ["user1@acme.com", "USER1@acme.com ", "user2@acme.com", "ghost@acme.com"] * 5
    found = resolver.resolve_users(emails)
    assert alm.calls["find_user_by_email"] == 3
    assert alm.calls["export_users"] == 1  # the one miss is checked for a deleted user
    assert found["user1@acme.com"] == User(id="1001", email="user1@acme.com")
    assert found["ghost@acme.com"] is None
    assert resolver.stats.user_method == "per-email"


def test_many_emails_use_one_export_job() -> None:
    alm = fake()
    resolver = Resolver(alm, LookupCache(None, BASE), per_email_limit=50)
    found = resolver.resolve_users([f"user{i}@acme.com" for i in range(120)] + ["x@acme.com"])
    assert alm.calls == {"export_users": 1}
    assert found["user119@acme.com"] is not None and found["x@acme.com"] is None
    assert resolver.stats.user_method == "export"


def test_the_auto_rule_is_documented_by_its_choices() -> None:
    resolver = Resolver(FakeAlm(), LookupCache(None, BASE), per_email_limit=50)
    assert resolver.choose_user_method(50) == "per-email"
    assert resolver.choose_user_method(51) == "export"
    forced = Resolver(FakeAlm(), LookupCache(None, BASE), user_lookup="export")
    assert forced.choose_user_method(1) == "export"
    with pytest.raises(ValueError):
        Resolver(FakeAlm(), LookupCache(None, BASE), user_lookup="guess")


def test_a_failed_export_job_falls_back_to_per_email_under_auto() -> None:
    alm = fake()
    alm.fail["export_users"] = ApiError(403, "Forbidden", "jobs quota exhausted")
    resolver = Resolver(alm, LookupCache(None, BASE), per_email_limit=2)
    found = resolver.resolve_users([f"user{i}@acme.com" for i in range(20)])
    assert alm.calls["find_user_by_email"] == 20
    assert all(found.values())
    assert "export job failed" in resolver.warnings[0]


def test_a_forced_export_that_fails_stops_the_run_with_a_hint() -> None:
    alm = fake()
    alm.fail["export_users"] = ApiError(429, "Too Many Requests", "jobs quota")
    resolver = Resolver(alm, LookupCache(None, BASE), user_lookup="export")
    with pytest.raises(AbortError, match="users export job failed") as caught:
        resolver.resolve_users(["user1@acme.com"])
    assert caught.value.hint == "Run again with --user-lookup auto or per-email."
    assert alm.calls["find_user_by_email"] == 0


def test_an_auth_failure_is_never_swallowed() -> None:
    alm = fake()
    alm.fail["find_user_by_email"] = AuthError("ALM refused the credentials.")
    with pytest.raises(AuthError):
        Resolver(alm, LookupCache(None, BASE)).resolve_users(["user1@acme.com"])


def test_a_lookup_error_is_kept_per_email_and_not_cached() -> None:
    alm = fake()
    alm.fail["find_user_by_email"] = ApiError(400, "Bad Request", "ids")
    resolver = Resolver(alm, LookupCache(None, BASE))
    assert resolver.resolve_users(["user1@acme.com"]) == {"user1@acme.com": None}
    assert "re-run will try again" in resolver.user_errors["user1@acme.com"]


def test_a_warm_cache_makes_no_lookups_and_expiry_refetches(tmp_path: Path) -> None:
    now = [1000.0]
    path = cache_path(tmp_path)

    def run(alm: FakeAlm, **kw: object) -> Resolver:
        cache = LookupCache(path, BASE, clock=lambda: now[0], **kw)  # type: ignore[arg-type]
        resolver = Resolver(alm, cache)
        resolver.resolve_users(["user1@acme.com", "user2@acme.com"])
        resolver.resolve_courses([name("data privacy"), cid(300)])
        cache.close()
        return resolver

    cold = fake()
    first = run(cold)
    assert cold.calls == {"find_user_by_email": 2, "iter_catalogue": 1, "get_course": 2}
    assert first.stats.misses == {"users": 2, "catalogue": 1, "courses": 2}

    warm = fake()
    second = run(warm)
    assert warm.calls == {}
    assert second.stats.hits == {"users": 2, "catalogue": 1, "courses": 2}

    now[0] += 86400 + 1
    expired = fake()
    run(expired)
    assert expired.calls == {"find_user_by_email": 2, "iter_catalogue": 1, "get_course": 2}

    refreshed = fake()
    run(refreshed, refresh=True)
    assert refreshed.calls == {"find_user_by_email": 2, "iter_catalogue": 1, "get_course": 2}


def test_an_export_warms_the_cache_for_every_user(tmp_path: Path) -> None:
    path = cache_path(tmp_path)
    alm = fake()
    with LookupCache(path, BASE) as cache:
        Resolver(alm, cache, user_lookup="export").resolve_users(["user1@acme.com"])
    later = fake()
    with LookupCache(path, BASE) as cache:
        found = Resolver(later, cache).resolve_users(["user150@acme.com", "sus@acme.com"])
    assert later.calls == {}
    assert found["sus@acme.com"] is not None and found["sus@acme.com"].state == "SUSPENDED"


def test_catalogue_is_listed_once_for_many_names() -> None:
    alm = fake()
    resolver = Resolver(alm, LookupCache(None, BASE))
    out = resolver.resolve_courses(
        [name("Data Privacy"), name("data  privacy"), name("Nope"), cid(600)]
    )
    assert alm.calls == {"iter_catalogue": 1, "get_course": 1}
    assert out["data privacy"].ok and out["data privacy"].course_id == "course:600"


def test_only_ids_never_list_the_catalogue() -> None:
    alm = fake()
    Resolver(alm, LookupCache(None, BASE)).resolve_courses([cid(101), cid(245), cid(101)])
    assert alm.calls == {"get_course": 2}


def test_a_name_matching_two_courses_is_ambiguous_with_the_candidates() -> None:
    res = Resolver(fake(), LookupCache(None, BASE)).resolve_course(name("Safety Basics"))
    assert res.status is RowStatus.AMBIGUOUS_COURSE
    assert res.message == (  # a name in another locale tells the second one apart
        "'Safety Basics' matches 2 courses: course:101 'Safety Basics' (en-US), "
        "course:245 'Safety Basics' (en-US, de-DE “Sicherheit”). Use the course ID."
    )


def test_an_ambiguous_name_lists_what_tells_the_candidates_apart() -> None:
    """From the catalogue listing alone (no call more): the type when they differ, the
    instances, the date created and the description; parentheses in a description are
    squared so the page can still read each candidate out of the message."""
    from datetime import UTC, datetime

    from batch.alm.parse import parse_course_summary

    listed = {
        "id": "course:7",
        "type": "learningObject",
        "attributes": {
            "loType": "course",
            "state": "Published",
            "dateCreated": "2024-02-01T09:00:00.000Z",
            "localizedMetadata": [
                {"locale": "en-US", "name": "Safety Basics",
                 "description": "Safety basics (warehouse and logistics staff)."},
            ],
        },
        "relationships": {"instances": {"data": [{"id": "course:7_1"}, {"id": "course:7_2"}]}},
    }  # fmt: skip
    course = parse_course_summary(listed)
    assert course.instances == 2 and course.date_created == datetime(2024, 2, 1, 9, tzinfo=UTC)
    assert course.description == "Safety basics (warehouse and logistics staff)."
    program = CourseSummary(
        id="learningProgram:8", state="Published", names={"en-US": "Safety Basics"},
        lo_type="learningProgram",
    )  # fmt: skip

    class Listed(FakeAlm):
        def iter_catalogue(self, lo_types: Iterable[str] = ("course",)) -> Iterator[CourseSummary]:
            self._count("iter_catalogue")
            yield from (c for c in (course, program) if c.lo_type in set(lo_types))

    res = Resolver(Listed(), LookupCache(None, BASE)).resolve_course(name("Safety Basics"))
    assert res.status is RowStatus.AMBIGUOUS_COURSE
    assert "course:7 'Safety Basics' (en-US, course, 2 instances, created 2024-02-01, " in (
        res.message
    )
    assert "“Safety basics [warehouse and logistics staff].”)" in res.message
    assert "learningProgram:8 'Safety Basics' (en-US, learning program" in res.message


def test_a_near_miss_suggests_close_names() -> None:
    res = Resolver(fake(), LookupCache(None, BASE)).resolve_course(name("Fire Safty 2025"))
    assert res.status is RowStatus.COURSE_NOT_FOUND
    assert res.message == "No course named 'Fire Safty 2025'. Did you mean 'Fire Safety 2025'?"


def test_an_unknown_name_without_close_names_says_what_to_do() -> None:
    res = Resolver(fake(), LookupCache(None, BASE)).resolve_course(name("Quantum Knitting"))
    assert res.status is RowStatus.COURSE_NOT_FOUND
    assert "or use the ID" in res.message


def test_names_match_in_any_locale_with_stray_spaces_and_case() -> None:
    resolver = Resolver(fake(), LookupCache(None, BASE))
    for text in ("fire safety 2025", "SÉCURITÉ INCENDIE", "  Sicherheit "):
        res = resolver.resolve_course(name(text))
        assert res.ok, (text, res.message)
    assert resolver.resolve_course(name("sécurité incendie")).course_id == "course:300"


def test_retired_course_by_name_and_by_id_is_rejected() -> None:
    alm = fake()
    resolver = Resolver(alm, LookupCache(None, BASE))
    by_name = resolver.resolve_course(name("Old Course"))
    by_id = resolver.resolve_course(cid(400))
    for res in (by_name, by_id):
        assert res.status is RowStatus.REJECTED
        assert "course:400 'Old Course' is retired" in res.message
        assert res.course_id == "course:400"


def test_a_learning_program_without_sections_is_rejected_by_id_and_by_name() -> None:
    resolver = Resolver(fake(), LookupCache(None, BASE))
    by_id = resolver.resolve_course(CourseRef("learningProgram:500", "learningProgram:500"))
    by_name = resolver.resolve_course(name("Leadership Path"))
    for res in (by_id, by_name):
        assert res.status is RowStatus.REJECTED
        assert res.message == (
            "learningProgram:500 'Leadership Path' is a learning program for which ALM lists no "
            "sections, so which of its courses complete it is not known; list its courses "
            "instead, one row per course."
        )


def test_an_unknown_id_is_course_not_found() -> None:
    res = Resolver(fake(), LookupCache(None, BASE)).resolve_course(cid(999))
    assert res.status is RowStatus.COURSE_NOT_FOUND
    assert res.message == "No course has the ID course:999. Check the ID in ALM (Admin > Courses)."


def test_enrollments_are_read_once_per_user() -> None:
    alm = fake()
    resolver = Resolver(alm, LookupCache(None, BASE))
    resolver.prefetch_enrollments(["1", "2", "1"])
    resolver.enrollments("1")
    resolver.enrollments("2")
    assert alm.calls == {"get_enrollments": 2}
    resolver.forget_enrollments("1")
    resolver.enrollments("1")
    assert alm.calls["get_enrollments"] == 3


def test_progress_is_reported_per_stage() -> None:
    seen: list[tuple[str, int, int]] = []
    resolver = Resolver(fake(), LookupCache(None, BASE), on_progress=lambda *a: seen.append(a))
    resolver.resolve_users(["user1@acme.com", "user2@acme.com"])
    resolver.resolve_courses([cid(600)])
    assert ("users", 2, 2) in seen and ("courses", 1, 1) in seen


def test_parallel_workers_still_fetch_each_course_once() -> None:
    alm = fake()
    resolver = Resolver(alm, LookupCache(None, BASE), workers=8)
    refs = [
        name("Fire Safety 2025"),
        name("sécurité incendie"),
        name(" FIRE SAFETY 2025"),
        cid(300),
    ]
    out = resolver.resolve_courses(refs)
    assert alm.calls == {"iter_catalogue": 1, "get_course": 1}
    assert {res.course_id for res in out.values()} == {"course:300"}


def test_an_abort_in_a_worker_thread_stops_the_resolution() -> None:
    alm = fake()
    alm.fail["get_enrollments"] = AuthError("ALM refused the credentials.")
    resolver = Resolver(alm, LookupCache(None, BASE), workers=4)
    with pytest.raises(AuthError):
        resolver.prefetch_enrollments([str(i) for i in range(20)])


def test_an_enrollment_read_error_is_kept_for_the_rows_of_that_user() -> None:
    alm = fake()
    alm.fail["get_enrollments"] = ApiError(500, "Server Error")
    resolver = Resolver(alm, LookupCache(None, BASE))
    resolver.prefetch_enrollments(["1"])
    with pytest.raises(ApiError):
        resolver.enrollments("1")
    assert alm.calls == {"get_enrollments": 1}


def test_ctrl_c_stops_lookups_that_have_not_started() -> None:
    import threading

    from batch.errors import Interrupted

    alm = fake()
    stop = threading.Event()
    seen: list[int] = []

    def progress(stage: str, done: int, total: int) -> None:
        seen.append(done)
        if done == 3:
            stop.set()  # Ctrl-C after the third lookup

    resolver = Resolver(alm, LookupCache(None, BASE), workers=1, on_progress=progress, stop=stop)
    with pytest.raises(Interrupted):
        resolver.resolve_users([f"user{i}@acme.com" for i in range(20)])
    assert alm.calls["find_user_by_email"] == 3
