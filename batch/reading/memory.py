"""Rows given in memory (an iterable of mappings, or a pandas DataFrame) read as a file is.

A Python caller (a notebook, an Airflow task, a script over an HRIS query) holds rows, not a
file. ``RowTable.of(rows)`` takes them once, as the text a spreadsheet export would hold
(``value_text``), and ``open_rows`` makes them a ``Table`` through the same header mapping,
aliases, questions and bounds as a file (``table.table_from_source``), so validation, the plan
and the reports cannot tell them apart. The header is row 1 (the mappings' keys, in the order
first seen), the first mapping row 2, as a spreadsheet of the same rows would number them.

pandas is never imported here: a DataFrame is recognised only when pandas is already loaded
(nobody holds one otherwise), and read through its own ``itertuples``.
"""

from __future__ import annotations

import hashlib
import math
import numbers
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from batch.errors import EmptyInput, InputError, UsageError
from batch.models import REQUIRED_FIELDS
from batch.reading.cells import cell_text, number_text
from batch.reading.csv_source import MAX_RECORD_CHARS, OversizeRecord
from batch.reading.limits import MAX_COLUMNS, MAX_ROWS, MAX_SHEET_CELLS
from batch.reading.table import SourceFacts, Table, table_from_source

MAX_DATA_ROWS = MAX_ROWS - 1  # a spreadsheet's rows, less the header
_SCORE_FIELDS = ("score", "min_score", "max_score")


class CellTypeError(UsageError):
    """A value no spreadsheet cell could hold (a list, a dict, bytes...)."""


def value_text(value: Any) -> str:
    """One value as the text a spreadsheet export of it would hold.

    Text stays as it is; None, NaN, pandas' NA and NaT are blank; a datetime keeps its time
    (to the microsecond; an aware one keeps its offset, even at midnight) and a naive one at
    midnight is its date, as the workbook readers read a date cell; numbers follow the
    readers' rule (``reading.cells.number_text``: 87.5 stays 87.5, a whole number loses its
    ``.0``, so the ID 1009221.0 reads 1009221). Raises ``TypeError`` for anything else.
    """
    if value is None or isinstance(value, str):
        return value or ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if _is_missing(value):
        return ""
    if isinstance(value, datetime):
        return _datetime_text(value)
    if isinstance(value, date | time | timedelta):
        return cell_text(value)
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value.is_finite() else str(value)
    if isinstance(value, numbers.Integral):  # int and numpy's integers
        return str(int(value))
    if isinstance(value, numbers.Real):  # float, numpy's floats, Fraction
        return number_text(float(value))
    kind = type(value)
    if kind.__module__ == "numpy":  # numpy's scalars (bool, datetime64...) as Python's own
        if kind.__name__ == "datetime64":  # in microseconds, .item() is a datetime (or None)
            return value_text(value.astype("datetime64[us]").item())
        if kind.__name__ in ("bool", "bool_"):
            return value_text(value.item())
    raise TypeError(
        f"a {kind.__name__} is not a cell value: give text, a number, a date or datetime, "
        "a bool or None"
    )


def _is_missing(value: Any) -> bool:
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, Decimal):
        return value.is_nan()
    # pandas' NA and NaT (NaT is a datetime subclass): their own types, checked by name so
    # that pandas need not be imported.
    return type(value).__name__ in ("NAType", "NaTType")


def _datetime_text(value: datetime) -> str:
    to_python = getattr(value, "to_pydatetime", None)  # a pandas Timestamp: nanoseconds go
    if to_python is not None:
        value = to_python(warn=False)
    if value.tzinfo is None and value.time() == time(0):
        return value.date().isoformat()
    return value.isoformat()


@dataclass(eq=False)
class RowTable:
    """Rows given in memory, taken once as text: re-readable, as a file is (validation reads
    its rows twice). ``header`` is row 1; ``records[i]`` is row ``i + 2``."""

    header: list[str]
    records: list[list[str]]
    sha256: str
    # Columns that held numbers as numbers (not text): a score there between 0 and 1 could be
    # a percentage, and no cell format says (the score-scale question, as for a .xls file).
    typed_numbers: frozenset[str] = field(default_factory=frozenset)

    def __repr__(self) -> str:
        return f"RowTable({len(self.records):,} rows x {len(self.header)} columns)"

    @classmethod
    def of(cls, rows: Any) -> RowTable:
        """``rows`` (an iterable of mappings, or a pandas DataFrame) taken as text, within a
        spreadsheet's bounds; a ``RowTable`` is returned as it is."""
        if isinstance(rows, RowTable):
            return rows
        if _is_dataframe(rows):
            header, records = _frame_records(rows)
            return cls._take(header, records)
        if isinstance(rows, Mapping):
            raise UsageError(
                "The rows are one mapping: pass a list of them (one mapping per row, "
                "header -> value)."
            )
        if isinstance(rows, str | bytes | Path) or not isinstance(rows, Iterable):
            raise UsageError(
                f"The rows are a {type(rows).__name__}: pass an iterable of mappings (one per "
                "row, header -> value) or a pandas DataFrame; to read a file, give its path."
            )
        return cls._from_mappings(rows)

    @classmethod
    def _from_mappings(cls, rows: Iterable[Any]) -> RowTable:
        positions: dict[Any, int] = {}
        header: list[str] = []

        def cells(number: int, row: Any) -> Iterator[tuple[int, Any]]:
            if not isinstance(row, Mapping):
                raise UsageError(
                    f"Row {number} is a {type(row).__name__}, not a mapping of header -> "
                    "value. (A DataFrame from another library: pass df.to_dicts() or "
                    "df.to_pylist(), or a pandas DataFrame.)"
                )
            for key, value in row.items():
                at = positions.get(key)
                if at is None:
                    at = positions[key] = len(header)
                    header.append("" if key is None else str(key))
                yield at, value

        return cls._take(header, (cells(n, row) for n, row in enumerate(rows, 2)))

    @classmethod
    def _take(cls, header: list[str], records: Iterable[Iterable[tuple[int, Any]]]) -> RowTable:
        """The rows as text, refused past a spreadsheet's rows, columns and cells."""
        out: list[list[str]] = []
        typed: set[int] = set()
        digest = hashlib.sha256()
        for number, pairs in enumerate(records, 2):
            if number > MAX_ROWS:
                raise InputError(
                    f"There are more than {MAX_DATA_ROWS:,} rows, the most a spreadsheet holds "
                    "below its header: split them into runs of fewer rows."
                )
            row: list[str] = []
            for at, value in pairs:
                if at >= len(row):
                    row.extend([""] * (at + 1 - len(row)))
                try:
                    row[at] = value_text(value)
                except TypeError as exc:
                    name = header[at] if at < len(header) else f"column {at + 1}"
                    raise CellTypeError(f"Row {number}, column {name!r}: {exc}.") from None
                if not isinstance(value, str | bool) and isinstance(value, numbers.Number):
                    typed.add(at)
            cls._check_size(header, number)
            digest.update(repr(row).encode("utf-8", "surrogatepass"))
            out.append(row)
        digest.update(repr(header).encode("utf-8", "surrogatepass"))
        numbered = frozenset(header[i] for i in typed if i < len(header))
        return cls(header, out, digest.hexdigest(), numbered)

    @staticmethod
    def _check_size(header: list[str], number: int) -> None:
        width = len(header)
        if width > MAX_COLUMNS:
            raise InputError(
                f"The rows have {width:,} columns, more than a spreadsheet holds "
                f"({MAX_COLUMNS:,}): pass only the columns the run needs."
            )
        if number * width > MAX_SHEET_CELLS:
            raise InputError(
                f"The rows pass {MAX_SHEET_CELLS:,} cells at row {number:,} ({width:,} "
                "columns): pass only the columns the run needs, or split the rows into runs."
            )

    def records_numbered(self) -> Iterator[tuple[int, list[str]]]:
        """``(row number, cells)``, the header first: what ``table_from_source`` reads."""
        yield 1, self.header
        for number, cells in enumerate(self.records, 2):
            if sum(map(len, cells)) > MAX_RECORD_CHARS:
                yield number, OversizeRecord(_oversize(number, sum(map(len, cells))))
            else:
                yield number, cells


@dataclass(frozen=True)
class _RowSource:
    rows: RowTable

    def records(self) -> Iterator[tuple[int, list[str]]]:
        return self.rows.records_numbered()


def _oversize(number: int, chars: int) -> str:
    return (
        f"Row {number} holds {chars:,} characters, more than the {MAX_RECORD_CHARS:,} a row may "
        "hold (a cell far too long for a completion record): shorten it and run again."
    )


def _is_dataframe(rows: Any) -> bool:
    pandas = sys.modules.get("pandas")
    return pandas is not None and isinstance(rows, pandas.DataFrame)


def _frame_records(frame: Any) -> tuple[list[str], Iterator[Iterator[tuple[int, Any]]]]:
    """A DataFrame's header and rows: its columns, after the levels of a named index (as
    ``reset_index`` would make them columns); an unnamed index (0, 1, 2...) is no data."""
    names = [n for n in frame.index.names if n is not None]
    if names:
        frame = frame.reset_index(level=names)
    header = ["" if c is None else str(c) for c in frame.columns]
    tuples = frame.itertuples(index=False, name=None)
    return header, (enumerate(values) for values in tuples)


def open_rows(
    rows: RowTable,
    *,
    name: Path,
    header_row: int | None = None,
    mapping: dict[str, str] | None = None,
    require: Iterable[str] = REQUIRED_FIELDS,
    ignore: Iterable[str] = (),
) -> Table:
    """``rows`` as a ``Table``, as ``open_table`` makes one of a file (``name`` stands for the
    file's path: messages name it, the report goes beside it). The header is row 1."""
    if header_row not in (None, 1):
        raise UsageError(
            f"Rows given in memory have their header on row 1 (the mappings' keys); "
            f"header_row {header_row} does not apply to them."
        )
    where = str(name)
    if not rows.header:
        raise EmptyInput(
            f"{where}: no rows were given (or only empty ones): pass at least one mapping."
        )
    about = SourceFacts(name, where, "csv", "rows", rows.sha256)
    table = table_from_source(
        _RowSource(rows), about,
        header_row=1, mapping=mapping, require=require, ignore=tuple(ignore),
    )  # fmt: skip
    numbered = {table.mapping[f] for f in _SCORE_FIELDS if f in table.mapping}
    table.formats_seen = not (numbered & rows.typed_numbers)
    return table
