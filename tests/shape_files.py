"""Files that raise each question of the Shape step (``inspect.Question.ask``), written in the
test: which column feeds a field, which sheet, the header row, the date order, a default date,
an empty export, a column of completion states, values that mean done, two columns for one
field, a second table, the score scale."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openpyxl

from tests.fixtures.make_xlsb import write_xlsb
from tests.meaning_support import AVA, FIRE, JAMES, MARIA, PRIVACY, SOFIA, write_csv

HEAD = ["Email", "Course", "Completion Date"]


def workday_names(folder: Path) -> Path:
    """A Workday export whose ``Learner`` column holds names; the addresses are in
    ``Email - Primary Work`` (the CLI asks for --map "Email - Primary Work=email")."""
    return write_csv(folder / "workday.csv", [
        ["Learner", "Email - Primary Work", "Course", "Completion Date"],
        ["Maria Gonzalez", MARIA, FIRE, "2025-03-03"],
        ["James O'Connor", JAMES, FIRE, "2025-03-04"],
        ["Sofia Rossi", SOFIA, PRIVACY, "2025-03-05"],
    ])  # fmt: skip


def months(folder: Path) -> Path:
    """One tab per month, the workbook opening on April (the suggested sheet)."""
    book = openpyxl.Workbook()
    march = book.active
    assert march is not None
    march.title = "March"
    march.append(HEAD)
    march.append([MARIA, FIRE, "2025-03-03"])
    april = book.create_sheet("April")
    april.append(HEAD)
    april.append([JAMES, FIRE, "2025-04-01"])
    april.append([SOFIA, PRIVACY, "2025-04-02"])
    book.active = 1
    path = folder / "months.xlsx"
    book.save(path)
    return path


def workday_months(folder: Path) -> Path:
    """Three questions at once: one tab per month (March opens), a ``Learner`` column of names
    beside the addresses, and dates that read either way."""
    book = openpyxl.Workbook()
    tabs = {
        "March": [("Maria Gonzalez", MARIA, FIRE, "03/04/2025"),
                  ("Ava Johnson", AVA, FIRE, "03/05/2025"),
                  ("Sofia Rossi", SOFIA, FIRE, "03/06/2025")],
        "April": [("James O'Connor", JAMES, FIRE, "04/05/2025"),
                  ("Sofia Rossi", SOFIA, PRIVACY, "06/07/2025"),
                  ("Ava Johnson", AVA, PRIVACY, "06/08/2025")],
    }  # fmt: skip
    for index, (title, rows) in enumerate(tabs.items()):
        sheet = book.active if index == 0 else book.create_sheet(title)
        assert sheet is not None
        sheet.title = title
        sheet.append(["Learner", "Email - Primary Work", "Course", "Completion Date"])
        for row in rows:
            sheet.append(list(row))
    path = folder / "workday-months.xlsx"
    book.save(path)
    return path


def summary_first(folder: Path) -> Path:
    """A Summary tab (no email column) before the data tab: the data tab is read."""
    book = openpyxl.Workbook()
    summary = book.active
    assert summary is not None
    summary.title = "Summary"
    summary.append(["Course", "Completions"])
    summary.append([FIRE, 2])
    data = book.create_sheet("Data")
    data.append(HEAD)
    data.append([MARIA, FIRE, "2025-03-03"])
    data.append([JAMES, FIRE, "2025-03-04"])
    path = folder / "summary-first.xlsx"
    book.save(path)
    return path


def day_or_month(folder: Path) -> Path:
    return write_csv(folder / "dates.csv", [
        HEAD, [MARIA, FIRE, "03/04/2025"], [JAMES, FIRE, "05/06/2025"],
    ])  # fmt: skip


def no_date(folder: Path) -> Path:
    return write_csv(folder / "no-date.csv", [
        ["Email", "Course", "Team"], [MARIA, FIRE, "Ops"], [AVA, FIRE, "Ops"],
    ])  # fmt: skip


def empty(folder: Path) -> Path:
    return write_csv(folder / "empty.csv", [HEAD])


def phase_column(folder: Path) -> Path:
    """A column of completion states under a header the tool does not know."""
    return write_csv(folder / "phase.csv", [
        [*HEAD, "Enrollment Phase"],
        [MARIA, FIRE, "2025-03-03", "Completed"],
        [JAMES, FIRE, "2025-03-04", "In Progress"],
        [SOFIA, PRIVACY, "2025-03-05", "Completed"],
    ])  # fmt: skip


def unknown_states(folder: Path) -> Path:
    """A Completion Status column with values the tool does not know."""
    return write_csv(folder / "signed-off.csv", [
        [*HEAD, "Completion Status"],
        [MARIA, FIRE, "2025-03-03", "Completed"],
        [JAMES, FIRE, "2025-03-04", "Signed off"],
        [SOFIA, PRIVACY, "2025-03-05", "Signed off"],
    ])  # fmt: skip


def two_dates(folder: Path) -> Path:
    """A form's submission time beside the date the learner gave: nothing says which."""
    return write_csv(folder / "forms.csv", [
        ["Email", "Course", "Completion time", "Date of completion"],
        [MARIA, FIRE, "2025-03-10", "2025-03-03"],
        [JAMES, FIRE, "2025-03-11", "2025-03-04"],
    ])  # fmt: skip


def second_table(folder: Path) -> Path:
    return write_csv(folder / "two-tables.csv", [
        [*HEAD, "", *HEAD],
        [MARIA, FIRE, "2025-03-03", "", JAMES, FIRE, "2025-03-04"],
    ])  # fmt: skip


def fractions_unseen(folder: Path) -> Path:
    """Scores between 0 and 1 in an .xlsb whose styles part is missing: 0.87 could be 87 %."""
    full = write_xlsb(
        folder / "full.xlsb",
        [[*HEAD, "Score"], [MARIA, FIRE, "2025-03-03", 0.87], [JAMES, FIRE, "2025-03-03", 1]],
    )
    bare = folder / "quiz.xlsb"
    with zipfile.ZipFile(full) as src, zipfile.ZipFile(bare, "w") as dst:
        for name in src.namelist():
            if name != "xl/styles.bin":
                dst.writestr(name, src.read(name))
    full.unlink()
    return bare


# Each question of the Shape step: the file that raises it, the ``ask`` and ``field`` of the
# question, and the answer the page's form sends (None: a question answered in the mapping
# table, or by a field of the form of its own).
QUESTIONS: dict[str, tuple[Callable[[Path], Path], str, str | None]] = {
    "email column": (workday_names, "mapping", "email"),
    "sheet": (months, "sheet", None),
    "date order": (day_or_month, "date_format", "completion_date"),
    "default date": (no_date, "mapping", "completion_date"),
    "empty export": (empty, "allow_empty", None),
    "states column": (phase_column, "mapping", "completion_status"),
    "values that mean done": (unknown_states, "completed_values", "completion_status"),
    "two columns": (two_dates, "mapping", "completion_date"),
    "second table": (second_table, "ignore_columns", None),
    "score scale": (fractions_unseen, "score_scale", "score"),
}


def answer(value: dict[str, Any]) -> str:
    """A question's answer as the Shape step's form sends it."""
    return json.dumps(value)
