"""A dry run fills in Chromium as it goes: rows appear before it finishes, the status line names
the ALM job it waits for and the time left, the finished page names the learner state's time.
The sandbox runs on a ``ManualClock`` (ALM's jobs end when the test advances it); a screenshot
of the dry run mid-way at 1280x800 goes to web-screenshots/dry-run-filling-1280.png. The same
through the JSON API: tests/test_web_dry_run_fills.py."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from batch.models import counted
from batch.sandbox import ManualClock, Sandbox
from batch.web.registry import sandbox_settings
from tests.e2e_support import SAMPLE_CSV, sample_sandbox
from tests.test_web_browser import CHROMIUM, SHOTS, page, wait_for_js  # noqa: F401 - fixture
from tests.test_web_browser_layout import OVERFLOW
from tests.web_support import served_page

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is missing")
SCALE = 60.0
# What the client expects the transcript to take (first poll after a quarter of it): the
# time left the page shows while the job runs.
EXPECTED_TRANSCRIPT_SECONDS = 16.0
MESSAGE = "document.querySelector('#progress [data-bind=message]').textContent"


class Server:
    def __init__(self, url: str, sandbox: Sandbox, clock: ManualClock) -> None:
        self.url, self.sandbox, self.clock = url, sandbox, clock


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[Server]:
    clock = ManualClock(SCALE)
    sb = sample_sandbox(clock=clock, time_scale=SCALE, limits_enabled=False)
    settings = sandbox_settings(sb).model_copy(
        update={"transcript_job_seconds": EXPECTED_TRANSCRIPT_SECONDS}
    )
    with served_page(sb, tmp_path / "state", settings, state_source="transcript") as (running, _):
        yield Server(running.url.rstrip("/"), sb, clock)


def test_rows_appear_while_the_dry_run_waits_for_alms_transcript_job(
    server: Server,
    page: Any,  # noqa: F811 - the fixture
) -> None:
    """Takes about 8 s: the transcript is polled first after a quarter of its expected time."""
    from axe_playwright_python.sync_playwright import Axe

    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(server.url + "/")
    page.set_input_files("#file", str(SAMPLE_CSV))
    page.get_by_role("button", name="Upload and check the columns").click()
    page.wait_for_url("**/uploads/*")
    page.get_by_role("button", name="Check against ALM (dry run)").click()
    page.wait_for_url("**/jobs/*")

    wait_for_js(page, f'{MESSAGE}.includes("ALM\'s users export job")')
    server.clock.advance(server.sandbox.config.job_delay)  # the export is done
    wait_for_js(page, f'{MESSAGE}.includes("ALM\'s learner transcript job")')
    wait_for_js(page, "document.querySelectorAll('#rows-area tbody tr').length > 0")
    line = page.locator("#progress [data-bind=message]").inner_text()
    assert re.fullmatch(
        r"Waiting for ALM's learner transcript job \d+ \([a-z ]+, \d+ s so far\) for 28 "
        r"learners\.",
        line,
    ), line
    left = page.locator("[data-bind=stage_eta]").inner_text()
    assert re.fullmatch(r"about \d+ s", left), left
    assert page.locator("[data-bind=stage]").inner_text() == "learner state"
    shown = page.locator("#rows-area tbody tr").count()
    waiting = page.locator("#rows-waiting").inner_text()
    assert f"{counted(39 - shown, 'more row')} waiting for learner state" in waiting
    assert page.locator("[data-action]").count() == 0  # no fixes before the end
    statuses = set(page.locator("#rows-area .badge").all_inner_texts())
    assert {"invalid", "user not found", "duplicate"} <= statuses
    assert not statuses & {"would complete", "already completed"}
    # A filter applies to the rows decided so far, and the next refresh keeps it.
    page.locator("label.chip", has_text="invalid").click()
    wait_for_js(page, "document.querySelector('#rows-src').dataset.src.includes('status=invalid')")
    assert set(page.locator("#rows-area .badge").all_inner_texts()) == {"invalid"}
    page.locator("label.chip", has_text="All").click()
    wait_for_js(page, "!document.querySelector('#rows-src').dataset.src.includes('status=')")
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / "dry-run-filling-1280.png"))  # the window: 1280x800
    assert page.evaluate(OVERFLOW) == []  # nothing cut off, no sideways scrolling
    page.set_viewport_size({"width": 390, "height": 844})  # and on a phone
    assert page.evaluate(OVERFLOW) == []
    page.screenshot(path=str(SHOTS / "dry-run-filling-390.png"))
    page.set_viewport_size({"width": 1280, "height": 800})
    bad = [v["id"] for v in Axe().run(page).response["violations"]
           if v["impact"] in ("serious", "critical") or v["id"] == "region"]  # fmt: skip
    assert bad == []

    server.clock.advance(server.sandbox.config.transcript_delay)  # the transcript is ready
    page.locator("#learner-state").wait_for()  # the finished page (a reload)
    assert re.fullmatch(
        r"Learner state as of \d\d:\d\d: ALM's learner transcript \(job \d+\) for 28 of 28 "
        r"learners\.",
        page.locator("#learner-state").inner_text(),
    )
    assert page.locator("#rows-area tbody tr").count() == 39
    assert page.locator("[data-action=exclude]").count() > 0  # the fixes are there now
    page.screenshot(path=str(SHOTS / "dry-run-filled-1280.png"))
