"""The input template (``templates/completions.csv`` / ``.xlsx``, ``alm-batch template``).

The template is built from the validation model: one column per ``CompletionRecord`` field,
headed by a name the reader's aliases map back to that field, with the field's description
as the Excel comment. A test keeps ``templates/`` equal to what this module writes, and checks
that the example rows validate cleanly.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from pathlib import Path

from batch.errors import UsageError
from batch.validation.model import CompletionRecord

FORMATS = ("csv", "xlsx")

# field -> header written in the template (each is an alias of its field).
TEMPLATE_HEADERS: dict[str, str] = {
    "email": "Email",
    "course": "Course",
    "completion_date": "Completion Date",
    "start_date": "Start Date",
    "score": "Score",
    "min_score": "Passing Score",
    "max_score": "Max Score",
    "passed": "Passed",
    "module": "Module",
    "instance": "Instance",
}
DATE_FIELDS = ("completion_date", "start_date")
YES_NO_FIELDS = ("passed",)

# Example rows (field -> text); they must validate cleanly (tested).
EXAMPLE_ROWS: list[dict[str, str]] = [
    {
        "email": "jane.doe@example.com",
        "course": "Workplace Safety 101",
        "completion_date": "2025-03-01",
        "start_date": "2025-02-20",
        "score": "92",
        "min_score": "70",
        "max_score": "100",
        "passed": "yes",
    },
    {
        "email": "john.smith@example.com",
        "course": "course:1234567",
        "completion_date": "2025-03-05",
    },
    {
        "email": "li.wei@example.com",
        "course": "Data Privacy Essentials",
        "completion_date": "2025-03-10",
        "passed": "yes",
        "module": "Final Quiz",
    },
]

INSTRUCTIONS: list[str] = [
    "How to fill in this template (alm-batch)",
    "",
    "One row per learner and course. Keep the header row; extra columns are kept in the report.",
    "Required: Email, Course, Completion Date (or run with --completion-date YYYY-MM-DD).",
    "Course: the course name exactly as in Adobe Learning Manager, or its ID (course:123 or 123).",
    "Dates: YYYY-MM-DD is safest. Excel dates, DD/MM/YYYY and MM/DD/YYYY also work (with a "
    "four-digit year); when a column could be read both ways, run with --date-format.",
    "Dates without a time mean midnight in --timezone (default UTC). No future completion dates.",
    "Score: a number (85, 85.5, 85,5 or 85%); it must be between Passing Score and Max Score.",
    "Passed: yes or no.",
    "Module / Instance: leave blank to complete every content module of the learner's instance.",
    "Delete the example rows before use. Check the file first: alm-batch validate FILE --offline",
]

_FIXED_TIME = datetime(2025, 1, 1)


def template_columns() -> list[str]:
    """Template headers in validation-model field order."""
    return [TEMPLATE_HEADERS[f] for f in CompletionRecord.model_fields]


def csv_text() -> str:
    """The CSV template: UTF-8 text (written with a BOM so Excel opens it as UTF-8)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    fields = list(CompletionRecord.model_fields)
    writer.writerow(template_columns())
    for example in EXAMPLE_ROWS:
        writer.writerow([example.get(f, "") for f in fields])
    return buf.getvalue()


def write_template(fmt: str, path: Path) -> Path:
    """Write the template in ``fmt`` ("csv" or "xlsx") to ``path`` (a folder gets
    ``completions.<fmt>`` inside it); returns the path written."""
    fmt = fmt.lower().lstrip(".")
    if fmt not in FORMATS:
        raise UsageError(f"--format {fmt!r} is not a template format: use csv or xlsx.")
    path = Path(path)
    if path.is_dir():
        path = path / f"completions.{fmt}"
    if fmt == "csv":
        path.write_bytes(("\ufeff" + csv_text()).encode("utf-8"))
    else:
        _write_xlsx(path)
    return path


def _write_xlsx(path: Path) -> None:
    from openpyxl import Workbook
    from openpyxl.comments import Comment
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    wb = Workbook()
    wb.properties.creator = "alm-batch"
    wb.properties.created = _FIXED_TIME
    ws = wb.active
    ws.title = "Completions"
    fields = list(CompletionRecord.model_fields)
    ws.append(template_columns())
    last_row = 1000
    for col, field in enumerate(fields, 1):
        cell = ws.cell(row=1, column=col)
        cell.font = Font(bold=True, color="FFFFFF")
        cell.fill = PatternFill("solid", fgColor="1F4E78")
        description = CompletionRecord.model_fields[field].description or ""
        required = field in ("email", "course", "completion_date")
        note = ("Required. " if required else "") + description
        cell.comment = Comment(note, "alm-batch", width=260, height=90)
        letter = get_column_letter(col)
        ws.column_dimensions[letter].width = max(14, len(TEMPLATE_HEADERS[field]) + 4)
        if field in DATE_FIELDS:
            for row in range(2, last_row + 1):
                ws.cell(row=row, column=col).number_format = "yyyy-mm-dd"
        if field in YES_NO_FIELDS:
            dv = DataValidation(type="list", formula1='"yes,no"', allow_blank=True)
            dv.error = "Choose yes or no."
            dv.errorTitle = TEMPLATE_HEADERS[field]
            dv.prompt = "yes or no"
            dv.add(f"{letter}2:{letter}{last_row}")
            ws.add_data_validation(dv)
    ws.column_dimensions["A"].width = 28
    ws.column_dimensions["B"].width = 28
    for r, example in enumerate(EXAMPLE_ROWS, 2):
        for col, field in enumerate(fields, 1):
            text = example.get(field, "")
            if not text:
                continue
            value: object = text
            if field in DATE_FIELDS:
                value = datetime.fromisoformat(text)
            elif field in ("score", "min_score", "max_score"):
                value = float(text) if "." in text else int(text)
            ws.cell(row=r, column=col, value=value)
    ws.freeze_panes = "A2"
    info = wb.create_sheet("Instructions")
    for line in INSTRUCTIONS:
        info.append([line])
    info["A1"].font = Font(bold=True, size=13)
    info.column_dimensions["A"].width = 110
    for row in info.iter_rows(min_row=2):
        row[0].alignment = Alignment(wrap_text=True)
    wb.save(path)
