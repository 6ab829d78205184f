"""The other commands end to end, each in a subprocess: ``demo``, ``template``, ``sandbox``
(started with ``--port 0``, used by ``validate``, stopped by SIGINT and SIGTERM) and ``doctor``."""

from __future__ import annotations

import re
import signal
import time
from pathlib import Path

import openpyxl
import pytest

from batch.sandbox import Sandbox
from batch.sandbox.config import DEMO_CLIENT_SECRET, DEMO_REFRESH_TOKEN
from tests.e2e_support import (
    EXPECTED_DRY,
    EXPECTED_LIVE,
    FAILING_ROWS,
    HEX32,
    REPO,
    SAMPLE_CSV,
    harness,
    interrupt,
    issued_access_token,
    leaks,
    posts,
    read_csv,
    read_report,
    run_cli,
    sandbox_env,
    spawned,
    statuses,
    text_files,
    wait_for,
)

pytestmark = pytest.mark.timeout(120)
EXPORT = re.compile(r"^export (ALM_[A-Z_]+)=(\S+)$")


def test_demo_writes_the_dry_run_live_and_failed_rows_reports(tmp_path: Path) -> None:
    run = run_cli(["demo", "--output", "demo-out"], cwd=tmp_path, timeout=90)
    assert run.code == 0, run
    out = tmp_path / "demo-out"
    assert statuses(read_report(out / "completions.dry-run.report.csv")) == EXPECTED_DRY
    live = out / "completions.live.report.xlsx"
    assert statuses(read_report(live)) == EXPECTED_LIVE
    workbook = openpyxl.load_workbook(live, read_only=True)
    try:
        assert "Summary" in workbook.sheetnames
        labels = [r[0] for r in workbook["Summary"].iter_rows(values_only=True) if r]
        assert "Rows per status" in labels and "Exit code" in labels
    finally:
        workbook.close()
    failed = read_csv(out / "completions.live.failed.csv")
    assert [f["status"] for f in failed] == [EXPECTED_LIVE[r] for r in FAILING_ROWS]
    rerun = statuses(read_report(out / "completions.rerun.report.csv"))
    assert rerun == {
        r: "already_completed" if s == "completed" else s for r, s in EXPECTED_LIVE.items()
    }
    # the summary blocks, on stderr
    for text in (
        "== 1. Dry run",
        "== 2. Live run",
        "== 3. Re-run",
        "alm-batch demo (dry run): completions.csv, 39 rows",
        "alm-batch demo (live): completions.csv, 39 rows",
        "completed          29",
        "writes: 87 made of 87 planned",
        "writes: 0 made of 0 planned",
        "62 module grades recorded, 0 posted twice",
        "alm-batch serve --sandbox",
    ):
        assert text in run.stderr, text
    assert run.stdout == ""
    # no credential in what it printed or wrote; the sandbox's access tokens are 32 hex digits
    assert leaks([DEMO_CLIENT_SECRET, DEMO_REFRESH_TOKEN], [run], tmp_path) == []
    assert not HEX32.search(run.stderr)
    for path, text in text_files(out):
        if path.suffix in (".csv", ".xlsx", ".json"):
            assert not HEX32.search(text), path


def test_demo_refuses_a_folder_it_did_not_write(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me", encoding="utf-8")
    run = run_cli(["demo", "--output", "mine"], cwd=tmp_path)
    assert run.code == 2, run
    assert "did not write" in run.stderr
    assert (tmp_path / "mine" / "notes.txt").read_text(encoding="utf-8") == "keep me"


def test_template_in_both_formats_matches_templates_folder(tmp_path: Path) -> None:
    run = run_cli(["template", "-o", "x.xlsx"], cwd=tmp_path)
    assert run.code == 0, run
    assert run.stdout.strip() == "x.xlsx"
    workbook = openpyxl.load_workbook(tmp_path / "x.xlsx", read_only=True)
    try:
        header = next(workbook.worksheets[0].iter_rows(max_row=1, values_only=True))
    finally:
        workbook.close()
    assert header[:3] == ("Email", "Course", "Completion Date")

    run = run_cli(["template", "--format", "csv"], cwd=tmp_path)
    assert run.code == 0, run
    assert (tmp_path / "completions.csv").read_bytes() == (
        REPO / "templates" / "completions.csv"
    ).read_bytes()
    again = run_cli(["template", "--format", "csv"], cwd=tmp_path)
    assert again.code == 2 and "already exists" in again.stderr


def read_exports(path: Path) -> dict[str, str]:
    found = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        match = EXPORT.match(line.strip())
        if match:
            found[match.group(1)] = match.group(2)
    return found


def test_sandbox_command_serves_the_cli_and_stops_on_sigint(tmp_path: Path) -> None:
    (tmp_path / "completions.csv").write_bytes(SAMPLE_CSV.read_bytes())
    with spawned(
        ["sandbox", "--port", "0", "--time-scale", "600"], cwd=tmp_path, name="sandbox"
    ) as server:
        keys = {"ALM_BASE_URL", "ALM_CLIENT_ID", "ALM_CLIENT_SECRET", "ALM_REFRESH_TOKEN"}
        # At --time-scale 600 it also prints the client limits, the jobs' poll interval and
        # the transcript job's expected time scaled the same way.
        keys |= {
            "ALM_GET_PER_MINUTE",
            "ALM_POST_PER_MINUTE",
            "ALM_USERS_GET_PER_HOUR",
            "ALM_LO_GET_PER_HOUR",
            "ALM_JOB_POLL_SECONDS",
            "ALM_TRANSCRIPT_JOB_SECONDS",
        }
        assert wait_for(lambda: set(read_exports(server.out_path)) == keys, timeout=15), (
            server.err_path.read_text()
        )
        exports = read_exports(server.out_path)
        base_url = exports["ALM_BASE_URL"]
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", base_url)
        creds = {
            "client_id": exports["ALM_CLIENT_ID"],
            "client_secret": exports["ALM_CLIENT_SECRET"],
            "refresh_token": exports["ALM_REFRESH_TOKEN"],
        }
        assert issued_access_token(base_url, creds)  # /oauth/token/refresh answers

        # The CLI against it, with exactly the settings it printed.
        assert exports["ALM_GET_PER_MINUTE"] == "60000"
        assert float(exports["ALM_JOB_POLL_SECONDS"]) == pytest.approx(5.0 / 600)  # 5 sandbox s
        started = time.monotonic()
        run = run_cli(
            ["validate", "completions.csv", "--state-dir", "state"], cwd=tmp_path, alm=exports
        )
        assert time.monotonic() - started < 15  # paced at the sandbox's speed, not ALM's

        assert run.code == 1, run
        assert statuses(read_report(tmp_path / "completions.report.csv")) == EXPECTED_DRY
        books = harness(base_url, "/_sandbox/books")
        # The users export (a read) tells the unknown email of row 13 from a deleted user.
        assert set(posts(books)) == {"POST /oauth/token/refresh", "POST /jobs"}

        started = time.monotonic()
        interrupt(server.proc, signal.SIGINT)
        stopped = server.finish(timeout=10)
    assert stopped.code == 0, stopped
    assert time.monotonic() - started < 5
    assert "sandbox stopped" in stopped.stderr and "Traceback" not in stopped.stderr


def test_sandbox_command_stops_on_sigterm(tmp_path: Path) -> None:
    with spawned(["sandbox", "--port", "0"], cwd=tmp_path, name="sandbox") as server:
        assert wait_for(lambda: "ALM_BASE_URL" in read_exports(server.out_path), timeout=15)
        base_url = read_exports(server.out_path)["ALM_BASE_URL"]
        started = time.monotonic()
        interrupt(server.proc, signal.SIGTERM)
        stopped = server.finish(timeout=10)
    assert time.monotonic() - started < 5
    assert stopped.code == 0, stopped
    assert "sandbox stopped" in stopped.stderr
    with pytest.raises(OSError):  # nothing listens there any more
        harness(base_url, "/_sandbox/books")


def test_doctor_passes_against_the_sandbox_and_names_the_fix_for_a_wrong_secret(
    sb: Sandbox, tmp_path: Path
) -> None:
    run = run_cli(["doctor"], cwd=tmp_path, alm=sandbox_env(sb))
    assert run.code == 0, run
    assert "All checks passed." in run.stderr
    assert "[FAIL]" not in run.stderr

    wrong = "doctor-wrong-secret-P3v9"
    run = run_cli(["doctor"], cwd=tmp_path, alm=sandbox_env(sb, ALM_CLIENT_SECRET=wrong))
    assert run.code != 0, run
    assert "[FAIL] token" in run.stderr
    fix = [line for line in run.stderr.splitlines() if line.strip().startswith("fix:")]
    assert fix and "ALM_CLIENT_SECRET" in fix[0]
    assert wrong not in run.stdout + run.stderr
    assert set(posts(sb.books())) == {"POST /oauth/token/refresh"}  # read-only
