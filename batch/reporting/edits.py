"""The edits a person made on the upload page before the run, as every report format lists them.

``RunSummary.edits`` holds one dict per changed cell, ``{"row", "column", "old", "new"}``, and
one per excluded row (``column`` empty, ``new`` ``"(row excluded)"``), all text, filled by the
job engine. The XLSX report shows them on an "Edits" sheet, the JSON report as a top-level
``"edits"`` list, and a CSV report (one flat table) in a sidecar ``<report stem>.edits.csv``.
A run without edits gets none of these.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePath
from typing import Any, TypeVar

from batch.reporting.layout import Cell, neutralise

__all__ = [
    "EDITS_HEADERS",
    "EDITS_SHEET",
    "EXCLUDED_COLUMN",
    "EXCLUDED_VALUE",
    "edit_cells",
    "edit_json",
    "edits_path_for",
    "is_exclusion",
    "write_edits_csv",
]

EDITS_HEADERS: tuple[str, ...] = ("row", "column", "old value", "new value")
EDITS_SHEET = "Edits"
EDITS_SUFFIX = ".edits.csv"
# How an excluded row reads in the XLSX sheet and the CSV sidecar.
EXCLUDED_COLUMN = "(whole row)"
EXCLUDED_VALUE = "(row excluded: not part of this run)"

P = TypeVar("P", bound=PurePath)


def edits_path_for(report_path: P) -> P:
    """The CSV report's edits sidecar: ``x.report.csv`` -> ``x.report.edits.csv``."""
    name = report_path.name
    stem = name[: -len(report_path.suffix)] if report_path.suffix else name
    return report_path.with_name(f"{stem}{EDITS_SUFFIX}")


def is_exclusion(edit: Mapping[str, str]) -> bool:
    """True for an excluded row (the engine leaves its column empty)."""
    return not edit.get("column", "")


def _row_number(value: str) -> int | str:
    text = str(value).strip()
    return int(text) if text.isdigit() else text


def edit_cells(edit: Mapping[str, str]) -> list[Cell]:
    """One line of the Edits sheet / sidecar: row (a number), column, old value, new value.

    Raw: the writer neutralises what its format needs (CSV quote, XLSX quote-prefix flag).
    """
    row = _row_number(edit.get("row", ""))
    if is_exclusion(edit):
        return [row, EXCLUDED_COLUMN, edit.get("old", ""), EXCLUDED_VALUE]
    return [row, edit.get("column", ""), edit.get("old", ""), edit.get("new", "")]


def edit_json(edit: Mapping[str, str]) -> dict[str, Any]:
    """One entry of the JSON report's ``"edits"``: raw text for programs, the row as a number
    (as in ``"rows"``), and ``excluded`` so a program need not know the engine's marker."""
    return {
        "row": _row_number(edit.get("row", "")),
        "column": edit.get("column", ""),
        "old": edit.get("old", ""),
        "new": edit.get("new", ""),
        "excluded": is_exclusion(edit),
    }


def write_edits_csv(path: Path, edits: Sequence[Mapping[str, str]]) -> None:
    """Write the edits sidecar at ``path`` (UTF-8 with BOM like the CSV report, every unsafe
    cell neutralised). The caller picks ``path`` (a temporary name, moved into place later)."""
    try:
        with path.open("w", encoding="utf-8-sig", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(EDITS_HEADERS)
            for edit in edits:
                writer.writerow(
                    [neutralise(c) if isinstance(c, str) else c for c in edit_cells(edit)]
                )
    except BaseException:
        path.unlink(missing_ok=True)
        raise
