"""What the page's steps show, checked in-process: the downloads in the format clicked and named
after the uploaded file, the fixes a row offers (a few names, the candidates of an ambiguous
course with what tells them apart), a learning program's courses, the figures of a finished run
(also after a restart), the confirmation once a dry run has gone live, and the sample file."""

from __future__ import annotations

import html
import io
import re
import shutil
from pathlib import Path

import openpyxl
from starlette.testclient import TestClient

from batch.web.app import WebConfig, about, create_app
from batch.web.registry import sandbox_settings
from tests.e2e_support import SAMPLE_CSV, sample_sandbox
from tests.web_support import ORIGIN, H, dry_run, problem_xlsx, site, upload, wait

AMBIGUOUS_ROW = 16  # sample_data/README.md: 'Safety Basics' names two courses
PROGRAM_ROW = 39  # New Hire Onboarding: a learning program whose courses rows 37 and 38 grade


def text_of(page: str) -> str:
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))


def test_downloads_come_in_the_format_clicked_named_after_the_uploaded_file(
    tmp_path: Path,
) -> None:
    march = tmp_path / "march-completions.csv"
    shutil.copy(SAMPLE_CSV, march)
    with site(tmp_path) as s:
        c = s.client
        job = dry_run(c, upload(c, march)["upload_id"])
        jid = job["job_id"]
        xlsx = c.get(f"/api/jobs/{jid}/failed.xlsx")
        assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"  # a workbook
        assert 'filename="march-completions.failed.xlsx"' in xlsx.headers["content-disposition"]
        csv_rows = c.get(f"/api/jobs/{jid}/failed.csv")
        assert csv_rows.text.lstrip("\ufeff").startswith("Learner Email,Course Name")
        workbook = openpyxl.load_workbook(io.BytesIO(xlsx.content), read_only=True)
        assert workbook.active is not None and workbook.active.max_row == 1 + job["counts"][
            "invalid"] + sum(job["counts"].get(k, 0) for k in (
                "user_not_found", "course_not_found", "ambiguous_course", "rejected"))  # fmt: skip
        report = c.get(f"/api/jobs/{jid}/report.xlsx")
        summary = openpyxl.load_workbook(io.BytesIO(report.content), read_only=True)["Summary"]
        labels = {r[0]: r[1] for r in summary.iter_rows(values_only=True) if r and r[0]}
        assert labels["Input file"] == "march-completions.csv"  # not the stored name
        assert c.get(f"/api/jobs/{jid}/report.json").json()["summary"]["input_name"] == (
            "march-completions.csv"
        )
    # an .xlsx upload: its failed rows as CSV when CSV is clicked
    with site(tmp_path / "again") as s:
        c = s.client
        job = dry_run(c, upload(c, problem_xlsx(tmp_path / "march.xlsx"))["upload_id"],
                      map=["Work Mail=email"])  # fmt: skip
        as_csv = c.get(f"/api/jobs/{job['job_id']}/failed.csv")
        assert as_csv.text.lstrip("\ufeff").startswith("Work Mail,Course")


def test_a_row_offers_a_few_fixes_and_each_candidate_of_an_ambiguous_course(
    tmp_path: Path,
) -> None:
    with site(tmp_path) as s:
        c = s.client
        job = dry_run(c, upload(c, SAMPLE_CSV)["upload_id"])
        jid = job["job_id"]
        page = c.get(f"/jobs/{jid}", params={"limit": 50}).text
        forms = re.findall(r'<form class="suggest".*?</form>', page, re.S)
        assert forms and all(f.count("<button") <= 2 for f in forms)
        row = re.search(rf'<tr id="row-{AMBIGUOUS_ROW}">.*?</tr>', page, re.S)
        assert row is not None
        shown = text_of(row.group(0))
        assert "Which one is meant?" in shown
        assert "course:7968530" in shown and "course:7968544" in shown
        # what tells them apart: the description, another locale's name, the instances
        assert "“Safety basics for warehouse and logistics staff.”" in shown
        assert "de-DE “Sicherheitsgrundlagen”" in shown and "1 instance" in shown
        assert 'name="cell:Course Name" value="course:7968544"' in row.group(0)
        fixed = c.patch(
            f"/api/jobs/{jid}/rows/{AMBIGUOUS_ROW}",
            json={"cells": {"Course Name": "course:7968544"}},
            headers=H,
        ).json()
        assert fixed["status"] == "would_complete" and fixed["course_id"] == "course:7968544"


def test_a_program_row_shows_what_it_does_with_each_of_its_courses(tmp_path: Path) -> None:
    with site(tmp_path) as s:
        c = s.client
        job = dry_run(c, upload(c, SAMPLE_CSV)["upload_id"])
        page = c.get(f"/jobs/{job['job_id']}", params={"limit": 50}).text
        row = re.search(rf'<tr id="row-{PROGRAM_ROW}">.*?</tr>', page, re.S)
        assert row is not None and '<details class="program">' in row.group(0)
        shown = text_of(row.group(0))
        data = c.get(f"/api/jobs/{job['job_id']}/rows", params={"limit": 50}).json()["rows"]
        courses = next(r for r in data if r["row"] == PROGRAM_ROW)["courses"]
        assert f"{len(courses)} courses:" in shown
        for course in courses:
            assert course["name"] in shown
        others = [c for c in courses if c["state"] == "other_row"]
        assert others and all(f"graded by row {c['row']} of the file" in shown for c in others)


def test_a_finished_run_shows_what_it_ended_with_also_after_a_restart(tmp_path: Path) -> None:
    sandbox = sample_sandbox()
    try:
        settings = sandbox_settings(sandbox)
        state = tmp_path / "state"
        first = create_app(WebConfig(state_dir=state, settings_factory=lambda: settings))
        with TestClient(first, base_url=ORIGIN) as c:
            dry = dry_run(c, upload(c, SAMPLE_CSV)["upload_id"])
            c.patch(f"/api/jobs/{dry['job_id']}/rows/13", json={"exclude": True}, headers=H)
            r = c.post(f"/api/jobs/{dry['job_id']}/run", json={"confirm": True}, headers=H)
            live = wait(c, r.json()["job_id"])
            page = c.get(f"/jobs/{live['job_id']}").text
            assert "Date posted (UTC)" in page and "Date to post" not in page
        first.registry.shutdown()
        again = create_app(WebConfig(state_dir=state, settings_factory=lambda: settings))
        with TestClient(again, base_url=ORIGIN) as c:
            shown = text_of(c.get(f"/jobs/{live['job_id']}").text)
            assert "Rows 0 of 0" not in shown and "writes/s" not in shown
            assert f"Rows {live['rows']}" in shown
            assert f"Writes made {live['writes_made']} of {live['writes_planned']}" in shown
            shown = text_of(c.get(f"/jobs/{dry['job_id']}").text)
            need = re.findall(r"(\d+) rows? needs? attention|Need attention (\d+)", shown)
            problems = re.search(r"Only problems (\d+)", shown)
            assert problems is not None
            counts = {int(a or b) for a, b in need} | {int(problems.group(1))}
            assert len(counts) == 1, shown  # one figure everywhere
    finally:
        sandbox.stop()


def test_estimates_read_as_sentences() -> None:
    assert about(0.2) == "under a second"
    assert about(42) == "about 42 s" and about(None) == "—"


def test_the_confirmation_of_a_dry_run_gone_live_leads_to_that_run(tmp_path: Path) -> None:
    with site(tmp_path) as s:
        c = s.client
        dry = dry_run(c, upload(c, SAMPLE_CSV)["upload_id"])
        confirm = c.get(f"/jobs/{dry['job_id']}/confirm")
        assert confirm.headers["cache-control"] == "no-store"
        assert "about under" not in confirm.text and "Run live now" in confirm.text
        r = c.post(f"/api/jobs/{dry['job_id']}/run", json={"confirm": True}, headers=H)
        live_id = r.json()["job_id"]
        # Back to the confirmation: no button, a link to the run that is going on
        page = c.get(f"/jobs/{dry['job_id']}/confirm").text
        assert "Run live now" not in page and f'href="/jobs/{live_id}" id="see-live"' in page
        # a click on a stale button: the page goes to that same run, no error
        again = c.post(
            f"/api/jobs/{dry['job_id']}/run",
            data={"confirm": "true"},
            headers={**H, "HX-Request": "true"},
        )
        assert again.status_code == 200 and again.headers["HX-Redirect"] == f"/jobs/{live_id}"
        assert c.post(f"/api/jobs/{dry['job_id']}/run", json={}, headers=H).status_code == 409
        wait(c, live_id)


def test_the_sandbox_page_offers_its_sample_file(tmp_path: Path) -> None:
    sample = tmp_path / "completions.csv"
    shutil.copy(SAMPLE_CSV, sample)
    with site(tmp_path, sample=sample) as s:
        c = s.client
        home = c.get("/").text
        assert "Try the sample file" in home and 'href="/sample/completions.csv"' in home
        assert c.get("/sample/completions.csv").content == SAMPLE_CSV.read_bytes()
        assert c.get("/sample/other.csv").status_code == 404
        r = c.post("/api/uploads/sample", headers={**H, "HX-Request": "true"})
        assert r.status_code == 201 and r.json()["file"] == "completions.csv"
        assert r.headers["HX-Redirect"] == f"/uploads/{r.json()['upload_id']}"
        assert r.json()["rows"] == 39
    with site(tmp_path / "plain") as s:
        assert "Try the sample file" not in s.client.get("/").text
        assert s.client.post("/api/uploads/sample", headers=H).status_code == 404
