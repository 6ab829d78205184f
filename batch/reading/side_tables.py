"""Two tables side by side on one sheet: the second would lose its rows, so the run stops.

HR people paste March beside February, or an export puts a summary block to the right. The
header row then holds a second block of headers after an empty column, and every row a second
record. Rows are identified by their spreadsheet row number (the report, the page's edits,
duplicates), so two tables on the same rows cannot be read as one without two rows sharing a
number: the run stops and names the second block; the person moves it below the first, or
leaves it out (``ignore_columns``).
"""

from __future__ import annotations

from openpyxl.utils import get_column_letter

from batch.errors import Choice, ShapeQuestion
from batch.reading.aliases import header_key, recognised_fields


def second_table(
    header: list[str],
    data: list[list[str]],
    columns: list[str],
    *,
    mapping: dict[str, str],
    ignore: tuple[str, ...] | list[str],
    where: str,
    header_row: int,
) -> None:
    """Stop when the header row holds a second table to the right of the first (a block of
    headers after an empty column that names fields again): its rows would not be read.

    Rows are keyed by their spreadsheet row number (the report, the page's edits, duplicates),
    so two tables on the same rows cannot be read as one without two rows sharing a number;
    the person moves the second table below the first, or leaves it out."""
    blocks = _blocks(header, data, len(columns))
    if len(blocks) < 2:
        return
    ignored = {header_key(h) for h in ignore}
    mapped = {header_key(h) for h in mapping}
    first = blocks[0]
    first_fields = recognised_fields([header[i] for i in first], mapping)
    for block in blocks[1:]:
        names = [columns[i] for i in block]
        keys = {header_key(n) for n in names}
        if keys <= ignored or keys & mapped:
            continue  # left out, or the person mapped a column of it: their decision
        fields_ = recognised_fields([header[i] for i in block], None)
        if not fields_ & first_fields:
            continue  # extra columns, not another table of completions
        same = [header_key(header[i]) for i in block] == [header_key(header[i]) for i in first]
        at = f"{get_column_letter(block[0] + 1)}{header_row}"
        span = f"{get_column_letter(first[0] + 1)} to {get_column_letter(first[-1] + 1)}"
        kind = "with the same headers" if same else "with its own headers"
        raise ShapeQuestion(
            f"{where}: a second table starts at {at}, beside the first (columns {span}), "
            f"{kind} ({', '.join(repr(header[i].strip()) for i in block)}): its rows would "
            "not be read. Move its rows below the first table's rows so that each row has its "
            "own row number, or save it as a file of its own.",
            ask="ignore_columns",
            choices=[Choice(n, n, ()) for n in names],
            hint="After moving it, run again; to leave that table out instead: "
            + " ".join(f'--ignore-column "{n}"' for n in names)
            + ".",
        )


def _blocks(header: list[str], data: list[list[str]], width: int) -> list[list[int]]:
    """Runs of columns separated by columns that are empty in the header and every sampled
    row (one empty column between two tables is enough)."""

    def empty(i: int) -> bool:
        if i < len(header) and header[i].strip():
            return False
        return not any(i < len(row) and row[i].strip() for row in data)

    blocks: list[list[int]] = []
    current: list[int] = []
    for i in range(width):
        if empty(i):
            if current:
                blocks.append(current)
                current = []
        else:
            current.append(i)
    if current:
        blocks.append(current)
    return [b for b in blocks if any(i < len(header) and header[i].strip() for i in b)]
