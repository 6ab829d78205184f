"""Date cells: every accepted shape, every refusal with its fix, formats and zones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import pytest

from batch.dates import (
    DMY,
    MDY,
    YMD,
    DateProblem,
    order_evidence,
    parse_date,
    parse_date_format,
    parse_timezone,
)
from batch.errors import UsageError
from batch.reader import open_table
from batch.validate import ValidationOptions, check_rows
from tests.e2e_support import run_cli

PARIS = ZoneInfo("Europe/Paris")


@pytest.mark.parametrize(
    "text, order, expected",
    [
        ("2025-03-01", None, datetime(2025, 3, 1, tzinfo=PARIS)),
        ("2025/03/01", None, datetime(2025, 3, 1, tzinfo=PARIS)),
        ("20250301", None, datetime(2025, 3, 1, tzinfo=PARIS)),
        ("2025-03-01T09:30", None, datetime(2025, 3, 1, 9, 30, tzinfo=PARIS)),
        ("2025-03-01 09:30:15.5", None, datetime(2025, 3, 1, 9, 30, 15, 500000, tzinfo=PARIS)),
        ("2025-03-01T09:30:00Z", None, datetime(2025, 3, 1, 9, 30, tzinfo=UTC)),
        (
            "2025-03-01T09:30:00+05:30",
            None,
            datetime(2025, 3, 1, 9, 30, tzinfo=timezone(timedelta(hours=5, minutes=30))),
        ),
        ("45717", None, datetime(2025, 3, 1, tzinfo=PARIS)),
        ("45717.75", None, datetime(2025, 3, 1, 18, 0, tzinfo=PARIS)),
        ("45717,5", None, datetime(2025, 3, 1, 12, 0, tzinfo=PARIS)),
        ("13/02/2025", None, datetime(2025, 2, 13, tzinfo=PARIS)),
        ("02/13/2025", None, datetime(2025, 2, 13, tzinfo=PARIS)),
        ("01/02/2025", DMY, datetime(2025, 2, 1, tzinfo=PARIS)),
        ("01/02/2025", MDY, datetime(2025, 1, 2, tzinfo=PARIS)),
        ("01.02.2025", DMY, datetime(2025, 2, 1, tzinfo=PARIS)),
        ("01-02-2025 14:05", MDY, datetime(2025, 1, 2, 14, 5, tzinfo=PARIS)),
        ("3/4/2025 2:30 PM", MDY, datetime(2025, 3, 4, 14, 30, tzinfo=PARIS)),
        ("12/12/2025", None, datetime(2025, 12, 12, tzinfo=PARIS)),  # same both ways
        ("1 March 2025", None, datetime(2025, 3, 1, tzinfo=PARIS)),
        ("01-Mar-2025", None, datetime(2025, 3, 1, tzinfo=PARIS)),
        ("March 1, 2025", None, datetime(2025, 3, 1, tzinfo=PARIS)),
        ("Sept 3rd, 2025", None, datetime(2025, 9, 3, tzinfo=PARIS)),
        ("Mon, 3 Mar 2025 10:00", None, datetime(2025, 3, 3, 10, 0, tzinfo=PARIS)),
    ],
)
def test_accepted_dates(text: str, order: str | None, expected: datetime) -> None:
    assert parse_date(text, order=order, tz=PARIS) == expected


def test_bare_dates_are_midnight_in_the_given_zone() -> None:
    got = parse_date("2025-07-01", order=None, tz=ZoneInfo("America/New_York"))
    assert got.astimezone(UTC) == datetime(2025, 7, 1, 4, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "text, order, problem, fix",
    [
        ("31/02/2025", DMY, "is not a real date", "use a date such as 2025-02-28"),
        ("2024-02-30", None, "is not a real date", "use a date such as 2024-02-29"),
        ("01/02/25", DMY, "has a two-digit year", "write the year in full, e.g. 01/02/2025"),
        ("1-Mar-25", None, "has a two-digit year", "write the year in full"),
        ("01/02/2025", None, "could be day-first or month-first", "--date-format"),
        ("02/13/2025", DMY, "does not fit this column's DD/MM/YYYY order", "2025-02-13"),
        ("01/02/2025", YMD, "does not match --date-format YYYY-MM-DD", "YYYY-MM-DD"),
        ("2025-03-01 25:00", None, "has an impossible time", "HH:MM"),
        ("1 Smarch 2025", None, "has an unknown month name 'Smarch'", "YYYY-MM-DD"),
        ("2025", None, "is a number, not a date", "YYYY-MM-DD"),
        ("yesterday", None, "is not a date", "e.g. 2025-03-01"),
    ],
)
def test_refused_dates_say_why_and_how_to_fix(
    text: str, order: str | None, problem: str, fix: str
) -> None:
    with pytest.raises(DateProblem) as err:
        parse_date(text, order=order, tz=UTC)
    assert err.value.problem == problem
    assert fix in err.value.fix


@pytest.mark.parametrize(
    "text, evidence",
    [
        ("13/02/2025", DMY),
        ("02/13/2025", MDY),
        ("01/02/2025", "AMBIGUOUS"),
        ("05.05.2025", None),
        ("2025-01-02", None),
        ("01/02/25", None),
        ("45717", None),
    ],
)
def test_order_evidence(text: str, evidence: str | None) -> None:
    assert order_evidence(text) == evidence


@pytest.mark.parametrize(
    "text, order, pattern",
    [
        ("DD/MM/YYYY", DMY, None),
        ("mm-dd-yyyy", MDY, None),
        ("YYYY-MM-DD", YMD, None),
        ("DD.MM.YYYY HH:MM", DMY, None),
        ("day-first", DMY, None),
        ("MDY", MDY, None),
        ("%d.%m.%Y %H:%M", DMY, "%d.%m.%Y %H:%M"),
        ("%b %d %Y", MDY, "%b %d %Y"),
    ],
)
def test_date_format_option(text: str, order: str, pattern: str | None) -> None:
    fmt = parse_date_format(text)
    assert fmt is not None and (fmt.order, fmt.strptime) == (order, pattern)


def test_strftime_format_is_tried_first() -> None:
    fmt = parse_date_format("%d %m %Y")
    assert parse_date("01 02 2025", order=fmt.order, tz=UTC, fmt=fmt) == datetime(
        2025, 2, 1, tzinfo=UTC
    )


@pytest.mark.parametrize("bad", ["tomorrow", "%H:%M", "QQ/WW"])
def test_bad_date_format_is_a_usage_error(bad: str) -> None:
    with pytest.raises(UsageError, match="--date-format .* is not understood"):
        parse_date_format(bad)


def test_timezone_option() -> None:
    assert parse_timezone("utc") is UTC
    assert parse_timezone("Europe/Paris") == PARIS
    with pytest.raises(UsageError, match="--timezone 'Mars/Olympus' is not a time zone name"):
        parse_timezone("Mars/Olympus")


# Dates that cannot be real completions are invalid, with a message a person acts on.
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _messages(path: Path, **options: object) -> dict[int, str]:
    table = open_table(path)
    out = {}
    for checked in check_rows(table, ValidationOptions(now=NOW, **options)):  # type: ignore[arg-type]
        out[checked.row] = " ".join(i.message for i in checked.issues)
    return out


def _xlsx(tmp_path: Path, values: list[object]) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Email", "Course", "Completion Date"])
    for value in values:
        ws.append(["jane@acme.com", "Fire Safety", value])
        ws.cell(ws.max_row, 3).number_format = "dd/mm/yyyy"
    path = tmp_path / "dates.xlsx"
    wb.save(path)
    return path


def test_excel_day_zero_and_day_one_are_named_for_what_they_are(tmp_path: Path) -> None:
    path = _xlsx(tmp_path, [0, 1, datetime(2025, 3, 14)])
    got = _messages(path)
    assert "is an empty date (Excel shows 00/01/1900)" in got[2], got[2]
    assert "00:00:00" not in got[2]
    assert "is Excel's day 1 (1900-01-01)" in got[3], got[3]
    assert got[4] == ""


def test_dates_before_the_floor_are_invalid_unless_the_floor_is_lowered(tmp_path: Path) -> None:
    path = tmp_path / "old.csv"
    path.write_text(
        "Email,Course,Completion Date,Start Date\n"
        "a@acme.com,Fire Safety,1985-06-01,\n"
        "b@acme.com,Fire Safety,2025-06-01,1989-12-31\n"
        "c@acme.com,Fire Safety,1990-01-01,\n",
        encoding="utf-8",
    )
    got = _messages(path)
    assert got[2] == (
        "Completion Date '1985-06-01' is before 1990-01-01, the earliest date accepted: check "
        "the year; if the date is right, the earliest date accepted must be lowered "
        "(--earliest-date 1985-06-01)."
    )
    assert "Start Date '1989-12-31' is before 1990-01-01" in got[3]
    assert got[4] == ""
    assert _messages(path, earliest_date="1980-01-01") == {2: "", 3: "", 4: ""}


def test_a_bad_earliest_date_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="--earliest-date 'soon' is not a date"):
        ValidationOptions(earliest_date="soon")
    with pytest.raises(UsageError, match="before 1990-01-01"):
        ValidationOptions(default_completion_date="1900-01-01", now=NOW)


def test_the_cli_takes_earliest_date(tmp_path: Path) -> None:
    (tmp_path / "f.csv").write_text(
        "Email,Course,Completion Date\na@acme.com,Fire Safety,1985-06-01\n", encoding="utf-8"
    )
    strict = run_cli(["validate", "f.csv", "--offline", "--report", "a.json"], cwd=tmp_path)
    assert strict.code == 1, strict
    loose = run_cli(
        ["validate", "f.csv", "--offline", "--earliest-date", "1980-01-01", "--report", "b.json"],
        cwd=tmp_path,
    )
    assert loose.code == 0, loose
