"""The shape of an input file, for front ends that let a person map it before a run.

``shape(path, ...)`` answers what the upload page's "Shape" step shows: the sheets, the header
row, the columns with a few sample values, which column feeds each field, and which date columns
read either way (day or month first) so the person must choose. Fixes to rows are not made
here: they are ``JobOptions.edits`` / ``exclude`` and ``Job.recheck``. Nothing here talks to ALM.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from batch.errors import BatchError
from batch.jobs.options import ShapeOptions
from batch.models import FIELDS, REQUIRED_FIELDS

SAMPLES = 3  # sample values shown per column
_SAMPLE_ROWS = 200  # rows looked at for samples


@dataclass
class Shape:
    """What a person needs to see to map a file (all plain data, JSON-ready)."""

    format: str  # "csv" or "xlsx"
    sheets: list[str]  # visible and hidden sheet names (XLSX), [] for CSV
    sheet: str | None
    header_row: int
    columns: list[str]
    mapping: dict[str, str]  # field -> header
    samples: dict[str, list[str]]  # header -> up to SAMPLES non-blank values
    rows: int  # data rows (blank rows not counted)
    missing: list[str]  # required fields without a column
    ambiguous_dates: dict[str, str] = field(default_factory=dict)  # field -> why it is asked
    date_orders: dict[str, str | None] = field(default_factory=dict)  # field -> DMY / MDY / None
    error: str | None = None  # a run-level problem (e.g. mixed date orders) to show

    def as_json(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "sheets": self.sheets,
            "sheet": self.sheet,
            "header_row": self.header_row,
            "columns": self.columns,
            "mapping": self.mapping,
            "samples": self.samples,
            "rows": self.rows,
            "missing": self.missing,
            "ambiguous_dates": self.ambiguous_dates,
            "date_orders": self.date_orders,
            "error": self.error,
        }


def sheet_names(path: Path) -> list[str]:
    """The sheets of a workbook: .xlsx/.xlsm by our own reader, .xls/.xlsb/.ods by calamine
    (empty for a CSV, or a workbook that cannot open)."""
    from batch.reading.calamine_book import CalamineBook
    from batch.reading.xlsx_book import BookError, XlsxBook

    book: XlsxBook | CalamineBook
    try:
        book = XlsxBook(path)
    except (BookError, StopIteration):  # not an Open XML workbook (StopIteration: no workbook part)
        try:
            book = CalamineBook(path)
        except BookError:
            return []
    try:
        return [s.name for s in book.sheets]
    finally:
        book.close()


def shape(path: Path, options: ShapeOptions | None = None) -> Shape:
    """Read ``path`` far enough to show its shape, with the shape options chosen so far.

    Raises ``BatchError`` (exit 2 kind) when the file cannot be read at all; a file that reads
    but lacks a required column comes back with ``missing`` set, so the page can ask for it.
    """
    from batch.reader import open_table
    from batch.validate import ValidationOptions, decide_date_orders

    options = options or ShapeOptions()
    table = open_table(
        path,
        sheet=options.sheet,
        header_row=options.header_row,
        mapping=dict(options.mapping),
        require=(),
    )
    samples: dict[str, list[str]] = {c: [] for c in table.columns}
    rows = 0
    for row in table.iter_rows():
        rows += 1
        if rows > _SAMPLE_ROWS:
            continue
        for column in table.columns:
            value = row.values.get(column, "").strip()
            if value and len(samples[column]) < SAMPLES and value not in samples[column]:
                samples[column].append(value[:80])
    required = [
        f for f in REQUIRED_FIELDS if not (f == "completion_date" and options.completion_date)
    ]
    result = Shape(
        format=table.format,
        sheets=sheet_names(path) if table.format == "xlsx" else [],
        sheet=table.sheet,
        header_row=table.header_row,
        columns=list(table.columns),
        mapping=dict(table.mapping),
        samples=samples,
        rows=rows,
        missing=[f for f in required if f not in table.mapping],
    )
    try:
        checks = ValidationOptions(date_format=options.date_format, timezone=options.timezone)
        result.date_orders = decide_date_orders(table, checks)
    except BatchError as exc:
        message = str(exc)
        for f in ("completion_date", "start_date"):
            header = table.mapping.get(f)
            if header and repr(header) in message:
                result.ambiguous_dates[f] = message
        if not result.ambiguous_dates:
            result.error = message
    return result


def parse_map(items: Iterable[str]) -> dict[str, str]:
    """``["Header=field", ...]`` -> header -> field, with the CLI's ``--map`` messages."""
    from batch.reader import parse_map_options

    return parse_map_options(items)


def fields() -> tuple[str, ...]:
    """The canonical fields a column can feed, in the order the page lists them."""
    return FIELDS
