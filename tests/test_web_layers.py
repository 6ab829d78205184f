"""The page is a view over the job engine: it never imports the stages' internals, its registry
(batch/web/registry.py) holds the jobs, and only its views (batch/web/views.py) render their
rows."""

from __future__ import annotations

import ast
from pathlib import Path

import openpyxl

from tests.web_support import H, site, upload

WEB = Path(__file__).resolve().parents[1] / "batch" / "web"
STAGES = (
    "batch.reading",
    "batch.reader",
    "batch.validate",
    "batch.validation",
    "batch.resolve",
    "batch.plan",
    "batch.execute",
    "batch.online",
    "batch.alm",
)
ADAPTER_ONLY = ("batch.reporting", "batch.models", "batch.cache", "batch.ledger")


def imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_the_page_never_imports_stage_internals() -> None:
    files = sorted(WEB.glob("*.py"))
    assert len(files) >= 6
    for path in files:
        for module in imports(path):
            assert not module.startswith(STAGES), f"{path.name} imports {module}"
            if path.name != "views.py":
                assert not module.startswith(ADAPTER_ONLY), f"{path.name} imports {module}"
    assert "batch.jobs" in imports(WEB / "registry.py")


def test_sheet_and_header_row_are_chosen_on_the_shape_step(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    notes = book.active
    assert notes is not None
    notes.title = "Read me"
    notes.append(["Exported from the HR system"])
    data = book.create_sheet("March")
    data.append(["Completions, March 2025"])
    data.append([])
    data.append(["Email", "Course Name", "Completion Date"])
    data.append(["sofia.rossi@acme-corp.example", "Data Privacy Essentials", "2025-03-03"])
    path = tmp_path / "two-sheets.xlsx"
    book.save(path)
    with site(tmp_path) as s:
        up = upload(s.client, path)
        shape = s.client.get(f"/api/uploads/{up['upload_id']}").json()
        assert shape["sheets"] == ["Read me", "March"]
        assert shape["sheet"] == "March" and shape["header_row"] == 3
        first = s.client.get(f"/api/uploads/{up['upload_id']}", params={"sheet": "Read me"})
        asked = first.json()["questions"]  # a sheet with no data rows: is that normal?
        assert first.status_code == 200 and [q["ask"] for q in asked] == ["allow_empty"]
        assert asked[0]["message"].startswith("two-sheets.xlsx (sheet 'Read me') has a header")
        stuck = s.client.get(f"/uploads/{up['upload_id']}", params={"sheet": "Read me"})
        assert "The file has no data rows" in stuck.text and '<option value="March"' in stuck.text
        page = s.client.get(f"/uploads/{up['upload_id']}", params={"sheet": "March"})
        assert '<option value="March" selected>' in page.text and 'value="3"' in page.text
        r = s.client.post(
            f"/api/uploads/{up['upload_id']}/dry-run", json={"sheet": "Nope"}, headers=H
        )
        assert r.status_code == 400 and "no sheet named 'Nope'" in r.json()["error"]
