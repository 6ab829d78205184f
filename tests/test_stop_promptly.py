"""Stopping is prompt and says why: Ctrl-C on the command line sends nothing more and says who is
enrolled but not graded; a dry run against an ALM that does not answer says so within seconds
(the retries go on); refused credentials stop at once with what to check; stopping the page's
server does not wait for jobs that have nothing in flight."""

from __future__ import annotations

import io
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from pydantic import SecretStr
from starlette.testclient import TestClient

from batch.alm.grade_shapes import SHAPES_FILE as GRADE_SHAPES
from batch.cli import CliEnv, main
from batch.demo import sandbox_env, settings_for_sandbox
from batch.jobs import Job, JobOptions
from batch.models import RunSummary, counted
from batch.settings import Settings
from batch.web.app import WebConfig, create_app
from batch.web.registry import sandbox_settings
from tests.e2e_support import SAMPLE_CSV, SAMPLE_GRADES, graded, read_report, sample_sandbox
from tests.web_support import ORIGIN, H, site, upload

WRITES = ("POST /users/{id}/userModuleGrade", "POST /users/{id}/enrollments")


def writes_received(calls: dict[str, int]) -> int:
    return sum(calls.get(name, 0) for name in WRITES)


def run_cli(
    argv: list[str], monkeypatch: pytest.MonkeyPatch, env: dict[str, str]
) -> tuple[int, str]:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    err = io.StringIO()
    code = main(argv, CliEnv(stdin=io.StringIO(""), stdout=io.StringIO(), stderr=err))
    return code, err.getvalue()


def test_ctrl_c_sends_nothing_more_and_says_who_is_enrolled_but_not_graded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """At ALM's published write limit (30 a minute) the writes wait for the pacer: Ctrl-C ends
    the run within about two seconds, no write that was waiting is sent, and the same command
    finishes the job with nothing posted twice."""
    sb = sample_sandbox(post_per_minute=30.0 / 600)  # time scale 600: 30 real writes a minute
    try:
        env = sandbox_env(sb)
        argv = ["run", str(SAMPLE_CSV), "--yes", "--state-dir", str(tmp_path / "state")]
        fired: dict[str, float] = {}

        def press_ctrl_c() -> None:
            deadline = time.monotonic() + 60
            while writes_received(sb.books()["calls"]) < 14 and time.monotonic() < deadline:
                time.sleep(0.05)
            fired["writes"] = writes_received(sb.books()["calls"])
            fired["at"] = time.monotonic()
            os.kill(os.getpid(), signal.SIGINT)

        threading.Thread(target=press_ctrl_c, daemon=True).start()
        report = tmp_path / "stopped.json"
        code, err = run_cli([*argv, "--report", str(report)], monkeypatch, env)
        took = time.monotonic() - fired["at"]
        assert code == 130, err
        assert took < 3.0, f"Ctrl-C took {took:.1f} s"
        # One write can be on the wire when Ctrl-C comes (one every 2 s); none after it.
        assert writes_received(sb.books()["calls"]) <= fired["writes"] + 1
        assert "nothing more is sent" in capsys.readouterr().err
        rows = read_report(report)
        not_run = [r for r in rows if r["status"] == "not_run"]
        assert not_run and not [r for r in rows if r["status"] == "unknown"]
        half = {r["user_id"] for r in not_run if r["message"].startswith("Enrolled the learner")}
        assert "Stopped: nothing more was sent after Ctrl-C." in err
        if half:
            assert f"{counted(len(half), 'learner')} enrolled but not yet graded" in err
        assert "Run the same command again to finish" in err

        sb.configure(post_per_minute=10.0)  # the rest at a raised limit: the test stays short
        code, err = run_cli([*argv, "--report", str(tmp_path / "rest.json")], monkeypatch, env)
        assert code == 1, err  # the sample's rows that need a person
        books = sb.books()
        assert books["double_grades"] == 0 and len(graded(books)) == SAMPLE_GRADES
    finally:
        sb.stop()


@contextmanager
def silent_host() -> Iterator[int]:
    """A port that accepts connections and never answers (a host that stopped answering)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            held.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        server.close()


def test_a_dry_run_against_a_host_that_does_not_answer_says_so_within_seconds(
    tmp_path: Path,
) -> None:
    with silent_host() as port:
        settings = Settings(
            base_url=f"http://127.0.0.1:{port}",
            client_id="id",
            client_secret=SecretStr("secret"),
            refresh_token=SecretStr("refresh"),
        )
        app = create_app(WebConfig(state_dir=tmp_path / "state", settings_factory=lambda: settings))
        with TestClient(app, base_url=ORIGIN) as client:
            up = upload(client, SAMPLE_CSV)
            r = client.post(f"/api/uploads/{up['upload_id']}/dry-run", json={}, headers=H)
            job = r.json()["job_id"]
            started = time.monotonic()
            while not (st := client.get(f"/api/jobs/{job}").json())["alm_problem"]:
                assert time.monotonic() - started < 10, st
                time.sleep(0.1)
            assert st["state"] == "running"  # the retries go on in the background
            assert f"ALM at 127.0.0.1:{port} has not answered for" in st["alm_problem"]
            assert "ALM_BASE_URL" in st["alm_problem"] and st["message"] == st["alm_problem"]
            # Stopping the server: the job has only a read on the wire, nothing to wait for.
            stopping = time.monotonic()
            left = app.registry.shutdown()
            assert [r.job_id for r in left] == [job]
            assert time.monotonic() - stopping < 5


def test_refused_credentials_stop_a_dry_run_at_once_saying_what_to_check(tmp_path: Path) -> None:
    with site(tmp_path) as s:
        wrong = sandbox_settings(s.sandbox).model_copy(
            update={"client_secret": SecretStr("not-the-secret")}
        )
        s.app.registry._settings_factory = lambda: wrong
        up = upload(s.client, SAMPLE_CSV)
        job = s.client.post(f"/api/uploads/{up['upload_id']}/dry-run", json={}, headers=H)
        started = time.monotonic()
        while (st := s.client.get(f"/api/jobs/{job.json()['job_id']}").json())["state"] in (
            "queued",
            "running",
        ):
            assert time.monotonic() - started < 5, st
            time.sleep(0.05)
        assert st["state"] == "failed" and st["exit_code"] == 3
        assert "refused" in st["message"] and "ALM_CLIENT_SECRET" in st["message"]
        assert "not-the-secret" not in str(st)


def test_cancel_before_alm_accepted_a_grade_body_takes_effect_within_two_seconds(
    tmp_path: Path,
) -> None:
    """A first run on an ALM (no grade body learned yet) holds every writer but one until ALM
    has taken a grade: one learner at a time is enrolled ahead of its grades. A Cancel while
    that first enrollment is on the wire ends the run within two seconds plus the answers of
    what is on the wire (the enrollment; no learner read is left), and sends nothing more."""
    latency = 0.3  # each answer of ALM, from the moment the writes start
    sb = sample_sandbox()
    state_dir = tmp_path / "state"

    def confirm(_summary: RunSummary) -> bool:  # every learner is read: only writes are left
        sb.configure(latency_ms=(latency * 1000, latency * 1000))
        return True

    job = Job(
        JobOptions(path=SAMPLE_CSV, dry_run=False, state_dir=state_dir, report=tmp_path / "r.json"),
        settings_for_sandbox(sb),
        confirm=confirm,
    )
    try:
        job.start()
        deadline = time.monotonic() + 30
        while job.writes_in_flight() == 0:  # the first enrollment is on its way to ALM
            assert time.monotonic() < deadline and not job.done
            time.sleep(0.005)
        sent = writes_received(sb.books()["calls"])
        job.cancel()
        cancelled = time.monotonic()
        outcome = job.wait(30)
        took = time.monotonic() - cancelled
        assert outcome is not None and outcome.interrupted
        assert took < 2.0 + latency, f"Cancel took {took:.1f} s"
        assert writes_received(sb.books()["calls"]) <= sent + 1  # the one on the wire
        assert not (state_dir / GRADE_SHAPES).exists()  # no grade body was accepted
    finally:
        job.cancel()
        job.wait(30)
        sb.stop()


def test_cancel_while_verify_waits_for_a_programs_roll_up_ends_the_run_with_its_report(
    tmp_path: Path,
) -> None:
    """``--verify`` waits up to two minutes for ALM to show a certification completed; a Cancel
    meanwhile ends the run within two seconds, with its report: the grades were posted, the
    row says it could not be verified."""
    sb = sample_sandbox(rollup_delay=86400.0)  # ALM never rolls the certification up
    report = tmp_path / "r.json"
    rows = [{"Email": "ines.moreau@acme-corp.example", "Course": "Annual Compliance "
             "Certification", "Completion Date": "2025-03-28", "Score": "90"}]  # fmt: skip
    job = Job(
        JobOptions(
            path=Path("hr.csv"),
            rows=rows,
            dry_run=False,
            verify=True,
            state_dir=tmp_path / "state",
            report=report,
        ),  # fmt: skip
        settings_for_sandbox(sb),
    )
    try:
        job.start()
        deadline = time.monotonic() + 30
        while job.progress.stage != "verify":
            assert time.monotonic() < deadline and not job.done, job.progress
            time.sleep(0.01)
        time.sleep(0.3)  # it reads ALM, then waits for the roll-up
        job.cancel()
        cancelled = time.monotonic()
        outcome = job.wait(30)
        took = time.monotonic() - cancelled
        assert job.error is None, job.error
        assert outcome is not None and took < 2.0, f"Cancel took {took:.1f} s"
        (row,) = read_report(report)
        assert row["status"] == "completed"
        assert row["message"].endswith("Could not be verified: the run was cancelled before ALM "
                                       "could be read to check it.")  # fmt: skip
    finally:
        job.cancel()
        job.wait(30)
        sb.stop()
