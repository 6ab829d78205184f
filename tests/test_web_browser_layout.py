"""The page in Chromium at a laptop's 1280x800 and a phone's 390x844: every step fits its
width (nothing to scroll sideways, nothing cut off: the Fix column, the edit form and its
button, the Shape step), axe finds nothing serious and no content outside the landmarks; a
screenshot of each step goes to web-screenshots/layout-<width>-<step>.png. Then the three
questions of one workbook (which sheet, which email column, which date order) answered on the
Shape step, the announcement of an exclusion, and Back to a confirmation that went live."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.shape_files import workday_months
from tests.test_web_browser import (  # noqa: F401 - fixtures
    SHOTS,
    Server,
    page,
    pytestmark,
    server,
    wait_for_js,
)
from tests.web_support import problem_xlsx

SIZES = {"desktop": (1280, 800), "phone": (390, 844)}

# Elements wider than their box: the page (sideways scrolling), a scrolled box (a table cut
# off), or a control past the right edge of the window. Text boxes scroll their own text.
OVERFLOW = """() => {
  const out = [], root = document.documentElement, width = window.innerWidth;
  if (root.scrollWidth > root.clientWidth) out.push(["page", root.scrollWidth, root.clientWidth]);
  for (const el of document.querySelectorAll("body *")) {
    if (el.closest(".visually-hidden, thead, caption, input, select, textarea, details:not([open]) > :not(summary)")) continue;
    const style = getComputedStyle(el), box = el.getBoundingClientRect();
    if (!box.width || style.visibility === "hidden") continue;
    if (["auto", "scroll", "hidden"].includes(style.overflowX) && el.scrollWidth > el.clientWidth + 1)
      out.push(["scrolls", el.tagName + "." + el.className, el.scrollWidth, el.clientWidth]);
    if (el.matches("button, input, select, a, label, td, th") && box.right > width + 1)
      out.push(["past the edge", el.tagName + "." + el.className, Math.round(box.right), width]);
  }
  return out.slice(0, 8);
}"""


def fits(page: Any, size: str, step: str) -> None:  # noqa: F811 - the fixture's name
    """Screenshot the step, then: no sideways scrolling, nothing cut off, axe happy."""
    from axe_playwright_python.sync_playwright import Axe

    width = SIZES[size][0]
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"layout-{width}-{step}.png"), full_page=True)
    assert page.evaluate(OVERFLOW) == [], f"{size} {step}"
    result = Axe().run(page)
    bad = [
        (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
        for v in result.response["violations"]
        if v["impact"] in ("serious", "critical") or v["id"] == "region"
    ]
    assert bad == [], f"{size} {step}: {bad}"


def to_the_shape_step(page: Any, server: Server, path: Path) -> None:  # noqa: F811
    page.goto(server.url + "/")
    page.set_input_files("#file", str(path))
    page.get_by_role("button", name="Upload and check the columns").click()
    page.wait_for_url("**/uploads/*")


def to_the_dry_run(page: Any, server: Server, path: Path) -> None:  # noqa: F811
    to_the_shape_step(page, server, path)
    page.get_by_role("button", name="Check against ALM (dry run)").click()
    page.wait_for_url("**/jobs/*")


@pytest.mark.parametrize("size", list(SIZES))
def test_every_step_fits_a_laptop_and_a_phone(
    size: str,
    server: Server,  # noqa: F811
    page: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    width, height = SIZES[size]
    page.set_viewport_size({"width": width, "height": height})
    page.goto(server.url + "/")
    fits(page, size, "1-upload")
    page.set_input_files("#file", str(workday_months(tmp_path)))
    page.get_by_role("button", name="Upload and check the columns").click()
    page.wait_for_url("**/uploads/*")
    page.get_by_role("heading", name="3 questions before the dry run").wait_for()
    fits(page, size, "2-shape-questions")
    to_the_dry_run(page, server, problem_xlsx(tmp_path / "march-completions.xlsx"))
    page.locator("#row-6 summary").click()  # the edit form of a row with a long email open
    page.locator("#row-6").get_by_role("button", name="Save and re-check").wait_for()
    fits(page, size, "3-dry-run-edit")
    save = page.locator("#row-6").get_by_role("button", name="Save and re-check")
    assert save.bounding_box()["x"] + save.bounding_box()["width"] <= width
    page.get_by_role("link", name="Review and run live…").click()
    page.wait_for_url("**/confirm")
    fits(page, size, "4-confirm")
    page.get_by_role("button", name="Run live now").click()
    page.locator("#progress[data-state=done]").wait_for()
    fits(page, size, "5-live-done")
    page.goto(server.url + "/history")
    fits(page, size, "6-history")


def test_three_questions_of_one_workbook_are_answered_on_the_shape_step(
    server: Server,  # noqa: F811
    page: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    to_the_shape_step(page, server, workday_months(tmp_path))
    sheet = page.get_by_role("group", name="Which sheet holds the rows to post?")
    email = page.get_by_role("group", name="Which column holds the learner email?")
    dates = page.get_by_role("group", name="Which date order does “Completion Date” use?")
    assert sheet.get_by_role("radio", name="March (3 data rows)").is_checked()  # opens on it
    assert email.get_by_role("checkbox", name="Email - Primary Work").is_checked()
    assert "maria.gonzalez@acme-corp.example" in email.inner_text()  # what tells them apart
    assert not dates.get_by_role("radio", name="Day first (31/12/2025)").is_checked()
    sheet.get_by_role("radio", name="April (3 data rows)").check()
    dates.get_by_role("radio", name="Day first (31/12/2025)").check()
    page.get_by_role("button", name="Update the preview").click()
    page.get_by_text("3 data rows on sheet “April”").wait_for()
    assert page.locator(".questions").count() == 0  # every question answered
    assert page.locator("#sheet").input_value() == "April"
    assert page.locator("#map-email").input_value() == "Email - Primary Work=email"
    assert page.locator("input[name=date_format][value='DD/MM/YYYY']").is_checked()
    page.get_by_role("button", name="Check against ALM (dry run)").click()
    page.wait_for_url("**/jobs/*")
    page.locator("#progress[data-state=done]").wait_for()  # finished (its rows show sooner)
    dates_posted = page.locator("table.rows tbody td.date > span:first-child").all_inner_texts()
    assert dates_posted == ["2025-05-04", "2025-07-06", "2025-08-06"]  # day first, April's


def test_an_exclusion_is_announced_and_back_to_a_confirmation_leads_to_the_run(
    server: Server,  # noqa: F811
    page: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    to_the_dry_run(page, server, problem_xlsx(tmp_path / "march.xlsx"))
    page.locator("#row-5").get_by_role("button", name="Exclude row 5").click()
    page.locator("#row-5 .badge", has_text="excluded").wait_for()
    wait_for_js(page, "document.getElementById('announce').textContent.length > 0")
    assert page.locator("#announce").inner_text() == "Row 5 excluded: left out of the run."
    page.get_by_role("link", name="Review and run live…").click()
    page.wait_for_url("**/confirm")
    page.get_by_role("button", name="Run live now").click()
    page.wait_for_url("**/jobs/*")
    live_url = page.url
    page.locator("#progress[data-state=done]").wait_for()
    page.go_back()
    page.wait_for_url("**/confirm")
    link = page.get_by_role("link", name="see the live run")
    link.wait_for()
    assert page.get_by_role("button", name="Run live now").count() == 0
    link.click()
    page.wait_for_url(live_url)
