"""A live run never vanishes: when the page's process dies mid-run (a crash, kill -9, out of
memory), the page started again shows the run as interrupted, with what the ledger says it
wrote, and runs the remaining rows without posting anything twice.

The page runs in a process of its own (``tests/crash_page.py``) that is SIGKILLed right after
ALM accepted an exact write; ALM (the sandbox) lives in the test's process and keeps its books.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from batch.sandbox import Sandbox
from batch.web.app import WebConfig, create_app
from batch.web.registry import sandbox_settings
from tests.e2e_support import (
    SAMPLE_CSV,
    child_env,
    graded,
    sandbox_env,
    wanted_grades,
)
from tests.web_support import ORIGIN, H, wait

pytestmark = pytest.mark.timeout(120)
KILLED_AT = 6  # the write after which the page's process dies


def start_page(state_dir: Path, sb: Sandbox, cwd: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.crash_page", str(state_dir), str(KILLED_AT)],
        cwd=cwd,
        env=child_env(sandbox_env(sb)),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    assert url.startswith("http://127.0.0.1:"), url
    return proc, url.rstrip("/")


def test_a_live_run_whose_page_died_is_interrupted_and_its_remaining_rows_finish_it(
    sb: Sandbox, tmp_path: Path
) -> None:
    state_dir = tmp_path / "state"
    sample = Path(shutil.copyfile(SAMPLE_CSV, tmp_path / "completions.csv"))
    proc, url = start_page(state_dir, sb, tmp_path)
    try:
        with httpx.Client(base_url=url, headers=H, timeout=30) as page:
            with sample.open("rb") as fh:
                up = page.post("/api/uploads", files={"file": ("completions.csv", fh)})
            assert up.status_code == 201, up.text
            dry_id = page.post(f"/api/uploads/{up.json()['upload_id']}/dry-run", json={}).json()[
                "job_id"
            ]
            while page.get(f"/api/jobs/{dry_id}").json()["state"] in ("queued", "running"):
                pass
            dry = page.get(f"/api/jobs/{dry_id}").json()
            assert dry["state"] == "done" and dry["writes_planned"] == 87
            live_id = page.post(f"/api/jobs/{dry_id}/run", json={"confirm": True}).json()["job_id"]
        assert proc.wait(timeout=60) == -signal.SIGKILL  # died right after write 6 landed
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

    def writes() -> int:
        calls = sb.books()["calls"]
        return int(
            calls.get("POST /users/{id}/userModuleGrade", 0)
            + calls.get("POST /users/{id}/enrollments", 0)
        )

    # ALM answered write 6 (writes are numbered as journaled, and go side by side: some of
    # 1-5 may not have been sent yet); far from all of them
    assert 1 <= writes() < 87

    # The same state directory, a new server: the run is there, interrupted, with the ledger's
    # counts, and nothing else pretends it finished.
    app = create_app(WebConfig(state_dir=state_dir, settings_factory=lambda: sandbox_settings(sb)))
    with TestClient(app, base_url=ORIGIN) as c:
        status = c.get(f"/api/jobs/{live_id}").json()
        assert status["state"] == "interrupted" and status["kind"] == "live"
        ledger = status["ledger"]
        # Writes 1-6 were journaled before they went; write 6 landed, its answer never recorded
        assert ledger["unsure"] >= 1
        assert ledger["written"] + ledger["unsure"] >= KILLED_AT and ledger["failed"] == 0
        assert sum(ledger.values()) == 87  # written, failed, unsure and not tried: the plan
        assert status["can_run_rest"] and "Interrupted" in status["message"]
        history = {r["job_id"]: r for r in c.get("/api/history").json()["runs"]}
        assert history[live_id]["state"] == "interrupted"
        page = c.get(f"/jobs/{live_id}").text
        assert "Interrupted" in page and "Run the remaining rows" in page
        finished = c.get(f"/api/jobs/{live_id}/rows", params={"limit": 500}).json()["rows"]
        assert all(r["status"] == "completed" for r in finished)  # recorded as they finished

        rest = c.post(f"/api/jobs/{live_id}/run", json={"confirm": True}, headers=H)
        assert rest.status_code == 202, rest.text
        done = wait(c, rest.json()["job_id"])
        assert done["state"] == "done", done["message"]
        assert c.get(f"/api/jobs/{live_id}").json()["live_job"] == done["job_id"]
        assert c.post(f"/api/jobs/{live_id}/run", json={}, headers=H).status_code == 409

        report = c.get(f"/api/jobs/{done['job_id']}/report.json").json()
        dry_rows = c.get(f"/api/jobs/{dry_id}/rows", params={"limit": 500}).json()["rows"]

    # Every grade the dry run planned is in ALM exactly once: the unsure write was read back
    # from ALM, not sent again; rows the dead run finished were not run again.
    books = sb.books()
    assert books["double_grades"] == 0
    planned = [r for r in dry_rows if r["status"] == "would_complete"]
    wanted = wanted_grades([{**r, "status": "completed"} for r in planned])
    assert graded(books) == {key: 1 for key in wanted}
    rerun = {r["row"] for r in report["rows"]}
    assert rerun == {r["row"] for r in dry_rows} - {r["row"] for r in finished}
    assert {r["status"] for r in report["rows"] if r["row"] in {p["row"] for p in planned}} <= {
        "completed",
        "already_completed",
    }
