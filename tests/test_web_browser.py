"""The upload page in a real browser (Debian's chromium driven by Playwright for Python):
the whole flow against the embedded sandbox, with the mouse and then with the keyboard only,
an axe-core scan of each step, and a screenshot of each step in web-screenshots/."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from batch.sandbox import Sandbox
from batch.web.server import Running
from tests.e2e_support import graded, sample_sandbox, wanted_grades
from tests.web_support import problem_xlsx, served_page

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="BROWSER TESTS SKIPPED: Debian's chromium is missing; install it with "
    "'apt-get install -y chromium' (CI's .ci/run does) to run the upload page in a real browser",
)
SHOTS = Path(__file__).resolve().parents[1] / "web-screenshots"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TIMEOUT_MS = 30_000


class Server:
    def __init__(self, running: Running, sandbox: Sandbox) -> None:
        self.running = running
        self.sandbox = sandbox
        self.url = running.url.rstrip("/")


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[Server]:
    sandbox = sample_sandbox(time_scale=600.0)
    note = f"Sandbox mode: a pretend ALM account on {sandbox.base_url}."
    with served_page(sandbox, tmp_path / "state", account_note=note) as (running, _):
        yield Server(running, sandbox)


@pytest.fixture()
def page() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = browser.new_context(
            viewport={"width": 1280, "height": 860}, accept_downloads=True
        )
        tab = context.new_page()
        tab.set_default_timeout(TIMEOUT_MS)
        blocked = watch_csp(tab)
        try:
            yield tab
        finally:
            context.close()
            browser.close()
        assert blocked == [], f"the Content-Security-Policy blocked: {blocked}"


def watch_csp(tab: Any) -> list[str]:
    """Collects what the page's Content-Security-Policy blocked (Chromium logs each to the
    console) and what htmx refused to evaluate: the pages must need neither."""
    blocked: list[str] = []

    def seen(message: Any) -> None:
        text = message.text
        if "Content Security Policy" in text or "evalDisallowed" in text:
            blocked.append(text)

    tab.on("console", seen)
    return blocked


def check_step(page: Any, name: str) -> None:
    """Screenshot the step and scan it with axe-core: no serious or critical violation."""
    from axe_playwright_python.sync_playwright import Axe

    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    result = Axe().run(page)
    bad = [
        (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
        for v in result.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert bad == [], f"{name}: {bad}"


def check_report_and_books(path: Path, server: Server, *, row_6: str = "invalid") -> None:
    book = openpyxl.load_workbook(path, read_only=True)
    sheet = book["Report"]
    rows = list(sheet.iter_rows(values_only=True))
    header = [str(c) for c in rows[0]]
    records = [dict(zip(header, r, strict=False)) for r in rows[1:] if r[0] is not None]
    status = {int(r["row"]): r["status"] for r in records}
    # rows 3 and 4 were fixed in the page (the suggested course, accepted for both rows)
    assert status == {
        2: "completed",
        3: "completed",
        4: "completed",
        5: "user_not_found",
        6: row_6,
    }
    fixed = [r for r in records if int(r["row"]) in (3, 4)]
    assert all(r["Course"] == "Fire Safety 2025" for r in fixed)
    books = server.sandbox.books()
    assert books["double_grades"] == 0
    wanted = wanted_grades(
        [
            {
                "status": r["status"],
                "user_id": r["user_id"],
                "module_ids": str(r["module_ids"] or "").split("; "),
            }
            for r in records
        ]
    )
    assert wanted and graded(books) == {key: 1 for key in wanted}


def test_whole_flow_with_the_mouse(server: Server, page: Any, tmp_path: Path) -> None:
    xlsx = problem_xlsx(tmp_path / "march-completions.xlsx")
    page.goto(server.url + "/")
    check_step(page, "mouse-1-upload")
    page.set_input_files("#file", str(xlsx))
    page.get_by_role("button", name="Upload and check the columns").click()
    page.wait_for_url("**/uploads/*")
    page.get_by_text("Missing: choose the column").wait_for()
    check_step(page, "mouse-2-shape-missing-email")
    page.select_option("#map-email", "Work Mail=email")  # change one column mapping
    page.get_by_role("button", name="Update the preview").click()
    page.wait_for_load_state()
    assert page.locator("#map-email").input_value() == "Work Mail=email"
    check_step(page, "mouse-2-shape")
    page.get_by_role("button", name="Check against ALM (dry run)").click()
    page.wait_for_url("**/jobs/*")
    page.locator("#progress[data-state=done]").wait_for()  # finished (its rows show sooner)
    check_step(page, "mouse-3-dry-run")
    page.get_by_role("button", name="for all 2 rows").first.click()
    page.locator("#row-3 .badge", has_text="would complete").wait_for()
    assert page.locator("#row-4 .badge").inner_text() == "would complete"
    check_step(page, "mouse-4-fixed")
    # edit a cell of a row and re-check it: the impossible date of row 6
    page.locator("#row-6 summary").click()
    page.locator("#row-6 input[name='cell:Completion Date']").fill("2025-02-28")
    page.locator("#row-6").get_by_role("button", name="Save and re-check").click()
    page.locator("#row-6 .badge", has_text="would complete").wait_for()
    assert page.get_by_role("heading", name="Edits").is_visible()
    check_step(page, "mouse-4-edited")
    page.get_by_role("link", name="Review and run live…").click()
    page.wait_for_url("**/confirm")
    check_step(page, "mouse-5-confirm")
    page.get_by_role("button", name="Run live now").click()
    page.locator("#progress[data-state=done]").wait_for()
    check_step(page, "mouse-6-live-done")
    with page.expect_download() as info:
        page.get_by_role("link", name="XLSX report").click()
    report = tmp_path / "report.xlsx"
    info.value.save_as(report)
    check_report_and_books(report, server, row_6="completed")
    page.goto(server.url + "/history")
    assert page.locator("table tbody tr").count() == 2
    check_step(page, "mouse-7-history")


def wait_for_js(page: Any, expression: str) -> None:
    """Poll ``expression`` until it is true. (Playwright's ``wait_for_function`` builds its
    predicate with eval in the page, which the page's Content-Security-Policy refuses.)"""
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"never true: {expression}"
        page.wait_for_timeout(50)


def tab_to(page: Any, selector: str, limit: int = 120) -> None:
    """Press Tab until the element matching ``selector`` has the focus."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate(
            "(s) => { const e = document.activeElement; return !!e && e.matches(s); }", selector
        ):
            return
    raise AssertionError(f"Tab never reached {selector}")


def choose_file_with_keyboard(page: Any, path: Path) -> None:
    """Space on the focused file button opens the file chooser. Headless Chromium now and then
    drops the first activation right after a page load; a person would press again, so do we."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for attempt in range(3):
        try:
            with page.expect_file_chooser(timeout=5_000) as chooser:
                page.keyboard.press("Space")
            chooser.value.set_files(str(path))
            return
        except PlaywrightTimeout:
            if attempt == 2:
                raise


def test_whole_flow_with_the_keyboard_only(server: Server, page: Any, tmp_path: Path) -> None:
    xlsx = problem_xlsx(tmp_path / "march-completions.xlsx")
    page.goto(server.url + "/")
    tab_to(page, "#file")
    choose_file_with_keyboard(page, xlsx)
    tab_to(page, "#upload-form button[type=submit]")
    page.keyboard.press("Enter")
    page.wait_for_url("**/uploads/*")
    tab_to(page, "#map-email")
    page.keyboard.type("Work Mail")
    assert page.locator("#map-email").input_value() == "Work Mail=email"
    tab_to(page, "#shape-form button[type=submit]")
    page.keyboard.press("Enter")
    page.wait_for_load_state()
    page.get_by_text("Missing: choose the column").wait_for(state="detached")
    check_step(page, "keyboard-2-shape")
    tab_to(page, "#dry-run")
    page.keyboard.press("Enter")
    page.wait_for_url("**/jobs/*")
    page.locator("#progress[data-state=done]").wait_for()  # finished (its rows show sooner)
    tab_to(page, "button[data-action=accept-all]")
    page.keyboard.press("Enter")
    page.locator("#row-3 .badge", has_text="would complete").wait_for()
    # the focus lands on the fixed row, and its new status is announced
    wait_for_js(page, "document.activeElement.closest('tr')?.id === 'row-3'")
    assert "Row 3 re-checked: would complete" in page.locator("#announce").inner_text()
    # the summary and the filter counts follow the fix
    assert page.locator("#chips .problems .count").inner_text() == "2"
    # typing a search keeps the focus in the search box while the table follows
    page.locator("#q").focus()
    page.keyboard.type("fire safety")
    wait_for_js(page, "document.querySelectorAll('#rows-area table.rows tbody tr').length === 2")
    assert page.evaluate("document.activeElement.id") == "q"
    check_step(page, "keyboard-4-fixed")
    page.goto(page.url)  # start the Tab order from the top of the page again
    tab_to(page, "#go-live")
    page.keyboard.press("Enter")
    page.wait_for_url("**/confirm")
    tab_to(page, "#run-live")
    page.keyboard.press("Enter")
    page.locator("#progress[data-state=done]").wait_for()
    check_step(page, "keyboard-6-live-done")
    tab_to(page, "a[href$='/report.xlsx']")
    with page.expect_download() as info:
        page.keyboard.press("Enter")
    report = tmp_path / "report.xlsx"
    info.value.save_as(report)
    check_report_and_books(report, server)
