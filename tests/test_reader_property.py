"""Property: any table the tests write as CSV or XLSX reads back to the same values and rows."""

from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path

import openpyxl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batch.reader import open_table

HEADER = ["Email", "Course", "Completion Date", "Score", "Notes"]

_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufeff")
    | st.sampled_from([",", ";", "\t", "|", '"', "\n", "\r", " ", "0", "é", "€"]),
    max_size=12,
)
_row = st.lists(_text, min_size=len(HEADER), max_size=len(HEADER))
_table = st.lists(_row, min_size=1, max_size=12)


def _expected(rows: list[list[str]]) -> list[tuple[int, dict[str, str]]]:
    return [
        (number, dict(zip(HEADER, row, strict=True)))
        for number, row in enumerate(rows, start=2)
        if any(cell.strip() for cell in row)
    ]


def _read(path: Path) -> list[tuple[int, dict[str, str]]]:
    # "Notes" is free text: said so, as a person would, so a column that happens to hold only
    # words like PASSED is read as it is instead of asked about (tests/test_completion_status.py).
    table = open_table(path, require=(), ignore=("Notes",))
    return [(r.row, r.values) for r in table.iter_rows()]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=_table,
    delimiter=st.sampled_from([",", ";", "\t", "|"]),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16"]),
    newline=st.sampled_from(["\r\n", "\n"]),
)
def test_csv_round_trip(rows: list[list[str]], delimiter: str, encoding: str, newline: str) -> None:
    buf = io.StringIO()
    # Python's writer leaves a lone CR unquoted when the line end is LF; spreadsheet tools
    # quote any cell holding a line break, so this writer does too.
    quote_all_breaks = (
        csv.QUOTE_ALL if any("\r" in c for r in rows for c in r) else csv.QUOTE_MINIMAL
    )
    writer = csv.writer(buf, delimiter=delimiter, lineterminator=newline, quoting=quote_all_breaks)
    writer.writerow(HEADER)
    writer.writerows(rows)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "t.csv"
        path.write_bytes(buf.getvalue().encode(encoding))
        if not _expected(rows):
            return  # a header with only blank rows below is refused (tested elsewhere)
        assert _read(path) == _expected(rows)


_xlsx_text = _text.map(lambda s: s.replace("\r", "")).filter(lambda s: not s.startswith("="))
_xlsx_cell = _xlsx_text | st.integers(min_value=-(10**12), max_value=10**12)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(
        st.lists(_xlsx_cell, min_size=len(HEADER), max_size=len(HEADER)), min_size=1, max_size=10
    ),
    title_rows=st.integers(min_value=0, max_value=3),
)
def test_xlsx_round_trip(rows: list[list[str | int]], title_rows: int) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    for i in range(title_rows):
        ws.append([f"Report title {i}"] if i % 2 == 0 else [])
    ws.append(HEADER)
    for row in rows:
        ws.append(row)
    text_rows = [[str(c) for c in row] for row in rows]
    expected = [(n + title_rows, values) for n, values in _expected(text_rows)]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "t.xlsx"
        wb.save(path)
        if not expected:
            return
        assert _read(path) == expected
