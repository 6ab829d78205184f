"""Which sheet a run reads, the same in every workbook kind and for the page and the CLI: one
sheet with the required columns is read (and named), several stop the run with a question."""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path

import openpyxl
import pytest

from batch.cli import CliEnv, main
from batch.errors import ShapeQuestion
from batch.jobs import inspect
from batch.jobs.options import ShapeOptions
from batch.reader import open_table
from tests.fixtures.make_xlsb import write_xlsb
from tests.meaning_support import write_book
from tests.workbook_craft import ods_text_row, write_ods

HEADER = ["Email", "Course", "Completion Date"]
SUMMARY = [["Course", "Learners"], ["Fire Safety", "12"]]


def _month(day: str, n: int) -> list[list[str]]:
    return [HEADER] + [[f"u{i}@acme.com", "Fire Safety", day] for i in range(n)]


def _book(tmp_path: Path, kind: str, sheets: dict[str, list[list[str]]], active: int = 0) -> Path:
    path = tmp_path / f"book.{kind}"
    if kind == "xlsx":
        return write_book(path, dict(sheets), active=active)
    if kind == "ods":
        names = list(sheets)
        xml = {n: "".join(ods_text_row(r) for r in rows) for n, rows in sheets.items()}
        return write_ods(path, xml, active=names[active])
    assert len(sheets) == 1  # the .xlsb test writer makes one sheet
    return write_xlsb(path, next(iter(sheets.values())), sheet_name=next(iter(sheets)))


@pytest.mark.parametrize("kind", ["xlsx", "ods"])
def test_several_sheets_with_the_columns_stop_the_run_and_name_each(
    tmp_path: Path, kind: str
) -> None:
    """One tab per month was read from its first tab without a word."""
    path = _book(
        tmp_path,
        kind,
        {"Summary": SUMMARY, "March": _month("2025-03-03", 3), "April": _month("2025-04-01", 2)},
        active=2,
    )
    with pytest.raises(ShapeQuestion) as err:
        open_table(path)
    question = err.value
    assert question.ask == "sheet"
    assert [c.value for c in question.choices] == ["March", "April"]
    assert [c.label for c in question.choices] == ["March (3 data rows)", "April (2 data rows)"]
    assert question.choices[0].samples == ("2025-03-03",)
    assert question.suggested == "April"  # the tab the workbook opens on: named, not picked
    assert question.hint == 'Pick one with --sheet "April".'
    assert "--" not in question.message
    assert "'March': 3 data rows (e.g. 2025-03-03)" in question.message
    assert "The workbook opens on 'April', likely the one" in question.message


def test_the_active_tab_is_not_suggested_when_it_lacks_the_columns(tmp_path: Path) -> None:
    path = write_book(
        tmp_path / "b.xlsx",
        {"Summary": SUMMARY, "March": _month("2025-03-03", 1), "April": _month("2025-04-01", 1)},
    )
    with pytest.raises(ShapeQuestion) as err:
        open_table(path)
    assert err.value.suggested is None and err.value.hint == 'Pick one with --sheet "March".'


@pytest.mark.parametrize("kind", ["xlsx", "ods"])
def test_one_sheet_with_the_columns_behind_a_summary_is_read_and_named(
    tmp_path: Path, kind: str
) -> None:
    path = _book(tmp_path, kind, {"Summary": SUMMARY, "Data": _month("2025-03-03", 2)})
    table = open_table(path)
    assert table.sheet == "Data" and len(list(table.iter_rows())) == 2
    assert table.warnings == [
        f"{path}: the first sheet, 'Summary', has no column for completion_date, email; read "
        "sheet 'Data', the only sheet that has them."
    ]


def test_xlsb_reads_its_one_sheet(tmp_path: Path) -> None:
    path = _book(tmp_path, "xlsb", {"Export": _month("2025-03-03", 2)})
    assert open_table(path).sheet == "Export"


def test_the_page_learns_the_sheet_the_cli_reads(tmp_path: Path) -> None:
    summary_first = write_book(
        tmp_path / "a.xlsx", {"Summary": SUMMARY, "Data": _month("2025-03-03", 2)}
    )
    decision = inspect.sheet_choice(summary_first)
    assert decision is not None
    assert (decision.chosen, [c.name for c in decision.candidates]) == ("Data", ["Data"])
    assert decision.question is None and decision.sheets == ["Summary", "Data"]
    shape = inspect.shape(summary_first)  # the Shape step opens where the CLI reads
    assert shape.sheet == "Data" and shape.missing == [] and shape.rows == 2

    months = write_book(
        tmp_path / "b.xlsx",
        {"March": _month("2025-03-03", 1), "April": _month("2025-04-01", 1)},
        active=1,
    )
    decision = inspect.sheet_choice(months)
    assert decision is not None and decision.chosen is None and decision.question is not None
    assert decision.question.suggested == "April" and decision.active == "April"
    asked = inspect.shape(months)  # the question comes with the suggested sheet's columns
    assert [(q.ask, q.message, q.suggested) for q in asked.questions] == [
        ("sheet", decision.question.message, "April")
    ]
    assert asked.sheet == "April" and asked.error is None and asked.rows == 1
    assert inspect.shape(months, ShapeOptions(sheet="April")).questions == []
    assert inspect.sheet_names(months) == ["March", "April"]


def test_the_cli_asks_for_the_sheet_with_the_exact_option(tmp_path: Path) -> None:
    path = write_book(
        tmp_path / "months.xlsx",
        {"March": _month("2025-03-03", 1), "April": _month("2025-04-01", 1)},
    )
    err = io.StringIO()
    code = main(["validate", str(path), "--offline"], CliEnv(stdout=io.StringIO(), stderr=err))
    assert code == 2
    assert "several sheets have them ('March', 'April')" in err.getvalue()
    assert err.getvalue().rstrip().endswith('Pick one with --sheet "March".')
    out = io.StringIO()
    code = main(
        [
            "validate",
            str(path),
            "--offline",
            "--sheet",
            "April",
            "--report",
            str(tmp_path / "r.csv"),
        ],
        CliEnv(stdout=out, stderr=io.StringIO()),
    )
    assert code == 0


def test_a_date_cell_in_a_month_tab_is_a_sample(tmp_path: Path) -> None:
    rows: list[list[object]] = [HEADER, ["a@acme.com", "Fire Safety", date(2025, 3, 1)]]
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name in ("March", "April"):
        ws = wb.create_sheet(name)
        for row in rows:
            ws.append(row)
    wb.save(tmp_path / "d.xlsx")
    with pytest.raises(ShapeQuestion) as err:
        open_table(tmp_path / "d.xlsx")
    assert err.value.choices[0].samples == ("2025-03-01",)
