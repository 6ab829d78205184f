"""The upload page's HTTP surface: every route of product.md's JSON API, the pages, and every
refusal (foreign Host, missing X-Requested-By, oversize upload, unknown job, a second live run
on the same account, no password off loopback). Real HTTP to the sandbox; the app in-process."""

from __future__ import annotations

import base64
import csv
import io
import json
import time
from pathlib import Path

import openpyxl
import pytest
from starlette.testclient import TestClient

from batch.errors import UsageError
from batch.settings import Settings
from batch.web.app import WebConfig, create_app
from batch.web.registry import sandbox_settings
from batch.web.server import check_binding
from batch.web.uploads import UploadStore
from tests.e2e_support import SAMPLE_CSV, graded
from tests.web_support import DONE, ORIGIN, H, dry_run, problem_xlsx, site, upload, wait


def test_upload_shape_dry_run_rows_fix_and_downloads(tmp_path: Path) -> None:
    with site(tmp_path) as s:
        c = s.client
        up = upload(c, problem_xlsx(tmp_path / "march.xlsx"))
        assert set(up) >= {"upload_id", "file", "rows", "columns", "mapping"}
        assert up["file"] == "march.xlsx" and up["rows"] == 5
        assert up["missing"] == ["email"]  # "Work Mail" is no alias: the page asks
        # the stored file has a generated name, never the person's
        stored = list((s.state_dir / "web" / "uploads").iterdir())
        assert len(stored) == 1 and "march" not in stored[0].name

        # without the email column the dry run is refused with what to do
        r = c.post(f"/api/uploads/{up['upload_id']}/dry-run", json={}, headers=H)
        assert r.status_code == 400 and "Learner email" in r.json()["error"]

        shape = c.get(f"/api/uploads/{up['upload_id']}", params={"map": "Work Mail=email"})
        assert shape.json()["mapping"]["email"] == "Work Mail"
        assert shape.json()["samples"]["Work Mail"][0] == "sofia.rossi@acme-corp.example"

        job = dry_run(c, up["upload_id"], map=["Work Mail=email"])
        assert job["kind"] == "dry-run" and job["state"] == "done" and job["exit_code"] == 1
        assert set(job) >= {"job_id", "counts", "writes_planned", "writes_done", "message"}
        assert job["counts"] == {
            "would_complete": 1,
            "course_not_found": 2,
            "user_not_found": 1,
            "invalid": 1,
        }
        jid = job["job_id"]

        rows = c.get(f"/api/jobs/{jid}/rows", params={"status": "problems"}).json()
        assert rows["total"] == 4
        assert [r["row"] for r in rows["rows"]] == [3, 4, 5, 6]
        search = c.get(f"/api/jobs/{jid}/rows", params={"q": "NOBODY"}).json()
        assert [r["row"] for r in search["rows"]] == [5]
        page = c.get(f"/api/jobs/{jid}/rows", params={"sort": "row", "dir": "desc", "limit": 2})
        assert page.json()["total"] == 5 and [r["row"] for r in page.json()["rows"]] == [6, 5]
        page2 = c.get(f"/api/jobs/{jid}/rows", params={"offset": 4, "limit": 2}).json()
        assert [r["row"] for r in page2["rows"]] == [6]

        by_course = c.get(f"/api/jobs/{jid}/rows", params={"sort": "course"}).json()["rows"]
        assert [r["row"] for r in by_course] == [5, 2, 3, 4, 6]  # Code, Data, Fire Safty, First
        assert c.get(f"/api/jobs/{jid}/rows", params={"q": "fire safty"}).json()["total"] == 2
        # accept the "did you mean" for every row with the same value: both rows re-checked
        r = c.patch(
            f"/api/jobs/{jid}/rows/3",
            json={"cells": {"Course": "Fire Safety 2025"}, "every_row": True},
            headers=H,
        )
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "would_complete" and r.json()["also_changed"] == [4]
        # exclude the unknown learner; edit the impossible date and re-check the row
        r = c.patch(f"/api/jobs/{jid}/rows/5", json={"exclude": True}, headers=H)
        assert r.status_code == 200 and r.json()["status"] == "excluded"
        r = c.patch(
            f"/api/jobs/{jid}/rows/6", json={"cells": {"Completion Date": "2025-02-28"}}, headers=H
        )
        assert r.json()["status"] == "would_complete", r.json()["message"]
        # search and sort follow the edits (their caches are dropped)
        assert c.get(f"/api/jobs/{jid}/rows", params={"q": "fire safty"}).json()["total"] == 0
        by_course = c.get(f"/api/jobs/{jid}/rows", params={"sort": "course"}).json()["rows"]
        assert [r["row"] for r in by_course] == [5, 2, 3, 4, 6]
        assert c.get(f"/api/jobs/{jid}/rows", params={"status": "excluded"}).json()["total"] == 1
        status = c.get(f"/api/jobs/{jid}").json()
        assert status["counts"] == {"would_complete": 4, "excluded": 1}
        assert status["writes_planned"] > job["writes_planned"] > 0  # the fixed rows add writes
        assert status["message"] == "Dry run finished: every row ended well."
        assert {(e["row"], e["column"], e["old"], e["new"]) for e in status["edits"]} == {
            (3, "Course", "Fire Safty 2025", "Fire Safety 2025"),
            (4, "Course", "Fire Safty 2025", "Fire Safety 2025"),
            (6, "Completion Date", "31/02/2025", "2025-02-28"),
        }
        assert (
            c.patch(f"/api/jobs/{jid}/rows/99", json={"exclude": True}, headers=H).status_code
            == 404
        )
        assert c.patch(f"/api/jobs/{jid}/rows/3", json={}, headers=H).status_code == 400

        # downloads, as the CLI writes them; the JSON report lists the edits
        report = c.get(f"/api/jobs/{jid}/report.json").json()
        assert [r["status"] for r in report["rows"]] == ["would_complete"] * 4
        assert [(e["row"], e["column"], e["new"], e["excluded"]) for e in report["edits"]] == [
            (3, "Course", "Fire Safety 2025", False),
            (4, "Course", "Fire Safety 2025", False),
            (5, "", "(row excluded)", True),
            (6, "Completion Date", "2025-02-28", False),
        ]
        book = openpyxl.load_workbook(io.BytesIO(c.get(f"/api/jobs/{jid}/report.xlsx").content))
        assert "Report" in book.sheetnames and "Edits" in book.sheetnames
        text = c.get(f"/api/jobs/{jid}/report.csv").content.decode("utf-8-sig")
        assert list(csv.DictReader(io.StringIO(text)))[0]["Work Mail"] == PROBLEM_FIRST
        # no failed rows after the fixes: the failed-rows file says so
        r = c.get(f"/api/jobs/{jid}/failed.csv")
        assert r.status_code == 409 and "No row failed" in r.json()["error"]
        assert c.get(f"/api/jobs/{jid}/report.pdf").status_code == 404


PROBLEM_FIRST = "sofia.rossi@acme-corp.example"


def test_pages_render_every_step(tmp_path: Path) -> None:
    with site(tmp_path) as s:
        c = s.client
        home = c.get("/")
        assert "Upload a spreadsheet" in home.text
        assert home.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in home.headers["content-security-policy"]
        up = upload(c, Path(SAMPLE_CSV))
        shape = c.get(f"/uploads/{up['upload_id']}")
        assert shape.status_code == 200 and "Learner Email" in shape.text
        job = dry_run(c, up["upload_id"])
        page = c.get(f"/jobs/{job['job_id']}")
        assert page.status_code == 200 and 'aria-live="polite"' in page.text
        assert "Did you mean" in page.text and "Use “Data Privacy Essentials”" in page.text
        table = c.get(f"/jobs/{job['job_id']}/table", params={"status": "invalid"})
        assert table.text.count('<tr id="row-') == job["counts"]["invalid"]
        assert "Run live now" in c.get(f"/jobs/{job['job_id']}/confirm").text
        assert "completions.csv" in c.get("/history").text
        secrets = [v for v in s.sandbox.credentials.values() if len(v) > 8]
        pages = [c.get(u).text for u in ("/", "/history", f"/jobs/{job['job_id']}")]
        pages.append(c.get(f"/api/jobs/{job['job_id']}/report.json").text)
        assert secrets and not any(v in p for v in secrets for p in pages)
        assert c.get("/api/history").json()["runs"][0]["job_id"] == job["job_id"]
        static = c.get("/static/htmx.min.js")
        assert static.status_code == 200 and b"htmx" in static.content[:2000]
        # htmx requests get a redirect to the next step (the same handler as the JSON API)
        r = c.post(
            f"/api/uploads/{up['upload_id']}/dry-run",
            data={"map": ""},
            headers={**H, "HX-Request": "true"},
        )
        assert r.status_code == 202 and r.headers["HX-Redirect"].startswith("/jobs/")
        assert wait(c, r.json()["job_id"])["state"] == "done"


def test_live_run_progress_events_and_one_live_run_per_account(tmp_path: Path) -> None:
    with site(tmp_path, sandbox={"time_scale": 60.0}) as s:
        c = s.client
        first = dry_run(c, upload(c, Path(SAMPLE_CSV))["upload_id"])
        other = dry_run(c, upload(c, Path(SAMPLE_CSV))["upload_id"])
        r = c.post(f"/api/jobs/{first['job_id']}/run", json={"confirm": True}, headers=H)
        assert r.status_code == 202
        live_id = r.json()["job_id"]
        # a second live run against the same account while the first writes: refused, clearly
        busy = c.post(f"/api/jobs/{other['job_id']}/run", json={}, headers=H)
        assert busy.status_code == 409
        assert "Another live run" in busy.json()["error"]
        # the same dry run cannot be run live twice
        again = c.post(f"/api/jobs/{first['job_id']}/run", json={}, headers=H)
        assert again.status_code == 409
        # progress is pushed as server-sent events until the end
        with c.stream("GET", f"/api/jobs/{live_id}/events") as events:
            body = "".join(events.iter_text())
        assert body.count("event: progress") >= 1 and "event: done" in body
        last = json.loads(body.rsplit("event: done\ndata: ", 1)[1].strip())
        assert last["kind"] == "live" and last["state"] == "done"
        assert last["writes_made"] == last["writes_planned"] > 0
        # once done, the page shows the time the run took beside the estimate, not a countdown
        assert last["actual_seconds"] is not None and last["actual_seconds"] > 0
        page = c.get(f"/jobs/{live_id}").text
        assert "<dt>Took</dt>" in page and "(estimated " in page and "Time left" not in page
        report = c.get(f"/api/jobs/{live_id}/report.json").json()
        books = s.sandbox.books()
        assert books["double_grades"] == 0
        assert all(n == 1 for n in graded(books).values())
        assert (
            sum(r["status"] == "completed" for r in report["rows"])
            == first["counts"]["would_complete"]
        )
        # now the account is free: the other dry run may go live, and posts nothing twice
        r = c.post(f"/api/jobs/{other['job_id']}/run", json={}, headers=H)
        assert r.status_code == 202
        second = wait(c, r.json()["job_id"])
        assert second["writes_made"] == 0 and s.sandbox.books()["double_grades"] == 0
        assert c.get(f"/api/jobs/{live_id}/failed.xlsx").status_code == 200


def test_cancel_stops_a_live_run_like_ctrl_c(tmp_path: Path) -> None:
    with site(tmp_path, sandbox={"time_scale": 5.0}) as s:
        c = s.client
        dry = dry_run(c, upload(c, Path(SAMPLE_CSV))["upload_id"])
        live_id = c.post(f"/api/jobs/{dry['job_id']}/run", json={}, headers=H).json()["job_id"]
        deadline = time.monotonic() + 20
        while c.get(f"/api/jobs/{live_id}").json()["writes_made"] == 0:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert c.post(f"/api/jobs/{live_id}/cancel", headers=H).status_code == 202
        status = wait(c, live_id)
        assert status["state"] == "cancelled" and status["exit_code"] == 130
        assert 0 < status["writes_made"] < status["writes_planned"]
        assert s.sandbox.books()["double_grades"] == 0
        assert c.get(f"/api/jobs/{live_id}/report.csv").status_code == 200


def test_refusals(tmp_path: Path) -> None:
    with site(tmp_path, max_upload_mb=0.01) as s:
        c = s.client
        # DNS rebinding: a Host that is not the bound address
        assert c.get("/", headers={"Host": "evil.example"}).status_code == 400
        assert c.get("/api/history", headers={"Host": "evil.example:8700"}).status_code == 400
        # every state-changing request needs X-Requested-By
        for method, url in [
            ("POST", "/api/uploads"),
            ("POST", "/api/uploads/x/dry-run"),
            ("PATCH", "/api/jobs/x/rows/2"),
            ("POST", "/api/jobs/x/run"),
            ("POST", "/api/jobs/x/cancel"),
        ]:
            r = c.request(method, url)
            assert r.status_code == 403 and "X-Requested-By" in r.json()["error"], url
        # a cross-site origin is refused even with the header
        r = c.post("/api/jobs/x/cancel", headers={**H, "Origin": "https://evil.example"})
        assert r.status_code == 403
        # oversize upload: stopped while streaming, nothing stored
        big = io.BytesIO(b"Email,Course,Completion Date\n" + b"a@b.example,X,2025-01-01\n" * 2000)
        r = c.post("/api/uploads", files={"file": ("big.csv", big)}, headers=H)
        assert r.status_code == 413 and "0.01 MB limit" in r.json()["error"]
        assert list((s.state_dir / "web" / "uploads").iterdir()) == []
        # not a spreadsheet; an unreadable one (the CLI's exit-2 message)
        r = c.post("/api/uploads", files={"file": ("x.pdf", b"%PDF")}, headers=H)
        assert r.status_code == 400 and "x.pdf is a PDF document" in r.json()["error"]
        damaged = b"PK\x03\x04not really a zip"
        r = c.post("/api/uploads", files={"file": ("x.xlsx", damaged)}, headers=H)
        assert r.status_code == 400 and r.json()["error"].startswith("x.xlsx ")
        assert "uploads" not in r.json()["error"]  # the stored name never shows
        # one line of text named .xlsx reads as the CLI reads it: a header with no data rows,
        # which is a question for the Shape step (is an empty export normal?)
        r = c.post("/api/uploads", files={"file": ("x.xlsx", b"not a zip")}, headers=H)
        asked = r.json()["questions"]
        assert r.status_code == 201 and [q["ask"] for q in asked] == ["allow_empty"]
        assert asked[0]["message"].startswith("x.xlsx has a header (row 1) but no data rows")
        assert c.post("/api/uploads", data={"a": "b"}, headers=H).status_code == 400
        # unknown job / upload on every route
        for url in [
            "/api/jobs/nope",
            "/api/jobs/nope/rows",
            "/api/jobs/nope/events",
            "/api/jobs/nope/report.xlsx",
            "/api/jobs/nope/failed.csv",
            "/api/uploads/nope",
            "/jobs/nope",
        ]:
            r = c.get(url)
            assert r.status_code == 404 and "error" in r.json(), url
        for url in ["/api/jobs/nope/run", "/api/jobs/nope/cancel", "/api/uploads/nope/dry-run"]:
            assert c.post(url, json={}, headers=H).status_code == 404
        assert c.patch("/api/jobs/nope/rows/2", json={}, headers=H).status_code == 404


def test_password_required_off_loopback(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="ALM_BATCH_WEB_PASSWORD"):
        check_binding("0.0.0.0", None)
    with pytest.raises(UsageError, match="Refusing to listen on 192.168.1.5"):
        check_binding("192.168.1.5", "")
    check_binding("127.0.0.1", None)
    check_binding("0.0.0.0", "s3cret-passphrase")
    app = create_app(
        WebConfig(
            state_dir=tmp_path,
            settings_factory=lambda: pytest.fail("no ALM call"),
            host="192.168.1.5",
            password="s3cret-passphrase",
        )
    )
    c = TestClient(app, base_url="http://192.168.1.5:8700")
    r = c.get("/")
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Basic")
    bad = base64.b64encode(b"hr:wrong").decode()
    assert c.get("/", headers={"Authorization": f"Basic {bad}"}).status_code == 401
    good = base64.b64encode(b"hr:s3cret-passphrase").decode()
    page = c.get("/", headers={"Authorization": f"Basic {good}"})
    assert page.status_code == 200 and "s3cret-passphrase" not in page.text
    assert c.get("/", headers={"Host": "evil.example"}).status_code == 400


def test_ambiguous_dates_are_asked_and_mapping_is_remembered(tmp_path: Path) -> None:
    data = "Mail Address,Course Name,Completion Date\n"
    data += "sofia.rossi@acme-corp.example,Fire Safety 2025,03/04/2025\n"
    path = tmp_path / "april.csv"
    path.write_text(data, encoding="utf-8")
    with site(tmp_path) as s:
        c = s.client
        up = upload(c, path, map="Mail Address=email")
        assert up["mapping"]["email"] == "Mail Address" and not up["remembered"]
        shape = c.get(f"/api/uploads/{up['upload_id']}").json()
        assert "completion_date" in shape["ambiguous_dates"]
        r = c.post(f"/api/uploads/{up['upload_id']}/dry-run", json={}, headers=H)
        error = r.json()["error"]  # the question, as the page asks it: no command-line flag
        assert r.status_code == 400 and "'03/04/2025' (row 2)" in error and "--" not in error
        asked = [q for q in shape["questions"] if q["ask"] == "date_format"]
        assert [c["value"] for c in asked[0]["choices"]] == ["DD/MM/YYYY", "MM/DD/YYYY"]
        job = dry_run(c, up["upload_id"], date_format="DD/MM/YYYY", remember=True)
        assert job["state"] == "done"
        rows = c.get(f"/api/jobs/{job['job_id']}/rows").json()["rows"]
        assert rows[0]["status"] == "already_completed" or rows[0]["status"] == "would_complete"
        # next month's file with the same headers maps itself
        again = upload(c, path)
        assert again["remembered"] and again["mapping"]["email"] == "Mail Address"


def test_uploads_are_deleted_after_keep_days(tmp_path: Path) -> None:
    store = UploadStore(tmp_path, keep_days=30)
    old = store.save(io.BytesIO(b"x"), ".csv")
    assert store.clean(now=time.time() + 29 * 86400) == 0 and old.exists()
    assert store.clean(now=time.time() + 31 * 86400) == 1 and not old.exists()


def test_done_states_listed(tmp_path: Path) -> None:
    assert DONE == ("done", "failed", "cancelled") and ORIGIN.startswith("http://127.0.0.1")


def test_serve_command_prints_its_url_and_stops_on_sigterm(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import urllib.request

    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "batch",
            "serve",
            "--sandbox",
            "--no-browser",
            "--port",
            "0",
            "--state-dir",
            str(tmp_path / "state"),
        ],  # fmt: skip
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "ALM_BATCH_WEB_PASSWORD": ""},
    )
    try:
        assert proc.stderr is not None
        first = proc.stderr.readline()
        assert first.startswith("alm-batch upload page: http://127.0.0.1:"), first
        url = first.split(": ", 1)[1].strip()
        with urllib.request.urlopen(url, timeout=10) as answer:
            page = answer.read().decode()
        assert "Sandbox mode" in page and "client_secret" not in page
        assert "Try the sample file" in page and "sample_data/" not in page  # from the package
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        rest = proc.stderr.read()
        assert "Stopped." in rest
    finally:
        if proc.poll() is None:
            proc.kill()


def test_serve_refuses_other_addresses_without_a_password(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "ALM_BATCH_WEB_PASSWORD"}
    done = subprocess.run(
        [sys.executable, "-m", "batch", "serve", "--host", "0.0.0.0", "--no-browser"],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
    )
    assert done.returncode == 2
    assert "Refusing to listen on 0.0.0.0" in done.stderr
    assert "ALM_BATCH_WEB_PASSWORD" in done.stderr


def test_several_dry_runs_at_once_while_a_live_run_writes(tmp_path: Path) -> None:
    with site(tmp_path, sandbox={"time_scale": 60.0}) as s:
        c = s.client
        first = dry_run(c, upload(c, Path(SAMPLE_CSV))["upload_id"])
        live = c.post(f"/api/jobs/{first['job_id']}/run", json={}, headers=H).json()["job_id"]
        uploads = [upload(c, Path(SAMPLE_CSV))["upload_id"] for _ in range(3)]
        started = [
            c.post(f"/api/uploads/{u}/dry-run", json={}, headers=H).json()["job_id"]
            for u in uploads
        ]
        assert len(set(started)) == 3
        for job_id in started:
            status = wait(c, job_id)
            assert status["state"] == "done" and sum(status["counts"].values()) == 39
        status = wait(c, live)
        assert status["state"] == "done" and status["writes_made"] == first["writes_planned"]
        assert s.sandbox.books()["double_grades"] == 0


def test_earlier_runs_can_be_viewed_and_downloaded_after_a_restart(tmp_path: Path) -> None:
    with site(tmp_path) as s:
        c = s.client
        dry = dry_run(c, upload(c, Path(SAMPLE_CSV))["upload_id"])
        jid = dry["job_id"]
        r = c.patch(f"/api/jobs/{jid}/rows/15", json={"exclude": True}, headers=H)
        assert r.status_code == 200
        # the same state directory, a new server: the job is read back from its folder
        again = create_app(
            WebConfig(state_dir=s.state_dir, settings_factory=lambda: pytest.fail("no ALM"))
        )
        c2 = TestClient(again, base_url=ORIGIN)
        assert jid in c2.get("/history").text
        status = c2.get(f"/api/jobs/{jid}").json()
        assert status["state"] == "done" and status["excluded"] == [15]
        assert status["counts"]["excluded"] == 1 and "course_not_found" not in status["counts"]
        assert c2.get(f"/api/jobs/{jid}/rows", params={"status": "invalid"}).json()["total"] == 2
        assert c2.get(f"/api/jobs/{jid}/report.csv").status_code == 200
        page = c2.get(f"/jobs/{jid}")
        assert "earlier session" in page.text and "Save and re-check" not in page.text
        r = c2.patch(f"/api/jobs/{jid}/rows/15", json={"exclude": True}, headers=H)
        assert r.status_code == 409 and "this session" in r.json()["error"]
        r = c2.post(f"/api/jobs/{jid}/run", json={}, headers=H)
        assert r.status_code == 409 and "upload the file again" in r.json()["error"]
        assert c2.get("/api/jobs/..%2f..%2fetc").status_code == 404


def test_a_run_level_error_stops_the_job_with_the_cli_message(tmp_path: Path) -> None:
    from batch.settings import Settings

    unconfigured = Settings(  # type: ignore[call-arg]
        _env_file=None, client_id=None, client_secret=None, refresh_token=None, access_token=None
    )
    app = create_app(WebConfig(state_dir=tmp_path / "state", settings_factory=lambda: unconfigured))
    with TestClient(app, base_url=ORIGIN) as c:
        job = dry_run(c, upload(c, Path(SAMPLE_CSV))["upload_id"])
        assert job["state"] == "failed" and job["exit_code"] == 2
        assert job["message"].startswith("Missing configuration: ALM_CLIENT_ID")
        page = c.get(f"/jobs/{job['job_id']}")
        assert "Stopped" in page.text and "Missing configuration" in page.text
        assert c.get(f"/api/jobs/{job['job_id']}/report.csv").status_code == 409


def test_history_lists_live_runs_from_the_command_line_too(tmp_path: Path) -> None:
    from batch.jobs import Job, JobOptions

    with site(tmp_path) as s:
        csv_path = tmp_path / "cli.csv"
        csv_path.write_bytes(Path(SAMPLE_CSV).read_bytes())
        Job(
            JobOptions(
                path=csv_path,
                dry_run=False,
                state_dir=s.state_dir,
                report=tmp_path / "cli.report.csv",
            ),
            sandbox_settings(s.sandbox),
        ).run()
        runs = s.client.get("/api/history").json()["ledger_runs"]
        assert [(r["file"], r["command"], r["exit_status"]) for r in runs] == [
            ("cli.csv", "run", 1)  # the sample's rows that fail on purpose
        ]
        assert runs[0]["writes_done"] == 87 and runs[0]["writes_failed"] == 0
        page = s.client.get("/history").text
        assert "Live runs from the command line" in page and "cli.csv" in page


def test_events_look_for_the_end_often_and_send_progress_at_most_every_quarter_second(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The page reloads on the done event: it is looked for every DONE_POLL seconds, while
    progress (which only moves bars) is sent at most every PROGRESS_EVERY seconds."""
    import asyncio
    import threading

    from batch.jobs import Job, JobOptions, JobState, StageFinished, StageProgress
    from batch.jobs.options import ShapeOptions
    from batch.web import app as web_app
    from batch.web.registry import PageRun, Upload

    slept: list[float] = []
    real_sleep = asyncio.sleep

    async def recording(seconds: float) -> None:
        slept.append(seconds)
        await real_sleep(seconds)

    monkeypatch.setattr(web_app.asyncio, "sleep", recording)
    guarded = create_app(WebConfig(state_dir=tmp_path, settings_factory=Settings))
    upload = Upload("u1", "march.csv", tmp_path / "march.csv", 0.0, ShapeOptions())
    job = Job(JobOptions(path=upload.path, dry_run=True, folder=tmp_path))
    job.state = JobState.RUNNING
    run = PageRun("0123456789ab", job, upload, time.time())
    guarded.registry.runs[run.job_id] = run  # type: ignore[attr-defined]

    def work() -> None:  # a job whose progress moves every 10 ms for 0.6 s, then ends
        for _ in range(60):
            job.emit(StageProgress("rows", job.progress.stage_done + 1, 60))
            time.sleep(0.01)
        job.state = JobState.DONE
        job.emit(StageFinished("rows"))

    worker = threading.Thread(target=work)
    with TestClient(guarded, base_url="http://127.0.0.1:8700") as c:
        worker.start()
        with c.stream("GET", f"/api/jobs/{run.job_id}/events") as events:
            body = "".join(events.iter_text())
        worker.join()
    assert "event: done" in body and json.loads(body.rsplit("data: ", 1)[1])["state"] == "done"
    assert 1 <= body.count("event: progress") <= 0.6 / web_app.PROGRESS_EVERY + 3
    assert slept and set(slept) == {web_app.DONE_POLL} and web_app.DONE_POLL <= 0.05


def test_runs_of_an_earlier_version_of_the_page_are_still_listed(tmp_path: Path) -> None:
    """Before jobs recorded themselves, a job's folder held the page's own ``job.json`` and
    the JSON report: such a folder is read once into a job record, and listed as before."""
    from datetime import UTC, datetime

    from batch.models import RowResult, RowStatus, RunSummary
    from batch.reporting import write_reports

    folder = tmp_path / "web" / "jobs" / "0123456789ab"
    folder.mkdir(parents=True)
    summary = RunSummary(
        run_id="20261101-090000-abcd", command="serve", dry_run=True,
        input_path=str(tmp_path / "web" / "uploads" / "f00.csv"), input_sha256="ab",
        alm_host="alm.example", started_at=datetime(2026, 11, 1, 9, tzinfo=UTC),
        writes_planned=2,
    )  # fmt: skip
    rows = [
        RowResult(2, {"Email": "a@x.example", "Course": "Fire Safety"}, RowStatus.WOULD_COMPLETE,
                  "Would grade 2 modules.", planned_grades=2),
        RowResult(3, {"Email": "b@x.example", "Course": "Fire Safty"},
                  RowStatus.COURSE_NOT_FOUND, "No course 'Fire Safty'."),
    ]  # fmt: skip
    write_reports(
        iter(rows), columns=["Email", "Course"], summary=summary, input_path=tmp_path / "f.csv",
        input_format="csv", explicit=folder / "report.json", live=False,
    )  # fmt: skip
    old = {
        "job_id": "0123456789ab", "kind": "dry-run", "state": "done", "file": "march.csv",
        "upload_id": "f00", "counts": {"would_complete": 1, "course_not_found": 1}, "rows": 2,
        "writes_planned": 2, "writes_made": 0, "exit_code": 1, "message": "Dry run finished",
        "edits": [], "excluded": [], "parent": None, "live_job": None,
        "created": "2026-11-01T09:00:00+00:00", "finished": "2026-11-01T09:00:05+00:00",
        "choice": {}, "shape_mapping": {"email": "Email", "course": "Course"},
    }  # fmt: skip
    (folder / "job.json").write_text(json.dumps(old), encoding="utf-8")
    app = create_app(WebConfig(state_dir=tmp_path, settings_factory=lambda: pytest.fail("no")))
    with TestClient(app, base_url=ORIGIN) as c:
        (listed,) = c.get("/api/history").json()["runs"]
        assert (listed["job_id"], listed["file"], listed["state"]) == (
            "0123456789ab",
            "march.csv",
            "done",
        )
        status = c.get("/api/jobs/0123456789ab").json()
        assert status["counts"] == {"would_complete": 1, "course_not_found": 1}
        assert status["exit_code"] == 1 and status["writes_planned"] == 2
        found = c.get("/api/jobs/0123456789ab/rows", params={"sort": "course"}).json()
        assert [r["row"] for r in found["rows"]] == [2, 3]
        assert c.get("/api/jobs/0123456789ab/report.csv").status_code == 200
