"""The page keeps what it shows, in a real browser (Debian's chromium driven by Playwright):
excluding a row re-decides its duplicate and the live run posts exactly the confirmation;
Cancel on an ALM at its published write limit stops writing within seconds; after Cancel,
"Run the remaining rows" finishes the job with nothing posted twice.

The upload and the dry run go through the JSON API (the Shape step is another file's subject);
what the person does here is done in the page: Exclude, Run live now, Cancel, Run the remaining
rows. Screenshots of each step go to web-screenshots/."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from batch.models import RowResult, counted
from batch.sandbox import Sandbox
from batch.web.registry import PageRun
from tests.e2e_support import SAMPLE_CSV, graded, sample_sandbox
from tests.test_web_browser import CHROMIUM, SHOTS, page  # noqa: F401 - fixture
from tests.web_support import confirmed_grades, confirmed_rows, served_page

pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="BROWSER TESTS SKIPPED: Debian's chromium is missing; install it with "
    "'apt-get install -y chromium' (CI's .ci/run does) to run the upload page in a real browser",
)
H = {"X-Requested-By": "alm-batch"}
WRITES = ("POST /users/{id}/userModuleGrade", "POST /users/{id}/enrollments")
SLOW = 30.0 / 600  # ALM's published 30 writes a minute, on a sandbox at time scale 600


class Server:
    def __init__(self, url: str, app: Any, sandbox: Sandbox) -> None:
        self.url, self.app, self.sandbox = url, app, sandbox

    def api(self, method: str, path: str, **kw: Any) -> Any:
        r = requests.request(method, self.url + path, headers=H, timeout=30, **kw)
        assert r.status_code < 300, r.text
        return r.json()

    def dry_run(self) -> str:
        with SAMPLE_CSV.open("rb") as fh:
            up = self.api("POST", "/api/uploads", files={"file": (SAMPLE_CSV.name, fh)})
        job = self.api("POST", f"/api/uploads/{up['upload_id']}/dry-run", json={})["job_id"]
        deadline = time.monotonic() + 60
        while self.api("GET", f"/api/jobs/{job}")["state"] != "done":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        return str(job)

    def run(self, job_id: str) -> PageRun:
        found = self.app.registry.get(job_id)
        assert found is not None
        return found  # type: ignore[no-any-return]

    def writes_received(self) -> int:
        calls = self.sandbox.books()["calls"]
        return sum(calls.get(name, 0) for name in WRITES)


def serve(tmp_path: Path, **sandbox: Any) -> Iterator[Server]:
    sb = sample_sandbox(**sandbox)
    with served_page(sb, tmp_path / "state") as (running, app):
        yield Server(running.url.rstrip("/"), app, sb)


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[Server]:
    yield from serve(tmp_path)


@pytest.fixture()
def slow_server(tmp_path: Path) -> Iterator[Server]:
    yield from serve(tmp_path, post_per_minute=SLOW)


def shot(page: Any, name: str) -> None:  # noqa: F811 - the fixture's name
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def confirmed(server: Server, dry_id: str) -> list[RowResult]:
    return confirmed_rows(server.app, dry_id)


def test_excluding_a_row_with_a_duplicate_posts_exactly_the_confirmation(
    server: Server,
    page: Any,  # noqa: F811 - the fixture, from test_web_browser
) -> None:
    dry = server.dry_run()
    page.goto(f"{server.url}/jobs/{dry}")
    assert page.locator("#row-22 .badge").inner_text() == "duplicate"
    page.locator("#row-2").get_by_role("button", name="Exclude row 2").click()
    page.locator("#row-2 .badge", has_text="excluded").wait_for()
    # Row 22 repeated row 2: it is re-decided before the confirmation, and the page says so.
    page.locator("#row-22 .badge", has_text="would complete").wait_for()
    assert "this row is now the one posted" in page.locator("#row-22").inner_text()
    note = page.locator("#fix-note").inner_text()
    assert "Excluded row 2" in note and "row 22 (duplicate -> would complete)" in note
    shot(page, "promises-1-excluded")
    rows = confirmed(server, dry)
    planned = sum(len(r.planned_writes) for r in rows)
    page.get_by_role("link", name="Review and run live…").click()
    page.wait_for_url("**/confirm")
    assert f"{counted(planned, 'write')} to ALM" in page.locator("main").inner_text()
    shot(page, "promises-2-confirm")
    page.get_by_role("button", name="Run live now").click()
    page.locator("#progress[data-state=done]").wait_for()
    shot(page, "promises-3-live-done")
    books = server.sandbox.books()
    assert set(graded(books)) == confirmed_grades(rows)  # ALM's books are the confirmation
    assert all(n == 1 for n in graded(books).values())
    sent = sum(sum(books["endpoint_statuses"].get(name, {}).values()) for name in WRITES)
    assert sent == planned  # one request per confirmed write, none more
    maria = next(r for r in rows if r.row == 22).user_id
    assert {m for u, m in graded(books) if u == maria}  # posted once, through row 22


def cancel_a_slow_live_run(server: Server, page: Any) -> tuple[str, str, int]:  # noqa: F811
    """Run the sample live at 30 writes a minute, press Cancel once ALM has received 12 writes;
    returns (dry run, live run, writes on ALM's books when Cancel took effect + in flight)."""
    dry = server.dry_run()
    page.goto(f"{server.url}/jobs/{dry}/confirm")
    page.get_by_role("button", name="Run live now").click()
    page.wait_for_url("**/jobs/*")
    live = page.url.rstrip("/").rsplit("/", 1)[-1]
    assert live != dry
    deadline = time.monotonic() + 60
    while server.writes_received() < 12:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    seen: dict[str, int] = {}
    registry = server.app.registry
    original = registry.cancel

    def cancel(run: PageRun) -> None:
        original(run)  # then: what is on the wire, then ALM's books (see the assertion)
        seen["in_flight"] = run.job.writes_in_flight()
        seen["books"] = server.writes_received()

    registry.cancel = cancel
    page.once("dialog", lambda dialog: dialog.accept())  # "Cancel this run?"
    page.get_by_role("button", name="Cancel").click()
    clicked = time.monotonic()
    page.locator("#progress[data-state=cancelled]").wait_for(timeout=10_000)
    took = time.monotonic() - clicked
    assert took < 5.0, f"the page said cancelled after {took:.1f} s"
    return dry, live, seen["books"] + seen["in_flight"]


def test_cancel_on_an_alm_at_its_write_limit_stops_writing_within_seconds(
    slow_server: Server,
    page: Any,  # noqa: F811 - the fixture, from test_web_browser
) -> None:
    server = slow_server
    dry, live, bound = cancel_a_slow_live_run(server, page)
    time.sleep(1.0)  # a write sent after Cancel would have reached ALM by now
    assert server.writes_received() <= bound  # nothing sent beyond what was on the wire
    text = page.locator("main").inner_text()
    assert "Cancelled: nothing more was sent after Cancel" in text
    assert "Run the remaining rows to finish." in text
    status = server.api("GET", f"/api/jobs/{live}")
    assert status["cancel_state"] == "cancelled" and status["counts"].get("not_run")
    if status["enrolled_not_graded"]:
        assert "enrolled but not yet graded" in page.locator("#half-done").inner_text()
    page.locator(".badge", has_text="not run").first.wait_for()
    assert page.locator(".badge", has_text="unknown").count() == 0
    shot(page, "promises-4-cancelled")


def test_after_cancel_running_the_remaining_rows_finishes_with_no_double_post(
    slow_server: Server,
    page: Any,  # noqa: F811 - the fixture, from test_web_browser
) -> None:
    server = slow_server
    dry, live, _ = cancel_a_slow_live_run(server, page)
    page.goto(f"{server.url}/jobs/{dry}")  # the dry run no longer says it "was run live"
    assert "stopped before every row was done" in page.locator("#next-h + p").inner_text()
    page.get_by_role("link", name="live run").click()
    page.wait_for_url(f"**/jobs/{live}")
    server.sandbox.configure(post_per_minute=10.0)  # the rest at a raised limit: a short test
    page.get_by_role("button", name="Run the remaining rows").click()
    page.wait_for_url(lambda url: live not in url and "/jobs/" in url)
    page.locator("#progress[data-state=done]").wait_for(timeout=60_000)
    shot(page, "promises-5-rest-done")
    books = server.sandbox.books()
    assert books["double_grades"] == 0
    assert set(graded(books)) == confirmed_grades(confirmed(server, dry))
    assert all(n == 1 for n in graded(books).values())
