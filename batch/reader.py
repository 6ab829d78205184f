"""CSV/XLSX (or rows in memory) -> ``InputRow``s with spreadsheet row numbers (the public face
of ``batch.reading``).

    table = open_table("march.xlsx", mapping=parse_map_options(["Work Mail=email"]))
    for row in table.iter_rows():   # streams; may be called again
        ...

Rows held in memory (mappings, a pandas DataFrame) are read the same way:
``open_rows(RowTable.of(rows), name=Path("hris"))``.

Every value stays text until validation; see ``batch.reading`` modules for the details of
encodings, delimiters, header finding and Excel cell conversion. ``sheet_decision`` tells a
front end which sheets of a workbook could be read and which one a run reads (the same rule as
``open_table``), so the page and the CLI decide alike.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from batch.errors import BatchError
from batch.models import REQUIRED_FIELDS
from batch.reading.aliases import (
    ALIASES,
    field_for_header,
    header_key,
    parse_map_options,
    recognised_fields,
)
from batch.reading.cells import cell_text
from batch.reading.memory import RowTable, open_rows
from batch.reading.sniff import inspect_file
from batch.reading.table import Table, open_table
from batch.reading.xlsx_source import (
    SheetCandidate,
    SheetDecision,
    decide_sheet,
    open_book,
    read_failure,
)

__all__ = [
    "ALIASES",
    "RowTable",
    "SheetCandidate",
    "SheetDecision",
    "Table",
    "cell_text",
    "field_for_header",
    "header_key",
    "open_rows",
    "open_table",
    "parse_map_options",
    "sheet_decision",
    "workbook_sheets",
]


def sheet_decision(
    path: str | Path,
    *,
    mapping: dict[str, str] | None = None,
    require: Iterable[str] = REQUIRED_FIELDS,
) -> SheetDecision | None:
    """Which sheets of a workbook have a column for every field of ``require`` (``mapping``:
    parsed ``--map`` options), and the one a run reads when no sheet is named (``chosen``;
    None with a ``question`` when the person must pick). None for a CSV. Raises
    ``InputError`` when the file cannot be read."""
    path = Path(path)
    facts = inspect_file(path, None)
    if facts.format != "xlsx":
        return None

    def probe(rows: list[list[str]]) -> set[str]:
        return max((recognised_fields(r, mapping) for r in rows), key=len, default=set())

    book = open_book(path, facts.kind)
    try:
        return decide_sheet(book, path, probe, tuple(require))
    except BatchError:
        raise
    except Exception as exc:  # noqa: BLE001 - any reader failure is the file's, exit 2
        raise read_failure(path, exc) from None
    finally:
        book.close()


def workbook_sheets(path: str | Path) -> list[str]:
    """Every sheet of a workbook of any kind, in order ([] for a CSV or a file that cannot
    be opened as a workbook)."""
    path = Path(path)
    try:
        facts = inspect_file(path, None)
        if facts.format != "xlsx":
            return []
        book = open_book(path, facts.kind)
    except BatchError:
        return []
    try:
        return [s.name for s in book.sheets]
    finally:
        book.close()
