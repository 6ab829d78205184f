"""A state directory that fills up (or breaks) during a live run: the run stops at the first
journal write it cannot make, with one message and exit 4, keeps what was journaled, and a
later run finishes the job without posting anything twice. An empty ledger file is said.

The full disk is injected: the ledger's connection refuses every write after a few, as SQLite
does on a full disk ("database or disk is full").
"""

from __future__ import annotations

import io
import logging
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from batch import ledger as ledger_module
from batch.alm.grade_shapes import GradeShape, ShapeStore
from batch.cli import CliEnv, main
from batch.ledger import LEDGER_NAME, Ledger
from batch.sandbox import Sandbox
from batch.web.app import WebConfig, create_app
from batch.web.registry import sandbox_settings
from tests.e2e_support import (
    SAMPLE_CSV,
    graded,
    ledger_states,
    read_report,
    sandbox_env,
    wanted_grades,
)
from tests.web_support import ORIGIN, H, dry_run, upload, wait

ROOM = 8  # journal writes the disk takes before it is full


class FullDisk:
    """A ledger connection whose disk fills after ``room`` changes to the journal."""

    def __init__(self, conn: sqlite3.Connection, room: int) -> None:
        self.conn = conn
        self.room = room

    def execute(self, sql: str, params: Any = ()) -> Any:
        if sql.lstrip().startswith(("INSERT", "UPDATE")):
            if self.room <= 0:
                raise sqlite3.OperationalError("database or disk is full")
            self.room -= 1
        return self.conn.execute(sql, params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.conn, name)


@pytest.fixture()
def full_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    opened = Ledger.__init__

    def filling(self: Ledger, path: Path) -> None:
        opened(self, path)
        self._db = FullDisk(self._db, ROOM)  # type: ignore[assignment]

    monkeypatch.setattr(ledger_module.Ledger, "__init__", filling)


def cli(argv: list[str], env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    err = io.StringIO()
    code = main(argv, CliEnv(stdin=io.StringIO(""), stdout=io.StringIO(), stderr=err))
    return code, err.getvalue()


def test_a_full_state_directory_stops_the_run_at_once_with_exit_4(
    sb: Sandbox,
    sample: Path,
    tmp_path: Path,
    full_disk: None,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    state = tmp_path / "state"
    argv = ["run", str(sample), "--yes", "--concurrency", "1", "--report", str(tmp_path / "r.json")]
    with caplog.at_level(logging.WARNING):
        code, err = cli([*argv, "--state-dir", str(state)], sandbox_env(sb), monkeypatch)
    assert code == 4, err
    assert err.count("No space left in the state directory") == 1, err
    assert "Traceback" not in err and "Traceback" not in caplog.text
    assert not [r for r in caplog.records if r.exc_info]  # no logged traceback per learner
    books = sb.books()
    sent = len(books["grades"]) + books["enrollments_created"]
    assert 0 < sent < ROOM  # the run stopped at the first write it could not journal
    rows = read_report(tmp_path / "r.json")  # the report of what was done is written
    unknown = [r for r in rows if r["status"] == "not_run"]  # never sent: running the rest does
    assert unknown and all("the run stopped" in r["message"].lower() for r in unknown)
    because = [r["message"] for r in unknown if "stopped because" in r["message"]]
    assert because and all("no space left in the state directory" in m for m in because)
    assert ledger_states(state).get("done", 0) >= 1  # what was journaled is kept

    # Space again: the same command finishes the job and posts nothing twice.
    monkeypatch.undo()
    code, err = cli([*argv, "--state-dir", str(state)], sandbox_env(sb), monkeypatch)
    assert code == 1, err  # the sample's rows that need a person
    books = sb.books()
    assert books["double_grades"] == 0
    assert graded(books) == {key: 1 for key in wanted_grades(read_report(tmp_path / "r.json"))}


def test_the_page_says_the_state_directory_is_full(
    sb: Sandbox, tmp_path: Path, full_disk: None
) -> None:
    # The grade body this ALM accepts is known already (as after any earlier run on the host):
    # no learner waits for another's first grade to learn it while the run stops.
    settings = sandbox_settings(sb)
    state = tmp_path / "state"
    shape = GradeShape.from_key("course_module/none/course")
    assert shape is not None
    ShapeStore(state / "grade_shapes.json").save(settings.host, shape, "2026-12-01", [])
    app = create_app(WebConfig(state_dir=state, settings_factory=lambda: settings))
    with TestClient(app, base_url=ORIGIN) as c:
        dry = dry_run(c, upload(c, SAMPLE_CSV)["upload_id"])
        live = c.post(f"/api/jobs/{dry['job_id']}/run", json={}, headers=H).json()["job_id"]
        status = wait(c, live)
        assert status["state"] == "failed" and status["exit_code"] == 4
        assert "no space left in the state directory" in status["message"].lower()
        assert "(the job's folder)" not in status["message"]
        assert c.get(f"/api/jobs/{live}/report.json").status_code == 200
        assert status["can_run_rest"]
    assert sb.books()["double_grades"] == 0


def test_an_empty_ledger_file_is_said_not_taken_for_new_in_silence(
    sb: Sandbox, sample: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / LEDGER_NAME).write_bytes(b"")
    argv = [
        "run",
        str(sample),
        "--yes",
        "--state-dir",
        str(state),
        "--report",
        str(tmp_path / "r.json"),
    ]
    code, err = cli(argv, sandbox_env(sb), monkeypatch)
    assert code == 1
    assert f"warning: The run ledger {state / LEDGER_NAME} was an empty file (0 bytes)" in err
    assert "their journal is lost" in err
