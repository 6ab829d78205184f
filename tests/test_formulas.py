"""Cells a spreadsheet would run as formulas: the one rule, in every report and failed-rows file.

The rule (``batch.formulas.needs_neutralising``) covers a class: ``= + - @``, their full-width,
small, superscript and subscript look-alikes, a leading control character (tab, CR, LF...),
and all of these after leading spaces. Every output applies it: a ``'`` in CSV files, Excel's
quote-prefix flag on the XLSX text cell. The failed-rows CSV's quotes come off again when the
tool reads that file back (``unquote``), and only those.
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

import openpyxl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from batch.formulas import needs_neutralising, neutralise, unquote
from batch.models import RowResult, RowStatus, RunSummary
from batch.reporting import write_reports
from batch.reporting.xlsx import clean_text

# Each starts a cell a spreadsheet could run (or that some locale's input turns into one).
RUNS = [
    "=1+1", "+44 20 7946 0000", "-2", "@SUM(A1)", "\tx", "\rx", "\nx", "\n=1+1",
    "\x00=1", "\x1fx", "\x85x",
    "\uff1d1+1", "\uff0b1", "\uff0d1", "\uff20SUM(A1)",  # full-width ＝ ＋ － ＠
    "\ufe661+1", "\ufe621", "\ufe631", "\ufe6bSUM(A1)",  # small forms ﹦ ﹢ ﹣ ﹫
    "\u207c1", "\u208c1", "\u207a1", "\u208b1", "\u2212 5",  # super/subscript, minus sign
    " =1+1", "   +1", "\u00a0=1", "\u3000\uff1d1", " \tx", "  \n=1",  # after spaces
]  # fmt: skip
# Each is text a spreadsheet shows as it is.
STAYS = [
    "", " ", "a=b", "jane@acme.com", "0012", "'=x", "'t Hooft", "(+44) 20", "#1",
    "x =1", "Sécurité", "\u00e9=", "1-2", "\u2010x",
]  # fmt: skip


@pytest.mark.parametrize("cell", RUNS)
def test_the_rule_covers_the_class(cell: str) -> None:
    assert needs_neutralising(cell)
    assert neutralise(cell) == "'" + cell


@pytest.mark.parametrize("cell", STAYS)
def test_text_a_spreadsheet_shows_as_it_is_is_left_alone(cell: str) -> None:
    assert not needs_neutralising(cell)
    assert neutralise(cell) == cell


@pytest.mark.parametrize(
    ("typed", "written"),
    [("+44", "'+44"), ("'+44", "''+44"), ("''=x", "'''=x"), ("' =x", "'' =x"),
     ("'t Hooft", "'t Hooft"), ("'", "'"), ("plain", "plain")],
)  # fmt: skip
def test_the_failed_rows_form_takes_back_exactly_the_tools_quote(typed: str, written: str) -> None:
    assert neutralise(typed, reversible=True) == written
    assert unquote(written) == typed


@given(st.text(max_size=12))
def test_neutralising_is_safe_and_the_failed_rows_form_reverses(text: str) -> None:
    assert not needs_neutralising(neutralise(text))
    reversible = neutralise(text, reversible=True)
    assert not needs_neutralising(reversible)
    assert unquote(reversible) == text


def _summary(edits: list[dict[str, str]]) -> RunSummary:
    return RunSummary(
        run_id="r1", command="validate", dry_run=True, input_path="/x/hr.csv",
        input_sha256="ab", alm_host="https://learningmanager.adobe.com",
        started_at=datetime(2026, 1, 1, tzinfo=UTC), edits=edits,
    )  # fmt: skip


def _results() -> list[RowResult]:
    return [
        RowResult(row=i + 2, values={"Email": "a@x.com", "Notes": cell}, status=RowStatus.INVALID)
        for i, cell in enumerate(RUNS)
    ]


def _csv(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:  # a CR inside a cell stays a CR
        return list(csv.reader(fh))


def test_every_csv_output_neutralises_the_class(tmp_path: Path) -> None:
    edits = [{"row": "2", "column": "Notes", "old": cell, "new": cell} for cell in RUNS]
    paths = write_reports(
        _results(), columns=["Email", "Notes"], summary=_summary(edits),
        input_path=tmp_path / "hr.csv", input_format="csv", explicit=tmp_path / "r.csv",
        live=False,
    )  # fmt: skip
    assert paths.failed is not None and paths.edits is not None
    report, failed, sidecar = _csv(paths.report), _csv(paths.failed), _csv(paths.edits)
    assert [r[2] for r in report[1:]] == ["'" + c for c in RUNS]
    assert [r[1] for r in failed[1:]] == ["'" + c for c in RUNS]
    assert [r[2] for r in sidecar[1:]] == ["'" + c for c in RUNS]
    assert [r[3] for r in sidecar[1:]] == ["'" + c for c in RUNS]


def test_every_xlsx_output_flags_the_class_and_keeps_the_text(tmp_path: Path) -> None:
    edits = [{"row": "2", "column": "Notes", "old": cell, "new": "ok"} for cell in RUNS]
    paths = write_reports(
        _results(), columns=["Email", "Notes"], summary=_summary(edits),
        input_path=tmp_path / "hr.xlsx", input_format="xlsx", explicit=tmp_path / "r.xlsx",
        live=False,
    )  # fmt: skip
    assert paths.failed is not None
    book = openpyxl.load_workbook(paths.report)
    cells = [
        *(row[2] for row in book["Report"].iter_rows(min_row=2)),  # Notes
        *(row[2] for row in book["Edits"].iter_rows(min_row=2)),  # old value
        *(row[1] for row in openpyxl.load_workbook(paths.failed).active.iter_rows(min_row=2)),
    ]
    assert len(cells) == 3 * len(RUNS)
    for cell, typed in zip(cells, RUNS * 3, strict=True):
        # The text is kept, but for characters no workbook can hold (NUL becomes U+FFFD,
        # which is safe) and line ends (CR is a line feed inside a cell).
        assert cell.data_type == "s" and cell.value == clean_text(typed)
        assert cell.quotePrefix is needs_neutralising(clean_text(typed)), repr(typed)
    # Only the two whose control character became U+FFFD are no longer formula-like.
    assert [t for t in RUNS if not needs_neutralising(clean_text(t))] == ["\x00=1", "\x1fx"]
