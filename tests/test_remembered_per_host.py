"""What the state directory remembers per ALM host (the allowance its headers granted, the
grade body it accepted) is keyed by host and port: a user name or password in ALM_BASE_URL
never lands in a file, and files written before that lose it the first time they are read."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest
from scripted_server import Canned, FakeClock, ScriptedServer

from batch.alm.api import AlmClient
from batch.alm.grade_shapes import SHAPES_FILE, ShapeStore, all_shapes
from batch.errors import ApiUnreachable
from batch.jobs.estimate import ALLOWANCE_FILE, allowance, expect_remembered
from batch.settings import Settings

PASSWORD = "hunter2-pa55"


def settings(base_url: str, **extra: Any) -> Settings:
    values: dict[str, Any] = {"base_url": base_url, "access_token": "tok-remembered-0001"}
    return Settings(_env_file=None, **{**values, **extra})  # type: ignore[call-arg]


class SeenHeaders:
    """A client whose answers carried ALM's rate headers (what ``allowance`` remembers)."""

    def __init__(self) -> None:
        self.expected: dict[str, tuple[float, float | None]] = {}

    def announced_per_minute(self, method: str) -> float | None:
        return {"GET": 600.0, "POST": 30.0}.get(method)

    def announced_burst(self, method: str) -> float | None:
        return 10.0

    def expect_allowance(self, method: str, per_minute: float, burst: float | None) -> None:
        self.expected[method] = (per_minute, burst)


@pytest.mark.parametrize(
    "base_url, host",
    [
        (f"https://admin:{PASSWORD}@LMS.Example.com", "lms.example.com"),
        (f"https://admin:{PASSWORD}@lms.example.com:8443/", "lms.example.com:8443"),
        ("https://learningmanager.adobe.com:443", "learningmanager.adobe.com"),
        ("http://127.0.0.1:5555", "127.0.0.1:5555"),
    ],
)
def test_the_host_is_host_and_port_only(base_url: str, host: str) -> None:
    assert settings(base_url).host == host


def test_the_allowance_is_kept_by_host_without_the_password(tmp_path: Path) -> None:
    with_password = settings(f"https://admin:{PASSWORD}@lms.example.com:8443")
    allowance(SeenHeaders(), with_password, tmp_path)
    text = (tmp_path / ALLOWANCE_FILE).read_text()
    assert PASSWORD not in text and "admin" not in text
    assert set(json.loads(text)) == {"lms.example.com:8443"}
    assert stat.S_IMODE((tmp_path / ALLOWANCE_FILE).stat().st_mode) == 0o600
    later = SeenHeaders()  # the same account, its URL written without the password
    assert expect_remembered(later, settings("https://lms.example.com:8443"), tmp_path) == [
        "GET",
        "POST",
    ]
    assert later.expected == {"GET": (600.0, 10.0), "POST": (30.0, 10.0)}


def test_an_old_allowance_file_keyed_with_a_password_is_migrated_when_read(
    tmp_path: Path,
) -> None:
    old = {f"admin:{PASSWORD}@lms.example.com": {"GET": 600.0, "POST": 30.0, "seen": "2026-12-01"}}
    (tmp_path / ALLOWANCE_FILE).write_text(json.dumps(old))
    client = SeenHeaders()
    primed = expect_remembered(client, settings("https://lms.example.com"), tmp_path)
    assert primed == ["GET", "POST"] and client.expected["POST"] == (30.0, None)
    migrated = json.loads((tmp_path / ALLOWANCE_FILE).read_text())
    assert migrated == {"lms.example.com": old[f"admin:{PASSWORD}@lms.example.com"]}


def test_a_clean_entry_wins_over_an_old_one_with_a_password(tmp_path: Path) -> None:
    old = {
        f"admin:{PASSWORD}@lms.example.com": {"GET": 100.0},
        "lms.example.com": {"GET": 600.0},
    }
    (tmp_path / ALLOWANCE_FILE).write_text(json.dumps(old))
    client = SeenHeaders()
    expect_remembered(client, settings("https://lms.example.com"), tmp_path)
    assert client.expected == {"GET": (600.0, None)}
    assert PASSWORD not in (tmp_path / ALLOWANCE_FILE).read_text()


def test_the_grade_body_is_kept_by_host_and_an_old_file_loses_its_password(
    tmp_path: Path,
) -> None:
    path = tmp_path / SHAPES_FILE
    shape = all_shapes()[1]
    old = {
        "format": "alm-batch-grade-shapes/1",
        f"admin:{PASSWORD}@lms.example.com": {"shape": shape.key, "learned_on": "2026-11-01"},
    }
    path.write_text(json.dumps(old))
    store = ShapeStore(path)
    assert store.load(settings("https://lms.example.com").host) == (shape, "2026-11-01")
    assert PASSWORD not in path.read_text()
    store.save(settings(f"https://u:{PASSWORD}@other.example").host, shape, "2026-12-07", [])
    data = json.loads(path.read_text())
    assert set(data) == {"format", "lms.example.com", "other.example"}
    assert PASSWORD not in path.read_text()


def test_a_password_in_the_base_url_is_never_sent_nor_shown() -> None:
    """requests would send the URL's user and password as Basic auth in place of ALM's token;
    the client sends the token alone, and names the host without them when ALM is away."""
    with ScriptedServer() as srv:
        srv.script("GET", "/primeapi/v2/users", Canned(200, {"data": []}))
        url = srv.base_url.replace("http://", f"http://admin:{PASSWORD}@")
        with AlmClient(settings(url)) as alm:
            alm.http.request("GET", "/users")
        seen = srv.requests_to("GET", "/primeapi/v2/users")[0]
        assert seen.headers["authorization"] == "oauth tok-remembered-0001"
        dead = url
    clock = FakeClock()
    with AlmClient(settings(dead), clock=clock, sleep=clock.sleep, give_up_after=5) as alm:
        with pytest.raises(ApiUnreachable) as err:
            alm.http.request("GET", "/users")
    assert PASSWORD not in str(err.value) and "admin" not in str(err.value)


def test_the_base_url_is_kept_without_its_user_name_and_password() -> None:
    kept = settings(f"https://admin:{PASSWORD}@LMS.example.com:8443/primeapi/v2/")
    assert kept.base_url == "https://LMS.example.com:8443"
    assert kept.api_root == "https://LMS.example.com:8443/primeapi/v2"


def test_a_live_run_with_a_password_in_the_base_url_writes_it_to_no_file(tmp_path: Path) -> None:
    """The lookup cache, the ledger, the transcripts, the reports: nothing in the state
    directory or beside the input carries the password (nor does the output)."""
    from e2e_support import SAMPLE_CSV, leaks, run_cli, sample_sandbox, sandbox_env

    state, work = tmp_path / "state", tmp_path / "work"
    work.mkdir()
    sample = work / "completions.csv"
    sample.write_bytes(SAMPLE_CSV.read_bytes())
    sb = sample_sandbox()
    try:
        env = sandbox_env(sb, state)
        env["ALM_BASE_URL"] = sb.base_url.replace("http://", f"http://admin:{PASSWORD}@")
        runs = [
            run_cli(["run", str(sample), "--yes", "--report", "report.xlsx"], cwd=work, alm=env)
        ]
        runs.append(run_cli(["validate", str(sample)], cwd=work, alm=env))
    finally:
        sb.stop()
    assert runs[0].code == 1, runs[0]  # the sample's failing rows, by design
    assert (state / "ledger.sqlite3").is_file() and (state / "cache.sqlite3").is_file()
    assert leaks([PASSWORD], runs, tmp_path) == []


def test_an_old_ledger_and_cache_keyed_with_a_password_lose_it_when_opened(
    tmp_path: Path,
) -> None:
    import sqlite3

    from batch.cache import LookupCache
    from batch.ledger import Ledger, WriteKey, WriteKind

    dirty = f"https://admin:{PASSWORD}@lms.example.com"
    with Ledger(tmp_path / "ledger.sqlite3") as ledger:
        ledger._db.execute(  # a row as an earlier version wrote it
            "INSERT INTO writes (base_url, kind, user_id, course_id, instance_id, module_id, "
            "state, run_id, input_sha256, row, created_at, updated_at) "
            "VALUES (?, 'grade', 'u1', 'c1', 'i1', 'm1', 'unknown', 'r1', '', 2, 'x', 'x')",
            (dirty,),
        )
    cache_path = tmp_path / "cache.sqlite3"
    LookupCache(cache_path, "https://lms.example.com").close()
    with sqlite3.connect(cache_path) as db:
        db.execute(
            "INSERT INTO catalogue (base_url, payload, fetched_at) VALUES (?, '[]', 0)", (dirty,)
        )
    with Ledger(tmp_path / "ledger.sqlite3") as ledger:
        clean = settings(dirty).base_url
        key = WriteKey(clean, WriteKind.GRADE, "u1", "c1", "i1", "m1")
        assert [entry.key for entry in ledger.unsettled(clean)] == [key]
    LookupCache(cache_path, dirty).close()
    for name in ("ledger.sqlite3", "cache.sqlite3"):
        assert PASSWORD.encode() not in (tmp_path / name).read_bytes(), name
