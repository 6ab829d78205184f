"""``open_table``: one entry point for CSV and Excel files, returning a re-iterable ``Table``.

Opening reads only what it needs to decide how to read (the first bytes, a sample, the first
rows); ``Table.iter_rows`` then streams the whole file each time it is called, so a million
rows never sit in memory and validation can make two passes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from openpyxl.utils import get_column_letter

from batch.errors import Choice, EmptyInput, InputError, ShapeQuestion, UsageError
from batch.models import REQUIRED_FIELDS, InputRow
from batch.reading.aliases import recognised_count, recognised_fields
from batch.reading.carry import (
    Decisions,
    looks_like_tool_columns,
    read_sidecar,
    without_tool_quotes,
)
from batch.reading.columns import decide_columns
from batch.reading.csv_source import CsvSource, OversizeRecord
from batch.reading.side_tables import second_table
from batch.reading.sniff import inspect_file
from batch.reading.xlsx_source import XlsxSource

_HEADER_SCAN = 30  # rows searched for the header when --header-row is not given
_WIDTH_SAMPLE = 200  # data rows sampled to keep trailing columns that hold data
MAX_COLUMNS = 16_384  # Excel's last column, XFD: no real export holds data beyond it


class _Source(Protocol):
    def records(self) -> Iterator[tuple[int, list[str]]]: ...


@dataclass
class Table:
    """A readable input file: its columns, how they map to fields, and a row stream."""

    path: Path
    format: str  # "csv" or "xlsx"
    columns: list[str]  # original headers in order (blank/duplicate ones made unique)
    mapping: dict[str, str]  # canonical field -> header
    header_row: int  # spreadsheet row number of the header
    sha256: str
    sheet: str | None = None
    encoding: str | None = None
    delimiter: str | None = None
    kind: str = ""  # what the file is: csv, xlsx, xls, xlsb, ods (``format`` is csv or xlsx)
    strict_xml: bool = False  # a Strict Open XML workbook
    # Whether the reader could see number formats (a percent-formatted 0.87 reads "87%" only
    # then): False for a workbook whose cell styles could not be read. CSV holds shown text.
    formats_seen: bool = True
    # Cells with bytes that are not UTF-8 were decoded as U+FFFD: validation flags them.
    bad_bytes: bool = False
    # Things a person should know that do not stop the run (e.g. which sheet was read).
    warnings: list[str] = field(default_factory=list)
    # A failed-rows file's sidecar: what the run that wrote it decided (``reading.carry``).
    carried: Decisions | None = None
    # field -> a second column that could feed it, compared on every row (a course ID beside
    # the course name the person picked; columns that held the same values in the sample).
    checks: dict[str, str] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)  # columns left out (``ignore_columns``)
    _source: _Source | None = field(default=None, repr=False)
    # Every header of the file, in order, when some are left out of ``columns`` (a re-run
    # failed-rows file's old status/message columns); None when ``columns`` is all of them.
    _all_columns: list[str] | None = field(default=None, repr=False)

    def iter_rows(self) -> Iterator[InputRow]:
        """Stream the data rows below the header; fully blank rows are skipped (not counted
        as rows) but row numbers keep counting, so they match what a person sees."""
        assert self._source is not None
        columns = self._all_columns or self.columns
        dropped = [c for c in columns if c not in set(self.columns)] if self._all_columns else []
        width = len(columns)
        field_names = tuple(self.mapping)
        field_idx = [columns.index(h) for h in self.mapping.values()]
        header_row = self.header_row
        for number, cells in self._source.records():
            if number <= header_row:
                continue
            if isinstance(cells, OversizeRecord):
                yield InputRow(number, {}, {}, cells.problem)
                continue
            if not "".join(cells).strip():
                continue
            if len(cells) < width:
                cells = cells + [""] * (width - len(cells))
            values = dict(zip(columns, cells, strict=False))
            if len(cells) > width:
                # Data right of the last header: keep it (named by column letter) for the report.
                for pos in range(width, len(cells)):
                    if cells[pos].strip():
                        if pos >= MAX_COLUMNS:
                            raise InputError(_too_wide(str(self.path), number, pos + 1))
                        values[_unique(f"Column {get_column_letter(pos + 1)}", values)] = cells[pos]
            for name in dropped:
                del values[name]
            picked = [cells[i] for i in field_idx]
            yield InputRow(number, values, dict(zip(field_names, picked, strict=True)))

    def iter_cells(self, fields: list[str]) -> Iterator[tuple[int, list[str]]]:
        """``(row number, [cell of each field])`` for the same rows as ``iter_rows``, without
        building the rows: a cheap pass over a few columns (validation's date-order pass)."""
        assert self._source is not None
        idx = [(self._all_columns or self.columns).index(self.mapping[f]) for f in fields]
        header_row = self.header_row
        for number, cells in self._source.records():
            if number <= header_row or not "".join(cells).strip():
                continue
            n = len(cells)
            yield number, [cells[i] if i < n else "" for i in idx]

    def edited(self, edits: Mapping[int, Mapping[str, str]], exclude: Iterable[int] = ()) -> Table:
        """This table with some cells replaced (row -> {header: new text}) and some rows left
        out: the page's "fix in place". The file itself is never changed."""
        unknown = {h for cells in edits.values() for h in cells if h not in self.columns}
        if unknown:
            raise UsageError(
                f"No column named {', '.join(repr(h) for h in sorted(unknown))} in {self.path.name}.",
                hint=f"Edit one of its columns: {', '.join(self.columns)}.",
            )
        assert self._source is not None
        by_index = {
            row: {self.columns.index(h): text for h, text in cells.items()}
            for row, cells in edits.items()
        }
        source = _EditedSource(self._source, by_index, frozenset(exclude))
        return replace(self, _source=source)


@dataclass(frozen=True)
class _EditedSource:
    inner: _Source
    edits: Mapping[int, Mapping[int, str]]
    exclude: frozenset[int]

    def records(self) -> Iterator[tuple[int, list[str]]]:
        for number, cells in self.inner.records():
            if number in self.exclude:
                continue
            change = self.edits.get(number)
            if change:
                width = max(len(cells), max(change) + 1)
                cells = cells + [""] * (width - len(cells))
                for index, text in change.items():
                    cells[index] = text
            yield number, cells


@dataclass
class SourceFacts:
    """What a reader learnt about its input before reading its rows (``table_from_source``)."""

    path: Path
    where: str  # how messages name the input: the path, with the sheet of a workbook
    format: str  # "csv" or "xlsx": the failed-rows file is written in it
    kind: str
    sha256: str
    sheet: str | None = None
    encoding: str | None = None
    delimiter: str | None = None
    strict_xml: bool = False
    formats_seen: bool = True
    bad_bytes: bool = False
    warnings: list[str] = field(default_factory=list)


def open_table(
    path: str | Path,
    *,
    encoding: str | None = None,
    sheet: str | None = None,
    header_row: int | None = None,
    mapping: dict[str, str] | None = None,
    require: Iterable[str] = REQUIRED_FIELDS,
    ignore: Iterable[str] = (),
) -> Table:
    """Open a CSV/XLSX file, find its header and map its columns onto canonical fields.

    ``mapping`` is parsed ``--map`` options (header -> field); ``ignore`` the headers left out
    of every decision (kept in the report). ``require`` lists the fields that must have a column
    (drop ``completion_date`` when a default date is given). ``encoding`` applies to CSV and
    ``sheet`` to Excel; each is ignored for the other format. Raises ``InputError`` (one line,
    exit 2) when the file cannot be used, ``ShapeQuestion`` when only the person can say how
    to read it (``batch.reading.columns``).
    """
    path = Path(path)
    carried = read_sidecar(path)
    if carried is not None and not mapping and carried.mapping:
        mapping = {header: f for f, header in carried.mapping.items()}  # the first run's
    ignore = tuple(ignore)
    if carried is not None and not ignore:
        ignore = carried.ignore_columns
    if header_row is not None and header_row < 1:
        raise UsageError(f"--header-row must be 1 or more (got {header_row}).")
    facts = inspect_file(path, encoding)
    source: _Source
    if facts.format == "xlsx":

        def probe(rows: list[list[str]]) -> set[str]:
            return max((recognised_fields(r, mapping) for r in rows), key=len, default=set())

        xsrc = XlsxSource(path, sheet, probe, kind=facts.kind or "xlsx", required=tuple(require))
        source = xsrc
        about = SourceFacts(
            path, f"{path} (sheet {xsrc.sheet!r})", facts.format, facts.kind or "xlsx",
            facts.sha256, sheet=xsrc.sheet, encoding=facts.encoding, strict_xml=xsrc.strict,
            formats_seen=xsrc.formats_seen, bad_bytes=facts.lenient, warnings=list(xsrc.warnings),
        )  # fmt: skip
    else:
        csrc = CsvSource(path, facts)
        source = csrc
        about = SourceFacts(
            path, str(path), facts.format, facts.kind or facts.format, facts.sha256,
            encoding=facts.encoding, delimiter=csrc.delimiter, bad_bytes=facts.lenient,
        )  # fmt: skip
    source = without_tool_quotes(source, carried)  # a failed-rows file: the tool's own quotes
    return table_from_source(
        source, about,
        header_row=header_row, mapping=mapping, require=require, ignore=ignore, carried=carried,
    )  # fmt: skip


def table_from_source(
    source: _Source,
    about: SourceFacts,
    *,
    header_row: int | None,
    mapping: dict[str, str] | None,
    require: Iterable[str],
    ignore: tuple[str, ...],
    carried: Decisions | None = None,
) -> Table:
    """Find the header in ``source``'s first rows and map its columns onto fields: the one way
    every input (a file of any format, rows given in memory) becomes a ``Table``."""
    where = about.where
    warnings = list(about.warnings)
    head: list[tuple[int, list[str]]] = []
    for number, cells in source.records():
        head.append((number, cells))
        limit = (header_row or _HEADER_SCAN) + _WIDTH_SAMPLE
        if number >= limit:
            break
    nonblank = [(n, c) for n, c in head if any(x.strip() for x in c)]
    if not nonblank:
        raise InputError(
            f"{where} has no data (only blank rows): export the spreadsheet again with a header "
            "row and data rows."
        )
    candidates = [(n, c) for n, c in nonblank if n <= _HEADER_SCAN] or nonblank[:1]
    best_row, best_cells = max(
        candidates, key=lambda nc: (recognised_count(nc[1], mapping), -nc[0])
    )
    if header_row is not None:
        found = next((c for n, c in head if n == header_row), None)
        if found is None or not any(x.strip() for x in found):
            raise _header_row_question(where, header_row, found is None, candidates, best_row)
        header_cells = found
    else:
        header_row, header_cells = best_row, best_cells
    data = [c for n, c in nonblank if n > header_row]
    if not data:
        raise EmptyInput(
            f"{where} has a header (row {header_row}) but no data rows: add at least one row "
            "below the header."
        )
    all_columns = _make_columns(header_cells, data, where)
    tool = carried.tool_columns if carried is not None else ()
    tool = tuple(c for c in tool if c in all_columns) or looks_like_tool_columns(all_columns, data)
    columns = [c for c in all_columns if c not in tool]
    if mapping and carried is not None:
        present = set(all_columns)  # a carried header the person renamed since: not forced
        mapping = {h: f for h, f in mapping.items() if h in present or carried.mapping.get(f) != h}
    mapping = mapping or {}
    second_table(
        header_cells, data, all_columns,
        mapping=mapping, ignore=ignore, where=where, header_row=header_row,
    )  # fmt: skip
    decided = decide_columns(
        all_columns, data,
        mapping=mapping, ignore=ignore, skip=tool, where=where, header_row=header_row,
        require=tuple(require),
    )  # fmt: skip
    warnings.extend(decided.warnings)
    return Table(
        path=about.path,
        format=about.format,
        columns=columns,
        mapping=decided.mapping,
        header_row=header_row,
        sha256=about.sha256,
        sheet=about.sheet,
        encoding=about.encoding,
        delimiter=about.delimiter,
        kind=about.kind,
        strict_xml=about.strict_xml,
        formats_seen=about.formats_seen,
        bad_bytes=about.bad_bytes,
        warnings=warnings,
        carried=carried,
        checks=decided.checks,
        ignored=decided.ignored,
        _source=source,
        _all_columns=all_columns if tool else None,
    )


def _header_row_question(
    where: str,
    header_row: int,
    past_end: bool,
    candidates: list[tuple[int, list[str]]],
    best_row: int,
) -> ShapeQuestion:
    """The header row asked for is past the end of the file or blank: offer the rows that
    could be the header (the first non-blank rows), the one that names most fields first."""
    choices = [
        Choice(str(n), f"row {n}", tuple(c.strip() for c in cells if c.strip())[:3])
        for n, cells in candidates[:10]
    ]
    return ShapeQuestion(
        f"{where}: header row {header_row} is {'past the end of the file' if past_end else 'blank'}"
        f"; the column names look to be on row {best_row}.",
        ask="header_row",
        choices=choices,
        suggested=str(best_row),
        hint=f"Give the row number (as shown in the spreadsheet) that holds the column names, "
        f"e.g. --header-row {best_row}.",
    )


def _too_wide(where: str, row: int | None, column: int) -> str:
    at = f", row {row}" if row is not None else ""
    return (
        f"{where}{at}: there is data in column {column:,}, past Excel's last column "
        f"({MAX_COLUMNS:,}, XFD): remove the stray cells (or the extra delimiters) and save again."
    )


def _make_columns(header: list[str], data: list[list[str]], where: str) -> list[str]:
    """Headers, trimmed of trailing blank columns (unless sampled data uses them), with blank
    headers named by column letter and repeated headers numbered, so every one is visible."""
    width = max((i + 1 for i, h in enumerate(header) if h.strip()), default=0)
    for cells in data:
        width = max(width, max((i + 1 for i, c in enumerate(cells) if c.strip()), default=0))
    if width > MAX_COLUMNS:
        raise InputError(_too_wide(where, None, width))
    columns: list[str] = []
    seen: dict[str, None] = {}
    for pos in range(width):
        name = header[pos].strip() if pos < len(header) else ""
        if not name:
            name = f"Column {get_column_letter(pos + 1)}"
        name = _unique(name, seen)
        seen[name] = None
        columns.append(name)
    return columns


def _unique(name: str, taken: Mapping[str, object]) -> str:
    if name not in taken:
        return name
    n = 2
    while f"{name} ({n})" in taken:
        n += 1
    return f"{name} ({n})"
