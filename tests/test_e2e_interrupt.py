"""Through the real CLI: Ctrl-C mid-run (exit 130), credentials refused and ALM
unreachable (exit 3), and two runs on one state directory (exit 2)."""

from __future__ import annotations

import signal
import socket
import time
from pathlib import Path

import pytest

from batch.sandbox import Sandbox
from tests.e2e_support import (
    EXPECTED_LIVE,
    SAMPLE_ROWS,
    graded,
    interrupt,
    ledger_states,
    read_report,
    rerun_finishes_the_job,
    run_cli,
    sandbox_env,
    spawned,
    statuses,
    wait_for,
)

pytestmark = pytest.mark.timeout(120)
WRONG_SECRET = "wrong-secret-e2e-Zq81xK"


def test_ctrl_c_mid_run_saves_report_and_ledger_and_the_rerun_finishes(
    sb: Sandbox, sample: Path, tmp_path: Path
) -> None:
    alm = sandbox_env(sb, tmp_path / "state")
    sb.configure(latency_ms=(20.0, 40.0))  # slow enough that the run is in flight
    # Two workers: some rows are still queued when Ctrl-C comes (the default concurrency,
    # drawn from the sandbox's scaled write allowance, would start every learner at once).
    args = ["run", sample.name, "--yes", "--report", "interrupted.json", "--concurrency", "2"]
    with spawned(args, cwd=tmp_path, alm=alm) as child:
        assert wait_for(lambda: len(sb.books()["grades"]) >= 3, timeout=30)
        interrupt(child.proc, signal.SIGINT)
        run = child.finish(timeout=30)
    assert run.code == 130, run
    assert "Interrupted" in run.stderr and "Traceback" not in run.stderr
    assert "exit 130" in run.stderr

    rows = read_report(tmp_path / "interrupted.json")
    assert [r["row"] for r in rows] == SAMPLE_ROWS  # every row, even those not attempted
    final = statuses(rows)
    for row, expected in EXPECTED_LIVE.items():  # rows with nothing to write keep their status
        if expected != "completed":
            assert final[row] == expected, (row, final[row])
    stopped = [r for r in rows if r["status"] == "not_run"]
    assert stopped, "the run finished before the interrupt: nothing to resume"
    assert all("the same command again" in r["message"] for r in stopped)
    assert any(r["message"].startswith("Not run: the run was cancelled") for r in stopped)
    done_rows = [r for r in rows if r["status"] == "completed"]
    assert done_rows and len(done_rows) + len(stopped) == 29
    # the ledger is saved and closed: every write it knows of has its answer, none pending
    journal = ledger_states(tmp_path / "state")
    assert journal.get("pending", 0) == 0 and journal.get("done", 0) > 0
    grades_then = graded(sb.books())
    assert grades_then and all(n == 1 for n in grades_then.values())

    sb.configure(latency_ms=(0.0, 0.0))
    rerun = rerun_finishes_the_job(sb, tmp_path, alm)
    for row in done_rows:  # what the interrupted run did is not done again
        assert statuses(rerun)[row["row"]] == "already_completed"


def test_refused_credentials_exit_3_naming_the_setting_not_the_secret(
    sb: Sandbox, sample: Path, tmp_path: Path
) -> None:
    alm = sandbox_env(sb, tmp_path / "state", ALM_CLIENT_SECRET=WRONG_SECRET)
    started = time.monotonic()
    run = run_cli(["run", sample.name, "--yes", "--verbose"], cwd=tmp_path, alm=alm, timeout=30)
    assert run.code == 3, run
    assert time.monotonic() - started < 15  # refused at once, not after a retry budget
    assert "ALM_CLIENT_SECRET" in run.stderr and "refused" in run.stderr
    assert WRONG_SECRET not in run.stdout + run.stderr
    assert "Traceback" not in run.stderr
    books = sb.books()
    assert books["grades"] == [] and books["enrollments_created"] == 0
    assert set(books["calls"]) == {"POST /oauth/token/refresh"}
    # The report of what was done (nothing): every row, the ones needing ALM "Not attempted".
    report = tmp_path / sample.name.replace(".csv", ".report.csv")
    rows = read_report(report)
    assert [r["row"] for r in rows] == SAMPLE_ROWS
    waiting = [r for r in rows if r["status"] == "not_run"]
    assert waiting and all(r["message"].startswith("Not run: ALM stopped the run") for r in waiting)
    assert "ALM_CLIENT_SECRET" in waiting[0]["message"]
    assert WRONG_SECRET not in report.read_text(encoding="utf-8-sig")


def test_unreachable_alm_exit_3_after_give_up_after(
    sb: Sandbox, sample: Path, tmp_path: Path
) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    alm = sandbox_env(sb, tmp_path / "state", ALM_BASE_URL=f"http://127.0.0.1:{port}")
    started = time.monotonic()
    run = run_cli(
        ["run", sample.name, "--yes", "--give-up-after", "2s"], cwd=tmp_path, alm=alm, timeout=40
    )
    took = time.monotonic() - started
    assert run.code == 3, run
    assert f"127.0.0.1:{port}" in run.stderr and "ALM_BASE_URL" in run.stderr
    assert "Traceback" not in run.stderr
    assert took < 10, f"--give-up-after 2s took {took:.1f} s"


def test_a_second_run_on_the_same_state_dir_is_refused(
    sb: Sandbox, sample: Path, tmp_path: Path
) -> None:
    alm = sandbox_env(sb, tmp_path / "state")
    sb.configure(latency_ms=(30.0, 50.0))
    lock = tmp_path / "state" / "alm-batch.lock"
    with spawned(
        ["run", sample.name, "--yes", "--report", "first.csv"], cwd=tmp_path, alm=alm
    ) as first:
        assert wait_for(lambda: lock.exists() and "pid=" in lock.read_text(), timeout=30)
        second = run_cli(
            ["run", sample.name, "--yes", "--report", "second.csv"], cwd=tmp_path, alm=alm
        )
        still_running = first.proc.poll() is None
        sb.configure(latency_ms=(0.0, 0.0))
        first_run = first.finish(timeout=60)
    assert still_running, "the first run ended before the second started: the lock was not tested"
    assert second.code == 2, second
    assert "Another alm-batch run is using the state directory" in second.stderr
    assert f"pid={first.proc.pid}" in second.stderr or str(first.proc.pid) in second.stderr
    assert not (tmp_path / "second.csv").exists()
    assert first_run.code == 1, first_run  # the first run was not disturbed
    assert statuses(read_report(tmp_path / "first.csv")) == EXPECTED_LIVE
    assert sb.books()["double_grades"] == 0


def test_ctrl_c_while_resolving_writes_nothing_and_reports_every_row(
    sb: Sandbox, sample: Path, tmp_path: Path
) -> None:
    alm = sandbox_env(sb, tmp_path / "state")
    sb.configure(latency_ms=(30.0, 50.0))
    with spawned(
        ["run", sample.name, "--yes", "--report", "early.csv"], cwd=tmp_path, alm=alm
    ) as child:
        assert wait_for(lambda: sb.books()["calls"].get("GET /users", 0) >= 2, timeout=30)
        interrupt(child.proc, signal.SIGINT)
        run = child.finish(timeout=60)
    assert run.code == 130, run
    books = sb.books()
    assert (
        set(books["calls"]) & {"POST /users/{id}/enrollments", "POST /users/{id}/userModuleGrade"}
        == set()
    )
    rows = read_report(tmp_path / "early.csv")
    assert [r["row"] for r in rows] == SAMPLE_ROWS
    # The first Ctrl-C stops the lookups: rows checked without ALM keep their status (invalid,
    # duplicate); every other row is "not_run" (never tried) and the re-run sends it.
    offline = {"invalid", "duplicate"}
    expected = {r: s if s in offline else "not_run" for r, s in EXPECTED_LIVE.items()}
    assert statuses(rows) == expected
    assert all(r["message"].startswith("Not run") for r in rows if r["status"] == "not_run")
    assert "the same command again" in rows[0]["message"]


def test_a_second_ctrl_c_stops_at_once_and_says_what_was_kept(
    sb: Sandbox, sample: Path, tmp_path: Path
) -> None:
    alm = sandbox_env(sb, tmp_path / "state")
    sb.configure(latency_ms=(10.0, 20.0))
    with spawned(
        ["run", sample.name, "--yes", "--report", "stopped.csv"], cwd=tmp_path, alm=alm
    ) as child:
        assert wait_for(lambda: len(sb.books()["grades"]) >= 2, timeout=60)
        sb.configure(latency_ms=(300.0, 400.0))  # from now on each request takes a while
        time.sleep(0.1)  # the requests in flight are slow ones: the first Ctrl-C waits for them
        interrupt(child.proc, signal.SIGINT)
        time.sleep(0.05)
        interrupt(child.proc, signal.SIGINT)
        run = child.finish(timeout=30)
    assert run.code == 130, run
    assert "stopped at once" in run.stderr and "run the same command again" in run.stderr
    assert "nothing was changed" not in run.stderr  # grades were posted: it must not say so
    assert not (tmp_path / "stopped.csv").exists()
    posted = graded(sb.books())
    assert posted and all(n == 1 for n in posted.values())
    assert ledger_states(tmp_path / "state").get("done", 0) >= len(posted)
    sb.configure(latency_ms=(0.0, 0.0))
    rerun_finishes_the_job(sb, tmp_path, alm)
