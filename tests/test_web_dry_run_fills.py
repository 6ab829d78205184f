"""The page shows a dry run as it fills: the rows decided without learner state (file problems,
unknown learners or courses, duplicates) at once, the others as their learner's state arrives;
the status says what the run waits for (ALM's users export, its learner transcript job) and the
time left; the finished dry run says where its learner state came from and its time. Fixes wait
for the end.

The sandbox runs on a ``ManualClock``: ALM's jobs end when the test advances it, so the test
looks at the page while the run waits, and nothing waits on a real delay. The same in a browser:
tests/test_web_browser_filling.py."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from batch.cli import build_parser
from batch.jobs.waiting import StateWait
from batch.models import counted
from batch.sandbox import ManualClock
from batch.state_source import StateStatus
from batch.web.filling import LATE, filling, time_left
from batch.web.server import ServeOptions, build
from tests.e2e_support import SAMPLE_CSV
from tests.web_support import ORIGIN, H, Site, dry_run, site, upload

SAMPLE_ROWS = 39
SCALE = 60.0
# The client expects the transcript to take 12 s (its first poll after 3 s): the time left the
# page shows while it waits.
EXPECTED_TRANSCRIPT_SECONDS = 12.0
JOB_POLL = "GET /jobs/{id}"


def status(s: Site, job_id: str) -> dict[str, Any]:
    return dict(s.client.get(f"/api/jobs/{job_id}").json())


def until(s: Site, job_id: str, ready: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    deadline = time.monotonic() + 15
    while not ready(st := status(s, job_id)):
        assert st["state"] == "running", st
        assert time.monotonic() < deadline, st
        time.sleep(0.02)
    return st


def rows(s: Site, job_id: str, **params: Any) -> dict[str, Any]:
    answer = s.client.get(f"/api/jobs/{job_id}/rows", params={"limit": 500, **params})
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def waiting_site(tmp_path: Path, clock: ManualClock) -> Any:
    return site(
        tmp_path,
        clock=clock,
        sandbox={"time_scale": SCALE, "limits_enabled": False},
        settings={"transcript_job_seconds": EXPECTED_TRANSCRIPT_SECONDS},
        state_source="transcript",
    )


def test_a_dry_run_waiting_for_alms_jobs_shows_its_rows_what_it_waits_for_and_the_time_left(
    tmp_path: Path,
) -> None:
    clock = ManualClock(SCALE)
    with waiting_site(tmp_path, clock) as s:
        up = upload(s.client, SAMPLE_CSV)
        r = s.client.post(f"/api/uploads/{up['upload_id']}/dry-run", json={}, headers=H)
        job = r.json()["job_id"]

        # ALM's users export (the one unknown email: a deleted user?), before any row.
        st = until(s, job, lambda st: "users export" in st["waiting_for"])
        assert re.fullmatch(
            r"Waiting for ALM's users export job \d+ \([a-z ]+, \d+ s so far\)\.", st["waiting_for"]
        ), st["waiting_for"]
        assert st["message"] == st["waiting_for"]  # the status line
        assert st["time_left"] == "about 2 min"  # an export is counted as 2 minutes
        assert st["rows"] == 0 and rows(s, job)["total"] == 0
        clock.advance(s.sandbox.config.job_delay)

        # The learner transcript job: the rows decided without learner state are there.
        st = until(s, job, lambda st: "learner transcript" in st["waiting_for"])
        assert re.fullmatch(
            r"Waiting for ALM's learner transcript job \d+ \([a-z ]+, \d+ s so far\) for "
            r"\d+ learners\.",
            st["waiting_for"],
        ), st["waiting_for"]
        # The page's event stream counts the time left down while the job is not polled
        # (nothing happens in the run: no event of its own).
        polls = s.sandbox.books()["calls"].get(JOB_POLL, 0)
        seen: list[tuple[float, int]] = []
        with s.client.stream("GET", f"/api/jobs/{job}/events") as events:
            for line in events.iter_lines():
                if line.startswith("data: "):
                    eta = json.loads(line[6:])["waiting_eta_seconds"]
                    seen.append((eta, s.sandbox.books()["calls"].get(JOB_POLL, 0)))
                if len(seen) == 2:
                    break
        (first_eta, first_polls), (second_eta, second_polls) = seen
        assert first_polls == second_polls == polls, "the transcript was polled meanwhile"
        assert first_eta > second_eta > 0
        left = re.fullmatch(r"about (\d+) s", st["time_left"])
        assert left and 1 <= int(left.group(1)) <= EXPECTED_TRANSCRIPT_SECONDS, st["time_left"]
        assert 0 < st["waiting_eta_seconds"] <= EXPECTED_TRANSCRIPT_SECONDS
        decided = rows(s, job)
        assert 0 < decided["total"] == st["rows"] < SAMPLE_ROWS
        assert st["rows_waiting"] == SAMPLE_ROWS - st["rows"]
        kinds = {r["status"] for r in decided["rows"]}
        assert {"invalid", "user_not_found", "duplicate"} <= kinds
        assert not kinds & {"would_complete", "already_completed"}  # they need learner state
        assert sum(st["counts"].values()) == st["rows"]
        # The table's filters, search and paging work on the rows decided so far.
        invalid = rows(s, job, status="invalid")
        assert invalid["total"] == st["counts"]["invalid"]
        assert {r["status"] for r in invalid["rows"]} == {"invalid"}
        first = decided["rows"][0]
        assert first["row"] in [r["row"] for r in rows(s, job, q=first["message"][:20])["rows"]]
        page = rows(s, job, limit=2, offset=2)
        assert [r["row"] for r in page["rows"]] == [r["row"] for r in decided["rows"][2:4]]
        # Fixes wait for the end of the dry run.
        refused = s.client.patch(f"/api/jobs/{job}/rows/{first['row']}",
                                 json={"exclude": True}, headers=H)  # fmt: skip
        assert refused.status_code == 409 and "finished dry run" in refused.json()["error"]
        html = s.client.get(f"/jobs/{job}").text
        assert "Waiting for ALM&#39;s learner transcript job" in html
        assert f"{counted(st['rows_waiting'], 'more row')} waiting for learner state" in html
        assert 'id="rows-src"' in html and "Edit<span" not in html and "data-action" not in html
        fragment = s.client.get(f"/jobs/{job}/table", params={"status": "invalid"}).text
        assert 'hx-swap-oob="true"' in fragment  # the counts come along
        assert "status=invalid" in fragment  # the next refresh keeps the person's filter

        clock.advance(s.sandbox.config.transcript_delay)
        st = until(s, job, lambda st: st["state"] == "done")
        assert st["rows"] == SAMPLE_ROWS and st["rows_waiting"] == 0 and st["waiting_for"] == ""
        assert st["time_left"] == "" and st["message"].startswith("Dry run finished")
        # Each row decided early reads the same in the finished dry run.
        final = {r["row"]: (r["status"], r["message"]) for r in rows(s, job)["rows"]}
        assert {r["row"]: (r["status"], r["message"]) for r in decided["rows"]}.items() <= (
            final.items()
        )
        assert "would_complete" in {status for status, _ in final.values()}
        as_of = datetime.fromisoformat(st["learner_state_as_of"])
        assert abs((datetime.now(UTC) - as_of).total_seconds()) < 60
        assert re.match(r"ALM's learner transcript \(job \d+\) for \d+ of", st["learner_state"])
        local = as_of.astimezone().strftime("%H:%M")
        assert st["learner_state_line"].startswith(f"Learner state as of {local}: ALM's learner")
        html = s.client.get(f"/jobs/{job}").text
        assert f"Learner state as of {local}: ALM&#39;s learner transcript" in html
        assert "data-action" in html  # the fixes are there now


def test_a_dry_run_read_learner_by_learner_says_so_without_a_time(tmp_path: Path) -> None:
    with site(tmp_path) as s:
        st = dry_run(s.client, upload(s.client, SAMPLE_CSV)["upload_id"])
        assert st["learner_state_as_of"] is None
        assert st["learner_state"].startswith("read one learner at a time (")
        assert st["learner_state_line"].startswith("Learner state: read one learner at a time")
        assert st["learner_state_line"] in s.client.get(f"/jobs/{st['job_id']}").text


def test_serve_state_source_reaches_the_pages_dry_runs(tmp_path: Path) -> None:
    """``alm-batch serve --state-source per-learner``: the page's dry runs read learner by
    learner, and the page says so without naming the flag."""
    args = build_parser().parse_args(["serve", "--state-source", "per-learner"])
    options = ServeOptions(sandbox=True, state_dir=tmp_path, state_source=args.state_source)
    app, release = build(options, emit=lambda _text: None)
    try:
        with TestClient(app, base_url=ORIGIN) as client:
            st = dry_run(client, upload(client, SAMPLE_CSV)["upload_id"])
            run = app.registry.get(st["job_id"])
            assert run.job.options.state_source == "per-learner"
            assert st["learner_state"] == "read one learner at a time (--state-source per-learner)"
            assert st["learner_state_line"] == "Learner state: read one learner at a time."
    finally:
        app.registry.shutdown(wait=10)
        release()


# --------------------------------------------------------------------------- the time left
class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_wait_for_one_of_alms_jobs_counts_down_then_says_it_is_late() -> None:
    clock = Clock()
    wait = StateWait(clock)
    assert wait.current() is None
    wait.status(StateStatus("transcript", "waiting for ALM's learner transcript job 7 "
                            "(queued, 0 s so far) for 9 learners", 9, None, 120.0))  # fmt: skip
    clock.now += 30
    current = wait.current()
    assert current is not None and current.on_job and current.eta_seconds == 90.0
    assert time_left(current) == "about 2 min"
    clock.now += 200  # longer than ALM's job is expected to take
    assert time_left(wait.current()) == LATE
    # The transcript arrived: the learners it cannot describe are read one by one.
    taken = datetime(2026, 12, 6, 9, 12, tzinfo=UTC)
    wait.status(StateStatus("transcript", "learner state as of ...", 9, taken, 60.0))
    wait.stage("learner state", 0, 4)
    wait.stage("learner state", 3, 4)
    current = wait.current()
    assert current is not None and not current.on_job and current.eta_seconds == 15.0
    assert time_left(current) == "about 15 s at the account's read limit"
    wait.stage("plan", 9, 9)  # every learner's state is in: nothing is awaited
    assert wait.current() is None


def test_the_users_export_wait_ends_when_the_run_moves_on() -> None:
    wait = StateWait(Clock())
    wait.status(StateStatus("users", "waiting for ALM's users export job 3 (queued, 0 s "
                            "so far)", 0, None, 120.0))  # fmt: skip
    wait.stage("learner state", 0, 0)  # (not a stage the export runs in)
    assert wait.current() is not None
    wait.stage("catalogue", 0, 1)
    assert wait.current() is None


def test_a_finished_job_waits_for_nothing(tmp_path: Path) -> None:
    class Finished:
        done = True
        waiting = StateWait()

        class progress:  # noqa: N801 - the attribute the view reads
            rows_waiting = 4

    assert filling(Finished()) == {  # type: ignore[arg-type]
        "step": "",
        "waiting_for": "",
        "waiting_eta_seconds": None,
        "time_left": "",
        "rows_waiting": 0,
    }
