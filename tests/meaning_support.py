"""Helpers for the tests of what a file means: files written in the test, the CLI in-process,
and a live run against the sample sandbox (in-process too)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from batch.cli import CliEnv, main
from batch.sandbox import Sandbox, load_seed
from tests.e2e_support import SAMPLE_DIR, read_report, sandbox_env

NOW_TEXT = "2025-06-30"
FIRE = "Fire Safety 2025"  # course:7968486 in the sample seed
FIRE_ID = "course:7968486"
PRIVACY = "Data Privacy Essentials"  # course:7968501
PRIVACY_ID = "course:7968501"
# Learners of the sample seed with no completion of the courses above.
MARIA = "maria.gonzalez@acme-corp.example"
JAMES = "james.oconnor@acme-corp.example"
SOFIA = "sofia.rossi@acme-corp.example"
AVA = "ava.johnson@acme-corp.example"


def write_csv(path: Path, rows: Sequence[Sequence[str]], *, encoding: str = "utf-8") -> Path:
    with path.open("w", newline="", encoding=encoding) as fh:
        csv.writer(fh).writerows(rows)
    return path


def write_xlsx(
    path: Path, rows: Sequence[Sequence[Any]], *, formats: dict[int, str] | None = None
) -> Path:
    """A workbook with one sheet; ``formats`` gives a column (0-based) a number format."""
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    for r, row in enumerate(rows, 1):
        for c, value in enumerate(row):
            if value is None or value == "":
                continue
            cell = ws.cell(row=r, column=c + 1, value=value)
            if formats and c in formats and r > 1:
                cell.number_format = formats[c]
    wb.save(path)
    return path


def write_book(
    path: Path,
    sheets: dict[str, list[list[Any]]],
    *,
    hidden: tuple[str, ...] = (),
    active: int = 0,
) -> Path:
    """A workbook with these sheets in this order (rows appended as given); ``hidden`` names
    sheets Excel hides, ``active`` is the sheet it opens on."""
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for row in rows:
            ws.append(row)
        if name in hidden:
            ws.sheet_state = "hidden"
    wb.active = active
    wb.save(path)
    return path


@dataclass
class Cli:
    code: int
    out: str
    err: str

    def __str__(self) -> str:
        return f"exit {self.code}\n--- stdout\n{self.out}\n--- stderr\n{self.err}"


def cli(args: Sequence[str]) -> Cli:
    """``alm-batch ARGS`` in-process (``batch.cli.main``), nothing interactive."""
    out, err = io.StringIO(), io.StringIO()
    code = main(list(args), CliEnv(stdout=out, stderr=err, interactive=False))
    return Cli(code, out.getvalue(), err.getvalue())


def validate_offline(path: Path, *more: str) -> tuple[Cli, list[dict[str, Any]]]:
    """``alm-batch validate PATH --offline`` with a CSV report; (run, report rows or [])."""
    report = path.with_name(path.stem + ".out.csv")
    run = cli(["validate", str(path), "--offline", "--report", str(report), *more])
    return run, read_report(report) if report.exists() else []


def use_sandbox(monkeypatch: pytest.MonkeyPatch, sb: Sandbox, tmp_path: Path) -> None:
    """The in-process CLI talks to ``sb``: its ALM_* settings, a state dir, no stray .env."""
    monkeypatch.chdir(tmp_path)
    for key, value in sandbox_env(sb, tmp_path / "state").items():
        monkeypatch.setenv(key, value)


def user_id(email: str) -> str:
    seed = load_seed(SAMPLE_DIR)
    return next(str(u["id"]) for u in seed["users"] if u["email"].casefold() == email.casefold())


def graded_users(sb: Sandbox) -> dict[str, set[str]]:
    """User id -> the courses the sandbox recorded grades for in this run."""
    out: dict[str, set[str]] = {}
    for grade in sb.books()["grades"]:
        out.setdefault(str(grade["user_id"]), set()).add(str(grade["course_id"]))
    return out


def by_row(rows: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    return {int(r["row"]): r for r in rows}
