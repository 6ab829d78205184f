"""The plain-text report formats: CSV for people (with Excel in mind) and JSON for programs.

Both stream: a CSV row is written as it arrives; JSON rows are spooled so the summary, known
only at the end, can come first. Each file is written under a temporary name beside its final
one and moved into place when complete.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from batch.models import RowResult, RunSummary
from batch.reporting.edits import edit_json
from batch.reporting.layout import Cell, neutralise, severity
from batch.reporting.summary import summary_json

JSON_FORMAT_NAME = "alm-batch report"
JSON_FORMAT_VERSION = 1
_SPOOL_BYTES = 8 * 1024 * 1024  # JSON rows stay in memory up to this, then go to a temp file
# One encoder for every row (json.dumps with options builds a new one per call).
_ENCODER = json.JSONEncoder(ensure_ascii=False)


def part_path(path: Path) -> Path:
    """A temporary name beside ``path`` (same folder, so the final move is atomic)."""
    return path.with_name(f".{path.name}.{os.getpid()}.part")


class Sink(Protocol):
    """A report file being written: rows in, then closed (moved into place) or discarded."""

    def write(self, result: RowResult) -> None: ...
    def close(self, summary: RunSummary | None) -> Path: ...
    def discard(self) -> None: ...


class CsvSink:
    """UTF-8 with BOM (so Excel shows accents), comma-separated, every unsafe cell neutralised.

    ``reversible`` (the failed-rows CSV, read back when it is re-run): neutralised so that the
    reader can take exactly the tool's quotes back off (``batch.formulas.neutralise``).
    """

    def __init__(
        self,
        path: Path,
        headers: Sequence[str],
        to_cells: Callable[[RowResult], list[Cell]],
        *,
        reversible: bool = False,
    ) -> None:
        self.path = path
        self.part = part_path(path)
        self._to_cells = to_cells
        self._reversible = reversible
        self._file = self.part.open("w", encoding="utf-8-sig", newline="")
        self._csv = csv.writer(self._file)
        self._csv.writerow([neutralise(h, reversible=reversible) for h in headers])

    def write(self, result: RowResult) -> None:
        reversible = self._reversible
        self._csv.writerow(
            [
                neutralise(c, reversible=reversible) if isinstance(c, str) else c
                for c in self._to_cells(result)
            ]
        )

    def close(self, summary: RunSummary | None) -> Path:
        self._file.close()
        os.replace(self.part, self.path)
        return self.path

    def discard(self) -> None:
        self._file.close()
        self.part.unlink(missing_ok=True)


def json_row(result: RowResult, *, live: bool) -> dict[str, Any]:
    """One row of the JSON report: raw values (no neutralising: programs read this)."""
    row: dict[str, Any] = {
        "row": result.row,
        "values": dict(result.values),
        "status": result.status.value,
        "ok": result.status.ok,
        "severity": severity(result.status).value,
        "message": result.message,
        "user_id": result.user_id,
        "course_id": result.course_id,
        "instance_id": result.instance_id,
        "module_ids": list(result.module_ids),
        "date_completed": result.date_completed,
        "score": result.score,
        "action": result.action,
        # The writes as numbers (``action`` says the same in words), and what a learning
        # program or certification row does with each of its courses.
        "writes_planned": result.writes_planned,
        "planned_enrollments": result.planned_enrollments,
        "planned_grades": result.planned_grades,
    }
    if result.courses:
        row["courses"] = [dataclasses.asdict(c) for c in result.courses]
    if live:
        row["attempts"] = result.attempts
        row["writes_made"] = result.writes_made
        row["posted_at"] = result.posted_at
    return row


class JsonSink:
    """``{"format", "version", "summary", "columns", "edits"?, "rows": [...]}``, one row per
    line. ``edits`` (the upload page's fixes, ``edits.edit_json``) is there only when a person
    edited or excluded rows before the run.

    The summary comes first for people who open the file, but is only known at the end, so the
    rows are spooled (in memory up to 8 MB, then to a temp file) and copied after it.
    """

    def __init__(self, path: Path, columns: Sequence[str], *, live: bool) -> None:
        self.path = path
        self.part = part_path(path)
        self._columns = list(columns)
        self._live = live
        self._spool = tempfile.SpooledTemporaryFile(  # noqa: SIM115 - closed in close/discard
            max_size=_SPOOL_BYTES, mode="w+", encoding="utf-8"
        )
        self._first = True

    def write(self, result: RowResult) -> None:
        row = _ENCODER.encode(json_row(result, live=self._live))
        self._spool.write(("\n    " if self._first else ",\n    ") + row)
        self._first = False

    def close(self, summary: RunSummary | None) -> Path:
        meta: dict[str, Any] = {
            "format": JSON_FORMAT_NAME,
            "version": JSON_FORMAT_VERSION,
            "summary": summary_json(summary) if summary is not None else None,
            "columns": self._columns,
        }
        if summary is not None and summary.edits:
            meta["edits"] = [edit_json(edit) for edit in summary.edits]
        head = json.dumps(meta, indent=2, ensure_ascii=False)
        try:
            with self.part.open("w", encoding="utf-8") as out:
                out.write(head[: head.rindex("}")].rstrip())
                out.write(',\n  "rows": [')
                self._spool.seek(0)
                shutil.copyfileobj(self._spool, out)
                out.write("\n  ]\n}\n")
            os.replace(self.part, self.path)
        finally:
            self._spool.close()
            self.part.unlink(missing_ok=True)
        return self.path

    def discard(self) -> None:
        self._spool.close()
        self.part.unlink(missing_ok=True)
