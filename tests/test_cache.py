"""LookupCache: persistence across runs, TTL, refresh, misses, corruption, locking, threads."""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path

import pytest

from batch.alm.types import CourseDetail, CourseSummary, User
from batch.cache import (
    LookupCache,
    cache_path,
)
from batch.errors import StateError
from tests.fake_alm import make_course

BASE = "https://learningmanager.adobe.com"


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_users_persist_across_instances_and_match_case_insensitively(tmp_path: Path) -> None:
    path = cache_path(tmp_path)
    with LookupCache(path, BASE) as first:
        first.put_user("Jane.Doe@Acme.com", User(id="11", email="jane.doe@acme.com"))
    with LookupCache(path, BASE) as second:
        assert second.get_user(" jane.doe@acme.com ") == (
            True,
            User(id="11", email="jane.doe@acme.com"),
        )
        assert second.get_user("nobody@acme.com") == (False, None)


def test_misses_are_remembered_for_the_run_only(tmp_path: Path) -> None:
    path = cache_path(tmp_path)
    with LookupCache(path, BASE) as run1:
        run1.put_user("ghost@acme.com", None)
        run1.put_course("course:999", None)
        assert run1.get_user("ghost@acme.com") == (True, None)
        assert run1.get_course("course:999") == (True, None)
    with LookupCache(path, BASE) as run2:
        assert run2.get_user("ghost@acme.com") == (False, None)
        assert run2.get_course("course:999") == (False, None)


def test_entries_expire_after_the_ttl(tmp_path: Path) -> None:
    clock = Clock()
    path = cache_path(tmp_path)
    course = make_course(1, "Fire Safety")
    with LookupCache(path, BASE, ttl_seconds=3600, clock=clock) as cache:
        cache.put_course(course.id, course)
        cache.put_catalogue([CourseSummary(course.id, course.state, course.names)])
    clock.now += 3599
    with LookupCache(path, BASE, ttl_seconds=3600, clock=clock) as cache:
        assert cache.get_course(course.id) == (True, course)
        assert cache.get_catalogue() is not None
    clock.now += 2
    with LookupCache(path, BASE, ttl_seconds=3600, clock=clock) as cache:
        assert cache.get_course(course.id) == (False, None)
        assert cache.get_catalogue() is None


def test_refresh_ignores_old_entries_but_keeps_this_runs(tmp_path: Path) -> None:
    clock = Clock()
    path = cache_path(tmp_path)
    with LookupCache(path, BASE, clock=clock) as cache:
        cache.put_user("a@acme.com", User(id="1", email="a@acme.com"))
    clock.now += 10
    with LookupCache(path, BASE, refresh=True, clock=clock) as cache:
        assert cache.get_user("a@acme.com") == (False, None)
        clock.now += 1
        cache.put_user("a@acme.com", User(id="1", email="a@acme.com", state="SUSPENDED"))
        found, user = cache.get_user("a@acme.com")
        assert found and user is not None and user.state == "SUSPENDED"


def test_entries_are_kept_apart_by_base_url(tmp_path: Path) -> None:
    path = cache_path(tmp_path)
    with LookupCache(path, BASE) as us:
        us.put_user("a@acme.com", User(id="1", email="a@acme.com"))
    with LookupCache(path, "https://learningmanagereu.adobe.com") as eu:
        assert eu.get_user("a@acme.com") == (False, None)
    with LookupCache(path, BASE + "/") as us_again:
        assert us_again.get_user("a@acme.com")[0] is True


def test_no_cache_keeps_nothing_on_disk(tmp_path: Path) -> None:
    with LookupCache(None, BASE) as cache:
        cache.put_user("a@acme.com", User(id="1", email="a@acme.com"))
        assert cache.get_user("a@acme.com")[0] is True
    assert list(tmp_path.iterdir()) == []


def test_a_file_that_is_not_a_database_is_moved_aside_and_rebuilt(tmp_path: Path) -> None:
    path = cache_path(tmp_path)
    path.write_bytes(b"this is not sqlite at all " * 100)
    with LookupCache(path, BASE) as cache:
        assert len(cache.warnings) == 1
        assert "rebuilt" in cache.warnings[0]
        cache.put_user("a@acme.com", User(id="1", email="a@acme.com"))
        assert cache.get_user("a@acme.com")[0] is True
    aside = [p.name for p in tmp_path.iterdir() if ".corrupt-" in p.name]
    assert len(aside) == 1
    with LookupCache(path, BASE) as again:
        assert again.warnings == []
        assert again.get_user("a@acme.com")[0] is True


def test_a_database_with_another_schema_is_rebuilt(tmp_path: Path) -> None:
    path = cache_path(tmp_path)
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE users (email TEXT, id TEXT)")
    conn.commit()
    conn.close()
    with LookupCache(path, BASE) as cache:
        assert cache.warnings and "moved to" in cache.warnings[0]
        cache.put_user("a@acme.com", User(id="1", email="a@acme.com"))
        assert cache.get_user("a@acme.com")[0] is True


def test_a_garbled_entry_is_a_miss_not_a_crash(tmp_path: Path) -> None:
    path = cache_path(tmp_path)
    with LookupCache(path, BASE) as cache:
        cache.put_user("a@acme.com", User(id="1", email="a@acme.com"))
    conn = sqlite3.connect(path)
    conn.execute("UPDATE users SET payload = '{not json'")
    conn.commit()
    conn.close()
    with LookupCache(path, BASE) as cache:
        assert cache.get_user("a@acme.com") == (False, None)


def test_a_cache_locked_by_another_process_is_a_clear_state_error(tmp_path: Path) -> None:
    path = cache_path(tmp_path)
    LookupCache(path, BASE).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StateError, match="locked by another alm-batch run"):
            LookupCache(path, BASE, lock_timeout=0.05)
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_a_write_blocked_mid_run_degrades_to_memory_with_a_warning(tmp_path: Path) -> None:
    path = cache_path(tmp_path)
    cache = LookupCache(path, BASE, lock_timeout=0.05)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        cache.put_user("a@acme.com", User(id="1", email="a@acme.com"))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert any("failed during the run" in w for w in cache.warnings)
    cache.put_user("b@acme.com", User(id="2", email="b@acme.com"))
    assert cache.get_user("b@acme.com")[0] is True
    cache.close()


def test_concurrent_threads_share_one_cache(tmp_path: Path) -> None:
    cache = LookupCache(cache_path(tmp_path), BASE)
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(50):
                email = f"u{n}-{i}@acme.com"
                cache.put_user(email, User(id=f"{n}{i}", email=email))
                assert cache.get_user(email)[0] is True
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    cache.close()
    assert errors == []
    with LookupCache(cache_path(tmp_path), BASE) as again:
        assert all(again.get_user(f"u{n}-49@acme.com")[0] for n in range(6))


def test_every_payload_round_trips_through_the_file(tmp_path: Path) -> None:
    course = make_course(
        7,
        {"en-US": " Fire Safety ", "fr-FR": "Sécurité incendie"},
        instances=[(1, "Default", "Active", True), (2, "Old", "Retired", False)],
        modules=[(1, "Intro", "Pre Work"), (2, "Main", "Content")],
    )
    user = User(id="42", email="Renée@acme.com", state="SUSPENDED", name="Renée Dupont")
    catalogue = [
        CourseSummary(id="course:7", state="Published", names={"en-US": "Fire Safety"}),
        CourseSummary(id="lp:9", state="Retired", names={}, lo_type="learningProgram"),
    ]
    path = cache_path(tmp_path)
    with LookupCache(path, BASE) as cache:
        cache.put_course(course.id, course)
        cache.put_user(user.email, user)
        cache.put_catalogue(catalogue)
    with LookupCache(path, BASE) as cache:  # a new run: everything comes from the file
        assert cache.get_course(course.id) == (True, course)
        assert cache.get_user("renée@acme.com") == (True, user)
        assert cache.get_catalogue() == catalogue
    got = cache_path(tmp_path)
    conn = sqlite3.connect(got)
    (payload,) = conn.execute("SELECT payload FROM courses").fetchone()
    conn.close()
    # Tuples are stored as JSON lists and come back as tuples (the dataclasses' own types).
    assert json.loads(payload)["instances"][1]["modules"][0]["lo_resource_type"] == "Pre Work"


# Payloads exactly as schema "1"'s hand-written serialisers stored them.
LEGACY_USER = '{"id": "1", "email": "a@acme.com", "state": "ACTIVE", "name": "Ann"}'
LEGACY_CATALOGUE = (
    '[{"id": "course:7", "state": "Published", "names": {"en-US": "Fire"}, "lo_type": "course"}]'
)
LEGACY_COURSE = json.dumps(
    {
        "id": "course:7", "state": "Published", "names": {"en-US": "Fire"}, "lo_type": "course",
        "instances": [{
            "id": "course:7_1", "state": "Active", "is_default": True, "names": {},
            "modules": [{
                "id": "course:7_1_1_0", "instance_id": "course:7_1", "lo_resource_type": "Content",
                "names": {"en-US": "M"}, "resource_type": "Elearning", "mandatory": True,
            }],
        }],
    }
)  # fmt: skip


def test_a_cache_written_by_the_old_serialisers_still_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = cache_path(tmp_path)
    LookupCache(path, BASE).close()
    now = 1_000_000.0
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO users VALUES (?, ?, ?, ?)", (BASE, "a@acme.com", LEGACY_USER, now))
    conn.execute("INSERT INTO catalogue VALUES (?, ?, ?)", (BASE, LEGACY_CATALOGUE, now))
    conn.execute("INSERT INTO courses VALUES (?, ?, ?, ?)", (BASE, "course:7", LEGACY_COURSE, now))
    conn.commit()
    conn.close()
    with LookupCache(path, BASE, clock=Clock(now + 1)) as cache:
        assert cache.get_user("a@acme.com") == (True, User("1", "a@acme.com", "ACTIVE", "Ann"))
        assert cache.get_catalogue() == [
            CourseSummary(id="course:7", state="Published", names={"en-US": "Fire"})
        ]
        found, course = cache.get_course("course:7")
        assert found and course is not None
        module = course.instances[0].modules[0]
        assert module.resource_type == "Elearning" and module.is_content
        assert isinstance(course.instances, tuple) and course.default_instance is not None


def test_a_payload_of_the_wrong_shape_is_a_miss(tmp_path: Path) -> None:
    path = cache_path(tmp_path)
    with LookupCache(path, BASE) as cache:
        cache.put_user("a@acme.com", User(id="1", email="a@acme.com"))
    conn = sqlite3.connect(path)
    conn.execute("""UPDATE users SET payload = '{"email": "a@acme.com"}'""")  # no id
    conn.commit()
    conn.close()
    with LookupCache(path, BASE) as cache:
        assert cache.get_user("a@acme.com") == (False, None)


def test_a_catalogue_of_courses_only_is_dropped_when_programs_join_it(tmp_path: Path) -> None:
    """A schema-2 cache listed courses only: kept, it would hide a program's name for a day."""
    path = cache_path(tmp_path)
    now = 1_000_000.0
    with LookupCache(path, BASE, clock=Clock(now)) as cache:
        cache.put_catalogue([CourseSummary(id="course:7", state="Published", names={"": "F"})])
        cache.put_course("course:7", CourseDetail("course:7", "Published", {"": "F"}))
        cache.put_course("learningProgram:9", CourseDetail("learningProgram:9", "Published", {}))
        cache.put_user("a@acme.com", User(id="1", email="a@acme.com"))
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE meta SET value = '2' WHERE key = 'schema'")
    with LookupCache(path, BASE, clock=Clock(now + 1)) as cache:
        assert cache.warnings == []
        assert cache.get_catalogue() is None  # listed again, every type this time
        assert cache.get_course("learningProgram:9") == (False, None)  # read again, sections too
        assert cache.get_course("course:7")[0] is True
        assert cache.get_user("a@acme.com")[0] is True
