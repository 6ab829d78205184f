"""The ledger's run history (``Ledger.list_runs`` and the read-only ``list_runs(path)``): what
the upload page's History lists, newest first, with each run's writes per state."""

from __future__ import annotations

import hashlib
import sqlite3
import time
from pathlib import Path

import pytest

from batch.ledger import (
    LEDGER_NAME,
    Ledger,
    RunRecord,
    WriteKey,
    WriteKind,
    WriteState,
    list_runs,
)

BASE = "https://learningmanager.adobe.com"


def key(user: str, module: str = "m1") -> WriteKey:
    return WriteKey(BASE, WriteKind.GRADE, user, "course:1", "course:1_1", module)


def journal(ledger: Ledger, run_id: str, outcomes: dict[str, WriteState | None]) -> None:
    """Journal one write per user through the public API; None leaves it pending."""
    for row, (user, state) in enumerate(outcomes.items(), start=2):
        ledger.begin(key(user), run_id, f"sha-{run_id}", row)
        if state is not None:
            ledger.finish(key(user), state, status=200 if state is WriteState.DONE else 500)


def three_runs(ledger: Ledger) -> None:
    """run-a ended 1 (2 done, 2 failed); run-b ended 4, re-sent run-a's failed write (now
    done: it counts for run-b) and lost one answer; run-c is going (one write in flight)."""
    ledger.start_run("run-a", input_path="/hr/march.csv", input_sha256="sha-a",
                     options={"verify": True})  # fmt: skip
    journal(ledger, "run-a", {"u1": WriteState.DONE, "u2": WriteState.DONE,
                              "u3": WriteState.FAILED, "u6": WriteState.FAILED})  # fmt: skip
    ledger.end_run("run-a", 1)
    ledger.start_run("run-b", input_path="/hr/march.csv", input_sha256="sha-b")
    journal(ledger, "run-b", {"u3": WriteState.DONE, "u4": WriteState.UNKNOWN})
    ledger.end_run("run-b", 4)
    ledger.start_run("run-c", input_path="/hr/april.xlsx", input_sha256="sha-c")
    journal(ledger, "run-c", {"u5": None})


EXPECTED = [
    ("run-c", "/hr/april.xlsx", "sha-c", None, None, {}, (0, 0, 0, 1)),
    ("run-b", "/hr/march.csv", "sha-b", True, 4, {}, (1, 0, 1, 0)),
    ("run-a", "/hr/march.csv", "sha-a", True, 1, {"verify": True}, (2, 1, 0, 0)),  # u3 moved
]


def shape(run: RunRecord) -> tuple[object, ...]:
    counts = (run.writes_done, run.writes_failed, run.writes_unknown, run.writes_pending)
    ended = None if run.ended_at is None else run.ended_at >= run.started_at
    return (run.run_id, run.input_path, run.input_sha256, ended, run.exit_status, run.options,
            counts)  # fmt: skip


def test_list_runs_newest_first_with_write_counts(tmp_path: Path) -> None:
    with Ledger(tmp_path / LEDGER_NAME) as ledger:
        three_runs(ledger)
        runs = ledger.list_runs()
        assert [shape(r) for r in runs] == EXPECTED
        assert all(r.started_at.endswith("Z") and len(r.started_at) == 20 for r in runs)
        assert [r.writes_total for r in runs] == [1, 2, 3]
        assert [r.run_id for r in ledger.list_runs(limit=2)] == ["run-c", "run-b"]
        assert ledger.get_run("run-b") == runs[1]  # the same record, counts included
        with pytest.raises(ValueError, match="1 or more"):
            ledger.list_runs(limit=0)


def test_a_later_start_sorts_first_whatever_the_insert_order(tmp_path: Path) -> None:
    path = tmp_path / LEDGER_NAME
    with Ledger(path) as ledger:
        ledger.start_run("old")
        ledger.start_run("new")
    with sqlite3.connect(path) as db:  # older run ids recorded later (a clock set back, a copy)
        db.execute("UPDATE runs SET started_at = '2026-01-01T00:00:00Z' WHERE run_id = 'new'")
        db.execute("UPDATE runs SET started_at = '2025-01-01T00:00:00Z' WHERE run_id = 'old'")
        db.execute("INSERT INTO runs (run_id, started_at) VALUES ('older', '2024-01-01T00:00:00Z')")
    with Ledger(path) as ledger:
        assert [r.run_id for r in ledger.list_runs()] == ["new", "old", "older"]


def test_an_empty_ledger_has_no_runs(tmp_path: Path) -> None:
    with Ledger(tmp_path / LEDGER_NAME) as ledger:
        assert ledger.list_runs() == []
    assert list_runs(tmp_path / LEDGER_NAME) == []


def test_read_only_list_runs_beside_a_live_run(tmp_path: Path) -> None:
    """Another process's view (its own read-only connection) while the run's connection is
    open and even holds an uncommitted write: the last committed state, without waiting."""
    path = tmp_path / "state" / LEDGER_NAME
    with Ledger(path) as ledger:
        three_runs(ledger)
        assert [shape(r) for r in list_runs(path)] == EXPECTED
        writer = sqlite3.connect(path, isolation_level=None, timeout=1)
        try:
            writer.execute("BEGIN IMMEDIATE")
            writer.execute("INSERT INTO runs (run_id, started_at) VALUES ('run-d', '2099-01-01')")
            started = time.monotonic()
            assert [r.run_id for r in list_runs(path, limit=1)] == ["run-c"]
            assert time.monotonic() - started < 1.0  # not blocked by the writer
            writer.execute("COMMIT")
        finally:
            writer.close()
        ledger.finish(key("u5"), WriteState.DONE)
        ledger.end_run("run-c", 0)
        assert [(shape(r)[0], *shape(r)[4:]) for r in list_runs(path, limit=2)] == [
            ("run-d", None, {}, (0, 0, 0, 0)),  # committed meanwhile, started "later"
            ("run-c", 0, {}, (1, 0, 0, 0)),  # ended; its write landed
        ]


def test_read_only_list_runs_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / LEDGER_NAME
    with Ledger(path) as ledger:
        three_runs(ledger)
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    assert [shape(r) for r in list_runs(path)] == EXPECTED  # no -wal/-shm left: still readable
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    missing = tmp_path / "nowhere" / LEDGER_NAME
    assert list_runs(missing) == []
    assert not missing.parent.exists()  # never creates a ledger (or its folder)
