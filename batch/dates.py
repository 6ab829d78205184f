"""Dates as HR files write them, read without guessing.

Accepted: ISO 8601 (with or without time and zone), Excel serial numbers, numeric dates with
``/``, ``.`` or ``-`` and a four-digit year (day-first or month-first, decided per column by
``validate``), and English month names ("1 March 2025", "Mar 1, 2025", "01-Mar-2025").
Two-digit years are refused: "01/02/25" has too many readings to be safe in a completion record.
The year the message suggests instead is never in the future ("99" suggests 1999, not 2099).

``--date-format`` accepts a pattern (``DD/MM/YYYY``, ``MM/DD/YYYY``, ``YYYY-MM-DD``, any
separator), the order words ``DMY``/``MDY``/``YMD`` (also ``day-first``/``month-first``) or a
strftime pattern (``%d.%m.%Y %H:%M``). It only settles the day/month order (and, for a
strftime pattern, is tried first): ISO dates and Excel serials are always read as such.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from batch.errors import UsageError

DMY, MDY, YMD = "DMY", "MDY", "YMD"
ORDER_LABEL = {DMY: "DD/MM/YYYY", MDY: "MM/DD/YYYY", YMD: "YYYY-MM-DD"}
_EXCEL_EPOCH = datetime(1899, 12, 30)
_SERIAL_MIN, _SERIAL_MAX = 25569, 2958465  # 1970-01-01 .. 9999-12-31


class DateProblem(ValueError):
    """Why a cell is not a usable date: ``problem`` and ``fix`` complete the row message."""

    def __init__(self, problem: str, fix: str) -> None:
        super().__init__(f"{problem}: {fix}")
        self.problem = problem
        self.fix = fix


@dataclass(frozen=True, slots=True)
class DateFormat:
    """A parsed ``--date-format``: the day/month order and, optionally, an exact pattern."""

    order: str | None
    strptime: str | None = None
    text: str = ""


def parse_date_format(text: str | None) -> DateFormat | None:
    """Parse ``--date-format``; a value we cannot understand is a ``UsageError``."""
    if text is None or not text.strip():
        return None
    raw = text.strip()
    words = {"dmy": DMY, "dayfirst": DMY, "mdy": MDY, "monthfirst": MDY, "ymd": YMD, "iso": YMD}
    key = re.sub(r"[\W_]+", "", raw.casefold())
    if key in words and "%" not in raw:
        return DateFormat(words[key], None, raw)
    if "%" in raw:
        positions = {k: raw.find(p) for k, p in (("D", "%d"), ("M", "%m"), ("Y", "%Y"))}
        if positions["M"] < 0 and ("%b" in raw or "%B" in raw):
            positions["M"] = max(raw.find("%b"), raw.find("%B"))
        try:
            datetime(2025, 1, 31).strftime(raw)
        except ValueError:
            positions = {}
        if positions and all(v >= 0 for v in positions.values()):
            order = "".join(sorted(positions, key=positions.__getitem__))
            return DateFormat(order if order in (DMY, MDY, YMD) else None, raw, raw)
    else:
        up = raw.upper()
        pos = {"D": up.find("D"), "M": up.find("M"), "Y": up.find("Y")}
        if all(v >= 0 for v in pos.values()):
            order = "".join(sorted(pos, key=pos.__getitem__))
            if order in (DMY, MDY, YMD):
                return DateFormat(order, None, raw)
    raise UsageError(
        f"--date-format {raw!r} is not understood: use DD/MM/YYYY, MM/DD/YYYY, YYYY-MM-DD, "
        "or a strftime pattern such as %d.%m.%Y."
    )


def parse_timezone(name: str) -> tzinfo:
    """An IANA zone (``Europe/Paris``) or ``UTC``; anything else is a ``UsageError``."""
    text = (name or "").strip()
    if text.upper() in ("UTC", "Z", "GMT"):
        return UTC
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(
            f"--timezone {name!r} is not a time zone name: use an IANA name such as "
            "Europe/London, America/New_York or UTC."
        ) from None


_TIME = (
    r"(?:[ T]+(?P<h>\d{1,2}):(?P<mi>\d{2})(?::(?P<s>\d{2})(?:[.,](?P<f>\d{1,6}))?)?"
    r"\s*(?P<ampm>[AaPp]\.?[Mm]\.?)?)?\s*(?P<tz>Z|UTC|GMT|[+-]\d{2}:?\d{2})?"
)
_NUMERIC = re.compile(
    r"^(?P<a>\d{1,4})(?P<sep>[/.\-])(?P<b>\d{1,2})(?P=sep)(?P<c>\d{1,4})" + _TIME + "$"
)
_NAMED_DMY = re.compile(
    r"^(?P<d>\d{1,2})(?:st|nd|rd|th)?[\s\-/.]+(?P<mon>[A-Za-z]{3,})\.?,?[\s\-/.]+(?P<y>\d{1,4})"
    + _TIME
    + "$"
)
_NAMED_MDY = re.compile(
    r"^(?P<mon>[A-Za-z]{3,})\.?[\s\-/.]+(?P<d>\d{1,2})(?:st|nd|rd|th)?,?[\s\-/.]+(?P<y>\d{1,4})"
    + _TIME
    + "$"
)
_WEEKDAY = re.compile(r"^(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*\.?,?\s+", re.IGNORECASE)
_SERIAL = re.compile(r"^\d{1,7}(?:[.,]\d+)?$")
_MONTHS = {
    name.casefold(): i
    for i in range(1, 13)
    for name in (calendar.month_name[i], calendar.month_abbr[i])
}
_MONTHS["sept"] = 9


def order_evidence(text: str) -> str | None:
    """What one cell says about its column's order: DMY or MDY (only one reading works),
    "AMBIGUOUS" (both do, differently), or None (order does not matter for this cell)."""
    m = _NUMERIC.match(text.strip())
    if not m or len(m["a"]) > 2 or len(m["c"]) != 4:
        return None
    a, b = int(m["a"]), int(m["b"])
    if a == b or a == 0 or b == 0:
        return None
    if a > 12 and b <= 12:
        return DMY
    if b > 12 and a <= 12:
        return MDY
    if a <= 12 and b <= 12:
        return "AMBIGUOUS"
    return None


def parse_date(
    text: str,
    *,
    order: str | None,
    tz: tzinfo,
    fmt: DateFormat | None = None,
    now: datetime | None = None,
) -> datetime:
    """Read one cell as an aware datetime (dates without time: midnight in ``tz``).

    ``order`` is the column's day/month order (None when undecided: then only readings that
    do not depend on the order are accepted). ``now`` (default: the current time) keeps the
    year suggested for a two-digit year in the past. Raises ``DateProblem``.
    """
    value = text.strip()
    if _EXCEL_DAY_ZERO.match(value):
        raise DateProblem(
            "is an empty date (Excel shows 00/01/1900)",
            "enter the date, or fill the cell (a formula or export wrote 0 into a date cell)",
        )
    if fmt is not None and fmt.strptime:
        try:
            return _aware(datetime.strptime(value, fmt.strptime), tz)
        except ValueError:
            pass
    if _SERIAL.match(value):
        return _from_serial(value, tz)
    m = _NUMERIC.match(value)
    if m:
        return _from_numeric(m, value, order, tz, now)
    if re.match(r"^\d{4}-?\d{2}-?\d{2}", value):
        try:
            return _aware(datetime.fromisoformat(value.replace("z", "Z")), tz)
        except ValueError:
            raise DateProblem(
                "is not a real date or time", _real_date_hint(value) or _ISO_HINT
            ) from None
    named = _WEEKDAY.sub("", value)
    m = _NAMED_DMY.match(named) or _NAMED_MDY.match(named)
    if m:
        month = _MONTHS.get(m["mon"].casefold().rstrip("."))
        if month is None:
            raise DateProblem(f"has an unknown month name {m['mon']!r}", _ISO_HINT)
        if len(m["y"]) <= 2:
            year = _full_year(int(m["y"]), [(month, int(m["d"]))], now)
            raise DateProblem("has a two-digit year", f"write the year in full, e.g. {year}")
        return _build(int(m["y"]), month, int(m["d"]), m, value, tz)
    raise DateProblem("is not a date", _ISO_HINT)


def _full_year(short: int, days: list[tuple[int, int]], now: datetime | None) -> int:
    """The year a two-digit year most likely means, never in the future: 20yy unless that
    puts one of the possible (month, day) readings after today, else 19yy."""
    today = (now or datetime.now(UTC)).date()
    year = 2000 + short
    for month, day in days:
        try:
            if date(year, month, day) > today:
                return 1900 + short
        except ValueError:
            continue
    return year if year <= today.year else 1900 + short


_ISO_HINT = "write it as YYYY-MM-DD, e.g. 2025-03-01"
# Excel's day 0 as a date cell shows it (00/01/1900, 1900-01-00) in any separator or order.
_EXCEL_DAY_ZERO = re.compile(
    r"^(?:0?0[/.\-]0?1[/.\-]1900|0?1[/.\-]0?0[/.\-]1900|1900-01-00)(?:[ T]0?0:00(?::00)?)?$"
)
EXCEL_DAY_ONE = date(1900, 1, 1)
DEFAULT_EARLIEST = "1990-01-01"


def earliest_problem(when: datetime, floor: datetime) -> DateProblem | None:
    """Why ``when`` cannot be a real completion (Excel's day 1, or before the floor), or None."""
    if when >= floor:
        return None
    if when.date() == EXCEL_DAY_ONE:
        return DateProblem(
            "is Excel's day 1 (1900-01-01), what a date cell holding 1 shows, not a real date",
            "enter the real date",
        )
    return DateProblem(
        f"is before {floor.date().isoformat()}, the earliest date accepted",
        "check the year; if the date is right, the earliest date accepted must be lowered "
        f"(--earliest-date {when.date().isoformat()})",
    )


def _from_serial(value: str, tz: tzinfo) -> datetime:
    number = float(value.replace(",", "."))
    if not _SERIAL_MIN <= number <= _SERIAL_MAX:
        raise DateProblem("is a number, not a date", _ISO_HINT)
    stamp = _EXCEL_EPOCH + timedelta(days=number)
    stamp = (stamp + timedelta(microseconds=500_000)).replace(microsecond=0)
    return _aware(stamp, tz)


def _from_numeric(
    m: re.Match[str], value: str, order: str | None, tz: tzinfo, now: datetime | None
) -> datetime:
    a, sep, b, c = m["a"], m["sep"], m["b"], m["c"]
    if len(a) == 4:
        return _build(int(a), int(b), int(c), m, value, tz)
    if len(c) != 4:
        if len(c) == 2:
            x, y = int(a), int(b)
            readings = {DMY: [(y, x)], MDY: [(x, y)]}.get(order or "", [(y, x), (x, y)])
            year = _full_year(int(c), readings, now)
            raise DateProblem(
                "has a two-digit year", f"write the year in full, e.g. {a}{sep}{b}{sep}{year}"
            )
        raise DateProblem("is not a date", _ISO_HINT)
    x, y, year = int(a), int(b), int(c)
    evidence = order_evidence(value)
    if order == YMD and evidence is not None and x != y:
        raise DateProblem("does not match --date-format YYYY-MM-DD", _ISO_HINT)
    if order is None or order == YMD:
        if evidence == "AMBIGUOUS":
            raise DateProblem(
                "could be day-first or month-first",
                "write it as YYYY-MM-DD, or choose the column's date order (--date-format)",
            )
        order = MDY if evidence == MDY else DMY
    elif evidence in (DMY, MDY) and evidence != order:
        day, month = (x, y) if evidence == DMY else (y, x)
        raise DateProblem(
            f"does not fit this column's {ORDER_LABEL[order]} order",
            f"check it and write it as YYYY-MM-DD (e.g. {year:04d}-{month:02d}-{day:02d})",
        )
    day, month = (x, y) if order == DMY else (y, x)
    return _build(year, month, day, m, value, tz)


def _build(year: int, month: int, day: int, m: re.Match[str], value: str, tz: tzinfo) -> datetime:
    if year < 100:
        raise DateProblem("has a two-digit year", "write the year in full, e.g. 2025")
    try:
        base = date(year, month, day)
    except ValueError:
        raise DateProblem(
            "is not a real date", _real_date_hint_ymd(year, month) or _ISO_HINT
        ) from None
    hour = minute = second = micro = 0
    if m["h"] is not None:
        hour, minute = int(m["h"]), int(m["mi"])
        second = int(m["s"] or 0)
        micro = int((m["f"] or "0").ljust(6, "0")[:6])
        ampm = (m["ampm"] or "").replace(".", "").upper()
        if ampm:
            if not 1 <= hour <= 12:
                raise DateProblem("has an impossible time", "write the time as HH:MM, e.g. 09:30")
            hour = hour % 12 + (12 if ampm == "PM" else 0)
        if hour > 23 or minute > 59 or second > 59:
            raise DateProblem("has an impossible time", "write the time as HH:MM, e.g. 09:30")
    stamp = datetime(base.year, base.month, base.day, hour, minute, second, micro)
    zone = m["tz"]
    if zone:
        if zone in ("Z", "UTC", "GMT"):
            return stamp.replace(tzinfo=UTC)
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        return stamp.replace(tzinfo=timezone(sign * offset))
    return _aware(stamp, tz)


def _aware(stamp: datetime, tz: tzinfo) -> datetime:
    return stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=tz)


def _real_date_hint_ymd(year: int, month: int) -> str | None:
    if 1 <= month <= 12 and 1 <= year <= 9999:
        last = calendar.monthrange(year, month)[1]
        return f"use a date such as {year:04d}-{month:02d}-{last:02d}"
    return None


def _real_date_hint(value: str) -> str | None:
    m = re.match(r"^(\d{4})-?(\d{2})", value)
    return _real_date_hint_ymd(int(m[1]), int(m[2])) if m else None
