"""The page does what it showed: a fix re-decides the rows that hang on it, the live run does
exactly the confirmed plan, Cancel sends nothing more, the counters count what ALM answered,
and the rest of a cancelled run can be run. Through the JSON API (Starlette's TestClient)
against the sandbox; the same flows in a browser: tests/test_web_browser_promises.py."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from batch.jobs import Job
from batch.models import RowResult, counted
from batch.web.registry import LOOKUPS_KEPT
from tests.e2e_support import SAMPLE_CSV, graded
from tests.web_support import (
    H,
    Site,
    confirmed_grades,
    confirmed_rows,
    dry_run,
    site,
    upload,
    wait,
)

GRADE = "POST /users/{id}/userModuleGrade"
ENROLL = "POST /users/{id}/enrollments"


def status(s: Site, job_id: str) -> dict[str, Any]:
    return dict(s.client.get(f"/api/jobs/{job_id}").json())


def row(s: Site, job_id: str, number: int) -> dict[str, Any]:
    rows = s.client.get(f"/api/jobs/{job_id}/rows", params={"limit": 500}).json()["rows"]
    return next(r for r in rows if r["row"] == number)


def patch(s: Site, job_id: str, number: int, body: dict[str, Any]) -> dict[str, Any]:
    r = s.client.patch(f"/api/jobs/{job_id}/rows/{number}", json=body, headers=H)
    assert r.status_code == 200, r.text
    return dict(r.json())


def confirmation(s: Site, dry_id: str) -> list[RowResult]:
    return confirmed_rows(s.app, dry_id)


def alm_writes(s: Site) -> int:
    calls = s.sandbox.books()["calls"]
    return int(calls.get(GRADE, 0) + calls.get(ENROLL, 0))


def alm_accepted(s: Site) -> int:
    """Writes ALM applied (2xx, or "already enrolled"); a 429 was received but not applied."""
    statuses = s.sandbox.books()["endpoint_statuses"]
    return sum(
        n
        for name in (GRADE, ENROLL)
        for code, n in statuses.get(name, {}).items()
        if code.startswith("2") or code == "409"
    )


def test_excluding_a_row_re_decides_its_duplicate_from_what_the_dry_run_read(
    tmp_path: Path,
) -> None:
    with site(tmp_path) as s:
        dry = dry_run(s.client, upload(s.client, SAMPLE_CSV)["upload_id"])["job_id"]
        assert row(s, dry, 22)["message"].startswith("Duplicate of row 2")
        before = status(s, dry)
        calls = dict(s.sandbox.books()["calls"])

        answer = patch(s, dry, 2, {"exclude": True})
        promoted = row(s, dry, 22)
        assert promoted["status"] == "would_complete"
        assert "It repeated row 2" in promoted["message"]
        assert "this row is now the one posted" in promoted["message"]
        fix = status(s, dry)["last_fix"]
        assert fix == answer["last_fix"]
        assert fix["excluded"] == [2] and fix["changed"] == [
            {"row": 22, "was": "duplicate", "now": "would_complete", "writes_was": 0,
             "writes_now": 3}
        ]  # fmt: skip
        assert "row 22 (duplicate -> would complete)" in fix["sentence"]
        after = status(s, dry)
        # Row 2's three writes are row 22's now: the same total, the same rows to post.
        assert after["writes_planned"] == before["writes_planned"]
        assert after["rows_planned"] == before["rows_planned"]
        assert s.sandbox.books()["calls"] == calls  # decided from what the dry run read

        patch(s, dry, 2, {"exclude": False})  # back in: row 22 repeats it again
        assert row(s, dry, 22)["status"] == "duplicate"
        fix = status(s, dry)["last_fix"]
        assert fix["included"] == [2] and [c["row"] for c in fix["changed"]] == [22]

        # A program row counts on its learner's other rows: without row 38 (one of the two
        # electives the program needs), row 39 cannot tell which electives count.
        assert row(s, dry, 39)["status"] == "would_complete"
        patch(s, dry, 38, {"exclude": True})
        fix = status(s, dry)["last_fix"]
        assert [(c["row"], c["was"]) for c in fix["changed"]] == [(39, "would_complete")]
        assert row(s, dry, 39)["status"] == fix["changed"][0]["now"] != "would_complete"
        assert s.sandbox.books()["calls"] == calls


def test_the_live_run_posts_exactly_the_confirmed_plan(tmp_path: Path) -> None:
    with site(tmp_path) as s:
        dry = dry_run(s.client, upload(s.client, SAMPLE_CSV)["upload_id"])["job_id"]
        patch(s, dry, 2, {"exclude": True})
        shown = status(s, dry)  # what the confirmation page shows
        rows = confirmation(s, dry)
        assert len(rows) == shown["rows_planned"]
        assert sum(len(r.planned_writes) for r in rows) == shown["writes_planned"]
        r = s.client.post(f"/api/jobs/{dry}/run", json={"confirm": True}, headers=H)
        live = r.json()["job_id"]
        seen = set()
        while (st := status(s, live))["state"] not in ("done", "failed", "cancelled"):
            seen.add((st["rows_planned"], st["writes_planned"]))
            time.sleep(0.02)
        seen.add((st["rows_planned"], st["writes_planned"]))
        assert seen == {(shown["rows_planned"], shown["writes_planned"])}  # never drifts
        assert st["writes_done"] == st["writes_answered"] == shown["writes_planned"]
        # ALM's books are the confirmation, row by row: every grade it showed, once, no other.
        books = s.sandbox.books()
        assert set(graded(books)) == confirmed_grades(rows)
        assert all(n == 1 for n in graded(books).values())
        labels = [label for r in rows for label in r.planned_writes]
        sent = {
            name: sum(books["endpoint_statuses"].get(name, {}).values()) for name in (ENROLL, GRADE)
        }
        assert sent == {  # one request per confirmed write: no more, no retry needed here
            ENROLL: sum(1 for label in labels if label.startswith("enroll")),
            GRADE: sum(1 for label in labels if label.startswith("grade")),
        }
        done = {n["row"] for n in s.client.get(f"/api/jobs/{live}/rows?limit=500").json()["rows"]
                if n["status"] == "completed"}  # fmt: skip
        assert done == {r.row for r in rows} and 2 not in done and 22 in done


def test_a_row_alm_changed_since_the_dry_run_is_not_written(tmp_path: Path) -> None:
    """Ava's enrollment (row 12: Fire Safety in the Berlin classroom) is removed in ALM between
    the dry run and the live run: the live plan would enroll her in another instance and grade
    other modules, writes the person never confirmed. Nothing is sent for the row; it says a
    new dry run is needed; every other row is posted as confirmed."""
    with site(tmp_path) as s:
        dry = dry_run(s.client, upload(s.client, SAMPLE_CSV)["upload_id"])["job_id"]
        ava = row(s, dry, 12)
        assert ava["status"] == "would_complete" and ava["planned_enrollments"] == 0
        world = s.sandbox.world
        enrollment = world.enrollment(ava["user_id"], ava["course_id"])
        assert enrollment is not None
        world.unenroll(enrollment, enrollment.date_enrolled, None)
        rows = confirmation(s, dry)
        r = s.client.post(f"/api/jobs/{dry}/run", json={"confirm": True}, headers=H)
        st = wait(s.client, r.json()["job_id"], timeout=120)
        after = row(s, st["job_id"], 12)
        assert after["status"] == "not_run"
        assert "changed since the dry run you confirmed" in after["message"]
        assert "Start a new dry run" in after["message"]
        books = s.sandbox.books()
        assert not [g for g in books["grades"] if g["user_id"] == ava["user_id"]]
        others = [r for r in rows if r.row != 12]
        assert set(graded(books)) == confirmed_grades(others)
        assert st["exit_code"] == 1  # a person must look at row 12


def test_cancel_sends_nothing_more_counts_what_alm_answered_and_the_rest_finishes(
    tmp_path: Path,
) -> None:
    """At ALM's published write limit (30 a minute, a burst of 10), Cancel takes effect at
    once: no write waiting for the pacer is sent, the page says cancelled within seconds, and
    how many learners are enrolled but not graded. The counters meanwhile count what ALM
    answered, with the confirmation's totals, and the time left at the allowance. Then the
    rest runs (ALM's limit raised, so the test stays short) and nothing is posted twice."""
    slow = {"post_per_minute": 30.0 / 600}  # 30 real writes a minute at time scale 600
    with site(tmp_path, sandbox=slow) as s:
        dry = dry_run(s.client, upload(s.client, SAMPLE_CSV)["upload_id"])["job_id"]
        shown = status(s, dry)
        r = s.client.post(f"/api/jobs/{dry}/run", json={"confirm": True}, headers=H)
        live = r.json()["job_id"]
        started = time.monotonic()
        first: dict[str, Any] | None = None
        while alm_writes(s) < 14:
            st = status(s, live)
            received = alm_writes(s)
            if st["stage"] == "execute" and first is None:
                first = st
            assert st["writes_answered"] <= received and st["writes_done"] <= received
            assert (st["rows_planned"], st["writes_planned"]) == (
                shown["rows_planned"],
                shown["writes_planned"],
            )
            assert st["rate_per_minute"] <= received  # what ALM answered in the last minute
            assert time.monotonic() - started < 60
            time.sleep(0.05)
        # Before its first answers the time left comes from the account's allowance (about
        # 87 writes at 30 a minute), never from a sandbox-speed guess.
        assert first is not None and first["eta_seconds"] > 120
        job = s.app.registry.get(live)
        assert job is not None
        s.client.post(f"/api/jobs/{live}/cancel", headers=H)
        in_flight = job.job.writes_in_flight()
        at_cancel = alm_writes(s)
        cancelled_at = time.monotonic()
        st = wait(s.client, live, timeout=30)
        took = time.monotonic() - cancelled_at
        assert st["state"] == "cancelled" and took < 3.0, (st["state"], took)
        assert alm_writes(s) <= at_cancel + in_flight  # nothing sent after Cancel
        applied = alm_accepted(s)
        assert st["cancel_state"] == "cancelled" and st["exit_code"] == 130
        rows = s.client.get(f"/api/jobs/{live}/rows?limit=500").json()["rows"]
        assert "unknown" not in {x["status"] for x in rows}
        not_run = [x for x in rows if x["status"] == "not_run"]
        assert not_run and all("Run the remaining rows" in x["message"] for x in not_run)
        half = {x["user_id"] for x in not_run if x["message"].startswith("Enrolled the learner")}
        assert st["enrolled_not_graded"] == len(half)
        assert (
            f"{counted(len(half), 'learner')} enrolled but not yet graded" in st["message"]
            or not half
        )
        assert "Run the remaining rows to finish." in st["message"]
        assert status(s, dry)["live_job_state"] == "cancelled"
        # The confirmation is kept beside the live job: after a restart its rest is bound too.
        reloaded = Job.load(job.folder)
        assert reloaded is not None and reloaded.bound == job.job.bound is not None

        s.sandbox.configure(post_per_minute=10.0)  # the rest at a raised limit
        r = s.client.post(f"/api/jobs/{live}/run", json={"confirm": True}, headers=H)
        assert r.status_code == 202, r.text
        rest = wait(s.client, r.json()["job_id"], timeout=120)
        assert rest["state"] == "done"
        books = s.sandbox.books()
        assert books["double_grades"] == 0
        assert set(graded(books)) == confirmed_grades(confirmation(s, dry))
        assert all(n == 1 for n in graded(books).values())
        # The remaining run's totals are what was left to send, not the whole plan again.
        assert rest["writes_planned"] == shown["writes_planned"] - applied


def test_a_dry_run_that_no_longer_keeps_its_reads_re_decides_by_reading_alm_again(
    tmp_path: Path,
) -> None:
    """The page keeps what a few recent dry runs read (their memory is bounded); an older dry
    run's fix reads the learners it re-decides again, and decides the same."""
    with site(tmp_path) as s:
        dry = dry_run(s.client, upload(s.client, SAMPLE_CSV)["upload_id"])["job_id"]
        run = s.app.registry.get(dry)
        assert run is not None and run.job.lookups is not None
        for _ in range(LOOKUPS_KEPT):  # newer dry runs push it out
            dry_run(s.client, upload(s.client, SAMPLE_CSV)["upload_id"])
        assert run.job.lookups is None
        reads = s.sandbox.books()["calls"].get("GET /users/{id}/enrollments", 0)
        patch(s, dry, 2, {"exclude": True})
        assert row(s, dry, 22)["status"] == "would_complete"
        # Maria's rows (2 and 22) are re-decided from her enrollments, read once more.
        assert s.sandbox.books()["calls"]["GET /users/{id}/enrollments"] == reads + 1


def test_a_fix_that_changes_how_the_whole_file_reads_re_decides_every_row(
    tmp_path: Path,
) -> None:
    """Scores read as fractions (0.85 means 85) only while every score is between 0 and 1: a
    score edited to 95 makes the column read as written, so every row posts another score.
    Every row is re-decided, the page lists them, and the confirmation shows the new scores."""
    path = tmp_path / "scores.csv"
    people = ["ahmed.hassan", "emma.schmidt", "lucas.martin"]
    lines = ["Email,Course,Completion Date,Score"] + [
        f"{p}@acme-corp.example,Export Controls Fundamentals,2025-03-10,{s}"
        for p, s in zip(people, ("0.85", "0.9", "0.7"), strict=True)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with site(tmp_path) as s:
        up = upload(s.client, path)
        dry = dry_run(s.client, up["upload_id"], score_scale="fraction")["job_id"]
        assert [row(s, dry, n)["score"] for n in (2, 3, 4)] == ["85", "90", "70"]
        patch(s, dry, 2, {"cells": {"Score": "95"}})
        assert [row(s, dry, n)["score"] for n in (2, 3, 4)] == ["95", "0.9", "0.7"]
        fix = status(s, dry)["last_fix"]
        assert fix["edited"] == [2] and [c["row"] for c in fix["changed"]] == [3, 4]
        assert "row 3 (still would complete, with other writes)" in fix["sentence"]
        rows = confirmation(s, dry)
        assert all(label.endswith(" 0.9") for label in rows[1].planned_writes if "grade" in label)
