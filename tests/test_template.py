"""The input template: files in templates/ equal what write_template makes, and they validate."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import openpyxl
import pytest

from batch.errors import UsageError
from batch.reader import field_for_header, open_table
from batch.template import TEMPLATE_HEADERS, write_template
from batch.validate import ValidationOptions, check_rows
from batch.validation.model import CompletionRecord

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def _cells(path: Path) -> dict[str, list[tuple[object, ...]]]:
    wb = openpyxl.load_workbook(path)
    try:
        return {
            ws.title: [tuple(c.value for c in row) for row in ws.iter_rows()]
            for ws in wb.worksheets
        }
    finally:
        wb.close()


def test_every_validation_field_has_a_template_column_that_maps_back() -> None:
    assert list(TEMPLATE_HEADERS) == list(CompletionRecord.model_fields)
    for field, header in TEMPLATE_HEADERS.items():
        assert field_for_header(header) == field


def test_committed_csv_template_is_what_write_template_makes(tmp_path: Path) -> None:
    made = write_template("csv", tmp_path / "t.csv")
    assert made.read_bytes() == (TEMPLATES / "completions.csv").read_bytes()


def test_committed_xlsx_template_has_the_same_content(tmp_path: Path) -> None:
    made = write_template("xlsx", tmp_path)
    assert made == tmp_path / "completions.xlsx"
    assert _cells(made) == _cells(TEMPLATES / "completions.xlsx")


@pytest.mark.parametrize("name", ["completions.csv", "completions.xlsx"])
def test_template_headers_map_and_examples_validate_cleanly(name: str) -> None:
    table = open_table(TEMPLATES / name)
    assert table.mapping == {f: TEMPLATE_HEADERS[f] for f in CompletionRecord.model_fields}
    rows = list(check_rows(table, ValidationOptions(now=datetime.now().astimezone())))
    assert len(rows) == 3
    assert all(r.issues == [] and r.completion is not None and r.duplicate_of is None for r in rows)


def test_xlsx_template_is_friendly_to_fill_in(tmp_path: Path) -> None:
    wb = openpyxl.load_workbook(write_template("xlsx", tmp_path / "t.xlsx"))
    ws = wb["Completions"]
    assert wb.sheetnames == ["Completions", "Instructions"]
    assert ws["A1"].comment is not None and "Required" in ws["A1"].comment.text
    assert ws["C2"].is_date and ws["C2"].number_format == "yyyy-mm-dd"
    assert ws["C500"].number_format == "yyyy-mm-dd"  # empty date cells are date-formatted too
    [dv] = ws.data_validations.dataValidation
    assert dv.type == "list" and dv.formula1 == '"yes,no"' and "H2:H1000" in str(dv.sqref)
    assert any(
        "--date-format" in (row[0] or "")
        for row in ([c.value for c in r] for r in wb["Instructions"].iter_rows())
    )


def test_unknown_template_format() -> None:
    with pytest.raises(UsageError, match="--format 'pdf' is not a template format"):
        write_template("pdf", Path("x.pdf"))


def test_cli_template_command_writes_the_same_files(tmp_path: Path) -> None:
    from batch.cli import main

    for fmt in ("csv", "xlsx"):
        out = tmp_path / f"mine.{fmt}"
        assert main(["template", "--format", fmt, "-o", str(out)]) == 0
        if fmt == "csv":
            assert out.read_bytes() == (TEMPLATES / "completions.csv").read_bytes()
        else:
            assert _cells(out) == _cells(TEMPLATES / "completions.xlsx")
