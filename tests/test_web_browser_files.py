"""The upload page in Chromium under its Content-Security-Policy: .xls, .ods and .xlsb workbooks go
through the file button to the Shape step, a web page saved as .xls gets the CLI's explanation
in the page's alert, the file dialog offers every format, htmx runs with eval off, the favicon
loads, and the policy blocks nothing the page needs (the ``page`` fixture fails the test on any
CSP report)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from tests.fixtures.make_xlsb import write_xlsb
from tests.test_web_browser import Server, page, pytestmark, server  # noqa: F401 - fixtures

FIXTURES = Path(__file__).parent / "fixtures"


def upload_through_the_page(page: Any, path: Path) -> None:  # noqa: F811 - the fixture's name
    page.set_input_files("#file", str(path))
    page.get_by_role("button", name="Upload and check the columns").click()


def test_xls_and_ods_reach_the_shape_step_under_the_csp(
    server: Server,  # noqa: F811
    page: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    first = page.goto(server.url + "/")
    assert "script-src 'self'" in first.headers["content-security-policy"]
    assert page.evaluate("htmx.config.allowEval") is False
    accept = page.get_attribute("#file", "accept") or ""
    assert {".xls", ".xlsb", ".ods", ".xlsx", ".csv"} <= set(accept.split(","))
    assert page.request.get(server.url + "/favicon.ico").status == 200
    for suffix in (".xls", ".ods"):
        path = tmp_path / f"legacy-export{suffix}"
        shutil.copy(FIXTURES / f"legacy{suffix}", path)
        page.goto(server.url + "/")
        upload_through_the_page(page, path)
        page.wait_for_url("**/uploads/*")
        heading = page.get_by_role("heading", level=1).inner_text()
        assert f"legacy-export{suffix}" in heading
        page.get_by_text("2 data rows").wait_for()
    # an Excel binary workbook (.xlsb), written in the test, reaches the Shape step too
    xlsb = write_xlsb(
        tmp_path / "binary-export.xlsb",
        [["Email", "Course", "Completion Date"], ["a@acme.example", "Fire Safety", "2025-03-01"]],
    )
    page.goto(server.url + "/")
    upload_through_the_page(page, xlsb)
    page.wait_for_url("**/uploads/*")
    page.get_by_text("1 data row on sheet").wait_for()


def test_a_web_page_saved_as_xls_gets_the_clis_explanation(
    server: Server,  # noqa: F811
    page: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    path = tmp_path / "lms-export.xls"
    path.write_text("<html><body><table><tr><td>Email</td></tr></table></body></html>")
    page.goto(server.url + "/")
    upload_through_the_page(page, path)
    alert = page.locator("#errors")
    alert.wait_for()
    assert alert.inner_text().startswith(
        "lms-export.xls is a web page (HTML) saved with a spreadsheet name"
    )
