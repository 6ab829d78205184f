"""Excel cell values as the text a person sees (shared by every workbook reader).

Whole numbers lose Excel's ``.0`` ("12.0" would never match ID 12), dates become ISO text
(date-only cells "2025-03-01", others "2025-03-01T09:30:00", rounded to the second because
Excel stores times as fractions of a day), percentages keep their ``%``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from typing import Any

from openpyxl.utils.datetime import from_excel

# A date-formatted cell holding 0 (an empty date from a formula or an HR export): Excel shows
# "00/01/1900", a day that does not exist. Read as this text, validation names it for what it is.
EMPTY_EXCEL_DATE = "1900-01-00"


def cell_text(value: Any, number_format: str | None = None) -> str:
    """One cell value as the text a person would read (see module docstring)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, datetime):
        if value.microsecond:
            value = (value + timedelta(microseconds=500_000)).replace(microsecond=0)
        if value.time() == time(0):
            return str(value.date().isoformat())
        return str(value.isoformat())
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return value.replace(microsecond=0).isoformat()
    if isinstance(value, timedelta):
        return str(value)
    if isinstance(value, int | float):
        if number_format and "%" in number_format:
            return number_text(float(value) * 100) + "%"
        return str(value) if isinstance(value, int) else number_text(value)
    return str(value)


def number_text(value: float) -> str:
    if value != value or value in (float("inf"), float("-inf")):
        return str(value)
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    text = f"{value:.15g}"
    return text if "e" not in text else repr(value)


def styled_number_reader(styles: Any, epoch: datetime) -> Callable[[float, int], str]:
    """``text(number, style_index)`` for a numeric cell of a workbook whose cell styles are
    ``styles`` (``NumberStyles``: which style indexes are dates, durations, percents), as Excel
    shows it: dates as ISO text, percents with their ``%``, other numbers without ``.0``."""
    dates, timedeltas, percents = styles.dates, styles.timedeltas, styles.percents
    zero_day = EMPTY_EXCEL_DATE if epoch.year < 1900 else None  # the 1900 system's day 0

    def text(number: float, style: int) -> str:
        if style in dates:
            if number == 0 and zero_day is not None and style not in timedeltas:
                return zero_day
            try:
                value = from_excel(number, epoch, timedelta=style in timedeltas)
            except (OverflowError, ValueError):
                return "#VALUE!"
            return cell_text(value)
        if style in percents:
            return number_text(number * 100) + "%"
        return number_text(number)

    return text


_OOXML_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")


def unescape_ooxml(text: str) -> str:
    """A workbook's text as a person sees it: OOXML escapes characters XML cannot hold as
    ``_xHHHH_`` (``_x000D_`` a carriage return, ``_x005F_`` the ``_`` that makes a literal
    ``_x0041_`` read as typed), and Excel and LibreOffice undo it when they read."""
    if "_x" not in text:
        return text
    return _OOXML_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)
