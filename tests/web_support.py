"""Helpers for the upload page's tests: an app on a sandbox, a client, files to upload."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openpyxl
from starlette.testclient import TestClient

from batch.confirmed import label_parts
from batch.models import RowResult
from batch.sandbox import Sandbox
from batch.settings import Settings
from batch.web.app import WebConfig, create_app
from batch.web.registry import sandbox_settings
from batch.web.server import Running, start_in_thread
from tests.e2e_support import sample_sandbox

ORIGIN = "http://127.0.0.1:8700"
H = {"X-Requested-By": "alm-batch"}
DONE = ("done", "failed", "cancelled")


@dataclass
class Site:
    app: Any
    client: TestClient
    sandbox: Sandbox
    state_dir: Path


@contextmanager
def site(tmp_path: Path, **config: Any) -> Iterator[Site]:
    """The page on the sample sandbox. ``sandbox``: its config; ``clock``: its clock;
    ``settings``: changes to the client's settings."""
    sandbox = sample_sandbox(clock=config.pop("clock", None), **config.pop("sandbox", {}))
    try:
        settings = sandbox_settings(sandbox).model_copy(update=config.pop("settings", {}))
        state_dir = tmp_path / "state"
        app = create_app(
            WebConfig(state_dir=state_dir, settings_factory=lambda: settings, **config)
        )
        try:
            with TestClient(app, base_url=ORIGIN) as client:
                yield Site(app, client, sandbox, state_dir)
        finally:
            # Jobs still running (a test that did not wait) stop like Ctrl-C while the sandbox
            # still answers; otherwise they would retry a gone ALM until they give up.
            app.registry.shutdown(wait=30)
    finally:
        sandbox.stop()


@contextmanager
def served_page(
    sandbox: Sandbox, state_dir: Path, settings: Settings | None = None, **config: Any
) -> Iterator[tuple[Running, Any]]:
    """The page on a real server on 127.0.0.1 (for a browser) against ``sandbox``: yields the
    running server and the app; at the end its jobs stop, then the server, then the sandbox."""
    try:
        ready = settings or sandbox_settings(sandbox)
        app = create_app(WebConfig(state_dir=state_dir, settings_factory=lambda: ready, **config))
        running = start_in_thread(app, "127.0.0.1", 0)
        try:
            yield running, app
        finally:
            app.registry.shutdown(wait=10)
            running.stop()
    finally:
        sandbox.stop()


def upload(client: TestClient, path: Path, **fields: Any) -> dict[str, Any]:
    with path.open("rb") as fh:
        r = client.post("/api/uploads", files={"file": (path.name, fh)}, data=fields, headers=H)
    assert r.status_code == 201, r.text
    return dict(r.json())


def wait(client: TestClient, job_id: str, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.get(f"/api/jobs/{job_id}").json()
        if status["state"] in DONE:
            return dict(status)
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish in {timeout} s")


def dry_run(client: TestClient, upload_id: str, **body: Any) -> dict[str, Any]:
    r = client.post(f"/api/uploads/{upload_id}/dry-run", json=body, headers=H)
    assert r.status_code == 202, r.text
    return wait(client, r.json()["job_id"])


PROBLEM_ROWS: list[list[Any]] = [
    # Work Mail, Course, Completion Date, Score, Team
    ["sofia.rossi@acme-corp.example", "Data Privacy Essentials", "2025-03-03", 91, "Ops"],
    ["ahmed.hassan@acme-corp.example", "Fire Safty 2025", "2025-03-04", 80, "Ops"],
    ["emma.schmidt@acme-corp.example", "Fire Safty 2025", "2025-03-05", 77, "HR"],
    ["nobody.here@acme-corp.example", "Code of Conduct", "2025-03-06", "", "HR"],
    ["olivia.dubois@acme-corp.example", "First Aid at Work", "31/02/2025", 88, "Sales"],
]


def problem_xlsx(path: Path) -> Path:
    """An HR export with problems: an email column no alias knows ("Work Mail"), a misspelt
    course on two rows, an unknown learner and an impossible date."""
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Completions"
    sheet.append(["Work Mail", "Course", "Completion Date", "Score", "Team"])
    for row in PROBLEM_ROWS:
        sheet.append(row)
    book.save(path)
    return path


def confirmed_rows(app: Any, dry_id: str) -> list[RowResult]:
    """The rows a dry run's confirmation shows as posted, with their planned writes (the
    job's own rows, read in this process)."""
    run = app.registry.get(dry_id)
    assert run is not None and run.job.rows is not None
    return [r for r in run.job.rows.results() if r.status.value == "would_complete"]


def confirmed_grades(rows: list[RowResult]) -> set[tuple[str, str]]:
    """(user id, module id) of every grade these rows' confirmation counts."""
    out = set()
    for r in rows:
        for label in r.planned_writes:
            kind, user, _course, _instance, module = label_parts(label)
            if kind == "grade":
                out.add((user, module))
    return out
