"""Reading a JSON report back: its summary, columns and edits, and its rows as ``RowResult``s.

Through pydantic ``TypeAdapter``s over the models' own dataclasses (as the lookup cache reads
ALM's objects back), so a field added to ``RowResult`` or ``RunSummary`` is read without code
here; keys the report adds for people and programs (``ok``, ``severity``, ``exit_meaning``...)
are ignored. The rows are read one at a time: the report writer (``text.JsonSink``) puts one
row per line after the head, so a report of 100,000 rows is read without holding it; a JSON
report laid out otherwise is read whole.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from batch.errors import InputError
from batch.models import RowResult, RunSummary
from batch.reporting.text import JSON_FORMAT_NAME

_ROW: TypeAdapter[RowResult] = TypeAdapter(RowResult)
_SUMMARY: TypeAdapter[RunSummary] = TypeAdapter(RunSummary)
_ROWS_OPEN = '"rows": ['


@dataclass
class JsonReport:
    """The head of a JSON report (everything but its rows)."""

    path: Path
    summary: RunSummary | None
    columns: list[str] = field(default_factory=list)
    edits: list[dict[str, str]] = field(default_factory=list)  # as ``RunSummary.edits``

    def rows(self) -> Iterator[RowResult]:
        return read_rows(self.path)


def summary_from_json(data: Mapping[str, Any]) -> RunSummary:
    """A ``RunSummary`` from ``summary_json``'s shape (a report's ``summary``)."""
    return _SUMMARY.validate_python(dict(data))


def read_json_report(path: Path) -> JsonReport:
    """The head of the JSON report at ``path``; ``InputError`` when it is not one."""
    head = _head(path)
    if head.get("format") != JSON_FORMAT_NAME:
        raise InputError(f"{path.name} is not an alm-batch JSON report.")
    summary = head.get("summary")
    edits = [
        {
            "row": str(e.get("row", "")),
            "column": "" if e.get("excluded") else str(e.get("column", "")),
            "old": str(e.get("old", "")),
            "new": str(e.get("new", "")),
        }
        for e in head.get("edits") or []
        if isinstance(e, dict)
    ]
    try:
        parsed = summary_from_json(summary) if isinstance(summary, dict) else None
    except ValidationError as exc:
        raise InputError(f"The summary of {path.name} cannot be read: {exc}") from None
    return JsonReport(path, parsed, [str(c) for c in head.get("columns") or []], edits)


def read_rows(path: Path) -> Iterator[RowResult]:
    """The report's rows in order, one at a time."""
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip() == _ROWS_OPEN:
                break
        else:
            yield from _rows_of_whole(path)
            return
        for line in lines:
            text = line.strip().rstrip(",")
            if text in ("]", "}", ""):
                continue
            yield _row(text, path)


def _head(path: Path) -> dict[str, Any]:
    parts: list[str] = []
    try:
        with path.open(encoding="utf-8") as lines:
            for line in lines:
                if line.strip() == _ROWS_OPEN:
                    text = "".join(parts).rstrip().rstrip(",") + "}"
                    return _object(json.loads(text), path)
                parts.append(line)
        return _object(json.loads("".join(parts)), path)
    except (OSError, ValueError) as exc:
        raise InputError(f"{path.name} cannot be read as a JSON report: {exc}") from None


def _rows_of_whole(path: Path) -> Iterator[RowResult]:
    data = _object(json.loads(path.read_text(encoding="utf-8")), path)
    for row in data.get("rows") or []:
        yield _ROW.validate_python(row)


def _row(text: str, path: Path) -> RowResult:
    try:
        return _ROW.validate_json(text)
    except ValidationError as exc:
        raise InputError(f"A row of {path.name} cannot be read: {exc}") from None


def _object(data: Any, path: Path) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise InputError(f"{path.name} is not an alm-batch JSON report.")
    return data
